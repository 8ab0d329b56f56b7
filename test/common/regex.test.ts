// compileRegex keeps what it compiled by pattern: validation and every worker share one compiled
// pattern (a mesh's VirtualServices repeat theirs), which keeps no state between tests; a pattern RE2
// refuses is refused every time.
import { describe, expect, it } from 'vitest';
import { compileRegex, literalPrefix, RegexSyntaxError } from '../../src/common/regex.js';

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

describe('literalPrefix: what every full match starts with', () => {
  it.each([
    ['vhost\\..*\\.route\\..*', 'vhost.'],
    ['^cluster\\.outbound\\|', ''], // `|` anywhere: none claimed
    ['abc?d', 'ab'],
    ['ab*', 'a'],
    ['ab{2}', 'a'],
    ['ab+c', 'ab'],
    ['http.[0-9]*', 'http'],
    ['(?i)server', ''],
    ['\\d+x', ''],
    ['a\\Qb', 'a'],
    ['reporter=.=', 'reporter='],
    ['', ''],
  ])('%s → %s', (pattern, prefix) => {
    expect(literalPrefix(pattern)).toBe(prefix);
  });

  it('the prefix holds: every value the pattern matches starts with it', () => {
    const values = ['vhost.a.route.b', 'abd', 'abcd', 'a', 'ab', 'abbc', 'http5', 'http.', 'SERVER', 'reporter=.=x'];
    for (const pattern of ['vhost\\..*\\.route\\..*', 'abc?d', 'ab*', 'ab+c', 'http.[0-9]*', '(?i)server', 'reporter=.=.*']) {
      const re = compileRegex(pattern);
      for (const v of values) if (re.test(v)) expect(v.startsWith(literalPrefix(pattern))).toBe(true);
    }
  });
});
