/** A growing byte buffer the encoder writes a header block into. */
import { MAX_INTEGER } from './integer.js';

export class BlockWriter {
  buf: Buffer;
  pos = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  /** Room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** An integer with a `prefixBits`-bit prefix, `flags` in the bits above it (RFC 7541 §5.1). */
  integer(value: number, prefixBits: number, flags: number): void {
    if (value > MAX_INTEGER) throw new RangeError(`HPACK integer ${value} past ${MAX_INTEGER}`);
    this.ensure(6);
    const max = (1 << prefixBits) - 1;
    if (value < max) {
      this.buf[this.pos++] = flags | value;
      return;
    }
    this.buf[this.pos++] = flags | max;
    let rest = value - max;
    while (rest >= 0x80) {
      this.buf[this.pos++] = (rest & 0x7f) | 0x80;
      rest >>>= 7;
    }
    this.buf[this.pos++] = rest;
  }

  /** A copy of what was written, and the writer emptied for the next block. */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    this.pos = 0;
    return out;
  }
}
