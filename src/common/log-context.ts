/**
 * What an access log (its format, its filter) and Istio's metric tag overrides read of a finished
 * request or TCP connection: Envoy's StreamInfo plus the headers, as one read-only view. The
 * connection manager and the TCP proxy each build one when some logger or override needs it.
 */
export interface LogContext {
  /** An HTTP request, or a connection of the TCP proxy (no headers, no response code). */
  readonly kind: 'http' | 'tcp';
  /** Wall-clock start (Date.now()) of the request, or of the connection. */
  readonly startTimeMs: number;
  /** From start to the last byte sent downstream (the connection's close for TCP), in ms. */
  readonly durationMs: number;
  /** From start to the request's last byte received, in ms; undefined while it had not arrived. */
  readonly requestDurationMs: number | undefined;
  /** From start to the first response byte from upstream, in ms; undefined without an upstream response. */
  readonly responseDurationMs: number | undefined;
  /** HTTP/1.0, HTTP/1.1, HTTP/2; undefined for TCP. */
  readonly protocol: string | undefined;
  /**
   * A request header (lower-case name) as the request went upstream, the first value; the
   * pseudo-headers :method, :path, :authority and :scheme too. undefined when absent.
   */
  requestHeader(name: string): string | undefined;
  /** A response header (lower-case name) as sent downstream, :status included. */
  responseHeader(name: string): string | undefined;
  /** A response trailer (lower-case name) as sent downstream. */
  responseTrailer(name: string): string | undefined;
  /** Every request header as [name, value, ...] (names lower-case, no pseudo-headers). */
  readonly requestHeaderList: readonly string[];
  /** Every response header as [name, value, ...] (names lower-case, no pseudo-headers). */
  readonly responseHeaderList: readonly string[];
  /** The response's status; 0 when none was sent (and for TCP). */
  readonly responseCode: number;
  /** Envoy's short response flags joined by ',' (e.g. `UH`, `DC,URX`); `-` when none. */
  readonly responseFlags: string;
  /** %RESPONSE_CODE_DETAILS% (via_upstream, route_not_found, ...). */
  readonly responseCodeDetails: string | undefined;
  /** %CONNECTION_TERMINATION_DETAILS%: why the proxy closed the connection, when it did. */
  readonly connectionTerminationDetails: string | undefined;
  /** %UPSTREAM_TRANSPORT_FAILURE_REASON%: why the upstream connection failed (TLS, connect). */
  readonly upstreamTransportFailureReason: string | undefined;
  /** Body bytes received from downstream (TCP: all bytes). */
  readonly bytesReceived: number;
  /** Body bytes sent downstream (TCP: all bytes). */
  readonly bytesSent: number;
  /** The upstream host as `ip:port`; undefined when none was picked. */
  readonly upstreamHost: string | undefined;
  readonly upstreamCluster: string | undefined;
  /** The proxy's own address on the upstream connection, `ip:port`. */
  readonly upstreamLocalAddress: string | undefined;
  /** Upstream attempts made (retries included); undefined when none. */
  readonly upstreamRequestAttemptCount: number | undefined;
  /** Where the client connected to (`ip:port`; the original destination of a captured connection). */
  readonly downstreamLocalAddress: string;
  /** The client as Envoy sees it (`ip:port`; from x-forwarded-for with port 0 when trusted). */
  readonly downstreamRemoteAddress: string;
  /** The connection's peer (`ip:port`), whatever x-forwarded-for says. */
  readonly downstreamDirectRemoteAddress: string;
  /** TLS SNI of the downstream connection. */
  readonly requestedServerName: string | undefined;
  readonly routeName: string | undefined;
  /** The downstream mTLS peer's URI SAN (its SPIFFE id), and this proxy's own. */
  readonly downstreamPeerUriSan: string | undefined;
  readonly downstreamLocalUriSan: string | undefined;
  /** The gRPC status of a gRPC response (trailers, trailers-only headers or local reply). */
  readonly grpcStatus: number | undefined;
  /** The trace id of the request's span, when it was traced. */
  readonly traceId: string | undefined;
  /** The request was traced (sampled or forced). */
  readonly traced: boolean;
  /** Tracing was forced (x-envoy-force-trace): what Envoy's traceable access-log filter keeps. */
  readonly traceForced: boolean;
  /** The request is a health check (Envoy's health_check filter marked it); false when unknown. */
  readonly healthCheck: boolean;
  /** The downstream connection's id (unique in this worker); undefined when the codec has none. */
  readonly connectionId: number | undefined;
  /** Envoy's dynamic metadata: filter name → values. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** Envoy's filter state by name (Istio's upstream_peer, downstream_peer) as plain values; undefined when absent. */
  filterState(name: string): unknown;
}
