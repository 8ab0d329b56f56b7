import type { Snapshot } from '../config/snapshot.js';
import { endpointLabels } from '../config/endpoints.js';
import { log } from '../telemetry/log.js';
import { deepFreeze } from '../common/deep-freeze.js';
import { ResourceSlots } from '../upstream/resource-limits.js';
import { OutlierSlots } from '../upstream/outlier.js';
import type { RuntimeSlots } from '../worker/messages.js';

/** Clusters whose circuit breakers are shared across workers; beyond this each worker counts alone. */
export const MAX_LIMITED_CLUSTERS = 4096;
/** Endpoints whose outlier counters are shared across workers. */
export const MAX_OUTLIER_HOSTS = 65536;
/** Listeners whose connection counts are shared across workers (a per-listener limit needs one). */
export const MAX_COUNTED_LISTENERS = 4096;

/**
 * The agent's rows in the tables the workers share, by name, so a reload keeps a listener's,
 * cluster's or host's row: what it counted carries over.
 */
export class RuntimeSlotAssigner {
  private readonly listeners = new ResourceSlots(MAX_COUNTED_LISTENERS);
  private readonly clusters = new ResourceSlots(MAX_LIMITED_CLUSTERS);
  private readonly outlierHosts = new OutlierSlots(MAX_OUTLIER_HOSTS);

  /** The rows of a Snapshot's listeners, clusters with circuit breakers and hosts of clusters with outlier detection; frozen, as the Snapshot. */
  assign(snapshot: Snapshot): RuntimeSlots {
    const out: RuntimeSlots = { listeners: {}, clusters: {}, outlierHosts: {} };
    for (const l of snapshot.listeners) {
      const slot = this.listeners.slotFor(l.name);
      if (slot !== undefined) out.listeners[l.name] = slot;
      else log.warn(`listener ${l.name}: more than ${MAX_COUNTED_LISTENERS} listeners; its connection limit does not apply`);
    }
    const assignments = new Map(snapshot.endpoints.map((a) => [a.clusterName, a]));
    for (const c of snapshot.clusters) {
      if (c.outlierDetection) out.outlierHosts[c.name] = this.outlierHosts.rowsFor(c.name, endpointLabels(assignments.get(c.name)));
      if (!c.circuitBreakers) continue;
      const slot = this.clusters.slotFor(c.name);
      if (slot !== undefined) out.clusters[c.name] = slot;
      else log.warn(`cluster ${c.name}: more than ${MAX_LIMITED_CLUSTERS} clusters with circuit breakers; its limits apply per worker`);
    }
    return deepFreeze(out);
  }
}
