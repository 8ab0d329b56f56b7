/**
 * JSON Web Key Set structure as Google's jwt_verify_lib (Envoy's) reads it: which keys are usable and
 * for which algorithms. Shared by config validation (Istio's RequestAuthentication jwks, Envoy's
 * local_jwks) and the verifier (src/security/jwt/keyset.ts).
 */
/** Algorithms Envoy's jwt_verify_lib implements (anything else, `none` included, is refused). */
export const SUPPORTED_JWS_ALGS: readonly string[] = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512', 'EdDSA',
];
const RSA_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];
const EC_CURVE_ALG: Record<string, string> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };
const B64URL = /^[A-Za-z0-9_-]+={0,2}$/;

export type JwkAnalysis =
  | { ok: true; kty: 'RSA' | 'EC' | 'OKP' | 'oct'; kid?: string; algs: string[] }
  | { ok: false; reason: string };

/**
 * What a JWK may verify: the algorithms are pinned by key type (RSnnn or PSnnn for RSA, the ESnnn of the curve for EC,
 * EdDSA for Ed25519, HSnnn only for an explicit `oct` key), narrowed to the key's own `alg` when it has one.
 * Messages are jwt_verify_lib's. Keys with `use: enc` are not signature keys.
 */
export function analyzeJwk(jwk: unknown): JwkAnalysis {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return { ok: false, reason: '[keys] entry is not an object' };
  const k = jwk as Record<string, unknown>;
  if (k.kty === undefined) return { ok: false, reason: '[kty] is missing in [keys]' };
  if (typeof k.kty !== 'string') return { ok: false, reason: '[kty] is bad in [keys]' };
  if (k.kid !== undefined && typeof k.kid !== 'string') return { ok: false, reason: '[kid] is not a string' };
  if (k.alg !== undefined && typeof k.alg !== 'string') return { ok: false, reason: '[alg] is not a string' };
  if (k.use === 'enc') return { ok: false, reason: 'key is for encryption ("use": "enc")' };
  const alg = k.alg as string | undefined;
  const kid = k.kid as string | undefined;
  const b64 = (name: string) => typeof k[name] === 'string' && B64URL.test(k[name] as string);
  switch (k.kty) {
    case 'RSA':
      if (alg !== undefined && !RSA_ALGS.includes(alg)) return { ok: false, reason: '[alg] is not started with [RS] or [PS] for an RSA key' };
      if (!b64('n')) return { ok: false, reason: '[n] field is missing for a RSA key' };
      if (!b64('e')) return { ok: false, reason: '[e] field is missing for a RSA key' };
      return { ok: true, kty: 'RSA', kid, algs: alg ? [alg] : RSA_ALGS };
    case 'EC': {
      if (alg !== undefined && !alg.startsWith('ES')) return { ok: false, reason: '[alg] is not started with [ES] for an EC key' };
      if (k.crv !== undefined && typeof k.crv !== 'string') return { ok: false, reason: '[crv] field is not string for an EC key' };
      // jwt_verify_lib: the curve comes from crv, else from alg; with neither, P-256
      const crv = k.crv as string | undefined;
      const crvAlg = crv ? EC_CURVE_ALG[crv] : (alg ?? 'ES256');
      if (!crvAlg || !Object.values(EC_CURVE_ALG).includes(crvAlg)) return { ok: false, reason: '[crv] or [alg] field is not supported for an EC key' };
      if (alg !== undefined && alg !== crvAlg) return { ok: false, reason: '[crv] field specified is not compatible with [alg] for an EC key' };
      if (!b64('x')) return { ok: false, reason: '[x] field is missing for an EC key' };
      if (!b64('y')) return { ok: false, reason: '[y] field is missing for an EC key' };
      return { ok: true, kty: 'EC', kid, algs: [crvAlg] };
    }
    case 'OKP':
      if (alg !== undefined && alg !== 'EdDSA') return { ok: false, reason: '[alg] is not [EdDSA] for an OKP key' };
      if (k.crv !== 'Ed25519') return { ok: false, reason: '[crv] field is not supported for an OKP key' };
      if (!b64('x')) return { ok: false, reason: '[x] field is missing for an OKP key' };
      return { ok: true, kty: 'OKP', kid, algs: ['EdDSA'] };
    case 'oct':
      if (alg !== undefined && !HMAC_ALGS.includes(alg)) return { ok: false, reason: '[alg] does not start with [HS] for an HMAC key' };
      if (!b64('k')) return { ok: false, reason: '[k] field is missing for an HMAC key' };
      return { ok: true, kty: 'oct', kid, algs: alg ? [alg] : HMAC_ALGS };
    default:
      return { ok: false, reason: '[kty] is not supported in [keys]' };
  }
}

/** Parses JWKS text; returns the key objects, or the reason it is not a JWKS (jwt_verify_lib's wording). */
export function parseJwksText(text: string): { keys: unknown[] } | { error: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { error: 'Jwks is an invalid JSON' };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return { error: 'Jwks is an invalid JSON' };
  const keys = (doc as Record<string, unknown>).keys;
  if (keys === undefined) return { error: 'Jwks does not have [keys] field' };
  if (!Array.isArray(keys)) return { error: '[keys] in Jwks is not an array' };
  return { keys };
}

/** Why inline JWKS text cannot verify anything, or undefined when it has at least one usable key. */
export function checkJwksText(text: string): string | undefined {
  const parsed = parseJwksText(text);
  if ('error' in parsed) return `jwks is not a JSON Web Key Set: ${parsed.error}`;
  const problems = parsed.keys.map(analyzeJwk);
  if (problems.some((a) => a.ok)) return undefined;
  const first = problems.find((a): a is { ok: false; reason: string } => !a.ok);
  return `jwks has no usable public key (Jwks doesn't have any valid public key)${first ? `: ${first.reason}` : ''}`;
}
