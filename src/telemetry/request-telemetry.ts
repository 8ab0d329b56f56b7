import type { Downstream } from '../codec/downstream.js';
import type { StreamInfo } from '../http/filter.js';
import { formatResponseFlags } from '../http/response-flags.js';
import type { AccessLogs } from './access-log/logger.js';
import { HttpLogContext, type FinishedRequest } from './access-log/http-context.js';
import type { IstioLabelTemplate } from './istio-labels.js';
import { variantOf, type IstioMetricsPolicy } from './istio-metrics.js';
import { RequestMetric, type WorkerStats } from './stats.js';

export type { FinishedRequest } from './access-log/http-context.js';

/**
 * A finished HTTP request's telemetry: its Istio request series (istio_requests_total, durations
 * and sizes, labelled by the listener × cluster template, code, flags and gRPC status, as the
 * Telemetry API's overrides say) and its entry in the connection manager's access logs, if any.
 */
export function recordHttpRequest(
  stats: WorkerStats,
  accessLogs: AccessLogs | undefined,
  metrics: IstioMetricsPolicy,
  labels: IstioLabelTemplate,
  ds: Downstream,
  info: StreamInfo,
  r: FinishedRequest,
): void {
  const code = info.responseCode ?? 0;
  const flags = formatResponseFlags(info.responseFlags);
  const durationMs = Date.now() - info.startTimeMs;
  const grpcStatus = r.grpcStatus ?? '';
  // what access logs and computed labels read: made only when one of them is configured
  const ctx = accessLogs || metrics.perRequestLabels ? new HttpLogContext(ds, info, r, flags, durationMs) : undefined;
  for (const g of metrics.request) {
    const series = stats.istioSeries(labels, code, flags, grpcStatus, variantOf(g, ctx));
    const m = g.metrics;
    if (m & RequestMetric.Count) series.count++;
    if (m & RequestMetric.Duration) series.duration.observe(durationMs);
    if (m & RequestMetric.RequestSize) series.requestBytes.observe(ds.headBytes + ds.bytesReceived);
    if (m & RequestMetric.ResponseSize) series.responseBytes.observe(ds.bytesSent);
  }
  if (ctx && accessLogs) accessLogs.log(ctx);
}
