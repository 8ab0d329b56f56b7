// Envoy's /clusters text from a Snapshot's assignments: each host's locality, priority, weight and
// EDS health (with outlier ejections); counters of hosts no traffic reached shown as zeros.
import { describe, expect, it } from 'vitest';
import { clustersText } from '../../src/admin/admin.js';
import { loadAssignment, parseLocality, staticHost } from '../../src/config/endpoints.js';
import type { Cluster, Snapshot } from '../../src/config/snapshot.js';
import { aggregateStats } from '../../src/telemetry/aggregate.js';
import { splitStatKey, WorkerStats } from '../../src/telemetry/stats.js';
import { ClusterRuntime } from '../../src/upstream/cluster.js';
import { sidecarNode } from '../config/helpers.js';
import { deepFreeze } from '../../src/common/deep-freeze.js';
import { resourceVersions } from '../../src/config/resource-versions.js';
import { Runtime } from '../../src/worker/runtime.js';

const cluster = (name: string): Cluster => ({ name, type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1, idleTimeoutMs: 1 });

describe('/clusters text', () => {
  it('locality, priority, weight and health of each host of the assignment', () => {
    const hosts = [
      { ...staticHost('10.0.0.1', 80), locality: parseLocality('r/z/s'), weight: 3 },
      { ...staticHost('10.0.0.2', 80), priority: 1, healthStatus: 'DRAINING' as const },
      { ...staticHost('10.0.0.3', 80), healthStatus: 'DEGRADED' as const },
    ];
    const s = { version: 'v', node: sidecarNode(), listeners: [], routeConfigs: [], clusters: [cluster('c')], endpoints: [loadAssignment('c', hosts)], secrets: [], resourceVersions: { clusters: {}, endpoints: {}, secrets: {} } } satisfies Snapshot;
    const lines = clustersText(s, aggregateStats([]), () => new Set(['10.0.0.1:80'])).split('\n');
    expect(lines).toEqual(expect.arrayContaining([
      'c::10.0.0.1:80::region::r', 'c::10.0.0.1:80::zone::z', 'c::10.0.0.1:80::sub_zone::s', 'c::10.0.0.1:80::weight::3',
      'c::10.0.0.1:80::priority::0', 'c::10.0.0.1:80::health_flags::/failed_outlier_check',
      'c::10.0.0.2:80::priority::1', 'c::10.0.0.2:80::health_flags::/failed_eds_health',
      'c::10.0.0.3:80::health_flags::/degraded_eds_health',
    ]));
  });

  it('a host no request reached has no counters in the stats, and /clusters shows it with zeros as Envoy does', () => {
    const assignment = loadAssignment('c', [staticHost('10.0.0.1', 80), staticHost('10.0.0.2', 80)]);
    const stats = new WorkerStats();
    const cr = new ClusterRuntime(cluster('c'), assignment, { stats: stats.cluster('c') });
    const used = cr.hosts.find((h) => h.label === '10.0.0.2:80')!;
    used.stats.rqTotal++;
    used.stats.rqSuccess++;
    const snapshot = stats.snapshot();
    const hostKeys = Object.keys({ ...snapshot.counters, ...snapshot.gauges }).filter((k) => splitStatKey(k)[0] === 'host');
    expect(hostKeys.length).toBeGreaterThan(0);
    expect(hostKeys.every((k) => splitStatKey(k)[1] === 'c\u000210.0.0.2:80')).toBe(true);
    const s = { version: 'v', node: sidecarNode(), listeners: [], routeConfigs: [], clusters: [cluster('c')], endpoints: [assignment], secrets: [], resourceVersions: { clusters: {}, endpoints: {}, secrets: {} } } satisfies Snapshot;
    const lines = clustersText(s, aggregateStats([snapshot])).split('\n');
    expect(lines).toEqual(expect.arrayContaining([
      'c::10.0.0.1:80::cx_total::0', 'c::10.0.0.1:80::rq_total::0', 'c::10.0.0.1:80::rq_success::0', 'c::10.0.0.1:80::rq_active::0',
      'c::10.0.0.2:80::cx_total::0', 'c::10.0.0.2:80::rq_total::1', 'c::10.0.0.2:80::rq_success::1',
    ]));
  });

  it('an original destination is listed from its first pick, before any request was counted on it', () => {
    const stats = new WorkerStats();
    const config: Cluster = { ...cluster('orig'), type: 'ORIGINAL_DST' };
    const cr = new ClusterRuntime(config, undefined, { stats: stats.cluster('orig') });
    expect(cr.pick({ address: '10.0.0.9', port: 8080 })?.label).toBe('10.0.0.9:8080');
    const s = { version: 'v', node: sidecarNode(), listeners: [], routeConfigs: [], clusters: [config], endpoints: [], secrets: [], resourceVersions: { clusters: {}, endpoints: {}, secrets: {} } } satisfies Snapshot;
    expect(clustersText(s, aggregateStats([stats.snapshot()])).split('\n')).toEqual(expect.arrayContaining(['orig::10.0.0.9:8080::rq_total::0', 'orig::10.0.0.9:8080::health_flags::healthy']));
  });

  it("a cluster no request used (its worker runtime not made yet) is listed with its hosts and zeros, beside a used one's counts", () => {
    const stats = new WorkerStats();
    const clusters = [cluster('idle'), cluster('used')];
    const endpoints = clusters.map((c) => loadAssignment(c.name, [staticHost('10.0.0.1', 80)]));
    const s = deepFreeze({ version: 'v', node: sidecarNode(), listeners: [], routeConfigs: [], clusters, endpoints, secrets: [], resourceVersions: resourceVersions(clusters, endpoints, []) }) satisfies Snapshot;
    const rt = new Runtime(s, { stats });
    rt.clusters.get('used')!.pick()!.stats.rqTotal++;
    expect(rt.clusters.ifMade('idle')).toBeUndefined();
    const lines = clustersText(s, aggregateStats([stats.snapshot()])).split('\n');
    expect(lines).toEqual(expect.arrayContaining([
      'idle::observability_name::idle', 'idle::added_via_api::true', 'idle::10.0.0.1:80::rq_total::0', 'idle::10.0.0.1:80::health_flags::healthy',
      'used::10.0.0.1:80::rq_total::1',
    ]));
  });
});
