// ORIGINAL_DST with Envoy's upstream_port_override (istiod: a headless service's target port).
import { describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/config/snapshot.js';
import { ClusterRuntime } from '../../src/upstream/cluster.js';
import { ClusterStats } from '../../src/telemetry/stats.js';

const passthrough: Cluster = { name: 'outbound|80||db', type: 'ORIGINAL_DST', lbPolicy: 'CLUSTER_PROVIDED', connectTimeoutMs: 1000, idleTimeoutMs: 1000 };

describe('ORIGINAL_DST hosts', () => {
  it('connect to the original destination, on the override port when the cluster has one', async () => {
    const plain = new ClusterRuntime(passthrough, undefined, { stats: new ClusterStats() });
    const overridden = new ClusterRuntime({ ...passthrough, originalDstPortOverride: 5432 }, undefined, { stats: new ClusterStats() });
    expect(plain.pick({ address: '10.0.0.9', port: 80 })!.endpoint).toMatchObject({ address: '10.0.0.9', port: 80 });
    const h = overridden.pick({ address: '10.0.0.9', port: 80 })!;
    expect(h.endpoint).toMatchObject({ address: '10.0.0.9', port: 5432 });
    expect(overridden.pick({ address: '10.0.0.9', port: 8080 })).toBe(h);
    await Promise.all([plain.close(), overridden.close()]);
  });
});
