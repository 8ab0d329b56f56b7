// Workload certificates in Istio's file-mounted layout (what istio-agent writes with OUTPUT_CERTS and
// what `outrigger ca issue` writes): cert-chain.pem, key.pem, root-cert.pem in one directory.
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorkloadCertificate } from '../config/secrets.js';
import { spiffeIdentity, type SpiffeIdentity } from './spiffe.js';

export const CERT_CHAIN_FILE = 'cert-chain.pem';
export const KEY_FILE = 'key.pem';
export const ROOT_CERT_FILE = 'root-cert.pem';

/**
 * A certificate problem an operator can act on: which directory, which file, what is wrong.
 * The message reads `cert-dir /etc/certs: key.pem does not match the certificate in cert-chain.pem`.
 */
/** Throws CertError unless `keyPem` is a PEM private key of `cert` (read from `keyFile` and `certFile` in `dir`). */
export function checkPrivateKey(dir: string, keyFile: string, keyPem: string, cert: X509Certificate, certFile: string, dirKind: CertError['dirKind'] = 'cert-dir'): void {
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (e) {
    throw new CertError(dir, keyFile, `is not a valid PEM private key (${(e as Error).message})`, dirKind);
  }
  if (!keyMatches(cert, key)) throw new CertError(dir, keyFile, `does not match the certificate in ${certFile}`, dirKind);
}

export class CertError extends Error {
  override readonly name = 'CertError';
  constructor(
    readonly dir: string,
    readonly file: string,
    readonly reason: string,
    /** What `dir` is, for the message: `cert-dir` (workload), `ca-dir` or `credential-dir` (Gateway/DestinationRule credentials). */
    readonly dirKind: 'cert-dir' | 'ca-dir' | 'credential-dir' = 'cert-dir',
  ) {
    super(`${dirKind} ${dir}: ${file} ${reason}`);
  }
}

/** The PEM texts of a workload's certificates. */
export interface WorkloadCertPems {
  /** The leaf first, then intermediates; Istio also appends the root. */
  certChainPem: string;
  keyPem: string;
  /** One or more trusted roots (a trust bundle may hold several during root rotation). */
  rootCertPem: string;
}

/**
 * Validated workload certificates. Plain data (strings and numbers) so it can be posted to worker
 * threads as is; each worker builds its own SecureContext from the PEMs.
 */
export interface WorkloadCerts extends WorkloadCertPems {
  dir: string;
  identity: SpiffeIdentity;
  /** Validity of the leaf, epoch milliseconds. */
  notBefore: number;
  notAfter: number;
  /** Serial number of the leaf, hex (for logs: which certificate is being served). */
  serialNumber: string;
}

/** Reads and validates `dir`'s cert-chain.pem, key.pem and root-cert.pem; throws CertError. */
export async function loadWorkloadCerts(dir: string, now: number = Date.now()): Promise<WorkloadCerts> {
  const [certChainPem, keyPem, rootCertPem] = await readCertFiles(dir, [CERT_CHAIN_FILE, KEY_FILE, ROOT_CERT_FILE]);
  return validateWorkloadCerts(dir, { certChainPem, keyPem, rootCertPem }, now);
}

/** The workload certificate, validated, as the config loader turns it into SDS secrets (`default` + `ROOTCA`). */
export async function loadWorkloadSecret(dir: string): Promise<WorkloadCertificate> {
  const c = await loadWorkloadCerts(dir);
  return { certChainPem: c.certChainPem, keyPem: c.keyPem, rootCertPem: c.rootCertPem };
}

/**
 * Checks what Envoy and the peers would otherwise find out one handshake at a time: the key is the
 * leaf's, the chain reaches a root, nothing is expired, and the leaf names exactly one SPIFFE ID.
 */
export function validateWorkloadCerts(dir: string, pems: WorkloadCertPems, now: number = Date.now()): WorkloadCerts {
  const chain = parseCertificates(dir, CERT_CHAIN_FILE, pems.certChainPem);
  const roots = parseCertificates(dir, ROOT_CERT_FILE, pems.rootCertPem);
  const leaf = chain[0];

  checkPrivateKey(dir, KEY_FILE, pems.keyPem, leaf, CERT_CHAIN_FILE);

  const anchor = checkChain(dir, chain, roots);
  chain.forEach((c, i) => checkValidity(dir, CERT_CHAIN_FILE, c, i === 0 ? undefined : i, now));
  // only the root this chain ends at: a bundle may keep an expired root around during rotation
  checkValidity(dir, ROOT_CERT_FILE, roots[anchor], roots.length > 1 ? anchor : undefined, now);

  const id = leafIdentity(leaf);
  if ('reason' in id) throw new CertError(dir, CERT_CHAIN_FILE, id.reason);
  return {
    dir,
    ...pems,
    identity: id.identity,
    notBefore: leaf.validFromDate.getTime(),
    notAfter: leaf.validToDate.getTime(),
    serialNumber: leaf.serialNumber,
  };
}

/**
 * The SPIFFE identity of a peer's certificate (e.g. `tlsSocket.getPeerX509Certificate()`), or
 * undefined when it has none in Istio's shape. It does not verify anything: the TLS handshake did.
 */
export function peerIdentityFromCert(cert: X509Certificate | Buffer | string): SpiffeIdentity | undefined {
  const x509 = cert instanceof X509Certificate ? cert : new X509Certificate(cert);
  const id = leafIdentity(x509);
  return 'identity' in id ? id.identity : undefined;
}

/**
 * The URI SANs of a certificate. Node prints SANs as `TYPE:value, TYPE:value` and quotes (as JSON,
 * with commas escaped as \u002c) any value with special characters, so splitting on ", " is exact
 * and a DNS name cannot smuggle in a URI.
 */
export function uriSans(cert: X509Certificate): string[] {
  const text = cert.subjectAltName;
  if (!text) return [];
  const uris: string[] = [];
  for (const entry of text.split(', ')) {
    if (!entry.startsWith('URI:')) continue;
    const value = entry.slice(4);
    uris.push(value.startsWith('"') ? (JSON.parse(value) as string) : value);
  }
  return uris;
}

// A SPIFFE X509-SVID carries exactly one URI SAN (SPIFFE X509-SVID spec §2).
function leafIdentity(cert: X509Certificate): { identity: SpiffeIdentity } | { reason: string } {
  const uris = uriSans(cert);
  if (uris.length === 0) return { reason: 'has no URI SAN: a workload certificate carries its SPIFFE ID (spiffe://<trust-domain>/ns/<ns>/sa/<sa>) there' };
  if (uris.length > 1) return { reason: `has ${uris.length} URI SANs (${uris.join(', ')}); a workload certificate carries exactly one SPIFFE ID` };
  const identity = spiffeIdentity(uris[0]);
  if (!identity) return { reason: `has URI SAN "${uris[0]}", which is not a SPIFFE ID of the form spiffe://<trust-domain>/ns/<ns>/sa/<sa>` };
  return { identity };
}

/** Reads `dir/file` as text; a missing or unreadable file is a CertError naming it. */
async function readCertFile(dir: string, file: string, dirKind: CertError['dirKind'] = 'cert-dir'): Promise<string> {
  try {
    return await readFile(join(dir, file), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CertError(dir, file, code === 'ENOENT' ? 'is missing' : `cannot be read (${code ?? (e as Error).message})`, dirKind);
  }
}

/** Reads several files of `dir` at once; the first failure in `files` order is the one reported. */
export async function readCertFiles(dir: string, files: string[], dirKind: CertError['dirKind'] = 'cert-dir'): Promise<string[]> {
  const results = await Promise.allSettled(files.map((f) => readCertFile(dir, f, dirKind)));
  return results.map((r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  });
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** Every CERTIFICATE block of a PEM file, in order; throws CertError naming the bad block. */
export function parseCertificates(dir: string, file: string, pem: string, dirKind: CertError['dirKind'] = 'cert-dir'): X509Certificate[] {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new CertError(dir, file, 'contains no PEM certificate (-----BEGIN CERTIFICATE-----)', dirKind);
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (e) {
      throw new CertError(dir, file, `has a certificate that cannot be parsed (#${i + 1}: ${(e as Error).message})`, dirKind);
    }
  });
}

/** True if `key` is the private key of `cert` (false, not a throw, for a key of another type). */
export function keyMatches(cert: X509Certificate, key: KeyObject): boolean {
  try {
    return cert.checkPrivateKey(key);
  } catch {
    return false;
  }
}

function signedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  return child.checkIssued(issuer) && child.verify(issuer.publicKey);
}

// Walk up from the leaf: stop at the first certificate a trusted root signed. Istio's chain ends with
// the root itself, which a root signed too, so both layouts (with or without the root) pass.
// Returns the index of that root in `roots`.
function checkChain(dir: string, chain: X509Certificate[], roots: X509Certificate[]): number {
  for (let i = 0; ; i++) {
    const cert = chain[i];
    const anchor = roots.findIndex((r) => signedBy(cert, r));
    if (anchor >= 0) return anchor;
    const next = chain[i + 1];
    if (!next) {
      const which = i === 0 ? 'its certificate' : `its certificate #${i + 1}`;
      throw new CertError(
        dir,
        CERT_CHAIN_FILE,
        `does not chain to ${ROOT_CERT_FILE}: ${which} (issuer "${oneLine(cert.issuer)}") is not signed by any of the ${roots.length} certificate(s) in ${ROOT_CERT_FILE}`,
      );
    }
    if (!signedBy(cert, next)) throw new CertError(dir, CERT_CHAIN_FILE, `is out of order or mixed: certificate #${i + 1} is not signed by certificate #${i + 2}`);
    if (!next.ca) throw new CertError(dir, CERT_CHAIN_FILE, `has certificate #${i + 2}, which signed #${i + 1} but is not a CA certificate`);
  }
}

// `index` numbers the certificate within its file; undefined for the leaf or a lone root ("has expired").
function checkValidity(dir: string, file: string, cert: X509Certificate, index: number | undefined, now: number): void {
  const notBefore = cert.validFromDate.getTime();
  const notAfter = cert.validToDate.getTime();
  const at = (ms: number) => new Date(ms).toISOString();
  if (now > notAfter) {
    throw new CertError(dir, file, index === undefined ? `has expired (notAfter ${at(notAfter)})` : `has an expired certificate #${index + 1} (notAfter ${at(notAfter)})`);
  }
  if (now < notBefore) {
    throw new CertError(dir, file, index === undefined ? `is not valid yet (notBefore ${at(notBefore)})` : `has certificate #${index + 1}, not valid yet (notBefore ${at(notBefore)})`);
  }
}

function oneLine(dn: string | undefined): string {
  return (dn ?? '').split('\n').filter(Boolean).join(', ');
}
