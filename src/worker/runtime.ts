import type { AccessLog, Cluster, ClusterLoadAssignment, DownstreamTlsContext, FilterChain, HcmTracing, HttpConnectionManager, Listener, Snapshot, TracingProvider } from '../config/snapshot.js';
import { HttpTracer } from '../tracing/http-tracer.js';
import type { TraceExporters } from '../tracing/exporters.js';
import type { ServerOptions } from '../codec/http1/server-connection.js';
import { SERVER_NAME } from '../http/local-reply.js';
import { FilterChainMatcher } from '../listener/filter-chain-match.js';
import { compileInspectors, type EnabledInspectors } from '../listener/inspectors.js';
import { compilePathNormalizer, type PathNormalizer } from '../http/path-normalize.js';
import { compileStreamTimeouts, type StreamTimeoutConfig } from '../http/stream-timeouts.js';
import type { TlsStore } from '../security/tls-store.js';
import { NETWORK_EXT_AUTHZ_FILTER } from '../config/envoy/rbac.js';
import { HTTP_CONNECTION_MANAGER_FILTER, httpConnectionManagerOf } from '../config/envoy/network-filters.js';
import type { NetworkFilterCreator } from '../network/filter.js';
import { compileNetworkFilters } from '../network/registry.js';
import { loadAuthorizationApi } from '../security/ext-authz/grpc-client.js';
import type { FilterFactoryEntry } from '../http/filter-manager.js';
import { compilePerRouteConfig, httpFilterChain, httpFilterFactories } from '../filters/http/registry.js';
import { RouteTable, type SharedRoutes } from '../router/route-table.js';
import { ClusterRuntime } from '../upstream/cluster.js';
import { nodeHttp2, nodeTls } from '../common/node-builtins.js';
import { ClusterRuntimes } from './cluster-runtimes.js';
import type { RuntimeSlots } from './messages.js';
import { ConfigError } from '../config/errors.js';
import type { HttpConnectionManagerStats, WorkerStats } from '../telemetry/stats.js';
import type { LogSinks } from '../telemetry/access-log/sinks.js';
import { compileAccessLogs, sinkKey, type AccessLogs } from '../telemetry/access-log/logger.js';
import { compileIstioMetrics, type IstioMetricsPolicy } from '../telemetry/istio-metrics.js';
import { buildIstioLabels, type IstioLabelTemplate } from '../telemetry/istio-labels.js';
import { ClusterLimits, ResourceTable } from '../upstream/resource-limits.js';
import type { OutlierCounters, OutlierDetector } from '../upstream/outlier.js';
import type { DownstreamConnectionLimits } from '../listener/connection-limits.js';
import type { OverloadState } from './overload-manager.js';
import type { Socket } from 'node:net';
import type { OriginalDestination } from '../listener/original-dst.js';
import type { TokenBucketStores } from '../filters/http/local_ratelimit/bucket-stores.js';
import { serviceClusterOf } from '../config/node-identity.js';

/** What a worker provides to every Runtime it compiles: its stats, its access-log files, its exporters. */
export interface WorkerServices {
  readonly stats: WorkerStats;
  /** The access-log files (kept across Runtimes); absent: access logs are written nowhere (tests). */
  readonly logSinks?: LogSinks;
  /** Circuit-breaker counters shared with the other workers. */
  readonly limits?: ResourceTable;
  /** Outlier-detection counters shared with the other workers, and where to report a threshold. */
  readonly outliers?: OutlierCounters;
  readonly reportOutlier?: (cluster: string, host: string, detector: OutlierDetector) => void;
  /** Hosts ejected by outlier detection, per cluster (kept across Runtimes). */
  readonly ejections?: ReadonlyMap<string, ReadonlySet<string>>;
  /** When each host was first seen, per cluster (kept across Runtimes), for slow start. */
  readonly hostFirstSeen?: Map<string, number>;
  /** The workload certificate and TLS settings (kept across Runtimes, updated from each Snapshot). */
  readonly tls?: TlsStore;
  /** Downstream connection limits, shared with the other workers; absent: none. */
  readonly connectionLimits?: DownstreamConnectionLimits;
  /** The overload manager's action states; absent: never overloaded. */
  readonly overload?: OverloadState;
  /**
   * Where a redirected connection was going (listener/original-dst.ts when absent). Tests stand in
   * for iptables with it; undefined answers "not known" as the kernel lookup does.
   */
  readonly originalDestination?: (socket: Socket) => OriginalDestination | undefined;
  /** The span exporters (kept across Runtimes); absent: spans are made for no one (tests without tracing). */
  readonly tracing?: TraceExporters;
  /**
   * The local rate limit token buckets (kept across Runtimes): the shared scope's in the table all
   * workers share. Absent: each filter keeps its own (tests).
   */
  readonly tokenBuckets?: TokenBucketStores;
}

/** An HTTP connection manager compiled for one filter chain: what each request on it runs through. */
export interface HttpPipeline {
  /** The listener it belongs to (direction and name, for metrics). */
  readonly config: Listener;
  readonly hcm: HttpConnectionManager;
  readonly routes: RouteTable;
  /** Per-request filter constructors, in chain order (router excluded). */
  readonly filters: readonly FilterFactoryEntry[];
  readonly stats: HttpConnectionManagerStats;
  /** The HTTP/1.1 codec's settings for connections on this chain. */
  readonly serverOptions: ServerOptions;
  /** meshConfig.pathNormalization, compiled; absent: paths are taken as sent. */
  readonly normalizePath?: PathNormalizer['raw'];
  /** stream_idle_timeout, request_timeout, max_stream_duration; absent: all off. */
  readonly streamTimeouts?: StreamTimeoutConfig;
  /** The connection manager's tracing; absent: none configured. */
  readonly tracer?: HttpTracer;
  /** The connection manager's access logs; absent: none configured. */
  readonly accessLogs?: AccessLogs;
  /** Istio's request metrics as the Telemetry API's overrides say. */
  readonly istioMetrics: IstioMetricsPolicy;
}

/** One filter chain compiled: its transport socket and its network filters, built by their factories. */
export interface ChainRuntime {
  readonly name: string;
  /** The chain's DownstreamTlsContext: TLS terminated first. */
  readonly tls?: DownstreamTlsContext;
  /** Per-connection constructors of the chain's network filters, in order, the terminal one last. */
  readonly filters: readonly NetworkFilterCreator[];
  /** The HTTP connection manager's pipeline, when the chain ends in one: requests find it by listener and chain name. */
  readonly http?: HttpPipeline;
}

/** A listener compiled: how a connection finds its chain. */
export interface ListenerRuntime {
  readonly config: Listener;
  readonly matcher: FilterChainMatcher<ChainRuntime>;
  readonly defaultChain: ChainRuntime | undefined;
  readonly chains: ReadonlyMap<string, ChainRuntime>;
  /** The inspecting listener filters on for a destination port. */
  readonly inspectors: (port: number) => EnabledInspectors;
}

/** No shared rows: every worker counts alone (tests, a Runtime built outside the agent). */
export const NO_SLOTS: RuntimeSlots = { listeners: {}, clusters: {}, outlierHosts: {} };

/**
 * A Snapshot compiled for one worker. Swapped in with one assignment; a request keeps the Runtime
 * it started with. Clusters whose config is unchanged are carried over with their pools and
 * load-balancer state; if only their endpoints changed, their host set is updated in place.
 */
export class Runtime {
  readonly listeners = new Map<string, ListenerRuntime>();
  /** Listeners by `address:port`, where use_original_dst hands connections off (see listenerForAddress). */
  private readonly byAddress = new Map<string, ListenerRuntime>();
  /** The Snapshot's clusters, each made on first use (or carried over from the previous Runtime). */
  readonly clusters: ClusterRuntimes;
  /** The Runtime running while this one is built: clusters with an unchanged config are taken from it until the swap. */
  private previous: Runtime | undefined;

  /** Istio label templates by listener, cluster name, protocol and mTLS peer identity. */
  private readonly istioTemplates = new Map<Listener, Map<string, Record<'http' | 'tcp', Map<string, IstioLabelTemplate>>>>();
  /** Host-set updates of carried-over clusters, applied when this Runtime is swapped in (activate). */
  private readonly hostUpdates: (() => void)[] = [];

  constructor(
    readonly snapshot: Snapshot,
    readonly services: WorkerServices,
    previous?: Runtime,
    /** The agent's rows for this Snapshot's listeners, clusters and hosts in the shared tables. */
    readonly slots: RuntimeSlots = NO_SLOTS,
  ) {
    if (usesTls(snapshot)) nodeTls(); // loaded now, at config time, rather than by a first handshake
    services.tls?.update(snapshot.secrets);
    services.tls?.retainServers(snapshot.listeners);
    const routeConfigs = new Map(snapshot.routeConfigs.map((r) => [r.name, r]));
    const tables = new Map<string, RouteTable>();
    const sharedRoutes: SharedRoutes = new WeakMap();
    const pipelines = new Map<HttpConnectionManager, HttpPipeline>();
    const localServiceCluster = serviceClusterOf(snapshot.node);
    /** `chain`: the filter chain's name (its place when it has none), for the filters' stable names. */
    const compileHttp = (l: Listener, hcm: HttpConnectionManager, where: string, chain: string): HttpPipeline => {
      let p = pipelines.get(hcm);
      if (p) return p;
      let routes = tables.get(hcm.routeConfigName);
      if (!routes) tables.set(hcm.routeConfigName, (routes = new RouteTable(routeConfigs.get(hcm.routeConfigName) ?? { name: hcm.routeConfigName, virtualHosts: [] }, compilePerRouteConfig, sharedRoutes)));
      const filters = httpFilterChain(hcm.httpFilters).map(({ filter: f, index: i }) => {
        const factory = httpFilterFactories.get(f.name);
        if (!factory) throw new ConfigError(`unknown HTTP filter "${f.name}"`, { kind: 'Listener', name: l.name, field: `${where}.httpFilters[${i}]` });
        const config = factory.parse(f.config);
        const create = factory.create(config, {
          listenerName: l.name,
          filterLocation: `${chain}/httpFilters[${i}]`,
          // looked up per call: clusters are compiled after the listeners
          pickHost: (name) => this.clusters.get(name)?.pick()?.endpoint,
          clusterStats: (name) => services.stats.cluster(name),
          ...(services.tls?.workloadIdentity ? { localPrincipal: services.tls.workloadIdentity } : {}),
          localServiceCluster,
          localRateLimitStats: (prefix) => services.stats.localRateLimit(prefix),
          ...(services.tokenBuckets ? { tokenBuckets: services.tokenBuckets } : {}),
        });
        return { name: f.name, create, config };
      });
      const stats = services.stats.hcm(hcm.statPrefix);
      const streamTimeouts = compileStreamTimeouts(hcm);
      const serverOptions: ServerOptions = {
        maxHeaderBytes: hcm.maxRequestHeadersKb * 1024,
        idleTimeoutMs: hcm.idleTimeoutMs,
        acceptHttp10: hcm.acceptHttp10,
        serverName: SERVER_NAME,
        ...(hcm.requestHeadersTimeoutMs ? { requestHeadersTimeoutMs: hcm.requestHeadersTimeoutMs, onRequestHeadersTimeout: () => stats.downstreamRqHeaderTimeout++ } : {}),
        ...(streamTimeouts?.idleMs ? { streamFlushTimeoutMs: streamTimeouts.idleMs } : {}),
      };
      const normalizePath = hcm.pathNormalization ? compilePathNormalizer(hcm.pathNormalization).raw : undefined;
      const tracer = hcm.tracing && this.tracerOf(l, hcm.tracing, stats);
      const accessLogs = this.accessLogs(hcm.accessLog);
      pipelines.set(
        hcm,
        (p = { config: l, hcm, routes, filters, stats, serverOptions, istioMetrics: compileIstioMetrics(hcm.istioStats), ...(normalizePath ? { normalizePath } : {}), ...(streamTimeouts ? { streamTimeouts } : {}), ...(tracer ? { tracer } : {}), ...(accessLogs ? { accessLogs } : {}) }),
      );
      return p;
    };
    // the ext_authz gRPC API loads in the background once a TCP chain can call it
    const checksTcp = (c: FilterChain | undefined) => !!c?.filters.some((f) => f.name === NETWORK_EXT_AUTHZ_FILTER);
    if (snapshot.listeners.some((l) => l.filterChains.some(checksTcp) || checksTcp(l.defaultFilterChain))) void loadAuthorizationApi().catch(() => {});
    for (const l of snapshot.listeners) {
      const compile = (c: FilterChain, where: string): ChainRuntime => {
        // the HCM's typed config, as ConfigErrors name it
        const hcmAt = `${where}.filters[${c.filters.findIndex((f) => f.name === HTTP_CONNECTION_MANAGER_FILTER)}].typedConfig`;
        const hcm = httpConnectionManagerOf(c);
        const chain = c.name || where;
        const http = hcm ? compileHttp(l, hcm, hcmAt, chain) : undefined;
        const context = { listener: l, chainName: c.name, runtime: this, httpPipeline: (h: HttpConnectionManager) => compileHttp(l, h, hcmAt, chain) };
        return {
          name: c.name,
          ...(c.transportSocket ? { tls: c.transportSocket.typedConfig } : {}),
          filters: compileNetworkFilters(c, context, where),
          ...(http ? { http } : {}),
        };
      };
      const chains = new Map<string, ChainRuntime>();
      const compiled = l.filterChains.map((c, i) => {
        const value = compile(c, `filterChains[${i}]`);
        chains.set(c.name, value);
        return { chain: c, value };
      });
      const defaultChain = l.defaultFilterChain ? compile(l.defaultFilterChain, 'defaultFilterChain') : undefined;
      if (defaultChain) chains.set(defaultChain.name, defaultChain);
      const lr: ListenerRuntime = { config: l, matcher: new FilterChainMatcher(compiled), defaultChain, chains, inspectors: compileInspectors(l.inspectors) };
      this.listeners.set(l.name, lr);
      this.byAddress.set(addressKey(l.address, l.port), lr);
    }
    const assignments = new Map(snapshot.endpoints.map((a) => [a.clusterName, a]));
    const configs = new Map<string, Cluster>();
    for (const c of snapshot.clusters) {
      configs.set(c.name, c);
      // every cluster's counters exist from now (stats and /clusters list a cluster never called), its runtime from its first use
      services.stats.cluster(c.name);
      if (c.http2 || c.useClientProtocol) nodeHttp2(); // loaded now, at config time, rather than by a first request
    }
    this.previous = previous;
    this.clusters = new ClusterRuntimes(configs, (c) => this.carriedOver(c, assignments.get(c.name)) ?? this.newCluster(c, assignments.get(c.name)));
    for (const c of snapshot.clusters) {
      // made now: slow start dates a cluster's hosts from when it first appears, and an unchanged cluster the
      // running Runtime made keeps its pools and balancer state (the others wait for their first use)
      if (c.slowStart || (previous?.clusters.ifMade(c.name) && this.unchanged(c.name))) this.clusters.makeNow(c.name);
    }
  }

  /** The cluster's config is the same in the running Runtime's Snapshot (its endpoints may differ). */
  private unchanged(name: string): boolean {
    const was = this.previous?.snapshot.resourceVersions.clusters[name];
    return was !== undefined && was === this.snapshot.resourceVersions.clusters[name];
  }

  /**
   * The running Runtime's ClusterRuntime when its config is unchanged (by resourceVersions), made there
   * if it was not yet, so both share it; an endpoints change is applied at the swap (activate). Only
   * until this Runtime is swapped in: after that, the previous one is retired.
   */
  private carriedOver(c: Cluster, assignment: ClusterLoadAssignment | undefined): ClusterRuntime | undefined {
    const previous = this.previous;
    if (!previous || !this.unchanged(c.name)) return undefined;
    const prev = previous.clusters.get(c.name);
    if (prev && previous.snapshot.resourceVersions.endpoints[c.name] !== this.snapshot.resourceVersions.endpoints[c.name]) {
      const outlierSlots = this.slots.outlierHosts[c.name];
      this.hostUpdates.push(() => prev.updateHosts(assignment, outlierSlots));
    }
    return prev;
  }

  private newCluster(c: Cluster, assignment: ClusterLoadAssignment | undefined): ClusterRuntime {
    const { services, slots } = this;
    const context = { stats: services.stats.cluster(c.name), limits: limitsFor(c, slots.clusters[c.name], services), firstSeen: services.hostFirstSeen, tls: services.tls };
    const rt = new ClusterRuntime(c, assignment, context, slots.outlierHosts[c.name]);
    const ejected = services.ejections?.get(c.name);
    if (ejected?.size) rt.setEjected(ejected);
    return rt;
  }

  /** Istio metric labels for requests (or TCP connections) on a listener to a cluster (or to none: local replies). */
  istioLabels(listener: Listener, clusterName: string | undefined, protocol: 'http' | 'tcp' = 'http', peer?: string): IstioLabelTemplate {
    let byListener = this.istioTemplates.get(listener);
    if (!byListener) this.istioTemplates.set(listener, (byListener = new Map()));
    // per request, so no key is built: cluster name, then protocol, then the mTLS peer's identity
    // ('' without one), each string the same object request after request (its hash kept)
    const cluster = clusterName ?? '';
    let byProtocol = byListener.get(cluster);
    if (!byProtocol) byListener.set(cluster, (byProtocol = { http: new Map(), tcp: new Map() }));
    const byPeer = byProtocol[protocol];
    let t = byPeer.get(peer ?? '');
    if (!t) {
      const runtime = clusterName ? this.clusters.get(clusterName) : undefined;
      const identities = { self: this.services.tls?.workloadIdentity, ...(peer ? { peer } : {}) };
      t = buildIstioLabels(this.snapshot.node, listener, runtime, protocol, identities);
      byPeer.set(peer ?? '', t);
    }
    return t;
  }

  /**
   * Envoy's hand-off target for a restored original destination (ConnectionHandlerImpl::
   * getBalancedHandlerByAddress): the listener at exactly that IP and port, else the one at the
   * wildcard address of its family (0.0.0.0 or ::) and that port; undefined when none.
   */
  listenerForAddress(address: string, port: number): ListenerRuntime | undefined {
    return this.byAddress.get(addressKey(address, port)) ?? this.byAddress.get(addressKey(address.includes(':') ? '::' : '0.0.0.0', port));
  }

  /**
   * Called once, when this Runtime replaces the previous one: the clusters it carried over take their
   * new host sets (they are shared with the previous Runtime, so not before it is certain to apply).
   */
  activate(): void {
    this.previous = undefined;
    for (const update of this.hostUpdates.splice(0)) update();
    // reports go to this Runtime's collector hosts from now; exporters of providers it dropped are closed
    this.services.tracing?.activate((name) => this.clusters.get(name), this.tracingProviders);
    // files no connection manager or TCP proxy of this Runtime logs to are closed
    this.services.logSinks?.retain(this.logPaths, (name) => this.clusters.get(name));
  }

  /** The files and exporters this Runtime's access logs write to (sinkKey). */
  private readonly logPaths = new Set<string>();

  /** Access logs (a connection manager's or a TCP proxy's) compiled onto the worker's files; undefined when none. */
  accessLogs(specs: readonly AccessLog[] | undefined): AccessLogs | undefined {
    const sinks = this.services.logSinks;
    if (!sinks || !specs?.length) return undefined;
    for (const a of specs) this.logPaths.add(sinkKey(a));
    return compileAccessLogs(specs, sinks);
  }

  /** The providers this Runtime's connection managers export to. */
  private readonly tracingProviders: TracingProvider[] = [];

  /** A connection manager's tracer: egress on OUTBOUND and gateway listeners (Envoy's operation by traffic direction), ingress on the others. */
  private tracerOf(l: Listener, config: HcmTracing, stats: HttpConnectionManagerStats): HttpTracer {
    const p = config.provider;
    if (p) this.tracingProviders.push(p);
    const sink = p && this.services.tracing?.exporter(p, this.snapshot.node);
    return new HttpTracer(config, l.direction !== 'INBOUND', this.snapshot.node, sink, stats.tracing);
  }

  /** Clusters of `previous` that this Runtime no longer uses: close them once their requests finish. */
  retiredFrom(previous: Runtime): ClusterRuntime[] {
    return [...previous.clusters.values()].filter((c) => this.clusters.ifMade(c.name) !== c);
  }
}

function addressKey(address: string, port: number): string {
  return `${address}|${port}`;
}

/** The cluster's circuit breakers: shared across workers when it has a slot, else this worker's own. */
function limitsFor(c: Cluster, slot: number | undefined, services: WorkerServices): ClusterLimits | undefined {
  if (!c.circuitBreakers) return undefined;
  if (slot !== undefined && services.limits) return new ClusterLimits(services.limits, slot, c.circuitBreakers);
  return new ClusterLimits(new ResourceTable(ResourceTable.create(1, 1), 0), 0, c.circuitBreakers);
}

/** A listener or cluster of the Snapshot has a TLS transport socket. */
function usesTls(snapshot: Snapshot): boolean {
  return (
    snapshot.listeners.some((l) => l.defaultFilterChain?.transportSocket || l.filterChains.some((c) => c.transportSocket)) ||
    snapshot.clusters.some((c) => c.transportSocket || c.transportSocketMatches?.length)
  );
}
