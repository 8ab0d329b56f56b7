// credentialName on Gateway servers and DestinationRules, resolved from --credential-dir before translation.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveCredentials } from '../../src/config/istio/resolve-credentials.js';
import { translateIstio } from '../../src/config/istio/translate.js';
import { createRootCa, issueWorkloadCert, type IssuedWorkloadCert, type RootCa } from '../../src/security/ca.js';
import { CredentialStore } from '../../src/security/credentials.js';
import type { Snapshot } from '../../src/config/snapshot.js';
import { writeMountedSecret } from '../helpers/secrets.js';
import { cluster, downstreamTls, gatewayNode, listener, parseYaml, secretNames, sidecarNode, tcpProxyOf } from './helpers.js';

let dir: string;
let ca: RootCa;
let cert: IssuedWorkloadCert;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outrigger-credcfg-'));
  ca = await createRootCa({ trustDomain: 'cluster.local' });
  cert = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'gw', dnsNames: ['shop.example.com'] });
  await writeMountedSecret(dir, 'shop-cert', { 'tls.crt': cert.certChainPem, 'tls.key': cert.keyPem, 'ca.crt': ca.certPem });
  await writeMountedSecret(dir, 'client-cert', { 'tls.crt': cert.certChainPem, 'tls.key': cert.keyPem, 'ca.crt': ca.certPem });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const node = gatewayNode({ namespace: 'default' });
const GW = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: default }
spec:
  selector: { istio: ingressgateway }
  servers:
  - { port: { number: 443, name: https, protocol: HTTPS }, hosts: [shop.example.com], tls: { mode: MUTUAL, credentialName: shop-cert } }
  - { port: { number: 8443, name: https-b, protocol: HTTPS }, hosts: [b.example.com], tls: { mode: SIMPLE, credentialName: absent } }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: vs, namespace: default }
spec: { hosts: ["*"], gateways: [gw], http: [{ directResponse: { status: 200 } }] }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: api, namespace: default }
spec: { hosts: [api.example.com], location: MESH_EXTERNAL, resolution: STATIC, ports: [{ number: 443, name: tls, protocol: TLS }], endpoints: [{ address: 10.0.0.1 }] }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: api, namespace: default }
spec: { host: api.example.com, trafficPolicy: { tls: { mode: MUTUAL, credentialName: client-cert, sni: api.example.com } } }
`;

async function load(store: CredentialStore | undefined, previous?: Snapshot) {
  const cfg = parseYaml(GW, 'default');
  await resolveCredentials(cfg, node, store);
  return translateIstio(cfg, node, { outboundPort: 15001, previous });
}

describe('credentialName', () => {
  it('a Gateway server gets its certificate, key and CA from the credential', async () => {
    const t = await load(new CredentialStore(dir));
    expect(secretNames(downstreamTls(listener(t, '0.0.0.0_443').filterChains[0]))).toEqual(['kubernetes://shop-cert', 'kubernetes://shop-cert-cacert']);
    expect(t.snapshot.secrets).toEqual(expect.arrayContaining([
      { name: 'kubernetes://shop-cert', tlsCertificate: { certificateChain: cert.certChainPem, privateKey: cert.keyPem } },
      { name: 'kubernetes://shop-cert-cacert', validationContext: { trustedCa: ca.certPem } },
      { name: 'kubernetes://client-cert', tlsCertificate: { certificateChain: cert.certChainPem, privateKey: cert.keyPem } },
      { name: 'kubernetes://client-cert-cacert', validationContext: { trustedCa: ca.certPem } },
    ]));
  });

  it('a credential that is not there: its server is skipped with a warning (the rest is served), as when Istio gets no SDS secret', async () => {
    const t = await load(new CredentialStore(dir));
    expect(t.snapshot.listeners.map((l) => l.name)).toEqual(['0.0.0.0_443']);
    expect(t.warnings.join('\n')).toMatch(/Gateway default\/gw: server on port 8443 \(HTTPS with tls mode SIMPLE\) skipped: credential "absent" is not available: credential-dir .*: absent\/tls\.crt is missing/);
  });

  it('a DestinationRule MUTUAL credential: the client certificate, key and CA of the cluster', async () => {
    const t = await load(new CredentialStore(dir));
    // istiod's shape: the credential's certificate and CA by SDS name, the PEM in the Snapshot's secrets
    expect(cluster(t, 'outbound|443||api.example.com').transportSocket).toEqual({
      name: 'envoy.transport_sockets.tls',
      typedConfig: {
        commonTlsContext: {
          tlsCertificateSdsSecretConfigs: [{ name: 'kubernetes://client-cert' }],
          combinedValidationContext: { defaultValidationContext: {}, validationContextSdsSecretConfig: { name: 'kubernetes://client-cert-cacert' } },
        },
        sni: 'api.example.com',
      },
    });
    expect(t.snapshot.secrets).toEqual(expect.arrayContaining([
      { name: 'kubernetes://client-cert', tlsCertificate: { certificateChain: cert.certChainPem, privateKey: cert.keyPem } },
      { name: 'kubernetes://client-cert-cacert', validationContext: { trustedCa: ca.certPem } },
    ]));
  });

  it('a rotated credential changes its secrets alone: listeners and clusters (and their versions) stay as they were', async () => {
    const own = await mkdtemp(join(tmpdir(), 'outrigger-credrot-'));
    try {
      const write = async (c: IssuedWorkloadCert) => {
        for (const name of ['shop-cert', 'client-cert']) await writeMountedSecret(own, name, { 'tls.crt': c.certChainPem, 'tls.key': c.keyPem, 'ca.crt': ca.certPem });
      };
      await write(cert);
      const before = await load(new CredentialStore(own));
      await write(await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'gw2', dnsNames: ['shop.example.com'] }));
      const after = await load(new CredentialStore(own), before.snapshot);
      expect(after.snapshot.listeners).toEqual(before.snapshot.listeners);
      expect(after.snapshot.clusters).toEqual(before.snapshot.clusters);
      expect(after.snapshot.resourceVersions.clusters).toEqual(before.snapshot.resourceVersions.clusters);
      const changed = Object.keys(after.snapshot.resourceVersions.secrets).filter((n) => after.snapshot.resourceVersions.secrets[n] !== before.snapshot.resourceVersions.secrets[n]);
      expect(changed.sort()).toEqual(['kubernetes://client-cert', 'kubernetes://shop-cert']);
    } finally {
      await rm(own, { recursive: true, force: true });
    }
  });

  it('without --credential-dir: servers naming a credential are skipped, DestinationRules warned about', async () => {
    const t = await load(undefined);
    expect(t.snapshot.listeners).toEqual([]);
    expect(t.warnings.join('\n')).toMatch(/credentialName needs --credential-dir/);
    expect(t.warnings.join('\n')).toMatch(/DestinationRule default\/api: tls credential "client-cert" is not available .*TLS to its upstreams fails until it is/);
  });
});

describe('credentialName on a Sidecar ingress tls', () => {
  const SIDECAR = `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: default }
spec:
  ingress:
  - { port: { number: 8443, name: https, protocol: HTTPS }, captureMode: NONE, defaultEndpoint: "127.0.0.1:8080", tls: { mode: SIMPLE, credentialName: shop-cert } }
  - { port: { number: 9443, name: https-b, protocol: HTTPS }, captureMode: NONE, defaultEndpoint: "127.0.0.1:8080", tls: { mode: SIMPLE, credentialName: absent } }
  - { port: { number: 7443, name: https-c, protocol: HTTPS }, defaultEndpoint: "127.0.0.1:8080", tls: { mode: SIMPLE, credentialName: absent } }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: default }
spec: { mtls: { mode: DISABLE } }
`;
  const sidecar = sidecarNode();

  it('terminates with the credential; a missing one is never served without TLS (bound: no listener; captured: refused)', async () => {
    const cfg = parseYaml(SIDECAR, 'default');
    await resolveCredentials(cfg, sidecar, new CredentialStore(dir));
    const t = translateIstio(cfg, sidecar, { outboundPort: 15001 });
    expect(listener(t, '0.0.0.0_8443').filterChains.map((c) => secretNames(downstreamTls(c)))).toEqual([['kubernetes://shop-cert', undefined]]);
    expect(t.snapshot.secrets).toMatchObject([{ name: 'kubernetes://shop-cert', tlsCertificate: { certificateChain: cert.certChainPem } }]);
    expect(t.snapshot.listeners.some((l) => l.name === '0.0.0.0_9443')).toBe(false);
    expect(listener(t, 'virtualInbound').filterChains.filter((c) => c.match.destinationPort === 7443).map((c) => [c.name, tcpProxyOf(c)?.clusters[0].name])).toEqual([['0.0.0.0_7443_refused', 'BlackHoleCluster']]);
    expect(t.warnings.filter((w) => w.includes('credential "absent" is not available'))).toHaveLength(2);
  });
});
