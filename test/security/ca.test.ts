// The development CA: root and workload certificates shaped like istiod's, written in Istio's
// file-mounted layout, and usable for real mutual TLS.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueWorkloadCert, readCaDir, writeCaDir, writeWorkloadDir, type IssuedWorkloadCert, type RootCa } from '../../src/security/ca.js';
import type { SpiffeIdentity } from '../../src/security/spiffe.js';
import { CertError, peerIdentityFromCert } from '../../src/security/workload-certs.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'outrigger-ca-'));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

let root: RootCa;
let foreign: RootCa;
let web: IssuedWorkloadCert;
let db: IssuedWorkloadCert;
beforeAll(async () => {
  [root, foreign] = await Promise.all([createRootCa({ trustDomain: 'cluster.local' }), createRootCa({ trustDomain: 'cluster.local' })]);
  const issue = (ca: RootCa, namespace: string, serviceAccount: string) =>
    issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace, serviceAccount });
  [web, db] = await Promise.all([issue(root, 'shop', 'web'), issue(root, 'data', 'db')]);
});

const certsOf = (pem: string) => (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
const forgeExt = (pem: string, name: string) => forge.pki.certificateFromPem(pem).getExtension(name) as Record<string, unknown> | undefined;

describe('createRootCa', () => {
  it("is a self-signed CA like istiod's: O=<trust domain>, CA:true, keyCertSign + cRLSign, RSA 2048", () => {
    const cert = new X509Certificate(root.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('O=cluster.local');
    expect(cert.issuer).toBe('O=cluster.local');
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.publicKey.asymmetricKeyType).toBe('rsa');
    expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(forgeExt(root.certPem, 'basicConstraints')).toMatchObject({ cA: true, critical: true });
    expect(forgeExt(root.certPem, 'keyUsage')).toMatchObject({ keyCertSign: true, cRLSign: true, digitalSignature: false, critical: true });
    expect(forgeExt(root.certPem, 'subjectKeyIdentifier')).toBeDefined();
    expect(cert.checkPrivateKey(createPrivateKey(root.keyPem))).toBe(true);
    expect(root.keyPem).toMatch(/^-----BEGIN RSA PRIVATE KEY-----\n/);
    expect(root.certPem).not.toContain('\r');
  });

  it('lives --days (default 3650)', async () => {
    const validDays = (pem: string) => (Date.parse(new X509Certificate(pem).validTo) - Date.parse(new X509Certificate(pem).validFrom)) / 86_400_000;
    expect(validDays(root.certPem)).toBeCloseTo(3650, 2);
    const short = await createRootCa({ trustDomain: 'example.org', days: 30 });
    expect(validDays(short.certPem)).toBeCloseTo(30, 2);
    expect(new X509Certificate(short.certPem).subject).toBe('O=example.org');
  });

  it('refuses a bad trust domain or validity', async () => {
    await expect(createRootCa({ trustDomain: 'Not/A/Domain' })).rejects.toThrow(/invalid trust domain/);
    await expect(createRootCa({ trustDomain: 'cluster.local', days: 0 })).rejects.toThrow(/positive number of days/);
  });
});

describe('issueWorkloadCert', () => {
  it('issues a leaf that verifies against the root, with the SPIFFE ID as its only SAN', () => {
    const [leaf, ...rest] = certsOf(web.certChainPem);
    const rootCert = new X509Certificate(root.certPem);
    expect(leaf.verify(rootCert.publicKey)).toBe(true);
    expect(leaf.checkIssued(rootCert)).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.subjectAltName).toBe('URI:spiffe://cluster.local/ns/shop/sa/web');
    expect(leaf.checkPrivateKey(createPrivateKey(web.keyPem))).toBe(true);
    // istio-agent's cert chain: the leaf, then the CA chain including the root
    expect(rest.map((c) => c.fingerprint256)).toEqual([rootCert.fingerprint256]);
    expect(web.rootCertPem).toBe(root.certPem);
  });

  it("follows istiod's template: empty subject, critical SAN, server+client auth, 24h from 2 minutes ago", () => {
    const before = Date.now();
    const leafPem = certsOf(web.certChainPem)[0].toString();
    const leaf = new X509Certificate(leafPem);
    expect(leaf.subject ?? '').toBe('');
    expect(leaf.issuer).toBe('O=cluster.local');
    expect(forgeExt(leafPem, 'subjectAltName')).toMatchObject({ critical: true });
    expect(forgeExt(leafPem, 'keyUsage')).toMatchObject({ digitalSignature: true, keyEncipherment: true, keyCertSign: false, critical: true });
    expect(forgeExt(leafPem, 'basicConstraints')).toMatchObject({ cA: false });
    expect(leaf.keyUsage?.sort()).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']); // node: extended key usage OIDs
    expect(forgeExt(leafPem, 'authorityKeyIdentifier')).toBeDefined();
    const notBefore = Date.parse(leaf.validFrom);
    const notAfter = Date.parse(leaf.validTo);
    expect(before - notBefore).toBeGreaterThan(100_000); // ~120 s backdated (second precision)
    expect(before - notBefore).toBeLessThan(200_000);
    expect(notAfter - before).toBeGreaterThan(86_400_000 - 60_000);
    expect(notAfter - before).toBeLessThan(86_400_000 + 1_000);
    expect(leaf.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
  });

  it('random 128-bit serials, a fresh key per certificate', () => {
    const [a, b] = [certsOf(web.certChainPem)[0], certsOf(db.certChainPem)[0]];
    expect(a.serialNumber).not.toBe(b.serialNumber);
    expect(a.serialNumber.length).toBeGreaterThanOrEqual(30);
    expect(web.keyPem).not.toBe(db.keyPem);
  });

  it('adds DNS SANs after the URI SAN and honours days / explicit validity', async () => {
    const notBefore = new Date('2030-01-01T00:00:00Z');
    const notAfter = new Date('2030-01-02T00:00:00Z');
    const issued = await issueWorkloadCert({
      caCertPem: root.certPem,
      caKeyPem: root.keyPem,
      trustDomain: 'cluster.local',
      namespace: 'shop',
      serviceAccount: 'gw',
      dnsNames: ['gw.shop.svc', 'gw.example.com'],
      notBefore,
      notAfter,
    });
    const leaf = certsOf(issued.certChainPem)[0];
    expect(leaf.subjectAltName).toBe('URI:spiffe://cluster.local/ns/shop/sa/gw, DNS:gw.shop.svc, DNS:gw.example.com');
    expect(Date.parse(leaf.validFrom)).toBe(notBefore.getTime());
    expect(Date.parse(leaf.validTo)).toBe(notAfter.getTime());

    const week = await issueWorkloadCert({ caCertPem: root.certPem, caKeyPem: root.keyPem, trustDomain: 'cluster.local', namespace: 'a', serviceAccount: 'b', days: 7 });
    const w = certsOf(week.certChainPem)[0];
    expect((Date.parse(w.validTo) - Date.now()) / 86_400_000).toBeCloseTo(7, 1);
  });

  it('refuses identities that are not SPIFFE path segments', async () => {
    const base = { caCertPem: root.certPem, caKeyPem: root.keyPem, trustDomain: 'cluster.local', serviceAccount: 'x' };
    await expect(issueWorkloadCert({ ...base, namespace: 'a/b' })).rejects.toThrow(/not a valid SPIFFE ID/);
    await expect(issueWorkloadCert({ ...base, namespace: '' })).rejects.toThrow(/not a valid SPIFFE ID/);
  });
});

describe('CA and workload directories', () => {
  it('writeCaDir / readCaDir round-trip; the key is 0600; an existing CA key is never replaced', async () => {
    const dir = join(await tempDir(), 'ca');
    const written = await writeCaDir(dir, root);
    expect(written).toEqual([join(dir, 'ca-cert.pem'), join(dir, 'ca-key.pem')]);
    expect((await stat(join(dir, 'ca-key.pem'))).mode & 0o777).toBe(0o600);
    expect(await readCaDir(dir)).toEqual(root);
    const err = await writeCaDir(dir, foreign).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CertError);
    expect((err as CertError).message).toBe(`ca-dir ${dir}: ca-key.pem already exists; refusing to replace a CA key (remove it to start over)`);
    expect(await readFile(join(dir, 'ca-key.pem'), 'utf8')).toBe(root.keyPem);
  });

  it('readCaDir names the missing or mismatched file', async () => {
    const dir = await tempDir();
    await expect(readCaDir(dir)).rejects.toThrow(`ca-dir ${dir}: ca-cert.pem is missing`);
    await writeFile(join(dir, 'ca-cert.pem'), root.certPem);
    await writeFile(join(dir, 'ca-key.pem'), foreign.keyPem);
    await expect(readCaDir(dir)).rejects.toThrow(`ca-dir ${dir}: ca-key.pem does not match the certificate in ca-cert.pem`);
    // a workload certificate is not a CA
    await writeFile(join(dir, 'ca-cert.pem'), web.certChainPem);
    await expect(readCaDir(dir)).rejects.toThrow(`ca-dir ${dir}: ca-cert.pem is not a CA certificate`);
  });

  it("writeWorkloadDir writes Istio's layout atomically (rename: new inode, no temp files left)", async () => {
    const dir = join(await tempDir(), 'certs');
    const written = await writeWorkloadDir(dir, web);
    expect(written.sort()).toEqual(['cert-chain.pem', 'key.pem', 'root-cert.pem'].map((f) => join(dir, f)));
    expect(await readFile(join(dir, 'cert-chain.pem'), 'utf8')).toBe(web.certChainPem);
    expect(await readFile(join(dir, 'key.pem'), 'utf8')).toBe(web.keyPem);
    expect(await readFile(join(dir, 'root-cert.pem'), 'utf8')).toBe(web.rootCertPem);
    expect((await stat(join(dir, 'key.pem'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'cert-chain.pem'))).mode & 0o777).toBe(0o644);

    // rotation: each file is replaced by rename, never truncated in place
    const inodes = await Promise.all(written.map(async (p) => (await stat(p)).ino));
    await writeWorkloadDir(dir, db);
    const after = await Promise.all(written.map(async (p) => (await stat(p)).ino));
    after.forEach((ino, i) => expect(ino).not.toBe(inodes[i]));
    expect(await readFile(join(dir, 'key.pem'), 'utf8')).toBe(db.keyPem);
    expect((await readdir(dir)).sort()).toEqual(['cert-chain.pem', 'key.pem', 'root-cert.pem']);
  });
});

interface Outcome {
  /** What the server saw of the client (peerIdentityFromCert), sent back as JSON. */
  serverSaw?: SpiffeIdentity;
  clientSaw?: SpiffeIdentity;
  clientError?: Error;
  serverError?: Error;
}

/** One mTLS exchange: the server requires a client certificate chaining to its root. */
async function mtls(server: IssuedWorkloadCert, client: IssuedWorkloadCert): Promise<Outcome> {
  const outcome: Outcome = {};
  const srv = createServer(
    { key: server.keyPem, cert: server.certChainPem, ca: server.rootCertPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' },
    (socket: TLSSocket) => {
      const peer = socket.getPeerX509Certificate();
      socket.end(JSON.stringify(peer ? peerIdentityFromCert(peer) : null));
    },
  );
  srv.on('tlsClientError', (err) => (outcome.serverError = err));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  try {
    await new Promise<void>((resolve) => {
      const sock = connect({
        host: '127.0.0.1',
        port: (srv.address() as AddressInfo).port,
        key: client.keyPem,
        cert: client.certChainPem,
        ca: client.rootCertPem,
        // mesh certificates name a SPIFFE ID, not a host: the identity is checked below instead
        checkServerIdentity: () => undefined,
      });
      let data = '';
      sock.on('secureConnect', () => {
        const peer = sock.getPeerX509Certificate();
        outcome.clientSaw = peer && peerIdentityFromCert(peer);
      });
      sock.on('data', (d: Buffer) => (data += d.toString()));
      sock.on('error', (err) => (outcome.clientError = err));
      sock.on('close', () => {
        if (data) outcome.serverSaw = JSON.parse(data) as SpiffeIdentity;
        resolve();
      });
    });
    // the server's tlsClientError can trail the client's close by a tick
    await new Promise((r) => setTimeout(r, 20));
  } finally {
    srv.close();
  }
  return outcome;
}

describe('mutual TLS with issued certificates', () => {
  it('both sides see the other SPIFFE identity', async () => {
    const o = await mtls(web, db);
    expect(o.clientError).toBeUndefined();
    expect(o.serverError).toBeUndefined();
    expect(o.clientSaw).toEqual({
      trustDomain: 'cluster.local',
      namespace: 'shop',
      serviceAccount: 'web',
      spiffeId: 'spiffe://cluster.local/ns/shop/sa/web',
      principal: 'cluster.local/ns/shop/sa/web',
    });
    expect(o.serverSaw).toEqual({
      trustDomain: 'cluster.local',
      namespace: 'data',
      serviceAccount: 'db',
      spiffeId: 'spiffe://cluster.local/ns/data/sa/db',
      principal: 'cluster.local/ns/data/sa/db',
    });
  });

  it('a client certificate from another CA (same trust domain, same subject) is rejected', async () => {
    const intruder = await issueWorkloadCert({ caCertPem: foreign.certPem, caKeyPem: foreign.keyPem, trustDomain: 'cluster.local', namespace: 'data', serviceAccount: 'db' });
    // it trusts our root, so only its own certificate is wrong
    const o = await mtls(web, { ...intruder, rootCertPem: root.certPem });
    expect(o.serverError).toBeDefined();
    expect(o.serverSaw).toBeUndefined();
  });

  it('a server certificate from another CA is rejected by the client', async () => {
    const impostor = await issueWorkloadCert({ caCertPem: foreign.certPem, caKeyPem: foreign.keyPem, trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' });
    const o = await mtls({ ...impostor, rootCertPem: root.certPem }, db);
    expect(o.clientError).toBeDefined();
    expect((o.clientError as NodeJS.ErrnoException).code).toMatch(/CERT|SIGNATURE|SELF_SIGNED/);
    expect(o.serverSaw).toBeUndefined();
  });
});
