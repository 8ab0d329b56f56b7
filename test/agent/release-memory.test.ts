import { describe, expect, it } from 'vitest';
import { LARGE_LOAD_CLUSTERS, releaseLoadGarbage, trimNativeHeap } from '../../src/agent/release-memory.js';
import { libcLoaded } from '../../src/common/libc.js';

const MiB = 1024 * 1024;

describe('releaseLoadGarbage', () => {
  it('gives back the heap a load left as garbage', async () => {
    // what a large config load leaves: many small objects, all dead once the Snapshot is built
    let garbage: { i: number; s: string }[] | undefined = [];
    for (let i = 0; i < 1_500_000; i++) garbage.push({ i, s: `endpoint-${i}` });
    garbage = undefined;
    const before = process.memoryUsage().heapTotal;
    expect(before).toBeGreaterThan(100 * MiB);
    await releaseLoadGarbage(1);
    expect(process.memoryUsage().heapTotal).toBeLessThan(before - 60 * MiB);
    // a second call reuses the collector
    await releaseLoadGarbage(1);
  });

  it('trims the C heap after a large load only: loading libc for a small one would cost more than it gives back', async () => {
    await releaseLoadGarbage(LARGE_LOAD_CLUSTERS - 1);
    expect(libcLoaded()).toBe(false);
    await releaseLoadGarbage(LARGE_LOAD_CLUSTERS);
    expect(libcLoaded()).toBe(process.platform === 'linux');
  });

  const glibc = process.platform === 'linux' && !!(process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
  it.runIf(glibc)('malloc_trim is reached through libc where glibc runs', () => {
    expect(trimNativeHeap()).toBe(true);
  });
});
