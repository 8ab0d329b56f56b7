// sharedCompiled: equal sources share one compilation, bounded (emptied when full), and a compile
// that throws is not kept (it throws again next time).
import { describe, expect, it } from 'vitest';
import { sharedCompiled } from '../../src/common/shared-compiled.js';

describe('sharedCompiled', () => {
  it('compiles a source once and hands the same result to every caller', () => {
    let compiles = 0;
    const get = sharedCompiled(8, (s) => ({ s, n: ++compiles }));
    const a = get('a');
    expect(get('a')).toBe(a);
    expect(get('b')).not.toBe(a);
    expect(compiles).toBe(2);
  });

  it('when full it starts over: a source seen before the reset is compiled again', () => {
    let compiles = 0;
    const get = sharedCompiled(2, (s) => ({ s, n: ++compiles }));
    const a = get('a');
    get('b');
    get('c'); // full: emptied, then c kept
    expect(get('c').n).toBe(3);
    expect(get('a')).not.toBe(a);
    expect(compiles).toBe(4);
  });

  it('a compile that throws is not kept', () => {
    let calls = 0;
    const get = sharedCompiled(8, (s) => {
      calls++;
      throw new Error(`bad ${s}`);
    });
    expect(() => get('x')).toThrow('bad x');
    expect(() => get('x')).toThrow('bad x');
    expect(calls).toBe(2);
  });
});
