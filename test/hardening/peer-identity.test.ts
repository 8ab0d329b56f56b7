// Client-certificate identities at a gateway MUTUAL server, with an AuthorizationPolicy on
// principals, on real sockets: service-account names with dots are compared literally (not as a
// regex), a URI SAN with an embedded NUL or a `, URI:` inside it is one SAN (Envoy reads each
// GeneralName on its own) and matches nothing it merely contains; and with two servers on one port
// (SIMPLE for one host, MUTUAL for another) the Host header cannot carry a request from the SIMPLE
// server's TLS session to the MUTUAL server's routes: each server has its own route config, as
// istiod builds it, so a Host/SNI mismatch never bypasses the client-cert requirement: the
// AuthorizationPolicy refuses it (403: the RBAC filter runs before the router, as in Envoy) or the
// server's own routes do not have it (404 NR).
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import forge from 'node-forge';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueWorkloadCert, type RootCa } from '../../src/security/ca.js';
import { svcHost } from '../helpers/fixtures.js';
import { rawStatus } from '../helpers/http.js';
import { GATEWAY_ARGS, resource, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const OPEN = 'open.example.com';
const MTLS = 'mtls.example.com';
let app: Upstream;
let ca: RootCa;
let server: { certChainPem: string; keyPem: string };
let port: number;

/** A client certificate signed by `ca` whose only SAN is the URI given, byte for byte (NUL and commas included). */
function clientCert(uri: string): { cert: string; key: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  // a positive DER INTEGER in its minimal form: `0` + random hex read as bytes 00 00 ... when the first
  // random byte is 0 (1 in 256), which OpenSSL refuses (illegal padding)
  cert.serialNumber = `01${forge.util.bytesToHex(forge.random.getBytesSync(8))}`;
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 3_600_000);
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  cert.setSubject([{ name: 'organizationName', value: 'hardening' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', clientAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 6, value: uri }] },
  ]);
  const caKey = forge.pki.privateKeyFromPem(createPrivateKey(ca.keyPem).export({ type: 'pkcs1', format: 'pem' }).toString());
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

beforeAll(async () => {
  app = await startUpstream(undefined, 'app');
  ca = await createRootCa({ trustDomain: 'cluster.local' });
  server = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'edge', serviceAccount: 'gw', dnsNames: [OPEN, MTLS] });
  port = await freePort();
  const tls = (mode: string) => ({ mode, serverCertificate: 'server.pem', privateKey: 'server.key', ...(mode === 'MUTUAL' ? { caCertificates: 'ca.pem' } : {}) });
  const yaml = [
    toYaml(
      serviceEntry({ name: 'app', host: svcHost('app'), port: 80, endpoints: [{ port: app.port }] }),
      resource('Gateway', 'gw', 'default', {
        selector: { istio: 'ingressgateway' },
        servers: [
          { port: { number: port, name: 'https-open', protocol: 'HTTPS' }, hosts: [OPEN], tls: tls('SIMPLE') },
          { port: { number: port, name: 'https-mtls', protocol: 'HTTPS' }, hosts: [MTLS], tls: tls('MUTUAL') },
        ],
      }),
      virtualService('app', { hosts: [OPEN, MTLS], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost('app'), port: { number: 80 } } }] }] }),
    ),
    stringify({
      apiVersion: 'security.istio.io/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: 'mtls-principals', namespace: 'default' },
      spec: { action: 'ALLOW', rules: [{ to: [{ operation: { hosts: [OPEN] } }] }, { from: [{ source: { principals: ['cluster.local/ns/a.b/sa/c', 'cluster.local/ns/team/*'] } }], to: [{ operation: { hosts: [MTLS] } }] }] },
    }),
  ].join('---\n');
  const { mkdtemp, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = await mkdtemp(join(tmpdir(), 'outrigger-peer-'));
  await writeFile(join(dir, 'server.pem'), server.certChainPem);
  await writeFile(join(dir, 'server.key'), server.keyPem);
  await writeFile(join(dir, 'ca.pem'), ca.certPem);
  await startProxy({ yaml: yaml.replaceAll(/(serverCertificate|privateKey|caCertificates): (\S+)/g, (_m, k, f) => `${k}: ${join(dir, f)}`), args: GATEWAY_ARGS });
});

afterAll(async () => {
  await stopAllProxies();
  await app.close();
});

/** One HTTP/1.1 request over TLS with this SNI, client certificate and Host: the status, or the handshake error. */
function request(opts: { sni: string; host: string; client?: { cert: string; key: string } }): Promise<{ status: number; reachedApp: boolean } | { error: string }> {
  const before = app.requests.length;
  return new Promise((resolve) => {
    let data = '';
    const s = tlsConnect({ port, host: '127.0.0.1', servername: opts.sni, ca: ca.certPem, ALPNProtocols: ['http/1.1'], ...(opts.client ?? {}) }, () => {
      s.write(`GET /who HTTP/1.1\r\nhost: ${opts.host}\r\nconnection: close\r\n\r\n`);
    });
    s.setEncoding('latin1');
    s.on('data', (d: string) => (data += d));
    s.on('error', (e) => resolve({ error: e.message }));
    s.on('close', () => resolve(data ? { status: rawStatus(data), reachedApp: app.requests.length > before } : { error: 'closed without a response' }));
    setTimeout(() => s.destroy(), 5_000).unref();
  });
}

describe('principals from client certificates', () => {
  it('an exact principal with dots matches its own SAN only: the dots are not regex wildcards', async () => {
    expect(await request({ sni: MTLS, host: MTLS, client: clientCert('spiffe://cluster.local/ns/a.b/sa/c') })).toEqual({ status: 200, reachedApp: true });
    for (const uri of ['spiffe://cluster.local/ns/aXb/sa/c', 'spiffe://cluster.local/ns/a-b/sa/c', 'spiffe://cluster.local/ns/a.b/sa/cc', 'spiffe://cluster.local/ns/a.b/sa/c/x']) {
      expect(await request({ sni: MTLS, host: MTLS, client: clientCert(uri) }), uri).toEqual({ status: 403, reachedApp: false });
    }
  });

  it('a URI SAN with an embedded NUL matches neither the exact principal nor anything before the NUL', async () => {
    for (const uri of ['spiffe://cluster.local/ns/a.b/sa/c\0', 'spiffe://cluster.local/ns/a.b/sa/c\0.evil', 'spiffe://evil\0spiffe://cluster.local/ns/team/sa/x']) {
      expect(await request({ sni: MTLS, host: MTLS, client: clientCert(uri) }), JSON.stringify(uri)).toEqual({ status: 403, reachedApp: false });
    }
  });

  it('a URI SAN holding ", URI:<allowed id>" is one SAN: it does not smuggle in a second identity', async () => {
    for (const uri of ['spiffe://evil.example/x, URI:spiffe://cluster.local/ns/team/sa/x', 'spiffe://evil.example/x, URI:spiffe://cluster.local/ns/a.b/sa/c']) {
      expect(await request({ sni: MTLS, host: MTLS, client: clientCert(uri) }), uri).toEqual({ status: 403, reachedApp: false });
    }
    // the prefix rule itself works
    expect(await request({ sni: MTLS, host: MTLS, client: clientCert('spiffe://cluster.local/ns/team/sa/x') })).toEqual({ status: 200, reachedApp: true });
  });
});

describe('SNI and Host on one port with a SIMPLE and a MUTUAL server', () => {
  it('the MUTUAL server refuses a handshake without a client certificate', async () => {
    const r = await request({ sni: MTLS, host: MTLS });
    // the handshake itself fails: no HTTP answer at all (a 403 would mean it was accepted)
    expect(r).toHaveProperty('error');
  });

  it('SNI of the SIMPLE server with the MUTUAL server\'s Host: refused by the policy (no principal on that session), never the MUTUAL server\'s routes', async () => {
    expect(await request({ sni: OPEN, host: OPEN })).toEqual({ status: 200, reachedApp: true });
    expect(await request({ sni: OPEN, host: MTLS })).toEqual({ status: 403, reachedApp: false });
    expect(await request({ sni: OPEN, host: `${MTLS}:443` })).toEqual({ status: 403, reachedApp: false });
  });

  it('SNI of the MUTUAL server with the SIMPLE server\'s Host: the MUTUAL routes only (404), though the client has a certificate', async () => {
    expect(await request({ sni: MTLS, host: OPEN, client: clientCert('spiffe://cluster.local/ns/a.b/sa/c') })).toEqual({ status: 404, reachedApp: false });
  });
});
