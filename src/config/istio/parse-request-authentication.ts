/**
 * RequestAuthentication (security.istio.io v1 / v1beta1): the JWT rules a workload verifies.
 *
 * Validation follows Istio's (pkg/config/validation validateJwtRule + the CRD's CEL rules):
 * - `issuer` or `jwksUri` must be set (newer Istio lets `issuer` be omitted when `jwksUri` is given;
 *   the token's `iss` is then not checked, as Envoy's JwtProvider does with an empty issuer);
 * - `jwksUri` must be an http:// or https:// URL (security.ParseJwksURI);
 * - `jwks` must parse as a JSON Web Key Set (Istio runs jwk.Parse on it); here it must also hold at least
 *   one key usable for signatures, or every token would fail;
 * - `jwks` and `jwksUri` together: the API says "jwks_uri will be ignored" (warning);
 * - audiences, fromParams, fromCookies entries and fromHeaders[].name must be non-empty;
 * - outputClaimToHeaders: `header` and `claim` non-empty, `header` a plain header name ([-_A-Za-z0-9]+),
 *   and unique ("The header specified in each operation in the list must be unique");
 * - `timeout` a duration of at least 1ms (default 5s, the JWKS fetch timeout Istio sets);
 * - `targetRef` / `targetRefs`: refused, not supported yet (Gateway API / waypoint attachment).
 * Duplicate issuers are accepted, as Istio does (it makes one Envoy provider per rule, and a token
 * verifies if any of the rules sharing its location and issuer accepts it); a warning names them.
 */
import type { Field } from '../reader.js';
import type { ResourceMeta } from './resources.js';
import { describeResource } from './parse.js';
import { parseWorkloadSelector } from './parse-peer-authentication.js';
import { checkJwksText } from '../../common/jwks.js';

export interface JwtHeaderLocationSpec {
  /** Header name, lower-case. */
  name: string;
  /** Value prefix to strip, e.g. "Bearer " (matched case-sensitively, as Envoy does); '' for none. */
  prefix: string;
}

export interface ClaimToHeaderSpec {
  /** Header name, lower-case. */
  header: string;
  /** Claim name; `.` separates nested claims (Envoy's claim_to_headers). */
  claim: string;
}

export type JwtPresence = 'OPTIONAL' | 'REQUIRED';

export interface JwtRuleSpec {
  /** '' when omitted (allowed with jwksUri): the token's iss is then not checked. */
  issuer: string;
  audiences: string[];
  jwksUri?: string;
  /** Inline JWKS text (already checked to parse as a JWKS with a usable key). */
  jwks?: string;
  fromHeaders: JwtHeaderLocationSpec[];
  fromParams: string[];
  fromCookies: string[];
  /** Header that receives the base64url payload of a verified token; lower-case. */
  outputPayloadToHeader?: string;
  forwardOriginalToken: boolean;
  outputClaimToHeaders: ClaimToHeaderSpec[];
  /** JWKS fetch timeout (Istio's default 5s). */
  timeoutMs: number;
  /** Claims authorization reads as space-delimited lists; Istio always adds `scope` and `permission`. */
  spaceDelimitedClaims: string[];
  /** REQUIRED: a token for this rule must be present (and valid); OPTIONAL (default): a missing token passes. */
  presence: JwtPresence;
  /** `Kind ns/name jwtRules[i]`, for logs and results. */
  source: string;
}

export interface RequestAuthenticationSpec {
  meta: ResourceMeta;
  /** `selector.matchLabels`; undefined = every workload of the namespace (of the mesh in the root namespace). */
  selector?: Record<string, string>;
  jwtRules: JwtRuleSpec[];
}

const RULE_FIELDS = [
  'issuer', 'audiences', 'jwksUri', 'jwks', 'fromHeaders', 'fromParams', 'outputPayloadToHeader', 'fromCookies',
  'forwardOriginalToken', 'outputClaimToHeaders', 'timeout', 'spaceDelimitedClaims', 'presence',
];
const DEFAULT_TIMEOUT_MS = 5000;
const CLAIM_HEADER = /^[-_A-Za-z0-9]+$/;
/** RFC 7230 token characters: what an HTTP header name may contain. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function parseRequestAuthentication(spec: Field, meta: ResourceMeta, warnings: string[]): RequestAuthenticationSpec {
  spec.object(['selector', 'targetRef', 'targetRefs', 'jwtRules']);
  for (const k of ['targetRef', 'targetRefs']) {
    if (spec.at(k).present) {
      spec.at(k).fail(`${k} is not supported yet: Outrigger attaches RequestAuthentication by selector (or to the whole namespace), not to Gateway API gateways or waypoints`);
    }
  }
  const selector = parseWorkloadSelector(spec.at('selector'));
  const jwtRules = spec.at('jwtRules').optList().map((r, i) => parseJwtRule(r, `${describeResource(meta)} jwtRules[${i}]`, warnings));
  const byIssuer = new Map<string, number>();
  jwtRules.forEach((r, i) => {
    const first = byIssuer.get(r.issuer);
    if (first === undefined) byIssuer.set(r.issuer, i);
    else {
      warnings.push(`${describeResource(meta)}: jwtRules[${first}] and jwtRules[${i}] have the same issuer "${r.issuer}"; ` +
        'a token verifies if either rule (sharing its location) accepts it');
    }
  });
  return { meta, ...(selector ? { selector } : {}), jwtRules };
}

function parseJwtRule(r: Field, source: string, warnings: string[]): JwtRuleSpec {
  r.object(RULE_FIELDS);
  const issuer = r.at('issuer').optString() ?? '';
  const audiences = nonEmptyStrings(r.at('audiences'), 'audience');
  const jwksUri = r.at('jwksUri').optString() || undefined;
  if (!issuer && !jwksUri) r.at('issuer').fail('issuer must be set (it may only be omitted when jwksUri is given)');
  if (jwksUri !== undefined) checkJwksUri(r.at('jwksUri'), jwksUri);
  const jwks = r.at('jwks').optString() || undefined;
  if (jwks !== undefined) {
    const problem = checkJwksText(jwks);
    if (problem) r.at('jwks').fail(problem);
    if (jwksUri) warnings.push(`${source}: both jwks and jwksUri are set; jwksUri is ignored (Istio uses the inline jwks)`);
  }
  const fromHeaders = r.at('fromHeaders').optList().map((h) => {
    h.object(['name', 'prefix']);
    const name = h.at('name').nonEmptyString();
    if (!HEADER_NAME.test(name)) h.at('name').fail(`"${name}" is not a valid HTTP header name`);
    return { name: name.toLowerCase(), prefix: h.at('prefix').optString() ?? '' };
  });
  const fromParams = nonEmptyStrings(r.at('fromParams'), 'location query');
  const fromCookies = nonEmptyStrings(r.at('fromCookies'), 'cookie name');
  const payloadHeader = r.at('outputPayloadToHeader').optString() || undefined;
  if (payloadHeader !== undefined && !HEADER_NAME.test(payloadHeader)) {
    r.at('outputPayloadToHeader').fail(`"${payloadHeader}" is not a valid HTTP header name`);
  }
  const seenHeaders = new Set<string>();
  const outputClaimToHeaders = r.at('outputClaimToHeaders').optList().map((c) => {
    c.object(['header', 'claim']);
    const header = c.at('header').nonEmptyString();
    const claim = c.at('claim').nonEmptyString();
    if (!CLAIM_HEADER.test(header)) c.at('header').fail(`"${header}" is not a valid header name (letters, digits, '-' and '_' only)`);
    const lower = header.toLowerCase();
    if (seenHeaders.has(lower)) c.at('header').fail(`header "${header}" is already the target of another outputClaimToHeaders entry; headers must be unique`);
    seenHeaders.add(lower);
    return { header: lower, claim };
  });
  const timeoutMs = r.at('timeout').optDurationMs() ?? DEFAULT_TIMEOUT_MS;
  if (timeoutMs < 1) r.at('timeout').fail('timeout must be a valid duration of at least 1ms');
  const spaceDelimitedClaims = nonEmptyStrings(r.at('spaceDelimitedClaims'), 'space delimited claim');
  const presence = r.at('presence').optOneOf<JwtPresence>(['OPTIONAL', 'REQUIRED']) ?? 'OPTIONAL';
  if (!jwks && !jwksUri) {
    warnings.push(`${source}: no jwks or jwksUri; the key set is discovered from ${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
  }
  return {
    issuer,
    audiences,
    ...(jwksUri ? { jwksUri } : {}),
    ...(jwks ? { jwks } : {}),
    fromHeaders,
    fromParams,
    fromCookies,
    ...(payloadHeader ? { outputPayloadToHeader: payloadHeader.toLowerCase() } : {}),
    forwardOriginalToken: r.at('forwardOriginalToken').optBool() ?? false,
    outputClaimToHeaders,
    timeoutMs,
    spaceDelimitedClaims,
    presence,
    source,
  };
}

function nonEmptyStrings(f: Field, what: string): string[] {
  return f.optList().map((e) => {
    const s = e.string();
    if (s === '') e.fail(`${what} must be a non-empty string`);
    return s;
  });
}

function checkJwksUri(f: Field, uri: string): void {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    f.fail(`jwksUri "${uri}" is not a valid URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') f.fail(`URI scheme "${u.protocol.replace(/:$/, '')}" is not supported; jwksUri must be http:// or https://`);
  if (!u.hostname) f.fail('jwksUri must name a host');
}
