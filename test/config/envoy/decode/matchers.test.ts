import { describe, expect, it } from 'vitest';
import { decodeStringMatcher } from '../../../../src/config/envoy/decode/matchers.js';
import { fromProtoJson } from '../../../../src/config/envoy/proto/json.js';
import { messageType } from '../../../../src/config/envoy/proto/registry.js';
import { compileStringMatch } from '../../../../src/router/match.js';

const ref = { kind: 'RouteConfiguration', name: 'r' };
const matcher = (json: object) => fromProtoJson<object>(messageType('envoy.type.matcher.v3.StringMatcher'), json, { location: {} });

describe('StringMatcher', () => {
  it('decodes every pattern, with ignore_case, and the data plane matches as Envoy does', () => {
    const cases: [object, string[], string[]][] = [
      [{ exact: 'spiffe://cluster.local/ns/a/sa/b' }, ['spiffe://cluster.local/ns/a/sa/b'], ['spiffe://cluster.local/ns/a/sa/bb']],
      [{ prefix: '/api', ignore_case: true }, ['/API/v1', '/api'], ['/ap']],
      [{ suffix: '.svc.cluster.local' }, ['a.ns.svc.cluster.local'], ['a.ns.svc.cluster.local.']],
      [{ contains: 'canary', ignoreCase: true }, ['x-CANARY-1'], ['x-stable']],
      [{ safe_regex: { regex: 'v[0-9]+' } }, ['v12'], ['v12a', 'xv1']],
      [{ exact: '' }, [''], ['a']],
    ];
    for (const [json, yes, no] of cases) {
      const test = compileStringMatch(decodeStringMatcher(matcher(json), ref, 'm'));
      for (const v of yes) expect(test(v), `${JSON.stringify(json)} ~ ${v}`).toBe(true);
      for (const v of no) expect(test(v), `${JSON.stringify(json)} !~ ${v}`).toBe(false);
    }
  });

  it('refuses what Envoy refuses, naming the field', () => {
    expect(() => decodeStringMatcher(matcher({ prefix: '' }), ref, 'virtual_hosts[0].routes[1].match.headers[0].string_match')).toThrow(
      'RouteConfiguration r, field virtual_hosts[0].routes[1].match.headers[0].string_match: prefix must not be empty',
    );
    expect(() => decodeStringMatcher(matcher({}), ref, 'm')).toThrow(/needs one of exact, prefix/);
    expect(() => decodeStringMatcher(matcher({ safe_regex: { regex: 'a' }, ignore_case: true }), ref, 'm')).toThrow(/ignore_case/);
    // checked when the resource arrives (a NACK naming the field), not left for the workers to refuse
    expect(() => decodeStringMatcher(matcher({ safe_regex: { regex: 'a(' } }), ref, 'm')).toThrow('RouteConfiguration r, field m.safe_regex.regex: invalid regex "a("');
    expect(() => decodeStringMatcher(matcher({ safe_regex: { regex: '(a)\\1' } }), ref, 'm')).toThrow(/invalid regex/); // a backreference: not RE2
  });
});
