/**
 * Zipkin v2 JSON (POST /api/v2/spans), as Envoy's Zipkin tracer writes it with
 * collector_endpoint_version HTTP_JSON: kind, name, microsecond timestamp and duration, the
 * proxy as localEndpoint (service name, IP), string tags.
 */
import { isIPv6Address } from '../common/address.js';
import type { FinishedSpan } from './span.js';

export interface ZipkinLocalEndpoint {
  serviceName: string;
  ip: string;
}

function tagsObject(s: FinishedSpan): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < s.tagKeys.length; i++) out[s.tagKeys[i]] = s.tagValues[i];
  return out;
}

export function zipkinSpans(local: ZipkinLocalEndpoint, spans: readonly FinishedSpan[]): string {
  const endpoint = { serviceName: local.serviceName, ...(isIPv6Address(local.ip) ? { ipv6: local.ip } : local.ip ? { ipv4: local.ip } : {}) };
  return JSON.stringify(
    spans.map((s) => ({
      traceId: s.context.traceId,
      ...(s.parentSpanId ? { parentId: s.parentSpanId } : {}),
      id: s.context.spanId,
      kind: s.kind,
      name: s.name,
      timestamp: Math.round(s.startMs * 1000),
      duration: Math.max(1, Math.round((s.endMs - s.startMs) * 1000)),
      localEndpoint: endpoint,
      tags: tagsObject(s),
    })),
  );
}
