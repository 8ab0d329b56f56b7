/**
 * The authenticator over Envoy's JwtAuthentication written directly (as an xDS client would hand
 * it over), for the fields and requirement shapes the Istio translator does not exercise.
 */
import { describe, expect, it } from 'vitest';
import type { JwtAuthentication, JwtProvider, JwtRequirement } from '../../../src/config/envoy/jwt-authn.js';
import { ConfigError } from '../../../src/config/errors.js';
import { jwtAuthnFilter } from '../../../src/filters/http/jwt_authn/index.js';
import { JwtAuthenticator, JwtStatus, type JwtAuthResult } from '../../../src/security/jwt/index.js';
import { bearer, ISSUER1, JWKS, mint, NOW_MS, NOW_S } from './helpers.js';

const P: JwtProvider = { issuer: ISSUER1, localJwks: { inlineString: JWKS } };
const config = (requires: JwtRequirement, provider: JwtProvider = P, extra: Partial<JwtAuthentication> = {}): JwtAuthentication => ({
  providers: { p: provider },
  rules: [{ match: { prefix: '/' }, requires }],
  ...extra,
});
const auth = (cfg: JwtAuthentication) => new JwtAuthenticator(cfg, { now: () => NOW_MS });
const OPTIONAL: JwtRequirement = { requiresAny: { requirements: [{ providerName: 'p' }, { allowMissing: {} }] } };

function valid(r: JwtAuthResult): Extract<JwtAuthResult, { status: 'valid' }> {
  if (r.status !== 'valid') throw new Error(`expected a valid token, got ${JSON.stringify(r)}`);
  return r;
}

describe('JwtAuthentication', () => {
  it('a bare providerName requires the token; requiresAny with allowMissing lets a request without one pass', async () => {
    expect(await auth(config({ providerName: 'p' })).authenticate({ headers: {} })).toMatchObject({ status: 'invalid', reason: JwtStatus.JwtMissed, httpStatus: 401, provider: 'p' });
    expect((await auth(config(OPTIONAL)).authenticate({ headers: {} })).status).toBe('none');
  });

  it('no rules: nothing is required and no token is read', async () => {
    const a = auth({ providers: { p: P } });
    expect((await a.authenticate(bearer('not-a-jwt'))).status).toBe('none');
  });

  it('CORS preflights are verified unless bypassCorsPreflight is set', async () => {
    const headers = { origin: 'https://istio.io', 'access-control-request-method': 'POST' };
    expect((await auth(config({ providerName: 'p' })).authenticate({ headers, method: 'OPTIONS' })).status).toBe('invalid');
    expect((await auth(config({ providerName: 'p' }, P, { bypassCorsPreflight: true })).authenticate({ headers, method: 'OPTIONS' })).status).toBe('none');
  });

  it('padForwardPayloadHeader pads the forwarded payload to a multiple of 4', async () => {
    const token = await mint({ exp: NOW_S + 60, x: 'a' });
    const payload = token.split('.')[1];
    expect(payload.length % 4).not.toBe(0);
    const plain = valid(await auth(config(OPTIONAL, { ...P, forwardPayloadHeader: 'x-payload' })).authenticate(bearer(token)));
    expect(plain.headerMutations).toContainEqual({ op: 'add', name: 'x-payload', value: payload });
    const padded = valid(await auth(config(OPTIONAL, { ...P, forwardPayloadHeader: 'x-payload', padForwardPayloadHeader: true })).authenticate(bearer(token)));
    const value = padded.headerMutations.find((m) => m.op === 'add' && m.name === 'x-payload') as { value: string };
    expect(value.value).toMatch(/^[^=]+=+$/);
    expect(value.value.length % 4).toBe(0);
  });

  it('payloadInMetadata: carried with the verified token only when the provider sets it', async () => {
    const token = await mint({ exp: NOW_S + 60 });
    expect(valid(await auth(config(OPTIONAL)).authenticate(bearer(token))).payloadInMetadata).toBeUndefined();
    expect(valid(await auth(config(OPTIONAL, { ...P, payloadInMetadata: 'payload' })).authenticate(bearer(token))).payloadInMetadata).toBe('payload');
  });

  it('clockSkewSeconds per provider (Envoy default 60)', async () => {
    const token = await mint({ exp: NOW_S - 30 });
    expect(valid(await auth(config(OPTIONAL)).authenticate(bearer(token))).provider).toBe('p');
    expect(await auth(config(OPTIONAL, { ...P, clockSkewSeconds: 0 })).authenticate(bearer(token))).toMatchObject({ status: 'invalid', reason: JwtStatus.JwtExpired });
  });

  it('refuses requirement trees it would evaluate differently from Envoy, and unknown providers', () => {
    const refused: [JwtAuthentication, RegExp][] = [
      [config({ allowMissingOrFailed: {} }), /not a shape Outrigger evaluates/],
      [config({ requiresAny: { requirements: [{ providerName: 'p' }, { providerName: 'q' }] } }, P, { providers: { p: P, q: P } }), /not a shape/],
      [config({ providerName: 'q' }), /provider "q", which is not in providers/],
      [{ providers: { p: P }, rules: [{ match: { prefix: '/api' }, requires: { providerName: 'p' } }] }, /prefix "\/"/],
      [{ providers: { p: P }, rules: [{ match: { prefix: '/' }, requirementName: 'r' }] }, /requirement "r" is not in requirementMap/],
    ];
    for (const [cfg, message] of refused) expect(() => auth(cfg)).toThrow(message);
    // a named requirement resolves through requirementMap
    expect(() => auth({ providers: { p: P }, rules: [{ match: { prefix: '/' }, requirementName: 'r' }], requirementMap: { r: OPTIONAL } })).not.toThrow();
  });

  it('the filter compiles its config once, at parse, and reports a refused one as a config error', () => {
    expect(jwtAuthnFilter.parse(config(OPTIONAL))).toHaveProperty('authenticator');
    expect(() => jwtAuthnFilter.parse(config({ allowMissingOrFailed: {} }))).toThrow(ConfigError);
    expect(() => jwtAuthnFilter.parse({ providers: {}, rules: [], unknown: 1 })).toThrow(/unknown field "unknown"/);
  });
});
