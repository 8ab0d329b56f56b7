// The worker's TLS material: mesh mTLS termination verified by Node's own checks, and rotation —
// new handshakes use a new certificate, connections already up keep theirs.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect, createServer as createTlsServer, type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateValidationContext, Cluster, TlsParameters } from '../../src/config/snapshot.js';
import { workloadSecrets, type WorkloadCertificate } from '../../src/config/secrets.js';
import { createRootCa, issueWorkloadCert, type RootCa } from '../../src/security/ca.js';
import { selectAlpn, TlsStore } from '../../src/security/tls-store.js';
import { compileSanCheck } from '../../src/security/san-matcher.js';
import { autoMtlsMatches, meshUpstreamTls, tlsTransportSocket } from '../../src/config/istio/upstream-tls.js';
import { MESH_DOWNSTREAM_ALPN_TCP, meshDownstreamTls } from '../../src/config/istio/downstream-tls.js';

/** Inbound mesh mTLS as istiod configures it for a TCP port. */
const MESH_TLS = meshDownstreamTls('cluster.local', MESH_DOWNSTREAM_ALPN_TCP).typedConfig;

let ca: RootCa;
let store: TlsStore;
let server: Server;
let port: number;
const open = new Set<Socket>();

function secret(sa: string, root = ca): Promise<WorkloadCertificate> {
  return issueWorkloadCert({ caCertPem: root.certPem, caKeyPem: root.keyPem, trustDomain: 'cluster.local', namespace: 'ns', serviceAccount: sa });
}

beforeAll(async () => {
  ca = await createRootCa({ trustDomain: 'cluster.local' });
  store = new TlsStore();
  store.update(workloadSecrets(await secret('server-a')));
  expect(store.workloadIdentity).toBe('spiffe://cluster.local/ns/ns/sa/server-a');
  // an echo over whatever TLS the store terminates
  server = createServer((raw) => {
    open.add(raw);
    store.terminate(raw, MESH_TLS, (secure) => {
      if (!secure) return void raw.destroy();
      secure.on('data', (b) => secure.write(b));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const s of open) s.destroy();
  await new Promise((r) => server.close(r));
});

function dial(client: WorkloadCertificate | undefined): Promise<TLSSocket | Error> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1', ca: ca.certPem, ...(client ? { cert: client.certChainPem, key: client.keyPem } : {}), checkServerIdentity: () => undefined, ALPNProtocols: ['istio'] });
    s.once('secureConnect', () => {
      // the server may still refuse the client certificate after the client's side is done
      s.write('ping');
      s.once('data', () => resolve(s));
    });
    s.once('error', (e) => resolve(e));
    s.once('close', () => resolve(new Error('closed')));
  });
}

const serverSan = (s: TLSSocket) => s.getPeerCertificate().subjectaltname;

describe('TlsStore', () => {
  it('terminates mesh mTLS for a client certificate from the mesh CA, and refuses others', async () => {
    const good = await dial(await secret('client'));
    expect(good).not.toBeInstanceOf(Error);
    (good as TLSSocket).destroy();
    expect(await dial(undefined)).toBeInstanceOf(Error);
    expect(await dial(await secret('client', await createRootCa({ trustDomain: 'cluster.local' })))).toBeInstanceOf(Error);
  });

  it('rotation: new handshakes get the new certificate; a connection already up keeps working', async () => {
    const client = await secret('client');
    const before = (await dial(client)) as TLSSocket;
    expect(serverSan(before)).toBe('URI:spiffe://cluster.local/ns/ns/sa/server-a');
    store.update(workloadSecrets(await secret('server-b')));
    expect(store.workloadIdentity).toBe('spiffe://cluster.local/ns/ns/sa/server-b');
    const after = (await dial(client)) as TLSSocket;
    expect(serverSan(after)).toBe('URI:spiffe://cluster.local/ns/ns/sa/server-b');
    const echoed = await new Promise<string>((r) => {
      before.once('data', (b) => r(String(b)));
      before.write('still here');
    });
    expect(echoed).toBe('still here');
    before.destroy();
    after.destroy();
  });
});

const mesh = () => meshUpstreamTls([], 'outbound_.9080_.v1_.reviews');

describe('client options', () => {
  // clientOptions reads only the cluster's transport socket and its matches
  const cluster = { name: 'outbound|9080|v1|reviews', transportSocketMatches: autoMtlsMatches(mesh()) } as Partial<Cluster> as Cluster;
  const endpoint = { address: '10.0.0.1', tlsMode: 'istio' as const };

  it('auto mTLS by transport socket match: a sidecar endpoint gets the SNI the config gives and Istio\'s ALPN, another plaintext', () => {
    expect(store.clientOptions(cluster, endpoint, 'http')).toMatchObject({ servername: 'outbound_.9080_.v1_.reviews', ALPNProtocols: ['istio-http/1.1', 'istio'] });
    // istio-peer-exchange is in the context (as istiod sends it) but never offered: no MX preamble is spoken
    expect(store.clientOptions(cluster, endpoint, 'tcp')).toMatchObject({ ALPNProtocols: ['istio'] });
    expect(store.clientOptions(cluster, { address: endpoint.address }, 'http')).toBeUndefined();
  });

  it('a context naming a secret the Snapshot lacks cannot connect', () => {
    const other = new TlsStore();
    expect(other.clientOptions(cluster, endpoint, 'tcp')).toBeInstanceOf(Error);
    const files = { name: 'c', transportSocket: tlsTransportSocket({ commonTlsContext: { combinedValidationContext: { defaultValidationContext: {}, validationContextSdsSecretConfig: { name: 'file-root:/etc/ca.pem' } } } }) } as Partial<Cluster> as Cluster;
    expect(String(other.clientOptions(files, endpoint, 'tcp'))).toMatch(/TLS secret "file-root:\/etc\/ca.pem" is not available/);
    other.update([{ name: 'file-root:/etc/ca.pem', validationContext: { trustedCa: ca.certPem } }]);
    expect(other.clientOptions(files, endpoint, 'tcp')).toMatchObject({ servername: '10.0.0.1', rejectUnauthorized: true });
  });

  it('SAN matchers: exact, prefix and typed (a DNS matcher does not accept a URI SAN)', () => {
    const check = (v: CertificateValidationContext, sans: string) => compileSanCheck(v)({ subjectaltname: sans } as PeerCertificate);
    expect(check({ matchSubjectAltNames: [{ exact: 'spiffe://cluster.local/ns/a/sa/b' }] }, 'URI:spiffe://cluster.local/ns/a/sa/b')).toBeUndefined();
    expect(check({ matchSubjectAltNames: [{ exact: 'spiffe://cluster.local/ns/a/sa/b' }] }, 'URI:spiffe://cluster.local/ns/a/sa/bx')).toBeInstanceOf(Error);
    expect(check({ matchSubjectAltNames: [{ prefix: 'spiffe://cluster.local/' }] }, 'DNS:x, URI:spiffe://cluster.local/ns/a/sa/b')).toBeUndefined();
    expect(check({ matchTypedSubjectAltNames: [{ sanType: 'DNS', matcher: { exact: 'api.example.com' } }] }, 'URI:api.example.com')).toBeInstanceOf(Error);
    expect(check({ matchTypedSubjectAltNames: [{ sanType: 'DNS', matcher: { exact: 'api.example.com' } }] }, 'DNS:api.example.com')).toBeUndefined();
    expect(check({}, 'DNS:anything')).toBeUndefined();
  });
});

describe('server ALPN (Envoy: the server\'s first protocol the client offers; none in common: no ALPN)', () => {
  it('picks by the server\'s preference', () => {
    expect(selectAlpn(['h2', 'http/1.1'], ['http/1.1', 'h2'])).toBe('h2');
  });

  it('never selects istio-peer-exchange (the metadata-exchange preamble is not spoken), even when both sides list it', () => {
    expect(selectAlpn(['istio-peer-exchange', 'h2', 'http/1.1'], ['istio-peer-exchange', 'istio'])).toBe('istio');
    expect(selectAlpn(['istio-peer-exchange', 'h2', 'http/1.1'], ['istio-peer-exchange'])).toBeUndefined();
  });

  it('nothing in common: a mesh client offering istio-http/1.1 is served (as HTTP/1.1), a client offering only HTTP/2 is refused', () => {
    expect(selectAlpn(['h2', 'http/1.1'], ['istio-http/1.1', 'istio'])).toBe('istio-http/1.1');
    expect(selectAlpn(['http/1.1'], ['h2'])).toBeUndefined();
  });
});

describe('TLS parameters (Envoy tls_params: cipher_suites, ecdh_curves, maximum version)', () => {
  const params = (tlsParams: TlsParameters) => ({ ...MESH_TLS, commonTlsContext: { ...MESH_TLS.commonTlsContext, tlsParams } });

  /** A server terminating with `tls`; the client offers what `options` say, TLS 1.2 unless told. */
  async function handshake(tls: ReturnType<typeof params>, options: ConnectionOptions): Promise<TLSSocket | Error> {
    const srv = createServer((raw) => {
      open.add(raw);
      store.terminate(raw, tls, (secure) => (secure ? secure.on('data', (b) => secure.write(b)) : raw.destroy()));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const client = await secret('client');
    try {
      return await new Promise<TLSSocket | Error>((resolve) => {
        const s = connect({ port: (srv.address() as AddressInfo).port, host: '127.0.0.1', ca: ca.certPem, cert: client.certChainPem, key: client.keyPem, checkServerIdentity: () => undefined, ...options });
        s.once('secureConnect', () => {
          s.write('ping');
          s.once('data', () => resolve(s));
        });
        s.once('error', (e) => resolve(e));
        s.once('close', () => resolve(new Error('closed')));
      });
    } finally {
      srv.close();
    }
  }

  it('a client offering only a cipher suite the context excludes fails the handshake; one it allows gets through', async () => {
    const only = params({ cipherSuites: ['ECDHE-RSA-AES256-GCM-SHA384'] });
    expect(await handshake(only, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' })).toBeInstanceOf(Error);
    const ok = (await handshake(only, { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' })) as TLSSocket;
    expect(ok.getCipher().standardName).toBe('TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384');
    ok.destroy();
    // TLS 1.3 suites are not Envoy's to configure: a TLS 1.3 client is still served
    const v13 = (await handshake(only, {})) as TLSSocket;
    expect(v13.getProtocol()).toBe('TLSv1.3');
    v13.destroy();
  });

  it('ecdh_curves: a client offering only another group fails; the maximum version caps the protocol', async () => {
    expect(await handshake(params({ ecdhCurves: ['P-384'] }), { ecdhCurve: 'X25519' })).toBeInstanceOf(Error);
    const ok = (await handshake(params({ ecdhCurves: ['P-384'] }), { ecdhCurve: 'P-384' })) as TLSSocket;
    ok.destroy();
    const capped = (await handshake(params({ tlsMaximumProtocolVersion: 'TLSv1_2' }), {})) as TLSSocket;
    expect(capped.getProtocol()).toBe('TLSv1.2');
    capped.destroy();
  });

  it('upstream: the client context offers only the context\'s cipher suites', async () => {
    const upstream = { ...mesh(), commonTlsContext: { ...mesh().commonTlsContext, tlsParams: { tlsMaximumProtocolVersion: 'TLSv1_2' as const, cipherSuites: ['ECDHE-RSA-AES128-GCM-SHA256'] } } };
    const c = { name: 'c', transportSocket: tlsTransportSocket(upstream) } as Partial<Cluster> as Cluster;
    const options = store.clientOptions(c, { address: '127.0.0.1', tlsMode: 'istio' }, 'tcp') as ConnectionOptions;
    const serverCert = await secret('server');
    const srv = createTlsServer({ cert: serverCert.certChainPem, key: serverCert.keyPem, ciphers: 'ECDHE-RSA-AES256-GCM-SHA384', maxVersion: 'TLSv1.2' }, (s) => s.end());
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const result = await new Promise<Error | undefined>((resolve) => {
      const s = connect({ ...options, port: (srv.address() as AddressInfo).port, host: '127.0.0.1' });
      s.once('secureConnect', () => resolve(undefined));
      s.once('error', (e) => resolve(e));
    });
    srv.close();
    expect(result).toBeInstanceOf(Error);
  });
});
