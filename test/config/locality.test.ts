import { describe, expect, it } from 'vitest';
import { localityLoadAssignment, localityMatches, localityPriority } from '../../src/config/istio/locality.js';
import { hostEndpoints, loadAssignment, parseLocality, staticHost, type HostEndpoint } from '../../src/config/endpoints.js';
import type { NodeIdentity } from '../../src/config/snapshot.js';
import { sidecarNode } from './helpers.js';
import { ClusterRuntime } from '../../src/upstream/cluster.js';
import { ClusterStats } from '../../src/telemetry/stats.js';

const ep = (port: number, locality: string, labels: Record<string, string> = {}, weight = 1): HostEndpoint => ({ ...staticHost('10.0.0.1', port), weight, labels, locality: parseLocality(locality) });
type Setting = ReturnType<typeof setting>;

/** The hosts of the assignment locality load balancing builds, flattened. */
const applyLocalityLb = (hosts: HostEndpoint[], node: NodeIdentity, s: Setting | undefined) => hostEndpoints(localityLoadAssignment('c', hosts, node, s));

const setting = (over: Partial<{ enabled: boolean; failover: { from: string; to: string }[]; failoverPriority: string[]; distribute: { from: string; to: Record<string, number> }[] }> = {}) => ({
  enabled: true, failover: [], failoverPriority: [], distribute: [], ...over,
});

describe('Istio locality priorities', () => {
  it('0 same subzone, 1 same zone, 2 same region, 3 elsewhere; 4 outside a failover target', () => {
    expect(localityPriority('r1/z1/s1', 'r1/z1/s1', [])).toBe(0);
    expect(localityPriority('r1/z1/s1', 'r1/z1/s2', [])).toBe(1);
    expect(localityPriority('r1/z1/s1', 'r1/z2/s1', [])).toBe(2);
    expect(localityPriority('r1/z1/s1', 'r2/z1/s1', [])).toBe(3);
    expect(localityPriority('r1/z1/s1', 'r2/z1/s1', [{ from: 'r1', to: 'r2' }])).toBe(3);
    expect(localityPriority('r1/z1/s1', 'r3/z1/s1', [{ from: 'r1', to: 'r2' }])).toBe(4);
  });

  it('priorities are compacted (no gaps) and ordered', () => {
    const out = applyLocalityLb([ep(1, 'r2/z/s'), ep(2, 'r1/z1/s1'), ep(3, 'r1/z2/s')], sidecarNode({ locality: 'r1/z1/s1' }), undefined);
    expect(out.map((e) => [e.port, e.priority])).toEqual([[1, 2], [2, 0], [3, 1]]);
  });

  it('no proxy locality or enabled: false: every endpoint in one priority', () => {
    expect(applyLocalityLb([ep(1, 'r2/z/s'), ep(2, 'r1/z/s')], sidecarNode({ locality: '' }), undefined).map((e) => e.priority)).toEqual([0, 0]);
    expect(applyLocalityLb([ep(1, 'r2/z/s'), ep(2, 'r1/z/s')], sidecarNode({ locality: 'r1/z/s' }), setting({ enabled: false })).map((e) => e.priority)).toEqual([0, 0]);
  });

  it('failoverPriority: the more leading labels shared with the proxy, the higher the priority', () => {
    const node = sidecarNode({ labels: { 'topology.istio.io/network': 'n1', 'topology.kubernetes.io/zone': 'z1' } });
    const out = applyLocalityLb(
      [ep(1, '', { 'topology.istio.io/network': 'n1', 'topology.kubernetes.io/zone': 'z1' }), ep(2, '', { 'topology.istio.io/network': 'n1' }), ep(3, '', {})],
      node,
      setting({ failoverPriority: ['topology.istio.io/network', 'topology.kubernetes.io/zone'] }),
    );
    expect(out.map((e) => e.priority)).toEqual([0, 1, 2]);
  });

  it("distribute: locality weights, a pattern's share split by the localities' sizes; unnamed localities get nothing", () => {
    const a = localityLoadAssignment(
      'c',
      [ep(1, 'r1/z1/a'), ep(2, 'r1/z1/b', {}, 3), ep(5, 'r1/z1/b'), ep(3, 'r1/z2/a'), ep(4, 'r2/z1/a')],
      sidecarNode({ locality: 'r1/z1/a' }),
      setting({ distribute: [{ from: 'r1/z1/*', to: { 'r1/z1/*': 80, 'r1/z2/*': 20 } }] }),
    );
    // istiod's applyLocalityWeights: ⌈size × share ÷ total⌉ (sizes 1 and 4 of 5 for 80%)
    expect(a.endpoints.map((l) => [`${l.locality.region}/${l.locality.zone}/${l.locality.subZone}`, l.loadBalancingWeight])).toEqual([['r1/z1/a', 16], ['r1/z1/b', 64], ['r1/z2/a', 20]]);
    // the hosts' share: their locality's weight, split by their own weights
    expect(hostEndpoints(a).map((e) => [e.port, e.weight])).toEqual([[1, 16], [2, 48], [5, 16], [3, 20]]);
  });

  it('distribute: a proxy no rule is from gets no locality weights; enabled: false turns it off', () => {
    const hosts = [ep(1, 'r1/z1/a'), ep(2, 'r2/z1/a')];
    const rules = setting({ distribute: [{ from: 'r9/*', to: { 'r1/*': 100 } }] });
    expect(localityLoadAssignment('c', hosts, sidecarNode({ locality: 'r1/z1/a' }), rules).endpoints.map((l) => l.loadBalancingWeight)).toEqual([undefined, undefined]);
    const off = setting({ enabled: false, distribute: [{ from: 'r1/*', to: { 'r1/*': 100 } }] });
    expect(hostEndpoints(localityLoadAssignment('c', hosts, sidecarNode({ locality: 'r1/z1/a' }), off)).map((e) => e.port)).toEqual([1, 2]);
  });

  it('locality patterns match by segment, * matching the rest', () => {
    expect(localityMatches('r1/*', 'r1/z/s')).toBe(true);
    expect(localityMatches('r1/z1/*', 'r1/z2/s')).toBe(false);
    expect(localityMatches('r1/z1/s1', 'r1/z1/s1')).toBe(true);
  });
});

describe('priority load (Envoy overprovisioning factor 1.4)', () => {
  function cluster(priorities: number[]) {
    const hosts = priorities.map((p, i) => ({ ...staticHost('127.0.0.1', 1000 + i), priority: p }));
    return new ClusterRuntime({ name: 'c', type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 1000 }, loadAssignment('c', hosts), { stats: new ClusterStats() });
  }
  const share = (c: ClusterRuntime, n = 4000) => {
    const counts: Record<number, number> = {};
    for (let i = 0; i < n; i++) {
      const h = c.pick()!;
      const p = h.endpoint.priority!;
      counts[p] = (counts[p] ?? 0) + 1;
    }
    return counts;
  };

  it('a healthy priority 0 takes everything', () => {
    expect(share(cluster([0, 0, 1, 1]))).toEqual({ 0: 4000 });
  });

  it('half of priority 0 ejected: it still takes min(100, 1.4 × 50) = 70%, the rest spills over', () => {
    const c = cluster([0, 0, 1, 1]);
    c.setEjected(new Set(['127.0.0.1:1000']));
    const s = share(c);
    expect(s[0] / 4000).toBeGreaterThan(0.62);
    expect(s[0] / 4000).toBeLessThan(0.78);
  });

  it('priority 0 all ejected: priority 1 takes everything; all ejected: no host', () => {
    const c = cluster([0, 1]);
    c.setEjected(new Set(['127.0.0.1:1000']));
    expect(share(c, 200)).toEqual({ 1: 200 });
    c.setEjected(new Set(['127.0.0.1:1000', '127.0.0.1:1001']));
    expect(c.pick()).toBeUndefined();
  });
});

describe('retryRemoteLocalities (Envoy previous_priorities)', () => {
  it('pickOtherPriority skips the priorities already tried', () => {
    const hosts = [0, 1, 2].map((p) => ({ ...staticHost('127.0.0.1', 2000 + p), priority: p }));
    const c = new ClusterRuntime({ name: 'c', type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 1000 }, loadAssignment('c', hosts), { stats: new ClusterStats() });
    expect(c.pickOtherPriority(new Set([0]))!.endpoint.priority).toBe(1);
    expect(c.pickOtherPriority(new Set([0, 1]))!.endpoint.priority).toBe(2);
    expect(c.pickOtherPriority(new Set([0, 1, 2]))).toBeUndefined();
  });
});
