import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createRootCa, issueWorkloadCert } from '../../src/security/ca.js';
import { AdsClient } from '../../src/xds/ads-client.js';
import { SdsClient } from '../../src/xds/sds-client.js';
import { TYPE_URLS } from '../../src/xds/resource-types.js';
import { XdsTestServer } from '../helpers/xds-server.js';
import { cluster, NODE, RecordingHandler, secret, until } from './fixtures.js';

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sds-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe("SdsClient: StreamSecrets on pilot-agent's workload socket", () => {
  it('fetches the secrets it names, ACKs, takes a rotation push, and follows name changes', async () => {
    const dir = tempDir();
    const sds = await XdsTestServer.start({ unix: path.join(dir, 'socket') });
    cleanup.push(() => sds.close());
    sds.set(TYPE_URLS.secret, [secret('default', 'CERT-1'), secret('ROOTCA', 'ROOT-1'), secret('file-cert:/etc/certs/cert.pem~/etc/certs/key.pem', 'FILE-1')]);
    const client = new SdsClient({ target: { kind: 'unix', path: path.join(dir, 'socket') }, node: NODE, retryBaseMs: 20, retryMaxMs: 100 });
    cleanup.push(() => client.close());
    const secrets = new RecordingHandler();
    const stats = client.watchSecrets(secrets);
    client.subscribeSecrets(['default', 'ROOTCA']);
    client.start();
    await until(() => secrets.current.size === 2, 5000, 'default and ROOTCA');
    const first = await sds.waitForRequest((r) => r.kind === 'sds');
    expect(first).toMatchObject({ typeUrl: TYPE_URLS.secret, names: ['default', 'ROOTCA'], nonce: '' });
    expect(first.node).toMatchObject({ id: NODE.id });

    // rotation: the agent pushes a new certificate under the same name
    const [push] = sds.put(TYPE_URLS.secret, [secret('default', 'CERT-2')]);
    const ack = await sds.reply(push!);
    expect(ack).toMatchObject({ kind: 'sds', versionInfo: push!.version, names: ['default', 'ROOTCA'] });
    expect(ack.errorDetail).toBeUndefined();
    expect(secrets.current.get('default')).toMatchObject({ tls_certificate: { certificate_chain: { inline_string: 'CERT-2' } } });
    expect(secrets.updates.at(-1)!.updated.map((r) => r.name)).toEqual(['default']); // ROOTCA unchanged
    expect(stats.update_success).toBe(2);

    // a file-cert secret named by a DestinationRule's client certificate
    client.subscribeSecrets(['default', 'ROOTCA', 'file-cert:/etc/certs/cert.pem~/etc/certs/key.pem']);
    await until(() => secrets.current.has('file-cert:/etc/certs/cert.pem~/etc/certs/key.pem'), 5000, 'the file-cert secret');
  });
});

describe('TLS to the control plane', () => {
  it('verifies the server against the CA under the SNI name and presents a client certificate', async () => {
    const ca = await createRootCa({ trustDomain: 'cluster.local' });
    const server = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'istio-system', serviceAccount: 'istiod', dnsNames: ['istiod.istio-system.svc'] });
    const workload = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'productpage' });
    const xds = await XdsTestServer.start({ tls: { certChainPem: server.certChainPem, keyPem: server.keyPem, clientCaPem: ca.certPem } });
    cleanup.push(() => xds.close());
    xds.set(TYPE_URLS.cluster, [cluster('a')]);
    const dir = tempDir();
    writeFileSync(path.join(dir, 'root-cert.pem'), ca.certPem);
    const target = xds.target as { kind: 'tcp'; host: string; port: number };
    const c = new AdsClient({
      target: { ...target, tls: { ca: { file: path.join(dir, 'root-cert.pem') }, cert: { pem: workload.certChainPem }, key: { pem: workload.keyPem }, serverName: 'istiod.istio-system.svc' } },
      node: NODE,
    });
    cleanup.push(() => c.close());
    const cds = new RecordingHandler();
    c.watch(TYPE_URLS.cluster, cds);
    c.start();
    await until(() => cds.current.has('a'), 10_000, 'CDS over TLS');
  });

  it('a server name the certificate does not hold never connects', async () => {
    const ca = await createRootCa({ trustDomain: 'cluster.local' });
    const server = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'istio-system', serviceAccount: 'istiod', dnsNames: ['istiod.istio-system.svc'] });
    const xds = await XdsTestServer.start({ tls: { certChainPem: server.certChainPem, keyPem: server.keyPem } });
    cleanup.push(() => xds.close());
    xds.set(TYPE_URLS.cluster, [cluster('a')]);
    const target = xds.target as { kind: 'tcp'; host: string; port: number };
    const c = new AdsClient({ target: { ...target, tls: { ca: { pem: ca.certPem }, serverName: 'evil.example.com' } }, node: NODE, retryBaseMs: 20, retryMaxMs: 50 });
    cleanup.push(() => c.close());
    const cds = new RecordingHandler();
    const stats = c.watch(TYPE_URLS.cluster, cds);
    c.start();
    await until(() => stats.update_failure >= 2, 10_000, 'failed attempts');
    expect(xds.requests).toHaveLength(0);
    expect(cds.updates).toHaveLength(0);
    expect(c.controlPlane.connected_state).toBe(0);
  });
});
