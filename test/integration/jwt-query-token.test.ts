// A JWT sent in a query parameter (RequestAuthentication fromParams) through the real proxy: once
// verified it is removed from the path the upstream gets (Envoy jwt_authn, forward: false), the
// rest of the query untouched; forwardOriginalToken: true keeps it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { rawExchange, rawStatus } from '../helpers/http.js';
import { gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { ROOT, startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { accessLogEntry } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

/** Istio's own test tokens and keys (tests/common/jwt), read where they are. */
const JWT_DIR = join(ROOT, '..', 'shared', 'conformance', 'istio', 'tests', 'common', 'jwt');
const TOKEN = (JSON.parse(readFileSync(join(JWT_DIR, 'tokens.json'), 'utf8')).tokens as Record<string, { token: string }>).TokenIssuer1.token;
const JWKS = readFileSync(join(JWT_DIR, 'jwks.json'), 'utf8');

let app: Upstream;
let stripPort: number;
let keepPort: number;
let strip: RunningProxy;

function config(port: number, forwardOriginalToken: boolean): string {
  return [
    toYaml(
      serviceEntry({ name: 'app', host: svcHost('app'), port: 80, endpoints: [{ port: app.port }] }),
      gateway({ port }),
      virtualService('app', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost('app'), port: { number: 80 } } }] }] }),
    ),
    stringify({
      apiVersion: 'security.istio.io/v1',
      kind: 'RequestAuthentication',
      metadata: { name: 'jwt', namespace: 'default' },
      spec: { jwtRules: [{ issuer: 'test-issuer-1@istio.io', jwks: JWKS, fromParams: ['token'], forwardOriginalToken }] },
    }),
    // the principal still reaches authorization after the token left the path
    stringify({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'require-jwt', namespace: 'default' },
      spec: { action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals: ['test-issuer-1@istio.io/sub-1'] } }] }] },
    }),
  ].join('---\n');
}

beforeAll(async () => {
  app = await startUpstream(undefined, 'app');
  [stripPort, keepPort] = await freePorts(2);
  strip = await startProxy({ yaml: config(stripPort, false), args: [...GATEWAY_ARGS, '--access-log', 'json'] });
  await startProxy({ yaml: config(keepPort, true), args: GATEWAY_ARGS });
});

afterAll(async () => {
  await stopAllProxies();
  await app.close();
});

async function get(port: number, target: string, rid = `q-${Math.random().toString(36).slice(2)}`) {
  const before = app.requests.length;
  const r = await rawExchange(port, `GET ${target} HTTP/1.1\r\nhost: shop.example.com\r\nx-request-id: ${rid}\r\nconnection: close\r\n\r\n`);
  return { status: rawStatus(r.data), seen: app.requests.length > before ? app.requests.at(-1) : undefined, rid };
}

describe('JWT in a query parameter, forwardOriginalToken false (Envoy forward: false)', () => {
  it('the upstream gets the path without the token; the other parameters stay byte for byte, in order', async () => {
    const r = await get(stripPort, `/orders?b=%26x&token=${TOKEN}&c=d%20e&&z`);
    expect(r.status).toBe(200);
    expect(r.seen?.url).toBe('/orders?b=%26x&c=d%20e&&z');
  });

  it('a query holding only the token loses its "?"; a repeated or percent-encoded name goes too', async () => {
    expect((await get(stripPort, `/orders?token=${TOKEN}`)).seen?.url).toBe('/orders');
    expect((await get(stripPort, `/orders?tok%65n=${TOKEN}&a=1&token=${TOKEN}`)).seen?.url).toBe('/orders?a=1');
  });

  it('the access log shows the path without the token (Envoy logs :path as the filters left it)', async () => {
    const r = await get(stripPort, `/logged?token=${TOKEN}&keep=1`);
    expect(r.status).toBe(200);
    const e = await accessLogEntry(strip, r.rid);
    expect(e?.path).toBe('/logged?keep=1');
  });

  it('an invalid token in the query: 401, nothing reaches the upstream', async () => {
    const r = await get(stripPort, `/orders?token=${TOKEN.slice(0, -4)}AAAA&a=1`);
    expect(r).toMatchObject({ status: 401, seen: undefined });
  });

  it('no token: the request is denied by the policy, not by the JWT filter', async () => {
    expect((await get(stripPort, '/orders?a=1')).status).toBe(403);
  });
});

describe('JWT in a query parameter, forwardOriginalToken true', () => {
  it('the upstream gets the path unchanged, token included', async () => {
    const target = `/orders?b=%26x&token=${TOKEN}&c=1`;
    const r = await get(keepPort, target);
    expect(r.status).toBe(200);
    expect(r.seen?.url).toBe(target);
  });
});
