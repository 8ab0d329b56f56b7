/**
 * The istio.io security tasks that use RequestAuthentication (docs-tasks/security/*: the YAML snippets
 * and the expected outputs of their snips.sh). The policies point at raw.githubusercontent.com; the
 * fetch is answered from the same files kept under security/tools/jwt/samples/.
 */
import { describe, expect, it } from 'vitest';
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { JwksCache, type JwtAuthResult } from '../../../src/security/jwt/index.js';
import { parseSecurity } from '../../config/security-helpers.js';
import { authenticatorFor as authenticatorOfRules, CONFORMANCE, SAMPLES_DIR } from './helpers.js';

const SAMPLE_JWKS = readFileSync(`${SAMPLES_DIR}jwks.json`, 'utf8');
const DEMO = readFileSync(`${SAMPLES_DIR}demo.jwt`, 'utf8').trim();
const GROUPS_SCOPE = readFileSync(`${SAMPLES_DIR}groups-scope.jwt`, 'utf8').trim();
const TASKS = join(CONFORMANCE, 'docs-tasks/security');

const fetched: string[] = [];
const sampleFetch: typeof fetch = async (input) => {
  const url = String(input);
  fetched.push(url);
  if (/^https:\/\/raw\.githubusercontent\.com\/istio\/istio\/[^/]+\/security\/tools\/jwt\/samples\/jwks\.json$/.test(url)) {
    return new Response(SAMPLE_JWKS, { headers: { 'content-type': 'application/json' } });
  }
  return new Response('not found', { status: 404 });
};

function authenticatorFor(task: string, snippet: string, now?: () => number) {
  const { request } = parseSecurity(readFileSync(join(TASKS, task, snippet), 'utf8'), snippet);
  expect(request).toHaveLength(1);
  return authenticatorOfRules(request[0].jwtRules, { jwksCache: new JwksCache({ fetch: sampleFetch, ...(now ? { now } : {}) }), ...(now ? { now } : {}) });
}

const expectations = (task: string) =>
  (JSON.parse(readFileSync(join(TASKS, task, 'expectations.json'), 'utf8')) as { expectations: Record<string, unknown>[] }).expectations;

/** What the proxy answers before any AuthorizationPolicy: 401 for an invalid token, else the app's 200. */
const code = (r: JwtAuthResult) => (r.status === 'invalid' ? r.httpStatus : 200);
const bearer = (t: string) => ({ headers: { authorization: [`Bearer ${t}`] } });

describe('authn-policy: end-user authentication', () => {
  const step = expectations('authn-policy').find((e) => e.after === 'snip_enduser_authentication_4 (RequestAuthentication)')!;
  const cases = step.cases as Record<string, unknown>;

  it('no token, a bad token, demo.jwt', async () => {
    const auth = authenticatorFor('authn-policy', 'snip_enduser_authentication_4.yaml');
    expect(code(await auth.authenticate({ headers: {} }))).toBe(cases['no token']);
    expect(code(await auth.authenticate(bearer('deadbeef')))).toBe(cases['Bearer deadbeef']);
    const demo = await auth.authenticate(bearer(DEMO));
    expect(code(demo)).toBe(cases['Bearer demo.jwt']);
    expect(demo).toMatchObject({ status: 'valid', principal: 'testing@secure.istio.io/testing@secure.istio.io', claims: { foo: 'bar' } });
    expect(fetched).toContain('https://raw.githubusercontent.com/istio/istio/master/security/tools/jwt/samples/jwks.json');
  });

  it('a token from gen-jwt.py --expire 5, probed every 10s: 200 x7 then 401 x3 (60s clock skew)', async () => {
    expect(cases['token generated with --expire 5 (gen-jwt.py + key.pem)']).toMatch(/200 x7 then 401 x3/);
    const t0 = 1_700_000_000;
    let now = t0 * 1000;
    const auth = authenticatorFor('authn-policy', 'snip_enduser_authentication_4.yaml', () => now);
    const key = createPrivateKey(readFileSync(`${SAMPLES_DIR}key.pem`, 'utf8'));
    const kid = (JSON.parse(SAMPLE_JWKS) as { keys: { kid: string }[] }).keys[0].kid;
    const token = await new SignJWT({ iss: 'testing@secure.istio.io', sub: 'testing@secure.istio.io', iat: t0, exp: t0 + 5 })
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .sign(key);
    const codes: number[] = [];
    for (let i = 0; i < 10; i++) {
      codes.push(code(await auth.authenticate(bearer(token))));
      now += 10_000;
    }
    expect(codes).toEqual([200, 200, 200, 200, 200, 200, 200, 401, 401, 401]);
  });
});

describe('claim-to-header', () => {
  const [invalid, demo] = expectations('claim-to-header');

  it('rejects an invalid token and copies claim foo of demo.jwt to X-Jwt-Claim-Foo', async () => {
    const auth = authenticatorFor('claim-to-header', 'snip_allow_requests_with_valid_jwt_and_listtyped_claims_1.yaml');
    expect(code(await auth.authenticate(bearer('invalidToken')))).toBe(invalid.expect);
    const r = await auth.authenticate(bearer(DEMO));
    expect(code(r)).toBe(demo.expect);
    expect(demo.upstream_sees_header).toBe('"X-Jwt-Claim-Foo": "bar"');
    expect(r.status === 'valid' && r.headerMutations).toEqual([
      { op: 'remove', name: 'x-jwt-claim-foo' },
      { op: 'add', name: 'x-jwt-claim-foo', value: 'bar' },
      { op: 'remove', name: 'authorization' },
    ]);
  });
});

describe('authz-jwt and jwt-route', () => {
  it('authz-jwt: RequestAuthentication alone rejects invalid tokens only; principals and list-typed claims for authorization', async () => {
    const exp = expectations('authz-jwt');
    const auth = authenticatorFor('authz-jwt', 'snip_allow_requests_with_valid_jwt_and_listtyped_claims_1.yaml');
    expect(code(await auth.authenticate(bearer('invalidToken')))).toBe(exp[1].expect);
    expect(code(await auth.authenticate({ headers: {} }))).toBe(exp[2].expect);
    // the AuthorizationPolicy of snip 4 matches requestPrincipals testing@secure.istio.io/testing@secure.istio.io
    expect(await auth.authenticate(bearer(DEMO))).toMatchObject({ status: 'valid', principal: 'testing@secure.istio.io/testing@secure.istio.io' });
    // snip 8 requires request.auth.claims[groups] to contain group1
    const groups = await auth.authenticate(bearer(GROUPS_SCOPE));
    expect(groups).toMatchObject({ status: 'valid', claims: { groups: ['group1', 'group2'] } });
    const demo = await auth.authenticate(bearer(DEMO));
    expect(demo.status === 'valid' && demo.claims.groups).toBeUndefined(); // demo.jwt has no groups: snip 8 denies it
  });

  it('jwt-route: a bad token is 401; groups-scope.jwt carries the claim the route matches on', async () => {
    const exp = expectations('jwt-route');
    const auth = authenticatorFor('jwt-route', 'snip_configuring_ingress_routing_based_on_jwt_claims_1.yaml');
    expect(code(await auth.authenticate(bearer('some.invalid.token')))).toBe(exp[1].expect);
    expect(await auth.authenticate(bearer(GROUPS_SCOPE))).toMatchObject({ status: 'valid', claims: { groups: ['group1', 'group2'] } });
    expect((await auth.authenticate({ headers: {} })).status).toBe('none');
  });
});
