import { describe, expect, it } from 'vitest';
import { plainEqual } from '../../src/common/plain-equal.js';

describe('plainEqual', () => {
  it('equal content in any key order is equal; shared subtrees are', () => {
    const shared = { x: [1, { y: 'z' }] };
    expect(plainEqual({ a: 1, b: [1, 'two', null, true], c: { d: shared } }, { c: { d: { x: [1, { y: 'z' }] } }, b: [1, 'two', null, true], a: 1 })).toBe(true);
    expect(plainEqual(shared, shared)).toBe(true);
    expect(plainEqual([], [])).toBe(true);
    expect(plainEqual({}, {})).toBe(true);
    expect(plainEqual(NaN, NaN)).toBe(true);
  });

  it('types, array order and length, missing, extra and undefined keys count', () => {
    const cases: [unknown, unknown][] = [
      [{ a: 1 }, { a: '1' }],
      [[1, 2], [2, 1]],
      [[1], [1, 1]],
      [{ a: 1 }, { a: 1, b: 2 }],
      [{ a: 1, b: 2 }, { a: 1 }],
      [{ a: undefined }, {}],
      [{}, { a: undefined }],
      [{ 0: 'a' }, ['a']],
      [['a'], { 0: 'a' }],
      [null, {}],
      [{}, null],
      [0, -0 === 0 ? '0' : 0],
      [{ toString: 1 }, {}],
      [{ a: { b: [1, { c: 2 }] } }, { a: { b: [1, { c: 3 }] } }],
    ];
    for (const [a, b] of cases) expect(plainEqual(a, b), JSON.stringify([a, b])).toBe(false);
  });
});
