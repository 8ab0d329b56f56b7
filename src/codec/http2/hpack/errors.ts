/**
 * What HPACK refuses, typed with the HTTP/2 error code (RFC 9113 §7) the connection answers with.
 */
import { H2_COMPRESSION_ERROR, H2_INTERNAL_ERROR } from '../error-codes.js';

/** The HTTP/2 error codes HPACK failures map to (the whole table is ../error-codes.ts). */
export { H2_COMPRESSION_ERROR, H2_INTERNAL_ERROR };

/** Why a header block could not be decoded: every one is a connection error (RFC 7541 §2.3.3, §4.2, §5.2). */
export type HpackFailure =
  | 'truncated'
  | 'integer-overflow'
  | 'index-zero'
  | 'index-out-of-range'
  | 'table-size-update-over-limit'
  | 'table-size-update-not-at-start'
  | 'table-size-update-missing'
  | 'huffman-eos'
  | 'huffman-padding';

/**
 * The header block broke HPACK: the dynamic table can no longer be trusted, so the connection ends
 * with GOAWAY COMPRESSION_ERROR (RFC 9113 §4.3).
 */
export class HpackDecodingError extends Error {
  override readonly name = 'HpackDecodingError';
  readonly code = H2_COMPRESSION_ERROR;
  constructor(readonly failure: HpackFailure, detail: string) {
    super(`HPACK ${failure}: ${detail}`);
  }
}

/** Which of the decoder's limits on a decoded header list was passed. */
export type HeaderListLimit = 'header-list-size' | 'header-count';

/**
 * The decoded header list passed a limit (SETTINGS_MAX_HEADER_LIST_SIZE as RFC 9113 §6.5.2 counts
 * it, or a field count as Envoy's max_headers_count). The decoder read the block to its end, so the
 * dynamic table is still in step with the peer's and only the stream fails: Envoy's codec (nghttp2)
 * resets it, RST_STREAM INTERNAL_ERROR, and counts `http2.header_overflow`.
 */
export class HeaderListTooLargeError extends Error {
  override readonly name = 'HeaderListTooLargeError';
  readonly code = H2_INTERNAL_ERROR;
  constructor(readonly limit: HeaderListLimit, readonly max: number) {
    super(`header list over its ${limit} limit of ${max}`);
  }
}
