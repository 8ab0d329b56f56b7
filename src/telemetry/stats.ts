import type { TracingStats } from '../tracing/http-tracer.js';
import { newTracerStats, type TracerStats } from '../tracing/tracer-stats.js';
import type { IstioLabelTemplate } from './istio-labels.js';
import type { ScopeDecision, StatsMatcher } from './stats-matcher.js';
/**
 * Per-worker statistics. The hot path increments plain numeric fields (no messages, no maps
 * for Envoy stats); the agent asks every worker for a StatsSnapshot at scrape time and sums them.
 */

/** The map's value for `key`, created on first use. */
function getOrCreate<K, V>(map: Map<K, V>, key: K, create: () => V): V {
  let v = map.get(key);
  if (v === undefined) map.set(key, (v = create()));
  return v;
}

/** Istio's buckets for istio_request_duration_milliseconds. */
export const DURATION_BUCKETS_MS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000];
/** Istio's buckets for istio_request_bytes / istio_response_bytes: exponential(1, 10, 9). */
export const BYTES_BUCKETS = [1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000];

export class HostStats {
  cxTotal = 0;
  cxActive = 0;
  cxConnectFail = 0;
  rqTotal = 0;
  rqActive = 0;
  rqSuccess = 0;
  rqError = 0;
}

/** The maps of a ClusterStats that has none yet. */
const NONE: ReadonlyMap<never, never> = new Map<never, never>();

export class ClusterStats {
  upstreamCxTotal = 0;
  upstreamCxActive = 0;
  upstreamCxConnectFail = 0;
  upstreamCxDestroy = 0;
  upstreamCxOverflow = 0;
  upstreamCxNoneHealthy = 0;
  upstreamCxRxBytesTotal = 0;
  upstreamCxTxBytesTotal = 0;
  upstreamRqTotal = 0;
  upstreamRqActive = 0;
  upstreamRqPendingOverflow = 0;
  upstreamRqPendingTotal = 0;
  upstreamRqPendingActive = 0;
  upstreamRqPendingFailureEject = 0;
  upstreamRqTimeout = 0;
  upstreamRqPerTryTimeout = 0;
  upstreamRqRetry = 0;
  upstreamRqRetryOverflow = 0;
  /** Envoy's HTTP ext_authz filter counts under the route's target cluster: cluster.<name>.ext_authz.*. */
  extAuthzOk = 0;
  extAuthzDenied = 0;
  extAuthzError = 0;
  extAuthzFailureModeAllowed = 0;
  /** Responses by class (index 1..5). */
  readonly rqClass = [0, 0, 0, 0, 0, 0];
  // the two maps are made on first use: a sidecar of a large mesh has thousands of clusters it never calls
  private byCode: Map<number, number> | undefined;
  private byHost: Map<string, HostStats> | undefined;

  /** Responses by exact code. */
  get rqCode(): ReadonlyMap<number, number> {
    return this.byCode ?? NONE;
  }

  /** Per endpoint (`10.0.0.1:9080`) that had a request or connection, for /clusters. */
  get hosts(): ReadonlyMap<string, HostStats> {
    return this.byHost ?? NONE;
  }

  host(label: string): HostStats {
    return getOrCreate((this.byHost ??= new Map()), label, () => new HostStats());
  }

  response(code: number): void {
    this.rqClass[(code / 100) | 0]++;
    const byCode = (this.byCode ??= new Map());
    byCode.set(code, (byCode.get(code) ?? 0) + 1);
  }
}

export class ListenerStats {
  downstreamCxTotal = 0;
  downstreamCxActive = 0;
  downstreamCxDestroy = 0;
  /** Connections that matched no filter chain (and the listener had no default chain). */
  noFilterChainMatch = 0;
  /** Protocol detection gave up waiting for the first bytes. */
  downstreamPreCxTimeout = 0;
  /** Envoy's listener.<addr>.ssl.*: handshakes done; failed (including clients without a trusted certificate). */
  sslHandshake = 0;
  sslHandshakeError = 0;
  /** Connections closed by network RBAC (AuthorizationPolicy on TCP). */
  rbacDenied = 0;
  /** Connections refused at accept: the listener's connection limit, the global one, an overload action. */
  downstreamCxOverflow = 0;
  downstreamGlobalCxOverflow = 0;
  downstreamCxOverloadReject = 0;
}

/** Envoy's overload manager stats: overload.<monitor>.pressure (percent), overload.<action>.active. */
export class OverloadStats {
  /** Pressure from 0 to 1 per resource monitor. */
  readonly pressure = new Map<string, number>();
  readonly failedUpdates = new Map<string, number>();
  readonly active = new Map<string, boolean>();
}

/** Envoy's network ext_authz filter stats, ext_authz.<stat_prefix>.* (Istio's prefix: `tcp`). */
export class NetworkExtAuthzStats {
  total = 0;
  ok = 0;
  denied = 0;
  error = 0;
  failureModeAllowed = 0;
  cxClosed = 0;
  /** Checks in flight (a gauge). */
  active = 0;
}

/** Envoy's HTTP local rate limit filter stats, <stat_prefix>.http_local_rate_limit.*. */
export class LocalRateLimitStats {
  /** Requests the filter looked at (filter_enabled). */
  enabled = 0;
  /** Requests over the limit that were refused (filter_enforced). */
  enforced = 0;
  /** Requests over the limit, refused or not. */
  rateLimited = 0;
  /** Requests within the limit. */
  ok = 0;
}

/** The scope under a local rate limit's stat prefix (Envoy: `<stat_prefix>.http_local_rate_limit.`). */
export const LOCAL_RATE_LIMIT_SCOPE = 'http_local_rate_limit';

/** Envoy's tcp_proxy stats, per stat prefix. */
export class TcpProxyStats {
  downstreamCxTotal = 0;
  downstreamCxNoRoute = 0;
  downstreamCxRxBytesTotal = 0;
  downstreamCxTxBytesTotal = 0;
  downstreamFlowControlPausedReadingTotal = 0;
  downstreamFlowControlResumedReadingTotal = 0;
  idleTimeout = 0;
  upstreamFlushTotal = 0;
}

/** Which of Istio's request metrics a series reports (bits of IstioRequestSeries.metrics). */
export const RequestMetric = { Count: 1, Duration: 2, RequestSize: 4, ResponseSize: 8 } as const;
export const ALL_REQUEST_METRICS = 15;
/** Which of Istio's TCP metrics a series reports (bits of IstioTcpSeries.metrics). */
export const TcpMetric = { Opened: 1, Closed: 2, Sent: 4, Received: 8 } as const;
export const ALL_TCP_METRICS = 15;

/** A label set of one group of a Telemetry override (istio-metrics.ts): its id, what it reports, the labels it changes. */
export interface IstioSeriesVariant {
  /** Equal for equal overrides and label values: the series is shared. */
  readonly id: string;
  readonly metrics: number;
  readonly remove: readonly string[];
  readonly add: Readonly<Record<string, string>>;
}

function variantLabels(labels: Record<string, string>, v: IstioSeriesVariant | undefined): Record<string, string> {
  if (!v) return labels;
  for (const k of v.remove) delete labels[k];
  return Object.assign(labels, v.add);
}

/** One label set of Istio's TCP metrics. */
export class IstioTcpSeries {
  opened = 0;
  closed = 0;
  sentBytes = 0;
  receivedBytes = 0;
  constructor(
    readonly labels: Readonly<Record<string, string>>,
    /** TcpMetric bits: the metrics this series reports. */
    readonly metrics = ALL_TCP_METRICS,
  ) {}
}

export class HttpConnectionManagerStats {
  downstreamRqTotal = 0;
  downstreamRqActive = 0;
  downstreamRqHttp1Total = 0;
  downstreamRqHttp2Total = 0;
  /** Requests refused with 503 by the overload manager (stop_accepting_requests). */
  downstreamRqOverloadClose = 0;
  /** Streams the proxy reset after their response started (an upstream failure or timeout mid-response). */
  downstreamRqTxReset = 0;
  /** Streams ended by stream_idle_timeout, request_timeout, max_stream_duration, request_headers_timeout. */
  downstreamRqIdleTimeout = 0;
  downstreamRqTimeout = 0;
  downstreamRqMaxDurationReached = 0;
  downstreamRqHeaderTimeout = 0;
  readonly rqClass = [0, 0, 0, 0, 0, 0];
  /** http.<prefix>.tracing.<reason>: the tracing decisions (connection managers with tracing only). */
  readonly tracing: TracingStats = { random_sampling: 0, service_forced: 0, client_enabled: 0, not_traceable: 0 };
}

/** One istio_requests_total series (a label set) with its three histograms. */
export class IstioRequestSeries {
  count = 0;
  readonly duration = new Histogram(DURATION_BUCKETS_MS);
  readonly requestBytes = new Histogram(BYTES_BUCKETS);
  readonly responseBytes = new Histogram(BYTES_BUCKETS);
  constructor(
    readonly labels: Readonly<Record<string, string>>,
    /** RequestMetric bits: the metrics this series reports. */
    readonly metrics = ALL_REQUEST_METRICS,
  ) {}
}

export class Histogram {
  /** Cumulative counts are computed at render time; these are per-bucket, plus +Inf last. */
  readonly counts: number[];
  sum = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Array(bounds.length + 1).fill(0);
  }
  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.counts[i]++;
    this.sum += v;
  }
}

/** Plain, structured-clone-safe stats of one worker. */
export interface StatsSnapshot {
  /** statKey(family, tag, stat) → value; e.g. family `cluster`, tag the cluster name, stat `upstream_rq_total`. */
  counters: Record<string, number>;
  gauges: Record<string, number>;
  /** `metrics`: RequestMetric bits, the metrics reported for this label set. */
  istioRequests: { labels: Record<string, string>; metrics: number; count: number; duration: HistogramData; requestBytes: HistogramData; responseBytes: HistogramData }[];
  /** `metrics`: TcpMetric bits. */
  istioTcp: { labels: Record<string, string>; metrics: number; opened: number; closed: number; sentBytes: number; receivedBytes: number }[];
}

export interface HistogramData {
  counts: number[];
  sum: number;
}

/** Envoy stats are named `<family>.<tag>.<stat>`; the key keeps the three parts apart for tag extraction. */
export function statKey(family: string, tag: string, stat: string): string {
  return `${family}\u0001${tag}\u0001${stat}`;
}

/** The start of every key of a family, to pick a family's keys without splitting them. */
export function statFamilyPrefix(family: string): string {
  return `${family}\u0001`;
}

export function splitStatKey(key: string): [family: string, tag: string, stat: string] {
  const [family, tag, stat] = key.split('\u0001');
  return [family, tag, stat];
}

// the names of per-class stats made once: the stats matcher's answers are remembered by name, and a
// name made per scrape would be hashed again each time
const UPSTREAM_RQ_CLASS = ['', 'upstream_rq_1xx', 'upstream_rq_2xx', 'upstream_rq_3xx', 'upstream_rq_4xx', 'upstream_rq_5xx'];
const DOWNSTREAM_RQ_CLASS = ['', 'downstream_rq_1xx', 'downstream_rq_2xx', 'downstream_rq_3xx', 'downstream_rq_4xx', 'downstream_rq_5xx'];

/**
 * Writes stats into a snapshot's counters and gauges scope by scope (`<family>.<tag>.`), leaving out
 * what the stats matcher rejects; the matcher decides once per scope. Per-host stats are /clusters'
 * and always written.
 */
export class StatsWriter {
  private keyPrefix = '';
  private decision: ScopeDecision = true;

  constructor(
    private readonly counters: Record<string, number>,
    private readonly gauges: Record<string, number>,
    private readonly matcher?: StatsMatcher,
  ) {}

  /** Starts writing the stats of one scope; false when the matcher keeps none of them. */
  scope(family: string, tag: string): boolean {
    this.keyPrefix = statKey(family, tag, '');
    this.decision = this.matcher && family !== 'host' ? this.matcher.scope(`${family}.${tag}.`) : true;
    return this.decision !== false;
  }

  counter(stat: string, value: number): void {
    if (this.keeps(stat)) this.counters[this.keyPrefix + stat] = value;
  }

  gauge(stat: string, value: number): void {
    if (this.keeps(stat)) this.gauges[this.keyPrefix + stat] = value;
  }

  private keeps(stat: string): boolean {
    const d = this.decision;
    return d === true || (d !== false && d(stat));
  }
}

export class WorkerStats {
  readonly clusters = new Map<string, ClusterStats>();
  readonly listeners = new Map<string, ListenerStats>();
  readonly hcms = new Map<string, HttpConnectionManagerStats>();
  readonly istioRequests = new Map<string, IstioRequestSeries>();
  readonly tcpProxies = new Map<string, TcpProxyStats>();
  readonly istioTcp = new Map<string, IstioTcpSeries>();
  readonly networkExtAuthz = new Map<string, NetworkExtAuthzStats>();
  /** The HTTP local rate limit filters' counters, by stat prefix. */
  readonly localRateLimits = new Map<string, LocalRateLimitStats>();
  readonly overload = new OverloadStats();
  /** tracing.<opentelemetry|zipkin>.*: the span exporters' counters. */
  readonly tracers = new Map<string, TracerStats>();

  tracer(kind: string): TracerStats {
    return getOrCreate(this.tracers, kind, newTracerStats);
  }

  networkExtAuthzStats(prefix: string): NetworkExtAuthzStats {
    return getOrCreate(this.networkExtAuthz, prefix, () => new NetworkExtAuthzStats());
  }

  localRateLimit(prefix: string): LocalRateLimitStats {
    return getOrCreate(this.localRateLimits, prefix, () => new LocalRateLimitStats());
  }

  tcpProxy(prefix: string): TcpProxyStats {
    return getOrCreate(this.tcpProxies, prefix, () => new TcpProxyStats());
  }

  /** istio_tcp_* series of a template's label set with these response flags (and a Telemetry override's labels). */
  istioTcpSeries(t: IstioLabelTemplate, flags: string, variant?: IstioSeriesVariant): IstioTcpSeries {
    const sub = variant ? `${flags}|${variant.id}` : flags;
    let s = t.tcpSeries.get(sub);
    if (s) return s;
    const key = `${t.key}|${sub}`;
    s = this.istioTcp.get(key);
    if (!s) this.istioTcp.set(key, (s = new IstioTcpSeries(variantLabels({ ...t.labels, response_flags: flags }, variant), variant?.metrics)));
    t.tcpSeries.set(sub, s);
    return s;
  }

  cluster(name: string): ClusterStats {
    return getOrCreate(this.clusters, name, () => new ClusterStats());
  }

  listener(address: string): ListenerStats {
    return getOrCreate(this.listeners, address, () => new ListenerStats());
  }

  hcm(prefix: string): HttpConnectionManagerStats {
    return getOrCreate(this.hcms, prefix, () => new HttpConnectionManagerStats());
  }

  /** Connections accepted plus requests started, ever: it stands still only while the worker is quiet. */
  activityCount(): number {
    let n = 0;
    for (const l of this.listeners.values()) n += l.downstreamCxTotal;
    for (const h of this.hcms.values()) n += h.downstreamRqTotal;
    return n;
  }

  /**
   * istio_requests_* series of a template's label set with this response code, flags and gRPC
   * status. Per request: found in the template's own small map; the worker-wide map (by the whole
   * label set, shared by equal templates of later Runtimes) only the first time.
   */
  istioSeries(t: IstioLabelTemplate, code: number, flags: string, grpcStatus: string, variant?: IstioSeriesVariant): IstioRequestSeries {
    const sub = variant ? `${code}|${flags}|${grpcStatus}|${variant.id}` : `${code}|${flags}|${grpcStatus}`;
    let s = t.requestSeries.get(sub);
    if (s) return s;
    const key = `${t.key}|${sub}`;
    s = this.istioRequests.get(key);
    if (!s) {
      const labels = variantLabels({ ...t.labels, response_code: String(code), response_flags: flags, grpc_response_status: grpcStatus }, variant);
      s = new IstioRequestSeries(labels, variant?.metrics);
      this.istioRequests.set(key, s);
    }
    t.requestSeries.set(sub, s);
    return s;
  }

  /**
   * The worker's stats as plain data, without those the stats matcher rejects (by their Envoy name
   * `<family>.<tag>.<stat>`).
   */
  snapshot(matcher?: StatsMatcher): StatsSnapshot {
    const counters: Record<string, number> = {};
    const gauges: Record<string, number> = {};
    const w = new StatsWriter(counters, gauges, matcher);
    for (const [name, c] of this.clusters) {
      if (w.scope('cluster', name)) {
        w.counter('upstream_cx_total', c.upstreamCxTotal);
        w.counter('upstream_cx_connect_fail', c.upstreamCxConnectFail);
        w.counter('upstream_cx_destroy', c.upstreamCxDestroy);
        w.counter('upstream_cx_overflow', c.upstreamCxOverflow);
        w.counter('upstream_cx_none_healthy', c.upstreamCxNoneHealthy);
        w.counter('upstream_cx_rx_bytes_total', c.upstreamCxRxBytesTotal);
        w.counter('upstream_cx_tx_bytes_total', c.upstreamCxTxBytesTotal);
        w.counter('upstream_rq_total', c.upstreamRqTotal);
        w.counter('upstream_rq_pending_overflow', c.upstreamRqPendingOverflow);
        w.counter('upstream_rq_pending_total', c.upstreamRqPendingTotal);
        w.counter('upstream_rq_pending_failure_eject', c.upstreamRqPendingFailureEject);
        w.gauge('upstream_rq_pending_active', c.upstreamRqPendingActive);
        w.counter('upstream_rq_timeout', c.upstreamRqTimeout);
        w.counter('upstream_rq_per_try_timeout', c.upstreamRqPerTryTimeout);
        w.counter('upstream_rq_retry', c.upstreamRqRetry);
        w.counter('upstream_rq_retry_overflow', c.upstreamRqRetryOverflow);
        if (c.extAuthzOk + c.extAuthzDenied + c.extAuthzError > 0) {
          w.counter('ext_authz.ok', c.extAuthzOk);
          w.counter('ext_authz.denied', c.extAuthzDenied);
          w.counter('ext_authz.error', c.extAuthzError);
          w.counter('ext_authz.failure_mode_allowed', c.extAuthzFailureModeAllowed);
        }
        w.gauge('upstream_cx_active', c.upstreamCxActive);
        w.gauge('upstream_rq_active', c.upstreamRqActive);
        for (let n = 1; n <= 5; n++) w.counter(UPSTREAM_RQ_CLASS[n], c.rqClass[n]);
        for (const [code, n] of c.rqCode) w.counter(`upstream_rq_${code}`, n);
      }
      for (const [host, h] of c.hosts) {
        w.scope('host', `${name}\u0002${host}`);
        w.counter('cx_total', h.cxTotal);
        w.counter('cx_connect_fail', h.cxConnectFail);
        w.counter('rq_total', h.rqTotal);
        w.counter('rq_success', h.rqSuccess);
        w.counter('rq_error', h.rqError);
        w.gauge('cx_active', h.cxActive);
        w.gauge('rq_active', h.rqActive);
      }
    }
    for (const [addr, l] of this.listeners) {
      w.scope('listener', addr);
      w.counter('downstream_cx_total', l.downstreamCxTotal);
      w.counter('downstream_cx_destroy', l.downstreamCxDestroy);
      w.gauge('downstream_cx_active', l.downstreamCxActive);
      w.counter('no_filter_chain_match', l.noFilterChainMatch);
      w.counter('downstream_pre_cx_timeout', l.downstreamPreCxTimeout);
      w.counter('ssl.handshake', l.sslHandshake);
      w.counter('ssl.connection_error', l.sslHandshakeError);
      w.counter('rbac.denied', l.rbacDenied);
      w.counter('downstream_cx_overflow', l.downstreamCxOverflow);
      w.counter('downstream_global_cx_overflow', l.downstreamGlobalCxOverflow);
      w.counter('downstream_cx_overload_reject', l.downstreamCxOverloadReject);
    }
    const o = this.overload;
    for (const [monitor, p] of o.pressure) {
      w.scope('overload', monitor);
      w.gauge('pressure', Math.round(p * 100));
    }
    for (const [monitor, n] of o.failedUpdates) {
      w.scope('overload', monitor);
      w.counter('failed_updates', n);
    }
    for (const [action, active] of o.active) {
      w.scope('overload', action);
      w.gauge('active', active ? 1 : 0);
      w.gauge('scale_percent', active ? 100 : 0);
    }
    for (const [prefix, e] of this.networkExtAuthz) {
      w.scope('ext_authz', prefix);
      w.counter('total', e.total);
      w.counter('ok', e.ok);
      w.counter('denied', e.denied);
      w.counter('error', e.error);
      w.counter('failure_mode_allowed', e.failureModeAllowed);
      w.counter('cx_closed', e.cxClosed);
      w.gauge('active', e.active);
    }
    for (const [prefix, r] of this.localRateLimits) {
      // Envoy roots these at the stat prefix itself: the prefix is the family, the scope its tag
      w.scope(prefix, LOCAL_RATE_LIMIT_SCOPE);
      w.counter('enabled', r.enabled);
      w.counter('enforced', r.enforced);
      w.counter('rate_limited', r.rateLimited);
      w.counter('ok', r.ok);
    }
    for (const [prefix, t] of this.tcpProxies) {
      w.scope('tcp', prefix);
      w.counter('downstream_cx_total', t.downstreamCxTotal);
      w.counter('downstream_cx_no_route', t.downstreamCxNoRoute);
      w.counter('downstream_cx_rx_bytes_total', t.downstreamCxRxBytesTotal);
      w.counter('downstream_cx_tx_bytes_total', t.downstreamCxTxBytesTotal);
      w.counter('downstream_flow_control_paused_reading_total', t.downstreamFlowControlPausedReadingTotal);
      w.counter('downstream_flow_control_resumed_reading_total', t.downstreamFlowControlResumedReadingTotal);
      w.counter('idle_timeout', t.idleTimeout);
      w.counter('upstream_flush_total', t.upstreamFlushTotal);
    }
    for (const [prefix, h] of this.hcms) {
      w.scope('http', prefix);
      w.counter('downstream_rq_total', h.downstreamRqTotal);
      w.counter('downstream_rq_http1_total', h.downstreamRqHttp1Total);
      w.counter('downstream_rq_http2_total', h.downstreamRqHttp2Total);
      w.counter('downstream_rq_overload_close', h.downstreamRqOverloadClose);
      w.counter('downstream_rq_tx_reset', h.downstreamRqTxReset);
      w.counter('downstream_rq_idle_timeout', h.downstreamRqIdleTimeout);
      w.counter('downstream_rq_timeout', h.downstreamRqTimeout);
      w.counter('downstream_rq_max_duration_reached', h.downstreamRqMaxDurationReached);
      w.counter('downstream_rq_header_timeout', h.downstreamRqHeaderTimeout);
      w.gauge('downstream_rq_active', h.downstreamRqActive);
      for (let n = 1; n <= 5; n++) w.counter(DOWNSTREAM_RQ_CLASS[n], h.rqClass[n]);
      const t = h.tracing;
      w.counter('tracing.client_enabled', t.client_enabled);
      w.counter('tracing.not_traceable', t.not_traceable);
      w.counter('tracing.random_sampling', t.random_sampling);
      w.counter('tracing.service_forced', t.service_forced);
    }
    for (const [kind, t] of this.tracers) {
      w.scope('tracing', kind);
      w.counter('spans_sent', t.spansSent);
      w.counter('spans_dropped', t.spansDropped);
      w.counter('timer_flushed', t.timerFlushed);
      w.counter('reports_sent', t.reportsSent);
      w.counter('reports_dropped', t.reportsDropped);
      w.counter('reports_failed', t.reportsFailed);
      w.counter('reports_skipped_no_cluster', t.reportsSkippedNoCluster);
    }
    const istioRequests = [...this.istioRequests.values()].map((s) => ({
      labels: { ...s.labels },
      metrics: s.metrics,
      count: s.count,
      duration: { counts: [...s.duration.counts], sum: s.duration.sum },
      requestBytes: { counts: [...s.requestBytes.counts], sum: s.requestBytes.sum },
      responseBytes: { counts: [...s.responseBytes.counts], sum: s.responseBytes.sum },
    }));
    const istioTcp = [...this.istioTcp.values()].map((s) => ({
      labels: { ...s.labels },
      metrics: s.metrics,
      opened: s.opened,
      closed: s.closed,
      sentBytes: s.sentBytes,
      receivedBytes: s.receivedBytes,
    }));
    return { counters, gauges, istioRequests, istioTcp };
  }
}
