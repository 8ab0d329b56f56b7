// Gateway servers beyond HTTP/HTTPS, driven by real clients: a TCP server with weighted tcp routes
// (Istio's "Ingress TCP"), HTTPS PASSTHROUGH by SNI (curl to a TLS upstream), AUTO_PASSTHROUGH by
// Istio's cluster SNI (east-west), ISTIO_MUTUAL (egress gateway: mesh client certificates only), a TLS
// server terminating into a TCP proxy; istio_tcp_* metrics and access-log lines for them.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, type ConnectionOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueWorkloadCert, writeWorkloadDir, type IssuedWorkloadCert, type RootCa } from '../../src/security/ca.js';
import { svcHost } from '../helpers/fixtures.js';
import { curl } from '../helpers/http.js';
import { destinationRule, GATEWAY_ARGS, resource, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { run } from '../helpers/netns.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { accessLogEntries, eventually, scrape } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const NGINX = 'nginx.example.com';
const ECHO = 'echo.example.com';
const REVIEWS = svcHost('reviews');
const TCP_ECHO = svcHost('tcp-echo');

let dir: string;
let ca: RootCa;
let proxy: RunningProxy;
let app: Upstream;
const servers: (Server | HttpsServer)[] = [];
let tcpPort: number;
let passPort: number;
let autoPort: number;
let mtlsPort: number;
let tlsTcpPort: number;
let meshClient: IssuedWorkloadCert;

async function listenLocal<S extends Server | HttpsServer>(server: S): Promise<number> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

/** A TCP server answering each chunk with `<name>:<chunk>`. */
function echoServer(name: string): Promise<number> {
  return listenLocal(createNetServer((s) => s.on('data', (d) => s.write(`${name}:${d}`)).on('error', () => {})));
}

/** A TLS server (speaking Istio's ALPN) answering each chunk with `<name>:<chunk>`. */
function tlsEchoServer(name: string, cert: IssuedWorkloadCert): Promise<number> {
  const server = createTlsServer({ cert: cert.certChainPem, key: cert.keyPem, ALPNProtocols: ['istio'] }, (s) => s.on('data', (d) => s.write(`${name}:${d}`)).on('error', () => {}));
  return listenLocal(server as unknown as Server);
}

/** One exchange over a fresh connection: the first chunk the peer sends back, or the error. */
function exchange(open: () => ReturnType<typeof netConnect>, text: string, timeoutMs = 3_000): Promise<string> {
  return new Promise((resolve) => {
    const s = open();
    const done = (v: string) => {
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    s.once('data', (d) => done(String(d)));
    s.once('error', (e) => done(`error: ${e.message}`));
    s.once('close', () => done('closed'));
    if ('encrypted' in s) s.once('secureConnect', () => s.write(text));
    else s.once('connect', () => s.write(text));
  });
}

const tcp = (port: number, text: string) => exchange(() => netConnect(port, '127.0.0.1'), text);
const tls = (port: number, text: string, opts: ConnectionOptions) => exchange(() => tlsConnect({ port, host: '127.0.0.1', ...opts }), text);

/** GET over TLS to the ISTIO_MUTUAL server: the status, or the error of a refused handshake. */
function meshGet(port: number, client: { cert?: string; key?: string }): Promise<string> {
  return new Promise((resolve) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, path: '/egress', agent: false, ca: ca.certPem, checkServerIdentity: () => undefined, ...client, timeout: 3_000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.statusCode)));
      },
    );
    req.on('error', (e) => resolve(`error: ${e.message}`));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outrigger-gwservers-'));
  ca = await createRootCa({ trustDomain: 'cluster.local' });
  const issue = (sa: string, dnsNames: string[] = []) => issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: sa, dnsNames });
  await writeWorkloadDir(join(dir, 'certs'), await issue('egressgateway'));
  meshClient = await issue('sleep');
  const nginxCert = await issue('nginx', [NGINX]);
  const echoCert = await issue('echo', [ECHO]);
  await writeFile(join(dir, 'ca.pem'), ca.certPem);
  await writeFile(join(dir, 'echo.pem'), echoCert.certChainPem);
  await writeFile(join(dir, 'echo.key'), echoCert.keyPem);

  const [v1, v2] = [await echoServer('v1'), await echoServer('v2')];
  const nginx = await listenLocal(createHttpsServer({ cert: nginxCert.certChainPem, key: nginxCert.keyPem }, (_req, res) => res.end('nginx says hello')));
  const [r1, r2] = [await tlsEchoServer('reviews-v1', await issue('reviews')), await tlsEchoServer('reviews-v2', await issue('reviews'))];
  app = await startUpstream(undefined, 'app');
  [tcpPort, passPort, autoPort, mtlsPort, tlsTcpPort] = await freePorts(5);

  const subsets = { subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] };
  const yaml = toYaml(
    serviceEntry({ name: 'tcp-echo', host: TCP_ECHO, ports: [{ number: 9000, name: 'tcp', protocol: 'TCP' }], endpoints: [{ port: v1, portName: 'tcp', labels: { version: 'v1' } }, { port: v2, portName: 'tcp', labels: { version: 'v2' } }] }),
    destinationRule('tcp-echo', { host: TCP_ECHO, ...subsets }),
    serviceEntry({ name: 'my-nginx', host: svcHost('my-nginx'), ports: [{ number: 443, name: 'https', protocol: 'HTTPS' }], endpoints: [{ port: nginx, portName: 'https' }] }),
    serviceEntry({ name: 'reviews', host: REVIEWS, ports: [{ number: 9080, name: 'http', protocol: 'HTTP' }], endpoints: [{ port: r1, labels: { version: 'v1' } }, { port: r2, labels: { version: 'v2' } }] }),
    destinationRule('reviews', { host: REVIEWS, ...subsets }),
    serviceEntry({ name: 'app', host: svcHost('app'), port: 80, endpoints: [{ port: app.port }] }),
    resource('Gateway', 'gw', 'default', {
      selector: { istio: 'ingressgateway' },
      servers: [
        { port: { number: tcpPort, name: 'tcp', protocol: 'TCP' }, hosts: ['*'] },
        { port: { number: passPort, name: 'https', protocol: 'HTTPS' }, hosts: [NGINX], tls: { mode: 'PASSTHROUGH' } },
        { port: { number: autoPort, name: 'tls', protocol: 'TLS' }, hosts: ['*.local'], tls: { mode: 'AUTO_PASSTHROUGH' } },
        { port: { number: mtlsPort, name: 'https-mesh', protocol: 'HTTPS' }, hosts: ['*'], tls: { mode: 'ISTIO_MUTUAL' } },
        { port: { number: tlsTcpPort, name: 'tls-echo', protocol: 'TLS' }, hosts: [ECHO], tls: { mode: 'SIMPLE', serverCertificate: join(dir, 'echo.pem'), privateKey: join(dir, 'echo.key') } },
      ],
    }),
    virtualService('tcp-echo', {
      hosts: ['*'],
      gateways: ['gw'],
      tcp: [
        { match: [{ port: tcpPort }], route: [{ destination: { host: 'tcp-echo', port: { number: 9000 }, subset: 'v1' }, weight: 80 }, { destination: { host: 'tcp-echo', port: { number: 9000 }, subset: 'v2' }, weight: 20 }] },
        { match: [{ port: tlsTcpPort }], route: [{ destination: { host: 'tcp-echo', port: { number: 9000 }, subset: 'v1' } }] },
      ],
    }),
    virtualService('nginx', { hosts: [NGINX], gateways: ['gw'], tls: [{ match: [{ port: passPort, sniHosts: [NGINX] }], route: [{ destination: { host: 'my-nginx', port: { number: 443 } } }] }] }),
    virtualService('app', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: 'app', port: { number: 80 } } }] }] }),
  );
  proxy = await startProxy({ yaml, args: [...GATEWAY_ARGS, '--cert-dir', join(dir, 'certs'), '--access-log', 'json'] });
});

afterAll(async () => {
  await stopAllProxies();
  await app?.close();
  for (const s of servers) s.close();
  await rm(dir, { recursive: true, force: true });
});

describe('gateway TCP server (Istio "Ingress TCP")', () => {
  it('raw TCP clients are spread over the weighted subsets (80/20)', async () => {
    const seen = { v1: 0, v2: 0 };
    for (let i = 0; i < 40; i++) {
      const reply = await tcp(tcpPort, `hello ${i}`);
      expect(reply).toMatch(new RegExp(`^v[12]:hello ${i}$`));
      seen[reply.slice(0, 2) as 'v1' | 'v2']++;
    }
    expect(seen.v2).toBeGreaterThan(0);
    expect(seen.v1).toBeGreaterThan(seen.v2);
  });

  it('istio_tcp_* metrics as the gateway reports them (reporter=source) and one access-log line per connection', async () => {
    const labels = { reporter: 'source', destination_service: TCP_ECHO, request_protocol: 'tcp', source_principal: 'spiffe://cluster.local/ns/default/sa/egressgateway' };
    const m = await eventually(async () => {
      const e = await scrape(proxy.ports.stats);
      return e.sum('istio_tcp_connections_closed_total', labels) >= 40 ? e : undefined;
    });
    expect(m, 'istio_tcp_connections_closed_total').toBeDefined();
    expect(m!.sum('istio_tcp_connections_opened_total', labels)).toBeGreaterThanOrEqual(40);
    expect(m!.sum('istio_tcp_received_bytes_total', labels)).toBeGreaterThan(0);
    expect(m!.sum('istio_tcp_sent_bytes_total', labels)).toBeGreaterThan(0);
    expect(m!.select('istio_tcp_connections_opened_total', labels).map((s) => s.labels.destination_version).sort()).toEqual(['v1', 'v2']);
    // access-log lines are written in batches (100 ms): they may follow the metrics
    const ours = () => accessLogEntries(proxy).filter((j) => String(j.upstream_cluster).endsWith(`|${TCP_ECHO}`) && String(j.upstream_cluster).startsWith('outbound|9000|v'));
    const lines = (await eventually(() => (ours().length >= 40 ? ours() : undefined), 3_000)) ?? ours();
    expect(lines.length).toBeGreaterThanOrEqual(40);
    expect(lines[0]).toMatchObject({ method: null, response_code: 0 });
  });
});

describe('gateway PASSTHROUGH (Istio "Ingress gateway without TLS termination")', () => {
  it('curl reaches the TLS upstream by SNI; the upstream, not the gateway, terminates TLS', async () => {
    const r = await curl(['-s', '--cacert', join(dir, 'ca.pem'), '--resolve', `${NGINX}:${passPort}:127.0.0.1`, `https://${NGINX}:${passPort}/`]);
    expect(r.stdout, r.stderr).toBe('nginx says hello');
    const line = await eventually(() => accessLogEntries(proxy).find((j) => j.requested_server_name === NGINX));
    expect(line).toMatchObject({ upstream_cluster: `outbound|443||${svcHost('my-nginx')}` });
  });

  it('openssl s_client -servername gets the upstream certificate (verified for its host name) through the gateway', async () => {
    const r = await run('openssl', ['s_client', '-connect', `127.0.0.1:${passPort}`, '-servername', NGINX, '-CAfile', join(dir, 'ca.pem'), '-verify_hostname', NGINX, '-verify_return_error'], { input: '', timeoutMs: 5_000 });
    expect(r.stdout, r.stderr).toMatch(/Verify return code: 0 \(ok\)/);
    expect(r.stdout).toMatch(/DNS:nginx\.example\.com|Verification: OK/);
  });

  it('an SNI no tls route names finds no filter chain: the connection is closed', async () => {
    const r = await curl(['-s', '--cacert', join(dir, 'ca.pem'), '--resolve', `other.example.com:${passPort}:127.0.0.1`, `https://other.example.com:${passPort}/`]);
    expect(r.code).not.toBe(0);
  });
});

describe('gateway AUTO_PASSTHROUGH (east-west)', () => {
  const sni = (subset: string) => `outbound_.9080_.${subset}_.${REVIEWS}`;
  const opts = (servername: string, alpn = ['istio']): ConnectionOptions => ({ servername, ALPNProtocols: alpn, ca: ca.certPem, checkServerIdentity: () => undefined });

  it('the SNI outbound_.PORT_.SUBSET_.HOST reaches that subset, with the client TLS passed through', async () => {
    expect(await tls(autoPort, 'ping', opts(sni('v1')))).toBe('reviews-v1:ping');
    expect(await tls(autoPort, 'ping', opts(sni('v2')))).toBe('reviews-v2:ping');
    expect(await tls(autoPort, 'ping', opts(sni('')))).toMatch(/^reviews-v[12]:ping$/);
  });

  it('without an Istio mTLS ALPN, or with an SNI naming no cluster, the connection is closed', async () => {
    expect(await tls(autoPort, 'ping', opts(sni('v1'), ['http/1.1']))).toMatch(/^(closed|error)/);
    expect(await tls(autoPort, 'ping', opts(`outbound_.9080_.v3_.${REVIEWS}`))).toMatch(/^(closed|error)/);
  });
});

describe('gateway ISTIO_MUTUAL (egress gateway shape)', () => {
  it('a client with a mesh certificate gets through to the HTTP route', async () => {
    expect(await meshGet(mtlsPort, { cert: meshClient.certChainPem, key: meshClient.keyPem })).toBe('200');
    expect(app.requests.at(-1)?.url).toBe('/egress');
    expect(app.requests.at(-1)?.headers['x-forwarded-client-cert']).toMatch(/URI=spiffe:\/\/cluster\.local\/ns\/default\/sa\/sleep/);
  });

  it('a client without a certificate, or with one from a foreign CA, is refused', async () => {
    const before = app.requests.length;
    expect(await meshGet(mtlsPort, {})).toMatch(/^error/);
    const foreign = await createRootCa({ trustDomain: 'cluster.local' });
    const stranger = await issueWorkloadCert({ caCertPem: foreign.certPem, caKeyPem: foreign.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'sleep' });
    expect(await meshGet(mtlsPort, { cert: stranger.certChainPem, key: stranger.keyPem })).toMatch(/^error/);
    expect(app.requests.length).toBe(before);
  });
});

describe('gateway TLS server terminating into a TCP proxy', () => {
  it('TLS SIMPLE with the server certificate, then the tcp route for the port', async () => {
    expect(await tls(tlsTcpPort, 'ping', { servername: ECHO, ca: ca.certPem })).toBe('v1:ping');
  });
});
