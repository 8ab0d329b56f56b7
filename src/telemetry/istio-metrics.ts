/**
 * Istio's stats filter config compiled for one connection manager or TCP proxy: the Telemetry
 * API's metric overrides as groups of metrics that share a label set. A group is one series per
 * request label set: the metrics it reports (drop leaves a metric out), the standard labels it
 * removes, the labels it adds or replaces (CEL over the request; "unknown" when one fails, as
 * Istio's stats plugin). Without overrides there is one group, every metric, no change: a request
 * pays nothing more.
 */
import type { IstioMetricOverride, IstioStats } from '../config/snapshot.js';
import type { LogContext } from '../common/log-context.js';
import { compileCelValue } from '../common/cel.js';
import { ALL_REQUEST_METRICS, ALL_TCP_METRICS, RequestMetric, TcpMetric, type IstioSeriesVariant } from './stats.js';

/** Istio's Prometheus names (without `istio_`) → the series bit that reports them. */
const REQUEST_METRICS: Readonly<Record<string, number>> = {
  requests_total: RequestMetric.Count,
  request_duration_milliseconds: RequestMetric.Duration,
  request_bytes: RequestMetric.RequestSize,
  response_bytes: RequestMetric.ResponseSize,
};
const TCP_METRICS: Readonly<Record<string, number>> = {
  tcp_connections_opened_total: TcpMetric.Opened,
  tcp_connections_closed_total: TcpMetric.Closed,
  tcp_sent_bytes_total: TcpMetric.Sent,
  tcp_received_bytes_total: TcpMetric.Received,
};

export interface MetricGroup {
  /** The override's identity: equal for equal overrides of any Runtime. */
  readonly key: string;
  readonly metrics: number;
  readonly remove: readonly string[];
  readonly dimensions: readonly (readonly [string, (ctx: LogContext) => string | undefined])[];
}

export interface IstioMetricsPolicy {
  /** The groups of request metrics (none: no istio_request* metric). */
  readonly request: readonly MetricGroup[];
  readonly tcp: readonly MetricGroup[];
  /** Some group's labels are computed per request or connection (CEL). */
  readonly perRequestLabels: boolean;
}

/** What a connection manager or TCP proxy reports without overrides. */
export const DEFAULT_ISTIO_METRICS: IstioMetricsPolicy = {
  request: [{ key: '', metrics: ALL_REQUEST_METRICS, remove: [], dimensions: [] }],
  tcp: [{ key: '', metrics: ALL_TCP_METRICS, remove: [], dimensions: [] }],
  perRequestLabels: false,
};

function groupsOf(names: Readonly<Record<string, number>>, overrides: ReadonlyMap<string, IstioMetricOverride>): MetricGroup[] {
  const groups = new Map<string, { metrics: number; o: IstioMetricOverride | undefined }>();
  for (const [name, bit] of Object.entries(names)) {
    const o = overrides.get(name);
    if (o?.drop) continue;
    const key = o ? JSON.stringify([[...o.tagsToRemove].sort(), Object.entries(o.dimensions).sort()]) : '';
    const g = groups.get(key);
    if (g) g.metrics |= bit;
    else groups.set(key, { metrics: bit, o });
  }
  const all = Object.values(names).reduce((a, b) => a | b, 0);
  return [...groups].map(([key, { metrics, o }]) => ({
    // the plain group (no override) keeps the standard series only when it reports every metric
    key: key || metrics !== all ? `${metrics}:${key}` : '',
    metrics,
    remove: o?.tagsToRemove ?? [],
    dimensions: Object.entries(o?.dimensions ?? {})
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([label, expression]) => [label, compileCelValue(expression)] as const),
  }));
}

/** Compiles a connection manager's or TCP proxy's istioStats; absent: every metric, standard labels. */
export function compileIstioMetrics(cfg: IstioStats | undefined): IstioMetricsPolicy {
  if (!cfg) return DEFAULT_ISTIO_METRICS;
  if (cfg.disabled) return { request: [], tcp: [], perRequestLabels: false };
  const overrides = new Map(cfg.metrics.map((m) => [m.name, m]));
  const request = groupsOf(REQUEST_METRICS, overrides);
  const tcp = groupsOf(TCP_METRICS, overrides);
  return { request, tcp, perRequestLabels: [...request, ...tcp].some((g) => g.dimensions.length > 0) };
}

/** A group's series variant for one request or connection; undefined for the plain group (no change). */
export function variantOf(g: MetricGroup, ctx: LogContext | undefined): IstioSeriesVariant | undefined {
  if (!g.key) return undefined;
  if (g.dimensions.length === 0) return { id: g.key, metrics: g.metrics, remove: g.remove, add: {} };
  const add: Record<string, string> = {};
  let id = g.key;
  for (const [label, value] of g.dimensions) {
    const v = (ctx && value(ctx)) ?? 'unknown';
    add[label] = v;
    id += `\u0001${v}`;
  }
  return { id, metrics: g.metrics, remove: g.remove, add };
}
