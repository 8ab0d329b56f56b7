// Envoy's priority load with the assignment's overprovisioning factor: a priority takes
// min(100, factor × its healthy share) of the traffic, the next priority the rest.
import { afterEach, describe, expect, it } from 'vitest';
import { loadAssignment, staticHost, type HostEndpoint } from '../../src/config/endpoints.js';
import type { Cluster, ClusterLoadAssignment } from '../../src/config/snapshot.js';
import { ClusterRuntime } from '../../src/upstream/cluster.js';
import { ClusterStats } from '../../src/telemetry/stats.js';

const config: Cluster = { name: 'c', type: 'EDS', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 1000 };
const host = (port: number, over: Partial<HostEndpoint> = {}): HostEndpoint => ({ ...staticHost('127.0.0.1', port), ...over });

/** Priority 0: one healthy host of two; priority 1: one healthy host. */
function assignment(overprovisioningFactor?: number): ClusterLoadAssignment {
  const hosts = [host(1), host(2, { healthStatus: 'UNHEALTHY' }), host(3, { priority: 1 })];
  return { ...loadAssignment('c', hosts), ...(overprovisioningFactor ? { overprovisioningFactor } : {}) };
}

const runtimes: ClusterRuntime[] = [];
afterEach(async () => {
  await Promise.all(runtimes.splice(0).map((r) => r.close()));
});

/** The share of picks that land on priority 0, over a fixed sequence of hashes (deterministic). */
function priorityZeroShare(a: ClusterLoadAssignment): number {
  const c = new ClusterRuntime(config, a, { stats: new ClusterStats() });
  runtimes.push(c);
  let zero = 0;
  for (let hash = 0; hash < 10_000; hash++) if (c.pick(undefined, hash)!.endpoint.priority === 0) zero++;
  return zero / 10_000;
}

describe('priority load and overprovisioning_factor', () => {
  it('Envoy\'s default 140: a priority 50% healthy takes 70%', () => {
    expect(priorityZeroShare(assignment())).toBeCloseTo(0.7, 2);
  });

  it('a factor of 200 keeps all the traffic on a priority 50% healthy; 100 gives it only its healthy half', () => {
    expect(priorityZeroShare(assignment(200))).toBe(1);
    expect(priorityZeroShare(assignment(100))).toBeCloseTo(0.5, 2);
  });
});
