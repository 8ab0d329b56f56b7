/**
 * HPACK integers (RFC 7541 §5.1): an N-bit prefix, then 7 bits per continuation byte. Values past
 * 2^31 - 1 are refused: nothing HPACK counts (indexes, string lengths, table sizes) comes near it,
 * and it keeps the arithmetic exact.
 */
import { HpackDecodingError } from './errors.js';

export const MAX_INTEGER = 0x7fff_ffff;

/** Where a decoder is in a header block. */
export interface Cursor {
  buf: Buffer;
  pos: number;
}

/** Reads an integer with a `prefixBits`-bit prefix at cursor.pos (the flag bits above it are ignored). */
export function decodeInteger(c: Cursor, prefixBits: number): number {
  const { buf } = c;
  const max = (1 << prefixBits) - 1;
  let value = buf[c.pos++] & max;
  if (value < max) return value;
  // at most 5 continuation bytes: 35 bits cover 2^31 past any prefix; more can only be padding
  for (let shift = 0; shift <= 28; shift += 7) {
    if (c.pos >= buf.length) throw new HpackDecodingError('truncated', 'integer ends mid-way');
    const b = buf[c.pos++];
    value += (b & 0x7f) * 2 ** shift;
    if (value > MAX_INTEGER) throw new HpackDecodingError('integer-overflow', `integer past ${MAX_INTEGER}`);
    if ((b & 0x80) === 0) return value;
  }
  throw new HpackDecodingError('integer-overflow', 'more than 5 continuation bytes');
}
