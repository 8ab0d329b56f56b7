// CUSTOM AuthorizationPolicy with an envoyExtAuthzGrpc provider, through the real proxy: a real
// envoy.service.auth.v3.Authorization server (grpc-js) allows with header edits, denies with its
// status/headers/body, is down (fail closed with statusOnError, or failOpen) or too slow (timeout);
// and on a sidecar's TCP ingress port, where an allowed connection is proxied and a denied one closed.
import { connect, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { rawExchange, rawStatus } from '../helpers/http.js';
import { authorizationPolicy, authzServiceEntry, AUTHZ_HOST, grpcProviderMesh, startAuthzServer, type AuthzServer, type SeenCheck } from '../helpers/ext-authz-grpc.js';
import { gateway, GATEWAY_ARGS, serviceEntry, sidecar, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { scrape } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

/** Long enough for a first Check on a busy machine (channel connect included), short for the timeout test. */
const PROVIDER_TIMEOUT_MS = 1000;
const HTTP_OK = 0;
const PERMISSION_DENIED = 7;

let app: Upstream;
let authz: AuthzServer;
let echo: Server;
let gw: RunningProxy;
let side: RunningProxy;
let gwPort: number;
let downPort: number;
let openPort: number;
let tcpAllowed: number;
let tcpDenied: number;

const mesh = (fields: Record<string, unknown>) => grpcProviderMesh('grpc-authz', fields);

/** The authorization service's decisions, keyed by what the request carries. */
async function decide(req: SeenCheck): Promise<unknown> {
  const http = req.attributes.request?.http;
  if (!http) {
    // TCP: one port is allowed, the other denied
    const port = req.attributes.destination?.address?.socketAddress?.portValue;
    return { status: { code: port === tcpAllowed ? HTTP_OK : PERMISSION_DENIED } };
  }
  const verdict = http.headers['x-verdict'];
  if (verdict === 'slow') await new Promise((r) => setTimeout(r, PROVIDER_TIMEOUT_MS * 2.5));
  if (verdict === 'allow' || verdict === 'slow') {
    return {
      status: { code: HTTP_OK },
      okResponse: {
        headers: [
          { header: { key: 'x-authz-user', value: 'alice' } },
          { header: { key: 'x-tag', value: 'from-authz' }, append: { value: true } },
          { header: { key: 'x-verdict', value: 'replaced' } },
        ],
        headersToRemove: ['x-secret'],
        responseHeadersToAdd: [{ header: { key: 'x-authz-checked', value: 'yes' } }],
      },
    };
  }
  return {
    status: { code: PERMISSION_DENIED },
    deniedResponse: { status: { code: 401 }, headers: [{ header: { key: 'x-authz-reason', value: 'no verdict' } }], body: 'denied by grpc authz' },
  };
}

beforeAll(async () => {
  app = await startUpstream(undefined, 'app');
  authz = await startAuthzServer(decide);
  echo = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const echoPort = (echo.address() as { port: number }).port;
  let deadPort: number;
  [gwPort, downPort, openPort, tcpAllowed, tcpDenied, deadPort] = await freePorts(6);

  const gatewayYaml = (port: number, authzPort: number, provider: Record<string, unknown>) =>
    [
      toYaml(
        serviceEntry({ name: 'app', host: svcHost('app'), port: 80, endpoints: [{ port: app.port }] }),
        authzServiceEntry(authzPort),
        gateway({ port }),
        virtualService('app', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost('app'), port: { number: 80 } } }] }] }),
      ),
      authorizationPolicy('ext', { action: 'CUSTOM', provider: { name: 'grpc-authz' }, rules: [{ to: [{ operation: { paths: ['/custom*'] } }] }] }),
      mesh({ service: `default/${AUTHZ_HOST}`, ...provider }),
    ].join('---\n');
  gw = await startProxy({ allStats: true, yaml: gatewayYaml(gwPort, authz.port, { timeout: `${PROVIDER_TIMEOUT_MS}ms`, includeRequestBodyInCheck: { maxRequestBytes: 64 } }), args: GATEWAY_ARGS });
  // the service is down: fail closed with its statusOnError, or open
  await startProxy({ allStats: true, yaml: gatewayYaml(downPort, deadPort, { statusOnError: '503' }), args: GATEWAY_ARGS });
  await startProxy({ allStats: true, yaml: gatewayYaml(openPort, deadPort, { failOpen: true }), args: GATEWAY_ARGS });

  const tcp = (n: number) => ({ port: { number: n, protocol: 'TCP', name: 'tcp' }, captureMode: 'NONE', defaultEndpoint: `127.0.0.1:${echoPort}` });
  side = await startProxy({ allStats: true,
    yaml: [
      toYaml(
        authzServiceEntry(authz.port),
        sidecar('default', { ingress: [tcp(tcpAllowed), tcp(tcpDenied)] }),
      ),
      authorizationPolicy('ext-tcp', { action: 'CUSTOM', provider: { name: 'grpc-authz' }, rules: [{ to: [{ operation: { ports: [String(tcpAllowed), String(tcpDenied)] } }] }] }),
      mesh({}),
    ].join('---\n'),
    args: ['--mode', 'sidecar', '--namespace', 'default'],
  });
});

afterAll(async () => {
  await stopAllProxies();
  await app.close();
  await authz.close();
  await new Promise((r) => echo.close(r));
});

async function call(port: number, path: string, headers: Record<string, string> = {}, body?: string) {
  const before = app.requests.length;
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const start = body === undefined ? `GET ${path} HTTP/1.1\r\n` : `POST ${path} HTTP/1.1\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
  const r = await rawExchange(port, `${start}host: shop.example.com\r\n${extra}connection: close\r\n\r\n${body ?? ''}`, 5000);
  const head = r.data.slice(0, r.data.indexOf('\r\n\r\n'));
  return { status: rawStatus(r.data), head, body: r.data.slice(r.data.indexOf('\r\n\r\n') + 4), seen: app.requests.length > before ? app.requests.at(-1) : undefined };
}

describe('CUSTOM with an envoyExtAuthzGrpc provider on HTTP (gateway)', () => {
  it('OK: the request goes on with the provider header edits (set, append, overwrite, remove); response headers added', async () => {
    const r = await call(gwPort, '/custom/orders?q=1', { 'x-verdict': 'allow', 'x-tag': 'client', 'x-secret': 's3cret' });
    expect(r.status).toBe(200);
    expect(r.seen?.headers['x-authz-user']).toBe('alice');
    expect(r.seen?.headers['x-tag']).toBe('client, from-authz');
    expect(r.seen?.headers['x-verdict']).toBe('replaced');
    expect(r.seen?.headers['x-secret']).toBeUndefined();
    expect(r.head).toMatch(/\r\nx-authz-checked: yes/);
  });

  it('the CheckRequest carries the request and both ends of the connection', async () => {
    await call(gwPort, '/custom/inspect?a=b', { 'x-verdict': 'allow', 'x-multi': 'one' });
    const c = authz.checks.at(-1)!;
    const http = c.attributes.request!.http!;
    expect(http).toMatchObject({ method: 'GET', path: '/custom/inspect?a=b', host: 'shop.example.com', scheme: 'http', protocol: 'HTTP/1.1', size: '-1' });
    expect(http.headers).toMatchObject({ ':authority': 'shop.example.com', ':method': 'GET', ':path': '/custom/inspect?a=b', 'x-multi': 'one' });
    expect(http.headers['x-request-id']).toBeTruthy();
    expect(http.id).toMatch(/^\d+$/);
    expect(c.attributes.source?.address?.socketAddress?.address).toBe('127.0.0.1');
    expect(c.attributes.destination?.address?.socketAddress?.portValue).toBe(gwPort);
  });

  it('includeRequestBodyInCheck: the body goes to the check and, whole, to the app', async () => {
    const r = await call(gwPort, '/custom/upload', { 'x-verdict': 'allow' }, 'hello body');
    expect(r.status).toBe(200);
    expect(r.seen?.bodyBytes).toBe(10);
    const http = authz.checks.at(-1)!.attributes.request!.http! as { body?: string; headers: Record<string, string> };
    expect(http.body).toBe('hello body');
    expect(http.headers['x-envoy-auth-partial-body']).toBe('false');
  });

  it('a body larger than maxRequestBytes without allowPartialMessage: 413, never checked', async () => {
    const before = authz.checks.length;
    const r = await call(gwPort, '/custom/upload', { 'x-verdict': 'allow' }, 'x'.repeat(100));
    expect(r).toMatchObject({ status: 413, body: 'Payload Too Large', seen: undefined });
    expect(authz.checks.length).toBe(before);
  });

  it("denied: the provider's status, headers and body reach the client (UAEX); the app never sees it", async () => {
    const r = await call(gwPort, '/custom/orders', { 'x-verdict': 'no' });
    expect(r).toMatchObject({ status: 401, body: 'denied by grpc authz', seen: undefined });
    expect(r.head).toMatch(/\r\nx-authz-reason: no verdict/);
  });

  it('requests the CUSTOM policy does not select are not checked', async () => {
    const before = authz.checks.length;
    expect((await call(gwPort, '/public')).status).toBe(200);
    expect(authz.checks.length).toBe(before);
  });

  it('the provider answers after the timeout: 403 (statusOnError default), the app never sees it', async () => {
    const r = await call(gwPort, '/custom/slow', { 'x-verdict': 'slow' });
    expect(r).toMatchObject({ status: 403, seen: undefined });
  });

  it('the provider is down: statusOnError (503); with failOpen the request goes through', async () => {
    expect(await call(downPort, '/custom/orders', { 'x-verdict': 'allow' })).toMatchObject({ status: 503, seen: undefined });
    const open = await call(openPort, '/custom/orders', { 'x-verdict': 'no' });
    expect(open.status).toBe(200);
    expect(open.seen).toBeDefined();
  });

  it("Envoy's counters under the route's cluster: ext_authz ok, denied, error", async () => {
    const s = await scrape(gw.ports.stats);
    const cluster = { envoy_cluster_name: `outbound|80||${svcHost('app')}` };
    expect(s.sum('envoy_cluster_ext_authz_ok', cluster)).toBeGreaterThanOrEqual(2);
    expect(s.sum('envoy_cluster_ext_authz_denied', cluster)).toBeGreaterThanOrEqual(1);
    expect(s.sum('envoy_cluster_ext_authz_error', cluster)).toBeGreaterThanOrEqual(1);
  });

  it('a Check is on the request path: requests it selects take longer than those it does not, by far less than its timeout', async () => {
    const time = async (path: string, headers: Record<string, string>) => {
      const n = 40;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) expect((await call(gwPort, path, headers)).status).toBe(200);
      return (performance.now() - t0) / n;
    };
    await time('/public', {}); // warm up both paths
    await time('/custom/warm', { 'x-verdict': 'allow' });
    const plain = await time('/public', {});
    const checked = await time('/custom/x', { 'x-verdict': 'allow' });
    expect(checked).toBeGreaterThan(plain);
    expect(checked - plain).toBeLessThan(PROVIDER_TIMEOUT_MS);
  });
});

describe('CUSTOM with an envoyExtAuthzGrpc provider on TCP (sidecar ingress)', () => {
  const roundTrip = (port: number) =>
    new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1', () => s.write('ping'));
      let got = '';
      s.on('data', (b) => {
        got += b;
        s.end();
      });
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      setTimeout(() => (s.destroy(), resolve(got)), 3000).unref();
    });

  it('an allowed connection is proxied; the check saw both ends', async () => {
    expect(await roundTrip(tcpAllowed)).toBe('ping');
    const c = authz.checks.filter((x) => !x.attributes.request).at(-1)!;
    expect(c.attributes.destination?.address?.socketAddress).toMatchObject({ address: '127.0.0.1', portValue: tcpAllowed });
    expect(c.attributes.source?.address?.socketAddress?.address).toBe('127.0.0.1');
  });

  it('a denied connection is closed before any byte reaches the app; ext_authz.tcp.* counted', async () => {
    expect(await roundTrip(tcpDenied)).toBe('');
    const s = await scrape(side.ports.stats);
    expect(s.sum('envoy_ext_authz_tcp_ok')).toBeGreaterThanOrEqual(1);
    expect(s.sum('envoy_ext_authz_tcp_denied')).toBeGreaterThanOrEqual(1);
    expect(s.sum('envoy_ext_authz_tcp_cx_closed')).toBeGreaterThanOrEqual(1);
  });
});
