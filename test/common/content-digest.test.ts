// Canonical JSON and content digests (the Snapshot's resource versions): field order and undefined
// fields do not count, everything else does.
import { describe, expect, it } from 'vitest';
import { canonicalJson, contentDigest } from '../../src/common/content-digest.js';
import { resourceVersions } from '../../src/config/resource-versions.js';
import { loadAssignment, staticHost } from '../../src/config/endpoints.js';
import type { Cluster } from '../../src/config/snapshot.js';

describe('canonicalJson / contentDigest', () => {
  it('sorts keys at every depth, drops undefined fields, keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: 'x', u: undefined } })).toBe('{"a":{"c":"x","d":[2,1]},"b":1}');
    expect(canonicalJson([undefined, null, 'q"'])).toBe('[null,null,"q\\""]');
    expect(contentDigest({ a: 1, b: [1, 2] })).toBe(contentDigest({ b: [1, 2], a: 1, c: undefined }));
    expect(contentDigest({ a: 1, b: [1, 2] })).not.toBe(contentDigest({ a: 1, b: [2, 1] }));
    expect(contentDigest({ a: '1' })).not.toBe(contentDigest({ a: 1 }));
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
