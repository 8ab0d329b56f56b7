/**
 * Huffman encoding (RFC 7541 §5.2) of latin1 strings (one octet per char), padded with the most
 * significant bits of EOS (ones). The encoder uses it only when it is shorter than the raw octets.
 */
import { CODE_LENGTHS, CODES } from './huffman-code.js';

/** Octets `s` takes Huffman-encoded. */
export function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += CODE_LENGTHS[s.charCodeAt(i) & 0xff];
  return (bits + 7) >>> 3;
}

/** Writes `s` Huffman-encoded into out at pos (room for huffmanLength(s) octets); returns the end. */
export function huffmanEncode(s: string, out: Uint8Array, pos: number): number {
  // `pending` holds fewer than 8 bits not yet written; adding a code of up to 24 bits stays in 31
  let pending = 0;
  let count = 0;
  for (let i = 0; i < s.length; i++) {
    const symbol = s.charCodeAt(i) & 0xff;
    let length = CODE_LENGTHS[symbol];
    const code = CODES[symbol];
    if (length > 24) {
      // the long (rare) codes go in two steps
      const high = length - 16;
      pending = (pending << high) | (code >>> 16);
      count += high;
      while (count >= 8) { count -= 8; out[pos++] = pending >>> count; }
      pending &= (1 << count) - 1;
      length = 16;
    }
    pending = (pending << length) | (code & ((1 << length) - 1));
    count += length;
    while (count >= 8) { count -= 8; out[pos++] = pending >>> count; }
    pending &= (1 << count) - 1;
  }
  if (count > 0) out[pos++] = (pending << (8 - count)) | (0xff >>> count);
  return pos;
}
