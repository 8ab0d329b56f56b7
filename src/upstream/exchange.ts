import type { BodySource } from '../codec/body.js';

/**
 * The contract between the router and a connection pool: a request goes out, its response comes
 * back through an UpstreamHandler, and the router holds an UpstreamExchange to pause, resume or
 * abandon it. Both protocols' pools (http1/, http2/) speak it.
 */

/** How an upstream exchange failed; maps to Envoy's reset reasons and response flags. */
export type UpstreamFailure =
  | 'connect_failure'
  | 'connect_timeout'
  | 'reset_before_headers'
  | 'reset_after_headers'
  | 'protocol_error'
  /** A circuit breaker is open: too many pending requests or requests for the cluster (Envoy UO). */
  | 'overflow'
  /** The client's request body failed (malformed or cut off); the downstream codec answers. */
  | 'downstream_body_error'
  /** A retry could not resend the body: it outgrew the replay buffer (Envoy answers 507). */
  | 'request_body_overflow';

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(
    readonly kind: UpstreamFailure,
    message: string,
    /** The socket's errno (ECONNRESET, …) or the HTTP/2 error code name of a reset (see isHttp2ErrorCode). */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Receives one upstream response. Called at most once each for headers, end and error. */
export interface UpstreamHandler {
  /** `headers` is handed over: the handler may change and keep it. */
  onUpstreamHeaders(status: number, headers: string[]): void;
  /** Return false to stop reading until `resume()`. */
  onUpstreamData(chunk: Buffer): boolean;
  onUpstreamEnd(trailers: string[] | undefined): void;
  onUpstreamError(err: UpstreamError): void;
}

export interface UpstreamRequest {
  method: string;
  path: string;
  /** Flat [name, value, ...] with lower-case names; must include host. */
  headers: string[];
  /** Request body; with a content-length header it is sent as is, otherwise chunked. */
  body: BodySource | null;
}

/** Control over one in-flight exchange, for the downstream side. */
export interface UpstreamExchange {
  pause(): void;
  resume(): void;
  /** Abandons the exchange: the connection is closed and the handler gets no more calls. */
  abort(): void;
}

/** Names of HTTP/2 error codes (RST_STREAM / GOAWAY), indexed by code. */
export const HTTP2_ERROR_NAMES: readonly string[] = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

/** Is `code` an HTTP/2 error code name, i.e. did the upstream reset the stream (RST_STREAM)? */
export function isHttp2ErrorCode(code: string | undefined): boolean {
  return code !== undefined && (HTTP2_ERROR_NAMES.includes(code) || /^0x[0-9a-f]+$/.test(code));
}
