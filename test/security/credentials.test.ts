// --credential-dir: credentials named by credentialName, in the layout of mounted Kubernetes secrets,
// validated with errors naming the file, and the last good copy kept through a broken rotation.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueWorkloadCert, type RootCa } from '../../src/security/ca.js';
import { CredentialStore, type CredentialResult } from '../../src/security/credentials.js';
import { writeMountedSecret } from '../helpers/secrets.js';

let dir: string;
let ca: RootCa;
const issue = (sa: string) => issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: sa, dnsNames: ['shop.example.com'] });
const SERVER = { certificate: true, ca: 'optional' } as const;
const MUTUAL = { certificate: true, ca: 'required' } as const;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outrigger-creds-'));
  ca = await createRootCa({ trustDomain: 'cluster.local' });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function errorOf(r: CredentialResult): string {
  if (!('error' in r)) expect.fail(`expected an error, got a credential`);
  return r.error;
}

describe('CredentialStore', () => {
  it('reads a Kubernetes TLS secret (tls.crt, tls.key, ca.crt)', async () => {
    const c = await issue('tls');
    await writeMountedSecret(dir, 'tls-secret', { 'tls.crt': c.certChainPem, 'tls.key': c.keyPem, 'ca.crt': ca.certPem });
    const r = await new CredentialStore(dir).load('tls-secret', MUTUAL);
    expect(r).toEqual({ credential: { certPem: c.certChainPem, keyPem: c.keyPem, caPem: ca.certPem } });
  });

  it("reads Istio's generic secret keys (cert, key, cacert) and a MUTUAL server's CA from <name>-cacert", async () => {
    const c = await issue('generic');
    await writeMountedSecret(dir, 'generic', { cert: c.certChainPem, key: c.keyPem });
    await writeMountedSecret(dir, 'generic-cacert', { 'ca.crt': ca.certPem });
    expect(await new CredentialStore(dir).load('generic', MUTUAL)).toEqual({ credential: { certPem: c.certChainPem, keyPem: c.keyPem, caPem: ca.certPem } });
    // Istio's kubernetes:// spelling names the same secret
    expect(await new CredentialStore(dir).load('kubernetes://generic', SERVER)).toMatchObject({ credential: { certPem: c.certChainPem } });
  });

  it('errors name the directory and the file', async () => {
    const store = new CredentialStore(dir);
    expect(errorOf(await store.load('nope', SERVER))).toBe(`credential-dir ${dir}: nope/tls.crt is missing (no tls.crt or cert in ${join(dir, 'nope')})`);
    const a = await issue('a');
    const b = await issue('b');
    await writeMountedSecret(dir, 'mismatch', { 'tls.crt': a.certChainPem, 'tls.key': b.keyPem });
    expect(errorOf(await store.load('mismatch', SERVER))).toBe(`credential-dir ${dir}: mismatch/tls.key does not match the certificate in mismatch/tls.crt`);
    expect(errorOf(await store.load('mismatch-free', MUTUAL))).toMatch(/mismatch-free\/tls\.crt is missing/);
    await writeMountedSecret(dir, 'no-ca', { 'tls.crt': a.certChainPem, 'tls.key': a.keyPem });
    expect(errorOf(await store.load('no-ca', MUTUAL))).toMatch(/no-ca\/ca\.crt is missing: a MUTUAL server needs a CA \(ca\.crt or cacert in .*no-ca or in .*no-ca-cacert\)/);
    await writeMountedSecret(dir, 'garbage', { 'tls.crt': 'not a certificate', 'tls.key': a.keyPem });
    expect(errorOf(await store.load('garbage', SERVER))).toMatch(/garbage\/tls\.crt contains no PEM certificate/);
    expect(errorOf(await store.load('../etc', SERVER))).toMatch(/\.\.\/etc is not a valid credential name/);
  });

  it('the directory itself must exist', async () => {
    await expect(new CredentialStore(join(dir, 'absent')).checkDir()).rejects.toThrow(`credential-dir ${join(dir, 'absent')}: no such directory`);
    await writeFile(join(dir, 'a-file'), '');
    await expect(new CredentialStore(join(dir, 'a-file')).checkDir()).rejects.toThrow('not a directory');
    await expect(new CredentialStore(dir).checkDir()).resolves.toBeUndefined();
  });

  it('a broken rotation keeps the last good copy (with a warning); a fixed one is taken', async () => {
    const store = new CredentialStore(dir);
    const first = await issue('first');
    await writeMountedSecret(dir, 'rotating', { 'tls.crt': first.certChainPem, 'tls.key': first.keyPem });
    expect(await store.load('rotating', SERVER)).toMatchObject({ credential: { certPem: first.certChainPem } });
    const second = await issue('second');
    await writeFile(join(dir, 'rotating', '..data', 'tls.key'), second.keyPem); // half-way through a rotation
    const kept = await store.load('rotating', SERVER);
    expect(kept).toMatchObject({ credential: { certPem: first.certChainPem, keyPem: first.keyPem } });
    expect('warning' in kept && kept.warning).toMatch(/rotating\/tls\.key does not match the certificate in rotating\/tls\.crt; the last good copy of credential "rotating" stays in use/);
    await writeMountedSecret(dir, 'rotating', { 'tls.crt': second.certChainPem, 'tls.key': second.keyPem });
    expect(await store.load('rotating', SERVER)).toEqual({ credential: { certPem: second.certChainPem, keyPem: second.keyPem } });
  });

  it('an expired certificate is served with a warning, as Istio does', async () => {
    const old = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'old', notBefore: new Date(Date.now() - 2 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    await writeMountedSecret(dir, 'expired', { 'tls.crt': old.certChainPem, 'tls.key': old.keyPem });
    const r = await new CredentialStore(dir).load('expired', SERVER);
    expect(r).toMatchObject({ credential: { certPem: old.certChainPem } });
    expect('warning' in r && r.warning).toMatch(/expired\/tls\.crt is expired or not yet valid/);
  });
});
