/**
 * A Snapshot Listener as Envoy's envoy.config.listener.v3.Listener JSON: the inverse of
 * decode/listener.ts, for /config_dump of a proxy fed by Istio YAML. Its connection managers name
 * their route configuration over RDS (the Snapshot's routeConfigs are the dump's route configs).
 */
import type {
  DownstreamTlsContext, FilterChain, HcmTracing, HttpConnectionManager, Listener, ListenerFilterScope, TcpProxy, TracingCustomTag, TracingProvider,
} from '../../snapshot.js';
import { HTTP_CONNECTION_MANAGER_FILTER, TCP_PROXY_FILTER, type NetworkFilterConfig } from '../network-filters.js';
import { HTTP_EXT_AUTHZ_FILTER, HTTP_RBAC_FILTER, JWT_AUTHN_FILTER, FAULT_FILTER, HEADER_MUTATION_FILTER, CORS_FILTER, ROUTER_FILTER } from '../http-filters.js';
import { LOCAL_RATELIMIT_FILTER } from '../local-ratelimit.js';
import { NETWORK_EXT_AUTHZ_FILTER, NETWORK_RBAC_FILTER } from '../rbac.js';
import { encodeAccessLog } from './access-log.js';
import { encodeCommonTlsContext } from './tls.js';
import { any, envoyJson, socketAddress, type Json } from './values.js';
import { formatDurationMs } from '../../duration.js';

/** The Envoy message of each filter's typed config. */
const HTTP_FILTER_TYPES: Record<string, string> = {
  [JWT_AUTHN_FILTER]: 'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
  [HTTP_RBAC_FILTER]: 'envoy.extensions.filters.http.rbac.v3.RBAC',
  [HTTP_EXT_AUTHZ_FILTER]: 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
  [FAULT_FILTER]: 'envoy.extensions.filters.http.fault.v3.HTTPFault',
  [HEADER_MUTATION_FILTER]: 'envoy.extensions.filters.http.header_mutation.v3.HeaderMutation',
  [CORS_FILTER]: 'envoy.extensions.filters.http.cors.v3.Cors',
  [LOCAL_RATELIMIT_FILTER]: 'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit',
};

const NETWORK_FILTER_TYPES: Record<string, string> = {
  [NETWORK_RBAC_FILTER]: 'envoy.extensions.filters.network.rbac.v3.RBAC',
  [NETWORK_EXT_AUTHZ_FILTER]: 'envoy.extensions.filters.network.ext_authz.v3.ExtAuthz',
};

export function encodeListener(l: Listener): Json {
  return {
    name: l.name,
    address: socketAddress(l.address, l.port),
    ...(l.filterChains.length ? { filter_chains: l.filterChains.map(encodeFilterChain) } : {}),
    ...(l.defaultFilterChain ? { default_filter_chain: encodeFilterChain(l.defaultFilterChain) } : {}),
    // a gateway's listeners face clients: istiod marks them OUTBOUND
    traffic_direction: l.direction === 'INBOUND' ? 'INBOUND' : 'OUTBOUND',
    ...(l.handOffRestoredDestination ? { use_original_dst: true } : {}),
    ...listenerFilters(l),
    ...(l.bindToPort === false ? { bind_to_port: false } : {}),
  };
}

/** original_dst (restoring without hand-off), tls_inspector and http_inspector with their disabled ports. */
function listenerFilters(l: Listener): Json {
  const list: Json[] = [];
  if (l.useOriginalDst && !l.handOffRestoredDestination) list.push({ name: 'envoy.filters.listener.original_dst', typed_config: any('envoy.extensions.filters.listener.original_dst.v3.OriginalDst', {}) });
  // absent: both inspectors on every port (the Istio front end's listeners)
  const inspectors = l.inspectors ?? { tls: {}, http: {} };
  if (inspectors.tls) list.push(inspector('envoy.filters.listener.tls_inspector', 'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector', inspectors.tls));
  if (inspectors.http) list.push(inspector('envoy.filters.listener.http_inspector', 'envoy.extensions.filters.listener.http_inspector.v3.HttpInspector', inspectors.http));
  if (!list.length) return {};
  const inspecting = !!(inspectors.tls || inspectors.http);
  return {
    listener_filters: list,
    ...(inspecting ? { listener_filters_timeout: formatDurationMs(l.protocolDetectionTimeoutMs ?? 0), continue_on_listener_filters_timeout: l.continueOnListenerFiltersTimeout !== false } : {}),
  };
}

function inspector(name: string, type: string, scope: ListenerFilterScope): Json {
  const disabled = scope.disabledPorts ?? [];
  const filterDisabled = disabled.length === 0
    ? {}
    : { filter_disabled: disabled.length === 1 ? portRange(disabled[0]) : { or_match: { rules: disabled.map(portRange) } } };
  return { name, typed_config: any(type, {}), ...filterDisabled };
}

function portRange(r: { start: number; end: number }): Json {
  return { destination_port_range: { start: r.start, end: r.end } };
}

export function encodeFilterChain(c: FilterChain): Json {
  const m = c.match;
  const match: Json = {
    ...(m.destinationPort !== undefined ? { destination_port: m.destinationPort } : {}),
    ...(m.prefixRanges?.length ? { prefix_ranges: m.prefixRanges.map(cidrRange) } : {}),
    ...(m.serverNames?.length ? { server_names: m.serverNames } : {}),
    ...(m.transportProtocol ? { transport_protocol: m.transportProtocol } : {}),
    ...(m.applicationProtocols?.length ? { application_protocols: m.applicationProtocols } : {}),
  };
  return {
    ...(Object.keys(match).length ? { filter_chain_match: match } : {}),
    filters: c.filters.map(encodeNetworkFilter),
    ...(c.transportSocket ? { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: any('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', encodeDownstreamTls(c.transportSocket.typedConfig)) } } : {}),
    ...(c.name ? { name: c.name } : {}),
  };
}

function cidrRange(cidr: string): Json {
  const [address, len] = cidr.split('/');
  return { address_prefix: address, prefix_len: len === undefined ? (address.includes(':') ? 128 : 32) : Number(len) };
}

function encodeDownstreamTls(t: DownstreamTlsContext): Json {
  return { common_tls_context: encodeCommonTlsContext(t.commonTlsContext), ...(t.requireClientCertificate ? { require_client_certificate: true } : {}) };
}

function encodeNetworkFilter(f: NetworkFilterConfig): Json {
  if (f.name === HTTP_CONNECTION_MANAGER_FILTER) return { name: f.name, typed_config: any('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', encodeHcm(f.typedConfig)) };
  if (f.name === TCP_PROXY_FILTER) return { name: f.name, typed_config: any('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', encodeTcpProxy(f.typedConfig)) };
  return { name: f.name, typed_config: any(NETWORK_FILTER_TYPES[f.name], envoyJson(f.typedConfig) as Json) };
}

function encodeTcpProxy(t: TcpProxy): Json {
  const clusters = t.clusters.length === 1 ? { cluster: t.clusters[0].name } : { weighted_clusters: { clusters: t.clusters.map((c) => ({ name: c.name, weight: c.weight })) } };
  return { stat_prefix: t.statPrefix, ...clusters, idle_timeout: formatDurationMs(t.idleTimeoutMs), ...(t.accessLog?.length ? { access_log: t.accessLog.map(encodeAccessLog) } : {}) };
}

const PATH_NORMALIZATION: Record<NonNullable<HttpConnectionManager['pathNormalization']>, Json> = {
  NONE: { normalize_path: false },
  BASE: { normalize_path: true },
  MERGE_SLASHES: { normalize_path: true, merge_slashes: true },
  DECODE_AND_MERGE_SLASHES: { normalize_path: true, merge_slashes: true, path_with_escaped_slashes_action: 'UNESCAPE_AND_FORWARD' },
};

export function encodeHcm(h: HttpConnectionManager): Json {
  const filters = h.httpFilters.map((f) => ({ name: f.name, typed_config: any(HTTP_FILTER_TYPES[f.name] ?? f.name, envoyJson(f.config ?? {}) as Json) }));
  filters.push({ name: ROUTER_FILTER, typed_config: any('envoy.extensions.filters.http.router.v3.Router', h.tracing?.spawnUpstreamSpan ? { start_child_span: true } : {}) });
  return {
    stat_prefix: h.statPrefix,
    rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: h.routeConfigName },
    http_filters: filters,
    ...(h.tracing ? { tracing: encodeTracing(h.tracing) } : {}),
    ...(h.accessLog?.length ? { access_log: h.accessLog.map(encodeAccessLog) } : {}),
    use_remote_address: h.useRemoteAddress,
    ...(h.xffNumTrustedHops ? { xff_num_trusted_hops: h.xffNumTrustedHops } : {}),
    max_request_headers_kb: h.maxRequestHeadersKb,
    common_http_protocol_options: { idle_timeout: formatDurationMs(h.idleTimeoutMs), ...(h.maxStreamDurationMs !== undefined ? { max_stream_duration: formatDurationMs(h.maxStreamDurationMs) } : {}) },
    http_protocol_options: h.acceptHttp10 ? { accept_http_10: true } : {},
    ...(h.streamIdleTimeoutMs !== undefined ? { stream_idle_timeout: formatDurationMs(h.streamIdleTimeoutMs) } : {}),
    ...(h.requestTimeoutMs !== undefined ? { request_timeout: formatDurationMs(h.requestTimeoutMs) } : {}),
    ...(h.requestHeadersTimeoutMs !== undefined ? { request_headers_timeout: formatDurationMs(h.requestHeadersTimeoutMs) } : {}),
    ...(h.forwardClientCertDetails ? { forward_client_cert_details: h.forwardClientCertDetails } : {}),
    ...(h.pathNormalization ? PATH_NORMALIZATION[h.pathNormalization] : {}),
    ...(h.upgradeTypes?.length ? { upgrade_configs: h.upgradeTypes.map((upgrade_type) => ({ upgrade_type })) } : {}),
    request_id_extension: { typed_config: any('envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig', h.tracing && !h.tracing.useRequestIdForTraceSampling ? { use_request_id_for_trace_sampling: false } : {}) },
  };
}

/** The connection manager's tracing; the provider by its kind, its collector as the cluster it reports to. */
function encodeTracing(t: HcmTracing): Json {
  return {
    random_sampling: { value: t.randomSamplingPercent },
    client_sampling: { value: t.clientSamplingPercent },
    overall_sampling: { value: t.overallSamplingPercent },
    max_path_tag_length: t.maxPathTagLength,
    ...(t.customTags.length ? { custom_tags: t.customTags.map(customTag).filter((x): x is Json => !!x) } : {}),
    ...(t.spawnUpstreamSpan ? { spawn_upstream_span: true } : {}),
    ...(t.provider ? { provider: tracingProvider(t.provider) } : {}),
  };
}

/** Envoy's tracer config: the collector as its cluster (gRPC service or HTTP service). */
function tracingProvider(p: TracingProvider): Json {
  const c = p.collector;
  if (p.kind === 'zipkin') {
    return {
      name: 'envoy.tracers.zipkin',
      typed_config: any('envoy.config.trace.v3.ZipkinConfig', {
        collector_cluster: c.cluster,
        collector_endpoint: c.path ?? '/api/v2/spans',
        collector_endpoint_version: 'HTTP_JSON',
        collector_hostname: c.authority,
        trace_id_128bit: p.traceId128Bit,
        shared_span_context: p.sharedSpanContext,
        ...(p.traceContextOption !== 'USE_B3' ? { trace_context_option: p.traceContextOption } : {}),
      }),
    };
  }
  const headers = c.headers.map(([key, value]) => ({ header: { key, value } }));
  const transport = p.transport === 'grpc'
    ? { grpc_service: { envoy_grpc: { cluster_name: c.cluster, authority: c.authority }, timeout: formatDurationMs(c.timeoutMs), ...(headers.length ? { initial_metadata: c.headers.map(([key, value]) => ({ key, value })) } : {}) } }
    : { http_service: { http_uri: { uri: `http://${c.authority}${c.path ?? '/v1/traces'}`, cluster: c.cluster, timeout: formatDurationMs(c.timeoutMs) }, ...(headers.length ? { request_headers_to_add: headers } : {}) } };
  return { name: 'envoy.tracers.opentelemetry', typed_config: any('envoy.config.trace.v3.OpenTelemetryConfig', { ...transport, service_name: p.serviceName }) };
}

function customTag(t: TracingCustomTag): Json | undefined {
  if ('literal' in t) return { tag: t.tag, literal: { value: t.literal } };
  if ('environment' in t) return { tag: t.tag, environment: { name: t.environment.name, ...(t.environment.defaultValue !== undefined ? { default_value: t.environment.defaultValue } : {}) } };
  if ('requestHeader' in t) return { tag: t.tag, request_header: { name: t.requestHeader.name, ...(t.requestHeader.defaultValue !== undefined ? { default_value: t.requestHeader.defaultValue } : {}) } };
  if ('requestMetadata' in t) return { tag: t.tag, metadata: { kind: { request: {} }, metadata_key: { key: t.requestMetadata.filter, path: t.requestMetadata.path.map((key) => ({ key })) }, ...(t.requestMetadata.defaultValue !== undefined ? { default_value: t.requestMetadata.defaultValue } : {}) } };
  return { tag: t.tag, value: t.formatter };
}
