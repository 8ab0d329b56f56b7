import { setFlagsFromString } from 'node:v8';
import { exposedGc } from '../common/gc.js';
import { libcLoaded, loadLibc } from '../common/libc.js';

/**
 * Gives back the memory a config load left behind. Loading makes several times the Snapshot's size
 * in short-lived data (parsed documents, validated resources, the copy posted to each worker: at
 * 1,000 services ~200 MiB of heap for a 10 MiB Snapshot); V8 grows its heap for it and keeps the pages
 * until its own limits say otherwise, so the agent's RSS stayed at the load's peak. A 'last-resort'
 * collection (as the workers' heap-shrinker.ts runs) frees them; it holds this thread for ~100 ms at
 * that size (a few ms for a small config), once per load: with the data plane on this thread (one
 * worker) requests wait for it too, as they wait for the reload's own translation.
 *
 * Then the C heap: what the load freed there (file reads, V8's compiler and parser zones) stays with
 * glibc's malloc until malloc_trim gives its free pages back, as Envoy's shrink_heap does with
 * tcmalloc's. For a large load only (`clusters` ≥ LARGE_LOAD_CLUSTERS), or where libc is loaded anyway
 * (a capturing sidecar's original_dst): loading it costs more (~7 MiB) than a small load leaves.
 * Measured (koffi loaded before), sidecar 3 s after ready, 1,000 services (3,303 clusters): RSS
 * 128.4 → 117.1 MiB in 19.6 ms; one service: 78.7 → 76.2 MiB.
 */
export async function releaseLoadGarbage(clusters: number): Promise<void> {
  setFlagsFromString('--expose-gc'); // the worker pool has set it already; a test may not have
  await exposedGc()?.({ type: 'major', execution: 'async', flavor: 'last-resort' });
  if (clusters >= LARGE_LOAD_CLUSTERS || libcLoaded()) trimNativeHeap();
}

export const LARGE_LOAD_CLUSTERS = 500;

let mallocTrim: ((pad: number) => number) | null | undefined;

/** glibc's malloc_trim(0); false where there is none (musl, another platform, no FFI). */
export function trimNativeHeap(): boolean {
  if (mallocTrim === undefined) {
    try {
      mallocTrim = loadLibc()?.lib.func('int malloc_trim(size_t)') ?? null;
    } catch {
      mallocTrim = null; // a C library without malloc_trim
    }
  }
  if (!mallocTrim) return false;
  mallocTrim(0);
  return true;
}
