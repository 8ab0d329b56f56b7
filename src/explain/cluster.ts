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
  const levels = new Map(cluster.priorityLoads.map((l) => [l.priority, l]));
  if (levels.size > 1) {
    const shares = [...levels.values()].map((l) => `priority ${l.priority} ${round(l.loadPercent)}% (${round(l.healthyPercent)}% healthy)`);
    notes.push(`locality priorities: ${shares.join(', ')}`);
  }
  for (const l of levels.values()) if (l.panic) notes.push(`priority ${l.priority}: fewer than ${c.panicThresholdPercent ?? 0}% of its hosts healthy: panic, every host takes traffic`);
  const endpoints = hosts.map((h): EndpointExplanation => {
    const e = h.endpoint;
    const ejected = cluster.isEjected(h.label);
    const healthy = countsAsHealthy(e.healthStatus);
    const level = levels.get(e.priority);
    const panic = level?.panic === true;
    const idle = levels.size > 1 && level?.loadPercent === 0;
    const reason = !healthy ? `health ${e.healthStatus}` : ejected ? 'ejected by outlier detection' : idle ? `priority ${e.priority} takes no traffic while the priorities before it are healthy` : undefined;
    return {
      address: hostPort(e.address, e.port),
      priority: e.priority,
      weight: e.weight,
      locality: localityPath(e.locality),
      health: e.healthStatus,
      ejected,
      eligible: !idle && (panic || (healthy && !ejected)),
      ...(reason ? { reason: panic && !idle ? `${reason} (taken in panic)` : reason } : {}),
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

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
