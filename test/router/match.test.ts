import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { compileRegex, compileRegexRewrite, RegexSyntaxError } from '../../src/common/regex.js';
import type { HeaderMatcher, RouteMatch, StringMatch } from '../../src/config/snapshot.js';
import { compileRouteMatch, compileStringMatch } from '../../src/router/match.js';
import { RequestView } from '../../src/router/request-view.js';

function req(path: string, headers: IncomingHttpHeaders = {}, opts: { method?: string; authority?: string; scheme?: string } = {}): RequestView {
  // the codec hands over headers as a flat [name, value, ...] list; arrays are repeated headers
  const flat: string[] = [];
  for (const [k, v] of Object.entries(headers)) for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) flat.push(k, one);
  return new RequestView(opts.method ?? 'GET', path, opts.authority ?? 'svc.example.com', opts.scheme ?? 'http', flat);
}

function match(m: Partial<RouteMatch>): (r: RequestView) => boolean {
  return compileRouteMatch({ path: { prefix: '/' }, headers: [], queryParams: [], ...m });
}

describe('RequestView', () => {
  it('splits path and query lazily and reads pseudo-headers', () => {
    const r = req('/a/b?x=1&y=two&x=3', { 'x-multi': ['a', 'b'], 'x-one': 'v' }, { method: 'POST', authority: 'h:81', scheme: 'https' });
    expect(r.pathWithoutQuery).toBe('/a/b');
    expect(r.queryParam('x')).toBe('1');
    expect(r.queryParam('y')).toBe('two');
    expect(r.queryParam('z')).toBeUndefined();
    expect(r.header(':method')).toBe('POST');
    expect(r.header(':authority')).toBe('h:81');
    expect(r.header(':scheme')).toBe('https');
    expect(r.header(':path')).toBe('/a/b?x=1&y=two&x=3');
    expect(r.header('x-multi')).toBe('a,b');
    expect(r.header('x-one')).toBe('v');
    expect(r.header('x-none')).toBeUndefined();
    expect(req('/plain').queryParam('x')).toBeUndefined();
  });
});

describe('string matchers', () => {
  const t = (m: StringMatch, v: string) => compileStringMatch(m)(v);
  it('exact, prefix and their ignoreCase forms', () => {
    expect(t({ exact: 'GET' }, 'GET')).toBe(true);
    expect(t({ exact: 'GET' }, 'get')).toBe(false);
    expect(t({ exact: 'GET' }, 'GETX')).toBe(false);
    expect(t({ exact: 'GET', ignoreCase: true }, 'get')).toBe(true);
    expect(t({ exact: 'Get', ignoreCase: true }, 'gET')).toBe(true);
    expect(t({ prefix: '/API' }, '/api/x')).toBe(false);
    expect(t({ prefix: '/API', ignoreCase: true }, '/api/x')).toBe(true);
    expect(t({ prefix: '/api', ignoreCase: true }, '/ap')).toBe(false);
    expect(t({ prefix: '' }, 'anything')).toBe(true);
  });
  it('regex matches the whole value (Envoy safe_regex)', () => {
    expect(t({ regex: 'a+' }, 'aaa')).toBe(true);
    expect(t({ regex: 'a+' }, 'baaa')).toBe(false);
    expect(t({ regex: 'a+' }, 'aaab')).toBe(false);
    expect(t({ regex: 'a|b' }, 'b')).toBe(true); // alternation is grouped before anchoring
    expect(t({ regex: 'a|b' }, 'ab')).toBe(false);
    expect(t({ regex: '.*' }, '')).toBe(true);
  });
});

describe('path matching', () => {
  it('prefix compares the whole :path, query included', () => {
    const m = match({ path: { prefix: '/api' } });
    expect(m(req('/api'))).toBe(true);
    expect(m(req('/api/v1?x=1'))).toBe(true);
    expect(m(req('/apix'))).toBe(true); // a prefix, not a path segment
    expect(m(req('/ap'))).toBe(false);
    expect(m(req('/v1/api'))).toBe(false);
    const q = match({ path: { prefix: '/search?q=' } });
    expect(q(req('/search?q=term'))).toBe(true);
    expect(q(req('/search'))).toBe(false);
  });

  it('prefix "/" matches every request', () => {
    const m = match({ path: { prefix: '/' } });
    expect(m(req('/'))).toBe(true);
    expect(m(req('/anything?x'))).toBe(true);
    expect(m(req('*'))).toBe(true);
  });

  it('exact compares the path without its query', () => {
    const m = match({ path: { exact: '/productpage' } });
    expect(m(req('/productpage'))).toBe(true);
    expect(m(req('/productpage?u=normal'))).toBe(true);
    expect(m(req('/productpage/'))).toBe(false);
    expect(m(req('/Productpage'))).toBe(false);
    expect(m(req('/productpagex'))).toBe(false);
  });

  it('regex compares the path without its query, anchored', () => {
    const m = match({ path: { regex: '/reviews/[0-9]+' } });
    expect(m(req('/reviews/12'))).toBe(true);
    expect(m(req('/reviews/12?x=y'))).toBe(true);
    expect(m(req('/reviews/12/extra'))).toBe(false);
    expect(m(req('/v1/reviews/12'))).toBe(false);
    expect(m(req('/reviews/abc'))).toBe(false);
  });

  it('ignoreCase for exact and prefix paths; (?i) for regex paths', () => {
    expect(match({ path: { exact: '/Login', ignoreCase: true } })(req('/LOGIN?next=/'))).toBe(true);
    expect(match({ path: { prefix: '/Static', ignoreCase: true } })(req('/STATIC/app.css'))).toBe(true);
    expect(match({ path: { prefix: '/Static', ignoreCase: true } })(req('/dynamic'))).toBe(false);
    expect(match({ path: { regex: '(?i)/api/v[0-9]' } })(req('/API/V2'))).toBe(true);
    expect(match({ path: { regex: '/api/v[0-9]' } })(req('/API/V2'))).toBe(false);
  });
});

describe('header matching', () => {
  const h = (...headers: HeaderMatcher[]) => match({ headers });

  it('presence: any value, even empty', () => {
    const m = h({ name: 'x-debug', invert: false });
    expect(m(req('/', { 'x-debug': '' }))).toBe(true);
    expect(m(req('/', { 'x-debug': '1' }))).toBe(true);
    expect(m(req('/', {}))).toBe(false);
  });

  it('value matchers on headers and pseudo-headers', () => {
    expect(h({ name: 'end-user', match: { exact: 'jason' }, invert: false })(req('/', { 'end-user': 'jason' }))).toBe(true);
    expect(h({ name: 'end-user', match: { exact: 'jason' }, invert: false })(req('/', { 'end-user': 'Jason' }))).toBe(false);
    expect(h({ name: 'end-user', match: { exact: 'jason' }, invert: false })(req('/', {}))).toBe(false);
    expect(h({ name: 'cookie', match: { regex: '.*session=[a-z]+.*' }, invert: false })(req('/', { cookie: 'a=1; session=abc; b=2' }))).toBe(true);
    expect(h({ name: ':method', match: { exact: 'POST' }, invert: false })(req('/', {}, { method: 'POST' }))).toBe(true);
    expect(h({ name: ':method', match: { exact: 'POST' }, invert: false })(req('/', {}, { method: 'GET' }))).toBe(false);
    expect(h({ name: ':authority', match: { prefix: 'api.' }, invert: false })(req('/', {}, { authority: 'api.example.com' }))).toBe(true);
    expect(h({ name: ':scheme', match: { exact: 'https' }, invert: false })(req('/', {}, { scheme: 'http' }))).toBe(false);
  });

  it('a repeated header matches on its comma-joined value', () => {
    const m = h({ name: 'x-tag', match: { exact: 'a,b' }, invert: false });
    expect(m(req('/', { 'x-tag': ['a', 'b'] }))).toBe(true);
  });

  it('invert (withoutHeaders): an absent header matches, a matching one does not', () => {
    const presence = h({ name: 'x-canary', invert: true });
    expect(presence(req('/', {}))).toBe(true);
    expect(presence(req('/', { 'x-canary': 'yes' }))).toBe(false);
    const value = h({ name: 'x-env', match: { exact: 'prod' }, invert: true });
    expect(value(req('/', {}))).toBe(true);
    expect(value(req('/', { 'x-env': 'staging' }))).toBe(true);
    expect(value(req('/', { 'x-env': 'prod' }))).toBe(false);
  });

  it('all conditions must hold', () => {
    const m = match({
      path: { prefix: '/api' },
      headers: [
        { name: 'end-user', match: { exact: 'jason' }, invert: false },
        { name: 'x-block', invert: true },
      ],
      queryParams: [{ name: 'v', match: { exact: '2' } }],
    });
    expect(m(req('/api/x?v=2', { 'end-user': 'jason' }))).toBe(true);
    expect(m(req('/web/x?v=2', { 'end-user': 'jason' }))).toBe(false);
    expect(m(req('/api/x?v=1', { 'end-user': 'jason' }))).toBe(false);
    expect(m(req('/api/x?v=2', { 'end-user': 'bob' }))).toBe(false);
    expect(m(req('/api/x?v=2', { 'end-user': 'jason', 'x-block': '1' }))).toBe(false);
  });
});

describe('query parameter matching', () => {
  it('presence, exact, prefix and regex; the first of repeated values', () => {
    expect(match({ queryParams: [{ name: 'debug' }] })(req('/p?debug'))).toBe(true);
    expect(match({ queryParams: [{ name: 'debug' }] })(req('/p?debug='))).toBe(true);
    expect(match({ queryParams: [{ name: 'debug' }] })(req('/p?nodebug=1'))).toBe(false);
    expect(match({ queryParams: [{ name: 'debug' }] })(req('/p'))).toBe(false);
    expect(match({ queryParams: [{ name: 'u', match: { exact: 'jason' } }] })(req('/p?x=1&u=jason'))).toBe(true);
    expect(match({ queryParams: [{ name: 'u', match: { exact: 'jason' } }] })(req('/p?u=jasonx'))).toBe(false);
    expect(match({ queryParams: [{ name: 'u', match: { prefix: 'ja' } }] })(req('/p?u=jasonx'))).toBe(true);
    expect(match({ queryParams: [{ name: 'id', match: { regex: '[0-9]+' } }] })(req('/p?id=42'))).toBe(true);
    expect(match({ queryParams: [{ name: 'id', match: { regex: '[0-9]+' } }] })(req('/p?id=42a'))).toBe(false);
    expect(match({ queryParams: [{ name: 'u', match: { exact: 'a' } }] })(req('/p?u=a&u=b'))).toBe(true);
    expect(match({ queryParams: [{ name: 'u', match: { exact: 'a' } }, { name: 'v' }] })(req('/p?u=a'))).toBe(false);
  });
});

describe('RE2 regexes', () => {
  it('anchors the whole input', () => {
    const re = compileRegex('/api/.*');
    expect(re.test('/api/x')).toBe(true);
    expect(re.test('x/api/x')).toBe(false);
    expect(compileRegex('foo|bar').test('foobar')).toBe(false);
  });

  it('leading and inline flags: (?i), (?s), (?U), (?m)', () => {
    const re = compileRegex('(?i)/Reviews/[a-z]+');
    expect(re.test('/REVIEWS/ABC')).toBe(true);
    expect(compileRegex('(?s)a.b').test('a\nb')).toBe(true);
    expect(compileRegex('a.b').test('a\nb')).toBe(false);
    expect(compileRegex('(?is)A.B').test('a\nb')).toBe(true);
    expect(compileRegex('(?U)a+').test('aaa')).toBe(true); // ungreedy does not change a full match
    expect(compileRegex('/x/(?i:ab)c').test('/x/ABc')).toBe(true);
    expect(compileRegex('/x/(?i:ab)c').test('/x/ABC')).toBe(false);
    // (?m) makes ^ and $ line anchors inside the pattern; the value must still match as a whole
    expect(compileRegex('(?m)a$\nb').test('a\nb')).toBe(true);
    expect(compileRegex('(?m)a').test('a\nb')).toBe(false);
  });

  it('named groups (?P<name>...) and (?<name>...) are accepted', () => {
    expect(compileRegex('/api/(?P<version>v[0-9]+)/(?P<rest>.*)').test('/api/v2/items/3')).toBe(true);
    expect(compileRegex('/api/(?<version>v[0-9]+)/.*').test('/api/vx/items/3')).toBe(false);
  });

  it('rejects what is not a valid expression, and what RE2 refuses', () => {
    expect(() => compileRegex('(unclosed')).toThrow(RegexSyntaxError);
    expect(() => compileRegex('a{2,1}')).toThrow(RegexSyntaxError);
    expect(() => compileRegex('(?<=a)b')).toThrow(RegexSyntaxError); // lookbehind
    expect(() => compileRegex('a(?=b)')).toThrow(RegexSyntaxError); // lookahead
    expect(() => compileRegex('(a|a)*\\1')).toThrow(RegexSyntaxError); // backreference
    expect(() => compileRegex('a{1001}')).toThrow(RegexSyntaxError); // RE2's repeat limit
  });

  it('RE2 escapes: \\A and \\z anchor, \\s is ASCII whitespace, \\pL is a Unicode class', () => {
    const re = compileRegex('\\A[0-9]+\\z');
    expect(re.test('123')).toBe(true);
    expect(re.test('123z')).toBe(false);
    expect(compileRegex('a\\sb').test('a\tb')).toBe(true);
    expect(compileRegex('a\\sb').test('a\u00a0b')).toBe(false); // no-break space is not RE2 \s
    expect(compileRegex('a\\sb').test('a\vb')).toBe(false); // nor is \v
    expect(compileRegex('\\pL+').test('héllo')).toBe(true);
    expect(compileRegex('\\-\\_').test('-_')).toBe(true); // escaped punctuation is literal
  });

  it('RE2 POSIX classes', () => {
    const re = compileRegex('[[:digit:]]+');
    expect(re.test('2024')).toBe(true);
    expect(re.test('d]')).toBe(false);
    expect(compileRegex('[[:^alpha:]]+').test('123')).toBe(true);
    expect(compileRegex('[[:^alpha:]]+').test('12a')).toBe(false);
  });

  it('regex rewrite: every match, \\N groups, $ literal, as RE2::GlobalReplace', () => {
    expect(compileRegexRewrite('(?i)/v1/', '/v2/')('/V1/a/v1/b')).toBe('/v2/a/v2/b');
    expect(compileRegexRewrite('api', 'svc')('/x/api/y')).toBe('/x/svc/y');
    expect(compileRegexRewrite('^/(?P<first>[a-z])/', '/\\1\\1/')('/a/b')).toBe('/aa/b');
    expect(compileRegexRewrite('^/a', '/b')('/a/a')).toBe('/b/a'); // ^ is the start of the path, not of each search
    expect(compileRegexRewrite('a*', 'X')('baaac')).toBe('XbXcX'); // no empty match right after a match
    expect(compileRegexRewrite('x', '\\\\$1')('axb')).toBe('a\\$1b');
    expect(compileRegexRewrite('(a)', '\\2')('a')).toBe('a'); // a group the pattern lacks: nothing replaced
    expect(compileRegexRewrite('q', 'r')('/none')).toBe('/none');
  });
});
