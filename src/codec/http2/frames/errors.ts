/**
 * The two kinds of HTTP/2 error (RFC 9113 §5.4): one that ends the connection (GOAWAY with the
 * code, then close) and one that ends a stream only (RST_STREAM with the code; the connection
 * goes on). The codes are ../error-codes.ts.
 */
import { H2_ENHANCE_YOUR_CALM, h2ErrorName } from '../error-codes.js';

/** The connection must end: GOAWAY `code` (§5.4.1). */
export class Http2ConnectionError extends Error {
  override readonly name: string = 'Http2ConnectionError';
  constructor(readonly code: number, readonly detail: string) {
    super(`HTTP/2 connection error ${h2ErrorName(code)}: ${detail}`);
  }
}

/** Stream `streamId` must end: RST_STREAM `code` (§5.4.2). */
export class Http2StreamError extends Error {
  override readonly name = 'Http2StreamError';
  constructor(readonly streamId: number, readonly code: number, readonly detail: string) {
    super(`HTTP/2 stream ${streamId} error ${h2ErrorName(code)}: ${detail}`);
  }
}

/** Which bound on one header block (HEADERS or PUSH_PROMISE and its CONTINUATIONs) was passed. */
export type HeaderBlockLimit = 'block-bytes' | 'continuation-frames';

/**
 * A header block passed the reader's bounds: more octets than the caller allows, or more
 * CONTINUATION frames (a CONTINUATION flood, CVE-2024-27316: nghttp2 allows 8 and closes the
 * session past them). The block cannot be decoded, so HPACK state is lost: the connection ends,
 * as Envoy ends it, with ENHANCE_YOUR_CALM, and `limit` names the bound for the caller's stats.
 */
export class HeaderBlockLimitError extends Http2ConnectionError {
  override readonly name = 'HeaderBlockLimitError';
  constructor(readonly limit: HeaderBlockLimit, readonly streamId: number, readonly max: number) {
    super(H2_ENHANCE_YOUR_CALM, `header block on stream ${streamId} over its ${limit} limit of ${max}`);
  }
}
