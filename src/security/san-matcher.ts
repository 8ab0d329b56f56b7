import type { PeerCertificate } from 'node:tls';
import type { CertificateValidationContext, SubjectAltNameMatcher } from '../config/snapshot.js';
import { compileStringMatch } from '../router/match.js';

/** Checks a peer certificate's SANs; an Error says why it is refused. */
export type SanCheck = (cert: PeerCertificate) => Error | undefined;

type SanType = SubjectAltNameMatcher['sanType'];

/** Node's `subjectaltname` tags for Envoy's SAN types. */
const NODE_SAN_TAGS: Record<string, SanType> = { URI: 'URI', DNS: 'DNS', email: 'EMAIL', 'IP Address': 'IP_ADDRESS' };

/** The certificate's SANs with their types. */
function typedSans(cert: PeerCertificate): { type: SanType; value: string }[] {
  const text = cert.subjectaltname;
  if (!text) return [];
  const out: { type: SanType; value: string }[] = [];
  for (const entry of text.split(', ')) {
    const colon = entry.indexOf(':');
    const type = NODE_SAN_TAGS[entry.slice(0, colon)];
    if (type) out.push({ type, value: entry.slice(colon + 1) });
  }
  return out;
}

/**
 * Envoy's SAN matching, compiled once: the certificate passes when one of its SANs matches one
 * matcher (match_subject_alt_names: any SAN type; match_typed_subject_alt_names: its own type).
 * No matcher at all: any certificate the CA vouches for.
 */
export function compileSanCheck(v: CertificateValidationContext | undefined): SanCheck {
  const untyped = (v?.matchSubjectAltNames ?? []).map(compileStringMatch);
  const typed = (v?.matchTypedSubjectAltNames ?? []).map((m) => ({ type: m.sanType, test: compileStringMatch(m.matcher) }));
  if (!untyped.length && !typed.length) return () => undefined;
  return (cert) => {
    const sans = typedSans(cert);
    if (sans.some((s) => untyped.some((t) => t(s.value)) || typed.some((t) => t.type === s.type && t.test(s.value)))) return undefined;
    return new Error(`peer certificate SANs [${sans.map((s) => s.value).join(', ')}] match none of the accepted names`);
  };
}
