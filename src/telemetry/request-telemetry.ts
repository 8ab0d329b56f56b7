import type { Downstream } from '../codec/downstream.js';
import type { StreamInfo } from '../http/filter.js';
import { formatResponseFlags } from '../http/response-flags.js';
import { hostPort } from '../common/address.js';
import { getFromList } from '../router/headers.js';
import type { AccessLogWriter } from './access-log.js';
import type { IstioLabelTemplate } from './istio-labels.js';
import type { WorkerStats } from './stats.js';

/** What the connection manager knows of a finished request beyond the codec's counters and its StreamInfo. */
export interface FinishedRequest {
  /** :path as routed (before any rewrite: the access log's %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%). */
  readonly path: string;
  readonly authority: string;
  readonly requestId: string | undefined;
  /** grpc-status of a gRPC response (trailers, or a trailers-only response's headers), or of a gRPC local reply. */
  readonly grpcStatus: string | undefined;
  /** The upstream header list (x-forwarded-for as forwarded). */
  readonly requestHeaderList: readonly string[];
  /** The downstream remote address came from x-forwarded-for (no port: Envoy prints it with port 0). */
  readonly clientFromXff: boolean;
}

/**
 * A finished HTTP request's telemetry: its Istio request series (istio_requests_total, durations
 * and sizes, labelled by the listener × cluster template, code, flags and gRPC status) and one
 * access-log entry when the access log is on.
 */
export function recordHttpRequest(
  stats: WorkerStats,
  accessLog: AccessLogWriter,
  labels: IstioLabelTemplate,
  ds: Downstream,
  info: StreamInfo,
  r: FinishedRequest,
): void {
  const code = info.responseCode ?? 0;
  const flags = formatResponseFlags(info.responseFlags);
  const durationMs = Date.now() - info.startTimeMs;
  const grpcStatus = r.grpcStatus ?? '';
  const series = stats.istioSeries(labels, code, flags, grpcStatus);
  series.count++;
  series.duration.observe(durationMs);
  series.requestBytes.observe(ds.headBytes + ds.bytesReceived);
  series.responseBytes.observe(ds.bytesSent);
  if (!accessLog.enabled) return;
  accessLog.log({
    startTimeMs: info.startTimeMs,
    method: ds.method,
    path: r.path,
    protocol: ds.protocol,
    responseCode: code,
    responseFlags: flags,
    responseCodeDetails: info.responseCodeDetails ?? (info.responseFlags.length ? 'local_reply' : 'via_upstream'),
    bytesReceived: ds.bytesReceived,
    bytesSent: ds.bytesSent,
    durationMs,
    upstreamServiceTimeMs: info.upstreamServiceTimeMs,
    xForwardedFor: getFromList(r.requestHeaderList, 'x-forwarded-for'),
    userAgent: getFromList(ds.headers, 'user-agent'),
    requestId: r.requestId,
    authority: r.authority,
    upstreamHost: info.upstreamHost,
    upstreamCluster: info.upstreamCluster,
    downstreamLocalAddress: ds.localEndpoint,
    downstreamRemoteAddress: r.clientFromXff ? hostPort(info.downstreamRemoteAddress, 0) : ds.remoteEndpoint,
    routeName: info.routeName,
  });
}
