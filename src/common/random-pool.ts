import { randomFillSync } from 'node:crypto';

/**
 * Random bytes for ids minted per request (x-request-id, trace and span ids): one randomFillSync
 * fills a pool that many ids are then cut from, as crypto.randomUUID's own cache does, instead of
 * one call into the CSPRNG per id.
 */
export class RandomPool {
  readonly bytes: Buffer;
  private next: number;

  constructor(size: number) {
    this.bytes = Buffer.allocUnsafe(size);
    this.next = size;
  }

  /** Reserves `count` fresh random bytes (count ≤ size) and returns their offset in `bytes`. */
  take(count: number): number {
    if (this.next + count > this.bytes.length) {
      randomFillSync(this.bytes);
      this.next = 0;
    }
    const at = this.next;
    this.next += count;
    return at;
  }
}
