/**
 * V8 settings the proxy needs for its main thread, which only a process start can give (V8 sizes
 * the main isolate's heap before any JavaScript runs; worker threads get theirs from the Worker's
 * resourceLimits, agent/workers.ts).
 *
 * The young generation: left to itself V8 grows it with the allocation rate, to ~100 MiB under a
 * proxy's load, and keeps it. Capped at 4 MiB semi-spaces (12 MiB in all), as a worker's is.
 */
export const PROXY_NODE_FLAGS = ['--max-semi-space-size=4'] as const;

/**
 * When the process was started without the proxy's flags (plain `node bin/outrigger.js ...`), the
 * node arguments to start it again with them; undefined when they are there or the operator set the
 * same setting their own way (node flags or NODE_OPTIONS), which wins.
 */
export function missingNodeFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] | undefined {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  const missing = PROXY_NODE_FLAGS.filter((flag) => !given.some((arg) => arg.startsWith(flag.split('=')[0])));
  return missing.length ? [...missing, ...execArgv] : undefined;
}
