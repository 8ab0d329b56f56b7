/**
 * HPACK string literals (RFC 7541 §5.2): an H flag, a 7-bit-prefix length, then the octets raw or
 * Huffman-coded. Strings are latin1 (one char per octet), so any header octets survive a round trip.
 */
import { HpackDecodingError } from './errors.js';
import { huffmanDecode } from './huffman-decode.js';
import { huffmanEncode, huffmanLength } from './huffman-encode.js';
import { decodeInteger, type Cursor } from './integer.js';
import type { BlockWriter } from './writer.js';

export function decodeString(c: Cursor): string {
  if (c.pos >= c.buf.length) throw new HpackDecodingError('truncated', 'string literal missing');
  const huffman = (c.buf[c.pos] & 0x80) !== 0;
  const length = decodeInteger(c, 7);
  const start = c.pos;
  const end = start + length;
  if (end > c.buf.length) throw new HpackDecodingError('truncated', `string of ${length} octets past the block's end`);
  c.pos = end;
  return huffman ? huffmanDecode(c.buf, start, end) : c.buf.toString('latin1', start, end);
}

/** Writes `s`, Huffman-coded when that is shorter (as nghttp2 does) unless `huffman` is false. */
export function encodeString(w: BlockWriter, s: string, huffman: boolean): void {
  const coded = huffman ? huffmanLength(s) : s.length;
  if (coded < s.length) {
    w.integer(coded, 7, 0x80);
    w.ensure(coded);
    w.pos = huffmanEncode(s, w.buf, w.pos);
  } else {
    w.integer(s.length, 7, 0);
    w.ensure(s.length);
    w.pos += w.buf.write(s, w.pos, 'latin1');
  }
}
