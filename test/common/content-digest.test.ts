// Content digests (the Snapshot's resource versions): undefined fields do not count, everything
// else does, including array order and value types.
import { describe, expect, it } from 'vitest';
import { contentDigest } from '../../src/common/content-digest.js';
import { resourceVersions } from '../../src/config/resource-versions.js';
import { loadAssignment, staticHost } from '../../src/config/endpoints.js';
import type { Cluster } from '../../src/config/snapshot.js';

describe('contentDigest', () => {
  it('equal content, equal digest; undefined fields left out; array order and types count', () => {
    expect(contentDigest({ a: 1, b: [1, 2] })).toBe(contentDigest({ a: 1, b: [1, 2], c: undefined }));
    expect(contentDigest({ a: 1, b: [1, 2] })).not.toBe(contentDigest({ a: 1, b: [2, 1] }));
    expect(contentDigest({ a: '1' })).not.toBe(contentDigest({ a: 1 }));
    expect(contentDigest({ a: { b: 'x' } })).not.toBe(contentDigest({ a: { b: 'y' } }));
  });

  it('resourceVersions: one per cluster and per assignment, by name; an endpoint change moves only its assignment version', () => {
    const c: Cluster = { name: 'c', type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1, idleTimeoutMs: 1 };
    const v1 = resourceVersions([c], [loadAssignment('c', [staticHost('10.0.0.1', 80)])], []);
    const v2 = resourceVersions([{ ...c }], [loadAssignment('c', [staticHost('10.0.0.2', 80)])], []);
    expect(Object.keys(v1.clusters)).toEqual(['c']);
    expect(v2.clusters.c).toBe(v1.clusters.c);
    expect(v2.endpoints.c).not.toBe(v1.endpoints.c);
  });
});
