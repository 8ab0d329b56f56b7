import type { Cluster, Listener, Snapshot } from '../config/snapshot.js';
import type { HttpFilter, StreamCallbacks } from '../http/filter.js';
import { httpFilterFactories } from '../filters/http/registry.js';
import { RouteTable } from '../router/route-table.js';
import { ClusterRuntime } from '../upstream/cluster.js';
import { ConfigError } from '../config/errors.js';
import type { HttpConnectionManagerStats, WorkerStats } from '../telemetry/stats.js';
import type { AccessLogWriter } from '../telemetry/access-log.js';
import { buildIstioLabels, type IstioLabelTemplate } from '../telemetry/istio-labels.js';
import { ClusterLimits, ResourceTable } from '../upstream/resource-limits.js';
import type { OutlierCounters, OutlierDetector } from '../upstream/outlier.js';

/** What a worker provides to every Runtime it compiles: its stats and its access log. */
export interface WorkerServices {
  readonly stats: WorkerStats;
  readonly accessLog: AccessLogWriter;
  /** Circuit-breaker counters shared with the other workers. */
  readonly limits?: ResourceTable;
  /** Outlier-detection counters shared with the other workers, and where to report a threshold. */
  readonly outliers?: OutlierCounters;
  readonly reportOutlier?: (cluster: string, host: string, detector: OutlierDetector) => void;
  /** Hosts ejected by outlier detection, per cluster (kept across Runtimes). */
  readonly ejections?: ReadonlyMap<string, ReadonlySet<string>>;
  /** When each host was first seen, per cluster (kept across Runtimes), for slow start. */
  readonly hostFirstSeen?: Map<string, number>;
}

/** A listener's compiled HTTP pipeline. */
export interface ListenerRuntime {
  readonly config: Listener;
  readonly routes: RouteTable;
  /** Per-request filter constructors, in chain order (router excluded). */
  readonly filters: readonly ((stream: StreamCallbacks) => HttpFilter)[];
  readonly stats: HttpConnectionManagerStats;
}

/**
 * A Snapshot compiled for one worker. Swapped in with one assignment; a request keeps the Runtime
 * it started with. Unchanged clusters are carried over with their pools and load-balancer state.
 */
export class Runtime {
  readonly listeners = new Map<string, ListenerRuntime>();
  readonly clusters = new Map<string, ClusterRuntime>();

  private readonly istioTemplates = new Map<string, IstioLabelTemplate>();
  private templateIds = 0;

  constructor(
    readonly snapshot: Snapshot,
    readonly services: WorkerServices,
    previous?: Runtime,
  ) {
    const routeConfigs = new Map(snapshot.routeConfigs.map((r) => [r.name, r]));
    for (const l of snapshot.listeners) {
      const rc = routeConfigs.get(l.http.routeConfigName) ?? { name: l.http.routeConfigName, virtualHosts: [] };
      const filters = l.http.httpFilters.map((f, i) => {
        const factory = httpFilterFactories.get(f.name);
        if (!factory) throw new ConfigError(`unknown HTTP filter "${f.name}"`, { kind: 'Listener', name: l.name, field: `http.httpFilters[${i}]` });
        return factory.create(factory.parse(f.config), { listenerName: l.name });
      });
      this.listeners.set(l.name, { config: l, routes: new RouteTable(rc), filters, stats: services.stats.hcm(l.http.statPrefix) });
    }
    for (const c of snapshot.clusters) {
      const prev = previous?.clusters.get(c.name);
      let rt = prev && sameCluster(prev.config, c) ? prev : undefined;
      if (!rt) {
        rt = new ClusterRuntime(c, services.stats.cluster(c.name), limitsFor(c, services), services.hostFirstSeen);
        const ejected = services.ejections?.get(c.name);
        if (ejected?.size) rt.setEjected(ejected);
      }
      this.clusters.set(c.name, rt);
    }
  }

  /** Istio metric labels for requests on a listener to a cluster (or to none: local replies). */
  istioLabels(listener: Listener, clusterName: string | undefined): IstioLabelTemplate {
    const key = `${listener.name}\u0000${clusterName ?? ''}`;
    let t = this.istioTemplates.get(key);
    if (!t) {
      const cluster = clusterName ? this.clusters.get(clusterName)?.config : undefined;
      t = buildIstioLabels(this.snapshot.node, listener, cluster, `${this.snapshot.version}.${this.templateIds++}`);
      this.istioTemplates.set(key, t);
    }
    return t;
  }

  /** Clusters of `previous` that this Runtime no longer uses: close them once their requests finish. */
  retiredFrom(previous: Runtime): ClusterRuntime[] {
    return [...previous.clusters.values()].filter((c) => this.clusters.get(c.name) !== c);
  }
}

/** The cluster's circuit breakers: shared across workers when it has a slot, else this worker's own. */
function limitsFor(c: Cluster, services: WorkerServices): ClusterLimits | undefined {
  if (!c.circuitBreakers) return undefined;
  if (c.resourceSlot !== undefined && services.limits) return new ClusterLimits(services.limits, c.resourceSlot, c.circuitBreakers);
  return new ClusterLimits(new ResourceTable(ResourceTable.create(1, 1), 0), 0, c.circuitBreakers);
}

function sameCluster(a: Cluster, b: Cluster): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
