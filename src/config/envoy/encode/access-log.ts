/** Access logs as Envoy's envoy.config.accesslog.v3.AccessLog JSON (the inverse of decode/access-log.ts). */
import type { AccessLog, AccessLogFilter, AccessLogFormat } from '../../snapshot.js';
import { any, headerMatcher, type Json } from './values.js';
import { formatDurationMs } from '../../duration.js';

const GRPC_STATUS_NAMES = [
  'OK', 'CANCELED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE', 'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];

export function encodeAccessLog(a: AccessLog): Json {
  const filter = a.filter ? { filter: encodeFilter(a.filter) } : {};
  if ('openTelemetry' in a) {
    const o = a.openTelemetry;
    return {
      name: 'envoy.access_loggers.open_telemetry',
      ...filter,
      typed_config: any('envoy.extensions.access_loggers.open_telemetry.v3.OpenTelemetryAccessLogConfig', {
        common_config: {
          log_name: o.logName,
          transport_api_version: 'V3',
          grpc_service: { envoy_grpc: { cluster_name: o.collector.cluster, authority: o.collector.authority }, timeout: formatDurationMs(o.collector.timeoutMs) },
        },
        body: { string_value: o.body },
        attributes: { values: Object.entries(o.attributes).map(([key, value]) => ({ key, value: { string_value: value } })) },
      }),
    };
  }
  return {
    name: 'envoy.access_loggers.file',
    ...filter,
    typed_config: any('envoy.extensions.access_loggers.file.v3.FileAccessLog', { path: a.path, ...(a.format ? { log_format: logFormat(a.format) } : {}) }),
  };
}

function logFormat(f: AccessLogFormat): Json {
  const body = 'text' in f ? { text_format_source: { inline_string: f.text } } : { json_format: f.json };
  return { ...body, ...(f.omitEmptyValues ? { omit_empty_values: true } : {}) };
}

function encodeFilter(f: AccessLogFilter): Json {
  const comparison = (c: { op: string; value: number }) => ({ comparison: { op: c.op, value: { default_value: c.value, runtime_key: '' } } });
  if ('statusCode' in f) return { status_code_filter: comparison(f.statusCode) };
  if ('duration' in f) return { duration_filter: comparison(f.duration) };
  if ('notHealthCheck' in f) return { not_health_check_filter: {} };
  if ('traceable' in f) return { traceable_filter: {} };
  if ('responseFlags' in f) return { response_flag_filter: { flags: f.responseFlags } };
  if ('header' in f) return { header_filter: { header: headerMatcher(f.header) } };
  if ('grpcStatus' in f) return { grpc_status_filter: { statuses: f.grpcStatus.statuses.map((s) => GRPC_STATUS_NAMES[s] ?? 'UNKNOWN'), exclude: f.grpcStatus.exclude } };
  if ('and' in f) return { and_filter: { filters: f.and.map(encodeFilter) } };
  if ('or' in f) return { or_filter: { filters: f.or.map(encodeFilter) } };
  return {
    extension_filter: { name: 'envoy.access_loggers.extension_filters.cel', typed_config: any('envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter', { expression: f.cel }) },
  };
}
