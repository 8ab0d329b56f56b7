import type { StatsMatcher } from './stats-matcher.js';
import { BYTES_BUCKETS, DURATION_BUCKETS_MS, LOCAL_RATE_LIMIT_SCOPE, RequestMetric, splitStatKey, TcpMetric, type HistogramData, type StatsSnapshot } from './stats.js';

/** Process-level values the agent owns (not per worker). */
export interface ServerValues {
  live: boolean;
  state: number;
  uptimeSeconds: number;
  concurrency: number;
  configReloads: number;
  configRejected: number;
  workerRestarts: number;
  version: string;
}

/** One line of a family: `name` (the family's own when absent; a histogram's _bucket/_sum/_count). */
interface Sample {
  labels: Record<string, string>;
  value: number;
  name?: string;
}
type Values = Sample[];
type MetricType = 'counter' | 'gauge' | 'histogram';

/** Envoy family → Prometheus tag label, as Envoy's tag extraction names them. */
const FAMILY_TAG: Record<string, string> = {
  cluster: 'envoy_cluster_name',
  listener: 'envoy_listener_address',
  http: 'envoy_http_conn_manager_prefix',
  tcp: 'envoy_tcp_prefix',
};
/**
 * Families Envoy has no tag extractor for: the tag stays in the name (ext_authz.tcp.ok →
 * envoy_ext_authz_tcp_ok; overload.envoy.overload_actions.stop_accepting_requests.active →
 * envoy_overload_envoy_overload_actions_stop_accepting_requests_active; tracing.zipkin.spans_sent →
 * envoy_tracing_zipkin_spans_sent).
 */
const UNTAGGED_FAMILIES = new Set(['ext_authz', 'overload', 'tracing']);

/**
 * An untagged stat's Prometheus name: every character Prometheus does not take becomes `_`, as
 * Envoy's exporter does. A local rate limit's stats are rooted at its own stat prefix, which Envoy
 * has no tag extractor for either: http_local_rate_limiter.http_local_rate_limit.ok →
 * envoy_http_local_rate_limiter_http_local_rate_limit_ok.
 */
function untaggedName(family: string, tag: string, stat: string): string | undefined {
  if (!UNTAGGED_FAMILIES.has(family) && tag !== LOCAL_RATE_LIMIT_SCOPE) return undefined;
  return `envoy_${family}_${tag}_${stat}`.replace(/[^a-zA-Z0-9_]/g, '_');
}

/** A stat the agent itself writes (the xDS update counters, workers_started, ...), by its Envoy name. */
export interface WrittenStat {
  name: string;
  type: 'counter' | 'gauge';
  value: number;
}

/**
 * Renders Istio's standard metrics and Envoy-style stats in the Prometheus text format. The stats
 * matcher has already left rejected stats out of `stats`; here it sees the agent's own
 * (server.*, the written ones) by Envoy name, and Istio's families by their metric name
 * (`istio_requests_total`: Istio's inclusion list keeps them by the `istio` prefix).
 */
export function renderPrometheus(stats: StatsSnapshot, server: ServerValues, written: readonly WrittenStat[] = [], matcher?: StatsMatcher): string {
  const text: string[] = [];
  const add = (name: string, help: string, type: MetricType, values: Values) => {
    if (!matcher || !name.startsWith('istio_') || matcher.accepts(name)) text.push(renderFamily(name, help, type, values));
  };

  // ---- Istio standard metrics
  // a Telemetry override may leave a metric out of a series (its `metrics` bits)
  const requests = (bit: number) => stats.istioRequests.filter((s) => s.metrics & bit);
  add('istio_requests_total', 'Total number of requests handled by the proxy.', 'counter',
    requests(RequestMetric.Count).map((s) => ({ labels: s.labels, value: s.count })));
  add('istio_request_duration_milliseconds', 'Duration of requests in milliseconds.', 'histogram',
    requests(RequestMetric.Duration).flatMap((s) => histogramValues('istio_request_duration_milliseconds', s.labels, s.duration, DURATION_BUCKETS_MS, 1)));
  // the pre-1.x name, still queried by Istio's dashboards: the same observations in seconds
  add('istio_request_duration_seconds', 'Duration of requests in seconds.', 'histogram',
    requests(RequestMetric.Duration).flatMap((s) => histogramValues('istio_request_duration_seconds', s.labels, s.duration, DURATION_BUCKETS_MS, 1000)));
  add('istio_request_bytes', 'Size of requests (headers and body) in bytes.', 'histogram',
    requests(RequestMetric.RequestSize).flatMap((s) => histogramValues('istio_request_bytes', s.labels, s.requestBytes, BYTES_BUCKETS, 1)));
  add('istio_response_bytes', 'Size of response bodies in bytes.', 'histogram',
    requests(RequestMetric.ResponseSize).flatMap((s) => histogramValues('istio_response_bytes', s.labels, s.responseBytes, BYTES_BUCKETS, 1)));
  // TCP-level Istio metrics, from the TCP proxy
  const tcp = (bit: number) => stats.istioTcp.filter((t) => t.metrics & bit);
  add('istio_tcp_sent_bytes_total', 'Bytes sent to the downstream in TCP connections.', 'counter', tcp(TcpMetric.Sent).map((t) => ({ labels: t.labels, value: t.sentBytes })));
  add('istio_tcp_received_bytes_total', 'Bytes received from the downstream in TCP connections.', 'counter', tcp(TcpMetric.Received).map((t) => ({ labels: t.labels, value: t.receivedBytes })));
  add('istio_tcp_connections_opened_total', 'TCP connections opened.', 'counter', tcp(TcpMetric.Opened).map((t) => ({ labels: t.labels, value: t.opened })));
  add('istio_tcp_connections_closed_total', 'TCP connections closed.', 'counter', tcp(TcpMetric.Closed).map((t) => ({ labels: t.labels, value: t.closed })));
  let open = 0;
  for (const k in stats.gauges) if (k.endsWith('\u0001downstream_cx_active') && k.startsWith('listener\u0001')) open += stats.gauges[k];
  add('istio_tcp_sockets_open', 'Downstream TCP connections currently open.', 'gauge', [{ labels: {}, value: open }]);
  add('istio_build', 'Istio component build info.', 'gauge', [{ labels: { component: 'proxy', tag: server.version }, value: 1 }]);
  // agent-side counters of Istio's: no DNS proxy and no xDS client yet, so they stay empty
  add('istio_dns_requests_total', 'DNS requests answered by the proxy (no DNS proxying yet).', 'counter', []);
  add('istio_xds_message_total', 'xDS messages received (no xDS client yet).', 'counter', []);
  add('istio_xds_connection_terminations_total', 'xDS connections terminated (no xDS client yet).', 'counter', []);

  // ---- Envoy-style stats, tag-extracted
  const families = new Map<string, { type: MetricType; values: Values }>();
  const put = (name: string, type: MetricType, labels: Record<string, string>, value: number) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { type, values: [] }));
    f.values.push({ labels, value });
  };
  for (const [src, type] of [[stats.counters, 'counter'], [stats.gauges, 'gauge']] as const) {
    for (const key in src) {
      const [family, tag, stat] = splitStatKey(key);
      const tagLabel = FAMILY_TAG[family];
      if (!tagLabel) {
        const name = untaggedName(family, tag, stat);
        if (name) put(name, type, {}, src[key]);
        continue;
      }
      const labels: Record<string, string> = { [tagLabel]: tag };
      let name = stat;
      const cls = /^(upstream_rq|downstream_rq)_([1-5])xx$/.exec(stat);
      const code = /^(upstream_rq|downstream_rq)_(\d{3})$/.exec(stat);
      if (cls) {
        name = `${cls[1]}_xx`;
        labels.envoy_response_code_class = cls[2];
      } else if (code) {
        name = code[1];
        labels.envoy_response_code = code[2];
      }
      put(`envoy_${family}_${name.replace(/\./g, '_')}`, type, labels, src[key]);
    }
  }
  // untagged, as Envoy exports them: listener_manager.lds.update_success → envoy_listener_manager_lds_update_success
  const own: WrittenStat[] = [
    { name: 'server.live', type: 'gauge', value: server.live ? 1 : 0 },
    { name: 'server.state', type: 'gauge', value: server.state },
    { name: 'server.uptime', type: 'gauge', value: server.uptimeSeconds },
    { name: 'server.concurrency', type: 'gauge', value: server.concurrency },
    { name: 'server.total_connections', type: 'gauge', value: open },
    ...written,
  ];
  for (const w of own) if (!matcher || matcher.accepts(w.name)) put(`envoy_${w.name.replace(/\./g, '_')}`, w.type, {}, w.value);
  for (const [name, f] of [...families].sort((a, b) => (a[0] < b[0] ? -1 : 1))) add(name, name, f.type, f.values);

  // ---- Outrigger's own
  add('outrigger_config_reloads_total', 'Configurations applied after the first.', 'counter', [{ labels: {}, value: server.configReloads }]);
  add('outrigger_config_rejected_total', 'Configurations rejected (invalid); the last good one stayed.', 'counter', [{ labels: {}, value: server.configRejected }]);
  add('outrigger_worker_restarts_total', 'Worker threads that exited unexpectedly and were respawned.', 'counter', [{ labels: {}, value: server.workerRestarts }]);
  return `${text.join('\n\n')}\n`;
}

/**
 * One family in Prometheus' text exposition format (0.0.4): HELP and TYPE, then a line per sample.
 * The metric values are computed elsewhere (summed over workers); this only writes them.
 */
function renderFamily(name: string, help: string, type: MetricType, values: Values): string {
  const lines = [`# HELP ${name} ${escapeText(help)}`, `# TYPE ${name} ${type}`];
  for (const v of values) {
    let labels = '';
    for (const key in v.labels) labels += `${labels ? ',' : ''}${key}="${escapeText(v.labels[key]).replace(/"/g, '\\"')}"`;
    lines.push(`${v.name ?? name}${labels ? `{${labels}}` : ''} ${sampleValue(v.value)}`);
  }
  return lines.join('\n');
}

/** HELP text and label values: a backslash and a line feed escaped (label values also escape `"`). */
function escapeText(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function sampleValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function histogramValues(name: string, labels: Record<string, string>, h: HistogramData, bounds: readonly number[], divisor: number): Values {
  const out: Values = [];
  let cumulative = 0;
  for (let i = 0; i < bounds.length; i++) {
    cumulative += h.counts[i];
    out.push({ labels: { ...labels, le: String(bounds[i] / divisor) }, value: cumulative, name: `${name}_bucket` });
  }
  cumulative += h.counts[bounds.length];
  out.push({ labels: { ...labels, le: '+Inf' }, value: cumulative, name: `${name}_bucket` });
  out.push({ labels, value: h.sum / divisor, name: `${name}_sum` });
  out.push({ labels, value: cumulative, name: `${name}_count` });
  return out;
}
