import { describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { base64url } from 'jose';
import { JwtStatus, removeQueryParam, wwwAuthenticate, type JwtAuthResult } from '../../../src/security/jwt/index.js';
import { authenticatorFor, bearer, ISSUER1, ISSUER2, JWKS, KID, mint, NOW_MS, NOW_S, PUBLIC_PEM, rule, TOKENS, unsigned } from './helpers.js';

const at = (nowMs = NOW_MS) => ({ now: () => nowMs });

function expectInvalid(r: JwtAuthResult, reason: string, httpStatus = 401) {
  expect(r.status).toBe('invalid');
  if (r.status !== 'invalid') return;
  expect(r.reason).toBe(reason);
  expect(r.httpStatus).toBe(httpStatus);
}

function valid(r: JwtAuthResult) {
  if (r.status !== 'valid') expect.fail(`expected a valid token, got ${JSON.stringify(r).slice(0, 300)}`);
  return r;
}

describe("Istio's test tokens (tests/common/jwt)", () => {
  const auth = authenticatorFor([rule()]);

  it('accepts a token of the configured issuer: principal iss/sub, claims, audiences, presenter', async () => {
    const r = valid(await auth.authenticate(bearer(TOKENS.TokenIssuer1)));
    expect(r.principal).toBe('test-issuer-1@istio.io/sub-1');
    expect(r.claims.groups).toEqual(['group-1']);
    expect(r.audiences).toEqual([]);
    expect(r.issuer).toBe(ISSUER1);
    expect(r.provider).toBe('origins-0');
    expect(r.location).toEqual({ kind: 'header', name: 'authorization', prefix: 'Bearer ' });
    expect(valid(await auth.authenticate(bearer(TOKENS.TokenIssuer1WithAzp))).presenter).toBe('bar');
    expect(valid(await auth.authenticate(bearer(TOKENS.TokenIssuer1WithAud))).audiences).toEqual(['foo']);
    expect(valid(await auth.authenticate(bearer(TOKENS.TokenIssuer1WithAudList))).audiences).toEqual(['foo', 'buzz']);
  });

  it('rejects an expired token and one of another issuer', async () => {
    expectInvalid(await auth.authenticate(bearer(TOKENS.TokenExpired)), 'Jwt is expired');
    expectInvalid(await auth.authenticate(bearer(TOKENS.TokenIssuer2)), 'Jwt issuer is not configured');
  });

  it('passes a request without a token, or with one where no rule looks', async () => {
    expect(await auth.authenticate({ headers: {} })).toEqual({ status: 'none', headerMutations: [] });
    expect((await auth.authenticate({ headers: { 'x-token': [TOKENS.TokenExpired] } })).status).toBe('none');
    expect((await auth.authenticate({ headers: {}, path: `/?token=${TOKENS.TokenExpired}` })).status).toBe('none');
  });

  it('combines rules of several issuers sharing the default location', async () => {
    const two = authenticatorFor([rule({ issuer: ISSUER2 }), rule(), rule({ issuer: 'barcelona@champions.eu' })]);
    expect(valid(await two.authenticate(bearer(TOKENS.TokenIssuer1))).principal).toBe('test-issuer-1@istio.io/sub-1');
    expect(valid(await two.authenticate(bearer(TOKENS.TokenIssuer2))).principal).toBe('test-issuer-2@istio.io/sub-2');
    expectInvalid(await two.authenticate(bearer(TOKENS.TokenIssuer3)), 'Jwt issuer is not configured');
  });

  it('checks audiences: any match, scheme and trailing slash ignored; 403 otherwise', async () => {
    const aud = (audiences: string[]) => authenticatorFor([rule({ audiences })]);
    expect((await aud(['foo']).authenticate(bearer(TOKENS.TokenIssuer1WithAud))).status).toBe('valid');
    expect((await aud(['https://foo/']).authenticate(bearer(TOKENS.TokenIssuer1WithAud))).status).toBe('valid');
    expect((await aud(['nope', 'buzz']).authenticate(bearer(TOKENS.TokenIssuer1WithAudList))).status).toBe('valid');
    expectInvalid(await aud(['bar']).authenticate(bearer(TOKENS.TokenIssuer1WithAud)), 'Audiences in Jwt are not allowed', 403);
    expectInvalid(await aud(['bar']).authenticate(bearer(TOKENS.TokenIssuer1)), 'Audiences in Jwt are not allowed', 403);
  });
});

describe('minted tokens (jose)', () => {
  const auth = authenticatorFor([rule()], at());

  it('applies 60s of clock skew to exp and nbf, as Envoy', async () => {
    expect((await auth.authenticate(bearer(await mint({ exp: NOW_S - 60 })))).status).toBe('valid');
    expectInvalid(await auth.authenticate(bearer(await mint({ exp: NOW_S - 61 }))), 'Jwt is expired');
    expect((await auth.authenticate(bearer(await mint({ nbf: NOW_S + 60 })))).status).toBe('valid');
    expectInvalid(await auth.authenticate(bearer(await mint({ nbf: NOW_S + 61 }))), 'Jwt not yet valid');
    const strict = authenticatorFor([rule()], { ...at(), clockSkewSeconds: 1 });
    expectInvalid(await strict.authenticate(bearer(await mint({ exp: NOW_S - 2 }))), 'Jwt is expired');
  });

  it('refuses alg none', async () => {
    expectInvalid(await auth.authenticate(bearer(unsigned({ alg: 'none' }, { iss: ISSUER1, sub: 'x' }))), JwtStatus.JwtBadFormat);
    expectInvalid(await auth.authenticate(bearer(unsigned({ alg: 'none' }, { iss: ISSUER1, sub: 'x' }, 'AA'))), 'Jwt header [alg] is not supported');
    expectInvalid(await auth.authenticate(bearer(unsigned({ alg: 'NONE', kid: KID }, { iss: ISSUER1 }, 'AA'))), 'Jwt header [alg] is not supported');
    expectInvalid(await auth.authenticate(bearer(unsigned({ typ: 'JWT' }, { iss: ISSUER1 }, 'AA'))), 'Jwt header [alg] field is required and must be a string');
  });

  it('rejects a bad signature, a wrong issuer, an unknown kid', async () => {
    const good = await mint({ exp: NOW_S + 3600 });
    const [h, , s] = good.split('.');
    const forged = `${h}.${base64url.encode(JSON.stringify({ iss: ISSUER1, sub: 'admin', exp: NOW_S + 3600 }))}.${s}`;
    expectInvalid(await auth.authenticate(bearer(forged)), 'Jwt verification fails');
    const flipped = `${h}.${good.split('.')[1]}.${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`;
    expectInvalid(await auth.authenticate(bearer(flipped)), 'Jwt verification fails');
    expectInvalid(await auth.authenticate(bearer(await mint({ iss: 'evil@example.com' }))), 'Jwt issuer is not configured');
    expectInvalid(await auth.authenticate(bearer(await mint({}, { kid: 'no-such-kid' }))), "Jwks doesn't have key to match kid or alg from Jwt");
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    expectInvalid(await auth.authenticate(bearer(await mint({}, { key: other }))), 'Jwt verification fails');
  });

  it('tries every key for a token without kid, and allows RS*/PS* with an RSA key that names no alg', async () => {
    expect((await auth.authenticate(bearer(await mint({}, { kid: null })))).status).toBe('valid');
    expect((await auth.authenticate(bearer(await mint({}, { alg: 'PS256' })))).status).toBe('valid');
    expect((await auth.authenticate(bearer(await mint({}, { alg: 'RS512' })))).status).toBe('valid');
    const pinned = authenticatorFor([rule({ jwks: JSON.stringify({ keys: [{ ...JSON.parse(JWKS).keys[0], alg: 'RS256' }] }) })], at());
    expectInvalid(await pinned.authenticate(bearer(await mint({}, { alg: 'PS256' }))), "Jwks doesn't have key to match kid or alg from Jwt");
  });

  it('is not fooled by HS256 signed with the RSA public key as the secret (alg confusion)', async () => {
    const jwk = JSON.parse(JWKS).keys[0] as { n: string };
    for (const secret of [new TextEncoder().encode(PUBLIC_PEM), base64url.decode(jwk.n), new TextEncoder().encode(JWKS)]) {
      expectInvalid(await auth.authenticate(bearer(await mint({}, { alg: 'HS256', key: secret }))), 'Jwt verification fails');
      expectInvalid(await auth.authenticate(bearer(await mint({}, { alg: 'HS256', key: secret, kid: null }))), 'Jwt verification fails');
    }
  });

  it('verifies HMAC only with an explicit oct key, and EdDSA / ES256 with their key types', async () => {
    const secret = new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes!!');
    const oct = authenticatorFor([rule({ jwks: JSON.stringify({ keys: [{ kty: 'oct', kid: 'h', k: base64url.encode(secret) }] }) })], at());
    expect((await oct.authenticate(bearer(await mint({}, { alg: 'HS256', key: secret, kid: 'h' })))).status).toBe('valid');
    expectInvalid(await oct.authenticate(bearer(await mint({}, { kid: 'h' }))), 'Jwt verification fails'); // RS256 vs oct key

    const ed = generateKeyPairSync('ed25519');
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const keys = { keys: [{ ...ed.publicKey.export({ format: 'jwk' }), kid: 'ed' }, { ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec' }] };
    const mixed = authenticatorFor([rule({ jwks: JSON.stringify(keys) })], at());
    expect((await mixed.authenticate(bearer(await mint({}, { alg: 'EdDSA', key: ed.privateKey, kid: 'ed' })))).status).toBe('valid');
    expect((await mixed.authenticate(bearer(await mint({}, { alg: 'ES256', key: ec.privateKey, kid: 'ec' })))).status).toBe('valid');
    expectInvalid(await mixed.authenticate(bearer(await mint({}, { alg: 'ES256', key: ec.privateKey, kid: 'ed' }))), 'Jwt verification fails');
  });

  it("reports Envoy's parse errors", async () => {
    expectInvalid(await auth.authenticate(bearer('deadbeef')), JwtStatus.JwtBadFormat);
    expectInvalid(await auth.authenticate(bearer('a.b')), JwtStatus.JwtBadFormat);
    expectInvalid(await auth.authenticate(bearer('some.invalid.token')), 'Jwt header is an invalid JSON');
    expectInvalid(await auth.authenticate(bearer('e30.e30.!!')), 'Jwt header [alg] field is required and must be a string');
    expectInvalid(await auth.authenticate(bearer(unsigned({ alg: 'RS256' }, { iss: ISSUER1, exp: 'soon' }, 'AA'))), 'Jwt payload [exp] field is not an integer');
    expectInvalid(await auth.authenticate(bearer(unsigned({ alg: 'RS256' }, { iss: 7 }, 'AA'))), 'Jwt payload [iss] field is not a string');
    expectInvalid(await auth.authenticate(bearer(unsigned({ alg: 'RS256' }, { iss: ISSUER1, aud: [1] }, 'AA'))), 'Jwt payload [aud] field is not a string or string list');
    expectInvalid(await auth.authenticate(bearer(unsigned({ alg: 'RS256' }, { iss: ISSUER1 }, '*'))), 'Jwt signature is an invalid Base64url encoded');
    expectInvalid(await auth.authenticate(bearer(`${base64url.encode('{"alg":"RS256"}')}.${base64url.encode('[1]')}.AA`)), 'Jwt payload is an invalid JSON');
  });

  it('checks issuer, time and audience before the signature, as Envoy', async () => {
    const expiredForged = unsigned({ alg: 'RS256', kid: KID }, { iss: ISSUER1, exp: NOW_S - 3600 }, 'AAAA');
    expectInvalid(await auth.authenticate(bearer(expiredForged)), 'Jwt is expired');
    const withAud = authenticatorFor([rule({ audiences: ['svc'] })], at());
    expectInvalid(await withAud.authenticate(bearer(unsigned({ alg: 'RS256', kid: KID }, { iss: ISSUER1, aud: 'x' }, 'AAAA'))), 'Audiences in Jwt are not allowed', 403);
  });
});

describe('token locations', () => {
  it('reads Authorization: Bearer and ?access_token by default; the prefix is case-sensitive', async () => {
    const auth = authenticatorFor([rule()]);
    const t = TOKENS.TokenIssuer1;
    expect((await auth.authenticate({ headers: {}, path: `/x?a=1&access_token=${t}` })).status).toBe('valid');
    expect((await auth.authenticate({ headers: { ':path': `/x?access_token=${t}` } })).status).toBe('valid');
    expect((await auth.authenticate({ headers: {}, query: new URLSearchParams({ access_token: t }) })).status).toBe('valid');
    expect((await auth.authenticate({ headers: {}, query: { access_token: [t, TOKENS.TokenExpired] } })).status).toBe('valid'); // first value
    expect((await auth.authenticate({ headers: new Map([['authorization', [`Bearer ${t}`]]]) })).status).toBe('valid');
    expect((await auth.authenticate({ headers: { authorization: `bearer ${t}` } })).status).toBe('none');
    expect((await auth.authenticate({ headers: { authorization: `Basic abc` } })).status).toBe('none');
  });

  // Istio's integration test requestauthn/headers-params: fromHeaders x-jwt-token "Bearer ", auth-token "Token ",
  // fromParams token, secondary_token
  const hp = authenticatorFor([
    rule({ fromHeaders: [{ name: 'x-jwt-token', prefix: 'Bearer ' }, { name: 'auth-token', prefix: 'Token ' }], fromParams: ['token', 'secondary_token'] }),
  ]);
  const t1 = TOKENS.TokenIssuer1;
  const cases: [string, Parameters<typeof hp.authenticate>[0], JwtAuthResult['status']][] = [
    ['valid-params', { headers: {}, path: `/valid-token?token=${t1}` }, 'valid'],
    ['valid-params-secondary', { headers: {}, path: `/valid-token?secondary_token=${t1}` }, 'valid'],
    ['invalid-params (not a location)', { headers: {}, path: `/valid-token?token_value=${t1}` }, 'none'],
    ['valid-token-set', { headers: {}, path: `/valid-token?token=${t1}&secondary_token=${t1}` }, 'valid'],
    ['invalid-token-set', { headers: {}, path: `/valid-token?token=${t1}&secondary_token=${TOKENS.TokenExpired}` }, 'invalid'],
    ['valid-header', { headers: { 'x-jwt-token': `Bearer ${t1}` } }, 'valid'],
    ['valid-header-secondary', { headers: { 'auth-token': `Token ${t1}` } }, 'valid'],
    ['invalid-header (not a location)', { headers: { 'auth-header-param': `Bearer ${t1}` } }, 'none'],
    ['default locations are off once some are configured', { headers: { authorization: `Bearer ${TOKENS.TokenExpired}` } }, 'none'],
  ];
  it.each(cases)('%s', async (_name, req, status) => {
    expect((await hp.authenticate(req)).status).toBe(status);
  });

  it('finds the prefix anywhere in the value and takes the token from the next base64url character to the end', async () => {
    const auth = authenticatorFor([rule({ fromHeaders: [{ name: 'x-jwt', prefix: 'Bearer ' }] })]);
    expect((await auth.authenticate({ headers: { 'x-jwt': `junk Bearer   ${TOKENS.TokenIssuer1}` } })).status).toBe('valid');
    const bare = authenticatorFor([rule({ fromHeaders: [{ name: 'x-jwt', prefix: '' }] })]);
    expect((await bare.authenticate({ headers: { 'x-jwt': TOKENS.TokenIssuer1 } })).status).toBe('valid');
    expect((await bare.authenticate({ headers: { 'x-jwt': `Bearer ${TOKENS.TokenIssuer1}` } })).status).toBe('invalid');
  });

  it('reads cookies', async () => {
    const auth = authenticatorFor([rule({ fromCookies: ['session'] })]);
    expect((await auth.authenticate({ headers: { cookie: [`a=b; session=${TOKENS.TokenIssuer1}; c=d`] } })).status).toBe('valid');
    expect((await auth.authenticate({ headers: { cookie: `session="${TOKENS.TokenIssuer1}"` } })).status).toBe('valid');
    expect((await auth.authenticate({ headers: {}, cookies: { session: TOKENS.TokenIssuer1 } })).status).toBe('valid');
    expect((await auth.authenticate({ headers: { cookie: 'other=1' } })).status).toBe('none');
  });

  it('requires every token present to be valid (repeated headers, header + param)', async () => {
    const auth = authenticatorFor([rule()]);
    expectInvalid(await auth.authenticate({ headers: { authorization: [`Bearer ${TOKENS.TokenIssuer1}`, `Bearer ${TOKENS.TokenExpired}`] } }), 'Jwt is expired');
    expectInvalid(await auth.authenticate({ headers: { authorization: `Bearer ${TOKENS.TokenIssuer1}` }, path: `/?access_token=${TOKENS.TokenExpired}` }), 'Jwt is expired');
    const r = valid(await auth.authenticate({ headers: { authorization: `Bearer ${TOKENS.TokenIssuer1WithAzp}` }, path: `/?access_token=${TOKENS.TokenIssuer1}` }));
    expect(r.tokens.map((t) => t.location.kind)).toEqual(['header', 'param']);
    expect(r.presenter).toBe('bar'); // the principal is the first token's (Envoy's extraction order: headers first)
  });

  it('a token must be in a location of a rule with its issuer', async () => {
    const auth = authenticatorFor([rule({ fromHeaders: [{ name: 'x-one', prefix: '' }] }), rule({ issuer: ISSUER2, fromHeaders: [{ name: 'x-two', prefix: '' }] })]);
    expect((await auth.authenticate({ headers: { 'x-one': TOKENS.TokenIssuer1, 'x-two': TOKENS.TokenIssuer2 } })).status).toBe('valid');
    expectInvalid(await auth.authenticate({ headers: { 'x-one': TOKENS.TokenIssuer2 } }), 'Jwt issuer is not configured');
  });

  it('accepts a token that any rule with its issuer accepts (duplicate issuers)', async () => {
    const other = JSON.stringify({ keys: [{ ...JSON.parse(JWKS).keys[0], kid: 'other', n: 'AQAB' + JSON.parse(JWKS).keys[0].n.slice(4) }] });
    const auth = authenticatorFor([rule({ jwks: other }), rule()]);
    expect((await auth.authenticate(bearer(TOKENS.TokenIssuer1))).status).toBe('valid');
  });

  it('an issuer-less rule (jwksUri only) accepts any iss', async () => {
    const auth = authenticatorFor([rule({ issuer: '' })]);
    expect(valid(await auth.authenticate(bearer(TOKENS.TokenIssuer2))).principal).toBe('test-issuer-2@istio.io/sub-2');
  });

  it('does not verify CORS preflights (Istio sets bypass_cors_preflight)', async () => {
    const auth = authenticatorFor([rule()]);
    const headers = { authorization: `Bearer ${TOKENS.TokenExpired}`, origin: 'https://istio.io', 'access-control-request-method': 'POST' };
    expect(await auth.authenticate({ headers, method: 'OPTIONS' })).toMatchObject({ status: 'none', corsPreflight: true });
    expect((await auth.authenticate({ headers: { ...headers, ':method': 'OPTIONS' } })).status).toBe('none');
    const { origin: _o, ...noOrigin } = headers;
    expect((await auth.authenticate({ headers: noOrigin, method: 'OPTIONS' })).status).toBe('invalid');
    expect((await auth.authenticate({ headers, method: 'GET' })).status).toBe('invalid');
  });
});

describe('presence: REQUIRED (Istio requestauthn/required-mixed-jwt)', () => {
  const auth = authenticatorFor([
    rule({ presence: 'REQUIRED', fromHeaders: [{ name: 'authorization', prefix: 'Bearer ' }] }),
    rule({ issuer: ISSUER2, fromHeaders: [{ name: 'x-scope-token', prefix: '' }] }),
  ]);

  it('rejects a request without the required token: 401 "Jwt is missing"', async () => {
    expectInvalid(await auth.authenticate({ headers: {} }), 'Jwt is missing');
    expectInvalid(await auth.authenticate({ headers: { 'x-scope-token': TOKENS.TokenIssuer2 } }), 'Jwt is missing');
  });

  it('accepts the required token with or without the optional one; an invalid optional one fails', async () => {
    expect((await auth.authenticate(bearer(TOKENS.TokenIssuer1))).status).toBe('valid');
    const both = valid(await auth.authenticate({ headers: { authorization: `Bearer ${TOKENS.TokenIssuer1}`, 'x-scope-token': TOKENS.TokenIssuer2 } }));
    expect(both.tokens.map((t) => t.issuer)).toEqual([ISSUER1, ISSUER2]);
    expectInvalid(await auth.authenticate({ headers: { authorization: `Bearer ${TOKENS.TokenIssuer1}`, 'x-scope-token': TOKENS.TokenExpired } }), 'Jwt issuer is not configured');
  });

  it('every token in a required rule location must be that rule’s', async () => {
    const shared = authenticatorFor([rule({ presence: 'REQUIRED' }), rule({ issuer: ISSUER2 })]);
    expect((await shared.authenticate(bearer(TOKENS.TokenIssuer1))).status).toBe('valid');
    expectInvalid(await shared.authenticate(bearer(TOKENS.TokenIssuer2)), 'Jwt issuer is not configured');
  });
});

describe('header mutations', () => {
  // Istio's integration test requestauthn/authn-only: outputPayloadToHeader x-test-payload and claims iss, iat, nested.nested-2.key2
  const authnOnly = rule({
    outputPayloadToHeader: 'x-test-payload',
    outputClaimToHeaders: [
      { header: 'x-jwt-iss', claim: 'iss' },
      { header: 'x-jwt-iat', claim: 'iat' },
      { header: 'x-jwt-nested-claim', claim: 'nested.nested-2.key2' },
    ],
  });
  const sanitize = [
    { op: 'remove', name: 'x-test-payload' },
    { op: 'remove', name: 'x-jwt-iss' },
    { op: 'remove', name: 'x-jwt-iat' },
    { op: 'remove', name: 'x-jwt-nested-claim' },
  ];

  it('removes output headers, adds payload and claims, removes the token header (forwardOriginalToken false)', async () => {
    const auth = authenticatorFor([authnOnly]);
    const r = valid(await auth.authenticate(bearer(TOKENS.TokenIssuer1)));
    expect(r.headerMutations).toEqual([
      ...sanitize,
      { op: 'add', name: 'x-test-payload', value: TOKENS.TokenIssuer1.split('.')[1] },
      { op: 'add', name: 'x-jwt-iss', value: 'test-issuer-1@istio.io' },
      { op: 'add', name: 'x-jwt-iat', value: '1562182722' },
      { op: 'remove', name: 'authorization' },
    ]);
    const nested = valid(await auth.authenticate(bearer(TOKENS.TokenIssuer1WithNestedClaims2)));
    expect(nested.headerMutations).toContainEqual({ op: 'add', name: 'x-jwt-nested-claim', value: 'valueC' });
    expect(nested.headerMutations).toContainEqual({ op: 'add', name: 'x-jwt-iat', value: '1604008018' });
  });

  it('still strips client-sent output headers when there is no token', async () => {
    const auth = authenticatorFor([authnOnly]);
    expect(await auth.authenticate({ headers: { 'x-jwt-iss': 'forged' } })).toEqual({ status: 'none', headerMutations: sanitize });
  });

  it('keeps the token with forwardOriginalToken; removes a query-parameter token', async () => {
    const fwd = authenticatorFor([rule({ forwardOriginalToken: true, outputPayloadToHeader: 'x-test-payload' })]);
    expect(valid(await fwd.authenticate(bearer(TOKENS.TokenIssuer1))).headerMutations).toEqual([
      { op: 'remove', name: 'x-test-payload' },
      { op: 'add', name: 'x-test-payload', value: TOKENS.TokenIssuer1.split('.')[1] },
    ]);
    const param = authenticatorFor([rule()]);
    const path = `/a?x=1&access_token=${TOKENS.TokenIssuer1}&y=2`;
    const r = valid(await param.authenticate({ headers: {}, path }));
    expect(r.headerMutations).toEqual([{ op: 'removeQueryParam', name: 'access_token' }]);
    expect(removeQueryParam(path, 'access_token')).toBe('/a?x=1&y=2');
    expect(removeQueryParam(`/a?access_token=${TOKENS.TokenIssuer1}`, 'access_token')).toBe('/a');
    const cookie = authenticatorFor([rule({ fromCookies: ['s'] })]);
    expect(valid(await cookie.authenticate({ headers: { cookie: `s=${TOKENS.TokenIssuer1}` } })).headerMutations).toEqual([]);
  });

  it('removeQueryParam: every occurrence by decoded name; the rest byte for byte, in order', () => {
    const t = TOKENS.TokenIssuer1;
    // Envoy would rebuild b=&x... from decoded values; the other parameters are kept as sent
    expect(removeQueryParam(`/a?b=%26x&access_token=${t}&c=d%20e&&z`, 'access_token')).toBe('/a?b=%26x&c=d%20e&&z');
    expect(removeQueryParam(`/a?access%5Ftoken=${t}&k=1&access_token=${t}&access_token`, 'access_token')).toBe('/a?k=1');
    expect(removeQueryParam(`/a?access_token=${t}&`, 'access_token')).toBe('/a');
    expect(removeQueryParam('/a?access_tokens=1&x_access_token=2', 'access_token')).toBe('/a?access_tokens=1&x_access_token=2');
    expect(removeQueryParam('/a', 'access_token')).toBe('/a');
    expect(removeQueryParam('/a?', 'access_token')).toBe('/a?');
  });

  it("renders claims as Envoy's claim_to_headers", async () => {
    const claims = { str: 'v', empty: '', int: 42, neg: -3, float: 1.5, big: 1e19, huge: 1e20, yes: true, no: false, list: ['a', 'b'], obj: { k: 'v' }, nul: null };
    const auth = authenticatorFor([rule({ outputClaimToHeaders: Object.keys({ ...claims, missing: 0 }).map((c) => ({ header: `x-${c}`, claim: c })) })], at());
    const r = valid(await auth.authenticate(bearer(await mint(claims))));
    const adds = Object.fromEntries(r.headerMutations.filter((m) => m.op === 'add').map((m) => [m.name, (m as { value: string }).value]));
    expect(adds).toEqual({
      'x-str': 'v',
      'x-int': '42',
      'x-neg': '-3.000000',
      'x-float': '1.500000',
      'x-big': '10000000000000000000', // integral and below 2^64: printed as an integer
      'x-huge': '100000000000000000000.000000', // C's %f otherwise
      'x-yes': 'true',
      'x-no': 'false',
      'x-list': Buffer.from('["a","b"]').toString('base64'),
      'x-obj': Buffer.from('{"k":"v"}').toString('base64'),
    });
  });
});

describe('verified-token cache (LRU)', () => {
  it('skips the signature on a hit but re-checks expiry', async () => {
    let now = NOW_MS;
    const auth = authenticatorFor([rule()], { now: () => now, verifiedTokenCacheSize: 2 });
    const t = await mint({ exp: NOW_S + 10 });
    expect((await auth.authenticate(bearer(t))).status).toBe('valid');
    expect((await auth.authenticate(bearer(t))).status).toBe('valid');
    expect(auth.cacheStats).toMatchObject({ hits: 1, size: 1 });
    now += 71_000;
    expectInvalid(await auth.authenticate(bearer(t)), 'Jwt is expired');
    // capacity bound
    for (let i = 0; i < 3; i++) await auth.authenticate(bearer(await mint({ jti: String(i) })));
    expect(auth.cacheStats?.size).toBe(2);
  });

  it('holds 100 tokens by default; 0 turns it off (as Envoy under Istio)', async () => {
    const dflt = authenticatorFor([rule()]);
    await dflt.authenticate(bearer(TOKENS.TokenIssuer1));
    await dflt.authenticate(bearer(TOKENS.TokenIssuer1));
    expect(dflt.cacheStats).toEqual({ hits: 1, misses: 1, size: 1 });
    expect(authenticatorFor([rule()], { verifiedTokenCacheSize: 0 }).cacheStats).toBeUndefined();
  });

  it('does not let a cached token bypass the checks of another rule or location', async () => {
    const auth = authenticatorFor([rule({ fromHeaders: [{ name: 'x-a', prefix: '' }] }), rule({ fromHeaders: [{ name: 'x-b', prefix: '' }], audiences: ['other'] })]);
    expect((await auth.authenticate({ headers: { 'x-a': TOKENS.TokenIssuer1 } })).status).toBe('valid');
    expectInvalid(await auth.authenticate({ headers: { 'x-b': TOKENS.TokenIssuer1 } }), 'Audiences in Jwt are not allowed', 403);
    expect((await auth.authenticate({ headers: { 'x-c': TOKENS.TokenIssuer1 } })).status).toBe('none');
  });
});

describe('WWW-Authenticate', () => {
  it("is Envoy's Bearer realm, with error=invalid_token unless the token was missing", () => {
    const req = { scheme: 'http', authority: 'httpbin.foo:8000', path: '/headers' };
    expect(wwwAuthenticate(JwtStatus.JwtExpired, req)).toBe('Bearer realm="http://httpbin.foo:8000/headers", error="invalid_token"');
    expect(wwwAuthenticate(JwtStatus.JwtMissed, req)).toBe('Bearer realm="http://httpbin.foo:8000/headers"');
  });
});
