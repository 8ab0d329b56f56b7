import type { TraceStatus } from '../tracing/decision.js';
import { HttpLogContext } from '../telemetry/access-log/http-context.js';
import type { Downstream, DownstreamEvents } from '../codec/downstream.js';
import type { BodySource } from '../codec/body.js';
import type { WeightedCluster } from '../config/snapshot.js';
import { RequestView } from '../router/request-view.js';
import { RouteTable, type CompiledRoute } from '../router/route-table.js';
import { getFromList, removeFromList, setInList } from '../router/headers.js';
import type { HttpTracer, RequestTrace } from '../tracing/http-tracer.js';
import { Router } from '../router/router.js';
import { LOCAL_REPLIES } from '../router/upstream-errors.js';
import type { HttpPipeline, Runtime } from '../worker/runtime.js';
import type { RouterCallbacks, StreamInfo } from './filter.js';
import { FilterManager, type DirectionSink, type FilterManagerHost } from './filter-manager.js';
import { FilteredRequestBody } from './filtered-body.js';
import { RequestHeaderMap, ResponseHeaderMap } from './header-map.js';
import { grpcLocalReplyHeaders, httpToGrpcStatus, isGrpcRequest, localReplyHeaders, writeGrpcLocalReply, writeLocalReply } from './local-reply.js';
import { addResponseFlag, formatResponseFlags, ResponseFlag, type ResponseFlagValue } from './response-flags.js';
import { absoluteFormTarget, prepareRequestHeaders } from './proxy-headers.js';
import { streamTimeouts, type StreamTimeoutKind, type StreamWatch, type TimedStream } from './stream-timeouts.js';
import { recordHttpRequest, type FinishedRequest } from '../telemetry/request-telemetry.js';

const DEADLINE_EXCEEDED = 4;
const EMPTY = Buffer.alloc(0);

/**
 * One request through the HTTP connection manager (Envoy's ConnectionManagerImpl::ActiveStream):
 * the downstream's events, the request headers prepared for the upstream, the route, the HTTP
 * filters and last the router (the terminal filter, which it drives through RouterCallbacks), local
 * replies, the response toward the client, the stream timeouts, and the request's telemetry once
 * it is over.
 */
export class ActiveStream implements RouterCallbacks, FilterManagerHost, DownstreamEvents, TimedStream, FinishedRequest {
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
  /** The request's trace (a provider configured): its context goes upstream, its span (if sampled) ends with the request. */
  trace: RequestTrace | undefined;
  /** The tracing decision (the connection manager's tracing configured): access logs' traceable filter reads it. */
  traceStatus: TraceStatus | undefined;
  /** The response headers and trailers as the client got them (access logs read them). */
  sentHeaders: string[] | undefined;
  sentTrailers: string[] | undefined;
  /** The configured filters' manager (absent when the listener has none: the router is driven directly). */
  private filters: FilterManager | undefined;
  /** The request body through the decoder filters, when one of them reads bodies or trailers. */
  private filteredBody: FilteredRequestBody | undefined;
  private router: Router | undefined;
  /** The response is decided (sent, being sent, or abandoned): nothing else may answer. */
  private done = false;
  private completed = false;
  /** This stream on the worker's timeout sweeper (stream_idle_timeout, request_timeout, max_stream_duration). */
  private timeoutWatch: StreamWatch | undefined;
  private meta: Record<string, unknown> | undefined;
  /** The response headers going through the encoder filters. */
  private responseHeaders: ResponseHeaderMap | undefined;
  private decodedSink: DirectionSink | undefined;
  private encodedSink: DirectionSink | undefined;

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

  /** The request body as the router will send it: the client's, through the decoder filters that read bodies. */
  get requestBody(): BodySource | null {
    return this.filteredBody ?? this.ds.body;
  }

  /** The stream is over: a filter's late continue changes nothing. */
  get ended(): boolean {
    return this.completed;
  }

  get requestHeaderList(): string[] {
    return this.request.list;
  }

  /** The headers as received, and as they go upstream: what the tracing decision reads and marks. */
  get downstreamHeaders(): readonly string[] {
    return this.ds.headers;
  }

  get upstreamHeaders(): string[] {
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

  /** :path as sent upstream (a route may have rewritten it). */
  get upstreamPath(): string {
    return this.router?.upstreamPath || this.request.path;
  }

  get traceId(): string | undefined {
    return this.trace?.context.traceId;
  }

  get traced(): boolean {
    return this.trace?.sampled === true;
  }

  /** Tracing was forced for this request (x-envoy-force-trace): Envoy's traceable access-log filter. */
  get traceForced(): boolean {
    return this.traceStatus === 'forced';
  }

  /** Envoy's filter state, for access logs: no filter sets any yet (Istio's peer metadata exchange is not done). */
  filterState(_name: string): unknown {
    return undefined;
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
    // no route: the router, the terminal filter, answers 404 NR once the filters have run (Envoy)
    if (this.route) this.streamInfo.routeName = this.route.name;
    const tracer = this.listener.tracer;
    if (tracer) this.startTrace(tracer);
    if (this.route?.action.kind === 'route') {
      // Envoy picks the weighted cluster when it resolves the route, before the filters run
      this.weightedCluster = this.route.pickCluster();
      this.streamInfo.upstreamCluster = this.weightedCluster.name;
    }
    this.router = new Router(this, this.runtime, this.listener);
    const factories = this.listener.filters;
    if (!factories.length) {
      this.router.decodeHeaders();
      return;
    }
    const filters = (this.filters = new FilterManager(this, factories));
    const body = this.ds.body;
    // an upgrade's body is the tunnel's bytes, relayed as they are
    if (body && filters.hasBodyDecoders && !this.requestedUpgrade) this.filteredBody = new FilteredRequestBody(body, filters);
    filters.decodeHeaders(!body);
    if (!this.done) this.filteredBody?.open();
  }

  /**
   * Envoy's traceRequest: the decision (x-request-id carries it on), then with a provider the
   * request's span, named by the route's decorator (an ingress span: by the caller's
   * x-envoy-decorator-operation), its context written into the upstream request unless every
   * attempt gets a span of its own.
   */
  private startTrace(tracer: HttpTracer): void {
    const req = this.request;
    const status = (this.traceStatus = tracer.decide(this));
    const traced = status !== 'none';
    const trace = (this.trace = tracer.startSpan(traced, this.ds.headers, req.authority));
    if (!trace) return;
    const decorator = this.route?.decorator;
    if (decorator) trace.setOperation(decorator.operation);
    if (tracer.egress) {
      // the next hop names its span by it: for a sampled request only (an unsampled one has no span anywhere)
      if (decorator && decorator.propagate !== false && trace.sampled) {
        setInList(req.list, 'x-envoy-decorator-operation', decorator.operation);
      }
    } else {
      const op = getFromList(req.list, 'x-envoy-decorator-operation');
      if (op !== undefined) {
        if (op) trace.setOperation(op);
        removeFromList(req.list, 'x-envoy-decorator-operation'); // not for the application
      }
    }
    if (!trace.spawnsAttemptSpans) trace.inject(req.list);
  }

  /** What passed every decoder filter goes to the router, the terminal filter (made once filters ask: most streams have none). */
  get decoded(): DirectionSink {
    return (this.decodedSink ??= {
      headers: () => {
        this.router!.decodeHeaders();
      },
      data: (chunk, end) => this.filteredBody!.push(chunk, end),
      trailers: (trailers) => this.filteredBody!.pushTrailers(trailers),
    });
  }

  /** What passed every encoder filter goes to the client. */
  get encoded(): DirectionSink {
    return (this.encodedSink ??= {
      headers: (end) => {
        const h = this.responseHeaders!;
        this.streamInfo.responseCode = h.status;
        this.ds.respond(h.status, (this.sentHeaders = h.list));
        if (end) this.finishResponse(undefined);
      },
      data: (chunk, end) => {
        const more = chunk.length ? this.ds.write(chunk) : true;
        if (end) this.finishResponse(undefined);
        return more;
      },
      trailers: (trailers) => this.finishResponse(trailers),
    });
  }

  resumeDecoding(): void {
    this.filteredBody?.resumeSource();
  }

  resumeEncoding(): void {
    this.router?.onDownstreamDrain();
  }

  /** Filters held more than the stream's buffer limit (Envoy's buffer filter answers). */
  bufferOverflow(direction: 'decode' | 'encode'): void {
    if (direction === 'decode') {
      this.streamInfo.responseCodeDetails = 'request_payload_too_large';
      this.sendLocalReply(413, 'Payload Too Large');
      return;
    }
    this.streamInfo.responseCodeDetails = 'response_payload_too_large';
    if (this.ds.headersSent) this.resetStream();
    else this.sendLocalReply(500, 'Internal Server Error');
  }

  // ------------------------------------------------------------------ response (RouterCallbacks)

  encodeHeaders(status: number, headers: string[]): void {
    const grpc = getFromList(headers, 'grpc-status');
    if (grpc !== undefined) this.grpcStatus = grpc;
    this.streamInfo.responseCode = status;
    if (this.filters) {
      this.filters.encodeHeaders((this.responseHeaders = new ResponseHeaderMap(status, headers)), false);
      return;
    }
    this.ds.respond(status, (this.sentHeaders = headers));
  }

  encodeData(chunk: Buffer): boolean {
    return this.filters ? this.filters.encodeData(chunk, false) : this.ds.write(chunk);
  }

  encodeEnd(trailers: string[] | undefined): void {
    if (trailers) {
      const status = getFromList(trailers, 'grpc-status');
      if (status !== undefined) this.grpcStatus = status;
    }
    const filters = this.filters;
    if (!filters) return this.finishResponse(trailers);
    if (trailers?.length) filters.encodeTrailers(trailers);
    else filters.encodeData(EMPTY, true);
  }

  /** The response's last part reached the client: the request is over. */
  private finishResponse(trailers: string[] | undefined): void {
    this.done = true;
    this.sentTrailers = trailers;
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

  /**
   * Envoy's sendLocalReply: the reply goes through the encoder filters unless the response already
   * entered them; an encoder filter answering while a response is encoded abandons the encoder
   * chain and its reply goes straight to the client (no re-entry).
   */
  sendLocalReply(status: number, body: string, flag?: ResponseFlagValue, headers?: string[], grpcStatus?: number): void {
    if (flag) addResponseFlag(this.streamInfo, flag);
    const filters = this.filters;
    if (this.done) {
      // a local reply being encoded, and an encoder filter answers instead
      if (!filters?.encoding || !filters.inEncoderHook || this.completed) return;
      filters.abortEncoding();
      this.writeLocalReply(status, body, headers, grpcStatus, false);
      return;
    }
    this.done = true;
    this.router?.onDestroy();
    filters?.abortDecoding();
    this.requestBody?.detach();
    if (filters?.encodeStarted) filters.abortEncoding();
    this.writeLocalReply(status, body, headers, grpcStatus, !!filters && !filters.encodeStarted);
  }

  private writeLocalReply(status: number, body: string, headers: string[] | undefined, grpcStatus: number | undefined, throughFilters: boolean): void {
    const grpc = isGrpcRequest(this.ds.headers) && !(headers && headers.includes('grpc-status'));
    let code: number | undefined;
    if (grpc) {
      // gRPC clients get a gRPC status: a timeout is DEADLINE_EXCEEDED, the rest as Envoy maps HTTP codes
      code = grpcStatus ?? httpToGrpcStatus(status);
      this.grpcStatus = String(code);
      this.streamInfo.responseCode = 200;
    } else {
      if (headers) {
        const i = headers.indexOf('grpc-status');
        if (i >= 0 && i % 2 === 0) this.grpcStatus = headers[i + 1];
      }
      this.streamInfo.responseCode = status;
    }
    if (!throughFilters || this.ds.headersSent) {
      const sent = code !== undefined ? writeGrpcLocalReply(this.ds, code, body, headers) : writeLocalReply(this.ds, status, body, headers);
      if (sent) this.sentHeaders = sent;
      this.complete();
      return;
    }
    const bytes = code !== undefined ? EMPTY : Buffer.from(body);
    const list = code !== undefined ? grpcLocalReplyHeaders(code, body, headers) : localReplyHeaders(bytes, headers);
    const filters = this.filters!;
    filters.encodeHeaders((this.responseHeaders = new ResponseHeaderMap(code !== undefined ? 200 : status, list)), bytes.length === 0);
    if (bytes.length && !this.completed && filters.encoding) filters.encodeData(bytes, true);
  }

  /** The connection manager's own answer (overload), from the router's table. */
  private localReply(cause: 'overload'): void {
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
    this.filters?.destroy();
    if (this.timeoutWatch) streamTimeouts.unwatch(this.timeoutWatch);
    const code = this.streamInfo.responseCode ?? 0;
    const hs = this.listener.stats;
    hs.downstreamRqActive--;
    hs.rqClass[(code / 100) | 0]++;
    const services = this.runtime.services;
    const labels = this.runtime.istioLabels(this.listener.config, this.clusterIfKnown(), 'http', this.ds.peer?.spiffeId);
    recordHttpRequest(services.stats, this.listener.accessLogs, this.listener.istioMetrics, labels, this.ds, this.streamInfo, this);
    if (this.trace?.span) this.finishTrace(this.trace);
  }

  private finishTrace(trace: RequestTrace): void {
    const ds = this.ds;
    const info = this.streamInfo;
    trace.finish({
      downstreamHeaders: ds.headers,
      scheme: getFromList(this.request.list, 'x-forwarded-proto') ?? ds.scheme,
      authority: this.request.authority,
      path: this.request.path,
      method: ds.method,
      protocol: ds.protocol,
      requestId: this.requestId,
      peerAddress: ds.remoteAddress,
      bytesReceived: ds.bytesReceived,
      bytesSent: ds.bytesSent,
      responseCode: info.responseCode,
      responseFlags: formatResponseFlags(info.responseFlags),
      upstreamCluster: info.upstreamCluster,
      grpcStatus: this.grpcStatus,
      metadata: this.meta,
      logContext: () => new HttpLogContext(ds, info, this, formatResponseFlags(info.responseFlags), Date.now() - info.startTimeMs),
    });
  }

  /** The cluster for metrics when the request never reached a host (e.g. UH): only a known one. */
  private clusterIfKnown(): string | undefined {
    const name = this.streamInfo.upstreamCluster;
    return name && this.runtime.clusters.has(name) ? name : undefined;
  }
}
