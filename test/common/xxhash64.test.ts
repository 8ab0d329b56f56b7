import { describe, expect, it } from 'vitest';
import { jitteredBackoffMs } from '../../src/common/backoff.js';
import { xxHash64 } from '../../src/common/xxhash64.js';

describe('xxHash64 (seed 0), as Envoy hashes an xDS version_info', () => {
  // reference values from the C library (libxxhash XXH64(buf, len, 0))
  it.each([
    ['', 0xef46db3751d8e999n],
    ['abc', 0x44bc2cf5ad770999n],
    ['2026-12-06T23:00:00Z/42', 0x8293dee7e853cf66n],
    ['The quick brown fox jumps over the lazy dog, twice over and then some more!', 0x1a7ff1e67813bc4en],
  ])('%j', (text, expected) => {
    expect(xxHash64(text)).toBe(expected);
  });
});

describe('jitteredBackoffMs', () => {
  it('is uniform in [0, min(base × 2^(n-1), max)]', () => {
    expect(jitteredBackoffMs(1, 500, 30_000, () => 0.999_999)).toBe(500);
    expect(jitteredBackoffMs(3, 500, 30_000, () => 0.999_999)).toBe(2000);
    expect(jitteredBackoffMs(10, 500, 30_000, () => 0.999_999)).toBe(30_000);
    expect(jitteredBackoffMs(10, 500, 30_000, () => 0)).toBe(0);
    expect(jitteredBackoffMs(2, 500, 30_000, () => 0.5)).toBe(500);
  });
});
