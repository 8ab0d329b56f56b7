/**
 * Istio's metrics as istiod configures its stats filter (pilot/pkg/model/telemetry.go
 * mergeMetrics, generateStatsConfig): the Telemetry resources' metrics entries that apply to this
 * proxy, for the prometheus provider, merged per mode (CLIENT: outbound and gateway listeners;
 * SERVER: inbound) into which istio_* metrics are reported and with which labels. Without any
 * Telemetry metrics every metric is reported with the standard labels; a provider list without
 * prometheus (meshConfig.defaultProviders.metrics, or a Telemetry's providers) reports none.
 */
import type { IstioMetricOverride, IstioStats, NodeIdentity } from '../snapshot.js';
import type { IstioConfig, IstioMetricName, MeshSettings, TelemetryMetricsSpec } from './resources.js';
import { applicableTelemetries } from './telemetry-scope.js';

export interface IstioMetrics {
  client?: IstioStats;
  server?: IstioStats;
}

/** istiod's built-in metrics provider (and Istio's install default for defaultProviders.metrics). */
const PROMETHEUS = 'prometheus';

type Mode = 'CLIENT' | 'SERVER';

/** Istio's metric names → the Prometheus names of its stats filter (without `istio_`). */
const PROMETHEUS_NAMES: Readonly<Record<Exclude<IstioMetricName, 'ALL_METRICS'>, string>> = {
  REQUEST_COUNT: 'requests_total',
  REQUEST_DURATION: 'request_duration_milliseconds',
  REQUEST_SIZE: 'request_bytes',
  RESPONSE_SIZE: 'response_bytes',
  TCP_OPENED_CONNECTIONS: 'tcp_connections_opened_total',
  TCP_CLOSED_CONNECTIONS: 'tcp_connections_closed_total',
  TCP_SENT_BYTES: 'tcp_sent_bytes_total',
  TCP_RECEIVED_BYTES: 'tcp_received_bytes_total',
  GRPC_REQUEST_MESSAGES: 'request_messages_total',
  GRPC_RESPONSE_MESSAGES: 'response_messages_total',
};
const ALL_METRICS = Object.values(PROMETHEUS_NAMES);

interface Override {
  disabled?: boolean;
  tags: Map<string, { operation: 'UPSERT'; value: string } | { operation: 'REMOVE' }>;
}

export function istioMetrics(cfg: IstioConfig, node: NodeIdentity, mesh: MeshSettings, warnings: string[]): IstioMetrics {
  const entries = applicableTelemetries(cfg, node).flatMap((t) => t.metrics);
  const defaults = mesh.defaultMetricsProviders ?? [PROMETHEUS];
  if (entries.length === 0) return defaults.some(isPrometheus(mesh)) ? {} : { client: { disabled: true, metrics: [] }, server: { disabled: true, metrics: [] } };
  // the providers in scope: the last entry that names any, else the defaults (istiod: not a deep merge)
  let scope = defaults;
  for (const m of entries) if (m.providers.length) scope = m.providers;
  for (const name of scope) {
    const p = mesh.metricsProviders?.find((x) => x.name.toLowerCase() === name.toLowerCase());
    if (p?.kind === 'unsupported') warnings.push(`metrics provider ${p.name} is a stackdriver provider, which Outrigger does not report to (prometheus is)`);
    else if (!p && name.toLowerCase() !== PROMETHEUS) warnings.push(`metrics provider ${name} is not among meshConfig.extensionProviders; not reported`);
  }
  const prometheus = scope.find(isPrometheus(mesh));
  if (!prometheus) return { client: { disabled: true, metrics: [] }, server: { disabled: true, metrics: [] } };
  return { client: merge(entries, defaults, prometheus, 'CLIENT'), server: merge(entries, defaults, prometheus, 'SERVER') };
}

function isPrometheus(mesh: MeshSettings): (name: string) => boolean {
  return (name) => name.toLowerCase() === PROMETHEUS || mesh.metricsProviders?.some((p) => p.kind === 'prometheus' && p.name.toLowerCase() === name.toLowerCase()) === true;
}

/** One mode's overrides for the provider, applied in order (later entries and overrides win). */
function merge(entries: readonly TelemetryMetricsSpec[], defaults: readonly string[], provider: string, mode: Mode): IstioStats | undefined {
  let parent: readonly string[] = defaults;
  let disabledAll = false;
  const byMetric = new Map<string, Override>();
  for (const m of entries) {
    const names = m.providers.length ? m.providers : parent;
    parent = names;
    if (!names.includes(provider)) continue;
    for (const o of m.overrides) {
      if (o.mode && o.mode !== 'CLIENT_AND_SERVER' && o.mode !== mode) continue;
      const all = !o.customMetric && (!o.metric || o.metric === 'ALL_METRICS');
      // disabling ALL_METRICS drops the whole filter for the mode; a later override enables it again
      if (all && o.disabled) {
        disabledAll = true;
        continue;
      }
      disabledAll = false;
      const metrics = o.customMetric ? [o.customMetric] : all ? ALL_METRICS : [PROMETHEUS_NAMES[o.metric as Exclude<IstioMetricName, 'ALL_METRICS'>]];
      for (const name of metrics) {
        const cur: Override = byMetric.get(name) ?? { tags: new Map() };
        if (o.disabled !== undefined) cur.disabled = o.disabled;
        for (const [tag, t] of Object.entries(o.tagOverrides)) cur.tags.set(tag, t);
        byMetric.set(name, cur);
      }
    }
  }
  if (disabledAll) return { disabled: true, metrics: [] };
  if (byMetric.size === 0) return undefined;
  const metrics = [...byMetric]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, o]): IstioMetricOverride => {
      const dimensions: Record<string, string> = {};
      const tagsToRemove: string[] = [];
      for (const [tag, t] of [...o.tags].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        if (t.operation === 'REMOVE') tagsToRemove.push(tag);
        else dimensions[tag] = t.value;
      }
      return { name, drop: o.disabled === true, dimensions, tagsToRemove };
    });
  return { metrics };
}
