/**
 * `outrigger wait` (pilot-agent wait): polls the proxy's readiness until it answers 200, for a
 * postStart hook that holds the application container until the sidecar serves. Exit 0 once
 * ready, 1 when the timeout passes first.
 */
import type { WaitFlags } from './args.js';

export async function wait(f: WaitFlags): Promise<number> {
  const deadline = Date.now() + f.timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    try {
      const res = await fetch(f.url, { signal: AbortSignal.timeout(Math.min(f.periodMs, 1_000)) });
      await res.arrayBuffer();
      if (res.status === 200) {
        process.stdout.write(`ready: ${f.url}\n`);
        return 0;
      }
      last = `${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() + f.periodMs > deadline) break;
    await new Promise((r) => setTimeout(r, f.periodMs));
  }
  process.stderr.write(`error: ${f.url} not ready within ${f.timeoutMs} ms (last: ${last})\n`);
  return 1;
}
