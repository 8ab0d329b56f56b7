// Resource versions: what is equal to the previous Snapshot's resource of that name keeps its
// version; anything else (changed, new, or built with no previous Snapshot) gets one never used.
import { describe, expect, it } from 'vitest';
import { resourceVersions } from '../../src/config/resource-versions.js';
import { buildSnapshot } from '../../src/config/snapshot-build.js';
import { loadAssignment, staticHost } from '../../src/config/endpoints.js';
import type { Cluster, Snapshot } from '../../src/config/snapshot.js';
import { sidecarNode } from './helpers.js';

const cluster = (name: string, connectTimeoutMs = 1): Cluster => ({ name, type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs, idleTimeoutMs: 1 });
const build = (clusters: Cluster[], ports: number[], previous?: Snapshot) =>
  buildSnapshot({ node: sidecarNode(), listeners: [], routeConfigs: [], clusters, endpoints: clusters.map((c) => loadAssignment(c.name, ports.map((p) => staticHost('10.0.0.1', p)))), secrets: [] }, previous);

describe('resourceVersions', () => {
  it('an endpoint change moves only its assignment version; a config change only its cluster version', () => {
    const v1 = build([cluster('a'), cluster('b')], [80]);
    const v2 = build([{ ...cluster('a') }, cluster('b')], [81], v1);
    expect(v2.resourceVersions.clusters).toEqual(v1.resourceVersions.clusters);
    expect(v2.resourceVersions.endpoints.a).not.toBe(v1.resourceVersions.endpoints.a);
    const v3 = build([cluster('a', 2), cluster('b')], [81], v2);
    expect(v3.resourceVersions.clusters.a).not.toBe(v2.resourceVersions.clusters.a);
    expect(v3.resourceVersions.clusters.b).toBe(v2.resourceVersions.clusters.b);
    expect(v3.resourceVersions.endpoints).toEqual(v2.resourceVersions.endpoints);
  });

  it('equal content in another field order is equal; types, array order and undefined fields count', () => {
    const prev = build([cluster('a')], [80, 81]);
    const reordered = Object.fromEntries(Object.entries(cluster('a')).reverse()) as unknown as Cluster;
    expect(resourceVersions([reordered], [], [], prev).clusters.a).toBe(prev.resourceVersions.clusters.a);
    for (const changed of [{ ...cluster('a'), connectTimeoutMs: '1' }, { ...cluster('a'), idleTimeoutMs: undefined }] as unknown as Cluster[]) {
      expect(resourceVersions([changed], [], [], prev).clusters.a).not.toBe(prev.resourceVersions.clusters.a);
    }
    const swapped = build([cluster('a')], [81, 80], prev);
    expect(swapped.resourceVersions.endpoints.a).not.toBe(prev.resourceVersions.endpoints.a);
  });

  it('the whole version stays only when nothing changed; without a previous Snapshot, every version is new', () => {
    const a = build([cluster('a')], [80]);
    expect(build([cluster('a')], [80], a).version).toBe(a.version);
    expect(build([cluster('a')], [81], a).version).not.toBe(a.version);
    const { version: _v, resourceVersions: _r, ...body } = a;
    const withListener = buildSnapshot({ ...body, listeners: [{ name: 'l', address: '0.0.0.0', port: 1, direction: 'OUTBOUND', filterChains: [] }] }, a);
    expect(withListener.version).not.toBe(a.version);
    expect(withListener.resourceVersions).toEqual(a.resourceVersions);
    const fresh = build([cluster('a')], [80]);
    expect(fresh.version).not.toBe(a.version);
    expect(fresh.resourceVersions.clusters.a).not.toBe(a.resourceVersions.clusters.a);
    // a version once gone is never given again: back to the first content over the second is new
    const b = build([cluster('a', 2)], [80], a);
    expect(build([cluster('a')], [80], b).resourceVersions.clusters.a).not.toBe(a.resourceVersions.clusters.a);
  });
});
