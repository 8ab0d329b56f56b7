import type { Downstream } from '../../codec/downstream.js';
import { hostPort } from '../../common/address.js';
import type { StreamInfo } from '../../http/filter.js';
import { getFromList } from '../../router/headers.js';
import type { LogContext } from '../../common/log-context.js';

/** What the connection manager knows of a finished request beyond the codec's counters and its StreamInfo. */
export interface FinishedRequest {
  /** :path as routed (before any rewrite: the access log's %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%). */
  readonly path: string;
  /** :path as sent upstream (after a route's rewrite). */
  readonly upstreamPath: string;
  readonly authority: string;
  readonly requestId: string | undefined;
  /** grpc-status of a gRPC response (trailers, or a trailers-only response's headers), or of a gRPC local reply. */
  readonly grpcStatus: string | undefined;
  /** The upstream header list (x-forwarded-for as forwarded). */
  readonly requestHeaderList: readonly string[];
  /** The downstream remote address came from x-forwarded-for (no port: Envoy prints it with port 0). */
  readonly clientFromXff: boolean;
  /** The response headers and trailers as sent downstream; undefined when none were sent. */
  readonly sentHeaders: readonly string[] | undefined;
  readonly sentTrailers: readonly string[] | undefined;
  /** The request's trace id, when it has a trace context, and whether it was sampled. */
  readonly traceId: string | undefined;
  readonly traced: boolean;
  readonly traceForced: boolean;
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Envoy's filter state the access log and metric overrides read (Istio's upstream_peer, downstream_peer). */
  filterState(name: string): unknown;
}

/** A finished HTTP request as access logs and metric overrides read it; built once per request that has either. */
export class HttpLogContext implements LogContext {
  readonly kind = 'http' as const;
  readonly startTimeMs: number;
  readonly requestDurationMs = undefined;
  readonly responseDurationMs: number | undefined;
  readonly responseCode: number;
  readonly responseFlags: string;
  readonly connectionTerminationDetails = undefined;
  readonly upstreamTransportFailureReason = undefined;
  readonly upstreamLocalAddress = undefined;
  readonly upstreamRequestAttemptCount = undefined;
  readonly healthCheck = false;
  readonly connectionId = undefined;

  constructor(
    private readonly ds: Downstream,
    private readonly info: StreamInfo,
    private readonly r: FinishedRequest,
    responseFlags: string,
    readonly durationMs: number,
  ) {
    this.startTimeMs = info.startTimeMs;
    this.responseCode = info.responseCode ?? 0;
    this.responseFlags = responseFlags;
    this.responseDurationMs = info.upstreamServiceTimeMs;
  }

  get protocol(): string {
    return this.ds.protocol;
  }

  requestHeader(name: string): string | undefined {
    switch (name) {
      case ':method':
        return this.ds.method;
      case ':path':
        return this.r.upstreamPath;
      case ':authority':
        return this.r.authority || undefined;
      case ':scheme':
        return this.ds.scheme;
      case 'x-request-id':
        return this.r.requestId ?? getFromList(this.r.requestHeaderList, name);
      case 'user-agent':
        // as the client sent it (the upstream list is the same unless a filter changed it)
        return getFromList(this.ds.headers, name);
      default:
        return getFromList(this.r.requestHeaderList, name);
    }
  }

  responseHeader(name: string): string | undefined {
    if (name === ':status') return this.info.responseCode ? String(this.info.responseCode) : undefined;
    const v = this.r.sentHeaders && getFromList(this.r.sentHeaders, name);
    if (v !== undefined) return v;
    if (name === 'x-envoy-upstream-service-time' && this.info.upstreamServiceTimeMs !== undefined) return String(this.info.upstreamServiceTimeMs);
    return undefined;
  }

  responseTrailer(name: string): string | undefined {
    return this.r.sentTrailers && getFromList(this.r.sentTrailers, name);
  }

  get requestHeaderList(): readonly string[] {
    return this.r.requestHeaderList;
  }

  get responseHeaderList(): readonly string[] {
    return this.r.sentHeaders ?? [];
  }

  get responseCodeDetails(): string | undefined {
    return this.info.responseCodeDetails ?? (this.info.responseFlags.length ? 'local_reply' : 'via_upstream');
  }

  get bytesReceived(): number {
    return this.ds.bytesReceived;
  }

  get bytesSent(): number {
    return this.ds.bytesSent;
  }

  get upstreamHost(): string | undefined {
    return this.info.upstreamHost;
  }

  get upstreamCluster(): string | undefined {
    return this.info.upstreamCluster;
  }

  get downstreamLocalAddress(): string {
    return this.ds.localEndpoint;
  }

  get downstreamRemoteAddress(): string {
    return this.r.clientFromXff ? hostPort(this.info.downstreamRemoteAddress, 0) : this.ds.remoteEndpoint;
  }

  get downstreamDirectRemoteAddress(): string {
    return this.ds.remoteEndpoint;
  }

  /** The TLS SNI of the connection, as its TLS handshake recorded it (a connection with a peer certificate). */
  get requestedServerName(): string | undefined {
    return this.ds.peer?.sni;
  }

  get routeName(): string | undefined {
    return this.info.routeName;
  }

  get downstreamPeerUriSan(): string | undefined {
    return this.ds.peer?.uris[0];
  }

  get downstreamLocalUriSan(): string | undefined {
    return undefined;
  }

  get grpcStatus(): number | undefined {
    const s = this.r.grpcStatus;
    return s === undefined || s === '' ? undefined : Number(s);
  }

  get traceId(): string | undefined {
    return this.r.traceId;
  }

  get traced(): boolean {
    return this.r.traced;
  }

  get traceForced(): boolean {
    return this.r.traceForced;
  }

  get metadata(): Readonly<Record<string, unknown>> {
    return this.r.metadata;
  }

  filterState(name: string): unknown {
    return this.r.filterState(name);
  }
}
