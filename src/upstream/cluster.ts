import type { Cluster } from '../config/snapshot.js';
import { UpstreamHost } from './host.js';
import { createLoadBalancer, type LoadBalancer } from './load-balancer.js';
import type { ClusterStats } from '../telemetry/stats.js';
import type { ClusterLimits } from './resource-limits.js';

/** Most distinct original destinations an ORIGINAL_DST cluster keeps pools for. */
const MAX_ORIGINAL_DST_HOSTS = 1024;

/** A cluster in a worker: its hosts, their pools and the load balancer. Kept across Snapshots while unchanged. */
export class ClusterRuntime {
  readonly hosts: UpstreamHost[];
  private lb: LoadBalancer;
  private readonly originalDst?: Map<string, UpstreamHost>;

  constructor(
    readonly config: Cluster,
    readonly stats: ClusterStats,
    readonly limits?: ClusterLimits,
  ) {
    this.hosts = config.endpoints.map((e) => new UpstreamHost(e, config, stats, limits));
    this.lb = createLoadBalancer(config.lbPolicy, this.hosts, config.hashTableSize);
    if (config.type === 'ORIGINAL_DST') this.originalDst = new Map();
  }

  get name(): string {
    return this.config.name;
  }

  /**
   * Outlier ejections: the load balancer only sees the other hosts, unless too few are left
   * (below the panic threshold, Istio's minHealthPercent) — then it uses all of them, as Envoy does.
   */
  setEjected(ejected: ReadonlySet<string>): void {
    const healthy = this.hosts.filter((h) => !ejected.has(h.label));
    const panic = this.hosts.length > 0 && (healthy.length * 100) / this.hosts.length < (this.config.panicThresholdPercent ?? 0);
    this.lb = createLoadBalancer(this.config.lbPolicy, panic ? this.hosts : healthy, this.config.hashTableSize);
  }

  /**
   * The host for a request. ORIGINAL_DST clusters connect where the client was going:
   * `destination` is the original destination (or, without capture, the request authority).
   */
  pick(destination?: { address: string; port: number }, hash?: number): UpstreamHost | undefined {
    if (!this.originalDst) return this.lb.pick(hash);
    if (!destination) return undefined;
    const key = `${destination.address}:${destination.port}`;
    let host = this.originalDst.get(key);
    if (!host) {
      if (this.originalDst.size >= MAX_ORIGINAL_DST_HOSTS) this.evictIdleOriginalDst();
      host = new UpstreamHost({ address: destination.address, port: destination.port, weight: 1, labels: {} }, this.config, this.stats, this.limits);
      this.originalDst.set(key, host);
    }
    return host;
  }

  private evictIdleOriginalDst(): void {
    for (const [key, h] of this.originalDst!) {
      if (h.active === 0) {
        this.originalDst!.delete(key);
        void h.close();
      }
      if (this.originalDst!.size < MAX_ORIGINAL_DST_HOSTS / 2) break;
    }
  }

  /** Closes pools after in-flight requests finish. */
  async close(): Promise<void> {
    const all = [...this.hosts, ...(this.originalDst?.values() ?? [])];
    await Promise.allSettled(all.map((h) => h.close()));
  }
}
