import { setFlagsFromString } from 'node:v8';
import { exposedGc } from '../common/gc.js';

/**
 * Gives back the memory a config load left behind. Loading makes several times the Snapshot's size
 * in short-lived data (parsed documents, validated resources, the copy posted to each worker: at
 * 1,000 services ~200 MiB of heap for a 10 MiB Snapshot); V8 grows its heap for it and keeps the pages
 * until its own limits say otherwise, so the agent's RSS stayed at the load's peak. A 'last-resort'
 * collection (as the workers' heap-shrinker.ts runs) frees them; it holds this thread for ~100 ms at
 * that size (a few ms for a small config), once per load: with the data plane on this thread (one
 * worker) requests wait for it too, as they wait for the reload's own translation.
 */
export async function releaseLoadGarbage(): Promise<void> {
  setFlagsFromString('--expose-gc'); // the worker pool has set it already; a test may not have
  await exposedGc()?.({ type: 'major', execution: 'async', flavor: 'last-resort' });
}
