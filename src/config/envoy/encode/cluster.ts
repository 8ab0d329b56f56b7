/**
 * Snapshot clusters and their ClusterLoadAssignments as Envoy's envoy.config.cluster.v3.Cluster and
 * envoy.config.endpoint.v3.ClusterLoadAssignment JSON (the inverse of decode/cluster.ts and
 * decode/endpoint.ts). STATIC and DNS clusters carry their hosts inline (load_assignment), as
 * Envoy requires; EDS clusters name their assignment (the dump's endpoint configs).
 */
import type { Cluster, ClusterLoadAssignment, LbEndpoint, LocalityLbEndpoints, UpstreamTransportSocket } from '../../snapshot.js';
import { encodeUpstreamTlsContext } from './tls.js';
import { any, socketAddress, type Json } from './values.js';
import { formatDurationMs } from '../../duration.js';

export function encodeCluster(c: Cluster, assignment: ClusterLoadAssignment | undefined): Json {
  return {
    name: c.name,
    type: c.type,
    ...(c.type === 'EDS' ? { eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: c.name } } : {}),
    connect_timeout: formatDurationMs(c.connectTimeoutMs),
    lb_policy: c.lbPolicy,
    ...lbConfig(c),
    // absent: unlimited, as istiod writes it (Envoy's own defaults would be 1024 and 3)
    circuit_breakers: { thresholds: [thresholds(c.circuitBreakers)] },
    ...(c.outlierDetection
      ? {
          outlier_detection: {
            consecutive_5xx: c.outlierDetection.consecutive5xx,
            consecutive_gateway_failure: c.outlierDetection.consecutiveGatewayFailure,
            consecutive_local_origin_failure: c.outlierDetection.consecutiveLocalOriginFailure,
            split_external_local_origin_errors: c.outlierDetection.splitExternalLocalOriginErrors,
            interval: formatDurationMs(c.outlierDetection.intervalMs),
            base_ejection_time: formatDurationMs(c.outlierDetection.baseEjectionTimeMs),
            max_ejection_percent: c.outlierDetection.maxEjectionPercent,
          },
        }
      : {}),
    // absent: no panic routing (Envoy's own default would be 50%)
    common_lb_config: { healthy_panic_threshold: { value: c.panicThresholdPercent ?? 0 } },
    typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': any('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', httpOptions(c)) },
    ...(c.transportSocket ? { transport_socket: transportSocket(c.transportSocket) } : {}),
    ...(c.transportSocketMatches?.length ? { transport_socket_matches: c.transportSocketMatches.map((m) => ({ name: m.name, match: m.match, transport_socket: transportSocket(m.transportSocket) })) } : {}),
    ...(c.upstreamBindAddresses?.length
      ? {
          upstream_bind_config: {
            source_address: { address: c.upstreamBindAddresses[0], port_value: 0 },
            ...(c.upstreamBindAddresses.length > 1 ? { extra_source_addresses: c.upstreamBindAddresses.slice(1).map((address) => ({ address: { address, port_value: 0 } })) } : {}),
          },
        }
      : {}),
    ...(c.originalDstPortOverride !== undefined ? { original_dst_lb_config: { upstream_port_override: c.originalDstPortOverride } } : {}),
    ...(c.dnsLookupFamily ? { dns_lookup_family: c.dnsLookupFamily } : {}),
    ...(c.type === 'STATIC' || c.type === 'STRICT_DNS' || c.type === 'LOGICAL_DNS' ? { load_assignment: encodeClusterLoadAssignment(assignment ?? { clusterName: c.name, endpoints: [] }) } : {}),
    ...metadata(c),
  };
}

const UNLIMITED = 4294967295;

function thresholds(b: Cluster['circuitBreakers']): Json {
  if (!b) return { max_connections: UNLIMITED, max_pending_requests: UNLIMITED, max_requests: UNLIMITED, max_retries: UNLIMITED };
  return { max_connections: b.maxConnections, max_pending_requests: b.maxPendingRequests, max_requests: b.maxRequests, max_retries: b.maxRetries };
}

/** istiod's cluster metadata: the DestinationRule, the service, the subset. */
function metadata(c: Cluster): Json {
  const istio: Json = {
    ...(c.source ? { config: c.source } : {}),
    ...(c.service
      ? {
          services: [{ host: c.service.host, name: c.service.host.split('.')[0], namespace: c.service.namespace }],
          default_original_port: c.service.port,
          ...(c.service.subset ? { subset: c.service.subset } : {}),
        }
      : {}),
  };
  return Object.keys(istio).length ? { metadata: { filter_metadata: { istio } } } : {};
}

function lbConfig(c: Cluster): Json {
  if (c.lbPolicy === 'RING_HASH') return c.hashTableSize ? { ring_hash_lb_config: { minimum_ring_size: c.hashTableSize } } : {};
  if (c.lbPolicy === 'MAGLEV') return c.hashTableSize ? { maglev_lb_config: { table_size: c.hashTableSize } } : {};
  const slow = c.slowStart
    ? { slow_start_config: { slow_start_window: formatDurationMs(c.slowStart.windowMs), aggression: { default_value: c.slowStart.aggression, runtime_key: '' }, min_weight_percent: { value: c.slowStart.minWeightPercent } } }
    : undefined;
  if (!slow) return {};
  return c.lbPolicy === 'LEAST_REQUEST' ? { least_request_lb_config: slow } : { round_robin_lb_config: slow };
}

function httpOptions(c: Cluster): Json {
  const common = { idle_timeout: formatDurationMs(c.idleTimeoutMs), ...(c.maxRequestsPerConnection ? { max_requests_per_connection: c.maxRequestsPerConnection } : {}) };
  const protocol = c.useClientProtocol
    ? { use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } }
    : { explicit_http_config: c.http2 ? { http2_protocol_options: c.http2.maxConcurrentStreams ? { max_concurrent_streams: c.http2.maxConcurrentStreams } : {} } : { http_protocol_options: {} } };
  return { common_http_protocol_options: common, ...protocol, ...(c.autoSanValidation ? { upstream_http_protocol_options: { auto_sni: true, auto_san_validation: true } } : {}) };
}

function transportSocket(t: UpstreamTransportSocket): Json {
  if (t.name === 'envoy.transport_sockets.raw_buffer') return { name: t.name, typed_config: any('envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer', {}) };
  return { name: t.name, typed_config: any('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', encodeUpstreamTlsContext(t.typedConfig)) };
}

export function encodeClusterLoadAssignment(a: ClusterLoadAssignment): Json {
  return {
    cluster_name: a.clusterName,
    endpoints: a.endpoints.map(locality),
    ...(a.overprovisioningFactor !== undefined ? { policy: { overprovisioning_factor: a.overprovisioningFactor } } : {}),
  };
}

function locality(l: LocalityLbEndpoints): Json {
  const loc = l.locality;
  return {
    ...(loc.region || loc.zone || loc.subZone ? { locality: { ...(loc.region ? { region: loc.region } : {}), ...(loc.zone ? { zone: loc.zone } : {}), ...(loc.subZone ? { sub_zone: loc.subZone } : {}) } } : {}),
    lb_endpoints: l.lbEndpoints.map(lbEndpoint),
    ...(l.loadBalancingWeight !== undefined ? { load_balancing_weight: l.loadBalancingWeight } : {}),
    ...(l.priority ? { priority: l.priority } : {}),
  };
}

function lbEndpoint(e: LbEndpoint): Json {
  const a = e.endpoint.address;
  const labels = e.metadata.labels;
  const filterMetadata: Json = {
    ...(e.metadata.tlsMode ? { 'envoy.transport_socket_match': { tlsMode: e.metadata.tlsMode } } : {}),
    ...(Object.keys(labels).length ? { istio: { labels } } : {}),
  };
  return {
    endpoint: { address: 'pipe' in a ? { pipe: { path: a.pipe.path } } : socketAddress(a.socketAddress.address, a.socketAddress.portValue) },
    health_status: e.healthStatus,
    ...(Object.keys(filterMetadata).length ? { metadata: { filter_metadata: filterMetadata } } : {}),
    load_balancing_weight: e.loadBalancingWeight,
  };
}
