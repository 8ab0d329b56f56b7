/**
 * Envoy's tracing config in the plain form → the Snapshot's: HttpConnectionManager.tracing (sampling,
 * custom tags, max path tag length, spawn_upstream_span, the provider) and the tracer providers
 * (envoy.tracers.opentelemetry, envoy.tracers.zipkin) as HCM tracing or the bootstrap's tracing.http
 * name them. A provider Outrigger does not export to (Datadog, SkyWalking, …) leaves the decisions
 * on and makes no spans, with a warning: tracing decides nothing about security.
 */
import { serviceClusterOf } from '../../node-identity.js';
import type { HcmTracing, TracingCollector, TracingCustomTag, TracingProvider } from '../../snapshot.js';
import { durationMs, wrapped } from '../proto/values.js';
import { fieldPath, resourceError, type DecodeContext, type ResourceRef } from './context.js';
import { checkFields, type FieldPolicy } from './fields.js';
import { typedConfigOf } from './typed-config.js';

type Msg = Record<string, any>;

const TRACING: FieldPolicy = {
  type: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.Tracing',
  reads: ['client_sampling', 'random_sampling', 'overall_sampling', 'max_path_tag_length', 'custom_tags', 'provider', 'spawn_upstream_span'],
  ignored: { verbose: 'timing events are not added to spans' },
};
const TRACING_HTTP: FieldPolicy = { type: 'envoy.config.trace.v3.Tracing.Http', reads: ['name', 'typed_config'] };
const CUSTOM_TAG: FieldPolicy = { type: 'envoy.type.tracing.v3.CustomTag', reads: ['tag', 'literal', 'environment', 'request_header', 'metadata'] };
const OTEL: FieldPolicy = {
  type: 'envoy.config.trace.v3.OpenTelemetryConfig',
  reads: ['grpc_service', 'http_service', 'service_name', 'resource_detectors'],
  refused: { sampler: 'OpenTelemetry samplers are not supported (sampling is the connection manager\'s)' },
};
const ZIPKIN: FieldPolicy = {
  type: 'envoy.config.trace.v3.ZipkinConfig',
  // the Envoy API shipped with @grpc/grpc-js-xds predates collector_service and trace_context_option
  // (istiod sends them to 1.28+/1.29+ proxies): they do not decode, so the collector is collector_cluster's
  reads: ['collector_cluster', 'collector_endpoint', 'collector_hostname', 'trace_id_128bit', 'shared_span_context', 'collector_endpoint_version'],
  ignored: { split_spans_for_request: 'a span per request and attempt, as spawn_upstream_span makes them' },
};
const GRPC_SERVICE: FieldPolicy = { type: 'envoy.config.core.v3.GrpcService', reads: ['envoy_grpc', 'timeout', 'initial_metadata'], refused: { google_grpc: 'Google gRPC clients are not supported (envoy_grpc to a cluster is)' } };
const HTTP_SERVICE: FieldPolicy = { type: 'envoy.config.core.v3.HttpService', reads: ['http_uri', 'request_headers_to_add'] };

const OTEL_TYPE = 'envoy.config.trace.v3.OpenTelemetryConfig';
const ZIPKIN_TYPE = 'envoy.config.trace.v3.ZipkinConfig';
/** Envoy's Zipkin export timeout when the config sets none (its collector_cluster form has none): istiod's 5 s. */
const DEFAULT_TIMEOUT_MS = 5000;

function percent(m: Msg | undefined, fallback: number): number {
  return m?.value === undefined ? fallback : Number(m.value);
}

/**
 * HttpConnectionManager.tracing. `useRequestIdForTraceSampling`: the UUID request-id extension's
 * setting (default true); `startChildSpan`: the router's start_child_span (the older spawn_upstream_span).
 */
export function decodeHcmTracing(m: Msg, useRequestIdForTraceSampling: boolean, startChildSpan: boolean, ctx: DecodeContext, ref: ResourceRef, field: string): HcmTracing {
  checkFields(m, TRACING, ref, field, ctx);
  const at = (k: string) => fieldPath(field, k);
  const provider = m.provider ? decodeTracingProvider(m.provider as Msg, ctx, ref, at('provider')) : ctx.tracingProvider;
  return {
    ...(provider ? { provider } : {}),
    randomSamplingPercent: percent(m.random_sampling, 100),
    clientSamplingPercent: percent(m.client_sampling, 100),
    overallSamplingPercent: percent(m.overall_sampling, 100),
    customTags: ((m.custom_tags ?? []) as Msg[]).map((t, i) => decodeCustomTag(t, ctx, ref, fieldPath(at('custom_tags'), i))),
    maxPathTagLength: wrapped<number>(m.max_path_tag_length, 256),
    spawnUpstreamSpan: wrapped<boolean>(m.spawn_upstream_span, false) || startChildSpan,
    useRequestIdForTraceSampling,
  };
}

function decodeCustomTag(t: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): TracingCustomTag {
  checkFields(t, CUSTOM_TAG, ref, field, ctx);
  const tag = String(t.tag ?? '');
  if (!tag) throw resourceError(ref, fieldPath(field, 'tag'), 'a custom tag needs a name');
  if (t.literal) return { tag, literal: String(t.literal.value ?? '') };
  const dflt = (v: unknown) => (v ? { defaultValue: String(v) } : {});
  if (t.environment) return { tag, environment: { name: String(t.environment.name), ...dflt(t.environment.default_value) } };
  if (t.request_header) return { tag, requestHeader: { name: String(t.request_header.name), ...dflt(t.request_header.default_value) } };
  if (t.metadata) {
    const kind = Object.keys((t.metadata.kind ?? {}) as Msg)[0];
    if (kind !== 'request') throw resourceError(ref, fieldPath(field, 'metadata.kind'), `only request metadata tags are supported, got ${kind ?? 'none'}`);
    const key = (t.metadata.metadata_key ?? {}) as Msg;
    const path = ((key.path ?? []) as Msg[]).map((p) => String(p.key));
    return { tag, requestMetadata: { filter: String(key.key ?? ''), path, ...dflt(t.metadata.default_value) } };
  }
  throw resourceError(ref, field, 'a custom tag needs literal, environment, request_header or metadata');
}

/**
 * A tracer (envoy.config.trace.v3.Tracing.Http): OpenTelemetry (gRPC to a cluster, or HTTP) or
 * Zipkin (v2 JSON); undefined, with a warning, for a tracer Outrigger does not export to.
 */
export function decodeTracingProvider(http: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): TracingProvider | undefined {
  checkFields(http, TRACING_HTTP, ref, field, ctx);
  const at = (k: string) => fieldPath(field, k);
  const tc = typedConfigOf(http.typed_config, ref, at('typed_config'));
  const type = tc?.typeName ?? '';
  const m = (tc?.message ?? {}) as Msg;
  const serviceName = ctx.serviceCluster ?? serviceClusterOf(ctx.node);
  if (type === OTEL_TYPE) {
    checkFields(m, OTEL, ref, at('typed_config'), ctx);
    const environmentResource = ((m.resource_detectors ?? []) as Msg[]).some((d) => d.name === 'envoy.tracers.opentelemetry.resource_detectors.environment');
    if (m.http_service) {
      return { kind: 'opentelemetry', serviceName: m.service_name || serviceName, transport: 'http', collector: httpCollector(m.http_service as Msg, ctx, ref, at('typed_config.http_service')), ...(environmentResource ? { environmentResource } : {}) };
    }
    if (!m.grpc_service) throw resourceError(ref, at('typed_config'), 'an OpenTelemetry tracer needs grpc_service or http_service');
    return { kind: 'opentelemetry', serviceName: m.service_name || serviceName, transport: 'grpc', collector: grpcCollector(m.grpc_service as Msg, ctx, ref, at('typed_config.grpc_service')), ...(environmentResource ? { environmentResource } : {}) };
  }
  if (type === ZIPKIN_TYPE) {
    checkFields(m, ZIPKIN, ref, at('typed_config'), ctx);
    if (m.collector_endpoint_version && m.collector_endpoint_version !== 'HTTP_JSON') throw resourceError(ref, at('typed_config.collector_endpoint_version'), `only HTTP_JSON (Zipkin v2 JSON) is supported, got ${m.collector_endpoint_version}`);
    const collector: TracingCollector = { cluster: String(m.collector_cluster ?? ''), authority: String(m.collector_hostname || m.collector_cluster || ''), path: String(m.collector_endpoint || '/api/v2/spans'), timeoutMs: DEFAULT_TIMEOUT_MS, headers: [] };
    if (!collector.cluster) throw resourceError(ref, at('typed_config.collector_cluster'), 'a Zipkin tracer needs collector_cluster');
    return { kind: 'zipkin', serviceName, collector, traceId128Bit: m.trace_id_128bit === true, sharedSpanContext: wrapped<boolean>(m.shared_span_context, true), traceContextOption: 'USE_B3' };
  }
  ctx.warn(`${ref.kind} ${ref.name}: ${field}: tracer ${http.name ?? type} is not exported to (OpenTelemetry and Zipkin are): requests are sampled, no span is sent`);
  return undefined;
}

function grpcCollector(g: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): TracingCollector {
  checkFields(g, GRPC_SERVICE, ref, field, ctx);
  const cluster = String(g.envoy_grpc?.cluster_name ?? '');
  if (!cluster) throw resourceError(ref, fieldPath(field, 'envoy_grpc.cluster_name'), 'the collector needs envoy_grpc.cluster_name');
  return {
    cluster,
    authority: String(g.envoy_grpc?.authority || cluster),
    timeoutMs: durationMs(g.timeout) ?? DEFAULT_TIMEOUT_MS,
    headers: ((g.initial_metadata ?? []) as Msg[]).map((h) => [String(h.key).toLowerCase(), String(h.value ?? '')]),
  };
}

function httpCollector(h: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): TracingCollector {
  checkFields(h, HTTP_SERVICE, ref, field, ctx);
  const uri = (h.http_uri ?? {}) as Msg;
  const cluster = String(uri.cluster ?? '');
  if (!cluster) throw resourceError(ref, fieldPath(field, 'http_uri.cluster'), 'the collector needs http_uri.cluster');
  // `host[:port]/path`, with or without a scheme (istiod writes `<host><path>` for OpenTelemetry, `http://<host><path>` for Zipkin)
  const m = /^(?:[a-z]+:\/\/)?([^/]*)(\/.*)?$/i.exec(String(uri.uri ?? ''));
  return {
    cluster,
    authority: m?.[1] || cluster,
    path: m?.[2] || '/',
    timeoutMs: durationMs(uri.timeout) ?? DEFAULT_TIMEOUT_MS,
    headers: ((h.request_headers_to_add ?? []) as Msg[]).map((o) => [String(o.header?.key ?? '').toLowerCase(), String(o.header?.value ?? '')]),
  };
}
