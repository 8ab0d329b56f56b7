import { describe, expect, it } from 'vitest';
import { releaseLoadGarbage } from '../../src/agent/release-memory.js';

const MiB = 1024 * 1024;

describe('releaseLoadGarbage', () => {
  it('gives back the heap a load left as garbage', async () => {
    // what a large config load leaves: many small objects, all dead once the Snapshot is built
    let garbage: { i: number; s: string }[] | undefined = [];
    for (let i = 0; i < 1_500_000; i++) garbage.push({ i, s: `endpoint-${i}` });
    garbage = undefined;
    const before = process.memoryUsage().heapTotal;
    expect(before).toBeGreaterThan(100 * MiB);
    await releaseLoadGarbage();
    expect(process.memoryUsage().heapTotal).toBeLessThan(before - 60 * MiB);
    // a second call reuses the collector
    await releaseLoadGarbage();
  });
});
