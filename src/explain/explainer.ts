/**
 * The Runtime explain walks: a Snapshot compiled as a worker compiles it, but with counters and
 * picks of its own (nothing a worker counts or balances changes), kept while the Snapshot is the
 * same, with the agent's current outlier ejections applied before each question.
 */
import type { Snapshot } from '../config/snapshot.js';
import { TlsStore } from '../security/tls-store.js';
import { WorkerStats } from '../telemetry/stats.js';
import { Runtime } from '../worker/runtime.js';
import { explainRequest, type Explanation } from './explain.js';
import type { ExplainRequest } from './request.js';

export class Explainer {
  private runtime: Runtime | undefined;
  /** Ejected hosts by cluster, as the Runtime's clusters read them when first made. */
  private readonly ejections = new Map<string, ReadonlySet<string>>();

  /** `ejected(cluster)`: the hosts outlier detection ejected from it now (the agent's view). */
  async explain(snapshot: Snapshot, req: ExplainRequest, ejected: (cluster: string) => readonly string[] = () => []): Promise<Explanation> {
    if (this.runtime?.snapshot !== snapshot) {
      this.runtime = new Runtime(snapshot, { stats: new WorkerStats(), tls: new TlsStore(), ejections: this.ejections });
      this.runtime.activate();
    }
    const rt = this.runtime;
    for (const c of snapshot.clusters) {
      const now = ejected(c.name);
      const was = this.ejections.get(c.name);
      if (!now.length && !was?.size) continue;
      const set = new Set(now);
      this.ejections.set(c.name, set);
      rt.clusters.ifMade(c.name)?.setEjected(set);
    }
    return explainRequest(rt, req);
  }
}
