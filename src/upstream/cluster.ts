import type { Cluster, ClusterLoadAssignment } from '../config/snapshot.js';
import { DEFAULT_OVERPROVISIONING_FACTOR, hostEndpoints, staticHost, type HostEndpoint } from '../config/endpoints.js';
import { hostPort } from '../common/address.js';
import { UpstreamHost } from './host.js';
import { diffHostSet } from './host-set.js';
import { outlierRowsByLabel } from './outlier.js';
import { createLoadBalancer, type LoadBalancer } from './load-balancer.js';
import type { ClusterStats } from '../telemetry/stats.js';
import type { ClusterLimits } from './resource-limits.js';
import type { TlsStore } from '../security/tls-store.js';

/** What requests ask of a Runtime's clusters: one by name (worker/cluster-runtimes.ts makes it on first use). */
export interface ClusterLookup {
  get(name: string): ClusterRuntime | undefined;
}

/** Most distinct original destinations an ORIGINAL_DST cluster keeps pools for. */
const MAX_ORIGINAL_DST_HOSTS = 1024;

/** What a cluster's hosts share in a worker. */
interface ClusterContext {
  readonly stats: ClusterStats;
  /** Circuit breakers; absent: unlimited. */
  readonly limits?: ClusterLimits;
  /** When each host of each cluster was first seen by this worker (kept across Runtimes), for slow start. */
  readonly firstSeen?: Map<string, number>;
  /** The worker's TLS material, for clusters with tls or auto mTLS. */
  readonly tls?: TlsStore;
}

/** One priority (locality level) of a cluster's hosts, as the load balancer weighs it. */
export interface PriorityLoad {
  readonly priority: number;
  /** Of its hosts, the share healthy and not ejected. */
  readonly healthyPercent: number;
  /** Below the panic threshold: every host of it takes traffic. */
  readonly panic: boolean;
  /** The share of requests it takes. */
  readonly loadPercent: number;
}

/**
 * Envoy's priority load from each priority's health (min(100, overprovisioning × healthy %), 100 in
 * panic), highest priority first: each takes up to its health of what is left; when the healths add
 * up to less than 100, shares are normalized. A single priority takes all.
 */
export function priorityLoads(health: readonly number[]): number[] {
  if (health.length <= 1) return health.map(() => 100);
  const total = health.reduce((s, h) => s + h, 0);
  if (total === 0) return health.map(() => 0);
  let remaining = 100;
  return health.map((h) => {
    const load = total < 100 ? (h * 100) / total : Math.min(remaining, h);
    remaining -= load;
    return load;
  });
}

/** The ejected set of a cluster with none (one for all: a mesh has thousands of clusters). */
const NONE_EJECTED: ReadonlySet<string> = new Set();

/** EDS health statuses Envoy keeps out of the healthy set (they take traffic only in panic). */
const UNHEALTHY = new Set(['UNHEALTHY', 'DRAINING', 'TIMEOUT']);

/** An endpoint of this EDS health status is in the healthy set (DEGRADED counts: Outrigger has no degraded tier). */
export function countsAsHealthy(healthStatus: string): boolean {
  return !UNHEALTHY.has(healthStatus);
}

/**
 * A cluster in a worker: its hosts, their pools and the load balancer. Kept across Snapshots while its
 * config is unchanged; an assignment change updates its host set in place (updateHosts).
 */
export class ClusterRuntime {
  private currentHosts: UpstreamHost[];
  private currentAssignment: ClusterLoadAssignment | undefined;
  private lb!: LoadBalancer;
  /** Per-priority balancers (locality failover); empty with a single priority. */
  private levels: { priority: number; lb: LoadBalancer }[] = [];
  private loads: PriorityLoad[] = [];
  private readonly originalDst?: Map<string, UpstreamHost>;
  private ejected: ReadonlySet<string> = NONE_EJECTED;
  readonly stats: ClusterStats;
  readonly limits: ClusterLimits | undefined;
  private readonly tls: TlsStore | undefined;
  private readonly firstSeen: Map<string, number> | undefined;

  constructor(
    readonly config: Cluster,
    assignment: ClusterLoadAssignment | undefined,
    context: ClusterContext,
    /** The rows of its hosts in the shared outlier counters (RuntimeSlots.outlierHosts), with outlier detection. */
    outlierRows?: readonly number[],
  ) {
    ({ stats: this.stats, limits: this.limits, tls: this.tls, firstSeen: this.firstSeen } = context);
    this.currentAssignment = assignment;
    const rowOf = outlierRowsByLabel(assignment, outlierRows);
    this.currentHosts = hostEndpoints(assignment).map((e) => this.createHost(e, rowOf));
    if (config.slowStart && this.firstSeen) this.startSlowStart(this.firstSeen);
    this.lb = this.buildLoadBalancer();
    if (config.type === 'ORIGINAL_DST') this.originalDst = new Map();
  }

  /** The assignment the hosts come from (absent: the cluster has none). */
  get assignment(): ClusterLoadAssignment | undefined {
    return this.currentAssignment;
  }

  get name(): string {
    return this.config.name;
  }

  /** The hosts the load balancer chooses from (ORIGINAL_DST clusters: none; theirs come from traffic). */
  get hosts(): readonly UpstreamHost[] {
    return this.currentHosts;
  }

  private createHost(e: HostEndpoint, rowOf: ReadonlyMap<string, number> | undefined): UpstreamHost {
    return new UpstreamHost(e, this.config, this.stats, this.limits, this.tls, rowOf?.get(hostPort(e.address, e.port)));
  }

  /**
   * An EDS update: the hosts that stay keep their pools, counters, warm-up and outlier row (their
   * weight, priority, health and labels follow the assignment); added hosts are created (and warm up
   * with slow start); removed hosts take no new requests and close their pools once the requests on
   * them finish. The load balancer is rebuilt over the new set, current ejections applied.
   */
  updateHosts(assignment: ClusterLoadAssignment | undefined, outlierRows?: readonly number[]): void {
    const { next, removed } = diffHostSet(this.currentHosts, hostEndpoints(assignment));
    const rowOf = outlierRowsByLabel(assignment, outlierRows);
    const added: UpstreamHost[] = [];
    this.currentHosts = next.map(({ endpoint, kept }) => {
      if (kept) {
        kept.endpoint = endpoint;
        return kept;
      }
      const host = this.createHost(endpoint, rowOf);
      added.push(host);
      return host;
    });
    this.currentAssignment = assignment;
    if (this.config.slowStart && this.firstSeen) {
      const now = Date.now();
      for (const h of added) {
        this.firstSeen.set(this.firstSeenKey(h), now);
        h.slowStart = { ...this.config.slowStart, since: now };
      }
    }
    this.lb = this.buildLoadBalancer();
    for (const h of removed) {
      // a host added back later is new again (it warms up)
      this.firstSeen?.delete(this.firstSeenKey(h));
      void h.close();
    }
  }

  private firstSeenKey(h: UpstreamHost): string {
    return `${this.config.name}|${h.label}`;
  }

  /** Hosts added to a cluster that already existed warm up; the cluster's first hosts do not (Envoy). */
  private startSlowStart(firstSeen: Map<string, number>): void {
    const now = Date.now();
    const clusterKey = `${this.config.name}|`;
    const known = firstSeen.has(clusterKey);
    firstSeen.set(clusterKey, firstSeen.get(clusterKey) ?? now);
    for (const h of this.currentHosts) {
      const key = this.firstSeenKey(h);
      if (!firstSeen.has(key)) firstSeen.set(key, known ? now : 0);
      const since = firstSeen.get(key)!;
      if (since > 0 && now - since < this.config.slowStart!.windowMs) h.slowStart = { ...this.config.slowStart!, since };
    }
  }

  /** Outlier detection ejected this host (by its label): it takes traffic only in panic. */
  isEjected(label: string): boolean {
    return this.ejected.has(label);
  }

  /**
   * Outlier ejections: the load balancer only sees the other hosts, unless too few are left
   * (below the panic threshold, Istio's minHealthPercent) — then it uses all of them, as Envoy does.
   */
  setEjected(ejected: ReadonlySet<string>): void {
    this.ejected = ejected;
    this.lb = this.buildLoadBalancer();
  }

  /**
   * One load balancer per priority (Istio's locality failover), each over its healthy hosts (all of
   * them below the panic threshold). Traffic goes to priorities by Envoy's priority load: a priority
   * takes min(100, overprovisioning factor (1.4 by default) × its healthy %) of what is left,
   * normalized when the total falls short.
   */
  private buildLoadBalancer(): LoadBalancer {
    const { lbPolicy, hashTableSize, panicThresholdPercent = 0 } = this.config;
    const overprovisioning = (this.currentAssignment?.overprovisioningFactor ?? DEFAULT_OVERPROVISIONING_FACTOR) / 100;
    const ejected = this.ejected;
    const priorities = new Map<number, UpstreamHost[]>();
    for (const h of this.currentHosts) {
      const p = h.endpoint.priority;
      let list = priorities.get(p);
      if (!list) priorities.set(p, (list = []));
      list.push(h);
    }
    const levels = [...priorities.entries()].sort((a, b) => a[0] - b[0]).map(([priority, hosts]) => {
      const healthy = hosts.filter((h) => !ejected.has(h.label) && countsAsHealthy(h.endpoint.healthStatus));
      const healthyPercent = (healthy.length * 100) / hosts.length;
      const panic = healthyPercent < panicThresholdPercent;
      return {
        priority,
        healthyPercent,
        panic,
        lb: createLoadBalancer(lbPolicy, panic ? hosts : healthy, hashTableSize, !!this.config.slowStart),
        health: panic ? 100 : Math.min(100, overprovisioning * healthyPercent),
      };
    });
    this.levels = levels.length > 1 ? levels.filter((l) => l.health > 0) : [];
    const loads = priorityLoads(levels.map((l) => l.health));
    this.loads = levels.map((l, i) => ({ priority: l.priority, healthyPercent: l.healthyPercent, panic: l.panic, loadPercent: loads[i] }));
    if (levels.length <= 1) return levels[0]?.lb ?? createLoadBalancer(lbPolicy, [], hashTableSize);
    if (loads.every((load) => load === 0)) return { pick: () => undefined };
    const cumulative: number[] = [];
    let acc = 0;
    for (const load of loads) cumulative.push((acc += load));
    return {
      pick: (hash) => {
        // a hash chooses the priority too, so a key stays on one host while nothing changes
        const r = hash === undefined ? Math.random() * 100 : (hash % 10000) / 100;
        let i = 0;
        while (i < cumulative.length - 1 && r >= cumulative[i]) i++;
        return levels[i].lb.pick(hash);
      },
    };
  }

  /** Per priority (locality): healthy share, panic, and the share of traffic it takes now. */
  get priorityLoads(): readonly PriorityLoad[] {
    return this.loads;
  }

  /**
   * The host for a request. ORIGINAL_DST clusters connect where the client was going:
   * `destination` is the original destination (or, without capture, the request authority), its
   * port replaced by the cluster's upstream port override if any (a headless service's target port).
   */
  pick(destination?: { address: string; port: number }, hash?: number): UpstreamHost | undefined {
    if (!this.originalDst) return this.lb.pick(hash);
    if (!destination) return undefined;
    const port = this.config.originalDstPortOverride ?? destination.port;
    const key = `${destination.address}:${port}`;
    let host = this.originalDst.get(key);
    if (!host) {
      if (this.originalDst.size >= MAX_ORIGINAL_DST_HOSTS) this.evictIdleOriginalDst();
      host = new UpstreamHost(staticHost(destination.address, port), this.config, this.stats, this.limits, this.tls);
      this.originalDst.set(key, host);
      // /clusters lists an original destination from its first pick (Envoy adds it to the host set
      // then), whether or not a request was counted on it: its counters exist from now
      this.stats.host(host.label);
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

  /** A host from a priority (locality) none of `tried` is in, for retries that should go elsewhere. */
  pickOtherPriority(tried: ReadonlySet<number>, hash?: number): UpstreamHost | undefined {
    for (const l of this.levels) {
      if (tried.has(l.priority)) continue;
      const h = l.lb.pick(hash);
      if (h) return h;
    }
    return undefined;
  }

  /** Closes pools after in-flight requests finish. */
  async close(): Promise<void> {
    const all = [...this.currentHosts, ...(this.originalDst?.values() ?? [])];
    await Promise.allSettled(all.map((h) => h.close()));
  }
}
