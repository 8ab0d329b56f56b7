import type { Downstream, DownstreamEvents } from '../codec/downstream.js';
import type { BodySource } from '../codec/body.js';
import type { WeightedCluster } from '../config/snapshot.js';
import { RequestView } from '../router/request-view.js';
import { RouteTable, type CompiledRoute } from '../router/route-table.js';
import { getFromList } from '../router/headers.js';
import { Router } from '../router/router.js';
import { LOCAL_REPLIES } from '../router/upstream-errors.js';
import type { HttpPipeline, Runtime } from '../worker/runtime.js';
import type { FilterStatus, HttpFilter, RouterCallbacks, StreamInfo } from './filter.js';
import { RequestHeaderMap, ResponseHeaderMap } from './header-map.js';
import { httpToGrpcStatus, isGrpcRequest, writeGrpcLocalReply, writeLocalReply } from './local-reply.js';
import { addResponseFlag, ResponseFlag, type ResponseFlagValue } from './response-flags.js';
import { absoluteFormTarget, prepareRequestHeaders } from './proxy-headers.js';
import { streamTimeouts, type StreamTimeoutKind, type StreamWatch, type TimedStream } from './stream-timeouts.js';
import { recordHttpRequest, type FinishedRequest } from '../telemetry/request-telemetry.js';

const DEADLINE_EXCEEDED = 4;

/**
 * One request through the HTTP connection manager (Envoy's ConnectionManagerImpl::ActiveStream):
 * the downstream's events, the request headers prepared for the upstream, the route, the HTTP
 * filters and last the router (the terminal filter, which it drives through RouterCallbacks), local
 * replies, the response toward the client, the stream timeouts, and the request's telemetry once
 * it is over.
 */
export class ActiveStream implements RouterCallbacks, DownstreamEvents, TimedStream, FinishedRequest {
  readonly streamInfo: StreamInfo;
  route: CompiledRoute | undefined;
  /** The request as it goes upstream; filters and the router edit it. */
  readonly request: RequestHeaderMap;
  weightedCluster: WeightedCluster | undefined;
  requestView!: RequestView;
  requestId: string | undefined;
  requestedUpgrade: string | undefined;
  /** The downstream remote address is the trusted client address found in x-forwarded-for. */
  clientFromXff = false;
  /** grpc-status of a gRPC response (trailers, or the headers of a trailers-only response), for the metric label. */
  grpcStatus: string | undefined;
  /** The configured filters, in chain order (absent when the listener has none). */
  private filters: HttpFilter[] | undefined;
  private router: Router | undefined;
  /** The response is decided (sent, being sent, or abandoned): nothing else may answer. */
  private done = false;
  private completed = false;
  /** This stream on the worker's timeout sweeper (stream_idle_timeout, request_timeout, max_stream_duration). */
  private timeoutWatch: StreamWatch | undefined;
  private meta: Record<string, unknown> | undefined;
  private bodyOverride: BodySource | undefined;

  constructor(
    private readonly listener: HttpPipeline,
    private readonly runtime: Runtime,
    private readonly ds: Downstream,
  ) {
    this.request = new RequestHeaderMap(ds.method, ds.target, '', []);
    this.streamInfo = {
      startTimeMs: Date.now(),
      responseFlags: [],
      downstreamRemoteAddress: ds.remoteAddress,
    };
  }

  // ------------------------------------------------------------------ what filters see

  /** The connection, as filters see it: addresses, original destination, mTLS peer. */
  get connection(): Downstream {
    return this.ds;
  }

  get downstream(): Downstream {
    return this.ds;
  }

  /** The request body as the router will send it: the client's, unless a filter read it ahead. */
  get requestBody(): BodySource | null {
    return this.bodyOverride ?? this.ds.body;
  }

  setRequestBody(body: BodySource): void {
    this.bodyOverride = body;
  }

  get requestHeaderList(): string[] {
    return this.request.list;
  }

  get metadata(): Record<string, unknown> {
    return (this.meta ??= {});
  }

  get path(): string {
    return this.request.path;
  }

  get authority(): string {
    return this.request.authority;
  }

  // ------------------------------------------------------------------ request

  start(): void {
    const hs = this.listener.stats;
    hs.downstreamRqTotal++;
    hs.downstreamRqActive++;
    if (this.ds.protocol === 'HTTP/2') hs.downstreamRqHttp2Total++;
    else hs.downstreamRqHttp1Total++;
    if (this.runtime.services.overload?.stopAcceptingRequests) {
      // Envoy's stop_accepting_requests: refused before routing and before any filter is created
      hs.downstreamRqOverloadClose++;
      this.localReply('overload');
      return;
    }
    const timeouts = this.listener.streamTimeouts;
    if (timeouts) this.timeoutWatch = streamTimeouts.watch(this, timeouts, this.streamInfo.startTimeMs);
    const req = this.request;
    const prepared = prepareRequestHeaders(this.ds, this.listener.hcm, this.runtime.services.tls?.workloadIdentity, req.list);
    req.authority = prepared.authority;
    this.requestId = prepared.requestId;
    this.requestedUpgrade = prepared.upgrade;
    if (prepared.clientAddress !== undefined) {
      this.streamInfo.downstreamRemoteAddress = prepared.clientAddress;
      this.clientFromXff = true;
    }
    if (req.path.charCodeAt(0) !== 47 /* '/' */) {
      // `GET http://host/path` (a client using the proxy explicitly): the URL names authority and path
      const absolute = absoluteFormTarget(req.path);
      if (!absolute) {
        this.sendLocalReply(400, 'Bad Request', ResponseFlag.DownstreamProtocolError);
        return;
      }
      req.authority = absolute.authority;
      req.path = absolute.path;
      req.set('host', absolute.host);
    }
    // the path authorization, routing and the upstream all see (Istio's pathNormalization)
    const normalize = this.listener.normalizePath;
    if (normalize) {
      const p = normalize(req.path);
      if (typeof p !== 'string') {
        this.sendLocalReply(p.status, p.status === 404 ? '' : 'Bad Request');
        return;
      }
      req.path = p;
    }
    const view = (this.requestView = new RequestView(this.ds.method, req.path, req.authority, this.ds.scheme, this.ds.headers));
    const vh = this.listener.routes.findVirtualHost(req.authority);
    this.route = vh && RouteTable.findRoute(vh, view);
    if (!this.route) {
      this.localReply('route_not_found');
      return;
    }
    this.streamInfo.routeName = this.route.name;
    if (this.route.action.kind === 'route') {
      // Envoy picks the weighted cluster when it resolves the route, before the filters run
      this.weightedCluster = this.route.pickCluster();
      this.streamInfo.upstreamCluster = this.weightedCluster.name;
    }
    const factories = this.listener.filters;
    if (factories.length) this.filters = factories.map((create) => create(this));
    this.router = new Router(this, this.runtime, this.listener);
    void this.decodeHeaders(0);
  }

  /**
   * The request headers through the filters in chain order, then the router (the terminal filter).
   * A filter's 'stop' ends the iteration (it answered locally); a Promise waits for its decision.
   */
  private decodeHeaders(from: number): Promise<void> | undefined {
    const filters = this.filters;
    if (filters) {
      try {
        for (let i = from; i < filters.length; i++) {
          const hook = filters[i].onRequestHeaders;
          if (!hook) continue;
          const status = hook.call(filters[i], this.request, this);
          if (typeof status !== 'string') return this.resumeAfter(status, i);
          if (status === 'stop' || this.done) return undefined;
        }
      } catch {
        this.sendLocalReply(500, 'filter error');
        return undefined;
      }
    }
    this.router!.onRequestHeaders();
    return undefined;
  }

  /** A filter is deciding asynchronously: iteration goes on with the next filter once it said 'continue'. */
  private async resumeAfter(pending: Promise<FilterStatus>, index: number): Promise<void> {
    let status: FilterStatus;
    try {
      status = await pending;
    } catch {
      this.sendLocalReply(500, 'filter error');
      return;
    }
    if (status === 'stop' || this.done) return;
    this.decodeHeaders(index + 1);
  }

  // ------------------------------------------------------------------ response (RouterCallbacks)

  encodeHeaders(status: number, headers: string[]): void {
    const grpc = getFromList(headers, 'grpc-status');
    if (grpc !== undefined) this.grpcStatus = grpc;
    const filters = this.filters;
    if (filters) {
      const view = new ResponseHeaderMap(status, headers);
      for (let i = filters.length - 1; i >= 0; i--) filters[i].onResponseHeaders?.(view, this);
    }
    this.streamInfo.responseCode = status;
    this.ds.respond(status, headers);
  }

  encodeData(chunk: Buffer): boolean {
    return this.ds.write(chunk);
  }

  encodeEnd(trailers: string[] | undefined): void {
    this.done = true;
    if (trailers) {
      const status = getFromList(trailers, 'grpc-status');
      if (status !== undefined) this.grpcStatus = status;
    }
    this.ds.end(trailers);
    this.complete();
  }

  /** The response started and cannot be finished: the client's stream is reset (downstream_rq_tx_reset). */
  resetStream(): void {
    this.done = true;
    this.router?.onDestroy();
    this.listener.stats.downstreamRqTxReset++;
    this.ds.reset();
    this.complete();
  }

  endStream(): void {
    this.done = true;
    this.complete();
  }

  disarmIdleTimeout(): void {
    if (this.timeoutWatch) this.timeoutWatch.idleArmed = false;
  }

  // ------------------------------------------------------------------ local replies

  sendLocalReply(status: number, body: string, flag?: ResponseFlagValue, headers?: string[], grpcStatus?: number): void {
    if (flag) addResponseFlag(this.streamInfo, flag);
    if (this.done) return;
    this.done = true;
    this.router?.onDestroy();
    this.requestBody?.detach();
    if (isGrpcRequest(this.ds.headers) && !(headers && headers.includes('grpc-status'))) {
      // gRPC clients get a gRPC status: a timeout is DEADLINE_EXCEEDED, the rest as Envoy maps HTTP codes
      const code = grpcStatus ?? httpToGrpcStatus(status);
      this.grpcStatus = String(code);
      this.streamInfo.responseCode = 200;
      writeGrpcLocalReply(this.ds, code, body, headers);
    } else {
      if (headers) {
        const i = headers.indexOf('grpc-status');
        if (i >= 0 && i % 2 === 0) this.grpcStatus = headers[i + 1];
      }
      this.streamInfo.responseCode = status;
      writeLocalReply(this.ds, status, body, headers);
    }
    this.complete();
  }

  /** The connection manager's own answers (overload, no route), from the router's table. */
  private localReply(cause: 'overload' | 'route_not_found'): void {
    const r = LOCAL_REPLIES[cause];
    if (r.details !== undefined) this.streamInfo.responseCodeDetails = r.details;
    this.sendLocalReply(r.status, r.body, r.flag, undefined, r.grpcStatus);
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
    const info = this.streamInfo;
    let body: string;
    let grpcStatus: number | undefined;
    switch (kind) {
      case 'idle':
        hs.downstreamRqIdleTimeout++;
        addResponseFlag(info, ResponseFlag.StreamIdleTimeout);
        info.responseCodeDetails = 'stream_idle_timeout';
        body = 'stream timeout';
        break;
      case 'request':
        hs.downstreamRqTimeout++;
        info.responseCodeDetails = 'request_overall_timeout';
        body = 'request timeout';
        break;
      case 'max_duration':
        hs.downstreamRqMaxDurationReached++;
        info.responseCodeDetails = 'max_duration_timeout';
        grpcStatus = DEADLINE_EXCEEDED;
        body = 'downstream duration timeout';
        break;
    }
    if (this.ds.headersSent) {
      this.resetStream();
      return;
    }
    this.sendLocalReply(this.ds.requestComplete ? 504 : 408, body, undefined, undefined, grpcStatus);
  }

  // ------------------------------------------------------------------ downstream events

  onDownstreamDrain(): void {
    this.router?.onDownstreamDrain();
  }

  /** The client went away: stop the upstream request (flag DC) unless the response already completed. */
  onDownstreamClose(): void {
    if (this.filters) for (const f of this.filters) f.onDestroy?.();
    if (!this.done) addResponseFlag(this.streamInfo, ResponseFlag.DownstreamConnectionTermination);
    this.done = true;
    this.complete();
  }

  // ------------------------------------------------------------------ completion

  /** Once per request, when it is over: the router stopped, HCM stats, Istio metrics, access log. */
  private complete(): void {
    if (this.completed) return;
    this.completed = true;
    this.router?.onDestroy();
    if (this.timeoutWatch) streamTimeouts.unwatch(this.timeoutWatch);
    const code = this.streamInfo.responseCode ?? 0;
    const hs = this.listener.stats;
    hs.downstreamRqActive--;
    hs.rqClass[(code / 100) | 0]++;
    const services = this.runtime.services;
    const labels = this.runtime.istioLabels(this.listener.config, this.clusterIfKnown(), 'http', this.ds.peer?.spiffeId);
    recordHttpRequest(services.stats, services.accessLog, labels, this.ds, this.streamInfo, this);
  }

  /** The cluster for metrics when the request never reached a host (e.g. UH): only a known one. */
  private clusterIfKnown(): string | undefined {
    const name = this.streamInfo.upstreamCluster;
    return name && this.runtime.clusters.has(name) ? name : undefined;
  }
}
