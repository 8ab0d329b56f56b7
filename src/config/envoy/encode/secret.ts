/**
 * Snapshot secrets as Envoy's extensions.transport_sockets.tls.v3.Secret JSON, as Envoy's config
 * dump shows SDS secrets: the PEM as inline_bytes (base64), the private key redacted.
 */
import type { Secret } from '../../snapshot.js';
import { any, type Json } from './values.js';

/** What Envoy prints instead of a private key. */
export const REDACTED_KEY = { inline_string: '[redacted]' };

export function encodeSecret(s: Secret): Json {
  const bytes = (pem: string) => ({ inline_bytes: Buffer.from(pem).toString('base64') });
  if ('tlsCertificate' in s) return any('envoy.extensions.transport_sockets.tls.v3.Secret', { name: s.name, tls_certificate: { certificate_chain: bytes(s.tlsCertificate.certificateChain), private_key: REDACTED_KEY } });
  return any('envoy.extensions.transport_sockets.tls.v3.Secret', { name: s.name, validation_context: { trusted_ca: bytes(s.validationContext.trustedCa) } });
}
