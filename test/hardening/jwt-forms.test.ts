// RequestAuthentication against bad tokens, through a gateway on real sockets: every form is
// answered by the jwt_authn filter itself — 401 (403 for an audience) with Envoy's exact body and
// `WWW-Authenticate: Bearer realm=..., error="invalid_token"` — and nothing reaches the app.
// test/integration/authorization.test.ts covers Istio's own expired / other-issuer / tampered tokens
// with an AuthorizationPolicy; these are the forms a hostile client would try.
import { exportJWK, generateKeyPair, SignJWT, exportSPKI, type CryptoKey } from 'jose';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange, rawStatus } from '../helpers/http.js';
import { GATEWAY_ARGS, gatewayToApp } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const ISSUER = 'https://issuer.example';
const AUDIENCE = 'shop';
let app: Upstream;
let port: number;
let key: CryptoKey;
let otherKey: CryptoKey;
let publicPem: string;

const b64 = (s: string | object) => Buffer.from(typeof s === 'string' ? s : JSON.stringify(s)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** A token signed with `signer` (RS256, kid k1 unless told) over the given claims. */
function sign(claims: Record<string, unknown>, { signer = key, kid = 'k1' }: { signer?: CryptoKey; kid?: string } = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid }).sign(signer);
}
const good = () => ({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: now(), exp: now() + 600 });

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  key = pair.privateKey;
  const publicKey = pair.publicKey;
  otherKey = (await generateKeyPair('RS256')).privateKey;
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', use: 'sig' };
  publicPem = await exportSPKI(publicKey);
  app = await startUpstream(undefined, 'app');
  port = await freePort();
  const yaml = [
    gatewayToApp(port, app.port),
    stringify({
      apiVersion: 'security.istio.io/v1',
      kind: 'RequestAuthentication',
      metadata: { name: 'jwt', namespace: 'default' },
      spec: { jwtRules: [{ issuer: ISSUER, audiences: [AUDIENCE], jwks: JSON.stringify({ keys: [jwk] }) }] },
    }),
  ].join('---\n');
  await startProxy({ yaml, args: GATEWAY_ARGS });
});
afterAll(async () => {
  await stopAllProxies();
  await app.close();
});

async function call(token: string): Promise<{ status: number; body: string; head: string; reachedApp: boolean }> {
  const before = app.requests.length;
  const r = await rawExchange(port, `GET /orders HTTP/1.1\r\nhost: shop.example.com\r\nauthorization: Bearer ${token}\r\nconnection: close\r\n\r\n`);
  const split = r.data.indexOf('\r\n\r\n');
  return { status: rawStatus(r.data), head: r.data.slice(0, split), body: r.data.slice(split + 4), reachedApp: app.requests.length > before };
}

describe('JWT: bad tokens never reach the app', () => {
  it('a good token passes (the control)', async () => {
    expect(await call(await sign(good()))).toMatchObject({ status: 200, reachedApp: true });
  });

  const forms: [string, () => Promise<string> | string, number, string][] = [
    ['alg none, no signature', () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(good())}.`, 401, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
    ['alg none with a signature segment', () => `${b64({ alg: 'none' })}.${b64(good())}.${b64('x')}`, 401, 'Jwt header [alg] is not supported'],
    ['no alg', () => `${b64({ kid: 'k1' })}.${b64(good())}.${b64('x')}`, 401, 'Jwt header [alg] field is required and must be a string'],
    ['HS256 with the RSA public key as the HMAC secret (key confusion)', async () => new SignJWT(good()).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(new TextEncoder().encode(publicPem)), 401, 'Jwt verification fails'],
    ['signed by another key under the same kid', () => sign(good(), { signer: otherKey }), 401, 'Jwt verification fails'],
    ['a kid the JWKS does not have', () => sign(good(), { kid: 'k9' }), 401, "Jwks doesn't have key to match kid or alg from Jwt"],
    ['expired', () => sign({ ...good(), exp: now() - 3_600 }), 401, 'Jwt is expired'],
    ['nbf in the future', () => sign({ ...good(), nbf: now() + 3_600 }), 401, 'Jwt not yet valid'],
    ['exp as a string', () => sign({ ...good(), exp: String(now() + 600) }), 401, 'Jwt payload [exp] field is not an integer'],
    ['another issuer', () => sign({ ...good(), iss: 'https://evil.example' }), 401, 'Jwt issuer is not configured'],
    ['another audience', () => sign({ ...good(), aud: 'someone-else' }), 403, 'Audiences in Jwt are not allowed'],
    ['header not base64url', async () => `eyJ@!bGc.${(await sign(good())).split('.').slice(1).join('.')}`, 401, 'Jwt header is an invalid Base64url encoded'],
    ['header not JSON', async () => `${b64('{"alg":"RS256"')}.${(await sign(good())).split('.').slice(1).join('.')}`, 401, 'Jwt header is an invalid JSON'],
    ['payload not base64url', async () => { const [h, , s] = (await sign(good())).split('.'); return `${h}.@@@.${s}`; }, 401, 'Jwt payload is an invalid Base64url encoded'],
    ['signature not base64url', async () => { const [h, p] = (await sign(good())).split('.'); return `${h}.${p}.***`; }, 401, 'Jwt signature is an invalid Base64url encoded'],
    ['truncated to two segments', async () => (await sign(good())).split('.').slice(0, 2).join('.'), 401, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
    ['truncated signature', async () => (await sign(good())).slice(0, -10), 401, 'Jwt verification fails'],
    ['an extra segment', async () => `${await sign(good())}.${b64('more')}`, 401, 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections'],
    ['huge (40 KB of claims), signed by another key', () => sign({ ...good(), pad: 'p'.repeat(40_000) }, { signer: otherKey }), 401, 'Jwt verification fails'],
  ];

  for (const [name, make, status, body] of forms) {
    it(`${name} → ${status} "${body}"`, async () => {
      const r = await call(await make());
      expect(r).toMatchObject({ status, body, reachedApp: false });
      expect(r.head).toMatch(/\r\nwww-authenticate: Bearer realm="http:\/\/shop\.example\.com\/orders", error="invalid_token"/);
    });
  }
});
