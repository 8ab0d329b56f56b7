/** HPACK (RFC 7541) for an HTTP/2 connection: one decoder for what the peer sends, one encoder for what we send. */
export { HpackDecoder, DEFAULT_TABLE_SIZE, type DecodedHeaders, type DecoderOptions } from './decoder.js';
export { HpackEncoder, type EncoderOptions } from './encoder.js';
export { HeaderListTooLargeError, HpackDecodingError, type HeaderListLimit, type HpackFailure } from './errors.js';
