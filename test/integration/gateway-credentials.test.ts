// Gateway servers with credentialName, served from --credential-dir (mounted Kubernetes secrets):
// curl gets the certificate, a MUTUAL server takes its CA from <name>-cacert, a missing credential
// skips only its server, a rotation reaches new handshakes and a broken one keeps the last good copy.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueWorkloadCert, type IssuedWorkloadCert, type RootCa } from '../../src/security/ca.js';
import { curl } from '../helpers/http.js';
import { connectOutcome, fetchText, waitFor } from '../helpers/lifecycle.js';
import { GATEWAY_ARGS, resource, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { writeMountedSecret } from '../helpers/secrets.js';

const HOST = 'shop.example.com';
let dir: string;
let creds: string;
let ca: RootCa;
let proxy: RunningProxy;
let simplePort: number;
let mutualPort: number;
let missingPort: number;
let first: IssuedWorkloadCert;
let client: IssuedWorkloadCert;

const issue = (sa: string) => issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: sa, dnsNames: [HOST] });

const https = (port: number, extra: string[] = []) =>
  curl(['-s', '--cacert', join(dir, 'ca.pem'), '--resolve', `${HOST}:${port}:127.0.0.1`, ...extra, `https://${HOST}:${port}/`]);

/** The serial number of the certificate a new handshake gets. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername: HOST, ca: ca.certPem }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.destroy();
    });
    s.once('error', (e) => resolve(`error: ${e.message}`));
  });
}

const serialOf = (c: IssuedWorkloadCert) => new X509Certificate(c.certChainPem).serialNumber;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outrigger-gwcreds-'));
  creds = join(dir, 'credentials');
  ca = await createRootCa({ trustDomain: 'cluster.local' });
  first = await issue('ingress');
  client = await issue('client');
  await writeFile(join(dir, 'ca.pem'), ca.certPem);
  await writeFile(join(dir, 'client.pem'), client.certChainPem);
  await writeFile(join(dir, 'client.key'), client.keyPem);
  await writeMountedSecret(creds, 'shop-cert', { 'tls.crt': first.certChainPem, 'tls.key': first.keyPem });
  await writeMountedSecret(creds, 'shop-cert-cacert', { 'ca.crt': ca.certPem });
  [simplePort, mutualPort, missingPort] = await freePorts(3);
  const server = (port: number, name: string, mode: string, credentialName: string) => ({ port: { number: port, name, protocol: 'HTTPS' }, hosts: [HOST], tls: { mode, credentialName } });
  const yaml = toYaml(
    resource('Gateway', 'gw', 'default', {
      selector: { istio: 'ingressgateway' },
      servers: [server(simplePort, 'https', 'SIMPLE', 'shop-cert'), server(mutualPort, 'https-mutual', 'MUTUAL', 'shop-cert'), server(missingPort, 'https-missing', 'SIMPLE', 'not-mounted')],
    }),
    virtualService('shop', { hosts: [HOST], gateways: ['gw'], http: [{ directResponse: { status: 200, body: { string: 'shop' } } }] }),
  );
  proxy = await startProxy({ yaml, args: [...GATEWAY_ARGS, '--credential-dir', creds] });
});

afterAll(async () => {
  await stopAllProxies();
  await rm(dir, { recursive: true, force: true });
});

describe('Gateway credentialName (--credential-dir)', () => {
  it('an HTTPS server serves curl with the credential; config_dump never shows its key', async () => {
    const r = await https(simplePort);
    expect(r.stdout, r.stderr).toBe('shop');
    // the listener names the credential's SDS secret; the secret's key is redacted
    const listeners = (await fetchText(proxy.ports.admin, '/config_dump?resource=dynamic_listeners')).text;
    expect(listeners).toContain('kubernetes://shop-cert');
    expect(listeners).not.toContain('PRIVATE KEY');
    const secrets = (await fetchText(proxy.ports.admin, '/config_dump?resource=dynamic_active_secrets')).text;
    expect(secrets).toContain('[redacted]');
    expect(secrets).not.toContain('PRIVATE KEY');
  });

  it('MUTUAL: client certificates verified against the CA of <name>-cacert', async () => {
    expect((await https(mutualPort)).code).not.toBe(0);
    const r = await https(mutualPort, ['--cert', join(dir, 'client.pem'), '--key', join(dir, 'client.key')]);
    expect(r.stdout, r.stderr).toBe('shop');
  });

  it('a credential that is not mounted: that server is skipped with a warning, the proxy is ready and serves the others', async () => {
    expect(proxy.stderr()).toMatch(/server on port \d+ \(HTTPS with tls mode SIMPLE\) skipped: credential "not-mounted" is not available: credential-dir .*not-mounted\/tls\.crt is missing/);
    expect(await connectOutcome(missingPort)).toBe('refused');
    expect((await fetchText(proxy.ports.health, '/healthz/ready')).status).toBe(200);
  });

  it('a rotation reaches new handshakes; a broken one keeps the last good certificate', async () => {
    expect(await servedSerial(simplePort)).toBe(serialOf(first));
    const second = await issue('ingress');
    await writeMountedSecret(creds, 'shop-cert', { 'tls.crt': second.certChainPem, 'tls.key': second.keyPem });
    const want = serialOf(second);
    expect(await waitFor(async () => (await servedSerial(simplePort)) === want, 5_000, 100)).toBe(true);
    // a key that fits no certificate: reported, and the second certificate goes on being served
    await writeMountedSecret(creds, 'shop-cert', { 'tls.crt': second.certChainPem, 'tls.key': (await issue('other')).keyPem });
    expect(await waitFor(() => /shop-cert\/tls\.key does not match the certificate in shop-cert\/tls\.crt; the last good copy of credential "shop-cert" stays in use/.test(proxy.stderr()), 5_000, 100), proxy.stderr()).toBe(true);
    expect(await servedSerial(simplePort)).toBe(want);
    expect((await https(simplePort)).stdout).toBe('shop');
  });
});
