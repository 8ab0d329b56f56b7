// Runtime compile across Snapshots: a cluster whose config is unchanged is carried over (compared by
// the Snapshots' resource versions, digests of their JSON); if only its endpoints changed, its host set is
// updated in place; a config change rebuilds it. The agent's shared-table rows come beside the
// Snapshot (RuntimeSlots) and the Snapshot itself is frozen throughout.
import { describe, expect, it } from 'vitest';
import { deepFreeze } from '../../src/common/deep-freeze.js';
import { loadAssignment, staticHost } from '../../src/config/endpoints.js';
import { resourceVersions } from '../../src/config/resource-versions.js';
import type { Cluster, Listener, Snapshot } from '../../src/config/snapshot.js';
import { AccessLogWriter } from '../../src/telemetry/access-log.js';
import { WorkerStats } from '../../src/telemetry/stats.js';
import { Resource, ResourceTable } from '../../src/upstream/resource-limits.js';
import type { RuntimeSlots } from '../../src/worker/messages.js';
import { Runtime, type WorkerServices } from '../../src/worker/runtime.js';
import { sidecarNode } from '../config/helpers.js';

const base: Cluster = { name: 'c', type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 1000 };

function snapshot(version: string, cluster: Cluster, ports: number[]): Snapshot {
  const endpoints = [loadAssignment(cluster.name, ports.map((p) => staticHost('127.0.0.1', p)))];
  return deepFreeze({ version, node: sidecarNode(), listeners: [], routeConfigs: [], clusters: [cluster], endpoints, secrets: [], resourceVersions: resourceVersions([cluster], endpoints, []) });
}

const services = (): WorkerServices => ({ stats: new WorkerStats(), accessLog: new AccessLogWriter('off'), hostFirstSeen: new Map() });

describe('Runtime across Snapshots', () => {
  it('same config, same endpoints: the ClusterRuntime and its hosts are carried over', () => {
    const s = services();
    const first = new Runtime(snapshot('1', base, [1, 2]), s);
    const second = new Runtime(snapshot('2', { ...base }, [1, 2]), s, first);
    expect(second.clusters.get('c')).toBe(first.clusters.get('c'));
    expect(second.retiredFrom(first)).toEqual([]);
  });

  it('the same config built again is the same config; one with its fields in another order is rebuilt, never wrongly kept', () => {
    // versions are digests of the JSON as built: a front end builds equal resources in one field order
    const s = services();
    const first = new Runtime(snapshot('1', base, [1]), s);
    expect(new Runtime(snapshot('2', { ...base }, [1]), s, first).clusters.get('c')).toBe(first.clusters.get('c'));
    const reordered = Object.fromEntries(Object.entries(base).reverse()) as unknown as Cluster;
    const rebuilt = new Runtime(snapshot('3', reordered, [1]), s, first).clusters.get('c');
    expect(rebuilt).not.toBe(first.clusters.get('c'));
    expect(rebuilt?.config).toEqual(base);
  });

  it('only the endpoints changed: the ClusterRuntime stays and its host set is updated (kept hosts are the same objects)', () => {
    const s = services();
    const first = new Runtime(snapshot('1', base, [1, 2]), s);
    const cr = first.clusters.get('c')!;
    const [h1, h2] = cr.hosts;
    const second = new Runtime(snapshot('2', base, [2, 3]), s, first);
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
    const second = new Runtime(snapshot('2', { ...base, connectTimeoutMs: 2000 }, [1]), s, first);
    expect(second.clusters.get('c')).not.toBe(first.clusters.get('c'));
    expect(second.retiredFrom(first)).toEqual([first.clusters.get('c')]);
  });

  it("the agent's rows come beside the Snapshot: circuit breakers count in the shared table's row, hosts get their outlier row", () => {
    const table = new ResourceTable(ResourceTable.create(4, 1), 0);
    const s = { ...services(), limits: table };
    const breakers = { maxConnections: 10, maxPendingRequests: 10, maxRequests: 10, maxRetries: 10 };
    const slots: RuntimeSlots = { listeners: {}, clusters: { c: 3 }, outlierHosts: { c: { '127.0.0.1:1': 11 } } };
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
      rt = new Runtime(snapshot(String(version), { ...base, connectTimeoutMs: 1000 + version }, [1]), s, rt);
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
