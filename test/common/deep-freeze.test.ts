// deepFreezeSharingStrings (a worker's copy of the Snapshot): the same data, frozen all the way down,
// shared objects visited once.
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { deepFreezeSharingStrings } from '../../src/common/deep-freeze.js';

describe('deepFreezeSharingStrings', () => {
  it('keeps every value, freezes objects and arrays at every depth, and leaves frozen subtrees alone', () => {
    const shared = { name: 'outbound|80||a', labels: { app: 'a' } };
    const other = { name: 'outbound|80||a', tags: ['v1', 'v1', 7, null] };
    const original = { clusters: [shared, other] as const, endpoints: [{ host: shared }], n: 3 };
    const clone = v8.deserialize(v8.serialize(original)) as typeof original;
    const frozenAlready = Object.freeze({ s: 'x' });
    const withFrozen = { clone, frozenAlready };
    expect(deepFreezeSharingStrings(withFrozen)).toBe(withFrozen);
    expect(clone).toEqual(original);
    expect(clone.endpoints[0].host).toBe(clone.clusters[0]);
    for (const o of [withFrozen, clone, clone.clusters, clone.clusters[0], clone.clusters[0].labels, clone.clusters[1], clone.clusters[1].tags, clone.endpoints[0]]) expect(Object.isFrozen(o)).toBe(true);
    expect(() => {
      (clone.clusters[1].tags as unknown[])[0] = 'v2';
    }).toThrow(TypeError);
  });
});
