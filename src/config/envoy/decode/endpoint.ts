import type { ClusterLoadAssignment, EndpointAddress, EndpointMetadata, HealthStatus, LbEndpoint, LocalityLbEndpoints } from '../../snapshot.js';
import { DEFAULT_OVERPROVISIONING_FACTOR } from '../../endpoints.js';
import { structToJs, wrapped, type StructMessage } from '../proto/values.js';
import { fieldPath, resourceError, type DecodeContext, type ResourceRef } from './context.js';
import { checkFields, type FieldPolicy } from './fields.js';

/**
 * envoy.config.endpoint.v3.ClusterLoadAssignment (EDS, or a cluster's inline load_assignment) →
 * the Snapshot's: localities × priorities of hosts with their weights, health and the metadata
 * istiod sets (the workload in `istio`, tlsMode in `envoy.transport_socket_match`).
 */

/** envoy.config.core.v3.Address in the plain form, as endpoints and bind configs use it. */
export interface AddressMessage {
  socket_address?: { address?: string; port_value?: number; protocol?: string; resolver_name?: string; named_port?: string; ipv4_compat?: boolean };
  pipe?: { path?: string; mode?: number };
  address?: string;
}

interface MetadataMessage {
  filter_metadata?: Record<string, StructMessage>;
}

interface LbEndpointMessage {
  endpoint?: { address?: AddressMessage };
  host_identifier?: string;
  health_status?: string;
  metadata?: MetadataMessage;
  load_balancing_weight?: { value?: number };
}

interface LocalityLbEndpointsMessage {
  locality?: { region?: string; zone?: string; sub_zone?: string };
  lb_endpoints?: LbEndpointMessage[];
  load_balancing_weight?: { value?: number };
  priority?: number;
}

/** envoy.config.endpoint.v3.ClusterLoadAssignment in the plain form. */
export interface ClusterLoadAssignmentMessage {
  cluster_name?: string;
  endpoints?: LocalityLbEndpointsMessage[];
  policy?: { overprovisioning_factor?: { value?: number } };
}

const ASSIGNMENT: FieldPolicy = {
  type: 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  reads: ['cluster_name', 'endpoints', 'policy'],
  refused: { named_endpoints: 'named endpoints are not supported' },
};

const POLICY: FieldPolicy = {
  type: 'envoy.config.endpoint.v3.ClusterLoadAssignment.Policy',
  reads: ['overprovisioning_factor'],
  ignored: {
    drop_overloads: 'no share of the traffic is dropped',
    endpoint_stale_after: 'endpoints do not go stale',
    weighted_priority_health: 'priority health counts hosts, not their weights',
  },
};

const LOCALITY: FieldPolicy = {
  type: 'envoy.config.endpoint.v3.LocalityLbEndpoints',
  // metadata: the locality's own metadata, which nothing in Outrigger reads
  reads: ['locality', 'lb_endpoints', 'load_balancing_weight', 'priority', 'metadata'],
  ignored: { proximity: 'locality proximity is not used' },
  refused: { load_balancer_endpoints: 'LEDS is not supported', leds_cluster_locality_config: 'LEDS is not supported' },
};

const LB_ENDPOINT: FieldPolicy = {
  type: 'envoy.config.endpoint.v3.LbEndpoint',
  reads: ['endpoint', 'health_status', 'metadata', 'load_balancing_weight'],
  refused: { endpoint_name: 'named endpoints are not supported' },
};

const ENDPOINT: FieldPolicy = {
  type: 'envoy.config.endpoint.v3.Endpoint',
  // health_check_config: where active health checks go, and no cluster has them; hostname: for stats and auto host rewrite
  reads: ['address', 'health_check_config', 'hostname'],
  ignored: { additional_addresses: 'only the first address of an endpoint is used' },
};

const HEALTH: ReadonlySet<string> = new Set<HealthStatus>(['UNKNOWN', 'HEALTHY', 'UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED']);

/**
 * An address hosts are reached at: an IP or DNS name with a port (TCP), or a unix socket (`pipe`).
 * UDP, named ports, custom resolvers and internal (envoy_internal_address) listeners are refused.
 */
export function decodeEndpointAddress(a: AddressMessage | undefined, ref: ResourceRef, field: string): EndpointAddress {
  if (a?.socket_address) {
    const s = a.socket_address;
    const at = fieldPath(field, 'socket_address');
    if (s.protocol && s.protocol !== 'TCP') throw resourceError(ref, fieldPath(at, 'protocol'), `${s.protocol} is not supported (TCP)`);
    if (s.resolver_name) throw resourceError(ref, fieldPath(at, 'resolver_name'), 'custom resolvers are not supported');
    if (s.named_port) throw resourceError(ref, fieldPath(at, 'named_port'), 'named ports are not supported');
    if (!s.address) throw resourceError(ref, fieldPath(at, 'address'), 'an address is required');
    return { socketAddress: { address: s.address, portValue: s.port_value ?? 0 } };
  }
  if (a?.pipe) {
    if (!a.pipe.path) throw resourceError(ref, fieldPath(fieldPath(field, 'pipe'), 'path'), 'a pipe needs a path');
    return { pipe: { path: a.pipe.path } };
  }
  throw resourceError(ref, field, a?.address ? `address ${a.address} is not supported (socket_address, pipe)` : 'an address is required (socket_address or pipe)');
}

/**
 * istiod's endpoint metadata: `envoy.transport_socket_match` tlsMode (auto mTLS), and `istio`
 * workload `name;namespace;canonical service;canonical revision;cluster` (telemetry), as labels
 * the data plane reads (`service.istio.io/workload-name`, `-canonical-name`, `-canonical-revision`),
 * with `istio` labels when a control plane sends them.
 */
function decodeMetadata(m: MetadataMessage | undefined, ref: ResourceRef, field: string): EndpointMetadata {
  const fm = m?.filter_metadata ?? {};
  const labels: Record<string, string> = {};
  const istio = structToJs(fm.istio);
  if (istio.labels && typeof istio.labels === 'object') {
    for (const [k, v] of Object.entries(istio.labels as Record<string, unknown>)) if (typeof v === 'string') labels[k] = v;
  }
  // Istio's stats read the same five fields (fewer: ignored); app and version stay unknown, as there
  if (typeof istio.workload === 'string' && istio.workload.split(';').length >= 5) {
    const [name, , canonicalName, canonicalRevision] = istio.workload.split(';');
    if (name) labels['service.istio.io/workload-name'] = name;
    if (canonicalName) labels['service.istio.io/canonical-name'] = canonicalName;
    if (canonicalRevision) labels['service.istio.io/canonical-revision'] = canonicalRevision;
  }
  const tlsMode = structToJs(fm['envoy.transport_socket_match']).tlsMode;
  if (tlsMode !== undefined && typeof tlsMode !== 'string') throw resourceError(ref, fieldPath(field, 'filter_metadata.envoy.transport_socket_match.tlsMode'), 'must be a string');
  return { labels, ...(tlsMode === 'istio' ? { tlsMode: 'istio' as const } : {}) };
}

function decodeLbEndpoint(e: LbEndpointMessage, ref: ResourceRef, field: string, ctx: DecodeContext): LbEndpoint {
  checkFields(e, LB_ENDPOINT, ref, field, ctx);
  if (!e.endpoint) throw resourceError(ref, fieldPath(field, 'endpoint'), 'an endpoint is required');
  checkFields(e.endpoint, ENDPOINT, ref, fieldPath(field, 'endpoint'), ctx);
  const health = e.health_status ?? 'UNKNOWN';
  if (!HEALTH.has(health)) throw resourceError(ref, fieldPath(field, 'health_status'), `unknown health status ${health}`);
  const weight = wrapped(e.load_balancing_weight, 1);
  if (weight < 1) throw resourceError(ref, fieldPath(field, 'load_balancing_weight'), 'must be at least 1');
  return {
    endpoint: { address: decodeEndpointAddress(e.endpoint.address, ref, fieldPath(fieldPath(field, 'endpoint'), 'address')) },
    healthStatus: health as HealthStatus,
    loadBalancingWeight: weight,
    metadata: decodeMetadata(e.metadata, ref, fieldPath(field, 'metadata')),
  };
}

function decodeLocality(l: LocalityLbEndpointsMessage, ref: ResourceRef, field: string, ctx: DecodeContext): LocalityLbEndpoints {
  checkFields(l, LOCALITY, ref, field, ctx);
  const weight = wrapped(l.load_balancing_weight);
  if (weight !== undefined && weight < 1) throw resourceError(ref, fieldPath(field, 'load_balancing_weight'), 'must be at least 1');
  return {
    locality: { region: l.locality?.region ?? '', zone: l.locality?.zone ?? '', subZone: l.locality?.sub_zone ?? '' },
    lbEndpoints: (l.lb_endpoints ?? []).map((e, i) => decodeLbEndpoint(e, ref, fieldPath(fieldPath(field, 'lb_endpoints'), i), ctx)),
    ...(weight !== undefined ? { loadBalancingWeight: weight } : {}),
    priority: l.priority ?? 0,
  };
}

/** A ClusterLoadAssignment; `field` is where it sits in `ref` ('' for an EDS resource, `load_assignment` inline). */
export function decodeClusterLoadAssignment(msg: ClusterLoadAssignmentMessage, ref: ResourceRef, field: string, ctx: DecodeContext): ClusterLoadAssignment {
  checkFields(msg, ASSIGNMENT, ref, field, ctx);
  if (!msg.cluster_name) throw resourceError(ref, fieldPath(field, 'cluster_name'), 'cluster_name is required');
  let factor: number | undefined;
  if (msg.policy) {
    checkFields(msg.policy, POLICY, ref, fieldPath(field, 'policy'), ctx);
    factor = wrapped(msg.policy.overprovisioning_factor);
    if (factor !== undefined && factor < 1) throw resourceError(ref, fieldPath(fieldPath(field, 'policy'), 'overprovisioning_factor'), 'must be above 0');
  }
  return {
    clusterName: msg.cluster_name,
    endpoints: (msg.endpoints ?? []).map((l, i) => decodeLocality(l, ref, fieldPath(fieldPath(field, 'endpoints'), i), ctx)),
    // Envoy's default is left out, so the Snapshot reads the same whichever front end made it
    ...(factor !== undefined && factor !== DEFAULT_OVERPROVISIONING_FACTOR ? { overprovisioningFactor: factor } : {}),
  };
}
