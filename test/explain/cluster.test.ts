// A cluster as explain shows it: which hosts the load balancer may choose and why the others are
// out (EDS health, outlier ejection, a locality priority that takes no traffic, panic).
import { describe, expect, it } from 'vitest';
import { loadAssignment, staticHost, type HostEndpoint } from '../../src/config/endpoints.js';
import type { Cluster } from '../../src/config/snapshot.js';
import { explainCluster } from '../../src/explain/cluster.js';
import { ClusterRuntime, priorityLoads } from '../../src/upstream/cluster.js';
import { ClusterStats } from '../../src/telemetry/stats.js';

const CONFIG: Cluster = { name: 'outbound|9080||reviews', type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 1000 };
const host = (ip: string, over: Partial<HostEndpoint> = {}): HostEndpoint => ({ ...staticHost(ip, 9080), ...over });
const runtime = (hosts: HostEndpoint[], config: Partial<Cluster> = {}) => new ClusterRuntime({ ...CONFIG, ...config }, loadAssignment(CONFIG.name, hosts), { stats: new ClusterStats() });

describe('explainCluster', () => {
  it('locality failover: a healthy priority 0 takes all; priority 1 is out until it fails', () => {
    const rt = runtime([
      host('10.0.0.1', { locality: { region: 'r1', zone: 'z1', subZone: '' } }),
      host('10.0.0.2', { priority: 1, locality: { region: 'r1', zone: 'z2', subZone: '' } }),
    ]);
    const e = explainCluster(CONFIG.name, 100, rt, undefined, undefined);
    expect(e.notes).toContain('locality priorities: priority 0 100% (100% healthy), priority 1 0% (100% healthy)');
    expect(e.endpoints.map((x) => [x.address, x.eligible, x.reason])).toEqual([
      ['10.0.0.1:9080', true, undefined],
      ['10.0.0.2:9080', false, 'priority 1 takes no traffic while the priorities before it are healthy'],
    ]);
    expect(e.picked).toBe('10.0.0.1:9080');
    // priority 0 ejected: its traffic fails over
    rt.setEjected(new Set(['10.0.0.1:9080']));
    const failed = explainCluster(CONFIG.name, 100, rt, undefined, undefined);
    expect(failed.endpoints.map((x) => [x.address, x.eligible, x.reason])).toEqual([
      ['10.0.0.1:9080', false, 'ejected by outlier detection'],
      ['10.0.0.2:9080', true, undefined],
    ]);
    expect(failed.picked).toBe('10.0.0.2:9080');
  });

  it('unhealthy hosts are out; below the panic threshold every host takes traffic', () => {
    const hosts = [host('10.0.0.1'), host('10.0.0.2', { healthStatus: 'UNHEALTHY' }), host('10.0.0.3', { healthStatus: 'DRAINING' })];
    const plain = explainCluster(CONFIG.name, 100, runtime(hosts), undefined, undefined);
    expect(plain.endpoints.map((x) => [x.eligible, x.reason])).toEqual([[true, undefined], [false, 'health UNHEALTHY'], [false, 'health DRAINING']]);
    const panic = explainCluster(CONFIG.name, 100, runtime(hosts, { panicThresholdPercent: 50 }), undefined, undefined);
    expect(panic.notes).toContain('priority 0: fewer than 50% of its hosts healthy: panic, every host takes traffic');
    expect(panic.endpoints.map((x) => [x.eligible, x.reason])).toEqual([[true, undefined], [true, 'health UNHEALTHY (taken in panic)'], [true, 'health DRAINING (taken in panic)']]);
  });

  it('a cluster not in the config: 503 NC; one without endpoints: 503 UH', () => {
    expect(explainCluster('missing', 100, undefined, undefined, undefined)).toMatchObject({ exists: false, notes: ['not in the config: 503 NC (cluster_not_found)'] });
    expect(explainCluster(CONFIG.name, 100, runtime([]), undefined, undefined)).toMatchObject({ exists: true, notes: ['no endpoints: 503 UH (no_healthy_upstream)'] });
  });
});

describe('priorityLoads (Envoy priority load)', () => {
  it('each priority takes up to its health of what is left; short totals are normalized', () => {
    expect(priorityLoads([100])).toEqual([100]);
    expect(priorityLoads([100, 100])).toEqual([100, 0]);
    expect(priorityLoads([70, 100])).toEqual([70, 30]);
    expect(priorityLoads([20, 20])).toEqual([50, 50]);
    expect(priorityLoads([0, 0])).toEqual([0, 0]);
  });
});
