// Envoy's /clusters text from a Snapshot's assignments: each host's locality, priority, weight and
// EDS health (with outlier ejections).
import { describe, expect, it } from 'vitest';
import { clustersText } from '../../src/admin/admin.js';
import { loadAssignment, parseLocality, staticHost } from '../../src/config/endpoints.js';
import type { Cluster, Snapshot } from '../../src/config/snapshot.js';
import { aggregateStats } from '../../src/telemetry/aggregate.js';
import { sidecarNode } from '../config/helpers.js';

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
});
