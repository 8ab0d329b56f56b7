import type { Downstream } from '../codec/downstream.js';
import type { StreamInfo } from '../http/filter.js';
import { formatResponseFlags } from '../http/response-flags.js';
import type { AccessLogs } from './access-log/logger.js';
import { HttpLogContext, type FinishedRequest } from './access-log/http-context.js';
import type { IstioLabelTemplate } from './istio-labels.js';
import type { WorkerStats } from './stats.js';

export type { FinishedRequest } from './access-log/http-context.js';

/**
 * A finished HTTP request's telemetry: its Istio request series (istio_requests_total, durations
 * and sizes, labelled by the listener × cluster template, code, flags and gRPC status) and its
 * entry in the connection manager's access logs, if it has any.
 */
export function recordHttpRequest(
  stats: WorkerStats,
  accessLogs: AccessLogs | undefined,
  labels: IstioLabelTemplate,
  ds: Downstream,
  info: StreamInfo,
  r: FinishedRequest,
): void {
  const code = info.responseCode ?? 0;
  const flags = formatResponseFlags(info.responseFlags);
  const durationMs = Date.now() - info.startTimeMs;
  const series = stats.istioSeries(labels, code, flags, r.grpcStatus ?? '');
  series.count++;
  series.duration.observe(durationMs);
  series.requestBytes.observe(ds.headBytes + ds.bytesReceived);
  series.responseBytes.observe(ds.bytesSent);
  accessLogs?.log(new HttpLogContext(ds, info, r, flags, durationMs));
}
