import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Cluster } from '../../src/config/snapshot.js';
import { ClusterRuntime } from '../../src/upstream/cluster.js';
import { ClusterStats } from '../../src/telemetry/stats.js';
import { parseYaml, sidecarNode } from '../config/helpers.js';
import { translateIstio } from '../../src/config/istio/translate.js';

const slowStart = { windowMs: 10_000, aggression: 1, minWeightPercent: 10 };

function cluster(ports: number[]): Cluster {
  return {
    name: 'c', type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 1000, slowStart,
    endpoints: ports.map((port) => ({ address: '127.0.0.1', port, weight: 1, labels: {} })),
  };
}

afterEach(() => vi.useRealTimers());

describe('slow start (Istio warmup)', () => {
  it("a cluster's first hosts are warm; a host added later ramps up from minimumPercent to its full weight", () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const seen = new Map<string, number>();
    const first = new ClusterRuntime(cluster([1, 2]), new ClusterStats(), undefined, seen);
    expect(first.hosts.map((h) => h.weight)).toEqual([1, 1]);
    const second = new ClusterRuntime(cluster([1, 2, 3]), new ClusterStats(), undefined, seen);
    const added = second.hosts[2];
    expect(second.hosts[0].weight).toBe(1);
    expect(added.weight).toBeCloseTo(0.1); // max(10%, (1 ms / 10 s)^1)
    vi.setSystemTime(1_000_000 + 5_000);
    expect(added.weight).toBeCloseTo(0.5);
    vi.setSystemTime(1_000_000 + 10_001);
    expect(added.weight).toBe(1);
  });

  it('a newly added host gets a smaller share of round-robin picks while it warms up', () => {
    vi.useFakeTimers({ now: 2_000_000 });
    const seen = new Map<string, number>();
    new ClusterRuntime(cluster([1, 2]), new ClusterStats(), undefined, seen);
    const c = new ClusterRuntime(cluster([1, 2, 3]), new ClusterStats(), undefined, seen);
    vi.setSystemTime(2_000_000 + 2_000); // 20% of the window
    const counts = [0, 0, 0];
    for (let i = 0; i < 2200; i++) counts[c.hosts.indexOf(c.pick()!)]++;
    expect(counts[2] / 2200).toBeGreaterThan(0.06);
    expect(counts[2] / 2200).toBeLessThan(0.12); // 0.2 / (1 + 1 + 0.2) ≈ 9%
  });

  it('warmup and warmupDurationSecs translate to Envoy slow_start_config on round robin / least request only', () => {
    const se = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: a, namespace: default }
spec:
  hosts: [a.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }]
  endpoints: [{ address: 10.0.0.1 }]
---
`;
    const dr = (lb: string) => `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: a, namespace: default }
spec:
  host: a
  trafficPolicy: { loadBalancer: ${lb} }
`;
    const get = (lb: string) => translateIstio(parseYaml(se + dr(lb)), sidecarNode({ namespace: 'default' }), { outboundPort: 15001 }).snapshot.clusters[0];
    expect(get('{ simple: ROUND_ROBIN, warmup: { duration: 30s, minimumPercent: 20, aggression: 2 } }').slowStart).toEqual({ windowMs: 30_000, aggression: 2, minWeightPercent: 20 });
    expect(get('{ warmupDurationSecs: 15s }').slowStart).toEqual({ windowMs: 15_000, aggression: 1, minWeightPercent: 10 });
    expect(get('{ simple: RANDOM, warmupDurationSecs: 15s }').slowStart).toBeUndefined();
    expect(get('{ consistentHash: { useSourceIp: true }, warmupDurationSecs: 15s }').slowStart).toBeUndefined();
  });
});
