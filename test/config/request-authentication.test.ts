import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeJwk, checkJwksText } from '../../src/common/jwks.js';
import { jwtRulesForWorkload, selectRequestAuthentications } from '../../src/config/istio/select-request-authentication.js';
import { CONFORMANCE, parseSecurity, securityError } from './security-helpers.js';

const JWKS = readFileSync(join(CONFORMANCE, 'tests/common/jwt/jwks.json'), 'utf8');

const ra = (body: string, ns = 'foo', name = 'jwt') =>
  `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata:\n  name: ${name}\n  namespace: ${ns}\nspec:\n${body.replace(/^/gm, '  ')}\n---\n`;
const rule = (body: string) => ra(`jwtRules:\n- ${body.replace(/\n/g, '\n  ')}`);

describe('RequestAuthentication parsing', () => {
  it('parses every field, with defaults and lower-case header names', () => {
    const { request, warnings } = parseSecurity(ra(`selector:
  matchLabels:
    app: httpbin
jwtRules:
- issuer: "example.com"
  audiences: [a, b]
  jwksUri: https://example.com/.well-known/jwks.json
  forwardOriginalToken: true
  fromCookies: [foo]
  fromHeaders:
    - name: X-Foo
      prefix: "baz "
  fromParams: [tok]
  outputClaimToHeaders:
  - claim: abc
    header: X-Def
  timeout: 10s
  outputPayloadToHeader: X-Payload
  spaceDelimitedClaims: [custom_scope, provider.login.scope]
  presence: REQUIRED
- issuer: other`));
    expect(warnings).toEqual(['RequestAuthentication foo/jwt jwtRules[1]: no jwks or jwksUri; the key set is discovered from other/.well-known/openid-configuration']);
    expect(request[0].selector).toEqual({ app: 'httpbin' });
    expect(request[0].jwtRules[0]).toEqual({
      issuer: 'example.com',
      audiences: ['a', 'b'],
      jwksUri: 'https://example.com/.well-known/jwks.json',
      fromHeaders: [{ name: 'x-foo', prefix: 'baz ' }],
      fromParams: ['tok'],
      fromCookies: ['foo'],
      outputPayloadToHeader: 'x-payload',
      forwardOriginalToken: true,
      outputClaimToHeaders: [{ header: 'x-def', claim: 'abc' }],
      timeoutMs: 10_000,
      spaceDelimitedClaims: ['custom_scope', 'provider.login.scope'],
      presence: 'REQUIRED',
      source: 'RequestAuthentication foo/jwt jwtRules[0]',
    });
    expect(request[0].jwtRules[1]).toMatchObject({ issuer: 'other', timeoutMs: 5000, forwardOriginalToken: false, presence: 'OPTIONAL', fromHeaders: [] });
  });

  it('parses the RequestAuthentication snippets of the istio.io tasks', () => {
    const tasks = join(CONFORMANCE, 'docs-tasks/security');
    let n = 0;
    for (const task of readdirSync(tasks)) {
      for (const f of readdirSync(join(tasks, task)).filter((x) => x.endsWith('.yaml'))) {
        const { request } = parseSecurity(readFileSync(join(tasks, task, f), 'utf8'), f);
        for (const r of request) {
          n++;
          expect(r.jwtRules[0].issuer).toBe('testing@secure.istio.io');
          expect(r.jwtRules[0].jwksUri).toMatch(/^https:\/\/raw\.githubusercontent\.com\//);
        }
      }
    }
    expect(n).toBe(4);
  });

  it('refuses targetRef and targetRefs clearly', () => {
    const e = securityError(ra('targetRefs:\n- group: ""\n  kind: Service\n  name: foo\njwtRules:\n- issuer: x\n  jwksUri: https://x/j'), 'ra.yaml');
    expect(e.message).toMatch(/^ra\.yaml:8, document 0, RequestAuthentication foo\/jwt, field spec\.targetRefs: targetRefs is not supported yet/);
    expect(securityError(ra('targetRef:\n  kind: Gateway\n  name: gw')).message).toContain('targetRef is not supported yet');
  });

  it("follows Istio's reqauth-invalid cases", () => {
    const cases: [string, string, string][] = [
      [ra('jwtRules:\n-'), 'spec.jwtRules[0]', 'expected an object'],
      [rule('issuer: example\naudiences:\n- ""'), 'spec.jwtRules[0].audiences[0]', 'audience must be a non-empty string'],
      [rule('issuer: example\njwksUri: "hTPp\\\\\\\\blah"'), 'spec.jwtRules[0].jwksUri', 'jwksUri'],
      [rule('issuer: example\nfromHeaders:\n- prefix: baz'), 'spec.jwtRules[0].fromHeaders[0].name', 'expected a string'],
      [rule('issuer: example\nfromHeaders:\n- name: ""\n  prefix: baz'), 'spec.jwtRules[0].fromHeaders[0].name', 'must not be empty'],
      [rule('issuer: example\nfromParams:\n- ""'), 'spec.jwtRules[0].fromParams[0]', 'location query must be a non-empty string'],
      [rule('issuer: example\nfromCookies:\n- ""'), 'spec.jwtRules[0].fromCookies[0]', 'cookie name must be a non-empty string'],
      [rule('issuer: example\noutputClaimToHeaders:\n  - ~'), 'spec.jwtRules[0].outputClaimToHeaders[0]', 'expected an object'],
      [rule('issuer: example\noutputClaimToHeaders:\n  - claim: ""\n    header: "h"'), 'spec.jwtRules[0].outputClaimToHeaders[0].claim', 'must not be empty'],
      [rule('issuer: example\noutputClaimToHeaders:\n  - claim: "x"\n    header: ""'), 'spec.jwtRules[0].outputClaimToHeaders[0].header', 'must not be empty'],
      [rule('issuer: example\noutputClaimToHeaders:\n  - claim: "x"\n    header: ":authority"'), 'spec.jwtRules[0].outputClaimToHeaders[0].header', 'not a valid header name'],
      [rule('issuer: example\ntimeout: "apple"'), 'spec.jwtRules[0].timeout', 'expected a duration'],
      [rule('issuer: example\nspaceDelimitedClaims:\n- ""'), 'spec.jwtRules[0].spaceDelimitedClaims[0]', 'must be a non-empty string'],
      [rule('issuer: example\npresence: MANDATORY'), 'spec.jwtRules[0].presence', 'must be one of OPTIONAL, REQUIRED'],
    ];
    for (const [text, field, msg] of cases) {
      const e = securityError(text);
      expect(e.location.field, text).toBe(field);
      expect(e.message, text).toContain(msg);
    }
  });

  it('requires issuer unless jwksUri is set; jwksUri must be http(s)', () => {
    expect(securityError(rule('audiences: [a]')).message).toContain('issuer must be set');
    expect(parseSecurity(rule('jwksUri: https://idp.example/jwks')).request[0].jwtRules[0].issuer).toBe('');
    expect(securityError(rule('issuer: x\njwksUri: ftp://idp.example/jwks')).message).toContain('URI scheme "ftp" is not supported');
    expect(securityError(rule('issuer: x\njwksUri: "not a url"')).message).toContain('is not a valid URL');
    expect(securityError(rule('issuer: x\ntimeout: 0s')).message).toContain('at least 1ms');
  });

  it('checks that inline jwks is a JSON Web Key Set with a usable key', () => {
    const ok = parseSecurity(rule(`issuer: x\njwks: ${JSON.stringify(JWKS)}`));
    expect(ok.request[0].jwtRules[0].jwks).toBe(JWKS);
    expect(securityError(rule('issuer: x\njwks: "{not json"')).message).toContain('jwks is not a JSON Web Key Set: Jwks is an invalid JSON');
    expect(securityError(rule('issuer: x\njwks: \'{"foo": []}\'')).message).toContain('Jwks does not have [keys] field');
    expect(securityError(rule('issuer: x\njwks: \'{"keys": {}}\'')).message).toContain('[keys] in Jwks is not an array');
    expect(securityError(rule('issuer: x\njwks: \'{"keys": [{"kty": "RSA", "n": "AQAB"}]}\'')).message).toContain('[e] field is missing for a RSA key');
  });

  it('warns when jwks and jwksUri are both set (jwksUri is ignored), on duplicate issuers, and on OIDC discovery', () => {
    const { warnings } = parseSecurity(ra(`jwtRules:
- issuer: a
  jwksUri: https://a/jwks
  jwks: ${JSON.stringify(JWKS)}
- issuer: a
  jwksUri: https://b/jwks
- issuer: https://accounts.example.com/`));
    expect(warnings).toEqual([
      'RequestAuthentication foo/jwt jwtRules[0]: both jwks and jwksUri are set; jwksUri is ignored (Istio uses the inline jwks)',
      'RequestAuthentication foo/jwt jwtRules[2]: no jwks or jwksUri; the key set is discovered from https://accounts.example.com/.well-known/openid-configuration',
      'RequestAuthentication foo/jwt: jwtRules[0] and jwtRules[1] have the same issuer "a"; a token verifies if either rule (sharing its location) accepts it',
    ]);
  });

  it('refuses two claims copied to one header', () => {
    const e = securityError(rule('issuer: x\njwksUri: https://x/j\noutputClaimToHeaders:\n- {header: X-A, claim: a}\n- {header: x-a, claim: b}'));
    expect(e.location.field).toBe('spec.jwtRules[0].outputClaimToHeaders[1].header');
  });
});

describe('JWK pinning', () => {
  it('pins algorithms by key type', () => {
    expect(analyzeJwk({ kty: 'RSA', n: 'AQAB', e: 'AQAB' })).toMatchObject({ ok: true, algs: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] });
    expect(analyzeJwk({ kty: 'RSA', n: 'AQAB', e: 'AQAB', alg: 'PS384' })).toMatchObject({ ok: true, algs: ['PS384'] });
    expect(analyzeJwk({ kty: 'RSA', n: 'AQAB', e: 'AQAB', alg: 'HS256' })).toMatchObject({ ok: false });
    expect(analyzeJwk({ kty: 'EC', crv: 'P-384', x: 'AA', y: 'AA' })).toMatchObject({ ok: true, algs: ['ES384'] });
    expect(analyzeJwk({ kty: 'EC', x: 'AA', y: 'AA' })).toMatchObject({ ok: true, algs: ['ES256'] });
    expect(analyzeJwk({ kty: 'EC', crv: 'P-256', alg: 'ES512', x: 'AA', y: 'AA' })).toMatchObject({ ok: false, reason: '[crv] field specified is not compatible with [alg] for an EC key' });
    expect(analyzeJwk({ kty: 'OKP', crv: 'Ed25519', x: 'AA' })).toMatchObject({ ok: true, algs: ['EdDSA'] });
    expect(analyzeJwk({ kty: 'oct', k: 'c2VjcmV0' })).toMatchObject({ ok: true, algs: ['HS256', 'HS384', 'HS512'] });
    expect(analyzeJwk({ kty: 'RSA', n: 'AQAB', e: 'AQAB', use: 'enc' })).toMatchObject({ ok: false });
    expect(analyzeJwk({ n: 'AQAB' })).toEqual({ ok: false, reason: '[kty] is missing in [keys]' });
    expect(checkJwksText(JWKS)).toBeUndefined();
  });
});

describe('RequestAuthentication selection', () => {
  const { request } = parseSecurity(
    ra('jwtRules:\n- issuer: ns-wide\n  jwksUri: https://x/j', 'foo', 'a') +
      ra('selector:\n  matchLabels:\n    app: httpbin\njwtRules:\n- issuer: httpbin\n  jwksUri: https://x/j', 'foo', 'b') +
      ra('jwtRules:\n- issuer: mesh\n  jwksUri: https://x/j', 'istio-system', 'c') +
      ra('selector:\n  matchLabels:\n    istio: ingressgateway\njwtRules:\n- issuer: gw\n  jwksUri: https://x/j', 'istio-system', 'd') +
      ra('jwtRules:\n- issuer: other-ns\n  jwksUri: https://x/j', 'bar', 'e'),
  );

  it('combines namespace, workload and root-namespace policies (a root selector applies mesh-wide)', () => {
    expect(selectRequestAuthentications(request, { namespace: 'foo', labels: { app: 'httpbin' } }).map((p) => p.meta.name)).toEqual(['a', 'b', 'c']);
    expect(jwtRulesForWorkload(request, { namespace: 'foo', labels: { app: 'sleep' } }).map((r) => r.issuer)).toEqual(['mesh', 'ns-wide']);
    expect(jwtRulesForWorkload(request, { namespace: 'gateways', labels: { istio: 'ingressgateway' } }).map((r) => r.issuer)).toEqual(['gw', 'mesh']);
  });
});
