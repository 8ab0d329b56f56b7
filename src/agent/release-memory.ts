import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (options: { type: 'major'; execution: 'async'; flavor: 'last-resort' }) => Promise<void>;

let collector: Gc | undefined;

/**
 * Gives back the memory a config load left behind. Loading makes several times the Snapshot's size
 * in short-lived data (parsed documents, validated resources, the copy posted to each worker: at
 * 1,000 services ~200 MiB of heap for a 10 MiB Snapshot); V8 grows its heap for it and keeps the pages
 * until its own limits say otherwise, so the agent's RSS stayed at the load's peak. A 'last-resort'
 * collection (as the workers' heap-shrinker.ts runs) frees them; it holds this thread for ~100 ms,
 * which only admin and health requests share, once per load.
 */
export function releaseLoadGarbage(): Promise<void> {
  if (!collector) {
    // --expose-gc gives new contexts a gc(); the main context was made before the flag was set
    setFlagsFromString('--expose-gc');
    collector = runInNewContext('gc') as Gc;
  }
  return collector({ type: 'major', execution: 'async', flavor: 'last-resort' });
}
