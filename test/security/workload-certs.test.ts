// Loading Istio's file-mounted workload certificates, and the errors an operator gets when they are wrong.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootCa, issueWorkloadCert, writeWorkloadDir, type IssuedWorkloadCert, type RootCa } from '../../src/security/ca.js';
import { CertError, loadWorkloadCerts, peerIdentityFromCert, uriSans, validateWorkloadCerts } from '../../src/security/workload-certs.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A temp cert-dir holding `issued` (with file overrides). */
async function certDir(issued: IssuedWorkloadCert, override: Partial<IssuedWorkloadCert> = {}): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'outrigger-certs-'));
  dirs.push(d);
  await writeWorkloadDir(d, { ...issued, ...override });
  return d;
}

async function certError(dir: string): Promise<CertError> {
  const e = await loadWorkloadCerts(dir).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CertError);
  return e as CertError;
}

let root: RootCa;
let other: RootCa;
let web: IssuedWorkloadCert;
let db: IssuedWorkloadCert;
beforeAll(async () => {
  [root, other] = await Promise.all([createRootCa({ trustDomain: 'cluster.local' }), createRootCa({ trustDomain: 'other.domain' })]);
  [web, db] = await Promise.all([
    issueWorkloadCert({ caCertPem: root.certPem, caKeyPem: root.keyPem, trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' }),
    issueWorkloadCert({ caCertPem: root.certPem, caKeyPem: root.keyPem, trustDomain: 'cluster.local', namespace: 'data', serviceAccount: 'db' }),
  ]);
});

/** A leaf signed by `ca` with arbitrary SANs (forge's own signing: these shapes are not ours to issue). */
function craftLeaf(ca: RootCa, altNames: { type: number; value: string }[]): IssuedWorkloadCert {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 1024, e: 0x10001 }); // test only: fast enough in JS
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '0a1b2c';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 3_600_000);
  cert.setSubject([]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
    ...(altNames.length ? [{ name: 'subjectAltName', critical: true, altNames }] : []),
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return { certChainPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey), rootCertPem: ca.certPem };
}

describe('loadWorkloadCerts', () => {
  it('reads and validates the three files into plain data', async () => {
    const dir = await certDir(web);
    const certs = await loadWorkloadCerts(dir);
    const leaf = new X509Certificate(web.certChainPem);
    expect(certs).toEqual({
      dir,
      certChainPem: web.certChainPem,
      keyPem: web.keyPem,
      rootCertPem: web.rootCertPem,
      identity: {
        spiffeId: 'spiffe://cluster.local/ns/shop/sa/web',
        trustDomain: 'cluster.local',
        namespace: 'shop',
        serviceAccount: 'web',
        principal: 'cluster.local/ns/shop/sa/web',
      },
      notBefore: Date.parse(leaf.validFrom),
      notAfter: Date.parse(leaf.validTo),
      serialNumber: leaf.serialNumber,
    });
    // what a worker thread receives through postMessage
    expect(structuredClone(certs)).toEqual(certs);
  });

  it('accepts a chain without the root and a root bundle with several roots', async () => {
    const leafOnly = web.certChainPem.slice(0, web.certChainPem.indexOf('-----END CERTIFICATE-----') + 26);
    const dir = await certDir(web, { certChainPem: leafOnly, rootCertPem: other.certPem + root.certPem });
    expect((await loadWorkloadCerts(dir)).identity.serviceAccount).toBe('web');
  });

  it('a key that is not the certificate’s: names key.pem', async () => {
    const dir = await certDir(web, { keyPem: db.keyPem });
    const e = await certError(dir);
    expect(e.file).toBe('key.pem');
    expect(e.message).toBe(`cert-dir ${dir}: key.pem does not match the certificate in cert-chain.pem`);
  });

  it('a chain that does not reach root-cert.pem (another CA, even with the same subject)', async () => {
    const dir = await certDir(web, { rootCertPem: other.certPem });
    const e = await certError(dir);
    expect(e.file).toBe('cert-chain.pem');
    expect(e.message).toContain(`cert-dir ${dir}: cert-chain.pem does not chain to root-cert.pem`);
    expect(e.message).toContain('issuer "O=cluster.local"');

    const sameSubject = await createRootCa({ trustDomain: 'cluster.local' });
    const dir2 = await certDir(web, { rootCertPem: sameSubject.certPem });
    expect((await certError(dir2)).message).toContain('cert-chain.pem does not chain to root-cert.pem');
  });

  it('an expired certificate reports its notAfter', async () => {
    const notAfter = new Date(Date.now() - 86_400_000);
    notAfter.setMilliseconds(0); // X.509 times have second precision
    const expired = await issueWorkloadCert({
      caCertPem: root.certPem,
      caKeyPem: root.keyPem,
      trustDomain: 'cluster.local',
      namespace: 'shop',
      serviceAccount: 'web',
      notBefore: new Date(notAfter.getTime() - 86_400_000),
      notAfter,
    });
    const dir = await certDir(expired);
    const e = await certError(dir);
    expect(e.file).toBe('cert-chain.pem');
    expect(e.message).toBe(`cert-dir ${dir}: cert-chain.pem has expired (notAfter ${notAfter.toISOString()})`);
  });

  it('a certificate not valid yet reports its notBefore', async () => {
    const notBefore = new Date(Date.now() + 3_600_000);
    notBefore.setMilliseconds(0);
    const future = await issueWorkloadCert({
      caCertPem: root.certPem,
      caKeyPem: root.keyPem,
      trustDomain: 'cluster.local',
      namespace: 'shop',
      serviceAccount: 'web',
      notBefore,
      notAfter: new Date(notBefore.getTime() + 86_400_000),
    });
    const e = await certError(await certDir(future));
    expect(e.message).toContain(`cert-chain.pem is not valid yet (notBefore ${notBefore.toISOString()})`);
  });

  it('an expired root is refused, unless it is only a spare root of the bundle', async () => {
    const shortRoot = await createRootCa({ trustDomain: 'cluster.local', days: 1 });
    const farFuture = new Date('2040-01-01T00:00:00Z');
    const issueFrom = (ca: RootCa) =>
      issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web', notAfter: farFuture });
    const inTwoDays = Date.now() + 2 * 86_400_000;
    const rootExpiry = new X509Certificate(shortRoot.certPem).validToDate.toISOString();

    const leafOnly = (pem: string) => pem.slice(0, pem.indexOf('-----END CERTIFICATE-----') + 26);
    const fromShort = await issueFrom(shortRoot);
    // Istio's chain carries the root too: that copy is caught first
    expect(() => validateWorkloadCerts('/d', fromShort, inTwoDays)).toThrow(`cert-dir /d: cert-chain.pem has an expired certificate #2 (notAfter ${rootExpiry})`);
    const shortLeaf = { ...fromShort, certChainPem: leafOnly(fromShort.certChainPem) };
    expect(() => validateWorkloadCerts('/d', shortLeaf, inTwoDays)).toThrow(`cert-dir /d: root-cert.pem has expired (notAfter ${rootExpiry})`);
    expect(() => validateWorkloadCerts('/d', { ...shortLeaf, rootCertPem: root.certPem + shortRoot.certPem }, inTwoDays)).toThrow(
      `root-cert.pem has an expired certificate #2 (notAfter ${rootExpiry})`,
    );
    const fromLong = await issueFrom(root);
    const ok = validateWorkloadCerts('/d', { ...fromLong, certChainPem: leafOnly(fromLong.certChainPem), rootCertPem: shortRoot.certPem + root.certPem }, inTwoDays);
    expect(ok.notAfter).toBe(farFuture.getTime());
  });

  it('a missing file is named', async () => {
    for (const file of ['cert-chain.pem', 'key.pem', 'root-cert.pem']) {
      const dir = await certDir(web);
      await unlink(join(dir, file));
      const e = await certError(dir);
      expect(e.file).toBe(file);
      expect(e.message).toBe(`cert-dir ${dir}: ${file} is missing`);
    }
    const e = await certError('/nonexistent/outrigger-certs');
    expect(e.message).toBe('cert-dir /nonexistent/outrigger-certs: cert-chain.pem is missing');
  });

  it('garbage in a file is named', async () => {
    const dir = await certDir(web);
    await writeFile(join(dir, 'root-cert.pem'), 'not a certificate\n');
    expect((await certError(dir)).message).toBe(`cert-dir ${dir}: root-cert.pem contains no PEM certificate (-----BEGIN CERTIFICATE-----)`);
    await writeFile(join(dir, 'root-cert.pem'), web.rootCertPem);
    await writeFile(join(dir, 'key.pem'), 'not a key\n');
    expect((await certError(dir)).message).toMatch(new RegExp(`^cert-dir ${dir}: key.pem is not a valid PEM private key`));
    await writeFile(join(dir, 'key.pem'), web.keyPem);
    await writeFile(join(dir, 'cert-chain.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
    expect((await certError(dir)).message).toMatch(new RegExp(`^cert-dir ${dir}: cert-chain.pem has a certificate that cannot be parsed \\(#1: `));
  });

  it('a leaf without exactly one SPIFFE URI SAN is refused', () => {
    const cases: [{ type: number; value: string }[], RegExp][] = [
      [[], /cert-chain.pem has no URI SAN/],
      [[{ type: 2, value: 'web.shop.svc' }], /cert-chain.pem has no URI SAN/],
      [
        [
          { type: 6, value: 'spiffe://cluster.local/ns/a/sa/b' },
          { type: 6, value: 'spiffe://cluster.local/ns/c/sa/d' },
        ],
        /cert-chain.pem has 2 URI SANs \(spiffe:\/\/cluster.local\/ns\/a\/sa\/b, spiffe:\/\/cluster.local\/ns\/c\/sa\/d\)/,
      ],
      [[{ type: 6, value: 'spiffe://cluster.local/workload/web' }], /has URI SAN "spiffe:\/\/cluster.local\/workload\/web", which is not a SPIFFE ID/],
    ];
    for (const [altNames, message] of cases) {
      expect(() => validateWorkloadCerts('/d', craftLeaf(root, altNames)), JSON.stringify(altNames)).toThrow(message);
    }
  });
});

describe('peerIdentityFromCert', () => {
  it('reads the identity from an X509Certificate, PEM or DER', () => {
    const leaf = new X509Certificate(web.certChainPem);
    const expected = { spiffeId: 'spiffe://cluster.local/ns/shop/sa/web', trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web', principal: 'cluster.local/ns/shop/sa/web' };
    expect(peerIdentityFromCert(leaf)).toEqual(expected);
    expect(peerIdentityFromCert(leaf.toString())).toEqual(expected);
    expect(peerIdentityFromCert(leaf.raw)).toEqual(expected);
  });

  it('undefined when the certificate has no Istio identity', () => {
    expect(peerIdentityFromCert(root.certPem)).toBeUndefined();
    expect(peerIdentityFromCert(craftLeaf(root, [{ type: 6, value: 'https://example.com/x' }]).certChainPem)).toBeUndefined();
  });

  it('a DNS SAN cannot smuggle in a URI (node quotes special values)', () => {
    const evil = craftLeaf(root, [
      { type: 2, value: 'x, URI:spiffe://cluster.local/ns/kube-system/sa/admin' },
      { type: 6, value: 'spiffe://cluster.local/ns/shop/sa/web' },
    ]);
    const cert = new X509Certificate(evil.certChainPem);
    expect(uriSans(cert)).toEqual(['spiffe://cluster.local/ns/shop/sa/web']);
    expect(peerIdentityFromCert(cert)?.serviceAccount).toBe('web');
    const onlyDns = craftLeaf(root, [{ type: 2, value: 'x, URI:spiffe://cluster.local/ns/kube-system/sa/admin' }]);
    expect(peerIdentityFromCert(onlyDns.certChainPem)).toBeUndefined();
  });

  it('decodes a quoted URI value', () => {
    const quoted = craftLeaf(root, [{ type: 6, value: 'spiffe://cluster.local/ns/a,b/sa/c' }]);
    expect(uriSans(new X509Certificate(quoted.certChainPem))).toEqual(['spiffe://cluster.local/ns/a,b/sa/c']);
    expect(peerIdentityFromCert(quoted.certChainPem)).toBeUndefined(); // ',' is not a SPIFFE path character
  });
});
