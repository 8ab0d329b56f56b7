/**
 * V8 settings the proxy needs, which only a process start can give (V8 sizes the main isolate's heap
 * before any JavaScript runs; V8 flags are the process's, so worker threads have them too).
 *
 * - The young generation: left to itself V8 grows it with the allocation rate, to ~100 MiB under a
 *   proxy's load, and keeps it. Capped at 4 MiB semi-spaces (12 MiB in all), as a worker thread's
 *   resourceLimits cap it (agent/workers.ts).
 * - The old generation's growth before a full collection: V8 picks a factor of 1.1-4 from its GC
 *   and mutator speeds, and under load let ~40 MiB of promoted garbage pile up over a live heap of
 *   ~12 MiB. 20 % keeps the old generation near its live size. Measured (gateway, 1 worker, after
 *   150k h2c requests and 6 s of HTTP/1.1, 3 interleaved pairs): peak RSS 159-164 → 110-116 MiB;
 *   bench/instructions.mjs 20,000 requests: h1 161,513 → 157,217 and h2c 351,527 → 324,492
 *   instructions/request (no cost: smaller heaps are cheaper to mark).
 * - No memory reducer: once allocation slows down, V8's memory reducer runs memory-reducing
 *   collections that also throw compiled code away, so the first seconds of traffic after a quiet
 *   spell recompile it; on a sidecar's one core those compile jobs hold the event loop off for
 *   milliseconds at a time. The proxy's heap shrinker (worker/heap-shrinker.ts) gives memory back
 *   after quiet spells instead. Measured (sidecar, 5 s of HTTP/1.1 load, 30 s idle, then 8 s at
 *   1000 req/s): 103-118 → 32 compile jobs in those 8 s (32-40 after 2 s idle); RSS after 40 s idle
 *   92 MiB either way.
 * - Short builtin calls off: with them V8 maps a copy of its embedded builtins (code in the node
 *   binary) next to the main isolate's code, while worker threads' isolates run the binary's own
 *   copy, so with worker threads ~6 MiB of the same file pages were resident twice. Measured (idle
 *   sidecar, 2 workers) RSS -4.2 MiB; bench/instructions.mjs h1 20,000 requests, 2 runs each:
 *   116,671 vs 116,979 instructions/request (no cost).
 */
export const PROXY_NODE_FLAGS = [
  '--max-semi-space-size=4',
  '--heap-growing-percent=20',
  '--no-memory-reducer',
  '--no-short-builtin-calls',
] as const;

/** A V8 setting's name in a flag: `--no-memory_reducer` and `--memory-reducer=x` are `memory-reducer`. */
function settingOf(arg: string): string {
  return arg.replace(/^--/, '').replace(/=.*$/, '').replaceAll('_', '-').replace(/^no-/, '');
}

/**
 * When the process was started without the proxy's flags (plain `node bin/outrigger.js ...`), the
 * node arguments to start it again with them; undefined when they are there or the operator set the
 * same setting their own way (node flags or NODE_OPTIONS, either sense of a boolean), which wins.
 */
export function missingNodeFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] | undefined {
  const given = new Set([...execArgv, ...(nodeOptions ?? '').split(/\s+/)].filter((a) => a.startsWith('--')).map(settingOf));
  const missing = PROXY_NODE_FLAGS.filter((flag) => !given.has(settingOf(flag)));
  return missing.length ? [...missing, ...execArgv] : undefined;
}
