import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { subjectAltNames } from './tls-store.js';

/** What a downstream mTLS peer proved, summarised once per connection (XFCC, authz, metrics). */
export interface PeerIdentity {
  /** `spiffe://<td>/ns/<ns>/sa/<sa>`, when the certificate has one. */
  spiffeId?: string;
  /** Istio's principal: the SPIFFE id without `spiffe://`. */
  principal?: string;
  uris: string[];
  dns: string[];
  /** The certificate subject as Envoy prints it (RFC 2253 order, e.g. `CN=a,O=b`), often empty in the mesh. */
  subject: string;
  /** Hex SHA-256 of the certificate's DER (XFCC's Hash). */
  sha256: string;
  /** TLS SNI the client asked for. */
  sni?: string;
}

export function peerIdentity(socket: TLSSocket): PeerIdentity | undefined {
  const cert = socket.getPeerCertificate();
  if (!cert || !cert.raw) return undefined;
  const sans = cert.subjectaltname ?? '';
  const uris = subjectAltNames(cert).filter((s) => sans.includes(`URI:${s}`));
  const dns = subjectAltNames(cert).filter((s) => sans.includes(`DNS:${s}`));
  const spiffeId = uris.find((u) => u.startsWith('spiffe://'));
  const subject = Object.entries(cert.subject ?? {})
    .reverse()
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join(',');
  const servername = (socket as TLSSocket & { servername?: string | false }).servername;
  return {
    ...(spiffeId ? { spiffeId, principal: spiffeId.slice('spiffe://'.length) } : {}),
    uris,
    dns,
    subject,
    sha256: createHash('sha256').update(cert.raw).digest('hex'),
    ...(servername ? { sni: servername } : {}),
  };
}
