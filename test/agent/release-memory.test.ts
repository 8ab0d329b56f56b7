import { describe, expect, it } from 'vitest';
import { fileMappings, pageOutExecutable, releaseLoadGarbage, trimNativeHeap } from '../../src/agent/release-memory.js';

/** `path`'s mappings in `maps`, as [start, length]. */
const mappingsOf = (maps: string, path: string) => fileMappings(maps).filter((m) => m.path === path).map((m) => [m.start, m.length]);

const MiB = 1024 * 1024;
const linux = process.platform === 'linux';

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

  const glibc = linux && !!(process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime;
  it.runIf(glibc)('malloc_trim is reached through libc where glibc runs', () => {
    expect(trimNativeHeap()).toBe(true);
  });
});

describe('pageOutExecutable', () => {
  it('finds a file’s mappings in /proc/<pid>/maps, and only that file’s', () => {
    const maps = [
      '5581c0a00000-5581c1e00000 r--p 00000000 08:01 1310740                    /opt/node/bin/node',
      '5581c1e00000-5581c4c00000 r-xp 01400000 08:01 1310740                    /opt/node/bin/node',
      '5581c4c00000-5581c4c42000 rw-p 04200000 08:01 1310740                    /opt/node/bin/node',
      '5581c4c42000-5581c4c60000 rw-p 00000000 00:00 0 ',
      '7f3e1c000000-7f3e1c021000 rw-p 00000000 00:00 0                          [heap]',
      '7f3e1d000000-7f3e1d200000 r-xp 00000000 08:01 1310999                    /opt/node/bin/node-old',
      '7f3e1e000000-7f3e1e100000 r-xp 00000000 08:01 1311000                    /srv/with space/bin/node',
    ].join('\n');
    expect(mappingsOf(maps, '/opt/node/bin/node')).toEqual([
      [0x5581c0a00000, 0x1400000],
      [0x5581c1e00000, 0x2e00000],
      [0x5581c4c00000, 0x42000],
    ]);
    expect(mappingsOf(maps, '/srv/with space/bin/node')).toEqual([[0x7f3e1e000000, 0x100000]]);
    expect(mappingsOf(maps, '/usr/bin/node')).toEqual([]);
  });

  it.runIf(linux)('advises the kernel over the whole node binary (Linux)', async () => {
    const { realpathSync, readFileSync } = await import('node:fs');
    const binary = mappingsOf(readFileSync('/proc/self/maps', 'utf8'), realpathSync(process.execPath)).reduce((n, [, length]) => n + length, 0);
    expect(binary).toBeGreaterThan(10 * MiB);
    // the binary, and koffi's native module that the call itself loaded
    expect(pageOutExecutable()).toBeGreaterThanOrEqual(binary);
  });
});
