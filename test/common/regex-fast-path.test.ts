import { describe, expect, it } from 'vitest';
import { RE2JS } from 're2js';
import { linearJsRegExp } from '../../src/common/regex-fast-path.js';

describe('V8 RegExp fast path for RE2 patterns proven linear', () => {
  it('takes typical route and policy patterns', () => {
    for (const p of [
      '/api/v[0-9]+/.*',
      '^/productpage$',
      '/reviews/([0-9]+)',
      '(?i)/api/v[0-9]+/.*',
      'canary.*',
      'a*a', // one ambiguous quantifier followed only by literals is linear
      '\\A/static/[a-z0-9_\\-]+\\.(?:css)\\z',
      '[^/]+/items/[0-9]{1,6}',
      '.*\\.json',
    ]) {
      expect(linearJsRegExp(p), p).toBeInstanceOf(RegExp);
    }
  });

  it('leaves to the linear-time engine what it cannot prove linear', () => {
    for (const p of [
      '(a+)+b', // a quantified group
      '(a|a)*',
      'a|b', // alternation
      '.*canary.*', // two ambiguous quantifiers: quadratic on a backtracking engine
      '.*a.*a.*a.*b',
      '[0-9]*[0-9]*x', // the first quantifier's class overlaps the next atom
      'x*[a-z]+y', // an ambiguous quantifier followed by another quantifier
      '(?m)^a$',
      '(?U)a+b',
      '(?i)[a-z]+k+', // a case-folded literal cannot be proven outside the class
      '\\bword\\b',
      '\\pL+',
      '[[:alpha:]]+',
      'a(?i:b)',
    ]) {
      expect(linearJsRegExp(p), p).toBeUndefined();
    }
  });

  it('matches exactly as RE2 does (differential check on the patterns it takes)', () => {
    const patterns = [
      '/api/v[0-9]+/.*', '(?i)/API/v[0-9]+', '(?s)a.b', 'a.b', 'a\\sb', 'a\\Sb', '[^/]+/x', '\\d+\\.\\d*',
      '\\w+-\\W', '[a\\-z]+!', 'x{2,3}y', 'x{2}', 'x{2,}y', 'ab?c', 'a+?b', '(?P<v>v[0-9])/(.*)', '\\A/a\\z',
      '^/b$', '[\\d_]+x', '(?i)K', '(?i)[k]', 'é+x', '😀.', '[😀a]+b', '[!-/]+x',
    ];
    const inputs = [
      '', 'a', 'ab', 'abc', 'ac', 'a\nb', 'a b', 'a\tb', 'a\u00a0b', 'a\vb', 'axb', '/api/v2/x', '/API/V2', '/api/v/x',
      '12.5', '12.', 'foo-!', 'a-z!', 'xx y', 'xxy', 'xxxy', 'xxxxy', 'xx', 'aaab', 'v1/rest', '/a', '/b', '_12x',
      'k', 'K', '\u212a', 'éé x', 'éx', '😀x', '😀😀', 'a😀ab', '!/x', 'x/x', 'abc/x', '/x',
    ];
    let compared = 0;
    for (const p of patterns) {
      const fast = linearJsRegExp(p);
      expect(fast, p).toBeInstanceOf(RegExp);
      const re2 = RE2JS.compile(p);
      for (const s of inputs) {
        expect(fast!.test(s), `${p} on ${JSON.stringify(s)}`).toBe(re2.testExact(s));
        compared++;
      }
    }
    expect(compared).toBe(patterns.length * inputs.length);
  });
});
