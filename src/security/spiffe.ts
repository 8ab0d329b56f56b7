// SPIFFE IDs in Istio's shape: spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>.

export const SPIFFE_PREFIX = 'spiffe://';

/** The three parts of an Istio workload's SPIFFE ID. */
export interface SpiffeIdParts {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

/** A workload identity as the data plane uses it: the parts plus both written forms. */
export interface SpiffeIdentity extends SpiffeIdParts {
  /** `spiffe://cluster.local/ns/default/sa/web` */
  spiffeId: string;
  /** Istio's principal (AuthorizationPolicy `principals`, `source.principal`): the ID without `spiffe://`. */
  principal: string;
}

// SPIFFE spec (SPIFFE-ID.md §2): trust domain is lowercase letters, digits, '.', '-', '_'; path
// segments add uppercase letters, and '.'/'..' are forbidden. Being this strict means no
// percent-encoding, query or fragment can smuggle a second meaning into an identity.
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SEGMENT = /^[A-Za-z0-9._-]+$/;
const MAX_ID_LENGTH = 2048;

function validSegment(s: string): boolean {
  return SEGMENT.test(s) && s !== '.' && s !== '..';
}

/** True if `td` may be the trust domain of a SPIFFE ID (`cluster.local`). */
export function isValidTrustDomain(td: string): boolean {
  return TRUST_DOMAIN.test(td) && td.length <= 255;
}

/** Splits an Istio SPIFFE ID; undefined for anything not exactly `spiffe://td/ns/<ns>/sa/<sa>`. */
export function parseSpiffeId(uri: string): SpiffeIdParts | undefined {
  if (!uri.startsWith(SPIFFE_PREFIX) || uri.length > MAX_ID_LENGTH) return undefined;
  const parts = uri.slice(SPIFFE_PREFIX.length).split('/');
  if (parts.length !== 5 || parts[1] !== 'ns' || parts[3] !== 'sa') return undefined;
  const [trustDomain, , namespace, , serviceAccount] = parts;
  if (!isValidTrustDomain(trustDomain) || !validSegment(namespace) || !validSegment(serviceAccount)) return undefined;
  return { trustDomain, namespace, serviceAccount };
}

/** Formats a SPIFFE ID; throws on parts that would not parse back (so no bad ID reaches a certificate). */
export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  const id = `${SPIFFE_PREFIX}${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
  if (!parseSpiffeId(id)) {
    throw new Error(`not a valid SPIFFE ID: "${id}" (trust domain: a-z 0-9 . - _; namespace and service account: A-Z a-z 0-9 . - _)`);
  }
  return id;
}

/** Istio's principal form of a SPIFFE ID: `cluster.local/ns/default/sa/web`. */
export function principalOf(id: string): string {
  return id.startsWith(SPIFFE_PREFIX) ? id.slice(SPIFFE_PREFIX.length) : id;
}

/** The full identity of a SPIFFE ID, or undefined if it is not in Istio's shape. */
export function spiffeIdentity(uri: string): SpiffeIdentity | undefined {
  const parts = parseSpiffeId(uri);
  return parts && { ...parts, spiffeId: uri, principal: principalOf(uri) };
}
