import { RandomPool } from '../common/random-pool.js';

/**
 * Trace and span ids: lower-case hex of random bytes, from a pool refilled 4 KiB at a time (as
 * request-id.ts does for x-request-id). Never all zeros: W3C and B3 both take that as no id.
 */
const pool = new RandomPool(4096);

function randomHex(bytes: number): string {
  const at = pool.take(bytes);
  const random = pool.bytes;
  if (random[at] === 0) random[at] = 1; // one non-zero byte is enough to make the id valid
  return random.toString('hex', at, at + bytes);
}

/** A new 128-bit trace id (32 hex digits). */
export function newTraceId(): string {
  return randomHex(16);
}

/** A new 64-bit span id (16 hex digits); also a 64-bit Zipkin trace id. */
export function newSpanId(): string {
  return randomHex(8);
}
