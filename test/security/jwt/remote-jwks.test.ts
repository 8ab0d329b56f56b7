/** jwksUri against a real HTTP server on 127.0.0.1: caching, refresh, rotation, failing closed. */
import { afterEach, describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { JwksCache, type JwksEvent, type JwtAuthResult } from '../../../src/security/jwt/index.js';
import { authenticatorFor, bearer, JWKS, mint, NOW_MS, rule, startServer, TOKENS, type TestServer } from './helpers.js';

const rotated = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ROTATED_JWKS = JSON.stringify({ keys: [{ ...rotated.publicKey.export({ format: 'jwk' }), kid: 'rotated', use: 'sig' }] });
const BOTH_JWKS = JSON.stringify({ keys: [...JSON.parse(JWKS).keys, ...JSON.parse(ROTATED_JWKS).keys] });
const MIN = 60_000;

let servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

/** A JWKS server whose answer the test can change. */
async function jwksServer(initial: string) {
  const state = { body: initial, status: 200, delayMs: 0 };
  const s = await startServer((_req, res) => {
    setTimeout(() => {
      res.writeHead(state.status, { 'content-type': 'application/json' });
      res.end(state.body);
    }, state.delayMs);
  });
  servers.push(s);
  return { ...s, state, jwksUri: `${s.url}/jwks.json` };
}

function setup(jwksUri: string, over: Parameters<typeof rule>[0] = {}, opts: { verifiedTokenCacheSize?: number; onEvent?: (e: JwksEvent) => void } = {}) {
  const clock = { now: NOW_MS };
  const now = () => clock.now;
  const auth = authenticatorFor([rule({ jwks: undefined, jwksUri, ...over })], {
    now,
    jwksCache: new JwksCache({ now, onEvent: opts.onEvent }),
    verifiedTokenCacheSize: opts.verifiedTokenCacheSize ?? 0,
  });
  return { auth, clock, source: auth.remoteSources[0] };
}

const status = (r: JwtAuthResult) => (r.status === 'invalid' ? r.reason : r.status);

describe('remote JWKS (jwksUri)', () => {
  it('fetches once and caches: sequential and concurrent requests share it', async () => {
    const srv = await jwksServer(JWKS);
    const { auth } = setup(srv.jwksUri);
    const first = await Promise.all(Array.from({ length: 10 }, () => auth.authenticate(bearer(TOKENS.TokenIssuer1))));
    expect(first.every((r) => r.status === 'valid')).toBe(true);
    for (let i = 0; i < 20; i++) expect((await auth.authenticate(bearer(TOKENS.TokenIssuer1))).status).toBe('valid');
    expect(srv.requests).toEqual(['/jwks.json']);
  });

  it('does not fetch for a request without a token, nor for a token that fails before the key lookup', async () => {
    const srv = await jwksServer(JWKS);
    const { auth } = setup(srv.jwksUri);
    expect((await auth.authenticate({ headers: {} })).status).toBe('none');
    expect(status(await auth.authenticate(bearer(TOKENS.TokenExpired)))).toBe('Jwt is expired');
    expect(srv.requests).toEqual([]);
    await auth.start(); // prefetch, as Envoy's async_fetch / istiod at push time
    expect(srv.requests).toEqual(['/jwks.json']);
  });

  it('shares a key set between rules and authenticators through a JwksCache', async () => {
    const srv = await jwksServer(JWKS);
    const cache = new JwksCache();
    const a = authenticatorFor([rule({ jwks: undefined, jwksUri: srv.jwksUri }), rule({ jwks: undefined, jwksUri: srv.jwksUri, issuer: 'test-issuer-2@istio.io' })], { jwksCache: cache });
    const b = authenticatorFor([rule({ jwks: undefined, jwksUri: srv.jwksUri })], { jwksCache: cache });
    expect((await a.authenticate(bearer(TOKENS.TokenIssuer1))).status).toBe('valid');
    expect((await a.authenticate(bearer(TOKENS.TokenIssuer2))).status).toBe('valid');
    expect((await b.authenticate(bearer(TOKENS.TokenIssuer1))).status).toBe('valid');
    expect(srv.requests).toHaveLength(1);
  });

  it('refreshes every 20 minutes in the background, serving the current keys meanwhile', async () => {
    const srv = await jwksServer(JWKS);
    const { auth, clock, source } = setup(srv.jwksUri);
    expect((await auth.authenticate(bearer(TOKENS.TokenIssuer1))).status).toBe('valid');
    clock.now += 19 * MIN;
    await auth.authenticate(bearer(TOKENS.TokenIssuer1));
    expect(srv.requests).toHaveLength(1);
    srv.state.body = ROTATED_JWKS; // the issuer rotated: the old key is gone
    clock.now += 1 * MIN;
    expect((await auth.authenticate(bearer(TOKENS.TokenIssuer1))).status).toBe('valid'); // stale-while-revalidate
    await source.idle(); // the background refresh the request started
    expect(srv.requests).toHaveLength(2);
    expect(status(await auth.authenticate(bearer(await mint({}, { kid: 'rotated', key: rotated.privateKey }))))).toBe('valid');
    expect(status(await auth.authenticate(bearer(TOKENS.TokenIssuer1)))).toBe("Jwks doesn't have key to match kid or alg from Jwt");
  });

  it('refetches on an unknown kid (key rotation), at most once per 30s', async () => {
    const srv = await jwksServer(JWKS);
    const { auth, clock } = setup(srv.jwksUri);
    expect((await auth.authenticate(bearer(TOKENS.TokenIssuer1))).status).toBe('valid');
    srv.state.body = BOTH_JWKS;
    const newToken = await mint({}, { kid: 'rotated', key: rotated.privateKey });
    expect((await auth.authenticate(bearer(newToken))).status).toBe('valid');
    expect(srv.requests).toHaveLength(2);
    // a token with a kid nobody has: one refetch was just done, so no new one for 30s
    const bogus = await mint({}, { kid: 'bogus', key: rotated.privateKey });
    expect(status(await auth.authenticate(bearer(bogus)))).toBe("Jwks doesn't have key to match kid or alg from Jwt");
    expect(status(await auth.authenticate(bearer(bogus)))).toBe("Jwks doesn't have key to match kid or alg from Jwt");
    expect(srv.requests).toHaveLength(2);
    clock.now += 30_000;
    expect(status(await auth.authenticate(bearer(bogus)))).toBe("Jwks doesn't have key to match kid or alg from Jwt");
    expect(srv.requests).toHaveLength(3);
    // the known keys still work
    expect((await auth.authenticate(bearer(TOKENS.TokenIssuer1))).status).toBe('valid');
  });

  it('fails closed when the server is down, without fetching per request', async () => {
    const srv = await jwksServer(JWKS);
    await srv.close();
    servers = [];
    const events: JwksEvent[] = [];
    const { auth, clock, source } = setup(srv.jwksUri, {}, { onEvent: (e) => events.push(e) });
    for (let i = 0; i < 5; i++) {
      const r = await auth.authenticate(bearer(TOKENS.TokenIssuer1));
      expect(r).toMatchObject({ status: 'invalid', reason: 'Jwks remote fetch is failed', httpStatus: 401 });
    }
    expect(source.fetches).toBe(1); // then it waits 1s, 2s, 4s ... (up to 60s) before trying again
    expect(events[0]).toMatchObject({ type: 'fetch-failed', uri: srv.jwksUri, keptPrevious: false });
    expect((await auth.authenticate({ headers: {} })).status).toBe('none'); // no token: still passes
    clock.now += 999;
    void (await auth.authenticate(bearer(TOKENS.TokenIssuer1)));
    expect(source.fetches).toBe(1);
    clock.now += 1;
    expect(status(await auth.authenticate(bearer(TOKENS.TokenIssuer1)))).toBe('Jwks remote fetch is failed');
    expect(source.fetches).toBe(2);
  });

  it('recovers after the retry delay', async () => {
    const srv = await jwksServer('{"keys": []}');
    const { auth, clock, source } = setup(srv.jwksUri);
    expect(status(await auth.authenticate(bearer(TOKENS.TokenIssuer1)))).toBe('Jwks remote fetch is failed');
    expect(source.lastError).toContain("Jwks doesn't have any valid public key");
    srv.state.body = JWKS;
    clock.now += 500;
    expect(status(await auth.authenticate(bearer(TOKENS.TokenIssuer1)))).toBe('Jwks remote fetch is failed');
    clock.now += 500;
    expect(status(await auth.authenticate(bearer(TOKENS.TokenIssuer1)))).toBe('valid');
    expect(srv.requests).toHaveLength(2);
  });

  it('fails closed within the rule timeout when the server is slow', async () => {
    const srv = await jwksServer(JWKS);
    srv.state.delayMs = 3000;
    const { auth, source } = setup(srv.jwksUri, { timeoutMs: 200 });
    const t0 = performance.now();
    expect(status(await auth.authenticate(bearer(TOKENS.TokenIssuer1)))).toBe('Jwks remote fetch is failed');
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(elapsed).toBeLessThan(1500);
    expect(source.lastError).toBe('timed out after 200ms');
  });

  it.each([
    ['an error status', 500, JWKS],
    ['invalid JSON', 200, '<html>'],
    ['a set without keys', 200, '{"foo": 1}'],
  ])('fails closed on %s', async (_what, code, body) => {
    const srv = await jwksServer(body);
    srv.state.status = code;
    const { auth } = setup(srv.jwksUri);
    expect(await auth.authenticate(bearer(TOKENS.TokenIssuer1))).toMatchObject({ status: 'invalid', reason: 'Jwks remote fetch is failed', httpStatus: 401 });
  });

  it('refuses a JWKS document above the size limit, even without content-length', async () => {
    const srv = await startServer((_req, res) => {
      res.write(' '.repeat(3000)); // chunked: no content-length
      res.end(JWKS);
    });
    servers.push(srv);
    const cache = new JwksCache({ maxBytes: 2048 });
    const auth = authenticatorFor([rule({ jwks: undefined, jwksUri: `${srv.url}/jwks.json` })], { jwksCache: cache });
    expect(status(await auth.authenticate(bearer(TOKENS.TokenIssuer1)))).toBe('Jwks remote fetch is failed');
    expect(auth.remoteSources[0].lastError).toContain('larger than 2048 bytes');
    const roomy = authenticatorFor([rule({ jwks: undefined, jwksUri: `${srv.url}/jwks.json` })]);
    expect(status(await roomy.authenticate(bearer(TOKENS.TokenIssuer1)))).toBe('valid');
  });

  it('keeps the last good keys when a refresh fails, and drops them after 7 days without a successful refresh', async () => {
    const srv = await jwksServer(JWKS);
    const events: JwksEvent[] = [];
    const { auth, clock, source } = setup(srv.jwksUri, {}, { onEvent: (e) => events.push(e) });
    expect((await auth.authenticate(bearer(TOKENS.TokenIssuer1))).status).toBe('valid');
    srv.state.status = 503;
    clock.now += 20 * MIN;
    expect((await auth.authenticate(bearer(TOKENS.TokenIssuer1))).status).toBe('valid');
    await source.idle(); // the background refresh the request started
    expect(events.at(-1)).toMatchObject({ type: 'fetch-failed', keptPrevious: true });
    clock.now += 30_000; // retry after 1 minute (then 2, 4 ... up to 60)
    await auth.authenticate(bearer(TOKENS.TokenIssuer1));
    expect(srv.requests).toHaveLength(2);
    clock.now += 30_000;
    expect((await auth.authenticate(bearer(TOKENS.TokenIssuer1))).status).toBe('valid');
    await source.idle(); // the background refresh the request started
    expect(srv.requests).toHaveLength(3);
    clock.now += 7 * 24 * 60 * MIN;
    expect(status(await auth.authenticate(bearer(TOKENS.TokenIssuer1)))).toBe('Jwks remote fetch is failed');
  });

  it('discovers the key set through OpenID discovery when the rule has neither jwks nor jwksUri', async () => {
    let base = '';
    const srv = await startServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(req.url === '/.well-known/openid-configuration' ? JSON.stringify({ issuer: base, jwks_uri: `${base}/keys` }) : JWKS);
    });
    servers.push(srv);
    base = srv.url;
    const auth = authenticatorFor([rule({ jwks: undefined, issuer: `${base}/` })], { now: () => NOW_MS });
    const token = await mint({ iss: `${base}/` });
    expect((await auth.authenticate(bearer(token))).status).toBe('valid');
    expect(srv.requests).toEqual(['/.well-known/openid-configuration', '/keys']);
  });

  it('verified-token cache entries die with the key set they were checked against', async () => {
    const srv = await jwksServer(JWKS);
    const { auth, clock, source } = setup(srv.jwksUri, {}, { verifiedTokenCacheSize: 10 });
    expect((await auth.authenticate(bearer(TOKENS.TokenIssuer1))).status).toBe('valid');
    expect((await auth.authenticate(bearer(TOKENS.TokenIssuer1))).status).toBe('valid');
    expect(auth.cacheStats?.hits).toBe(1);
    srv.state.body = ROTATED_JWKS;
    clock.now += 20 * MIN;
    await auth.authenticate(bearer(TOKENS.TokenIssuer1)); // starts the refresh
    await source.idle(); // the background refresh the request started
    expect(status(await auth.authenticate(bearer(TOKENS.TokenIssuer1)))).toBe("Jwks doesn't have key to match kid or alg from Jwt");
  });

  it('refuses an issuer claim that differs even when the key verifies', async () => {
    const srv = await jwksServer(JWKS);
    const { auth } = setup(srv.jwksUri);
    expect(status(await auth.authenticate(bearer(await mint({ iss: 'someone-else' }))))).toBe('Jwt issuer is not configured');
    expect(srv.requests).toEqual([]); // refused before any key lookup
  });
});
