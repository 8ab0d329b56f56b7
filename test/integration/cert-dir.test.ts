// --cert-dir: the workload certificate is loaded, shown in config_dump (key redacted), watched and
// rotated; a broken rotation is rejected and the last good certificate stays.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueWorkloadCert, writeWorkloadDir, type RootCa } from '../../src/security/ca.js';
import { fetchText, waitFor } from '../helpers/lifecycle.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';

let dir: string;
let ca: RootCa;
let proxy: RunningProxy;

const issue = (sa: string) => issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: sa });

async function secrets(): Promise<{ chain: string; key: string }> {
  const dump = JSON.parse((await fetchText(proxy.ports.admin, '/config_dump?resource=dynamic_active_secrets')).text);
  // as Envoy dumps an SDS secret: the PEM base64 in inline_bytes, the key redacted
  const s = dump.configs[0].dynamic_active_secrets.find((x: { name: string }) => x.name === 'default').secret.tls_certificate;
  return { chain: Buffer.from(s.certificate_chain.inline_bytes, 'base64').toString(), key: s.private_key.inline_string };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outrigger-certdir-'));
  ca = await createRootCa({ trustDomain: 'cluster.local' });
  await writeWorkloadDir(join(dir, 'certs'), await issue('first'));
  proxy = await startProxy({ yaml: '', args: ['--cert-dir', join(dir, 'certs')] });
});

afterAll(async () => {
  await stopAllProxies();
  await rm(dir, { recursive: true, force: true });
});

describe('--cert-dir', () => {
  it('loads the certificate; config_dump shows it with the private key redacted', async () => {
    const s = await secrets();
    expect(s.chain).toMatch(/BEGIN CERTIFICATE/);
    expect(s.key).toBe('[redacted]');
  });

  it('a rotated certificate is picked up; a broken one is rejected and the last good one stays', async () => {
    const before = (await secrets()).chain;
    const next = await issue('second');
    await writeWorkloadDir(join(dir, 'certs'), next);
    expect(await waitFor(async () => (await secrets()).chain === next.certChainPem, 5_000, 100)).toBe(true);
    expect(next.certChainPem).not.toBe(before);
    await writeFile(join(dir, 'certs', 'key.pem'), (await issue('third')).keyPem); // a key that fits no certificate
    expect(await waitFor(() => /key\.pem does not match the certificate/.test(proxy.stderr()), 5_000, 100), proxy.stderr()).toBe(true);
    expect((await secrets()).chain).toBe(next.certChainPem);
  });
});
