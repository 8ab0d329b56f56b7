/**
 * A cluster as explain shows it: its endpoints, which of them the load balancer may choose (and why
 * the others are left out: EDS health, outlier ejection; all of them in panic), and the host it
 * would pick now. The ClusterRuntime's own state and pick.
 */
import { hostPort } from '../common/address.js';
import { localityPath } from '../config/endpoints.js';
import { countsAsHealthy, type ClusterRuntime } from '../upstream/cluster.js';

export interface EndpointExplanation {
  readonly address: string;
  readonly priority: number;
  readonly weight: number;
  readonly locality: string;
  readonly health: string;
  readonly ejected: boolean;
  /** The load balancer chooses among it. */
  readonly eligible: boolean;
  /** Why it is left out (or taken in panic). */
  readonly reason?: string;
}

export interface ClusterExplanation {
  readonly name: string;
  /** The route's weight for it (100 for a single cluster). */
  readonly weight: number;
  /** The cluster is in the config (else: 503 NC). */
  readonly exists: boolean;
  readonly type?: string;
  readonly lbPolicy?: string;
  readonly endpoints: readonly EndpointExplanation[];
  /** The host the load balancer picks for this request (a sample for a balancer that rotates). */
  readonly picked?: string;
  readonly notes: readonly string[];
}

/** The cluster, its hosts and the pick; `destination`: where an ORIGINAL_DST cluster connects. */
export function explainCluster(
  name: string,
  weight: number,
  cluster: ClusterRuntime | undefined,
  destination: { address: string; port: number } | undefined,
  hash: number | undefined,
): ClusterExplanation {
  if (!cluster) return { name, weight, exists: false, endpoints: [], notes: ['not in the config: 503 NC (cluster_not_found)'] };
  const c = cluster.config;
  const notes: string[] = [];
  const hosts = cluster.hosts;
  const byPriority = new Map<number, { total: number; healthy: number }>();
  for (const h of hosts) {
    const p = byPriority.get(h.endpoint.priority) ?? { total: 0, healthy: 0 };
    p.total++;
    if (countsAsHealthy(h.endpoint.healthStatus) && !cluster.isEjected(h.label)) p.healthy++;
    byPriority.set(h.endpoint.priority, p);
  }
  const panicAt = c.panicThresholdPercent ?? 0;
  const panicked = new Set([...byPriority].filter(([, p]) => (p.healthy * 100) / p.total < panicAt).map(([priority]) => priority));
  for (const priority of panicked) notes.push(`priority ${priority}: fewer than ${panicAt}% of its hosts healthy: panic, every host takes traffic`);
  const endpoints = hosts.map((h): EndpointExplanation => {
    const e = h.endpoint;
    const ejected = cluster.isEjected(h.label);
    const healthy = countsAsHealthy(e.healthStatus);
    const panic = panicked.has(e.priority);
    const reason = !healthy ? `health ${e.healthStatus}` : ejected ? 'ejected by outlier detection' : undefined;
    return {
      address: hostPort(e.address, e.port),
      priority: e.priority,
      weight: e.weight,
      locality: localityPath(e.locality),
      health: e.healthStatus,
      ejected,
      eligible: panic || (healthy && !ejected),
      ...(reason ? { reason: panic ? `${reason} (taken in panic)` : reason } : {}),
    };
  });
  if (c.type === 'ORIGINAL_DST') notes.push(destination ? `ORIGINAL_DST: connects where the client was going, ${hostPort(destination.address, c.originalDstPortOverride ?? destination.port)}` : 'ORIGINAL_DST without an original destination: 503 UH');
  else if (!hosts.length) notes.push('no endpoints: 503 UH (no_healthy_upstream)');
  const picked = cluster.pick(destination, hash);
  if (!picked && hosts.length) notes.push('no host can be picked: 503 UH (no_healthy_upstream)');
  if (c.circuitBreakers) notes.push(`circuit breakers: ${describeLimits(c.circuitBreakers)}`);
  if (c.outlierDetection) notes.push('outlier detection on');
  return {
    name, weight, exists: true, type: c.type, lbPolicy: c.lbPolicy, endpoints,
    ...(picked ? { picked: picked.label } : {}),
    notes,
  };
}

function describeLimits(b: NonNullable<ClusterRuntime['config']['circuitBreakers']>): string {
  return Object.entries(b).filter(([, v]) => typeof v === 'number').map(([k, v]) => `${k} ${v}`).join(', ') || 'default';
}
