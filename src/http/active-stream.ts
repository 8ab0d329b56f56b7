import { randomBytes, randomUUID } from 'node:crypto';
import type { Downstream, DownstreamEvents } from '../codec/downstream.js';
import type { BodySource } from '../codec/body.js';
import type { DirectResponseAction, HashPolicy, RedirectAction, WeightedCluster } from '../config/snapshot.js';
import { hash32 } from '../upstream/hash-lb.js';
import { RequestView } from '../router/request-view.js';
import { RouteTable, type CompiledRoute } from '../router/route-table.js';
import { getFromList, mutateHeaderList, removeFromList } from '../router/headers.js';
import { isHttp2ErrorCode, type UpstreamError, type UpstreamExchange, type UpstreamHandler } from '../upstream/exchange.js';
import type { UpstreamHost } from '../upstream/host.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import type { AttemptFailure, RetryPolicyRuntime } from '../router/retry-state.js';
import { ReplayableBody } from './replayable-body.js';
import { BufferedBody, sendMirror } from './mirror.js';
import { Resource } from '../upstream/resource-limits.js';
import type { HttpPipeline, Runtime } from '../worker/runtime.js';
import type { PeerIdentity } from '../security/peer.js';
import { UpgradeTunnel } from './upgrade-tunnel.js';
import { bindAddressFor } from '../upstream/host.js';
import type { FilterStatus, HttpFilter, RequestHeaders, ResponseHeaders, StreamCallbacks, StreamInfo } from './filter.js';
import { httpToGrpcStatus, writeGrpcLocalReply, writeLocalReply } from './local-reply.js';
import { formatResponseFlags, ResponseFlag, type ResponseFlagValue } from './response-flags.js';
import { xffClientAddress } from './client-address.js';
import { hostPort } from '../common/address.js';
import type { HttpConnectionManager } from '../config/snapshot.js';
import { streamTimeouts, type StreamTimeoutKind, type StreamWatch, type TimedStream } from './stream-timeouts.js';

/** Envoy's default per-connection buffer limit: a body larger than this is not replayed on retry. */
const RETRY_BUFFER_LIMIT_BYTES = 1024 * 1024;

/** The route timeout, shortened by a gRPC client's grpc-timeout (Istio sets max_grpc_timeout 0: honoured). */
function effectiveTimeout(routeMs: number, grpcTimeout: string | undefined): number {
  if (!grpcTimeout) return routeMs;
  const m = /^(\d{1,8})([HMSmun])$/.exec(grpcTimeout);
  if (!m) return routeMs;
  const unitMs: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };
  const ms = Math.max(1, Math.ceil(Number(m[1]) * unitMs[m[2]]));
  return routeMs ? Math.min(routeMs, ms) : ms;
}

/** A cookie's value from the Cookie header(s), or undefined. */
function cookieValue(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'cookie') continue;
    for (const part of headers[i + 1].split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
    }
  }
  return undefined;
}

/** Request headers never forwarded: hop-by-hop (RFC 9110 §7.6.1) and ones the proxy regenerates. */
const DROP_REQUEST = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'expect']);
/** Upgrade types a connection manager tunnels when its config says nothing (Istio enables websocket). */
const DEFAULT_UPGRADES = ['websocket'];
/** Response headers never forwarded downstream (hop-by-hop; Node frames the downstream body itself). */
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'trailer']);

/**
 * One request through the HTTP connection manager: route, filters, router, upstream, response.
 * It is also the upstream response handler, so the response streams straight into `res` with
 * backpressure in both directions and no intermediate buffering.
 */
export class ActiveStream implements UpstreamHandler, StreamCallbacks, DownstreamEvents, TimedStream {
  readonly streamInfo: StreamInfo;
  route: CompiledRoute | undefined;
  exchange: UpstreamExchange | undefined;
  private upstreamHeaders: string[] = [];
  private authority = '';
  private path: string;
  private filters: HttpFilter[] | undefined;
  private cluster: WeightedCluster | undefined;
  private host: UpstreamHost | undefined;
  private upstreamStartMs = 0;
  private upstreamServiceTimeMs: number | undefined;
  private done = false;
  private completed = false;
  private clusterRt: ClusterRuntime | undefined;
  private upstreamPath = '';
  private retry: RetryPolicyRuntime | undefined;
  private retriesLeft = 0;
  private retried = 0;
  private retryHeld = false;
  private hash: number | undefined;
  /** What route matching read; kept for hash policies on query parameters. */
  private view: RequestView | undefined;
  private setCookie: string | undefined;
  private attempts = 0;
  private tried: UpstreamHost[] | undefined;
  private replay: ReplayableBody | undefined;
  private routeTimer: NodeJS.Timeout | undefined;
  private perTryTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private originalPath: string | undefined;
  private requestId: string | undefined;
  /** The downstream remote address is the trusted client address found in x-forwarded-for. */
  private clientFromXff = false;
  /** This stream on the worker's timeout sweeper (stream_idle_timeout, request_timeout, max_stream_duration). */
  private timeoutWatch: StreamWatch | undefined;
  /** A local reply's gRPC status chosen by its cause (max_stream_duration: DEADLINE_EXCEEDED). */
  private localGrpcStatus: number | undefined;

  constructor(
    private readonly listener: HttpPipeline,
    private readonly runtime: Runtime,
    private readonly ds: Downstream,
  ) {
    this.path = ds.target;
    this.streamInfo = {
      startTimeMs: Date.now(),
      responseFlags: [],
      downstreamRemoteAddress: ds.remoteAddress,
    };
  }

  private meta: Record<string, unknown> | undefined;

  /** The connection, as filters see it: addresses, original destination, mTLS peer. */
  get connection(): Downstream {
    return this.ds;
  }

  /** The request body as the router will send it: the client's, unless a filter read it ahead. */
  get requestBody(): BodySource | null {
    return this.bodyOverride ?? this.ds.body;
  }

  setRequestBody(body: BodySource): void {
    this.bodyOverride = body;
  }

  private bodyOverride: BodySource | undefined;

  get requestHeaderList(): readonly string[] {
    return this.upstreamHeaders;
  }

  get metadata(): Record<string, unknown> {
    return (this.meta ??= {});
  }

  start(): void {
    const hs = this.listener.stats;
    hs.downstreamRqTotal++;
    hs.downstreamRqActive++;
    if (this.ds.protocol === 'HTTP/2') hs.downstreamRqHttp2Total++;
    else hs.downstreamRqHttp1Total++;
    if (this.runtime.services.overload?.stopAcceptingRequests) {
      // Envoy's stop_accepting_requests: refused before routing and before any filter is created
      hs.downstreamRqOverloadClose++;
      this.streamInfo.responseCodeDetails = 'overload';
      this.sendLocalReply(503, 'envoy overloaded', ResponseFlag.OverloadManager);
      return;
    }
    const timeouts = this.listener.streamTimeouts;
    if (timeouts) this.timeoutWatch = streamTimeouts.watch(this, timeouts, this.streamInfo.startTimeMs);
    this.buildUpstreamHeaders();
    if (this.path.charCodeAt(0) !== 47 /* '/' */ && !this.takeAbsoluteForm()) {
      this.sendLocalReply(400, 'Bad Request', ResponseFlag.DownstreamProtocolError);
      return;
    }
    // the path authorization, routing and the upstream all see (Istio's pathNormalization)
    const normalize = this.listener.normalizePath;
    if (normalize) {
      const p = normalize(this.path);
      if (typeof p !== 'string') {
        this.sendLocalReply(p.status, p.status === 404 ? '' : 'Bad Request');
        return;
      }
      this.path = p;
    }
    const view = (this.view = new RequestView(this.ds.method, this.path, this.authority, this.ds.scheme, this.ds.headers));
    const vh = this.listener.routes.findVirtualHost(this.authority);
    this.route = vh && RouteTable.findRoute(vh, view);
    if (!this.route) {
      this.sendLocalReply(404, '', ResponseFlag.NoRouteFound);
      return;
    }
    this.streamInfo.routeName = this.route.name;
    if (this.route.action.kind === 'route') {
      // Envoy picks the weighted cluster when it resolves the route, before the filters run
      this.cluster = this.route.pickCluster();
      this.streamInfo.upstreamCluster = this.cluster.name;
    }
    if (this.listener.filters.length === 0) {
      this.routeRequest();
      return;
    }
    this.filters = this.listener.filters.map((create) => create(this));
    void this.runRequestFilters(0);
  }

  // ------------------------------------------------------------------ request headers

  /** Copies downstream headers into the upstream list, applying Envoy's proxy header rules. */
  private buildUpstreamHeaders(): void {
    const raw = this.ds.headers;
    const out = this.upstreamHeaders;
    const hcm = this.listener.hcm;
    let xff: string | undefined;
    let xfcc: string | undefined;
    let upgrade: string | undefined;
    let connectionTokens: string | undefined;
    let haveRequestId = false;
    let haveProto = false;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i];
      const value = raw[i + 1];
      if (DROP_REQUEST.has(name)) {
        if (name === 'connection') connectionTokens = connectionTokens ? `${connectionTokens},${value}` : value;
        else if (name === 'upgrade') upgrade = value;
        continue;
      }
      switch (name) {
        case 'host':
          this.authority = value.toLowerCase();
          break;
        case 'te':
          // only "trailers" may cross a proxy (RFC 9110 §10.1.4)
          if (!/(^|,)\s*trailers\s*(;|,|$)/i.test(value)) continue;
          out.push(name, 'trailers');
          continue;
        case 'x-forwarded-for':
          // one header, as Envoy keeps it (repeated ones joined), written below
          xff = xff === undefined ? value : `${xff},${value}`;
          continue;
        case 'x-forwarded-proto':
          // at the edge only trusted proxies (xff_num_trusted_hops) may have set it
          if (hcm.useRemoteAddress && !hcm.xffNumTrustedHops) continue;
          haveProto = true;
          break;
        case 'x-forwarded-client-cert':
          if (!keepsClientCertHeader(hcm.forwardClientCertDetails, this.ds.peer !== undefined)) continue;
          xfcc = xfcc === undefined ? value : `${xfcc},${value}`;
          continue;
        case 'x-envoy-external-address':
          // the edge sets it (below); past the edge it travels as the edge set it
          if (hcm.useRemoteAddress) continue;
          break;
        case 'x-request-id':
          haveRequestId = true;
          this.requestId = value;
          break;
        default:
          if (hcm.stripEnvoyHeaders && name.startsWith('x-envoy-')) continue;
      }
      out.push(name, value);
    }
    // WebSocket (Envoy's upgrade_configs, on for every Istio route): HTTP/1.1 only for now
    // an Upgrade (HTTP/1.1) or an extended CONNECT (HTTP/2, RFC 8441); h2c is declined: the request
    // goes on over HTTP/1.1, its upgrade headers dropped (RFC 9113 deprecates it)
    const type = upgrade?.trim().toLowerCase();
    if (type && type !== 'h2c' && /(^|,)\s*upgrade\s*(,|$)/i.test(connectionTokens ?? '')) this.requestedUpgrade = type;
    if (this.ds.connectProtocol) this.requestedUpgrade = this.ds.connectProtocol.toLowerCase();
    if (this.ds.connectProtocol === 'websocket' && this.ds.upgrade) {
      // the HTTP/1.1 handshake needs a key; an HTTP/2 client does not send one (RFC 8441 §5)
      if (getFromList(out, 'sec-websocket-key') === undefined) out.push('sec-websocket-key', randomBytes(16).toString('base64'));
    }
    if (connectionTokens) {
      for (const token of connectionTokens.split(',')) {
        const t = token.trim().toLowerCase();
        if (t && t !== 'close' && t !== 'keep-alive') removeFromList(out, t);
      }
    }
    const client = xffClientAddress(xff, hcm.useRemoteAddress, hcm.xffNumTrustedHops ?? 0);
    if (client !== undefined) {
      this.streamInfo.downstreamRemoteAddress = client;
      this.clientFromXff = true;
    }
    if (hcm.useRemoteAddress) {
      const peer = this.ds.remoteAddress;
      out.push('x-forwarded-for', xff === undefined ? peer : `${xff},${peer}`);
      // Envoy sets it on edge (external) requests; with Istio no request is internal at a gateway
      // (Envoy >= 1.33 has an empty internal_address_config, which istiod leaves so)
      out.push('x-envoy-external-address', this.streamInfo.downstreamRemoteAddress);
    } else if (xff !== undefined) {
      out.push('x-forwarded-for', xff);
    }
    if (!haveProto) out.push('x-forwarded-proto', this.ds.scheme);
    const peer = this.ds.peer;
    const mode = hcm.forwardClientCertDetails;
    if (peer && (mode === 'APPEND_FORWARD' || mode === 'SANITIZE_SET')) {
      const current = xfccElement(peer, this.runtime.services.tls?.workloadIdentity);
      out.push('x-forwarded-client-cert', xfcc === undefined || mode === 'SANITIZE_SET' ? current : `${xfcc},${current}`);
    } else if (xfcc !== undefined) {
      out.push('x-forwarded-client-cert', xfcc);
    }
    if (!haveRequestId) out.push('x-request-id', (this.requestId = randomUUID()));
  }

  /** `GET http://host/path` (a client using the proxy explicitly): the URL names authority and path. */
  private takeAbsoluteForm(): boolean {
    const m = /^http:\/\/([^/?#]+)([^#]*)/i.exec(this.path);
    if (!m) return false;
    this.authority = m[1].toLowerCase();
    this.path = m[2] || '/';
    removeFromList(this.upstreamHeaders, 'host');
    this.upstreamHeaders.push('host', m[1]);
    return true;
  }

  // ------------------------------------------------------------------ filters

  private async runRequestFilters(from: number): Promise<void> {
    const filters = this.filters!;
    const headers = this.requestHeadersView();
    try {
      for (let i = from; i < filters.length; i++) {
        const hook = filters[i].onRequestHeaders;
        if (!hook) continue;
        let status: FilterStatus | Promise<FilterStatus> = hook.call(filters[i], headers, this);
        if (typeof status !== 'string') status = await status;
        if (status === 'stop' || this.done) return;
      }
    } catch (err) {
      this.sendLocalReply(500, 'filter error');
      return;
    }
    this.routeRequest();
  }

  private requestHeadersView(): RequestHeaders {
    const stream = this; // path: as the filters before this one left it (jwt_authn removes a token)
    return {
      method: this.ds.method,
      get path() {
        return stream.path;
      },
      setPath(path: string) {
        stream.path = path;
      },
      authority: this.authority,
      ...headerListView(this.upstreamHeaders),
    };
  }

  // ------------------------------------------------------------------ router

  private routeRequest(): void {
    const route = this.route!;
    const action = route.action;
    if (action.kind === 'redirect') return this.redirect(action);
    if (action.kind === 'direct_response') return this.directResponse(action);

    const wc = this.cluster!;
    const cluster = this.runtime.clusters.get(wc.name);
    if (!cluster) {
      this.sendLocalReply(503, '', ResponseFlag.NoClusterFound);
      return;
    }
    const headers = this.upstreamHeaders;
    let path = this.path;
    if (route.rewritePath) {
      path = route.rewritePath(path);
      headers.push('x-envoy-original-path', this.path);
      this.originalPath = this.path;
    }
    if (action.hostRewrite !== undefined) {
      removeFromList(headers, 'host');
      headers.push('host', action.hostRewrite);
    }
    // Envoy order: the weighted cluster's edits, then the route's (the less specific one wins)
    if (wc.requestHeaders) mutateHeaderList(headers, wc.requestHeaders);
    if (route.requestHeaders) mutateHeaderList(headers, route.requestHeaders);

    this.clusterRt = cluster;
    this.upstreamPath = path;
    // Envoy's upgrade_configs: the route's say, else the connection manager's; a type nobody
    // enabled is refused with 403 (upgrade_failed)
    if (this.requestedUpgrade) {
      const t = this.requestedUpgrade;
      const allowed = action.upgrades?.[t] ?? (this.listener.hcm.upgradeTypes ?? DEFAULT_UPGRADES).includes(t);
      if (!allowed || !this.ds.upgrade) {
        this.streamInfo.responseCodeDetails = 'upgrade_failed';
        this.sendLocalReply(403, '');
        return;
      }
      this.upgrading = true;
      // the tunnel's byte relay has its own idle timeout
      if (this.timeoutWatch) this.timeoutWatch.idleArmed = false;
    }
    // an upgrade is not retried, and route timeouts do not cut a tunnel (Envoy)
    this.retry = this.upgrading ? undefined : route.retry;
    this.retriesLeft = route.retry?.numRetries ?? 0;
    const timeoutMs = this.upgrading ? 0 : effectiveTimeout(route.timeoutMs, this.isGrpcRequest() ? getFromList(this.ds.headers, 'grpc-timeout') : undefined);
    const body = this.requestBody;
    const mirrors = action.mirrors ? this.chooseMirrors(action.mirrors) : undefined;
    if (body && (this.retry || timeoutMs || mirrors)) {
      // retries and mirrors replay the body; the route timeout starts once the whole request has arrived
      this.replay = new ReplayableBody(body, RETRY_BUFFER_LIMIT_BYTES, timeoutMs ? () => this.armRouteTimeout(timeoutMs) : undefined);
    } else if (timeoutMs) {
      this.armRouteTimeout(timeoutMs);
    }
    // Istio sets include_request_attempt_count: every attempt says which one it is (set, not
    // appended: a request that already crossed a sidecar carries that sidecar's count)
    removeFromList(headers, 'x-envoy-attempt-count');
    headers.push('x-envoy-attempt-count', '1');
    if (mirrors) this.mirror(mirrors, path);
    if (action.hashPolicy) this.hash = this.hashOf(action.hashPolicy);
    this.startAttempt();
  }

  /**
   * The consistent-hash key of this request (Envoy hash_policy); undefined → a random host. A cookie
   * policy with a ttl and no cookie yet makes one up and sets it on the response, as Envoy does.
   */
  private hashOf(p: HashPolicy): number | undefined {
    let key: string | undefined;
    if ('header' in p) key = getFromList(this.ds.headers, p.header);
    else if ('sourceIp' in p) key = this.streamInfo.downstreamRemoteAddress;
    else if ('queryParameter' in p) key = this.view!.queryParam(p.queryParameter);
    else {
      key = cookieValue(this.ds.headers, p.cookie.name);
      if (key === undefined && p.cookie.ttlMs) {
        key = randomUUID().replace(/-/g, '').slice(0, 16);
        const c = p.cookie;
        this.setCookie = `${c.name}="${key}"; Max-Age=${Math.floor(c.ttlMs! / 1000)}${c.path ? `; Path=${c.path}` : ''}; HttpOnly`;
      }
    }
    return key === undefined ? undefined : hash32(key);
  }

  private chooseMirrors(policies: { cluster: string; percent: number }[]): ClusterRuntime[] | undefined {
    const out: ClusterRuntime[] = [];
    for (const m of policies) {
      if (m.percent < 100 && Math.random() * 100 >= m.percent) continue;
      const c = this.runtime.clusters.get(m.cluster);
      if (c) out.push(c);
    }
    return out.length ? out : undefined;
  }

  /** Fire-and-forget copies; with a body, sent once it has fully arrived (and only if it fit the buffer). */
  private mirror(clusters: ClusterRuntime[], path: string): void {
    const headers = [...this.upstreamHeaders];
    const method = this.ds.method;
    const replay = this.replay;
    if (!this.requestBody || !replay) {
      for (const c of clusters) sendMirror(c, method, path, headers, null);
      return;
    }
    replay.whenComplete(() => {
      const copy = replay.copy();
      if (!copy) return;
      for (const c of clusters) sendMirror(c, method, path, headers, new BufferedBody(copy.chunks, copy.length));
    });
  }

  /** One try: pick a host (avoiding tried ones when the policy says so) and send the request. */
  private startAttempt(): void {
    this.retryTimer = undefined;
    if (this.done) return;
    if (this.attempts > 0 && this.replay && !this.replay.replayable) {
      // the body grew past the buffer while the retry waited: it cannot be sent again whole
      this.sendLocalReply(507, 'exceeded request buffer limit while retrying upstream');
      return;
    }
    const cluster = this.clusterRt!;
    const host = this.pickHost(cluster);
    if (!host) {
      this.sendLocalReply(503, 'no healthy upstream', ResponseFlag.NoHealthyUpstream);
      return;
    }
    this.attempts++;
    if (this.attempts > 1) this.upstreamHeaders[this.upstreamHeaders.length - 1] = String(this.attempts);
    this.host = host;
    host.active++;
    const cs = cluster.stats;
    cs.upstreamRqTotal++;
    cs.upstreamRqActive++;
    host.stats.rqTotal++;
    host.stats.rqActive++;
    this.streamInfo.upstreamHost = host.label;
    this.upstreamStartMs = Date.now();
    const perTry = this.retry?.perTryTimeoutMs;
    if (perTry) {
      // Envoy starts a try's timer once the whole request has been sent
      const attempt = this.attempts;
      const arm = () => {
        if (this.attempts === attempt && this.exchange && !this.done) this.perTryTimer = setTimeout(() => this.onPerTryTimeout(), perTry);
      };
      if (this.replay && !this.replay.complete) this.replay.whenComplete(arm);
      else queueMicrotask(arm);
    }
    if (this.upgrading) return this.openTunnel(host, cluster);
    const body = this.replay ? this.replay.forAttempt() : this.requestBody;
    this.exchange = host.poolFor(this.ds.protocol).request({ method: this.ds.method, path: this.upstreamPath, headers: this.upstreamHeaders, body }, this);
  }

  private pickHost(cluster: ClusterRuntime): UpstreamHost | undefined {
    const dest = cluster.config.type === 'ORIGINAL_DST' ? this.originalDestination() : undefined;
    let host = cluster.pick(dest, this.hash);
    if (this.attempts > 0 && this.retry?.retryOtherPriorities && this.tried) {
      // retryRemoteLocalities: go to a locality (priority) not tried yet, when one has hosts
      const other = cluster.pickOtherPriority(new Set(this.tried.map((h) => h.endpoint.priority ?? 0)), this.hash);
      if (other) host = other;
    }
    if (this.attempts === 0 || !host || !this.retry?.retryPreviousHosts) {
      if (host) (this.tried ??= []).push(host);
      return host;
    }
    // retry_host_predicate previous_hosts: a few more picks to find a host not tried yet
    // (a hash-based pick would return the same host: retries there re-pick at random)
    for (let i = 0; i < this.retry.hostSelectionAttempts && this.tried!.includes(host!); i++) host = cluster.pick(dest);
    if (host) this.tried!.push(host);
    return host;
  }

  /** Can the request be sent again? Not when its body outgrew the replay buffer. */
  private canRetry(): boolean {
    if (this.retriesLeft <= 0 || (this.replay && !this.replay.replayable) || this.done) return false;
    const limits = this.clusterRt!.limits;
    if (limits && !this.retryHeld) {
      // max_retries: retries outstanding for the whole cluster, across workers
      if (!limits.tryRetry()) {
        // Envoy returns what it has and flags the overflow (UO)
        this.clusterRt!.stats.upstreamRqRetryOverflow++;
        this.addFlag(ResponseFlag.UpstreamOverflow);
        return false;
      }
      this.retryHeld = true;
    }
    return true;
  }

  private scheduleRetry(): void {
    this.retriesLeft--;
    this.retried++;
    this.clusterRt!.stats.upstreamRqRetry++;
    clearTimeout(this.perTryTimer);
    this.retryTimer = setTimeout(() => this.startAttempt(), this.retry!.backoffMs(this.retried));
  }

  /** Gives up on the current attempt (its connection is closed; the request may go on). */
  private abandonAttempt(): void {
    clearTimeout(this.perTryTimer);
    this.perTryTimer = undefined;
    if (this.host) this.host.stats.rqError++;
    this.abortUpstream();
  }

  /**
   * Feeds outlier detection: a response status, or (status undefined) a local-origin failure —
   * connect failure, reset, timeout. A counter reaching its threshold is reported to the agent.
   */
  private recordOutlier(status: number | undefined, host: UpstreamHost | undefined = this.host): void {
    const od = this.clusterRt?.config.outlierDetection;
    const slot = host?.outlierSlot;
    const services = this.runtime.services;
    if (!od || slot === undefined || !services.outliers) return;
    const hit = status === undefined ? services.outliers.localFailure(slot, od) : services.outliers.response(slot, od, status);
    if (hit) services.reportOutlier?.(this.clusterRt!.name, host!.label, hit);
  }

  private armRouteTimeout(ms: number): void {
    if (this.done || this.routeTimer) return;
    this.routeTimer = setTimeout(() => this.onRouteTimeout(), ms);
  }

  /** The route timeout ends the request: 504 "upstream request timeout" (flag UT), no more retries. */
  private onRouteTimeout(): void {
    this.routeTimer = undefined;
    if (this.done) return;
    clearTimeout(this.retryTimer);
    this.clusterRt!.stats.upstreamRqTimeout++;
    this.abandonAttempt();
    this.timedOut();
  }

  private onPerTryTimeout(): void {
    this.perTryTimer = undefined;
    if (this.done || !this.exchange) return;
    this.clusterRt!.stats.upstreamRqPerTryTimeout++;
    this.recordOutlier(undefined);
    this.abandonAttempt();
    if (!this.ds.headersSent && this.retry!.retriableFailure('per_try_timeout')) {
      if (this.canRetry()) return this.scheduleRetry();
      if (this.retriesLeft === 0) this.addFlag(ResponseFlag.UpstreamRetryLimitExceeded);
    }
    this.timedOut();
  }

  private timedOut(): void {
    if (this.ds.headersSent) {
      this.addFlag(ResponseFlag.UpstreamRequestTimeout);
      this.done = true;
      this.resetDownstream();
      this.complete();
      return;
    }
    this.sendLocalReply(504, 'upstream request timeout', ResponseFlag.UpstreamRequestTimeout);
  }

  // ------------------------------------------------------------------ stream timeouts

  streamProgress(): number {
    const ds = this.ds;
    return ds.bytesReceived + ds.bytesSent + (ds.headersSent ? 1 : 0);
  }

  requestTimeoutDisarmed(): boolean {
    return this.ds.requestComplete || this.ds.headersSent;
  }

  /**
   * A connection manager timeout ended the stream, as Envoy's ActiveStream does: before the
   * response started, a local reply — 408, or 504 once the whole request had arrived — and the
   * upstream request cancelled; after, the downstream stream is reset.
   */
  onStreamTimeout(kind: StreamTimeoutKind): void {
    this.timeoutWatch = undefined;
    if (this.done) return;
    const hs = this.listener.stats;
    let body: string;
    switch (kind) {
      case 'idle':
        hs.downstreamRqIdleTimeout++;
        this.addFlag(ResponseFlag.StreamIdleTimeout);
        this.streamInfo.responseCodeDetails = 'stream_idle_timeout';
        body = 'stream timeout';
        break;
      case 'request':
        hs.downstreamRqTimeout++;
        this.streamInfo.responseCodeDetails = 'request_overall_timeout';
        body = 'request timeout';
        break;
      case 'max_duration':
        hs.downstreamRqMaxDurationReached++;
        this.streamInfo.responseCodeDetails = 'max_duration_timeout';
        this.localGrpcStatus = 4; // DEADLINE_EXCEEDED
        body = 'downstream duration timeout';
        break;
    }
    if (this.ds.headersSent) {
      this.done = true;
      this.abortUpstream();
      this.resetDownstream();
      this.complete();
      return;
    }
    this.sendLocalReply(this.ds.requestComplete ? 504 : 408, body);
  }

  /** Without traffic capture the original destination is the authority the client asked for. */
  private originalDestination(): { address: string; port: number } | undefined {
    // captured: where the client was going; connected directly (an explicit proxy): the authority
    if (this.ds.originalDestination) return this.ds.originalDestination;
    const a = this.authority;
    if (!a) return undefined;
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(a);
    if (!m) return undefined;
    return { address: m[1].replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 80 };
  }

  private redirect(action: RedirectAction): void {
    const scheme = action.scheme ?? 'http';
    let host = action.host ?? this.authority;
    const reqPort = /:(\d+)$/.exec(this.authority)?.[1];
    if (action.port !== undefined || action.portFromRequest || action.scheme) {
      host = host.replace(/:\d+$/, '');
      const port = action.port ?? (action.portFromRequest && reqPort ? Number(reqPort) : undefined);
      const defaultPort = scheme === 'https' ? 443 : 80;
      if (port !== undefined && port !== defaultPort) host = `${host}:${port}`;
    }
    let path = this.path;
    if (action.path !== undefined) {
      const q = this.path.indexOf('?');
      path = action.path.includes('?') || q < 0 ? action.path : action.path + this.path.slice(q);
    }
    this.streamInfo.responseCode = action.responseCode;
    this.finishLocal(action.responseCode, '', ['location', `${scheme}://${host}${path}`]);
  }

  private directResponse(action: DirectResponseAction): void {
    this.finishLocal(action.status, action.body ?? '');
  }

  // ------------------------------------------------------------------ upstream → downstream

  onUpstreamHeaders(status: number, upstream: string[]): void {
    const headerGrpc = getFromList(upstream, 'grpc-status');
    if (headerGrpc !== undefined) this.grpcStatus = headerGrpc;
    this.recordOutlier(status);
    if (this.retry?.retriableResponse(status, upstream)) {
      if (this.canRetry()) {
        this.abandonAttempt();
        this.scheduleRetry();
        return;
      }
      if (this.retriesLeft === 0) this.addFlag(ResponseFlag.UpstreamRetryLimitExceeded);
    }
    // only the response that is forwarded counts as upstream_rq_<code> (as Envoy counts)
    this.host?.clusterStats.response(status);
    const headers: string[] = [];
    for (let i = 0; i < upstream.length; i += 2) {
      // the upstream's own service time (another sidecar's) is replaced by this proxy's, as Envoy sets it
      if (!DROP_RESPONSE.has(upstream[i]) && upstream[i] !== 'x-envoy-upstream-service-time') headers.push(upstream[i], upstream[i + 1]);
    }
    this.upstreamServiceTimeMs = Date.now() - this.upstreamStartMs;
    headers.push('x-envoy-upstream-service-time', String(this.upstreamServiceTimeMs));
    if (this.setCookie) headers.push('set-cookie', this.setCookie);
    if (this.cluster?.responseHeaders) mutateHeaderList(headers, this.cluster.responseHeaders);
    if (this.route?.responseHeaders) mutateHeaderList(headers, this.route.responseHeaders);
    if (this.filters) this.runResponseFilters(status, headers);
    this.streamInfo.responseCode = status;
    this.ds.respond(status, headers);
  }

  onUpstreamData(chunk: Buffer): boolean {
    return this.ds.write(chunk);
  }

  onUpstreamEnd(trailers?: string[]): void {
    if (this.host) this.host.stats.rqSuccess++;
    this.releaseHost();
    this.exchange = undefined;
    this.done = true;
    this.replay?.detach();
    if (trailers) {
      const status = getFromList(trailers, 'grpc-status');
      if (status !== undefined) this.grpcStatus = status;
    }
    this.ds.end(trailers);
    this.complete();
  }

  /** A gRPC client (content-type application/grpc*): timeouts and local replies speak gRPC to it. */
  private isGrpcRequest(): boolean {
    return getFromList(this.ds.headers, 'content-type')?.startsWith('application/grpc') === true;
  }

  /** grpc-status of a gRPC response (trailers, or the headers of a trailers-only response), for the metric label. */
  private grpcStatus: string | undefined;
  /** The Upgrade type the client asked for (lower case). */
  private requestedUpgrade: string | undefined;
  /** An upgrade the route allows: the request goes through an UpgradeTunnel, not a pool. */
  private upgrading = false;
  private tunnel: UpgradeTunnel | undefined;

  /** The upgrade request on its own upstream connection; a 101 makes it a tunnel until either side closes. */
  private openTunnel(host: UpstreamHost, cluster: ClusterRuntime): void {
    const method = this.ds.connectProtocol ? 'GET' : this.ds.method;
    let head = `${method} ${this.upstreamPath} HTTP/1.1\r\n`;
    const h = this.upstreamHeaders;
    for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`;
    head += `connection: upgrade\r\nupgrade: ${this.requestedUpgrade}\r\n\r\n`;
    const { address, port } = host.endpoint;
    const localAddress = bindAddressFor(cluster.config.upstreamBindAddresses, address);
    const tls = this.runtime.services.tls?.clientOptions(cluster.config, host.endpoint, 'http');
    const ds = this.ds as Downstream & Required<Pick<Downstream, 'upgrade'>>;
    const opts = { address, port, connectTimeoutMs: cluster.config.connectTimeoutMs, idleTimeoutMs: this.tunnelIdleTimeoutMs(), ...(localAddress ? { localAddress } : {}), ...(tls ? { tls } : {}) };
    this.tunnel = new UpgradeTunnel(ds, head, opts, (r) => {
      this.tunnel = undefined;
      if (r.status === undefined) {
        if (this.host) this.host.stats.rqError++;
        this.releaseHost();
        if (!this.done) {
          const flag = r.failure === 'connect_failure' || r.failure === 'connect_timeout' ? ResponseFlag.UpstreamConnectionFailure : ResponseFlag.UpstreamConnectionTermination;
          this.sendLocalReply(503, `upstream connect error or disconnect/reset before headers. reset reason: ${r.failure ?? 'connection termination'}`, flag);
        }
        return;
      }
      if (this.host) this.host.stats.rqSuccess++;
      this.host?.clusterStats.response(r.status);
      this.releaseHost();
      this.done = true;
      this.streamInfo.responseCode = r.status;
      this.upstreamServiceTimeMs = Date.now() - this.upstreamStartMs;
      this.complete();
    });
    this.tunnel.start();
  }

  /** Envoy keeps the stream idle timeout on a tunnel (bytes either way); without one, the connection idle timeout. */
  private tunnelIdleTimeoutMs(): number {
    return this.listener.streamTimeouts?.idleMs || this.listener.hcm.idleTimeoutMs;
  }

  onUpstreamError(err: UpstreamError): void {
    const host = this.host;
    if (host) host.stats.rqError++;
    this.releaseHost();
    this.exchange = undefined;
    if (this.done) return; // downstream already gone (DC) or response finished
    if (err.kind === 'request_body_overflow') {
      this.sendLocalReply(507, 'exceeded request buffer limit while retrying upstream');
      return;
    }
    if (err.kind === 'downstream_body_error') {
      // the codec answers a malformed body itself (400, or a reset once the response started)
      this.addFlag(ResponseFlag.DownstreamProtocolError);
      this.streamInfo.responseCode ??= 400;
      this.done = true;
      this.complete();
      return;
    }
    if (this.ds.headersSent) {
      // mid-response failure: never a clean end — the HTTP/1.1 connection closes short, the HTTP/2
      // stream is reset; flagged by the upstream's reset reason, as Envoy's router does
      const late = lateReset(err);
      this.addFlag(late.flag);
      this.streamInfo.responseCodeDetails = `upstream_reset_after_response_started{${late.reason}}`;
      this.done = true;
      this.resetDownstream();
      this.complete();
      return;
    }
    clearTimeout(this.perTryTimer);
    if (err.kind !== 'overflow') this.recordOutlier(undefined, host);
    if (err.kind === 'overflow') {
      this.clusterRt!.stats.upstreamRqPendingOverflow++;
      this.sendLocalReply(503, 'upstream connect error or disconnect/reset before headers. reset reason: overflow', ResponseFlag.UpstreamOverflow);
      return;
    }
    // an HTTP/2 upstream that refused the stream (REFUSED_STREAM, or past a GOAWAY) never processed it
    const failure: AttemptFailure =
      err.kind === 'connect_failure' || err.kind === 'connect_timeout' ? 'connect_failure' : err.code === 'REFUSED_STREAM' ? 'refused_stream' : 'reset';
    if (this.retry?.retriableFailure(failure)) {
      if (this.canRetry()) return this.scheduleRetry();
      if (this.retriesLeft === 0) this.addFlag(ResponseFlag.UpstreamRetryLimitExceeded);
    }
    const prefix = 'upstream connect error or disconnect/reset before headers. reset reason: ';
    switch (err.kind) {
      case 'connect_failure':
        this.sendLocalReply(503, `${prefix}connection failure, transport failure reason: delayed connect error: ${err.code ?? err.message}`, ResponseFlag.UpstreamConnectionFailure);
        break;
      case 'connect_timeout':
        this.sendLocalReply(503, `${prefix}connection timeout`, ResponseFlag.UpstreamConnectionFailure);
        break;
      case 'protocol_error':
        // Envoy's router: a protocol error is the upstream's fault, 502 (other resets are 503)
        this.sendLocalReply(502, `${prefix}protocol error`, ResponseFlag.UpstreamProtocolError);
        break;
      default:
        // an HTTP/2 upstream's RST_STREAM is Envoy's remote reset (UR); a connection gone, termination (UC)
        if (isHttp2ErrorCode(err.code)) {
          this.sendLocalReply(503, `${prefix}${err.code === 'REFUSED_STREAM' ? 'remote refused stream reset' : 'remote reset'}`, ResponseFlag.UpstreamRemoteReset);
        } else {
          this.sendLocalReply(503, `${prefix}connection termination`, ResponseFlag.UpstreamConnectionTermination);
        }
    }
  }

  // ------------------------------------------------------------------ endings

  private runResponseFilters(status: number, headers: string[]): void {
    const view: ResponseHeaders = { status, ...headerListView(headers) };
    const filters = this.filters!;
    for (let i = filters.length - 1; i >= 0; i--) filters[i].onResponseHeaders?.(view, this);
  }

  sendLocalReply(status: number, body: string, flag?: ResponseFlagValue, headers?: string[]): void {
    if (flag) this.addFlag(flag);
    if (this.done) return;
    this.finishLocal(status, body, headers);
  }

  private finishLocal(status: number, body: string, extra?: string[]): void {
    this.done = true;
    this.abortUpstream();
    if (this.replay) this.replay.detach();
    else this.requestBody?.detach();
    if (this.isGrpcRequest() && !(extra && extra.includes('grpc-status'))) {
      // gRPC clients get a gRPC status: a route timeout is DEADLINE_EXCEEDED, the rest as Envoy maps HTTP codes
      const code = this.localGrpcStatus ?? (this.streamInfo.responseFlags.includes(ResponseFlag.UpstreamRequestTimeout) ? 4 : httpToGrpcStatus(status));
      this.grpcStatus = String(code);
      this.streamInfo.responseCode = 200;
      writeGrpcLocalReply(this.ds, code, body, extra);
    } else {
      if (extra) {
        const i = extra.indexOf('grpc-status');
        if (i >= 0 && i % 2 === 0) this.grpcStatus = extra[i + 1];
      }
      this.streamInfo.responseCode = status;
      writeLocalReply(this.ds, status, body, extra);
    }
    this.complete();
  }

  /** The response started and cannot be finished: the client's stream is reset (downstream_rq_tx_reset). */
  private resetDownstream(): void {
    this.listener.stats.downstreamRqTxReset++;
    this.ds.reset();
  }

  private addFlag(flag: ResponseFlagValue): void {
    if (!this.streamInfo.responseFlags.includes(flag)) this.streamInfo.responseFlags.push(flag);
  }

  private releaseHost(): void {
    const host = this.host;
    if (!host) return;
    host.active--;
    host.stats.rqActive--;
    host.clusterStats.upstreamRqActive--;
    this.host = undefined;
  }

  /** Once per request, when it is over: HCM stats, Istio metrics, access log. */
  private complete(): void {
    if (this.completed) return;
    this.completed = true;
    if (this.timeoutWatch) streamTimeouts.unwatch(this.timeoutWatch);
    if (this.routeTimer) clearTimeout(this.routeTimer);
    if (this.perTryTimer) clearTimeout(this.perTryTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.retryHeld) this.clusterRt!.limits!.add(Resource.Retries, -1);
    const info = this.streamInfo;
    const code = info.responseCode ?? 0;
    const hs = this.listener.stats;
    hs.downstreamRqActive--;
    hs.rqClass[(code / 100) | 0]++;
    const flags = formatResponseFlags(info.responseFlags);
    const durationMs = Date.now() - info.startTimeMs;
    const ds = this.ds;
    const services = this.runtime.services;
    const tpl = this.runtime.istioLabels(this.listener.config, this.clusterIfKnown(), 'http', ds.peer?.spiffeId);
    const series = services.stats.istioSeries(`${tpl.id}|${code}|${flags}|${this.grpcStatus ?? ''}`, () => ({
      ...tpl.labels,
      response_code: String(code),
      response_flags: flags,
      grpc_response_status: this.grpcStatus ?? '',
    }));
    series.count++;
    series.duration.observe(durationMs);
    series.requestBytes.observe(ds.headBytes + ds.bytesReceived);
    series.responseBytes.observe(ds.bytesSent);
    if (services.accessLog.enabled) {
      services.accessLog.log({
        startTimeMs: info.startTimeMs,
        method: ds.method,
        path: this.originalPath ?? this.path,
        protocol: ds.protocol,
        responseCode: code,
        responseFlags: flags,
        responseCodeDetails: info.responseCodeDetails ?? (info.responseFlags.length ? 'local_reply' : 'via_upstream'),
        bytesReceived: ds.bytesReceived,
        bytesSent: ds.bytesSent,
        durationMs,
        upstreamServiceTimeMs: this.upstreamServiceTimeMs,
        xForwardedFor: getFromList(this.upstreamHeaders, 'x-forwarded-for'),
        userAgent: getFromList(ds.headers, 'user-agent'),
        requestId: this.requestId,
        authority: this.authority,
        upstreamHost: info.upstreamHost,
        upstreamCluster: info.upstreamCluster,
        downstreamLocalAddress: ds.localEndpoint,
        // an address taken from x-forwarded-for has no port: Envoy prints it with port 0
        downstreamRemoteAddress: this.clientFromXff ? hostPort(info.downstreamRemoteAddress, 0) : ds.remoteEndpoint,
        routeName: info.routeName,
      });
    }
  }

  /** The cluster for metrics when the request never reached a host (e.g. UH): only a known one. */
  private clusterIfKnown(): string | undefined {
    const name = this.streamInfo.upstreamCluster;
    return name && this.runtime.clusters.has(name) ? name : undefined;
  }

  onDownstreamDrain(): void {
    this.exchange?.resume();
  }

  /** The client went away: stop the upstream request (flag DC) unless the response already completed. */
  onDownstreamClose(): void {
    if (this.filters) for (const f of this.filters) f.onDestroy?.();
    if (!this.done) this.addFlag(ResponseFlag.DownstreamConnectionTermination);
    this.done = true;
    this.abortUpstream();
    this.complete();
  }

  private abortUpstream(): void {
    this.tunnel?.abort();
    if (!this.exchange) return;
    this.exchange.abort();
    this.exchange = undefined;
    this.releaseHost();
  }
}

/**
 * Envoy's reset reason for an upstream failure after the response started, and its flag
 * (streamResetReasonToResponseFlag): a framing error is UPE, a RST_STREAM from an HTTP/2 upstream
 * UR, a connection that went away UC. The reason is written as Envoy's response code details write it.
 */
function lateReset(err: UpstreamError): { flag: ResponseFlagValue; reason: string } {
  if (err.kind === 'protocol_error') return { flag: ResponseFlag.UpstreamProtocolError, reason: 'protocol_error' };
  if (err.kind === 'reset_after_headers' && isHttp2ErrorCode(err.code)) return { flag: ResponseFlag.UpstreamRemoteReset, reason: 'remote_reset' };
  return { flag: ResponseFlag.UpstreamConnectionTermination, reason: 'connection_termination' };
}

/**
 * Envoy's forward_client_cert_details: is the client's x-forwarded-client-cert forwarded (perhaps
 * appended to)? Always with ALWAYS_FORWARD_ONLY; from an mTLS peer with FORWARD_ONLY and
 * APPEND_FORWARD; never otherwise (SANITIZE, SANITIZE_SET, or no client certificate).
 */
function keepsClientCertHeader(mode: HttpConnectionManager['forwardClientCertDetails'], mtls: boolean): boolean {
  if (mode === 'ALWAYS_FORWARD_ONLY') return true;
  return mtls && (mode === 'FORWARD_ONLY' || mode === 'APPEND_FORWARD');
}

/**
 * One XFCC element as Envoy writes it with Istio's set_current_client_cert_details:
 * `By=<our URI SAN>;Hash=<sha256 of the peer cert>;Subject="<subject>";URI=<peer URI SAN>;DNS=<...>`.
 */
function xfccElement(peer: PeerIdentity, by: string | undefined): string {
  let e = by ? `By=${by};` : '';
  e += `Hash=${peer.sha256};Subject="${peer.subject.replace(/"/g, '\\"')}"`;
  for (const u of peer.uris) e += `;URI=${u}`;
  for (const d of peer.dns) e += `;DNS=${d}`;
  return e;
}

/** get/set/add/remove over a flat header list, for filters. */
function headerListView(list: string[]) {
  return {
    get: (n: string) => getFromList(list, n.toLowerCase()),
    set: (n: string, v: string) => mutateHeaderList(list, { set: [[n.toLowerCase(), v]], add: [], remove: [] }),
    add: (n: string, v: string) => void list.push(n.toLowerCase(), v),
    remove: (n: string) => removeFromList(list, n.toLowerCase()),
  };
}

