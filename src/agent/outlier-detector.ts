import type { ClusterLoadAssignment, OutlierDetection, Snapshot } from '../config/snapshot.js';
import type { RuntimeSlots } from '../worker/messages.js';
import { log } from '../telemetry/log.js';
import { outlierRowsByLabel, type OutlierCounters, type OutlierDetector as Detector } from '../upstream/outlier.js';

interface HostState {
  ejected: boolean;
  ejectedUntil: number;
  /** Envoy's ejection multiplier: the ejection time is baseEjectionTime × this. */
  ejections: number;
  slot: number;
}

interface ClusterState {
  config: OutlierDetection;
  /** Its hosts (the assignment) and their rows (RuntimeSlots order), read when a host is reported. */
  assignment: ClusterLoadAssignment | undefined;
  rows: readonly number[];
  /**
   * The hosts with something to remember: ejected, or an ejection multiplier to wind down. A host
   * without state is one that was never ejected (most of a mesh's, which are not kept one by one).
   */
  hosts: Map<string, HostState>;
  /** When its interval ticks started: ticks fall at since + k × interval. */
  since: number;
  /** Running only while a host is ejected or has an ejection multiplier to wind down (nothing to do otherwise). */
  timer: NodeJS.Timeout | undefined;
  ejectionsTotal: number;
  enforced: Record<Detector, number>;
}

/** One cluster's outlier detection stats (cluster.<name>.outlier_detection.*). */
export interface OutlierClusterStats {
  cluster: string;
  active: number;
  total: number;
  enforced: Record<Detector, number>;
}

/**
 * Envoy's outlier detection, decided in one place for all workers: workers report a host whose
 * consecutive-error counter reached its threshold; this ejects it (within maxEjectionPercent, at
 * least one host), un-ejects it after baseEjectionTime × ejections, and tells the workers.
 */
export class OutlierDetectorHub {
  private readonly clusters = new Map<string, ClusterState>();

  constructor(
    private readonly counters: OutlierCounters,
    private readonly broadcast: (cluster: string, ejected: string[]) => void,
  ) {}

  /**
   * Follows a new Snapshot: starts, keeps or stops per-cluster detection over the hosts that have an
   * outlier row. A cluster's interval timer runs only while one of its hosts is ejected or has an
   * ejection multiplier above zero: the interval has nothing else to do here, and a mesh of
   * thousands of clusters would otherwise wake the agent thousands of times per interval.
   */
  update(snapshot: Snapshot, slots: RuntimeSlots): void {
    const wanted = new Map(snapshot.clusters.filter((c) => c.outlierDetection).map((c) => [c.name, c]));
    for (const [name, st] of this.clusters) {
      if (!wanted.has(name)) {
        clearInterval(st.timer);
        this.clusters.delete(name);
      }
    }
    const assignments = new Map(snapshot.endpoints.map((a) => [a.clusterName, a]));
    for (const [name, c] of wanted) this.sync(name, c.outlierDetection!, assignments.get(name), slots.outlierHosts[name] ?? []);
  }

  private sync(name: string, od: OutlierDetection, assignment: ClusterLoadAssignment | undefined, rows: readonly number[]): void {
    let st = this.clusters.get(name);
    if (st && st.config.intervalMs !== od.intervalMs) {
      // a new interval starts its ticks now
      clearInterval(st.timer);
      st.timer = undefined;
      st.since = Date.now();
      st.config = od;
      this.wake(name, st);
    }
    if (!st) {
      st = { config: od, assignment, rows, hosts: new Map(), since: Date.now(), timer: undefined, ejectionsTotal: 0, enforced: { consecutive_5xx: 0, consecutive_gateway_failure: 0, consecutive_local_origin_failure: 0 } };
      this.clusters.set(name, st);
    }
    st.config = od;
    st.assignment = assignment;
    st.rows = rows;
    // a host that left the cluster is forgotten (one that stays keeps its row, so its state)
    if (st.hosts.size === 0) return;
    const rowOf = this.rowsOf(st);
    for (const label of st.hosts.keys()) if (!rowOf.has(label)) st.hosts.delete(label);
  }

  /** The cluster's hosts that have a row, by label. */
  private rowsOf(st: ClusterState): ReadonlyMap<string, number> {
    return outlierRowsByLabel(st.assignment, st.rows) ?? new Map();
  }

  /** Starts the cluster's interval ticks (on their phase) if a host needs them and they are not running. */
  private wake(name: string, st: ClusterState): void {
    if (st.timer || ![...st.hosts.values()].some((h) => h.ejected || h.ejections > 0)) return;
    const interval = st.config.intervalMs;
    st.timer = setTimeout(() => {
      st.timer = setInterval(() => this.onInterval(name), interval).unref();
      this.onInterval(name);
    }, interval - ((Date.now() - st.since) % interval)).unref();
  }

  /** A worker saw `host` reach a detector's threshold. */
  report(cluster: string, host: string, detector: Detector): void {
    const st = this.clusters.get(cluster);
    if (!st || st.hosts.get(host)?.ejected) return;
    const rowOf = this.rowsOf(st);
    const slot = rowOf.get(host);
    if (slot === undefined) return;
    const ejected = [...st.hosts.values()].filter((x) => x.ejected).length;
    // maxEjectionPercent caps ejections, but Envoy always allows ejecting one host
    if (ejected > 0 && ((ejected + 1) * 100) / rowOf.size > st.config.maxEjectionPercent) {
      this.counters.reset(slot);
      return;
    }
    let h = st.hosts.get(host);
    if (!h) st.hosts.set(host, (h = { ejected: false, ejectedUntil: 0, ejections: 0, slot }));
    h.ejections++;
    h.ejected = true;
    h.ejectedUntil = Date.now() + st.config.baseEjectionTimeMs * h.ejections;
    st.ejectionsTotal++;
    st.enforced[detector]++;
    this.counters.reset(h.slot);
    log.info(`outlier detection: ejected ${host} from ${cluster} (${detector}) for ${st.config.baseEjectionTimeMs * h.ejections} ms`);
    this.wake(cluster, st);
    this.broadcast(cluster, this.ejected(cluster));
  }

  private onInterval(cluster: string): void {
    const st = this.clusters.get(cluster);
    if (!st) return;
    const now = Date.now();
    let changed = false;
    for (const [label, h] of st.hosts) {
      if (h.ejected && now >= h.ejectedUntil) {
        h.ejected = false;
        changed = true;
        // a returning host starts over: what it answered while ejected does not count
        this.counters.reset(h.slot);
        log.info(`outlier detection: ${label} returns to ${cluster}`);
      } else if (!h.ejected && h.ejections > 0) {
        h.ejections--; // every interval a host stays in, its next ejection gets shorter (Envoy)
        if (h.ejections === 0) st.hosts.delete(label); // as a host never ejected: nothing to remember
      }
    }
    if (changed) this.broadcast(cluster, this.ejected(cluster));
    if (![...st.hosts.values()].some((h) => h.ejected || h.ejections > 0)) {
      clearInterval(st.timer);
      st.timer = undefined;
    }
  }

  ejected(cluster: string): string[] {
    const st = this.clusters.get(cluster);
    return st ? [...st.hosts].filter(([, h]) => h.ejected).map(([l]) => l) : [];
  }

  /** Every cluster's current ejections, for a respawned worker. */
  allEjections(): [string, string[]][] {
    return [...this.clusters.keys()].map((c) => [c, this.ejected(c)]);
  }

  /** Envoy's outlier_detection.* cluster stats. */
  stats(): OutlierClusterStats[] {
    return [...this.clusters.keys()].map((cluster) => this.clusterStats(cluster)!);
  }

  /** The clusters with outlier detection. */
  clusterNames(): IterableIterator<string> {
    return this.clusters.keys();
  }

  /** One cluster's ejection stats (counted over its hosts: worked out only for the clusters asked about). */
  clusterStats(cluster: string): OutlierClusterStats | undefined {
    const st = this.clusters.get(cluster);
    if (!st) return undefined;
    let active = 0;
    for (const h of st.hosts.values()) if (h.ejected) active++;
    return { cluster, active, total: st.ejectionsTotal, enforced: st.enforced };
  }

  stop(): void {
    for (const st of this.clusters.values()) clearInterval(st.timer);
  }
}
