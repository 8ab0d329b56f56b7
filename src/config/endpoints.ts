/**
 * ClusterLoadAssignments to and from the flat host list the translation computes on and the
 * workers connect to: one HostEndpoint per LbEndpoint, its locality's priority and weight folded in.
 */
import { hostPort, isPipeAddress } from '../common/address.js';
import type { ClusterLoadAssignment, EndpointAddress, EndpointMetadata, HealthStatus, LbEndpoint, Locality, LocalityLbEndpoints } from './snapshot.js';

/** One host of a cluster, as the load balancer, the pools and the admin pages see it. */
export interface HostEndpoint {
  /** IP, DNS name (STRICT_DNS), or a unix socket path (`/path`, `@abstract`; port 0). */
  readonly address: string;
  readonly port: number;
  /** Its share within its priority (the LbEndpoint's weight, scaled by its locality's weight if any). */
  readonly weight: number;
  readonly priority: number;
  readonly locality: Locality;
  readonly healthStatus: HealthStatus;
  readonly labels: Readonly<Record<string, string>>;
  readonly tlsMode?: 'istio';
}

/** Envoy's default overprovisioning factor (percent): a priority 72% healthy still takes all its traffic. */
export const DEFAULT_OVERPROVISIONING_FACTOR = 140;

const NO_LOCALITY: Locality = { region: '', zone: '', subZone: '' };

/** A healthy host of weight 1 at priority 0, no locality, no labels: a plain address (a DNS name, a default endpoint, an original destination). */
export function staticHost(address: string, port: number): HostEndpoint {
  return { address, port, weight: 1, priority: 0, locality: NO_LOCALITY, healthStatus: 'HEALTHY', labels: {} };
}

/** Istio's `region/zone/subzone` spelling of a locality ('' when unknown). */
export function localityPath(l: Locality): string {
  return l.subZone ? `${l.region}/${l.zone}/${l.subZone}` : l.zone ? `${l.region}/${l.zone}` : l.region;
}

export function parseLocality(path: string | undefined): Locality {
  if (!path) return NO_LOCALITY; // most workloads: one object for them all
  const [region = '', zone = '', subZone = ''] = path.split('/');
  return { region, zone, subZone };
}

export function endpointAddress(address: string, port: number): EndpointAddress {
  return isPipeAddress(address) ? { pipe: { path: address } } : { socketAddress: { address, portValue: port } };
}

/**
 * Each LbEndpoint's `address:port` (`[v6]:port`, a pipe's path), as /clusters and the outlier rows
 * name a host, in the assignment's order: every locality and priority, weighted or not.
 */
export function endpointLabels(assignment: ClusterLoadAssignment | undefined): string[] {
  const out: string[] = [];
  for (const l of assignment?.endpoints ?? []) {
    for (const e of l.lbEndpoints) {
      const { address, port } = addressOf(e);
      out.push(hostPort(address, port));
    }
  }
  return out;
}

/** The address and port an LbEndpoint connects to (a pipe: its path, port 0). */
function addressOf(e: LbEndpoint): { address: string; port: number } {
  const a = e.endpoint.address;
  return 'pipe' in a ? { address: a.pipe.path, port: 0 } : { address: a.socketAddress.address, port: a.socketAddress.portValue };
}

/**
 * The hosts of an assignment, in its order. Where a priority's localities carry weights, each host's
 * weight becomes its locality's weight × its share of the locality, so the load balancer sends each
 * locality its share (localities without a weight get none then, as in Envoy).
 */
export function hostEndpoints(assignment: ClusterLoadAssignment | undefined): HostEndpoint[] {
  if (!assignment) return [];
  const weighted = new Set(assignment.endpoints.filter((l) => l.loadBalancingWeight !== undefined).map((l) => l.priority));
  const out: HostEndpoint[] = [];
  for (const l of assignment.endpoints) {
    const scale = weighted.has(l.priority) ? localityScale(l) : 1;
    if (scale === 0) continue;
    for (const e of l.lbEndpoints) out.push(hostOf(e, l, e.loadBalancingWeight * scale));
  }
  return out;
}

/** The host of an LbEndpoint, made once where clusters share the LbEndpoint (subsets: see lbEndpointOf) in the same locality and weight. */
const hostsOfLbEndpoints = new WeakMap<LbEndpoint, HostEndpoint>();

function hostOf(e: LbEndpoint, l: LocalityLbEndpoints, weight: number): HostEndpoint {
  const made = hostsOfLbEndpoints.get(e);
  if (made && made.weight === weight && made.priority === l.priority && sameLocality(made.locality, l.locality)) return made;
  const { address, port } = addressOf(e);
  const host: HostEndpoint = {
    address,
    port,
    weight,
    priority: l.priority,
    locality: l.locality,
    healthStatus: e.healthStatus,
    labels: e.metadata.labels,
    ...(e.metadata.tlsMode ? { tlsMode: e.metadata.tlsMode } : {}),
  };
  if (!made) hostsOfLbEndpoints.set(e, host);
  return host;
}

/** Equal localities (a group's locality is its first host's object: equal ones need not be the same object). */
function sameLocality(a: Locality, b: Locality): boolean {
  return a === b || (a.region === b.region && a.zone === b.zone && a.subZone === b.subZone);
}

function localityScale(l: LocalityLbEndpoints): number {
  const total = l.lbEndpoints.reduce((s, e) => s + e.loadBalancingWeight, 0);
  return l.loadBalancingWeight && total > 0 ? l.loadBalancingWeight / total : 0;
}

/** Groups hosts into Envoy's localities × priorities (first-seen order kept), for a cluster's assignment. */
export function loadAssignment(clusterName: string, hosts: readonly HostEndpoint[]): ClusterLoadAssignment {
  const groups = new Map<string, LocalityLbEndpoints>();
  let g: LocalityLbEndpoints | undefined;
  for (const h of hosts) {
    // a host in the previous host's group (most hosts: most clusters have one) needs no key
    if (!g || g.priority !== h.priority || !sameLocality(g.locality, h.locality)) {
      const key = `${h.priority}\u0000${localityPath(h.locality)}`;
      g = groups.get(key);
      if (!g) groups.set(key, (g = { locality: h.locality, lbEndpoints: [], priority: h.priority }));
    }
    g.lbEndpoints.push(lbEndpointOf(h));
  }
  return { clusterName, endpoints: [...groups.values()] };
}

/**
 * One LbEndpoint per host object: a service's subset clusters list the hosts of its default
 * cluster again, and share their LbEndpoints (a Snapshot is frozen plain data; 1,000 services with
 * two subsets: 22,000 LbEndpoints, 11,000 distinct; their metadata: see metadataOf).
 */
const lbEndpoints = new WeakMap<HostEndpoint, LbEndpoint>();

function lbEndpointOf(h: HostEndpoint): LbEndpoint {
  let e = lbEndpoints.get(h);
  if (!e) {
    e = {
      endpoint: { address: endpointAddress(h.address, h.port) },
      healthStatus: h.healthStatus,
      loadBalancingWeight: h.weight,
      metadata: metadataOf(h),
    };
    lbEndpoints.set(h, e);
  }
  return e;
}

/**
 * One metadata object per labels object (and tlsMode): the endpoints of one workload set share their
 * labels object (parse-service-entry.ts), and so their metadata (1,000 services of 10 endpoints:
 * 11,000 metadata and label objects in the Snapshot before, 2,000 now).
 */
const metadataByLabels = { plain: new WeakMap<object, EndpointMetadata>(), istio: new WeakMap<object, EndpointMetadata>() };

function metadataOf(h: HostEndpoint): EndpointMetadata {
  const byLabels = h.tlsMode ? metadataByLabels.istio : metadataByLabels.plain;
  let m = byLabels.get(h.labels);
  if (!m) byLabels.set(h.labels, (m = { labels: h.labels, ...(h.tlsMode ? { tlsMode: h.tlsMode } : {}) }));
  return m;
}
