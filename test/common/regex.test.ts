// compileRegex keeps what it compiled by pattern: validation and every worker share one compiled
// pattern (a mesh's VirtualServices repeat theirs), which keeps no state between tests; a pattern RE2
// refuses is refused every time.
import { describe, expect, it } from 'vitest';
import { compileRegex, RegexSyntaxError } from '../../src/common/regex.js';

describe('compileRegex, by pattern', () => {
  it('the same pattern is compiled once; the shared one answers each test on its own', () => {
    for (const pattern of ['/items/[0-9]+', '(?i)/a(b|c)*', '(a+)+b']) {
      const re = compileRegex(pattern);
      expect(compileRegex(pattern)).toBe(re);
    }
    const items = compileRegex('/items/[0-9]+');
    const answers = ['/items/1', '/items/x', '/items/22', '/items/22/x', '/items/3'].map((v) => items.test(v));
    expect(answers).toEqual([true, false, true, false, true]);
  });

  it('a pattern RE2 refuses throws each time it is compiled', () => {
    expect(() => compileRegex('(?<=a)b')).toThrow(RegexSyntaxError);
    expect(() => compileRegex('(?<=a)b')).toThrow(RegexSyntaxError);
  });
});
