import { readFileSync, realpathSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { exposedGc } from '../common/gc.js';
import { libcFunction } from '../common/libc.js';

/**
 * Gives back the memory a config load left behind, after every load (the first, and the last of
 * coalesced reloads).
 *
 * 1. The heap: loading makes several times the Snapshot's size in short-lived data (parsed
 *    documents, validated resources, the copy posted to each worker: at 1,000 services ~200 MiB of
 *    heap for a 10 MiB Snapshot); V8 grows its heap for it and keeps the pages until its own limits
 *    say otherwise, so the agent's RSS stayed at the load's peak. A 'last-resort' collection (as the
 *    workers' heap-shrinker.ts runs) frees them; it holds this thread for ~100 ms at that size (a few
 *    ms for a small config), once per load: with the data plane on this thread (one worker) requests
 *    wait for it too, as they wait for the reload's own translation.
 * 2. The C heap: what the load freed there (file reads, V8's compiler and parser zones) stays with
 *    glibc's malloc until malloc_trim gives its free pages back, as Envoy's shrink_heap does with
 *    tcmalloc's. Measured, sidecar 3 s after ready, 1,000 services (3,303 clusters): RSS 128.4 →
 *    117.1 MiB in 19.6 ms; one service: 78.7 → 76.2 MiB.
 * 3. The node binary's pages (pageOutExecutable): startup and a load run code serving never runs
 *    again. This is what brings libc (koffi: +0.5 MiB of anonymous memory once its own file pages
 *    are given back too) into every proxy; the call holds the thread ~6 ms. Measured (peerbench's
 *    sidecar, one worker, 12 s after ready): RSS 59.8 → 36.4 MiB (file-backed 42.9 → 19.0); after 3 s
 *    of HTTP/1.1 and 3 s of h2c load and 12 s idle, 98.3 → 77.5 MiB; the same rps under that load.
 */
export async function releaseLoadGarbage(): Promise<void> {
  setFlagsFromString('--expose-gc'); // the worker pool has set it already; a test may not have
  await exposedGc()?.({ type: 'major', execution: 'async', flavor: 'last-resort' });
  trimNativeHeap();
  pageOutExecutable();
}

const mallocTrim = libcFunction<(pad: number) => number>('int malloc_trim(size_t)');

/** glibc's malloc_trim(0); false where there is none (musl, another platform, no FFI). */
export function trimNativeHeap(): boolean {
  const trim = mallocTrim();
  if (!trim) return false;
  trim(0);
  return true;
}

/** madvise(2) MADV_PAGEOUT (Linux ≥ 5.4). */
const MADV_PAGEOUT = 21;

const madvise = libcFunction<(addr: number, length: number, advice: number) => number>('int madvise(uintptr_t, size_t, int)');

export interface FileMapping {
  path: string;
  start: number;
  length: number;
}

/** The mappings of files in `maps` (the text of /proc/<pid>/maps); anonymous ones are left out. */
export function fileMappings(maps: string): FileMapping[] {
  const out: FileMapping[] = [];
  for (const line of maps.split('\n')) {
    // start-end perms offset dev inode path
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s+(\/.*)$/.exec(line);
    if (!m) continue;
    const start = parseInt(m[1], 16);
    out.push({ path: m[3], start, length: parseInt(m[2], 16) - start });
  }
  return out;
}

/**
 * Hands the kernel back the resident pages of the node binary and of the native modules loaded
 * (MADV_PAGEOUT over their file mappings): module loading, V8's bootstrap and optimising compiler,
 * the YAML and translation paths of a load leave tens of MiB of the binary resident, counted in the
 * pod's memory, that serving does not touch again. Pages serving needs fault back in on their next
 * use (from the page cache, or the disk once the cache let them go). The kernel leaves alone pages
 * another process maps too (other node processes on the same host). Returns the bytes advised, 0
 * where it cannot be done (another platform, no FFI, a kernel before 5.4).
 */
export function pageOutExecutable(): number {
  const advise = madvise();
  if (!advise) return 0;
  let maps: string;
  let exe: string;
  try {
    maps = readFileSync('/proc/self/maps', 'utf8');
    exe = realpathSync(process.execPath);
  } catch {
    return 0;
  }
  let advised = 0;
  for (const m of fileMappings(maps)) {
    // the binary, and the native modules (`.node` files: koffi's)
    if ((m.path === exe || m.path.endsWith('.node')) && advise(m.start, m.length, MADV_PAGEOUT) === 0) advised += m.length;
  }
  return advised;
}
