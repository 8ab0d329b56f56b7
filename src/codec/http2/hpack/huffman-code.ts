/**
 * The HPACK Huffman code (RFC 7541 Appendix B). The RFC's code is canonical: codes of one length are
 * consecutive in symbol order, each length starting where the shorter ones left off. So the bit
 * lengths below are the whole table, and the codes are worked out from them at module load.
 */

/** Code length in bits of each symbol 0-255, then EOS (256). */
const LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

export const EOS = 256;

/** Bit length of each symbol's code (0-256). */
export const CODE_LENGTHS = Uint8Array.from(LENGTHS);

/** Each symbol's code, right-aligned (at most 30 bits). */
export const CODES = (() => {
  const codes = new Uint32Array(LENGTHS.length);
  const bySize = [...LENGTHS.keys()].sort((a, b) => LENGTHS[a] - LENGTHS[b] || a - b);
  let code = 0;
  let length = LENGTHS[bySize[0]];
  for (const symbol of bySize) {
    code <<= LENGTHS[symbol] - length;
    length = LENGTHS[symbol];
    codes[symbol] = code++;
  }
  // a complete prefix code ends on all ones
  if (code !== 2 ** length) throw new Error('HPACK Huffman code lengths do not form a complete code');
  return codes;
})();
