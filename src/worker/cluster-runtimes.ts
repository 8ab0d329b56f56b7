import type { Cluster } from '../config/snapshot.js';
import type { ClusterLookup, ClusterRuntime } from '../upstream/cluster.js';

/**
 * A Runtime's clusters, each made on its first use: its hosts, load balancer, circuit breakers and
 * outlier rows (ClusterRuntime). A sidecar of a large mesh has every service's clusters (3,300 with
 * 22,000 hosts for 1,000 services) and calls few of them; the ones it never calls cost only their
 * config here. What is shown of a cluster does not wait for its first use: /clusters and
 * /config_dump come from the Snapshot, its counters (ClusterStats) are made with the Runtime.
 */
export class ClusterRuntimes implements ClusterLookup {
  private readonly made = new Map<string, ClusterRuntime>();

  constructor(
    /** Every cluster of the Snapshot, by name. */
    private readonly configs: ReadonlyMap<string, Cluster>,
    /** Makes (or carries over) a cluster's runtime; called once per cluster, on its first use. */
    private readonly make: (config: Cluster) => ClusterRuntime,
  ) {}

  /** The cluster's runtime, made now if this is its first use; undefined for a cluster the Snapshot does not have. */
  get(name: string): ClusterRuntime | undefined {
    const rt = this.made.get(name);
    if (rt !== undefined) return rt;
    const config = this.configs.get(name);
    if (config === undefined) return undefined;
    const created = this.make(config);
    this.made.set(name, created);
    return created;
  }

  /** The cluster's runtime if it was made already (never makes one: for updates that only concern made ones). */
  ifMade(name: string): ClusterRuntime | undefined {
    return this.made.get(name);
  }

  /** Makes a cluster's runtime now (those whose state starts with the Snapshot, e.g. slow start). */
  makeNow(name: string): void {
    this.get(name);
  }

  has(name: string): boolean {
    return this.configs.has(name);
  }

  /** Clusters in the Snapshot, made or not. */
  get size(): number {
    return this.configs.size;
  }

  /** The runtimes made so far (the ones with pools and state to close or carry over). */
  values(): IterableIterator<ClusterRuntime> {
    return this.made.values();
  }
}
