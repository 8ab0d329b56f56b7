import { X509Certificate } from 'node:crypto';
import { ProxyConfigError } from './config-dump.js';
import { at, field, objectOf, objectsOf, stringOf, type JsonObject } from './json-values.js';

/** A secret of the dump, with what its first certificate says (istioctl's sdscompare.SecretItem). */
export interface SecretItem {
  name: string;
  /** WARMING or ACTIVE. */
  state: string;
  /** `CA`, `Cert Chain`, or '' when there is no certificate to read. */
  type: string;
  valid: boolean;
  /** Lower-case hex, at least 32 digits. */
  serialNumber: string;
  /** RFC 3339, UTC. */
  notAfter: string;
  notBefore: string;
  /** The SPIFFE trust domain: a bundle's name, or the host of the certificate's spiffe:// URI SAN. */
  trustDomain: string;
}

const SECRET_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
const SPIFFE_VALIDATOR_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig';

/**
 * The secrets of a SecretsConfigDump section: warming ones, then active ones. A secret's
 * certificate is its TLS certificate chain, else its trusted CA; a SPIFFE validator gives one item
 * per trust domain bundle. `now` decides validity.
 */
export function envoySecrets(section: JsonObject, now: Date): SecretItem[] {
  const items: SecretItem[] = [];
  for (const [list, state] of [
    ['dynamic_warming_secrets', 'WARMING'],
    ['dynamic_active_secrets', 'ACTIVE'],
  ] as const) {
    // istioctl means to show a secret of version `uninitialized` as UNINITIALIZED, but sets a copy: it stays ACTIVE
    for (const dynamicSecret of objectsOf(field(section, list))) items.push(...secretItems(dynamicSecret, state, now));
  }
  return items;
}

function secretItems(dynamicSecret: JsonObject, state: string, now: Date): SecretItem[] {
  const name = stringOf(dynamicSecret.name);
  const secret = objectOf(dynamicSecret.secret);
  // istioctl says "warming" for active secrets too
  if (!secret) throw new ProxyConfigError(`failed building warming secret ${name}: proto: invalid nil source message`);
  if (secret['@type'] !== SECRET_TYPE_URL) {
    const want = stringOf(secret['@type']).slice(stringOf(secret['@type']).lastIndexOf('/') + 1);
    throw new ProxyConfigError(`failed building warming secret ${name}: proto: mismatched message type: got "envoy.extensions.transport_sockets.tls.v3.Secret", want "${want}"`);
  }
  const chain = inlineBytes(at(secret, 'tls_certificate', 'certificate_chain'));
  const validation = field(secret, 'validation_context');
  const trustedCa = inlineBytes(field(validation, 'trusted_ca'));
  if (chain.length > 0) return [secretItem(name, state, chain, '', now)];
  if (trustedCa.length > 0) return [secretItem(name, state, trustedCa, '', now)];
  const validator = objectOf(at(validation, 'custom_validator_config', 'typed_config'));
  if (validator?.['@type'] === SPIFFE_VALIDATOR_TYPE_URL) {
    // named after the Secret inside, not the dump entry
    return objectsOf(field(validator, 'trust_domains')).map((td) => secretItem(stringOf(secret.name), state, inlineBytes(field(td, 'trust_bundle')), stringOf(td.name), now));
  }
  return [secretItem(name, state, Buffer.alloc(0), '', now)];
}

/** A DataSource's inline bytes (base64 in proto JSON). */
function inlineBytes(source: unknown): Buffer {
  const bytes = field(source, 'inline_bytes');
  return typeof bytes === 'string' ? Buffer.from(bytes, 'base64') : Buffer.alloc(0);
}

function secretItem(name: string, state: string, data: Buffer, trustDomain: string, now: Date): SecretItem {
  const empty = { name, state, type: '', valid: false, serialNumber: '', notAfter: '', notBefore: '', trustDomain: '' };
  if (data.length === 0) return empty;
  const cert = firstCertificate(data);
  if (!cert) return empty;
  const notBefore = cert.validFromDate;
  const notAfter = cert.validToDate;
  return {
    name,
    state,
    type: cert.ca ? 'CA' : 'Cert Chain',
    valid: now > notBefore && now < notAfter,
    serialNumber: BigInt(`0x${cert.serialNumber}`).toString(16).padStart(32, '0'),
    notAfter: rfc3339(notAfter),
    notBefore: rfc3339(notBefore),
    trustDomain: trustDomain || spiffeTrustDomain(cert),
  };
}

/** The certificate in the first PEM block (as Go's pem.Decode + x509.ParseCertificate), or undefined. */
function firstCertificate(data: Buffer): X509Certificate | undefined {
  const block = /-----BEGIN ([^\n-]*)-----\r?\n([\s\S]*?)-----END \1-----/.exec(data.toString('latin1'));
  if (!block) return undefined;
  const body = block[2]
    .split(/\r?\n/)
    .filter((line) => !line.includes(':'))
    .join('');
  try {
    return new X509Certificate(Buffer.from(body, 'base64'));
  } catch {
    return undefined;
  }
}

/** The host of the last spiffe:// URI SAN. */
function spiffeTrustDomain(cert: X509Certificate): string {
  let domain = '';
  for (const m of (cert.subjectAltName ?? '').matchAll(/URI:"?(spiffe:\/\/[^,"]*)/g)) {
    try {
      domain = new URL(m[1]).host;
    } catch {
      // not a URI: not a trust domain
    }
  }
  return domain;
}

function rfc3339(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
