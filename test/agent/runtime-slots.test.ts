// The agent's rows in the shared tables, assigned beside a (frozen) Snapshot: every listener, the
// clusters with circuit breakers, the hosts of clusters with outlier detection (IPv6 as [addr]:port),
// the same row for the same name across Snapshots; frozen.
import { describe, expect, it } from 'vitest';
import { RuntimeSlotAssigner } from '../../src/agent/runtime-slots.js';
import { deepFreeze } from '../../src/common/deep-freeze.js';
import { loadAssignment, staticHost } from '../../src/config/endpoints.js';
import type { Cluster, Snapshot } from '../../src/config/snapshot.js';
import { sidecarNode } from '../config/helpers.js';

const od = { consecutive5xx: 5, consecutiveGatewayFailure: 0, consecutiveLocalOriginFailure: 0, splitExternalLocalOriginErrors: false, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 };
const cb = { maxConnections: 1, maxPendingRequests: 1, maxRequests: 1, maxRetries: 1 };
const cluster = (name: string, over: Partial<Cluster> = {}): Cluster => ({ name, type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 1000, ...over });

function snapshot(listeners: string[], clusters: Cluster[], hosts: Record<string, [string, number][]>): Snapshot {
  return deepFreeze({
    version: 'v',
    node: sidecarNode(),
    listeners: listeners.map((name) => ({ name, address: '0.0.0.0', port: 1, direction: 'OUTBOUND' as const, filterChains: [] })),
    routeConfigs: [],
    clusters,
    endpoints: Object.entries(hosts).map(([c, list]) => loadAssignment(c, list.map(([a, p]) => staticHost(a, p)))),
    secrets: [],
    resourceVersions: { clusters: {}, endpoints: {}, secrets: {} },
  });
}

describe('RuntimeSlotAssigner', () => {
  it('rows for listeners, clusters with circuit breakers and hosts of clusters with outlier detection; the Snapshot is not written', () => {
    const s = snapshot(['l1', 'l2'], [cluster('a', { outlierDetection: od }), cluster('b', { circuitBreakers: cb }), cluster('c')], {
      a: [['10.0.0.1', 80], ['fd00::1', 8080]],
      b: [['10.0.0.2', 80]],
      c: [['10.0.0.3', 80]],
    });
    const slots = new RuntimeSlotAssigner().assign(s);
    expect(slots).toEqual({ listeners: { l1: 0, l2: 1 }, clusters: { b: 0 }, outlierHosts: { a: [0, 1] } });
    expect(Object.isFrozen(s.clusters[0])).toBe(true);
    // frozen as the Snapshot: a worker on the agent's thread shares them uncopied
    expect(Object.isFrozen(slots) && Object.isFrozen(slots.outlierHosts.a)).toBe(true);
  });

  it('a name keeps its row across Snapshots; a new one gets the next row', () => {
    const assigner = new RuntimeSlotAssigner();
    assigner.assign(snapshot(['l1'], [cluster('a', { outlierDetection: od, circuitBreakers: cb })], { a: [['10.0.0.1', 80], ['10.0.0.2', 80]] }));
    const next = assigner.assign(snapshot(['l0', 'l1'], [cluster('x', { circuitBreakers: cb }), cluster('a', { outlierDetection: od, circuitBreakers: cb })], { a: [['10.0.0.3', 80], ['10.0.0.2', 80]] }));
    expect(next).toEqual({ listeners: { l0: 1, l1: 0 }, clusters: { x: 1, a: 0 }, outlierHosts: { a: [2, 1] } });
  });
});
