/**
 * Huffman decoding (RFC 7541 §5.2) as a 4-bit state machine built on the first decode: the states are
 * the code tree's 256 inner nodes, and each (state, nibble) has a precomputed next state and the
 * symbol it completes, if any (codes are at least 5 bits, so a nibble completes at most one), in
 * one table entry. Two lookups per input byte, no walk over the tree.
 *
 * Refused as RFC 7541 §5.2 requires: the EOS code inside a string, and an ending that is not a
 * prefix of EOS (padding of 8 bits or more, or padding that is not all ones).
 */
import { CODE_LENGTHS, CODES, EOS } from './huffman-code.js';
import { HpackDecodingError } from './errors.js';

const EMITS = 0x100;
const FAILS = 0x200;

interface Machine {
  /**
   * (state << 4 | nibble) → the next state (bits 0-7), EMITS (the nibble completed a symbol, in bits
   * 16-23) or FAILS (it reached EOS): one lookup per nibble.
   */
  readonly step: Int32Array;
  /** States a string may end in: the root, or ones only since the last symbol, 7 at most. */
  readonly accepting: Uint8Array;
}

/**
 * Built on first use, not at load: the build's loops are hot enough for V8 to optimize them on the
 * spot, which faulted TurboFan's code (~5 MiB of the node binary) into every proxy at startup,
 * HTTP/2 or not (idle RSS, issue 15).
 */
let machine: Machine | undefined;

function build(): Machine {
  const STEP = new Int32Array(256 * 16);
  const ACCEPTING = new Uint8Array(256);
  // the tree: inner node i has children child[2i] (bit 0) and child[2i+1] (bit 1); a child >= 0 is
  // an inner node, -1 - symbol a leaf
  const child = new Int32Array(512).fill(-0x10000);
  let nodes = 1;
  for (let symbol = 0; symbol <= EOS; symbol++) {
    let node = 0;
    for (let bit = CODE_LENGTHS[symbol] - 1; bit >= 0; bit--) {
      const slot = 2 * node + ((CODES[symbol] >>> bit) & 1);
      if (bit === 0) child[slot] = -1 - symbol;
      else {
        if (child[slot] === -0x10000) child[slot] = nodes++;
        node = child[slot];
      }
    }
  }
  // the all-ones path from the root: padding may stop on its first 7 nodes
  ACCEPTING[0] = 1;
  for (let node = 0, depth = 1; depth <= 7; depth++) {
    node = child[2 * node + 1];
    ACCEPTING[node] = 1;
  }
  for (let state = 0; state < nodes; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let step = 0;
      for (let bit = 3; bit >= 0; bit--) {
        const next = child[2 * node + ((nibble >>> bit) & 1)];
        if (next >= 0) node = next;
        else if (-1 - next === EOS) { step = FAILS; node = 0; break; }
        else { step = EMITS | ((-1 - next) << 16); node = 0; }
      }
      STEP[(state << 4) | nibble] = step | node;
    }
  }
  return { step: STEP, accepting: ACCEPTING };
}

let scratch = Buffer.allocUnsafe(4096);

/** Decodes buf[start, end) into a latin1 string (one char per octet). */
export function huffmanDecode(buf: Uint8Array, start: number, end: number): string {
  // the shortest code is 5 bits: at most 8/5 symbols per input byte
  const most = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < most) scratch = Buffer.allocUnsafe(Math.max(most, scratch.length * 2));
  const out = scratch;
  const { step: STEP, accepting: ACCEPTING } = (machine ??= build());
  let n = 0;
  let state = 0;
  for (let i = start; i < end; i++) {
    const byte = buf[i];
    let step = STEP[(state << 4) | (byte >>> 4)];
    if (step & EMITS) out[n++] = step >>> 16;
    else if (step & FAILS) throw new HpackDecodingError('huffman-eos', 'EOS inside a Huffman string');
    step = STEP[((step & 0xff) << 4) | (byte & 0xf)];
    if (step & EMITS) out[n++] = step >>> 16;
    else if (step & FAILS) throw new HpackDecodingError('huffman-eos', 'EOS inside a Huffman string');
    state = step & 0xff;
  }
  if (ACCEPTING[state] === 0) throw new HpackDecodingError('huffman-padding', 'Huffman padding longer than 7 bits or not all ones');
  return out.toString('latin1', 0, n);
}
