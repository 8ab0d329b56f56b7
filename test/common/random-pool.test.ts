import { describe, expect, it } from 'vitest';
import { RandomPool } from '../../src/common/random-pool.js';

describe('RandomPool', () => {
  it('hands out consecutive, non-overlapping runs until the pool is spent', () => {
    const pool = new RandomPool(32);
    expect(pool.take(16)).toBe(0);
    expect(pool.take(8)).toBe(16);
    expect(pool.take(8)).toBe(24);
  });

  it('refills from the start when a run no longer fits, with new random bytes', () => {
    const pool = new RandomPool(32);
    pool.take(24);
    const before = Buffer.from(pool.bytes);
    expect(pool.take(16)).toBe(0);
    expect(pool.bytes.equals(before)).toBe(false);
  });

  it('fills the pool before the first run is handed out', () => {
    const pool = new RandomPool(64);
    pool.bytes.fill(0);
    pool.take(1);
    expect(pool.bytes.some((b) => b !== 0)).toBe(true);
  });
});
