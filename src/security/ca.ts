// A development CA shaped like istiod's self-signed one, and workload certificates shaped like the
// ones istiod issues (security/pkg/pki/util/generate_cert.go, san.go; security/pkg/server/ca/server.go).
//
// node-forge builds the X.509 structures; node:crypto makes the keys (asynchronously, on libuv's
// thread pool, so an agent issuing certificates keeps serving) and the signatures (forge's pure-JS
// RSA signature took ~30 ms here, node's ~0.3 ms).
import { generateKeyPair as generateKeyPairCb, createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { chmod, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { isValidTrustDomain, spiffeId } from './spiffe.js';
import {
  CERT_CHAIN_FILE,
  CertError,
  checkPrivateKey,
  KEY_FILE,
  parseCertificates,
  readCertFiles,
  ROOT_CERT_FILE,
  type WorkloadCertPems,
} from './workload-certs.js';

const generateKeyPair = promisify(generateKeyPairCb);

export const CA_CERT_FILE = 'ca-cert.pem';
export const CA_KEY_FILE = 'ca-key.pem';

const DAY_MS = 24 * 3600 * 1000;
/** istiod backdates workload certificates by this much (ClockSkewGracePeriod) for skewed clocks. */
const CLOCK_SKEW_GRACE_MS = 2 * 60 * 1000;
const RSA_BITS = 2048;

/** A root CA: its self-signed certificate and private key (PKCS#1 PEM, as istio-ca-secret holds it). */
export interface RootCa {
  certPem: string;
  keyPem: string;
}

export interface CreateRootCaOptions {
  trustDomain: string;
  /** Validity in days (default 3650: istiod's self-signed root lives 10 years). */
  days?: number;
}

/**
 * A self-signed root like istiod's: subject O=<trust domain> and nothing else, CA:true,
 * keyCertSign + cRLSign, RSA 2048. The key is generated off the event loop.
 */
export async function createRootCa(opts: CreateRootCaOptions): Promise<RootCa> {
  if (!isValidTrustDomain(opts.trustDomain)) throw new Error(`invalid trust domain "${opts.trustDomain}" (a-z 0-9 . - _)`);
  const days = validDays(opts.days ?? 3650);
  const { publicKey, privateKey } = await generateKeyPair('rsa', { modulusLength: RSA_BITS });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forgePublicKey(publicKey);
  cert.serialNumber = randomSerial();
  const now = Date.now();
  cert.validity.notBefore = new Date(now);
  cert.validity.notAfter = new Date(now + days * DAY_MS);
  const subject = [{ name: 'organizationName', value: opts.trustDomain }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  signCertificate(cert, privateKey);
  return { certPem: toPem(cert), keyPem: pkcs1Pem(privateKey) };
}

export interface IssueWorkloadCertOptions {
  caCertPem: string;
  caKeyPem: string;
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
  /** Validity in days (default 1: Istio's SECRET_TTL is 24h). */
  days?: number;
  /** Extra DNS SANs after the SPIFFE URI SAN (istiod adds none to workload certificates). */
  dnsNames?: string[];
  /** Exact validity, overriding `days` and the clock-skew backdating (tests: expired certificates). */
  notBefore?: Date;
  notAfter?: Date;
}

/** A freshly issued workload certificate in Istio's file-mounted shape. */
export type IssuedWorkloadCert = WorkloadCertPems;

/**
 * Issues a workload certificate as istiod does: empty subject with a critical SAN holding the
 * SPIFFE URI, digitalSignature + keyEncipherment, serverAuth + clientAuth, 128-bit random serial,
 * valid from 2 minutes ago. Like istiod's CSR response, cert-chain.pem is the leaf followed by the
 * CA chain including the root (istio-agent concatenates the whole response), and root-cert.pem is
 * the root.
 */
export async function issueWorkloadCert(opts: IssueWorkloadCertOptions): Promise<IssuedWorkloadCert> {
  const uri = spiffeId(opts.trustDomain, opts.namespace, opts.serviceAccount);
  const ca = parseCa(opts.caCertPem, opts.caKeyPem);
  const days = validDays(opts.days ?? 1);
  const { publicKey, privateKey } = await generateKeyPair('rsa', { modulusLength: RSA_BITS });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forgePublicKey(publicKey);
  cert.serialNumber = randomSerial();
  const now = Date.now();
  cert.validity.notBefore = opts.notBefore ?? new Date(now - CLOCK_SKEW_GRACE_MS);
  cert.validity.notAfter = opts.notAfter ?? new Date(now + days * DAY_MS);
  cert.setSubject([]);
  cert.setIssuer(ca.cert.subject.attributes);
  const altNames = [{ type: 6, value: uri }, ...(opts.dnsNames ?? []).map((value) => ({ type: 2, value }))];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.keyId },
    // RFC 5280 §4.2.1.6: with an empty subject the SAN must be critical (istiod does the same)
    { name: 'subjectAltName', critical: true, altNames },
  ]);
  signCertificate(cert, ca.key);
  const leafPem = toPem(cert);
  const rootCertPem = normalizePem(opts.caCertPem);
  return { certChainPem: leafPem + rootCertPem, keyPem: pkcs1Pem(privateKey), rootCertPem };
}

/** Writes `ca-cert.pem` and `ca-key.pem` (0600); refuses to replace an existing CA key. */
export async function writeCaDir(dir: string, ca: RootCa): Promise<string[]> {
  const keyPath = join(dir, CA_KEY_FILE);
  if (await exists(keyPath)) throw new CertError(dir, CA_KEY_FILE, 'already exists; refusing to replace a CA key (remove it to start over)', 'ca-dir');
  await mkdir(dir, { recursive: true });
  const certPath = join(dir, CA_CERT_FILE);
  await writeFileAtomic(keyPath, ca.keyPem, 0o600);
  await writeFileAtomic(certPath, ca.certPem, 0o644);
  return [certPath, keyPath];
}

/** Reads and checks a CA directory: the certificate is a CA, unexpired, RSA, and the key is its key. */
export async function readCaDir(dir: string): Promise<RootCa> {
  const [certPem, keyPem] = await readCertFiles(dir, [CA_CERT_FILE, CA_KEY_FILE], 'ca-dir');
  const [cert] = parseCertificates(dir, CA_CERT_FILE, certPem, 'ca-dir');
  if (!cert.ca) throw new CertError(dir, CA_CERT_FILE, 'is not a CA certificate (basicConstraints CA:false)', 'ca-dir');
  if (cert.publicKey.asymmetricKeyType !== 'rsa') {
    throw new CertError(dir, CA_CERT_FILE, `has a ${cert.publicKey.asymmetricKeyType ?? 'non-RSA'} key; this development CA signs with RSA only`, 'ca-dir');
  }
  if (Date.now() > cert.validToDate.getTime()) throw new CertError(dir, CA_CERT_FILE, `has expired (notAfter ${cert.validToDate.toISOString()})`, 'ca-dir');
  checkPrivateKey(dir, CA_KEY_FILE, keyPem, cert, CA_CERT_FILE, 'ca-dir');
  return { certPem, keyPem };
}

/**
 * Writes Istio's file-mounted layout: cert-chain.pem, key.pem (0600), root-cert.pem. Each file is
 * replaced atomically (temp file + rename), so a watcher never reads half a file. The three renames
 * are not one step: a loader that reloads between them sees a new key with the old chain, rejects
 * it (key mismatch, CertError) and keeps its certificates until the next rename completes the set.
 */
export async function writeWorkloadDir(dir: string, issued: IssuedWorkloadCert): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: [string, string, number][] = [
    [KEY_FILE, issued.keyPem, 0o600],
    [CERT_CHAIN_FILE, issued.certChainPem, 0o644],
    [ROOT_CERT_FILE, issued.rootCertPem, 0o644],
  ];
  const written: string[] = [];
  for (const [file, text, mode] of files) {
    const path = join(dir, file);
    await writeFileAtomic(path, text, mode);
    written.push(path);
  }
  return written;
}

// --- helpers ---

interface ParsedCa {
  cert: forge.pki.Certificate;
  key: KeyObject;
  /** The CA's subjectKeyIdentifier (binary string), for the leaf's authorityKeyIdentifier. */
  keyId: string;
}

function parseCa(caCertPem: string, caKeyPem: string): ParsedCa {
  let cert: forge.pki.Certificate;
  try {
    cert = forge.pki.certificateFromPem(caCertPem);
  } catch (e) {
    throw new Error(`CA certificate cannot be used (node-forge reads RSA certificates only): ${(e as Error).message}`);
  }
  const key = createPrivateKey(caKeyPem);
  // Use the CA's own SKI when it has one: OpenSSL matches AKI against it when building the chain.
  const ski = cert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | undefined;
  const keyId = ski?.subjectKeyIdentifier ? forge.util.hexToBytes(ski.subjectKeyIdentifier) : cert.generateSubjectKeyIdentifier().getBytes();
  return { cert, key, keyId };
}

// forge's typings omit pki.getTBSCertificate, which cert.sign() itself uses.
const pkiInternal = forge.pki as unknown as { getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1 };

/** What forge's cert.sign(key, sha256) does, with node:crypto making the RSA signature. */
function signCertificate(cert: forge.pki.Certificate, key: KeyObject): void {
  cert.signatureOid = cert.siginfo.algorithmOid = forge.pki.oids.sha256WithRSAEncryption;
  cert.tbsCertificate = pkiInternal.getTBSCertificate(cert);
  const tbs = Buffer.from(forge.asn1.toDer(cert.tbsCertificate).getBytes(), 'binary');
  cert.signature = sign('sha256', tbs, key).toString('binary');
}

function forgePublicKey(key: KeyObject): forge.pki.PublicKey {
  return forge.pki.publicKeyFromPem(key.export({ type: 'spki', format: 'pem' }) as string);
}

function pkcs1Pem(key: KeyObject): string {
  return key.export({ type: 'pkcs1', format: 'pem' }) as string;
}

/** 128 random bits as a positive, minimally encoded DER INTEGER (first byte 0x01..0x7f). */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] & 0x7f) || 0x01;
  return bytes.toString('hex');
}

function validDays(days: number): number {
  if (!Number.isFinite(days) || days <= 0) throw new Error(`validity must be a positive number of days, got ${days}`);
  return days;
}

/** forge writes PEM with CRLF; node, OpenSSL and Istio write LF. */
function toPem(cert: forge.pki.Certificate): string {
  return normalizePem(forge.pki.certificateToPem(cert));
}

function normalizePem(pem: string): string {
  return `${pem.replace(/\r\n/g, '\n').trim()}\n`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Writes a sibling temp file with `mode`, fsyncs it and renames it over `path`. */
async function writeFileAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(text);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await chmod(tmp, mode); // exact mode whatever the umask
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
