import type { HashPolicy, HttpConnectionManager, RedirectAction, RouteAction } from '../config/snapshot.js';
import { FilterStatus, type FilterHeadersStatus, type HttpFilter, type RouterCallbacks } from '../http/filter.js';
import { addResponseFlag, formatResponseFlags, ResponseFlag } from '../http/response-flags.js';
import { isGrpcRequest } from '../http/local-reply.js';
import { ReplayableBody } from '../http/replayable-body.js';
import { BufferedBody, sendMirror } from '../http/mirror.js';
import type { TunnelResult } from '../http/upgrade-tunnel.js';
import type { TlsStore } from '../security/tls-store.js';
import type { UpstreamError } from '../upstream/exchange.js';
import type { ClusterLookup, ClusterRuntime } from '../upstream/cluster.js';
import type { UpstreamHost } from '../upstream/host.js';
import { upstreamSourceFor } from '../upstream/connect.js';
import { Resource } from '../upstream/resource-limits.js';
import { hash32 } from '../upstream/hash-lb.js';
import { getFromList, mutateHeaderList, removeFromList, setInList } from './headers.js';
import type { CompiledRoute } from './route-table.js';
import type { AttemptTrace } from '../tracing/http-tracer.js';
import type { AttemptFailure, RetryPolicyRuntime } from './retry-state.js';
import { generatedCookie, newCookieKey, requestHashKey } from './hash-key.js';
import { effectiveTimeout } from './timeout.js';
import { causeOf, lateReset, LOCAL_REPLIES, localReplyBody, type LocalCause } from './upstream-errors.js';
import { UpstreamAttempt, type AttemptCallbacks, type OutlierReporting } from './upstream-attempt.js';

/** Envoy's default per-connection buffer limit: a body larger than this is not replayed on retry. */
const RETRY_BUFFER_LIMIT_BYTES = 1024 * 1024;
/** Upgrade types a connection manager tunnels when its config says nothing (Istio enables websocket). */
const DEFAULT_UPGRADES = ['websocket'];
/** Response headers never forwarded downstream (hop-by-hop; the codec frames the downstream body itself). */
const DROP_RESPONSE = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'trailer']);

/** What the router reads from the worker's current config (the Runtime the request started with). */
export interface RouterContext {
  readonly clusters: ClusterLookup;
  readonly services: OutlierReporting & { readonly tls?: TlsStore };
}

/** The connection manager's settings the router follows (upgrades, tunnel idle timeout). */
export interface RouterConfig {
  readonly hcm: Pick<HttpConnectionManager, 'upgradeTypes' | 'idleTimeoutMs'>;
  readonly streamTimeouts?: { readonly idleMs: number };
}

/**
 * Envoy's router filter, the last filter of every HTTP connection manager, one per request: route
 * actions (redirect, direct response, route), the cluster, path and host rewrites, header
 * mutations, upgrades, the route timeout, mirrors, the hash key, host choice (ORIGINAL_DST, retry
 * host predicates, other priorities), retries, and one UpstreamAttempt per try. It writes the
 * response through the stream's RouterCallbacks.
 */
export class Router implements HttpFilter, AttemptCallbacks {
  private cluster: ClusterRuntime | undefined;
  /** :path as sent upstream (after a route's rewrite); '' until the request is routed. */
  upstreamPath = '';
  private retry: RetryPolicyRuntime | undefined;
  private retriesLeft = 0;
  private retried = 0;
  /** This request holds one of the cluster's max_retries. */
  private retryHeld = false;
  private hash: number | undefined;
  /** A generated hash cookie, set on the response. */
  private setCookie: string | undefined;
  /** Tries so far (x-envoy-attempt-count). */
  private tries = 0;
  private tried: UpstreamHost[] | undefined;
  private replay: ReplayableBody | undefined;
  private attempt: UpstreamAttempt | undefined;
  private routeTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** An upgrade the route allows: the request goes through a tunnel, not a pool. */
  private upgrading = false;
  private destroyed = false;
  /** The try in flight's client span (spawn_upstream_span). */
  private attemptTrace: AttemptTrace | undefined;

  constructor(
    private readonly stream: RouterCallbacks,
    private readonly context: RouterContext,
    private readonly config: RouterConfig,
  ) {}

  /** The terminal decoder filter: the request is answered here (it never continues). */
  decodeHeaders(): FilterHeadersStatus {
    const route = this.stream.route;
    if (!route) {
      this.localReply('route_not_found');
      return FilterStatus.StopIteration;
    }
    const action = route.action;
    if (action.kind === 'redirect') this.redirect(action);
    else if (action.kind === 'direct_response') this.stream.sendLocalReply(action.status, action.body ?? '');
    else this.routeRequest(route, action);
    return FilterStatus.StopIteration;
  }

  /** The client can take more of the response. */
  onDownstreamDrain(): void {
    this.attempt?.resume();
  }

  /** The stream is over: the try in flight is stopped, timers cleared, the retry budget returned. */
  onDestroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.attempt) {
      this.attempt.cancel();
      this.attempt = undefined;
    }
    this.endAttemptTrace();
    if (this.routeTimer) clearTimeout(this.routeTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.retryHeld) this.cluster!.limits!.add(Resource.Retries, -1);
  }

  // ------------------------------------------------------------------ routing

  private routeRequest(route: CompiledRoute, action: RouteAction): void {
    const stream = this.stream;
    const wc = stream.weightedCluster!;
    const cluster = this.context.clusters.get(wc.name);
    if (!cluster) return this.localReply('cluster_not_found');
    const req = stream.request;
    const headers = req.list;
    let path = req.path;
    if (route.rewritePath) {
      path = route.rewritePath(path);
      headers.push('x-envoy-original-path', req.path);
    }
    if (action.hostRewrite !== undefined) {
      setInList(headers, 'host', action.hostRewrite);
    }
    // Envoy order: the weighted cluster's edits, then the route's (the less specific one wins)
    if (wc.requestHeaders) mutateHeaderList(headers, wc.requestHeaders);
    if (route.requestHeaders) mutateHeaderList(headers, route.requestHeaders);
    this.cluster = cluster;
    this.upstreamPath = path;
    // Envoy's upgrade_configs: the route's say, else the connection manager's; a type nobody
    // enabled is refused with 403 (upgrade_failed)
    const upgrade = stream.requestedUpgrade;
    if (upgrade) {
      const allowed = action.upgrades?.[upgrade] ?? (this.config.hcm.upgradeTypes ?? DEFAULT_UPGRADES).includes(upgrade);
      if (!allowed || !stream.downstream.upgrade) return this.localReply('upgrade_failed');
      this.upgrading = true;
      stream.disarmIdleTimeout();
    }
    // an upgrade is not retried, and route timeouts do not cut a tunnel (Envoy)
    this.retry = this.upgrading ? undefined : route.retry;
    this.retriesLeft = route.retry?.numRetries ?? 0;
    const timeoutMs = this.upgrading ? 0 : effectiveTimeout(route.timeoutMs, isGrpcRequest(stream.downstream.headers) ? getFromList(stream.downstream.headers, 'grpc-timeout') : undefined);
    const body = stream.requestBody;
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

  private redirect(action: RedirectAction): void {
    const { authority, path } = this.stream.request;
    this.stream.sendLocalReply(action.responseCode, '', undefined, ['location', redirectLocation(action, authority, path)]);
  }

  /**
   * The consistent-hash key of this request (Envoy hash_policy); undefined → a random host. A cookie
   * policy with a ttl and no cookie yet makes one up and sets it on the response, as Envoy does.
   */
  private hashOf(p: HashPolicy): number | undefined {
    const stream = this.stream;
    let key = requestHashKey(p, stream.downstream.headers, stream.streamInfo.downstreamRemoteAddress, stream.requestView);
    if (key === undefined && 'cookie' in p && p.cookie.ttlMs) {
      key = newCookieKey();
      this.setCookie = generatedCookie(p.cookie, key);
    }
    return key === undefined ? undefined : hash32(key);
  }

  private chooseMirrors(policies: { cluster: string; percent: number }[]): ClusterRuntime[] | undefined {
    const out: ClusterRuntime[] = [];
    for (const m of policies) {
      if (m.percent < 100 && Math.random() * 100 >= m.percent) continue;
      const c = this.context.clusters.get(m.cluster);
      if (c) out.push(c);
    }
    return out.length ? out : undefined;
  }

  /** Fire-and-forget copies; with a body, sent once it has fully arrived (and only if it fit the buffer). */
  private mirror(clusters: ClusterRuntime[], path: string): void {
    const headers = [...this.stream.request.list];
    const method = this.stream.request.method;
    const replay = this.replay;
    if (!this.stream.requestBody || !replay) {
      for (const c of clusters) sendMirror(c, method, path, headers, null);
      return;
    }
    replay.whenComplete(() => {
      const copy = replay.copy();
      if (!copy) return;
      for (const c of clusters) sendMirror(c, method, path, headers, new BufferedBody(copy.chunks, copy.length));
    });
  }

  // ------------------------------------------------------------------ attempts

  /** One try: pick a host (avoiding tried ones when the policy says so) and send the request. */
  private startAttempt(): void {
    this.retryTimer = undefined;
    if (this.destroyed) return;
    if (this.tries > 0 && this.replay && !this.replay.replayable) {
      // the body grew past the buffer while the retry waited: it cannot be sent again whole
      return this.localReply('request_body_overflow');
    }
    const cluster = this.cluster!;
    const host = this.pickHost(cluster);
    if (!host) return this.localReply('no_healthy_upstream');
    const stream = this.stream;
    const headers = stream.request.list;
    this.tries++;
    if (this.tries > 1) headers[headers.length - 1] = String(this.tries);
    stream.streamInfo.upstreamHost = host.label;
    // spawn_upstream_span: this try's span is the upstream's parent
    if (stream.trace?.spawnsAttemptSpans) this.attemptTrace = stream.trace.startAttempt(cluster.name, headers);
    const attempt = new UpstreamAttempt(this, host, cluster, this.context.services);
    this.attempt = attempt;
    if (this.upgrading) return this.openTunnel(attempt, host, cluster);
    const ds = stream.downstream;
    const body = this.replay ? this.replay.forAttempt() : stream.requestBody;
    attempt.send(ds.protocol, { method: ds.method, path: this.upstreamPath, headers, body });
    const perTry = this.retry?.perTryTimeoutMs;
    if (perTry) {
      // Envoy starts a try's timer once the whole request has been sent
      const arm = () => attempt.armPerTryTimeout(perTry);
      if (this.replay && !this.replay.complete) this.replay.whenComplete(arm);
      else queueMicrotask(arm);
    }
  }

  private pickHost(cluster: ClusterRuntime): UpstreamHost | undefined {
    const dest = cluster.config.type === 'ORIGINAL_DST' ? this.originalDestination() : undefined;
    let host = cluster.pick(dest, this.hash);
    if (this.tries > 0 && this.retry?.retryOtherPriorities && this.tried) {
      // retryRemoteLocalities: go to a locality (priority) not tried yet, when one has hosts
      const other = cluster.pickOtherPriority(new Set(this.tried.map((h) => h.endpoint.priority ?? 0)), this.hash);
      if (other) host = other;
    }
    if (this.tries === 0 || !host || !this.retry?.retryPreviousHosts) {
      if (host) (this.tried ??= []).push(host);
      return host;
    }
    // retry_host_predicate previous_hosts: a few more picks to find a host not tried yet
    // (a hash-based pick would return the same host: retries there re-pick at random)
    for (let i = 0; i < this.retry.hostSelectionAttempts && this.tried!.includes(host!); i++) host = cluster.pick(dest);
    if (host) this.tried!.push(host);
    return host;
  }

  /** Where an ORIGINAL_DST cluster connects: where the client was going (captured), else the authority it asked for (an explicit proxy). */
  private originalDestination(): { address: string; port: number } | undefined {
    return this.stream.downstream.originalDestination ?? authorityAddress(this.stream.request.authority);
  }

  /** The upgrade request on its own upstream connection; a 101 makes it a tunnel until either side closes. */
  private openTunnel(attempt: UpstreamAttempt, host: UpstreamHost, cluster: ClusterRuntime): void {
    const ds = this.stream.downstream as RouterCallbacks['downstream'] & Required<Pick<RouterCallbacks['downstream'], 'upgrade'>>;
    const method = ds.connectProtocol ? 'GET' : ds.method;
    let head = `${method} ${this.upstreamPath} HTTP/1.1\r\n`;
    const h = this.stream.request.list;
    for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`;
    head += `connection: upgrade\r\nupgrade: ${this.stream.requestedUpgrade}\r\n\r\n`;
    const { address, port } = host.endpoint;
    const source = upstreamSourceFor(cluster.config, address);
    const tls = this.context.services.tls?.clientOptions(cluster.config, host.endpoint, 'http');
    // Envoy keeps the stream idle timeout on a tunnel (bytes either way); without one, the connection idle timeout
    const idleTimeoutMs = this.config.streamTimeouts?.idleMs || this.config.hcm.idleTimeoutMs;
    const opts = { address, port, connectTimeoutMs: cluster.config.connectTimeoutMs, idleTimeoutMs, source, ...(tls ? { tls } : {}) };
    attempt.openTunnel(ds, head, opts);
  }

  /** Can the request be sent again? Not when its body outgrew the replay buffer, nor past max_retries. */
  private canRetry(): boolean {
    if (this.retriesLeft <= 0 || (this.replay && !this.replay.replayable)) return false;
    const limits = this.cluster!.limits;
    if (limits && !this.retryHeld) {
      // max_retries: retries outstanding for the whole cluster, across workers
      if (!limits.tryRetry()) {
        // Envoy returns what it has and flags the overflow (UO)
        this.cluster!.stats.upstreamRqRetryOverflow++;
        addResponseFlag(this.stream.streamInfo, ResponseFlag.UpstreamOverflow);
        return false;
      }
      this.retryHeld = true;
    }
    return true;
  }

  /** Retries if the policy and the budget allow; flags URX when the retries are used up. */
  private retryIfAllowed(retriable: boolean): boolean {
    if (!retriable) return false;
    if (this.canRetry()) {
      this.scheduleRetry();
      return true;
    }
    if (this.retriesLeft === 0) addResponseFlag(this.stream.streamInfo, ResponseFlag.UpstreamRetryLimitExceeded);
    return false;
  }

  private scheduleRetry(): void {
    this.retriesLeft--;
    this.retried++;
    this.cluster!.stats.upstreamRqRetry++;
    this.retryTimer = setTimeout(() => this.startAttempt(), this.retry!.backoffMs(this.retried));
  }

  /** Gives up on the try in flight (its connection is closed; the request may go on). */
  private abandonAttempt(): void {
    this.attempt?.abandon();
    this.attempt = undefined;
    this.endAttemptTrace();
  }

  /** The try's span ends with the try (answered, failed, abandoned, or the stream over). */
  private endAttemptTrace(): void {
    const t = this.attemptTrace;
    if (!t) return;
    this.attemptTrace = undefined;
    const c = this.cluster!.config;
    const protocol = c.useClientProtocol ? this.stream.downstream.protocol : c.http2 ? 'HTTP/2' : 'HTTP/1.1';
    t.end(protocol, this.stream.streamInfo.upstreamHost ?? '', formatResponseFlags(this.stream.streamInfo.responseFlags));
  }

  // ------------------------------------------------------------------ timeouts

  private armRouteTimeout(ms: number): void {
    if (this.destroyed || this.routeTimer) return;
    this.routeTimer = setTimeout(() => this.onRouteTimeout(), ms);
  }

  /** The route timeout ends the request: 504 "upstream request timeout" (flag UT), no more retries. */
  private onRouteTimeout(): void {
    this.routeTimer = undefined;
    if (this.destroyed) return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.cluster!.stats.upstreamRqTimeout++;
    this.abandonAttempt();
    this.timedOut('route_timeout');
  }

  onAttemptPerTryTimeout(): void {
    this.abandonAttempt();
    if (!this.stream.downstream.headersSent && this.retryIfAllowed(this.retry!.retriableFailure('per_try_timeout'))) return;
    this.timedOut('per_try_timeout');
  }

  private timedOut(cause: 'route_timeout' | 'per_try_timeout'): void {
    if (this.stream.downstream.headersSent) {
      addResponseFlag(this.stream.streamInfo, ResponseFlag.UpstreamRequestTimeout);
      this.stream.resetStream();
      return;
    }
    this.localReply(cause);
  }

  // ------------------------------------------------------------------ the try's response

  onAttemptHeaders(status: number, upstream: string[]): void {
    const attempt = this.attempt!;
    this.attemptTrace?.onHeaders(status);
    if (this.retry?.retriableResponse(status, upstream)) {
      if (this.canRetry()) {
        this.abandonAttempt();
        this.scheduleRetry();
        return;
      }
      if (this.retriesLeft === 0) addResponseFlag(this.stream.streamInfo, ResponseFlag.UpstreamRetryLimitExceeded);
    }
    // only the response that is forwarded counts as upstream_rq_<code> (as Envoy counts)
    attempt.host.clusterStats.response(status);
    // the list is the router's (UpstreamHandler): filtered in place, no copy per response
    const headers = upstream;
    let kept = 0;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      // the upstream's own service time (another sidecar's) is replaced by this proxy's, as Envoy sets it
      if (DROP_RESPONSE.has(name) || name === 'x-envoy-upstream-service-time') continue;
      if (kept !== i) {
        headers[kept] = name;
        headers[kept + 1] = headers[i + 1];
      }
      kept += 2;
    }
    headers.length = kept;
    const serviceTime = Date.now() - attempt.startMs;
    this.stream.streamInfo.upstreamServiceTimeMs = serviceTime;
    headers.push('x-envoy-upstream-service-time', String(serviceTime));
    if (this.setCookie) headers.push('set-cookie', this.setCookie);
    const wc = this.stream.weightedCluster;
    if (wc?.responseHeaders) mutateHeaderList(headers, wc.responseHeaders);
    const route = this.stream.route;
    if (route?.responseHeaders) mutateHeaderList(headers, route.responseHeaders);
    this.stream.encodeHeaders(status, headers);
  }

  onAttemptData(chunk: Buffer): boolean {
    return this.stream.encodeData(chunk);
  }

  onAttemptEnd(trailers: string[] | undefined): void {
    this.attempt = undefined;
    this.endAttemptTrace();
    this.replay?.detach();
    this.stream.encodeEnd(trailers);
  }

  onAttemptError(err: UpstreamError): void {
    this.attempt = undefined;
    this.endAttemptTrace();
    const stream = this.stream;
    const cause = causeOf(err);
    if (cause === undefined) {
      // the client's body broke: the codec answers it itself (400, or a reset once the response started)
      addResponseFlag(stream.streamInfo, ResponseFlag.DownstreamProtocolError);
      stream.streamInfo.responseCode ??= 400;
      stream.endStream();
      return;
    }
    if (cause === 'request_body_overflow') return this.localReply(cause);
    if (stream.downstream.headersSent) {
      // mid-response failure: never a clean end — the HTTP/1.1 connection closes short, the HTTP/2
      // stream is reset; flagged by the upstream's reset reason, as Envoy's router does
      const late = lateReset(cause);
      addResponseFlag(stream.streamInfo, late.flag);
      stream.streamInfo.responseCodeDetails = late.details;
      stream.resetStream();
      return;
    }
    if (cause === 'overflow') {
      this.cluster!.stats.upstreamRqPendingOverflow++;
      return this.localReply(cause);
    }
    // an HTTP/2 upstream that refused the stream (REFUSED_STREAM, or past a GOAWAY) never processed it
    const failure: AttemptFailure =
      cause === 'connection_failure' || cause === 'connection_timeout' ? 'connect_failure' : err.code === 'REFUSED_STREAM' ? 'refused_stream' : 'reset';
    if (this.retry && this.retryIfAllowed(this.retry.retriableFailure(failure))) return;
    this.localReply(cause, err);
  }

  onTunnelEnd(r: TunnelResult): void {
    const attempt = this.attempt!;
    this.attempt = undefined;
    this.attemptTrace?.onHeaders(r.status ?? 0);
    this.endAttemptTrace();
    const stream = this.stream;
    if (r.status === undefined) {
      // the upgrade never got an answer: a local reply, as for any request that failed before headers
      return this.localReply(r.failure === 'connect_timeout' ? 'connection_timeout' : r.failure === 'connect_failure' ? 'connection_failure' : 'connection_termination');
    }
    stream.streamInfo.responseCode = r.status;
    stream.streamInfo.upstreamServiceTimeMs = Date.now() - attempt.startMs;
    stream.endStream();
  }

  /** Answers the request itself, as the one table says for this cause. */
  private localReply(cause: LocalCause, err?: UpstreamError): void {
    const r = LOCAL_REPLIES[cause];
    if (r.details !== undefined) this.stream.streamInfo.responseCodeDetails = r.details;
    this.stream.sendLocalReply(r.status, localReplyBody(cause, err), r.flag, undefined, r.grpcStatus);
  }
}

/** The Location of a redirect: scheme, host (port kept or replaced), path (query kept unless the new path has one). */
export function redirectLocation(action: RedirectAction, authority: string, requestPath: string): string {
  const scheme = action.scheme ?? 'http';
  let host = action.host ?? authority;
  const reqPort = /:(\d+)$/.exec(authority)?.[1];
  if (action.port !== undefined || action.portFromRequest || action.scheme) {
    host = host.replace(/:\d+$/, '');
    const port = action.port ?? (action.portFromRequest && reqPort ? Number(reqPort) : undefined);
    const defaultPort = scheme === 'https' ? 443 : 80;
    if (port !== undefined && port !== defaultPort) host = `${host}:${port}`;
  }
  let path = requestPath;
  if (action.path !== undefined) {
    const q = requestPath.indexOf('?');
    path = action.path.includes('?') || q < 0 ? action.path : action.path + requestPath.slice(q);
  }
  return `${scheme}://${host}${path}`;
}

/** `host[:port]` (port 80 when absent) as an address, for ORIGINAL_DST without traffic capture. */
export function authorityAddress(authority: string): { address: string; port: number } | undefined {
  if (!authority) return undefined;
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(authority);
  if (!m) return undefined;
  return { address: m[1].replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 80 };
}
