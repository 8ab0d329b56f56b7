import { isIP } from 'node:net';
import type { CircuitBreakers, Cluster, ClusterLoadAssignment, DiscoveryType, LbPolicy, OutlierDetection, SdsConfigSource, TransportSocketMatch } from '../../snapshot.js';
import { DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS } from '../../upstream-defaults.js';
import { unpackAny, type AnyMessage } from '../proto/any.js';
import { durationMs, structToJs, wrapped, type DurationMessage, type StructMessage } from '../proto/values.js';
import { decodeConfigSource, type ConfigSourceMessage } from './config-source.js';
import { fieldPath, resourceError, type DecodeContext, type ResourceRef } from './context.js';
import { decodeClusterLoadAssignment, type ClusterLoadAssignmentMessage } from './endpoint.js';
import { checkFields, type FieldPolicy } from './fields.js';
import { decodeUpstreamTransportSocket, type TransportSocketMessage } from './tls-context.js';

/**
 * envoy.config.cluster.v3.Cluster (CDS, or a bootstrap's static cluster) → the Snapshot's Cluster,
 * with the inline load_assignment of STATIC / STRICT_DNS / LOGICAL_DNS clusters, and for EDS the
 * name its ClusterLoadAssignment comes under. The fields istiod sets are read the way the data
 * plane applies them (the same Snapshot as the Istio front end gives for the same intent); the
 * rest are refused or, where nothing about who is trusted depends on them, warned about.
 */

type Wrapped<T> = { value?: T };

interface HttpOptionsMessage {
  idle_timeout?: DurationMessage;
  max_requests_per_connection?: Wrapped<number>;
  max_connection_duration?: DurationMessage;
  max_headers_count?: Wrapped<number>;
  max_stream_duration?: DurationMessage;
  headers_with_underscores_action?: string;
}

interface Http2OptionsMessage {
  max_concurrent_streams?: Wrapped<number>;
}

interface HttpProtocolOptionsMessage {
  common_http_protocol_options?: HttpOptionsMessage;
  upstream_http_protocol_options?: UpstreamHttpOptionsMessage;
  upstream_protocol_options?: string;
  explicit_http_config?: { http_protocol_options?: object; http2_protocol_options?: Http2OptionsMessage; http3_protocol_options?: object; protocol_config?: string };
  use_downstream_protocol_config?: { http_protocol_options?: object; http2_protocol_options?: Http2OptionsMessage; http3_protocol_options?: object };
  http_filters?: { name?: string }[];
}

interface UpstreamHttpOptionsMessage {
  auto_sni?: boolean;
  auto_san_validation?: boolean;
  override_auto_sni_header?: string;
}

interface ThresholdsMessage {
  priority?: string;
  max_connections?: Wrapped<number>;
  max_pending_requests?: Wrapped<number>;
  max_requests?: Wrapped<number>;
  max_retries?: Wrapped<number>;
}

interface OutlierDetectionMessage {
  consecutive_5xx?: Wrapped<number>;
  interval?: DurationMessage;
  base_ejection_time?: DurationMessage;
  max_ejection_percent?: Wrapped<number>;
  enforcing_consecutive_5xx?: Wrapped<number>;
  enforcing_success_rate?: Wrapped<number>;
  consecutive_gateway_failure?: Wrapped<number>;
  enforcing_consecutive_gateway_failure?: Wrapped<number>;
  split_external_local_origin_errors?: boolean;
  consecutive_local_origin_failure?: Wrapped<number>;
  enforcing_consecutive_local_origin_failure?: Wrapped<number>;
  enforcing_local_origin_success_rate?: Wrapped<number>;
  enforcing_failure_percentage?: Wrapped<number>;
  enforcing_failure_percentage_local_origin?: Wrapped<number>;
}

interface SlowStartMessage {
  slow_start_window?: DurationMessage;
  aggression?: { default_value?: number };
  min_weight_percent?: { value?: number };
}

interface SocketAddressMessage {
  address?: string;
  port_value?: number;
}

/** envoy.config.cluster.v3.Cluster in the plain form (the fields this decoder reads). */
export interface ClusterMessage {
  name?: string;
  type?: string;
  cluster_discovery_type?: string;
  eds_cluster_config?: { eds_config?: ConfigSourceMessage; service_name?: string };
  connect_timeout?: DurationMessage;
  lb_policy?: string;
  load_assignment?: ClusterLoadAssignmentMessage;
  max_requests_per_connection?: Wrapped<number>;
  circuit_breakers?: { thresholds?: ThresholdsMessage[]; per_host_thresholds?: ThresholdsMessage[] };
  upstream_http_protocol_options?: UpstreamHttpOptionsMessage;
  common_http_protocol_options?: HttpOptionsMessage;
  http_protocol_options?: object;
  http2_protocol_options?: Http2OptionsMessage;
  typed_extension_protocol_options?: Record<string, AnyMessage>;
  dns_lookup_family?: string;
  outlier_detection?: OutlierDetectionMessage;
  upstream_bind_config?: { source_address?: SocketAddressMessage; extra_source_addresses?: { address?: SocketAddressMessage }[]; additional_source_addresses?: SocketAddressMessage[] };
  ring_hash_lb_config?: { minimum_ring_size?: Wrapped<string>; maximum_ring_size?: Wrapped<string>; hash_function?: string };
  maglev_lb_config?: { table_size?: Wrapped<string> };
  original_dst_lb_config?: { upstream_port_override?: Wrapped<number> };
  least_request_lb_config?: { choice_count?: Wrapped<number>; slow_start_config?: SlowStartMessage };
  round_robin_lb_config?: { slow_start_config?: SlowStartMessage };
  lb_config?: string;
  common_lb_config?: { healthy_panic_threshold?: { value?: number } };
  transport_socket?: TransportSocketMessage;
  transport_socket_matches?: { name?: string; match?: StructMessage; transport_socket?: TransportSocketMessage }[];
  metadata?: { filter_metadata?: Record<string, StructMessage> };
  protocol_selection?: string;
  filters?: { name?: string; typed_config?: AnyMessage }[];
}

/** A decoded cluster: the Snapshot's Cluster and, by type, its inline hosts or where EDS sends them. */
export interface DecodedCluster {
  cluster: Cluster;
  /** STATIC, STRICT_DNS, LOGICAL_DNS: the inline load_assignment, clusterName set to the cluster's name. */
  loadAssignment?: ClusterLoadAssignment;
  /** EDS: the ClusterLoadAssignment name to subscribe to (eds_cluster_config.service_name, else the cluster's name). */
  edsServiceName?: string;
  /** EDS: where that assignment comes from (istiod: ADS). */
  edsConfig?: SdsConfigSource;
}

const NOT_FOR_TRUST = 'health checking is not done: hosts are chosen by their EDS health status';

const CLUSTER: FieldPolicy = {
  type: 'envoy.config.cluster.v3.Cluster',
  reads: [
    'name', 'type', 'eds_cluster_config', 'connect_timeout', 'lb_policy', 'load_assignment', 'max_requests_per_connection', 'circuit_breakers',
    'upstream_http_protocol_options', 'common_http_protocol_options', 'http_protocol_options', 'http2_protocol_options', 'typed_extension_protocol_options',
    'dns_lookup_family', 'outlier_detection', 'upstream_bind_config', 'ring_hash_lb_config', 'maglev_lb_config', 'original_dst_lb_config',
    'least_request_lb_config', 'round_robin_lb_config', 'common_lb_config', 'transport_socket', 'transport_socket_matches', 'metadata',
    'protocol_selection', 'filters',
    // no effect here: names are resolved on every connection (dns_*), the pools buffer per stream
    // (per_connection_buffer_limit_bytes), original-destination hosts are evicted when idle (cleanup_interval),
    // stats carry the cluster's own name (alt_stat_name), warming is the assembler's (wait_for_warm_on_init)
    'per_connection_buffer_limit_bytes', 'dns_refresh_rate', 'dns_failure_refresh_rate', 'respect_dns_ttl', 'cleanup_interval', 'alt_stat_name', 'wait_for_warm_on_init',
  ],
  ignored: {
    health_checks: NOT_FOR_TRUST,
    close_connections_on_host_health_failure: NOT_FOR_TRUST,
    ignore_health_on_host_removal: NOT_FOR_TRUST,
    dns_resolvers: 'the system resolver is used',
    use_tcp_for_dns_lookups: 'the system resolver is used',
    dns_resolution_config: 'the system resolver is used',
    typed_dns_resolver_config: 'the system resolver is used',
    upstream_connection_options: 'TCP keepalive and happy eyeballs settings are left to the system',
    lrs_server: 'load reports are not sent',
    lrs_report_endpoint_metrics: 'load reports are not sent',
    track_timeout_budgets: 'timeout budget stats are not kept',
    track_cluster_stats: 'these extra stats are not kept',
    preconnect_policy: 'connections are not opened ahead of requests',
    connection_pool_per_downstream_connection: 'pools are per host',
  },
  refused: {
    cluster_type: 'custom cluster types (aggregate, dynamic forward proxy, ...) are not supported',
    lb_subset_config: 'subset load balancing is not supported (istiod makes a cluster per subset)',
    load_balancing_policy: 'load_balancing_policy is not supported: use lb_policy',
    upstream_config: 'custom upstreams are not supported',
  },
};

const HTTP_OPTIONS: FieldPolicy = {
  type: 'envoy.config.core.v3.HttpProtocolOptions',
  reads: ['idle_timeout', 'max_requests_per_connection'],
  ignored: {
    max_connection_duration: 'upstream connections are not closed by age',
    max_headers_count: 'the response header count limit is the codec\'s',
    max_stream_duration: 'the route timeout bounds upstream streams',
    headers_with_underscores_action: 'upstream response headers are not filtered by name',
  },
};

const TYPED_HTTP_OPTIONS: FieldPolicy = {
  type: 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
  reads: ['common_http_protocol_options', 'upstream_http_protocol_options', 'explicit_http_config', 'use_downstream_protocol_config', 'http_filters'],
  ignored: { header_validation_config: 'the codec\'s own header checks apply' },
  refused: { auto_config: 'ALPN-negotiated upstream protocol (auto_config) is not supported' },
};

const HTTP2_OPTIONS: FieldPolicy = {
  type: 'envoy.config.core.v3.Http2ProtocolOptions',
  reads: ['max_concurrent_streams'],
  ignored: {
    hpack_table_size: 'HTTP/2 settings are node:http2\'s',
    initial_stream_window_size: 'HTTP/2 settings are node:http2\'s',
    initial_connection_window_size: 'HTTP/2 settings are node:http2\'s',
    connection_keepalive: 'HTTP/2 PINGs are not sent',
    max_outbound_frames: 'node:http2 limits frames itself',
    max_outbound_control_frames: 'node:http2 limits frames itself',
    max_consecutive_inbound_frames_with_empty_payload: 'node:http2 limits frames itself',
    max_inbound_priority_frames_per_stream: 'node:http2 limits frames itself',
    max_inbound_window_update_frames_per_data_frame_sent: 'node:http2 limits frames itself',
    stream_error_on_invalid_http_messaging: 'node:http2 decides',
    override_stream_error_on_invalid_http_message: 'node:http2 decides',
    use_oghttp2_codec: 'the codec is node:http2',
  },
  refused: { allow_connect: 'extended CONNECT upstream is not supported', allow_metadata: 'METADATA frames are not supported', custom_settings_parameters: 'custom HTTP/2 settings are not supported' },
};

const UPSTREAM_HTTP: FieldPolicy = {
  type: 'envoy.config.core.v3.UpstreamHttpProtocolOptions',
  // auto_sni: the data plane sends the context's sni, else the endpoint's address (a DNS cluster's name)
  reads: ['auto_sni', 'auto_san_validation'],
  ignored: { override_auto_sni_header: 'the SNI is the context\'s sni, else the endpoint address' },
};

const THRESHOLDS: FieldPolicy = {
  type: 'envoy.config.cluster.v3.CircuitBreakers.Thresholds',
  // track_remaining: the remaining-capacity gauges (not exported)
  reads: ['priority', 'max_connections', 'max_pending_requests', 'max_requests', 'max_retries', 'track_remaining'],
  ignored: { retry_budget: 'retries are limited by max_retries', max_connection_pools: 'pools are not limited in number' },
};

const OUTLIER: FieldPolicy = {
  type: 'envoy.config.cluster.v3.OutlierDetection',
  reads: [
    'consecutive_5xx', 'interval', 'base_ejection_time', 'max_ejection_percent', 'enforcing_consecutive_5xx', 'consecutive_gateway_failure',
    'enforcing_consecutive_gateway_failure', 'split_external_local_origin_errors', 'consecutive_local_origin_failure', 'enforcing_consecutive_local_origin_failure',
    'enforcing_success_rate', 'enforcing_local_origin_success_rate', 'enforcing_failure_percentage', 'enforcing_failure_percentage_local_origin',
    // parameters of the success-rate and failure-percentage detectors (warned about once, on their enforcing field)
    'success_rate_minimum_hosts', 'success_rate_request_volume', 'success_rate_stdev_factor', 'failure_percentage_threshold', 'failure_percentage_minimum_hosts', 'failure_percentage_request_volume',
  ],
  ignored: {
    max_ejection_time: 'the ejection time grows without a cap',
    max_ejection_time_jitter: 'ejection times have no jitter',
    successful_active_health_check_uneject_host: 'no active health checks',
    monitors: 'outlier monitors are not supported',
    always_eject_one_host: 'max_ejection_percent is the only cap',
  },
};

const COMMON_LB: FieldPolicy = {
  type: 'envoy.config.cluster.v3.Cluster.CommonLbConfig',
  // locality_weighted_lb_config: the data plane weighs localities by their EDS weights
  reads: ['healthy_panic_threshold', 'locality_weighted_lb_config'],
  ignored: {
    zone_aware_lb_config: 'zone-aware routing is not done (istiod expresses locality as priorities)',
    update_merge_window: 'host updates apply at once',
    ignore_new_hosts_until_first_hc: 'no active health checks',
    close_connections_on_host_set_change: 'connections stay when other hosts change',
    consistent_hashing_lb_config: 'hashes use the host address',
    override_host_status: 'host override is not supported',
  },
};

const LB_POLICIES: Record<string, LbPolicy> = { ROUND_ROBIN: 'ROUND_ROBIN', LEAST_REQUEST: 'LEAST_REQUEST', RANDOM: 'RANDOM', RING_HASH: 'RING_HASH', MAGLEV: 'MAGLEV', CLUSTER_PROVIDED: 'CLUSTER_PROVIDED' };
const TYPES: Record<string, DiscoveryType> = { STATIC: 'STATIC', STRICT_DNS: 'STRICT_DNS', LOGICAL_DNS: 'LOGICAL_DNS', EDS: 'EDS', ORIGINAL_DST: 'ORIGINAL_DST' };

/** Envoy's defaults for a cluster that sets no circuit breakers (default priority). */
const ENVOY_DEFAULT_THRESHOLDS: CircuitBreakers = { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 };
const UNLIMITED = 2 ** 32 - 1;
/** Envoy's connect_timeout default. */
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** Envoy's healthy_panic_threshold default. */
const DEFAULT_PANIC_THRESHOLD = 50;
/** Envoy's idle_timeout 0: never closed for idleness. */
const NO_IDLE_TIMEOUT_MS = Number.MAX_SAFE_INTEGER;

/** Envoy's bounds on hash tables: ring_hash_lb_config.minimum_ring_size, maglev_lb_config.table_size (a prime). */
const MAX_RING_SIZE = 8_388_608;
const MAX_MAGLEV_TABLE_SIZE = 5_000_011;

function isPrime(n: number): boolean {
  if (n < 2 || !Number.isInteger(n)) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

const HTTP_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const TCP_OPTIONS_KEY = 'envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions';
/** Istio's upstream metadata exchange: it acts only on an `istio-peer-exchange` ALPN, which Outrigger never negotiates. */
const METADATA_EXCHANGE_FILTERS = new Set(['istio.metadata_exchange', 'envoy.filters.network.metadata_exchange']);
/** Upstream HTTP filters with no effect here: the codec (always last) and Istio's peer metadata (telemetry). */
const UPSTREAM_HTTP_FILTERS_NOOP = new Set(['envoy.filters.http.upstream_codec', 'istio.metadata_exchange', 'envoy.filters.http.peer_metadata', 'istio.peer_metadata']);

/** istiod's cluster names: `outbound|9080|v1|reviews.default.svc.cluster.local`, `inbound|9080||`. */
const ISTIO_CLUSTER_NAME = /^(?:outbound|inbound|inbound-vip)\|(\d+)\|([^|]*)\|(.*)$/;

export function decodeCluster(msg: ClusterMessage, ctx: DecodeContext): DecodedCluster {
  const name = msg.name ?? '';
  const ref: ResourceRef = { kind: 'Cluster', name };
  if (!name) throw resourceError(ref, 'name', 'a cluster needs a name');
  checkFields(msg, CLUSTER, ref, '', ctx);
  const type = TYPES[msg.type ?? 'STATIC'];
  if (!type) throw resourceError(ref, 'type', `cluster type ${msg.type} is not supported`);
  const lbPolicy = LB_POLICIES[msg.lb_policy ?? 'ROUND_ROBIN'];
  if (!lbPolicy) throw resourceError(ref, 'lb_policy', `${msg.lb_policy} is not supported`);
  if ((type === 'ORIGINAL_DST') !== (lbPolicy === 'CLUSTER_PROVIDED')) throw resourceError(ref, 'lb_policy', type === 'ORIGINAL_DST' ? 'an ORIGINAL_DST cluster needs lb_policy CLUSTER_PROVIDED' : `CLUSTER_PROVIDED is for ORIGINAL_DST clusters, not ${type}`);

  const http = decodeHttpOptions(msg, ref, ctx);
  const connectTimeoutMs = durationMs(msg.connect_timeout) ?? DEFAULT_CONNECT_TIMEOUT_MS;
  if (connectTimeoutMs <= 0) throw resourceError(ref, 'connect_timeout', 'must be above 0');
  const cluster: Cluster = {
    name,
    type,
    lbPolicy,
    connectTimeoutMs,
    idleTimeoutMs: http.idleTimeoutMs,
    ...circuitBreakersOf(msg, ref, ctx),
    ...(http.maxRequestsPerConnection ? { maxRequestsPerConnection: http.maxRequestsPerConnection } : {}),
    ...outlierOf(msg, ref, ctx),
    ...lbConfigOf(msg, lbPolicy, ref, ctx),
    ...bindOf(msg, ref, ctx),
    ...transportOf(msg, ref, ctx),
    ...(http.http2 ? { http2: http.http2 } : {}),
    ...(http.useClientProtocol ? { useClientProtocol: true } : {}),
    ...(http.autoSanValidation ? { autoSanValidation: true } : {}),
    ...serviceOf(msg, name, ref),
    ...dnsOf(msg, type, ref),
  };
  checkFiltersOf(msg, ref);

  const out: DecodedCluster = { cluster };
  if (type === 'EDS') {
    const eds = msg.eds_cluster_config;
    if (!eds?.eds_config) throw resourceError(ref, 'eds_cluster_config.eds_config', 'an EDS cluster needs its eds_config');
    out.edsServiceName = eds.service_name || name;
    out.edsConfig = decodeConfigSource(eds.eds_config, ref, 'eds_cluster_config.eds_config', ctx);
  } else if (type !== 'ORIGINAL_DST') {
    out.loadAssignment = inlineAssignment(msg, type, ref, ctx);
  } else if (msg.load_assignment?.endpoints?.length) {
    throw resourceError(ref, 'load_assignment', 'an ORIGINAL_DST cluster takes no hosts');
  }
  return out;
}

/** The hosts of a STATIC, STRICT_DNS or LOGICAL_DNS cluster, checked as Envoy checks them. */
function inlineAssignment(msg: ClusterMessage, type: DiscoveryType, ref: ResourceRef, ctx: DecodeContext): ClusterLoadAssignment {
  const assignment = decodeClusterLoadAssignment({ ...msg.load_assignment, cluster_name: ref.name }, ref, 'load_assignment', ctx);
  const hosts = assignment.endpoints.flatMap((l, i) => l.lbEndpoints.map((e, j) => ({ e, at: `load_assignment.endpoints[${i}].lb_endpoints[${j}].endpoint.address` })));
  if (type === 'LOGICAL_DNS' && (assignment.endpoints.length !== 1 || hosts.length !== 1)) throw resourceError(ref, 'load_assignment', 'a LOGICAL_DNS cluster has exactly one locality with one endpoint');
  for (const { e, at } of hosts) {
    const a = e.endpoint.address;
    if ('pipe' in a) {
      if (type !== 'STATIC') throw resourceError(ref, at, `a pipe is for STATIC clusters, not ${type}`);
    } else if (type === 'STATIC' && !isIP(a.socketAddress.address)) {
      throw resourceError(ref, at, `a STATIC cluster needs IP addresses, not ${a.socketAddress.address} (STRICT_DNS resolves names)`);
    }
  }
  return assignment;
}

interface HttpSettings {
  idleTimeoutMs: number;
  autoSanValidation?: boolean;
  maxRequestsPerConnection?: number;
  http2?: { maxConcurrentStreams?: number };
  useClientProtocol?: boolean;
}

/**
 * The upstream HTTP protocol: typed_extension_protocol_options' HttpProtocolOptions (what istiod
 * sends), else the deprecated cluster fields (http2_protocol_options, common_http_protocol_options,
 * protocol_selection).
 */
function decodeHttpOptions(msg: ClusterMessage, ref: ResourceRef, ctx: DecodeContext): HttpSettings {
  let typed: HttpProtocolOptionsMessage | undefined;
  for (const [key, any] of Object.entries(msg.typed_extension_protocol_options ?? {})) {
    const at = `typed_extension_protocol_options.${key}`;
    if (key === TCP_OPTIONS_KEY) {
      ctx.warn(`Cluster ${ref.name}: ${at} is not applied (the TCP proxy's idle timeout applies)`);
      continue;
    }
    if (key !== HTTP_OPTIONS_KEY) throw resourceError(ref, at, 'protocol options of this extension are not supported');
    const unpacked = unpackAnyAt<HttpProtocolOptionsMessage>(any, ref, at);
    if (unpacked.typeName !== HTTP_OPTIONS_KEY) throw resourceError(ref, at, `expected ${HTTP_OPTIONS_KEY}, got ${unpacked.typeName}`);
    typed = unpacked.message;
    checkFields(typed, TYPED_HTTP_OPTIONS, ref, at, ctx);
  }
  // Envoy refuses a cluster that gives both forms of these (max_requests_per_connection may stay: istio-agent's xds-grpc has both)
  const deprecated = (['http2_protocol_options', 'common_http_protocol_options', 'upstream_http_protocol_options', 'http_protocol_options'] as const).find((f) => msg[f] !== undefined);
  if (typed && deprecated) throw resourceError(ref, deprecated, `cannot be set with typed_extension_protocol_options.${HTTP_OPTIONS_KEY}`);
  const common = typed?.common_http_protocol_options ?? msg.common_http_protocol_options;
  const commonAt = typed?.common_http_protocol_options ? `typed_extension_protocol_options.${HTTP_OPTIONS_KEY}.common_http_protocol_options` : 'common_http_protocol_options';
  if (common) checkFields(common, HTTP_OPTIONS, ref, commonAt, ctx);
  const upstreamHttp = typed?.upstream_http_protocol_options ?? msg.upstream_http_protocol_options;
  if (upstreamHttp) checkFields(upstreamHttp, UPSTREAM_HTTP, ref, 'upstream_http_protocol_options', ctx);
  (typed?.http_filters ?? []).forEach((f, i) => {
    if (!UPSTREAM_HTTP_FILTERS_NOOP.has(f.name ?? '')) throw resourceError(ref, `typed_extension_protocol_options.${HTTP_OPTIONS_KEY}.http_filters[${i}]`, `upstream HTTP filter ${f.name ?? ''} is not supported`);
  });

  const idle = durationMs(common?.idle_timeout);
  const out: HttpSettings = {
    idleTimeoutMs: idle === undefined ? DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS : idle === 0 ? NO_IDLE_TIMEOUT_MS : idle,
    ...(upstreamHttp?.auto_san_validation ? { autoSanValidation: true } : {}),
  };
  const maxRequests = wrapped(common?.max_requests_per_connection) ?? wrapped(msg.max_requests_per_connection);
  if (maxRequests) out.maxRequestsPerConnection = maxRequests;

  const h2 = (o: Http2OptionsMessage, at: string) => {
    checkFields(o, HTTP2_OPTIONS, ref, at, ctx);
    const streams = wrapped(o.max_concurrent_streams);
    return streams ? { maxConcurrentStreams: streams } : {};
  };
  const base = `typed_extension_protocol_options.${HTTP_OPTIONS_KEY}`;
  if (typed?.explicit_http_config) {
    const e = typed.explicit_http_config;
    if (e.http3_protocol_options) throw resourceError(ref, `${base}.explicit_http_config.http3_protocol_options`, 'HTTP/3 upstream is not supported');
    if (e.http2_protocol_options) out.http2 = h2(e.http2_protocol_options, `${base}.explicit_http_config.http2_protocol_options`);
  } else if (typed?.use_downstream_protocol_config) {
    const d = typed.use_downstream_protocol_config;
    if (d.http3_protocol_options) throw resourceError(ref, `${base}.use_downstream_protocol_config.http3_protocol_options`, 'HTTP/3 upstream is not supported');
    out.useClientProtocol = true;
    out.http2 = d.http2_protocol_options ? h2(d.http2_protocol_options, `${base}.use_downstream_protocol_config.http2_protocol_options`) : {};
  } else if (!typed) {
    if (msg.http2_protocol_options) out.http2 = h2(msg.http2_protocol_options, 'http2_protocol_options');
    if (msg.protocol_selection === 'USE_DOWNSTREAM_PROTOCOL') {
      out.useClientProtocol = true;
      out.http2 ??= {};
    }
  }
  return out;
}

function unpackAnyAt<T>(any: AnyMessage, ref: ResourceRef, at: string): { typeName: string; message: T } {
  let unpacked;
  try {
    unpacked = unpackAny<T>(any);
  } catch (e) {
    throw resourceError(ref, at, `does not decode: ${(e as Error).message}`);
  }
  if (!unpacked.known) throw resourceError(ref, at, `unknown type ${any.type_url}`);
  return unpacked;
}

/**
 * The default-priority thresholds (Envoy's defaults when the cluster sets none). istiod's "no limit"
 * (every threshold 2^32-1) is no circuit breaker at all, as the Istio front end leaves it.
 */
function circuitBreakersOf(msg: ClusterMessage, ref: ResourceRef, ctx: DecodeContext): Pick<Cluster, 'circuitBreakers'> {
  const cb = msg.circuit_breakers;
  let chosen: ThresholdsMessage | undefined;
  (cb?.thresholds ?? []).forEach((t, i) => {
    const at = `circuit_breakers.thresholds[${i}]`;
    checkFields(t, THRESHOLDS, ref, at, ctx);
    if ((t.priority ?? 'DEFAULT') === 'DEFAULT') chosen = t;
    else ctx.warn(`Cluster ${ref.name}: ${at} (priority ${t.priority}) is not applied: routes have no priority`);
  });
  if (cb?.per_host_thresholds?.length) ctx.warn(`Cluster ${ref.name}: circuit_breakers.per_host_thresholds is not applied`);
  const d = ENVOY_DEFAULT_THRESHOLDS;
  const breakers: CircuitBreakers = chosen
    ? {
        maxConnections: wrapped(chosen.max_connections, d.maxConnections),
        maxPendingRequests: wrapped(chosen.max_pending_requests, d.maxPendingRequests),
        maxRequests: wrapped(chosen.max_requests, d.maxRequests),
        maxRetries: wrapped(chosen.max_retries, d.maxRetries),
      }
    : d;
  if (Object.values(breakers).every((v) => v >= UNLIMITED)) return {};
  return { circuitBreakers: breakers };
}

/**
 * Envoy's outlier detection as the data plane runs it: consecutive 5xx, gateway and (split)
 * local-origin failures, each on when its enforcing percentage is above 0 (treated as 100).
 * The success-rate and failure-percentage detectors are not run: warned about when enforced.
 */
function outlierOf(msg: ClusterMessage, ref: ResourceRef, ctx: DecodeContext): Pick<Cluster, 'outlierDetection'> {
  const o = msg.outlier_detection;
  if (!o) return {};
  checkFields(o, OUTLIER, ref, 'outlier_detection', ctx);
  const warn = (field: string, what: string) => ctx.warn(`Cluster ${ref.name}: outlier_detection.${field} is not applied (${what})`);
  const enforced = (field: keyof OutlierDetectionMessage, w: Wrapped<number> | undefined, byDefault: number): boolean => {
    const pct = wrapped(w, byDefault);
    if (pct > 0 && pct < 100) warn(field, `enforced at 100%, not ${pct}%`);
    return pct > 0;
  };
  if (wrapped(o.enforcing_success_rate, 100) > 0) warn('enforcing_success_rate', 'success-rate ejection is not done; set it to 0 as istiod does');
  if (wrapped(o.enforcing_local_origin_success_rate, 100) > 0 && o.split_external_local_origin_errors) warn('enforcing_local_origin_success_rate', 'success-rate ejection is not done');
  if (wrapped(o.enforcing_failure_percentage, 0) > 0) warn('enforcing_failure_percentage', 'failure-percentage ejection is not done');
  if (wrapped(o.enforcing_failure_percentage_local_origin, 0) > 0) warn('enforcing_failure_percentage_local_origin', 'failure-percentage ejection is not done');
  // Envoy's proto validation: a detector that sweeps every 0 ms or ejects for 0 ms is refused
  for (const f of ['interval', 'base_ejection_time'] as const) {
    if (o[f] && !(durationMs(o[f])! > 0)) throw resourceError(ref, `outlier_detection.${f}`, 'must be above 0');
  }
  if (wrapped(o.max_ejection_percent, 10) > 100) throw resourceError(ref, 'outlier_detection.max_ejection_percent', 'must be at most 100');
  const split = o.split_external_local_origin_errors ?? false;
  const detection: OutlierDetection = {
    consecutive5xx: enforced('enforcing_consecutive_5xx', o.enforcing_consecutive_5xx, 100) ? wrapped(o.consecutive_5xx, 5) : 0,
    consecutiveGatewayFailure: enforced('enforcing_consecutive_gateway_failure', o.enforcing_consecutive_gateway_failure, 0) ? wrapped(o.consecutive_gateway_failure, 5) : 0,
    consecutiveLocalOriginFailure: split && enforced('enforcing_consecutive_local_origin_failure', o.enforcing_consecutive_local_origin_failure, 100) ? wrapped(o.consecutive_local_origin_failure, 5) : 0,
    splitExternalLocalOriginErrors: split,
    intervalMs: durationMs(o.interval) ?? 10_000,
    baseEjectionTimeMs: durationMs(o.base_ejection_time) ?? 30_000,
    maxEjectionPercent: wrapped(o.max_ejection_percent, 10),
  };
  return { outlierDetection: detection };
}

/** The panic threshold, the hash table size and slow start, from common_lb_config and the policy's own config. */
type LbSettings = Pick<Cluster, 'panicThresholdPercent' | 'hashTableSize' | 'slowStart' | 'originalDstPortOverride'>;

function lbConfigOf(msg: ClusterMessage, policy: LbPolicy, ref: ResourceRef, ctx: DecodeContext): LbSettings {
  const out: LbSettings = {};
  if (msg.common_lb_config) checkFields(msg.common_lb_config, COMMON_LB, ref, 'common_lb_config', ctx);
  const panic = msg.common_lb_config?.healthy_panic_threshold;
  out.panicThresholdPercent = panic ? (panic.value ?? 0) : DEFAULT_PANIC_THRESHOLD;
  const mismatch = (config: string) => {
    throw resourceError(ref, config, `${config} does not go with lb_policy ${policy}`);
  };
  switch (msg.lb_config) {
    case undefined:
      break;
    case 'ring_hash_lb_config': {
      if (policy !== 'RING_HASH') mismatch('ring_hash_lb_config');
      const r = msg.ring_hash_lb_config!;
      if (r.hash_function === 'MURMUR_HASH_2') ctx.warn(`Cluster ${ref.name}: ring_hash_lb_config.hash_function MURMUR_HASH_2 is not applied (xxHash)`);
      if (r.maximum_ring_size) ctx.warn(`Cluster ${ref.name}: ring_hash_lb_config.maximum_ring_size is not applied`);
      const size = Number(wrapped(r.minimum_ring_size) ?? 0);
      // Envoy's bound (proto validation): a ring is built per load balancer, so a huge one would exhaust memory
      if (size > MAX_RING_SIZE) throw resourceError(ref, 'ring_hash_lb_config.minimum_ring_size', `must be at most ${MAX_RING_SIZE}`);
      if (size) out.hashTableSize = size;
      break;
    }
    case 'maglev_lb_config': {
      if (policy !== 'MAGLEV') mismatch('maglev_lb_config');
      const size = Number(wrapped(msg.maglev_lb_config!.table_size) ?? 0);
      if (size && (size > MAX_MAGLEV_TABLE_SIZE || !isPrime(size))) throw resourceError(ref, 'maglev_lb_config.table_size', `must be a prime at most ${MAX_MAGLEV_TABLE_SIZE}`);
      if (size) out.hashTableSize = size;
      break;
    }
    case 'least_request_lb_config': {
      if (policy !== 'LEAST_REQUEST') mismatch('least_request_lb_config');
      const l = msg.least_request_lb_config!;
      const choices = wrapped(l.choice_count, 2);
      if (choices !== 2) ctx.warn(`Cluster ${ref.name}: least_request_lb_config.choice_count ${choices} is not applied (two choices)`);
      warnOthers(l, ['choice_count', 'slow_start_config'], 'least_request_lb_config', ref, ctx);
      if (l.slow_start_config) out.slowStart = slowStartOf(l.slow_start_config);
      break;
    }
    case 'round_robin_lb_config': {
      if (policy !== 'ROUND_ROBIN') mismatch('round_robin_lb_config');
      const r = msg.round_robin_lb_config!;
      warnOthers(r, ['slow_start_config'], 'round_robin_lb_config', ref, ctx);
      if (r.slow_start_config) out.slowStart = slowStartOf(r.slow_start_config);
      break;
    }
    case 'original_dst_lb_config': {
      // a port override (istiod's headless target ports) is kept; routing by a header or a metadata key
      // would let a request choose where it goes: refused
      const o = msg.original_dst_lb_config!;
      const keys = Object.keys(o).filter((k) => k !== 'upstream_port_override' && (o as Record<string, unknown>)[k] !== false);
      if (keys.length) throw resourceError(ref, `original_dst_lb_config.${keys[0]}`, 'not supported: the original destination is always the connection\'s');
      const port = wrapped(o.upstream_port_override);
      if (port !== undefined && (port < 1 || port > 65535)) throw resourceError(ref, 'original_dst_lb_config.upstream_port_override', 'must be a port (1-65535)');
      if (port !== undefined) out.originalDstPortOverride = port;
      break;
    }
  }
  return out;
}

function warnOthers(m: object, read: string[], at: string, ref: ResourceRef, ctx: DecodeContext): void {
  for (const k of Object.keys(m)) if (!read.includes(k)) ctx.warn(`Cluster ${ref.name}: ${at}.${k} is not applied`);
}

/** Envoy's slow_start_config: window, aggression (default 1.0), min weight percent (default 10). */
function slowStartOf(s: SlowStartMessage): NonNullable<Cluster['slowStart']> {
  return { windowMs: durationMs(s.slow_start_window) ?? 0, aggression: s.aggression?.default_value ?? 1, minWeightPercent: s.min_weight_percent?.value ?? 10 };
}

/** Envoy's upstream_bind_config: the source address, and one per other family (extra_source_addresses). */
function bindOf(msg: ClusterMessage, ref: ResourceRef, ctx: DecodeContext): Pick<Cluster, 'upstreamBindAddresses'> {
  const b = msg.upstream_bind_config;
  if (!b) return {};
  warnOthers(b, ['source_address', 'extra_source_addresses', 'additional_source_addresses'], 'upstream_bind_config', ref, ctx);
  const all = [b.source_address, ...(b.extra_source_addresses ?? []).map((e) => e.address), ...(b.additional_source_addresses ?? [])];
  const addresses: string[] = [];
  all.forEach((a, i) => {
    if (!a) return;
    if (!a.address || !isIP(a.address)) throw resourceError(ref, 'upstream_bind_config', `a source address must be an IP, not ${a.address ?? '(none)'}`);
    if (a.port_value) ctx.warn(`Cluster ${ref.name}: upstream_bind_config source port ${a.port_value} (address ${i}) is not applied`);
    addresses.push(a.address);
  });
  return addresses.length ? { upstreamBindAddresses: addresses } : {};
}

/** transport_socket (plaintext: none) and transport_socket_matches, as the data plane picks them per endpoint. */
function transportOf(msg: ClusterMessage, ref: ResourceRef, ctx: DecodeContext): Pick<Cluster, 'transportSocket' | 'transportSocketMatches'> {
  const out: Pick<Cluster, 'transportSocket' | 'transportSocketMatches'> = {};
  if (msg.transport_socket) {
    const socket = decodeUpstreamTransportSocket(msg.transport_socket, ref, 'transport_socket', ctx);
    if (socket.name === 'envoy.transport_sockets.tls') out.transportSocket = socket;
  }
  const matches = msg.transport_socket_matches ?? [];
  if (matches.length) {
    out.transportSocketMatches = matches.map((m, i): TransportSocketMatch => {
      const at = `transport_socket_matches[${i}]`;
      const match: Record<string, string> = {};
      for (const [k, v] of Object.entries(structToJs(m.match))) {
        // endpoints carry tlsMode alone (istio's); a match on anything else could never select its socket,
        // and a TLS socket meant for some endpoints would silently become the plaintext fallback
        if (k !== 'tlsMode' || v !== 'istio') throw resourceError(ref, `${at}.match.${k}`, 'transport socket matches on tlsMode: istio only (istiod\'s auto mTLS)');
        match[k] = v;
      }
      if (!m.transport_socket) throw resourceError(ref, `${at}.transport_socket`, 'a transport socket match needs its transport socket');
      return { name: m.name ?? '', match, transportSocket: decodeUpstreamTransportSocket(m.transport_socket, ref, `${at}.transport_socket`, ctx) };
    });
  }
  return out;
}

/** istiod's cluster metadata (filter_metadata.istio): the service, for telemetry and config_dump, and the DestinationRule behind it. */
function serviceOf(msg: ClusterMessage, name: string, ref: ResourceRef): Pick<Cluster, 'service' | 'source'> {
  const istio = structToJs(msg.metadata?.filter_metadata?.istio);
  const source = typeof istio.config === 'string' ? { source: istio.config } : {};
  return { ...serviceEntryOf(istio, name, ref), ...source };
}

function serviceEntryOf(istio: Record<string, unknown>, name: string, ref: ResourceRef): Pick<Cluster, 'service'> {
  const services = istio.services;
  if (services === undefined) return {};
  if (!Array.isArray(services)) throw resourceError(ref, 'metadata.filter_metadata.istio.services', 'must be a list');
  const svc = services[0] as { host?: unknown; namespace?: unknown } | undefined;
  if (!svc || typeof svc.host !== 'string') return {};
  const parsed = ISTIO_CLUSTER_NAME.exec(name);
  const port = parsed ? Number(parsed[1]) : typeof istio.default_original_port === 'number' ? istio.default_original_port : 0;
  const subset = typeof istio.subset === 'string' && istio.subset ? istio.subset : parsed?.[2] || undefined;
  return { service: { host: svc.host, namespace: typeof svc.namespace === 'string' ? svc.namespace : '', port, ...(subset ? { subset } : {}) } };
}

function dnsOf(msg: ClusterMessage, type: DiscoveryType, ref: ResourceRef): Pick<Cluster, 'dnsLookupFamily'> {
  const family = msg.dns_lookup_family;
  if (type !== 'STRICT_DNS' && type !== 'LOGICAL_DNS') return {};
  if (family === 'V4_ONLY' || family === 'V6_ONLY') return { dnsLookupFamily: family };
  if (family && !['AUTO', 'V4_PREFERRED', 'ALL'].includes(family)) throw resourceError(ref, 'dns_lookup_family', `unknown ${family}`);
  return {};
}

/** Upstream network filters: Istio's metadata exchange is inert without its ALPN; any other is refused. */
function checkFiltersOf(msg: ClusterMessage, ref: ResourceRef): void {
  (msg.filters ?? []).forEach((f, i) => {
    if (!METADATA_EXCHANGE_FILTERS.has(f.name ?? '')) throw resourceError(ref, `filters[${i}]`, `upstream network filter ${f.name ?? ''} is not supported`);
  });
}
