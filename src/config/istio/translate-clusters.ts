import { isIP } from 'node:net';
import { istioConfigPath } from '../envoy/istio-config-path.js';
import type { Cluster, ClusterLoadAssignment, LbPolicy, NodeIdentity } from '../snapshot.js';
import { loadAssignment, parseLocality, staticHost, type HostEndpoint } from '../endpoints.js';
import { DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS } from '../upstream-defaults.js';
import { localityLoadAssignment } from './locality.js';
import { labelsMatch } from './hosts.js';
import { DestinationRuleIndex, effectivePolicy, workloadPort, type Service } from './registry.js';
import type { MeshSettings, ServicePortSpec, WorkloadSpec } from './resources.js';
import { autoMtlsMatches, destinationRuleTls, meshUpstreamTls, tlsTransportSocket, type SecretSet } from './upstream-tls.js';

/** Istio's meshConfig.connectTimeout default. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** The idle timeout when the DestinationRule sets none (see upstream-defaults.ts). */
export { DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS };

/** Istio's SNI for a cluster, `outbound_.<port>_.<subset>_.<host>`: ISTIO_MUTUAL presents it, AUTO_PASSTHROUGH routes on it. */
export function istioSni(service: Pick<NonNullable<Cluster['service']>, 'host' | 'port' | 'subset'>): string {
  return `outbound_.${service.port}_.${service.subset ?? ''}_.${service.host}`;
}

export function clusterName(direction: 'outbound' | 'inbound', port: number, subset: string | undefined, host: string): string {
  return `${direction}|${port}|${subset ?? ''}|${host}`;
}

/** The label Istio's injector puts on workloads with a sidecar; istiod turns it into the endpoint's tlsMode. */
const TLS_MODE_LABEL = 'security.istio.io/tlsMode';

/** Clusters (CDS) and their hosts (EDS), kept apart as Envoy receives them. */
interface ClustersAndEndpoints {
  clusters: Cluster[];
  endpoints: ClusterLoadAssignment[];
}

/** What upstream TLS needs: whether this proxy has a workload certificate (auto mTLS), and where secrets go. */
export interface ClusterTlsInputs {
  mtls: boolean;
  secrets: SecretSet;
}

/** One cluster per service port, plus one per DestinationRule subset, named as istiod names them. */
export function buildOutboundClusters(services: Iterable<Service>, drs: DestinationRuleIndex, node: NodeIdentity, tls: ClusterTlsInputs, mesh?: MeshSettings): ClustersAndEndpoints {
  const out: ClustersAndEndpoints = { clusters: [], endpoints: [] };
  const add = ({ cluster, endpoints }: { cluster: Cluster; endpoints: ClusterLoadAssignment | undefined }) => {
    out.clusters.push(cluster);
    if (endpoints) out.endpoints.push(endpoints);
  };
  for (const svc of services) {
    const dr = drs.lookup(svc.hostname, svc.namespace);
    for (const port of svc.ports) {
      const source = dr ? { source: istioConfigPath('destination-rule', dr.meta.namespace, dr.meta.name) } : {};
      add(withSource(buildCluster(svc, port, undefined, {}, dr ? effectivePolicy(dr, port.number) : {}, node, tls, mesh), source));
      for (const subset of dr?.subsets ?? []) {
        add(withSource(buildCluster(svc, port, subset.name, subset.labels, effectivePolicy(dr, port.number, subset.name), node, tls, mesh), source));
      }
    }
  }
  return out;
}

function withSource<T extends { cluster: Cluster }>(built: T, source: Pick<Cluster, 'source'>): T {
  Object.assign(built.cluster, source);
  return built;
}

function buildCluster(
  svc: Service,
  port: ServicePortSpec,
  subset: string | undefined,
  subsetLabels: Record<string, string>,
  policy: ReturnType<typeof effectivePolicy>,
  node: NodeIdentity,
  tls: ClusterTlsInputs,
  mesh: MeshSettings | undefined,
): { cluster: Cluster; endpoints: ClusterLoadAssignment | undefined } {
  const passthrough = svc.resolution === 'NONE' || policy.lbSimple === 'PASSTHROUGH';
  const dns = svc.resolution === 'DNS' || svc.resolution === 'DNS_ROUND_ROBIN';
  const type = passthrough ? 'ORIGINAL_DST' : dns ? 'STRICT_DNS' : 'STATIC';
  // ORIGINAL_DST clusters learn their hosts from traffic: no assignment
  let hosts: HostEndpoint[] | undefined;
  if (!passthrough) {
    const workloads = svc.endpoints.filter((w) => labelsMatch(subsetLabels, w.labels));
    hosts = workloads.map((w) => hostOf(w, port)).filter((e): e is HostEndpoint => e !== undefined);
    if (dns && svc.endpoints.length === 0 && !svc.hostname.startsWith('*')) hosts = [staticHost(svc.hostname, port.targetPort ?? port.number)];
  }
  const name = clusterName('outbound', port.number, subset, svc.hostname);
  const cluster: Cluster = {
    name,
    type,
    lbPolicy: passthrough ? 'CLUSTER_PROVIDED' : policy.consistentHash ? (policy.consistentHash.maglev ? 'MAGLEV' : 'RING_HASH') : lbPolicyOf(policy.lbSimple),
    ...(policy.consistentHash?.tableSize && !passthrough ? { hashTableSize: policy.consistentHash.tableSize } : {}),
    ...(policy.consistentHash && !passthrough ? { hashPolicy: policy.consistentHash.policy } : {}),
    connectTimeoutMs: policy.connectTimeoutMs ?? mesh?.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: policy.idleTimeoutMs ?? DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS,
    ...circuitBreakersOf(policy),
    // Envoy's slow start applies to round robin and least request only
    ...(policy.warmup && !policy.consistentHash && !passthrough && policy.lbSimple !== 'RANDOM'
      ? { slowStart: { windowMs: policy.warmup.durationMs, aggression: policy.warmup.aggression, minWeightPercent: policy.warmup.minimumPercent } }
      : {}),
    ...outlierOf(policy),
    ...tlsOf(policy, svc, node, istioSni({ host: svc.hostname, port: port.number, ...(subset ? { subset } : {}) }), tls),
    ...http2Of(port.protocol, policy),
    service: { host: svc.hostname, namespace: svc.namespace, port: port.number, ...(subset ? { subset } : {}) },
  };
  // Istio applies locality load balancing where outlier detection can notice failing localities
  const endpoints = hosts && (policy.outlier ? localityLoadAssignment(name, hosts, node, policy.locality) : loadAssignment(name, hosts));
  return { cluster, endpoints };
}

/** Istio speaks HTTP/2 upstream on GRPC, GRPC-WEB and HTTP2 ports, and on HTTP ports a DestinationRule upgrades. */
export function http2Of(protocol: string, p: { h2Upgrade?: boolean; maxConcurrentStreams?: number; useClientProtocol?: boolean }): Pick<Cluster, 'http2' | 'useClientProtocol'> {
  const native = protocol === 'GRPC' || protocol === 'GRPC-WEB' || protocol === 'HTTP2';
  const upgrade = protocol === 'HTTP' && p.h2Upgrade === true;
  const h2 = { http2: p.maxConcurrentStreams ? { maxConcurrentStreams: p.maxConcurrentStreams } : {} };
  // useClientProtocol wins over the port's protocol (Istio: the downstream's protocol is kept)
  if (p.useClientProtocol) return { ...h2, useClientProtocol: true };
  if (!native && !upgrade) return {};
  return h2;
}

/**
 * DestinationRule tls → the cluster's transport socket; none → istiod's auto mTLS (endpoints with a
 * sidecar get mesh mTLS, by transport socket match), when this proxy has a workload certificate.
 * Mesh mTLS checks the server's SPIFFE identity against the rule's subjectAltNames, else the
 * service accounts of the service's workloads, and presents Istio's SNI unless the rule names one.
 */
function tlsOf(p: ReturnType<typeof effectivePolicy>, svc: Service, node: NodeIdentity, sni: string, inputs: ClusterTlsInputs): Pick<Cluster, 'transportSocket' | 'transportSocketMatches'> {
  const tls = p.tls;
  if (!tls) return inputs.mtls ? { transportSocketMatches: autoMtlsMatches(meshUpstreamTls(serviceSans(svc, node), sni)) } : {};
  if (tls.mode === 'DISABLE') return {};
  if (tls.mode === 'ISTIO_MUTUAL') return { transportSocket: tlsTransportSocket(meshUpstreamTls(tls.subjectAltNames.length ? tls.subjectAltNames : serviceSans(svc, node), tls.sni ?? sni)) };
  return { transportSocket: tlsTransportSocket(destinationRuleTls(tls, inputs.secrets)) };
}

/** The SPIFFE identities of a service's workloads, made once per service (its port and subset clusters all check them). */
const sansByService = new WeakMap<Service, string[]>();

function serviceSans(svc: Service, node: NodeIdentity): string[] {
  let sans = sansByService.get(svc);
  if (!sans) {
    sans = [...new Set(svc.endpoints.filter((w) => w.serviceAccount).map((w) => `spiffe://${node.trustDomain}/ns/${svc.namespace}/sa/${w.serviceAccount}`))];
    sansByService.set(svc, sans);
  }
  return sans;
}

const UNLIMITED = 2 ** 32 - 1;

/** Istio sets every threshold to 2^32-1 unless the DestinationRule's connectionPool says otherwise. */
function circuitBreakersOf(p: ReturnType<typeof effectivePolicy>): Pick<Cluster, 'circuitBreakers' | 'maxRequestsPerConnection'> {
  const out: Pick<Cluster, 'circuitBreakers' | 'maxRequestsPerConnection'> = {};
  if (p.maxConnections !== undefined || p.http1MaxPendingRequests !== undefined || p.http2MaxRequests !== undefined || p.maxRetries !== undefined) {
    out.circuitBreakers = {
      maxConnections: p.maxConnections ?? UNLIMITED,
      maxPendingRequests: p.http1MaxPendingRequests ?? UNLIMITED,
      maxRequests: p.http2MaxRequests ?? UNLIMITED,
      maxRetries: p.maxRetries ?? UNLIMITED,
    };
  }
  if (p.maxRequestsPerConnection) out.maxRequestsPerConnection = p.maxRequestsPerConnection;
  return out;
}

/**
 * Istio's outlier detection translation: consecutive5xxErrors (Envoy default 5) and
 * consecutiveGatewayErrors enforce at 100%, 0 disables; interval 10 s, baseEjectionTime 30 s and
 * maxEjectionPercent 10% by default; minHealthPercent is the panic threshold (default 0).
 */
function outlierOf(p: ReturnType<typeof effectivePolicy>): Pick<Cluster, 'outlierDetection' | 'panicThresholdPercent'> {
  const o = p.outlier;
  if (!o) return {};
  return {
    outlierDetection: {
      consecutive5xx: o.consecutive5xxErrors ?? 5,
      consecutiveGatewayFailure: o.consecutiveGatewayErrors ?? 0,
      consecutiveLocalOriginFailure: o.splitExternalLocalOriginErrors ? (o.consecutiveLocalOriginFailures ?? 5) : 0,
      splitExternalLocalOriginErrors: o.splitExternalLocalOriginErrors ?? false,
      intervalMs: o.intervalMs ?? 10_000,
      baseEjectionTimeMs: o.baseEjectionTimeMs ?? 30_000,
      maxEjectionPercent: o.maxEjectionPercent ?? 10,
    },
    panicThresholdPercent: o.minHealthPercent ?? 0,
  };
}

const UNIX_PREFIX = 'unix://';

/** The host of a workload on a port, made once: the port's default and subset clusters share it (and so their LbEndpoints). */
const hostsByWorkload = new WeakMap<WorkloadSpec, Map<ServicePortSpec, HostEndpoint | undefined>>();

function hostOf(w: WorkloadSpec, port: ServicePortSpec): HostEndpoint | undefined {
  let byPort = hostsByWorkload.get(w);
  if (!byPort) hostsByWorkload.set(w, (byPort = new Map()));
  if (!byPort.has(port)) byPort.set(port, toHost(w, port));
  return byPort.get(port);
}

/** A workload as a host of the cluster of `port`; istiod sends healthy endpoints only (the registry keeps ready ones). */
function toHost(w: WorkloadSpec, port: ServicePortSpec): HostEndpoint | undefined {
  if (!w.address) return undefined;
  const meta = {
    weight: w.weight,
    priority: 0,
    locality: parseLocality(w.locality),
    healthStatus: 'HEALTHY' as const,
    labels: w.labels,
    ...(w.labels[TLS_MODE_LABEL] === 'istio' ? { tlsMode: 'istio' as const } : {}),
  };
  // a unix socket endpoint is Envoy's pipe: the path, no port
  if (w.address.startsWith(UNIX_PREFIX)) return { address: w.address.slice(UNIX_PREFIX.length), port: 0, ...meta };
  if (w.listedPortsOnly && w.ports[port.name] === undefined) return undefined;
  const address = w.address.startsWith('[') ? w.address.slice(1, -1) : w.address;
  return { address: isIP(address) ? address : address.toLowerCase(), port: workloadPort(w, port), ...meta };
}

/** Istio's default (since 1.14) is LEAST_REQUEST; LEAST_CONN is its old alias. */
function lbPolicyOf(simple: string | undefined): LbPolicy {
  switch (simple) {
    case 'ROUND_ROBIN':
      return 'ROUND_ROBIN';
    case 'RANDOM':
      return 'RANDOM';
    default:
      return 'LEAST_REQUEST';
  }
}
