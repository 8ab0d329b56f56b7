// The host-set diff (Envoy's EDS update) and ClusterRuntime.updateHosts: hosts that stay are the
// same UpstreamHost objects (pools, stats, outlier row, warm-up), added ones are new, removed ones
// drain (close once idle), and the load balancer sees the new set with the current ejections.
import { describe, expect, it, vi } from 'vitest';
import { loadAssignment, staticHost, type HostEndpoint } from '../../src/config/endpoints.js';
import type { Cluster } from '../../src/config/snapshot.js';
import { ClusterRuntime } from '../../src/upstream/cluster.js';
import { diffHostSet, hostKey } from '../../src/upstream/host-set.js';
import { ClusterStats } from '../../src/telemetry/stats.js';

const host = (port: number, over: Partial<HostEndpoint> = {}): HostEndpoint => ({ ...staticHost('127.0.0.1', port), ...over });
const held = (e: HostEndpoint) => ({ endpoint: e, id: `${e.port}` });

describe('diffHostSet', () => {
  it('matches endpoints to current hosts by address: kept in the new order, added, removed', () => {
    const current = [held(host(1)), held(host(2)), held(host(3))];
    const { next, removed } = diffHostSet(current, [host(3), host(4), host(1)]);
    expect(next.map((n) => [n.endpoint.port, n.kept?.id])).toEqual([[3, '3'], [4, undefined], [1, '1']]);
    expect(removed.map((h) => h.id)).toEqual(['2']);
  });

  it('a weight, priority, health or label change keeps the host; the new attributes come with it', () => {
    const current = [held(host(1))];
    const changed = host(1, { weight: 5, priority: 1, healthStatus: 'DRAINING', labels: { version: 'v2' } });
    const { next, removed } = diffHostSet(current, [changed]);
    expect(next).toEqual([{ endpoint: changed, kept: current[0] }]);
    expect(removed).toEqual([]);
  });

  it('a tlsMode change is another host (its connections were made with the other transport)', () => {
    const current = [held(host(1))];
    const { next, removed } = diffHostSet(current, [host(1, { tlsMode: 'istio' })]);
    expect(next[0].kept).toBeUndefined();
    expect(removed).toEqual(current);
    expect(hostKey(host(1))).not.toBe(hostKey(host(1, { tlsMode: 'istio' })));
  });

  it('IPv6 addresses and unix pipes are identities too; the same address listed twice is two hosts, matched in order', () => {
    const v6 = { ...staticHost('fd00::1', 80) };
    const pipe = { ...staticHost('/run/app.sock', 0) };
    const current = [held(v6), held(pipe), held(host(1)), held(host(1))];
    const { next, removed } = diffHostSet(current, [pipe, host(1), v6, host(1), host(1)]);
    expect(next.map((n) => n.kept)).toEqual([current[1], current[2], current[0], current[3], undefined]);
    expect(removed).toEqual([]);
    expect(diffHostSet(current, []).removed).toEqual(current);
  });
});

const config: Cluster = { name: 'c', type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 1000 };
const assignment = (...hosts: HostEndpoint[]) => loadAssignment('c', hosts);

function picks(c: ClusterRuntime, n: number): Record<number, number> {
  const out: Record<number, number> = {};
  for (let i = 0; i < n; i++) {
    const p = c.pick()?.endpoint.port ?? -1;
    out[p] = (out[p] ?? 0) + 1;
  }
  return out;
}

describe('ClusterRuntime.updateHosts', () => {
  it('hosts that stay are the same objects (pool, stats, outlier row); added ones are new and get their row', () => {
    const c = new ClusterRuntime(config, assignment(host(1), host(2)), { stats: new ClusterStats() }, [7, 8]);
    const [h1, h2] = c.hosts;
    const pool = h1.pool;
    h1.stats.rqTotal = 42;
    c.updateHosts(assignment(host(1, { weight: 3 }), host(2), host(3)), [7, 8, 9]);
    expect(c.hosts[0]).toBe(h1);
    expect(c.hosts[1]).toBe(h2);
    expect(h1.pool).toBe(pool);
    expect(h1.stats.rqTotal).toBe(42);
    expect(h1.endpoint.weight).toBe(3);
    expect(c.hosts.map((h) => h.outlierSlot)).toEqual([7, 8, 9]);
    expect(picks(c, 500)).toEqual({ 1: 300, 2: 100, 3: 100 });
  });

  it('a removed host takes no new request and closes its pools (after the requests on it finish)', () => {
    const c = new ClusterRuntime(config, assignment(host(1), host(2)), { stats: new ClusterStats() });
    const removed = c.hosts[1];
    const close = vi.spyOn(removed, 'close');
    c.updateHosts(assignment(host(1)));
    expect(close).toHaveBeenCalledOnce();
    expect(c.hosts).toHaveLength(1);
    expect(picks(c, 50)).toEqual({ 1: 50 });
  });

  it('the new set is balanced with the current ejections; a host that returns later is healthy', () => {
    const c = new ClusterRuntime(config, assignment(host(1), host(2)), { stats: new ClusterStats() });
    c.setEjected(new Set(['127.0.0.1:2']));
    c.updateHosts(assignment(host(1), host(2), host(3)));
    expect(picks(c, 100)).toEqual({ 1: 50, 3: 50 });
    c.setEjected(new Set());
    expect(Object.keys(picks(c, 90)).sort()).toEqual(['1', '2', '3']);
  });

  it('EDS health: UNHEALTHY, DRAINING and TIMEOUT hosts are left out, unless too few are healthy (panic)', () => {
    const c = new ClusterRuntime({ ...config, panicThresholdPercent: 50 }, assignment(host(1), host(2, { healthStatus: 'DRAINING' }), host(3, { healthStatus: 'DEGRADED' })), { stats: new ClusterStats() });
    expect(picks(c, 100)).toEqual({ 1: 50, 3: 50 });
    c.updateHosts(assignment(host(1, { healthStatus: 'UNHEALTHY' }), host(2, { healthStatus: 'TIMEOUT' }), host(3)));
    expect(Object.keys(picks(c, 90)).sort()).toEqual(['1', '2', '3']); // 33% healthy < 50%: panic, all hosts
  });

  it('a priority change moves a kept host to its new priority', () => {
    const c = new ClusterRuntime(config, assignment(host(1), host(2, { priority: 1 })), { stats: new ClusterStats() });
    expect(picks(c, 20)).toEqual({ 1: 20 });
    c.updateHosts(assignment(host(1, { priority: 1 }), host(2)));
    expect(picks(c, 20)).toEqual({ 2: 20 });
  });
});
