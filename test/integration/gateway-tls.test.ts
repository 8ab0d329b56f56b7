// Gateway servers that terminate TLS with certificates from files (SIMPLE, MUTUAL), SNI picking
// the server, and httpsRedirect on the plaintext server — driven with curl.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueWorkloadCert } from '../../src/security/ca.js';
import { svcHost } from '../helpers/fixtures.js';
import { curl } from '../helpers/http.js';
import { GATEWAY_ARGS, resource, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const HOST = 'shop.example.com';
let app: Upstream;
let dir: string;
let httpPort: number;
let simplePort: number;
let mutualPort: number;
let appendPort: number;

beforeAll(async () => {
  app = await startUpstream(undefined, 'app');
  dir = await mkdtemp(join(tmpdir(), 'outrigger-gwtls-'));
  const ca = await createRootCa({ trustDomain: 'cluster.local' });
  const server = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'edge', serviceAccount: 'gw', dnsNames: [HOST] });
  const client = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'partners', serviceAccount: 'acme' });
  const files: Record<string, string> = { 'server.pem': server.certChainPem, 'server.key': server.keyPem, 'ca.pem': ca.certPem, 'client.pem': client.certChainPem, 'client.key': client.keyPem };
  for (const [f, text] of Object.entries(files)) await writeFile(join(dir, f), text);
  [httpPort, simplePort, mutualPort, appendPort] = await freePorts(4);
  const tls = (mode: string) => ({ mode, serverCertificate: join(dir, 'server.pem'), privateKey: join(dir, 'server.key'), ...(mode === 'MUTUAL' ? { caCertificates: join(dir, 'ca.pem') } : {}) });
  const mutual = (port: number) => ({ port: { number: port, name: 'https-mtls', protocol: 'HTTPS' }, hosts: [HOST], tls: tls('MUTUAL') });
  const gatewayYaml = (servers: unknown[]) =>
    toYaml(
      serviceEntry({ name: 'app', host: svcHost('app'), port: 80, endpoints: [{ port: app.port }] }),
      resource('Gateway', 'gw', 'default', { selector: { istio: 'ingressgateway' }, servers }),
      virtualService('app', { hosts: [HOST], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost('app'), port: { number: 80 } } }] }] }),
    );
  const yaml = gatewayYaml([
    { port: { number: httpPort, name: 'http', protocol: 'HTTP' }, hosts: [HOST], tls: { httpsRedirect: true } },
    { port: { number: simplePort, name: 'https', protocol: 'HTTPS' }, hosts: [HOST], tls: tls('SIMPLE') },
    mutual(mutualPort),
  ]);
  await startProxy({ yaml, args: GATEWAY_ARGS });
  // a gateway whose ProxyConfig says gatewayTopology.forwardClientCertDetails: APPEND_FORWARD
  const appendMesh = 'apiVersion: meshconfig.istio.io/v1alpha1\nkind: MeshConfig\ndefaultConfig:\n  gatewayTopology:\n    forwardClientCertDetails: APPEND_FORWARD\n';
  await startProxy({ yaml: `${gatewayYaml([mutual(appendPort)])}---\n${appendMesh}`, args: GATEWAY_ARGS });
});

afterAll(async () => {
  await stopAllProxies();
  await app.close();
  await rm(dir, { recursive: true, force: true });
});

const https = (port: number, extra: string[] = [], host = HOST) =>
  curl(['--cacert', join(dir, 'ca.pem'), '--resolve', `${host}:${port}:127.0.0.1`, '-o', '/dev/null', '-w', '%{http_code} %{http_version}', ...extra, `https://${host}:${port}/orders?id=7`]);

describe('Gateway TLS servers', () => {
  it('SIMPLE: TLS terminated with the server certificate (HTTP/2 or HTTP/1.1 by ALPN); the app sees x-forwarded-proto https', async () => {
    expect((await https(simplePort, ['--http1.1'])).stdout).toBe('200 1.1');
    const r = await https(simplePort);
    expect(r.stdout, r.stderr).toBe('200 2');
    expect(app.requests.at(-1)?.headers['x-forwarded-proto']).toBe('https');
  });

  it('an SNI no server lists gets no TLS handshake', async () => {
    const r = await https(simplePort, [], 'other.example.com');
    expect(r.code).not.toBe(0);
  });

  it('MUTUAL: a client certificate from the CA is required; the app learns it from XFCC', async () => {
    expect((await https(mutualPort)).code).not.toBe(0);
    const r = await https(mutualPort, ['--cert', join(dir, 'client.pem'), '--key', join(dir, 'client.key')]);
    expect(r.stdout, r.stderr).toBe('200 2');
    expect(app.requests.at(-1)?.headers['x-forwarded-client-cert']).toMatch(/Hash=[0-9a-f]{64};Subject="";URI=spiffe:\/\/cluster\.local\/ns\/partners\/sa\/acme$/);
  });

  it('MUTUAL: a client XFCC is replaced (SANITIZE_SET); with gatewayTopology APPEND_FORWARD it is kept and appended to', async () => {
    const withCert = ['--cert', join(dir, 'client.pem'), '--key', join(dir, 'client.key'), '-H', 'x-forwarded-client-cert: By=spiffe://up/stream;Hash=00'];
    expect((await https(mutualPort, withCert)).stdout).toBe('200 2');
    expect(app.requests.at(-1)?.headers['x-forwarded-client-cert']).toMatch(/^Hash=[0-9a-f]{64};/);
    expect((await https(appendPort, withCert)).stdout).toBe('200 2');
    expect(app.requests.at(-1)?.headers['x-forwarded-client-cert']).toMatch(/^By=spiffe:\/\/up\/stream;Hash=00,Hash=[0-9a-f]{64};Subject="";URI=spiffe:\/\/cluster\.local\/ns\/partners\/sa\/acme$/);
  });

  it('httpsRedirect: the plaintext server answers 301 to the https URL', async () => {
    const r = await curl(['-o', '/dev/null', '-w', '%{http_code} %{redirect_url}', '-H', `host: ${HOST}`, `http://127.0.0.1:${httpPort}/orders?id=7`]);
    expect(r.stdout).toBe(`301 https://${HOST}/orders?id=7`);
  });
});
