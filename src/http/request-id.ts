import { RandomPool } from '../common/random-pool.js';

/**
 * New x-request-id values: random (version 4) UUIDs, as Envoy's UuidRequestIdConfig makes them.
 * crypto.randomUUID() builds its string from 20 concatenations, which the socket write then has to
 * flatten; here the 36 characters are written into a scratch buffer and read out as one flat string.
 * Measured (node 24, 2M calls each, with the write that follows): 270 → 120 ns, and ~15 intermediate
 * strings less per request. The random bytes come from a pool refilled 256 ids at a time, as
 * randomUUID's own cache does.
 */
const HEX = Buffer.from('0123456789abcdef', 'latin1');
/** Where each of the 16 bytes' two hex digits go in `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`. */
const DIGIT_AT = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
const POOL_IDS = 256;

const pool = new RandomPool(16 * POOL_IDS);
const text = Buffer.alloc(36, 0x2d); // '-' where no digit is written

export function newRequestId(): string {
  const at = pool.take(16);
  const random = pool.bytes;
  random[at + 6] = (random[at + 6] & 0x0f) | 0x40; // version 4
  random[at + 8] = (random[at + 8] & 0x3f) | 0x80; // variant 10xx (RFC 9562)
  for (let i = 0; i < 16; i++) {
    const byte = random[at + i];
    const p = DIGIT_AT[i];
    text[p] = HEX[byte >> 4];
    text[p + 1] = HEX[byte & 0x0f];
  }
  return text.toString('latin1');
}
