/**
 * `outrigger explain`: loads the config as `run` would (-c, the identity flags) and explains one
 * request against it, or asks a running proxy's admin API (--admin) to explain it against the
 * config it is serving. Exit 0 with the explanation, 1 when the config or the proxy fails, 2 for a
 * request that cannot be understood.
 */
import { describeLoadError, loadSnapshot } from '../config/load.js';
import { Explainer } from '../explain/explainer.js';
import { explainQuery, ExplainUsageError, parseExplainRequest } from '../explain/request.js';
import { renderExplanation } from '../explain/render.js';
import type { RunFlags } from './args.js';
import { loadOptionsOf } from './lifecycle.js';

export async function explain(flags: RunFlags): Promise<number> {
  const f = flags.explain!;
  if (f.admin) return explainByAdmin(f.admin, flags);
  let request;
  try {
    request = parseExplainRequest(f.request, flags.identity.mode === 'gateway' ? 'gateway' : 'outbound');
  } catch (e) {
    if (!(e instanceof ExplainUsageError)) throw e;
    process.stderr.write(`outrigger: ${e.message}\n`);
    return 2;
  }
  let snapshot;
  try {
    ({ snapshot } = await loadSnapshot(loadOptionsOf(flags, flags.configs)));
  } catch (e) {
    for (const line of describeLoadError(e)) process.stderr.write(`error: ${line}\n`);
    return 1;
  }
  const explanation = await new Explainer().explain(snapshot, request);
  process.stdout.write(f.output === 'json' ? `${JSON.stringify(explanation, null, 2)}\n` : renderExplanation(explanation));
  return 0;
}

async function explainByAdmin(admin: string, flags: RunFlags): Promise<number> {
  const f = flags.explain!;
  const q = explainQuery(f.request);
  q.set('format', f.output);
  let res: Response;
  try {
    res = await fetch(`${admin.replace(/\/$/, '')}/explain?${q}`);
  } catch (e) {
    process.stderr.write(`error: cannot reach the admin API at ${admin}: ${(e as Error).message}\n`);
    return 1;
  }
  const body = await res.text();
  if (!res.ok) {
    process.stderr.write(`error: ${admin}/explain answered ${res.status}: ${body}`);
    return res.status === 400 ? 2 : 1;
  }
  process.stdout.write(body);
  return 0;
}
