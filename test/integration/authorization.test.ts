// AuthorizationPolicy through the real proxy: HTTP RBAC on a gateway (deny before allow, no
// matching ALLOW → denied, normalized paths, hosts, access log details) and network RBAC on a
// sidecar's TCP ingress listener.
import { connect } from 'node:net';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { rawExchange, rawStatus } from '../helpers/http.js';
import { gateway, GATEWAY_ARGS, serviceEntry, sidecar, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { accessLogEntries, eventually, scrape } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { createServer, type Server } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/proxy.js';

/** Istio's own test tokens and keys (tests/common/jwt), read where they are. */
const JWT_DIR = join(ROOT, '..', 'shared', 'conformance', 'istio', 'tests', 'common', 'jwt');
const tokens = JSON.parse(readFileSync(join(JWT_DIR, 'tokens.json'), 'utf8')).tokens as Record<string, { token: string }>;
const JWKS = readFileSync(join(JWT_DIR, 'jwks.json'), 'utf8');

let app: Upstream;
let extAuthz: Upstream;
let customPort: number;
let jwtGw: RunningProxy;
let jwtPort: number;
let gw: RunningProxy;
let side: RunningProxy;
let gwPort: number;
let tcpOpen: number;
let tcpDenied: number;
let echo: Server;

const policy = (name: string, spec: Record<string, unknown>, namespace = 'default') =>
  stringify({ apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name, namespace }, spec });

beforeAll(async () => {
  app = await startUpstream(undefined, 'app');
  echo = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const echoPort = (echo.address() as { port: number }).port;
  [gwPort, tcpOpen, tcpDenied, jwtPort, customPort] = await freePorts(5);
  // an HTTP authorization service: allows requests carrying x-allow: yes, and says who checked
  extAuthz = await startUpstream((req, res) => {
    if (req.headers['x-allow'] === 'yes') {
      res.writeHead(200, { 'x-ext-authz-check': `ok ${req.method} ${req.url}`, 'x-not-forwarded': '1' });
      res.end();
    } else {
      res.writeHead(401, { 'x-ext-authz-reason': 'no x-allow', 'content-type': 'text/plain' });
      res.end('denied by ext-authz');
    }
  }, 'ext-authz');
  const gwYaml = [
    toYaml(
      serviceEntry({ name: 'app', host: svcHost('app'), port: 80, endpoints: [{ port: app.port }] }),
      gateway({ port: gwPort }),
      virtualService('app', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost('app'), port: { number: 80 } } }] }] }),
    ),
    policy('deny-admin', { selector: { matchLabels: { istio: 'ingressgateway' } }, action: 'DENY', rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }] }),
    // the mesh-wide one lives in the root namespace and applies too
    policy('allow-reads', { action: 'ALLOW', rules: [{ to: [{ operation: { methods: ['GET', 'HEAD'], hosts: ['shop.example.com'] } }] }] }, 'istio-system'),
  ].join('---\n');
  gw = await startProxy({ yaml: gwYaml, args: [...GATEWAY_ARGS, '--access-log', 'json'] });

  const tcpPort = (n: number) => [{ number: n, name: 'tcp', protocol: 'TCP' }];
  const sideYaml = [
    toYaml(
      serviceEntry({ name: 'me', host: svcHost('me'), ports: tcpPort(tcpOpen), endpoints: [{ port: echoPort, portName: 'tcp' }] }),
      sidecar('default', {
        ingress: [tcpOpen, tcpDenied].map((n) => ({ port: { number: n, protocol: 'TCP', name: 'tcp' }, captureMode: 'NONE', defaultEndpoint: `127.0.0.1:${echoPort}` })),
      }),
    ),
    // a TCP port: HTTP-only fields in a DENY rule deny the whole port (Istio's documented behaviour)
    policy('deny-port', { action: 'DENY', rules: [{ to: [{ operation: { ports: [String(tcpDenied)], methods: ['POST'] } }] }] }),
  ].join('---\n');
  side = await startProxy({ yaml: sideYaml, args: ['--mode', 'sidecar', '--namespace', 'default'] });

  const jwtYaml = [
    toYaml(
      serviceEntry({ name: 'app', host: svcHost('app'), port: 80, endpoints: [{ port: app.port }] }),
      gateway({ port: jwtPort }),
      virtualService('app', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost('app'), port: { number: 80 } } }] }] }),
    ),
    stringify({
      apiVersion: 'security.istio.io/v1',
      kind: 'RequestAuthentication',
      metadata: { name: 'jwt', namespace: 'default' },
      spec: { jwtRules: [{ issuer: 'test-issuer-1@istio.io', jwks: JWKS, outputClaimToHeaders: [{ header: 'x-jwt-sub', claim: 'sub' }] }] },
    }),
    // a token is optional for RequestAuthentication; this policy makes it required, and checks a claim
    policy('require-jwt', { action: 'ALLOW', rules: [{ from: [{ source: { requestPrincipals: ['test-issuer-1@istio.io/*'] } }], when: [{ key: 'request.auth.claims[groups]', values: ['group-1'] }] }] }),
  ].join('---\n');
  jwtGw = await startProxy({ yaml: jwtYaml, args: GATEWAY_ARGS });

  const customYaml = [
    toYaml(
      serviceEntry({ name: 'app', host: svcHost('app'), port: 80, endpoints: [{ port: app.port }] }),
      serviceEntry({ name: 'ext-authz', host: svcHost('ext-authz'), port: 8000, endpoints: [{ port: extAuthz.port }] }),
      gateway({ port: customPort }),
      virtualService('app', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost('app'), port: { number: 80 } } }] }] }),
    ),
    policy('ext', { action: 'CUSTOM', provider: { name: 'my-ext-authz' }, rules: [{ to: [{ operation: { paths: ['/custom*'] } }] }] }),
    stringify({
      apiVersion: 'meshconfig.istio.io/v1alpha1',
      kind: 'MeshConfig',
      extensionProviders: [{
        name: 'my-ext-authz',
        envoyExtAuthzHttp: {
          service: svcHost('ext-authz'),
          port: 8000,
          pathPrefix: '/check',
          includeRequestHeadersInCheck: ['x-allow'],
          headersToUpstreamOnAllow: ['x-ext-authz-check'],
          headersToDownstreamOnDeny: ['x-ext-authz-*'],
          headersToDownstreamOnAllow: ['x-ext-authz-check'],
        },
      }],
    }),
  ].join('---\n');
  await startProxy({ yaml: customYaml, args: GATEWAY_ARGS });
});

afterAll(async () => {
  await stopAllProxies();
  await app.close();
  await extAuthz.close();
  await new Promise((r) => echo.close(r));
});

async function request(method: string, path: string, host = 'shop.example.com'): Promise<{ status: number; body: string; rid: string }> {
  const rid = `authz-${Math.random().toString(36).slice(2)}`;
  const r = await rawExchange(gwPort, `${method} ${path} HTTP/1.1\r\nhost: ${host}\r\nx-request-id: ${rid}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
  return { status: rawStatus(r.data), body: r.data.slice(r.data.indexOf('\r\n\r\n') + 4), rid };
}

describe('AuthorizationPolicy on HTTP (gateway)', () => {
  it('an allowed request reaches the app', async () => {
    expect((await request('GET', '/catalog')).status).toBe(200);
  });

  it('DENY wins over ALLOW: 403 "RBAC: access denied", with the matched policy in the access log', async () => {
    const r = await request('GET', '/admin/users');
    expect(r).toMatchObject({ status: 403, body: 'RBAC: access denied' });
    const e = await eventually(() => accessLogEntries(gw).find((x) => x.request_id === r.rid));
    expect(e).toMatchObject({ response_code: 403, response_code_details: 'rbac_access_denied_matched_policy[ns[default]-policy[deny-admin]-rule[0]]' });
  });

  it('ALLOW policies exist and none matches: denied (a POST, or another host)', async () => {
    expect((await request('POST', '/catalog')).status).toBe(403);
    expect((await request('GET', '/catalog', 'other.example.com')).status).toBe(403);
  });

  it('hosts match case-insensitively, and exactly: with a port it is another host (Istio >= 1.11)', async () => {
    expect((await request('GET', '/catalog', 'SHOP.Example.com')).status).toBe(200);
    expect((await request('GET', '/catalog', 'shop.example.com:443')).status).toBe(403);
  });

  it('the path is normalized before authorization: dot segments and escapes cannot reach /admin', async () => {
    expect((await request('GET', '/catalog/../admin')).status).toBe(403);
    expect((await request('GET', '/%61dmin')).status).toBe(403);
  });
});

describe('RequestAuthentication (JWT) with an AuthorizationPolicy on its principal and claims', () => {
  const call = async (auth?: string) => {
    const before = app.requests.length;
    const r = await rawExchange(jwtPort, `GET /orders HTTP/1.1\r\nhost: shop.example.com\r\n${auth ? `authorization: ${auth}\r\n` : ''}connection: close\r\n\r\n`);
    return { status: rawStatus(r.data), body: r.data.slice(r.data.indexOf('\r\n\r\n') + 4), head: r.data.slice(0, r.data.indexOf('\r\n\r\n')), seen: app.requests.length > before ? app.requests.at(-1) : undefined };
  };

  it('a valid token: allowed; the app sees the claim header and not the token', async () => {
    const r = await call(`Bearer ${tokens.TokenIssuer1.token}`);
    expect(r.status).toBe(200);
    expect(r.seen?.headers['x-jwt-sub']).toBe('sub-1');
    expect(r.seen?.headers.authorization).toBeUndefined();
  });

  it('no token: RequestAuthentication lets it through, the policy denies it (403)', async () => {
    expect(await call()).toMatchObject({ status: 403, body: 'RBAC: access denied' });
  });

  it('an invalid token: 401 from the JWT filter, with WWW-Authenticate (expired, another issuer, tampered)', async () => {
    const expired = await call(`Bearer ${tokens.TokenExpired.token}`);
    expect(expired).toMatchObject({ status: 401, body: 'Jwt is expired' });
    expect(expired.head).toMatch(/\r\nwww-authenticate: Bearer realm="http:\/\/shop\.example\.com\/orders", error="invalid_token"/);
    expect((await call(`Bearer ${tokens.TokenIssuer2.token}`)).status).toBe(401);
    const [h, p, sig] = tokens.TokenIssuer1.token.split('.');
    expect((await call(`Bearer ${h}.${p}.${sig.slice(0, -4)}AAAA`))).toMatchObject({ status: 401, body: 'Jwt verification fails' });
  });
});

describe('CUSTOM AuthorizationPolicy with an envoyExtAuthzHttp provider', () => {
  const call = async (path: string, allow: boolean) => {
    const before = app.requests.length;
    const r = await rawExchange(customPort, `GET ${path} HTTP/1.1\r\nhost: shop.example.com\r\n${allow ? 'x-allow: yes\r\n' : ''}connection: close\r\n\r\n`);
    return { status: rawStatus(r.data), head: r.data.slice(0, r.data.indexOf('\r\n\r\n')), body: r.data.slice(r.data.indexOf('\r\n\r\n') + 4), seen: app.requests.length > before ? app.requests.at(-1) : undefined };
  };

  it('the provider allows: the request goes on with the headers it chose to add, the response with headersToDownstreamOnAllow', async () => {
    const r = await call('/custom/orders', true);
    expect(r.status).toBe(200);
    expect(r.seen?.headers['x-ext-authz-check']).toBe('ok GET /check/custom/orders');
    expect(r.seen?.headers['x-not-forwarded']).toBeUndefined();
    // headersToDownstreamOnAllow: the client gets the selected ones too
    expect(r.head).toMatch(/\r\nx-ext-authz-check: ok GET \/check\/custom\/orders/);
    expect(r.head).not.toMatch(/x-not-forwarded/);
  });

  it("the provider denies: its status, body and selected headers reach the client; the app never sees it", async () => {
    const r = await call('/custom/orders', false);
    expect(r).toMatchObject({ status: 401, body: 'denied by ext-authz', seen: undefined });
    expect(r.head).toMatch(/\r\nx-ext-authz-reason: no x-allow/);
  });

  it('requests the CUSTOM policy does not select are not sent to the provider', async () => {
    const before = extAuthz.requests.length;
    expect((await call('/public', false)).status).toBe(200);
    expect(extAuthz.requests.length).toBe(before);
  });
});

describe('AuthorizationPolicy on TCP (sidecar ingress listener)', () => {
  const roundTrip = (port: number) =>
    new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.end('ping'));
      let got = '';
      s.on('data', (b) => (got += b));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      setTimeout(() => resolve(got), 3000).unref();
    });

  it('a port no policy denies passes bytes', async () => {
    expect(await roundTrip(tcpOpen)).toBe('ping');
  });

  it('a DENY rule with HTTP-only fields denies the whole TCP port: the connection is closed', async () => {
    expect(await roundTrip(tcpDenied)).toBe('');
    const s = await scrape(side.ports.stats);
    expect(s.sum('envoy_listener_rbac_denied', { envoy_listener_address: `0.0.0.0_${tcpDenied}` })).toBeGreaterThanOrEqual(1);
  });
});
