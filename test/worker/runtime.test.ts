// Runtime compile across Snapshots: a cluster whose config is unchanged is carried over (compared by
// the Snapshots' resource versions, digests of their JSON); if only its endpoints changed, its host set is
// updated in place; a config change rebuilds it. The agent's shared-table rows come beside the
// Snapshot (RuntimeSlots) and the Snapshot itself is frozen throughout. A cluster's runtime is made on its
// first use and behaves as one made with the Runtime; its counters exist before.
import { describe, expect, it } from 'vitest';
import { deepFreeze } from '../../src/common/deep-freeze.js';
import { loadAssignment, staticHost } from '../../src/config/endpoints.js';
import { resourceVersions } from '../../src/config/resource-versions.js';
import type { Cluster, Listener, Snapshot } from '../../src/config/snapshot.js';
import { statKey, WorkerStats } from '../../src/telemetry/stats.js';
import { Resource, ResourceTable } from '../../src/upstream/resource-limits.js';
import { NO_OUTLIER_ROW } from '../../src/upstream/outlier.js';
import type { RuntimeSlots } from '../../src/worker/messages.js';
import { Runtime, type WorkerServices } from '../../src/worker/runtime.js';
import { sidecarNode } from '../config/helpers.js';

const base: Cluster = { name: 'c', type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 1000 };

/** `previous`: the Runtime whose Snapshot came before (what is equal to it keeps its versions, as buildSnapshot does). */
function snapshot(version: string, cluster: Cluster, ports: number[], previous?: Runtime): Snapshot {
  const endpoints = [loadAssignment(cluster.name, ports.map((p) => staticHost('127.0.0.1', p)))];
  return deepFreeze({ version, node: sidecarNode(), listeners: [], routeConfigs: [], clusters: [cluster], endpoints, secrets: [], resourceVersions: resourceVersions([cluster], endpoints, [], previous?.snapshot) });
}

const services = (): WorkerServices => ({ stats: new WorkerStats(), hostFirstSeen: new Map() });

describe('Runtime across Snapshots', () => {
  it('same config, same endpoints: the ClusterRuntime and its hosts are carried over', () => {
    const s = services();
    const first = new Runtime(snapshot('1', base, [1, 2]), s);
    const second = new Runtime(snapshot('2', { ...base }, [1, 2], first), s, first);
    expect(second.clusters.get('c')).toBe(first.clusters.get('c'));
    expect(second.retiredFrom(first)).toEqual([]);
  });

  it('the same config built again is the same config, whatever the order of its fields; one built without the previous Snapshot is new', () => {
    const s = services();
    const first = new Runtime(snapshot('1', base, [1]), s);
    expect(new Runtime(snapshot('2', { ...base }, [1], first), s, first).clusters.get('c')).toBe(first.clusters.get('c'));
    const reordered = Object.fromEntries(Object.entries(base).reverse()) as unknown as Cluster;
    expect(new Runtime(snapshot('3', reordered, [1], first), s, first).clusters.get('c')).toBe(first.clusters.get('c'));
    const rebuilt = new Runtime(snapshot('4', base, [1]), s, first).clusters.get('c');
    expect(rebuilt).not.toBe(first.clusters.get('c'));
    expect(rebuilt?.config).toEqual(base);
  });

  it('only the endpoints changed: the ClusterRuntime stays and its host set is updated (kept hosts are the same objects)', () => {
    const s = services();
    const first = new Runtime(snapshot('1', base, [1, 2]), s);
    const cr = first.clusters.get('c')!;
    const [h1, h2] = cr.hosts;
    const second = new Runtime(snapshot('2', base, [2, 3], first), s, first);
    expect(second.clusters.get('c')).toBe(cr);
    // shared with the running Runtime: the host set changes only once the new one is swapped in
    expect(cr.hosts).toEqual([h1, h2]);
    second.activate();
    expect(cr.hosts[0]).toBe(h2);
    expect(cr.hosts.map((h) => h.endpoint.port)).toEqual([2, 3]);
    expect(cr.hosts).not.toContain(h1);
    expect(second.retiredFrom(first)).toEqual([]);
  });

  it('a config change rebuilds the ClusterRuntime and retires the old one', () => {
    const s = services();
    const first = new Runtime(snapshot('1', base, [1]), s);
    const second = new Runtime(snapshot('2', { ...base, connectTimeoutMs: 2000 }, [1], first), s, first);
    expect(second.clusters.get('c')).not.toBe(first.clusters.get('c'));
    expect(second.retiredFrom(first)).toEqual([first.clusters.get('c')]);
  });

  it("the agent's rows come beside the Snapshot: circuit breakers count in the shared table's row, hosts get their outlier row", () => {
    const table = new ResourceTable(ResourceTable.create(4, 1), 0);
    const s = { ...services(), limits: table };
    const breakers = { maxConnections: 10, maxPendingRequests: 10, maxRequests: 10, maxRetries: 10 };
    const slots: RuntimeSlots = { listeners: {}, clusters: { c: 3 }, outlierHosts: { c: [11, NO_OUTLIER_ROW] } };
    const rt = new Runtime(snapshot('1', { ...base, circuitBreakers: breakers }, [1, 2]), s, undefined, slots);
    const cr = rt.clusters.get('c')!;
    cr.limits!.add(Resource.Requests, 1);
    expect(table.totals(3).requests).toBe(1);
    expect(cr.hosts.map((h) => h.outlierSlot)).toEqual([11, undefined]);
  });

  it('Istio series outlive Runtimes: a new Snapshot with the same labels counts into the same series (a worker keeps one per label set, however many pushes)', () => {
    const s = services();
    const listener: Listener = { name: '0.0.0.0_9080', address: '0.0.0.0', port: 9080, direction: 'OUTBOUND', filterChains: [] };
    let rt: Runtime | undefined;
    for (let version = 1; version <= 5; version++) {
      rt = new Runtime(snapshot(String(version), { ...base, connectTimeoutMs: 1000 + version }, [1], rt), s, rt);
      const labels = rt.istioLabels(listener, 'c');
      expect(rt.istioLabels(listener, 'c')).toBe(labels);
      s.stats.istioSeries(labels, 200, '-', '').count++;
      s.stats.istioTcpSeries(rt.istioLabels(listener, 'c', 'tcp'), '-').opened++;
    }
    const snap = s.stats.snapshot();
    expect(snap.istioRequests.map((r) => r.count)).toEqual([5]);
    expect(snap.istioTcp.map((t) => t.opened)).toEqual([5]);
  });
});

describe('cluster runtimes made on first use', () => {
  const two = (version: string, a: Cluster, b: Cluster, ports: number[], previous?: Runtime): Snapshot => {
    const endpoints = [a, b].map((c) => loadAssignment(c.name, ports.map((p) => staticHost('127.0.0.1', p))));
    return deepFreeze({ version, node: sidecarNode(), listeners: [], routeConfigs: [], clusters: [a, b], endpoints, secrets: [], resourceVersions: resourceVersions([a, b], endpoints, [], previous?.snapshot) });
  };

  it('a cluster no request used has its counters (stats, /clusters) but no runtime; its first use makes the one an eager build would', () => {
    const s = services();
    const rt = new Runtime(snapshot('1', base, [1, 2]), s);
    expect(rt.clusters.ifMade('c')).toBeUndefined();
    expect(rt.clusters.has('c')).toBe(true);
    expect(s.stats.snapshot().counters[statKey('cluster', 'c', 'upstream_rq_total')]).toBe(0);
    const cr = rt.clusters.get('c')!;
    expect(rt.clusters.get('c')).toBe(cr);
    expect(rt.clusters.ifMade('c')).toBe(cr);
    expect(cr.stats).toBe(s.stats.cluster('c'));
    expect(cr.hosts.map((h) => h.label)).toEqual(['127.0.0.1:1', '127.0.0.1:2']);
    // round robin from a random start: two picks reach both hosts, as an eagerly made one's do
    expect(new Set([cr.pick()?.label, cr.pick()?.label])).toEqual(new Set(['127.0.0.1:1', '127.0.0.1:2']));
    expect(rt.clusters.get('absent')).toBeUndefined();
  });

  it("made late, it takes the agent's rows and the ejections announced before its first use", () => {
    const table = new ResourceTable(ResourceTable.create(4, 1), 0);
    const ejections = new Map([['c', new Set(['127.0.0.1:1'])]]);
    const s = { ...services(), limits: table, ejections };
    const breakers = { maxConnections: 10, maxPendingRequests: 10, maxRequests: 10, maxRetries: 10 };
    const slots: RuntimeSlots = { listeners: {}, clusters: { c: 2 }, outlierHosts: { c: [7, 8] } };
    const rt = new Runtime(snapshot('1', { ...base, circuitBreakers: breakers }, [1, 2]), s, undefined, slots);
    const cr = rt.clusters.get('c')!;
    cr.limits!.add(Resource.Requests, 1);
    expect(table.totals(2).requests).toBe(1);
    expect(cr.hosts.map((h) => h.outlierSlot)).toEqual([7, 8]);
    expect(Array.from({ length: 6 }, () => cr.pick()?.label)).toEqual(Array(6).fill('127.0.0.1:2'));
  });

  it('unchanged, and first used while the new Runtime waits for its swap: the running Runtime makes it and both share it; endpoint changes apply at the swap', () => {
    const s = services();
    const first = new Runtime(two('1', base, { ...base, name: 'd' }, [1]), s);
    const second = new Runtime(two('2', base, { ...base, name: 'd' }, [1, 2], first), s, first);
    expect(first.clusters.ifMade('c')).toBeUndefined();
    const cr = second.clusters.get('c')!;
    expect(first.clusters.ifMade('c')).toBe(cr);
    expect(cr.hosts).toHaveLength(1);
    second.activate();
    expect(cr.hosts).toHaveLength(2);
    // made by neither before the swap: the new Runtime makes its own from its own Snapshot
    const d = second.clusters.get('d')!;
    expect(first.clusters.ifMade('d')).toBeUndefined();
    expect(d.hosts).toHaveLength(2);
    expect(second.retiredFrom(first)).toEqual([]);
  });

  it('a cluster the running Runtime made is carried over at once (pools, balancer state); one it never made is not made', () => {
    const s = services();
    const first = new Runtime(two('1', base, { ...base, name: 'd' }, [1]), s);
    const c = first.clusters.get('c')!;
    const second = new Runtime(two('2', base, { ...base, name: 'd' }, [1], first), s, first);
    second.activate();
    expect(second.clusters.ifMade('c')).toBe(c);
    expect(second.clusters.ifMade('d')).toBeUndefined();
    // changed config: made anew on first use, the running one retired
    const third = new Runtime(two('3', { ...base, connectTimeoutMs: 5 }, { ...base, name: 'd' }, [1], second), s, second);
    third.activate();
    expect(third.clusters.ifMade('c')).toBeUndefined();
    expect(third.retiredFrom(second)).toEqual([c]);
    expect(third.clusters.get('c')).not.toBe(c);
  });

  it('slow start: made with the Runtime, so a host added by a later Snapshot warms up as before', () => {
    const s = services();
    const slowStart = { windowMs: 10_000, aggression: 1, minWeightPercent: 10 };
    const first = new Runtime(snapshot('1', { ...base, slowStart }, [1]), s);
    expect(first.clusters.ifMade('c')).toBeDefined();
    const second = new Runtime(snapshot('2', { ...base, slowStart }, [1, 2], first), s, first);
    second.activate();
    const cr = second.clusters.get('c')!;
    expect(cr.hosts[0].slowStart).toBeUndefined();
    expect(cr.hosts[1].slowStart).toBeDefined();
  });
});
