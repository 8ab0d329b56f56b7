import type { ClusterLoadAssignment, LocalityLbEndpoints, NodeIdentity } from '../snapshot.js';
import { loadAssignment, localityPath, type HostEndpoint } from '../endpoints.js';
import type { PolicyLayer } from './resources.js';

type LocalitySetting = NonNullable<PolicyLayer['locality']>;

/**
 * Istio's locality load balancing, decided per proxy at translation time: locality weights
 * (distribute) or priorities (failover). Istio applies it only to clusters with outlier detection,
 * since failover needs unhealthy hosts to be noticed.
 */
export function localityLoadAssignment(clusterName: string, hosts: HostEndpoint[], node: NodeIdentity, setting: LocalitySetting | undefined): ClusterLoadAssignment {
  if (setting?.enabled !== false && setting?.distribute.length) return distribute(loadAssignment(clusterName, hosts), node.locality, setting.distribute);
  return loadAssignment(clusterName, applyLocalityPriorities(hosts, node, setting));
}

/** failover: each host's priority from its locality (or failoverPriority labels) against this proxy's. */
function applyLocalityPriorities(endpoints: HostEndpoint[], node: NodeIdentity, setting: LocalitySetting | undefined): HostEndpoint[] {
  if (setting && !setting.enabled) return endpoints;
  if (setting?.failoverPriority.length) return compact(endpoints.map((e) => ({ ...e, priority: labelPriority(e, node, setting.failoverPriority) })));
  if (!node.locality) return endpoints;
  return compact(endpoints.map((e) => ({ ...e, priority: localityPriority(node.locality, localityPath(e.locality), setting?.failover ?? []) })));
}

/** 0: same region/zone/subzone, 1: same region/zone, 2: same region, 3: elsewhere (4: not the failover target). */
export function localityPriority(proxy: string, ep: string, failover: readonly { from: string; to: string }[]): number {
  const [pr, pz, ps] = proxy.split('/');
  const [er, ez, es] = ep.split('/');
  if (pr === er) return pz === ez ? (ps === es ? 0 : 1) : 2;
  const rule = failover.find((f) => f.from === pr);
  return rule && rule.to !== er ? 4 : 3;
}

/** failoverPriority: the more leading labels an endpoint shares with this proxy, the higher its priority. */
function labelPriority(e: HostEndpoint, node: NodeIdentity, labels: readonly string[]): number {
  let matched = 0;
  for (const spec of labels) {
    const eq = spec.indexOf('=');
    const [key, value] = eq > 0 ? [spec.slice(0, eq), spec.slice(eq + 1)] : [spec, node.labels[spec]];
    if (value === undefined || e.labels[key] !== value) break;
    matched++;
  }
  return labels.length - matched;
}

/** Renumbers priorities 0, 1, 2… keeping their order (Envoy wants no gaps). */
function compact(endpoints: HostEndpoint[]): HostEndpoint[] {
  const used = [...new Set(endpoints.map((e) => e.priority))].sort((a, b) => a - b);
  return endpoints.map((e) => ({ ...e, priority: used.indexOf(e.priority) }));
}

/** `us-west/zone1/*` matches `us-west/zone1/a`; `us-west/*` matches the whole region. */
export function localityMatches(pattern: string, locality: string): boolean {
  const p = pattern.split('/');
  const l = locality.split('/');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '*') return true;
    if (p[i] !== (l[i] ?? '')) return false;
  }
  return true;
}

/**
 * distribute, as istiod's applyLocalityWeights: for a proxy in `from`, the localities each `to`
 * pattern names (the first pattern naming one wins) share its percentage by their size (the sum of
 * their hosts' weights): locality weight = ⌈size × share ÷ total size⌉. Localities no pattern names
 * get no traffic: istiod sends them without endpoints; here they are left out.
 */
function distribute(assignment: ClusterLoadAssignment, proxy: string, rules: LocalitySetting['distribute']): ClusterLoadAssignment {
  const rule = rules.find((r) => localityMatches(r.from, proxy));
  if (!rule) return assignment;
  const size = (l: LocalityLbEndpoints) => l.lbEndpoints.reduce((s, e) => s + e.loadBalancingWeight, 0);
  const weights = new Map<LocalityLbEndpoints, number>();
  for (const [pattern, share] of Object.entries(rule.to)) {
    const named = assignment.endpoints.filter((l) => !weights.has(l) && localityMatches(pattern, localityPath(l.locality)));
    const total = named.reduce((s, l) => s + size(l), 0);
    for (const l of named) weights.set(l, total > 0 ? Math.ceil((size(l) * share) / total) : 0);
  }
  const endpoints = assignment.endpoints.filter((l) => (weights.get(l) ?? 0) > 0).map((l) => ({ ...l, loadBalancingWeight: weights.get(l)! }));
  return { ...assignment, endpoints };
}
