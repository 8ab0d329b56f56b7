import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Cluster, ClusterLoadAssignment } from '../../src/config/snapshot.js';
import { loadAssignment, staticHost } from '../../src/config/endpoints.js';
import { ClusterRuntime } from '../../src/upstream/cluster.js';
import { ClusterStats } from '../../src/telemetry/stats.js';
import { parseYaml, sidecarNode } from '../config/helpers.js';
import { translateIstio } from '../../src/config/istio/translate.js';

const slowStart = { windowMs: 10_000, aggression: 1, minWeightPercent: 10 };

const config: Cluster = { name: 'c', type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 1000, slowStart };

/** A new ClusterRuntime (a config change rebuilds it) over hosts on these ports. */
function rebuilt(ports: number[], firstSeen: Map<string, number>): ClusterRuntime {
  return new ClusterRuntime(config, hostsOn(ports), { stats: new ClusterStats(), firstSeen });
}

function hostsOn(ports: number[]): ClusterLoadAssignment {
  return loadAssignment('c', ports.map((port) => staticHost('127.0.0.1', port)));
}

afterEach(() => vi.useRealTimers());

describe('slow start (Istio warmup)', () => {
  it("a cluster's first hosts are warm; a host added later ramps up from minimumPercent to its full weight", () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const seen = new Map<string, number>();
    const first = rebuilt([1, 2], seen);
    expect(first.hosts.map((h) => h.weight)).toEqual([1, 1]);
    const second = rebuilt([1, 2, 3], seen);
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
    rebuilt([1, 2], seen);
    const c = rebuilt([1, 2, 3], seen);
    vi.setSystemTime(2_000_000 + 2_000); // 20% of the window
    const counts = [0, 0, 0];
    for (let i = 0; i < 2200; i++) counts[c.hosts.indexOf(c.pick()!)]++;
    expect(counts[2] / 2200).toBeGreaterThan(0.06);
    expect(counts[2] / 2200).toBeLessThan(0.12); // 0.2 / (1 + 1 + 0.2) ≈ 9%
  });

  it('a host an EDS update adds warms up; the hosts that stay keep their weight; a host removed and added back warms up again', () => {
    vi.useFakeTimers({ now: 3_000_000 });
    const c = rebuilt([1, 2], new Map());
    vi.setSystemTime(3_000_000 + 60_000);
    c.updateHosts(hostsOn([1, 2, 3]));
    expect(c.hosts.map((h) => h.weight)).toEqual([1, 1, 0.1]);
    vi.setSystemTime(3_000_000 + 60_000 + 10_001);
    expect(c.hosts[2].weight).toBe(1);
    c.updateHosts(hostsOn([2, 3]));
    c.updateHosts(hostsOn([1, 2, 3]));
    expect(c.hosts.map((h) => h.weight)).toEqual([0.1, 1, 1]);
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
