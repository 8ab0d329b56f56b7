// TLS session resumption across a CA change, and STRICT mTLS on a bound listener, on real sockets.
// A resumed session skips certificate verification, so after the trusted CA changes, a session from
// before must not resume: the client's certificate has to be verified again against the new CA
// (Envoy builds a new SSL_CTX with new ticket keys on every secret update). Both places that verify
// client certificates: a Gateway MUTUAL server whose CA comes from --credential-dir, and the mesh
// mTLS of a Sidecar ingress listener whose root comes from --cert-dir. With STRICT, plaintext to that
// listener never reaches the app.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueWorkloadCert, writeWorkloadDir, type IssuedWorkloadCert, type RootCa } from '../../src/security/ca.js';
import { rawExchange, rawStatus } from '../helpers/http.js';
import { waitFor } from '../helpers/lifecycle.js';
import { GATEWAY_ARGS, resource, sidecar, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies } from '../helpers/proxy.js';
import { writeMountedSecret } from '../helpers/secrets.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const HOST = 'shop.example.com';
let dir: string;
let caA: RootCa;
let caB: RootCa;
let clientA: IssuedWorkloadCert;
let app: Upstream;
let gwPort: number;
let meshPort: number;

const issue = (ca: RootCa, sa: string, ns = 'default') => issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: ns, serviceAccount: sa, dnsNames: [HOST] });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outrigger-tlssess-'));
  caA = await createRootCa({ trustDomain: 'cluster.local' });
  caB = await createRootCa({ trustDomain: 'cluster.local' });
  clientA = await issue(caA, 'client', 'partners');
  app = await startUpstream(undefined, 'app');
  [gwPort, meshPort] = await freePorts(2);

  const creds = join(dir, 'credentials');
  const serverA = await issue(caA, 'ingress');
  await writeMountedSecret(creds, 'shop-cert', { 'tls.crt': serverA.certChainPem, 'tls.key': serverA.keyPem });
  await writeMountedSecret(creds, 'shop-cert-cacert', { 'ca.crt': caA.certPem });
  const gwYaml = toYaml(
    resource('Gateway', 'gw', 'default', { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: gwPort, name: 'https-mutual', protocol: 'HTTPS' }, hosts: [HOST], tls: { mode: 'MUTUAL', credentialName: 'shop-cert' } }] }),
    virtualService('shop', { hosts: [HOST], gateways: ['gw'], http: [{ directResponse: { status: 200, body: { string: 'shop' } } }] }),
  );
  await startProxy({ yaml: gwYaml, args: [...GATEWAY_ARGS, '--credential-dir', creds] });

  await writeWorkloadDir(join(dir, 'certs'), await issue(caA, 'web'));
  const meshYaml = [
    toYaml(sidecar('default', { ingress: [{ port: { number: meshPort, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', defaultEndpoint: `127.0.0.1:${app.port}` }] })),
    stringify({ apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication', metadata: { name: 'default', namespace: 'default' }, spec: { mtls: { mode: 'STRICT' } } }),
  ].join('---\n');
  await startProxy({ yaml: meshYaml, args: ['--mode', 'sidecar', '--namespace', 'default', '--cert-dir', join(dir, 'certs')] });
});

afterAll(async () => {
  await stopAllProxies();
  await app.close();
  await rm(dir, { recursive: true, force: true });
});

interface Outcome {
  status: number;
  reused: boolean;
  session?: Buffer;
  error?: string;
}

/** One request over TLS with the client certificate; resumes `session` when given; the new session ticket comes back. */
function tlsRequest(port: number, opts: ConnectionOptions, session?: Buffer): Promise<Outcome> {
  return new Promise((resolve) => {
    let data = '';
    let reused = false;
    let ticket: Buffer | undefined;
    const s = tlsConnect({ port, host: '127.0.0.1', cert: clientA.certChainPem, key: clientA.keyPem, ca: [caA.certPem, caB.certPem], checkServerIdentity: () => undefined, ...opts, ...(session ? { session } : {}) }, () => {
      reused = s.isSessionReused();
      s.write(`GET / HTTP/1.1\r\nhost: ${HOST}\r\nconnection: close\r\n\r\n`);
    });
    s.on('session', (t: Buffer) => (ticket = t));
    s.setEncoding('latin1');
    s.on('data', (d: string) => (data += d));
    s.on('error', (e) => resolve({ status: 0, reused, error: e.message }));
    s.on('close', () => resolve({ status: rawStatus(data), reused, ...(ticket ? { session: ticket } : {}) }));
    setTimeout(() => s.destroy(), 5_000).unref();
  });
}

const VERSIONS = ['TLSv1.3', 'TLSv1.2'] as const;

describe('Gateway MUTUAL server: a CA rotation through --credential-dir', () => {
  it('sessions from before the rotation do not resume; the old client certificate is verified again and refused', async () => {
    const opts = (v: (typeof VERSIONS)[number]): ConnectionOptions => ({ servername: HOST, minVersion: v, maxVersion: v });
    const sessions = new Map<string, Buffer>();
    for (const v of VERSIONS) {
      const first = await tlsRequest(gwPort, opts(v));
      expect(first.status, v).toBe(200);
      expect(first.session, `${v}: the server issues resumable sessions`).toBeDefined();
      // the control: before the rotation the session does resume
      const again = await tlsRequest(gwPort, opts(v), first.session);
      expect(again, v).toMatchObject({ status: 200, reused: true });
      sessions.set(v, again.session ?? first.session!);
    }
    await writeMountedSecret(join(dir, 'credentials'), 'shop-cert-cacert', { 'ca.crt': caB.certPem });
    expect(await waitFor(async () => (await tlsRequest(gwPort, opts('TLSv1.3'))).status !== 200, 10_000, 100)).toBe(true);
    for (const v of VERSIONS) {
      const resumed = await tlsRequest(gwPort, opts(v), sessions.get(v));
      expect(resumed.reused, v).toBe(false);
      expect(resumed.status, v).not.toBe(200);
    }
  });
});

describe('Sidecar ingress listener, STRICT', () => {
  const mesh = (v: (typeof VERSIONS)[number]): ConnectionOptions => ({ servername: 'outbound_.80_._.web.default.svc.cluster.local', ALPNProtocols: ['istio-http/1.1'], minVersion: v, maxVersion: v });

  it('plaintext HTTP never reaches the app; mesh mTLS does', async () => {
    const before = app.requests.length;
    const plain = await rawExchange(meshPort, `GET / HTTP/1.1\r\nhost: web\r\nconnection: close\r\n\r\n`);
    expect(plain.closed).toBe(true);
    expect(rawStatus(plain.data)).not.toBe(200);
    expect(app.requests.length).toBe(before);
    expect((await tlsRequest(meshPort, mesh('TLSv1.3'))).status).toBe(200);
  });

  it('a root rotation through --cert-dir: sessions from before do not resume, the old-root client is refused', async () => {
    const sessions = new Map<string, Buffer>();
    for (const v of VERSIONS) {
      const first = await tlsRequest(meshPort, mesh(v));
      expect(first.status, v).toBe(200);
      // the control: before the rotation the session does resume
      const again = await tlsRequest(meshPort, mesh(v), first.session);
      expect(again, v).toMatchObject({ status: 200, reused: true });
      sessions.set(v, again.session ?? first.session!);
    }
    // the same workload, its certificate and root now from CA B
    await writeWorkloadDir(join(dir, 'certs'), await issue(caB, 'web'));
    expect(await waitFor(async () => (await tlsRequest(meshPort, mesh('TLSv1.3'))).status !== 200, 10_000, 100)).toBe(true);
    for (const v of VERSIONS) {
      const before = app.requests.length;
      const resumed = await tlsRequest(meshPort, mesh(v), sessions.get(v));
      expect(resumed.status, `${v}: ${JSON.stringify({ reused: resumed.reused, error: resumed.error })}`).not.toBe(200);
      expect(app.requests.length, v).toBe(before);
    }
  });
});
