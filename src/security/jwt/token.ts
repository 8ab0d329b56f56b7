/**
 * JWT parsing and claim checks with Envoy's semantics (google/jwt_verify_lib Jwt::parseFromString,
 * verifyTimeConstraint, CheckAudience), so failures carry Envoy's exact status. The signature itself is
 * verified with jose (see keyset.ts).
 */
import { decode as decodeBase64url } from 'jose/base64url';
import { SUPPORTED_JWS_ALGS } from '../../common/jwks.js';
import { JwtStatus, type JwtStatusMessage } from './status.js';

export interface ParsedJwt {
  /** The compact token as received. */
  raw: string;
  alg: string;
  kid?: string;
  header: Record<string, unknown>;
  /** The payload segment exactly as in the token (what Envoy forwards in outputPayloadToHeader). */
  payloadB64: string;
  payload: Record<string, unknown>;
  iss: string;
  sub: string;
  audiences: string[];
  /** 0 when absent, as jwt_verify_lib. */
  exp: number;
  nbf: number;
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const SUPPORTED = new Set(SUPPORTED_JWS_ALGS);

function decodeJson(segment: string): { ok: true; value: unknown } | { ok: false; badBase64: boolean } {
  let bytes: Uint8Array;
  try {
    bytes = decodeBase64url(segment.replace(/=+$/, ''));
  } catch {
    return { ok: false, badBase64: true };
  }
  try {
    return { ok: true, value: JSON.parse(decoder.decode(bytes)) };
  } catch {
    return { ok: false, badBase64: false };
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Envoy's checks on a numeric date claim: absent → 0; not a number/integer, or negative → error. */
function intClaim(p: Record<string, unknown>, name: 'iat' | 'nbf' | 'exp'): number | JwtStatusMessage {
  const v = p[name];
  if (v === undefined) return 0;
  const notInt = { iat: JwtStatus.JwtPayloadParseErrorIatNotInteger, nbf: JwtStatus.JwtPayloadParseErrorNbfNotInteger, exp: JwtStatus.JwtPayloadParseErrorExpNotInteger }[name];
  const range = { iat: JwtStatus.JwtPayloadParseErrorIatOutOfRange, nbf: JwtStatus.JwtPayloadParseErrorNbfOutOfRange, exp: JwtStatus.JwtPayloadParseErrorExpOutOfRange }[name];
  if (typeof v !== 'number' || !Number.isInteger(v)) return notInt;
  if (v < 0 || v > Number.MAX_SAFE_INTEGER) return range;
  return v;
}

/** Parses a compact JWS token the way jwt_verify_lib does; returns the failure status otherwise. */
export function parseJwt(raw: string): ParsedJwt | JwtStatusMessage {
  const parts = raw.split('.');
  if (parts.length !== 3 || parts.some((p) => p === '')) return JwtStatus.JwtBadFormat;
  const h = decodeJson(parts[0]);
  if (!h.ok) return h.badBase64 ? JwtStatus.JwtHeaderParseErrorBadBase64 : JwtStatus.JwtHeaderParseErrorBadJson;
  if (!isObject(h.value)) return JwtStatus.JwtHeaderParseErrorBadJson;
  const header = h.value;
  if (typeof header.alg !== 'string') return JwtStatus.JwtHeaderBadAlg;
  if (!SUPPORTED.has(header.alg)) return JwtStatus.JwtHeaderNotImplementedAlg; // `none` among them
  if (header.kid !== undefined && typeof header.kid !== 'string') return JwtStatus.JwtHeaderBadKid;
  const p = decodeJson(parts[1]);
  if (!p.ok) return p.badBase64 ? JwtStatus.JwtPayloadParseErrorBadBase64 : JwtStatus.JwtPayloadParseErrorBadJson;
  if (!isObject(p.value)) return JwtStatus.JwtPayloadParseErrorBadJson;
  const payload = p.value;
  if (payload.iss !== undefined && typeof payload.iss !== 'string') return JwtStatus.JwtPayloadParseErrorIssNotString;
  if (payload.sub !== undefined && typeof payload.sub !== 'string') return JwtStatus.JwtPayloadParseErrorSubNotString;
  const iat = intClaim(payload, 'iat');
  if (typeof iat === 'string') return iat;
  const nbf = intClaim(payload, 'nbf');
  if (typeof nbf === 'string') return nbf;
  const exp = intClaim(payload, 'exp');
  if (typeof exp === 'string') return exp;
  if (payload.jti !== undefined && typeof payload.jti !== 'string') return JwtStatus.JwtPayloadParseErrorJtiNotString;
  let audiences: string[] = [];
  const aud = payload.aud;
  if (typeof aud === 'string') audiences = [aud];
  else if (Array.isArray(aud)) {
    if (!aud.every((a) => typeof a === 'string')) return JwtStatus.JwtPayloadParseErrorAudNotString;
    audiences = aud as string[];
  } else if (aud !== undefined) return JwtStatus.JwtPayloadParseErrorAudNotString;
  try {
    decodeBase64url(parts[2].replace(/=+$/, ''));
  } catch {
    return JwtStatus.JwtSignatureParseErrorBadBase64;
  }
  deepFreeze(payload); // shared by every request that presents this token (verified-token cache)
  return {
    raw,
    alg: header.alg,
    ...(typeof header.kid === 'string' ? { kid: header.kid } : {}),
    header,
    payloadB64: parts[1],
    payload,
    iss: (payload.iss as string | undefined) ?? '',
    sub: (payload.sub as string | undefined) ?? '',
    audiences: Object.freeze(audiences) as string[],
    exp,
    nbf,
  };
}

function deepFreeze(v: unknown): void {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return;
  Object.freeze(v);
  for (const x of Object.values(v)) deepFreeze(x);
}

/** Envoy's default clock skew for exp/nbf (JwtProvider.clock_skew_seconds). */
export const DEFAULT_CLOCK_SKEW_SECONDS = 60;

/** jwt_verify_lib verifyTimeConstraint: not yet valid if now + skew < nbf; expired if exp set and now > exp + skew. */
export function checkTime(jwt: Pick<ParsedJwt, 'exp' | 'nbf'>, nowSeconds: number, skewSeconds = DEFAULT_CLOCK_SKEW_SECONDS): JwtStatusMessage | undefined {
  if (nowSeconds + skewSeconds < jwt.nbf) return JwtStatus.JwtNotYetValid;
  if (jwt.exp && nowSeconds > jwt.exp + skewSeconds) return JwtStatus.JwtExpired;
  return undefined;
}

/**
 * jwt_verify_lib CheckAudience: scheme ("http://", "https://") and one trailing "/" are ignored on both
 * sides; any token audience in the configured list passes; an empty list allows every token.
 */
export function normalizeAudience(aud: string): string {
  let s = aud;
  if (s.startsWith('http://')) s = s.slice(7);
  else if (s.startsWith('https://')) s = s.slice(8);
  if (s.endsWith('/')) s = s.slice(0, -1);
  return s;
}

export function audienceAllowed(allowed: ReadonlySet<string> | undefined, tokenAudiences: readonly string[]): boolean {
  if (!allowed || allowed.size === 0) return true;
  return tokenAudiences.some((a) => allowed.has(normalizeAudience(a)));
}

/**
 * A claim as Envoy's claim_to_headers renders it: `.` walks nested objects; strings as is; numbers as an
 * integer when they are one (else C's %f, 6 decimals); booleans as true/false; objects and lists as the
 * base64 of their JSON (Envoy ≥ 1.29). Missing claims and empty strings give no header.
 */
export function claimHeaderValue(payload: Record<string, unknown>, claim: string): string | undefined {
  let v: unknown = payload;
  for (const name of claim.split('.')) {
    if (!isObject(v) || !Object.hasOwn(v, name)) return undefined;
    v = v[name];
  }
  let out: string;
  if (typeof v === 'string') out = v;
  else if (typeof v === 'number') out = Number.isInteger(v) && v >= 0 && v < 2 ** 64 ? BigInt(v).toString() : v.toFixed(6);
  else if (typeof v === 'boolean') out = v ? 'true' : 'false';
  else if (v !== null && typeof v === 'object') out = Buffer.from(JSON.stringify(v)).toString('base64');
  else return undefined;
  return out === '' ? undefined : out;
}
