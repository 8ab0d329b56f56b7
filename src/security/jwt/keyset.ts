/**
 * A parsed JSON Web Key Set and signature verification against it (jose), with jwt_verify_lib's key
 * selection: a token with a `kid` only tries keys with that kid (or without one); a key with an `alg`
 * only verifies that alg. On top of that every key is pinned to the algorithms its type allows
 * (analyzeJwk): RSnnn or PSnnn for RSA, the curve's ESnnn for EC, EdDSA for Ed25519, HSnnn only for an explicit
 * `oct` key. So `none` never verifies (parseJwt refuses it) and an HS256 token can never be checked with
 * an RSA public key used as an HMAC secret (alg confusion).
 */
import type { CryptoKey, JWK } from 'jose';
import { analyzeJwk, parseJwksText } from '../../common/jwks.js';
import { JwtStatus, type JwtStatusMessage } from './status.js';

interface KeyEntry {
  kid?: string;
  /** The JWK's own alg, when it names one (jwt_verify_lib's kid/alg filter). */
  alg?: string;
  /** What the key type allows (pinning). */
  algs: ReadonlySet<string>;
  /** The public members only (private ones are dropped before import). */
  jwk: JWK;
  imported: Map<string, Promise<CryptoKey | Uint8Array>>;
}

const PUBLIC_MEMBERS: Record<string, readonly string[]> = {
  RSA: ['kty', 'n', 'e'],
  EC: ['kty', 'crv', 'x', 'y'],
  OKP: ['kty', 'crv', 'x'],
  oct: ['kty', 'k'],
};

/**
 * jose's signature check and key import, loaded on first use (a key set's warm-up, at config time): a
 * proxy without JWT rules never loads them (0.4 MiB of V8 heap in each thread that does).
 */
interface JoseApi {
  compactVerify: typeof import('jose').compactVerify;
  importJWK: typeof import('jose').importJWK;
}
let joseLoading: Promise<JoseApi> | undefined;
let jose: JoseApi | undefined;
function loadJose(): Promise<JoseApi> {
  return (joseLoading ??= Promise.all([import('jose/jws/compact/verify'), import('jose/key/import')]).then(
    ([verify, key]) => (jose = { compactVerify: verify.compactVerify, importJWK: key.importJWK }),
  ));
}

export type KeyVerifyResult = { ok: true } | { ok: false; status: JwtStatusMessage; unknownKid: boolean };

export class JwksKeySet {
  private constructor(
    private readonly keys: readonly KeyEntry[],
    /** Keys that could not be used, with jwt_verify_lib's reason. */
    readonly skipped: readonly string[],
  ) {}

  get size(): number {
    return this.keys.length;
  }

  /** Parses JWKS text. A set without a single usable key is an error (Envoy: JwksNoValidKeys). */
  static parse(text: string): JwksKeySet | { error: string } {
    const parsed = parseJwksText(text);
    if ('error' in parsed) return parsed;
    const keys: KeyEntry[] = [];
    const skipped: string[] = [];
    parsed.keys.forEach((raw, i) => {
      const a = analyzeJwk(raw);
      if (!a.ok) {
        skipped.push(`keys[${i}]: ${a.reason}`);
        return;
      }
      const src = raw as Record<string, unknown>;
      const jwk: Record<string, unknown> = {};
      for (const m of PUBLIC_MEMBERS[a.kty]) if (src[m] !== undefined) jwk[m] = src[m];
      if (a.kty === 'EC' && jwk.crv === undefined) jwk.crv = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' }[a.algs[0]];
      keys.push({
        ...(a.kid !== undefined ? { kid: a.kid } : {}),
        ...(typeof src.alg === 'string' ? { alg: src.alg } : {}),
        algs: new Set(a.algs),
        jwk: jwk as JWK,
        imported: new Map(),
      });
    });
    if (keys.length === 0) return { error: skipped.length ? `${JwtStatus.JwksNoValidKeys} (${skipped.join('; ')})` : JwtStatus.JwksNoValidKeys };
    return new JwksKeySet(keys, skipped);
  }

  /** Whether some key could be selected for this kid (a kid-less key matches every kid). */
  hasKid(kid: string | undefined): boolean {
    return this.keys.some((k) => kid === undefined || k.kid === undefined || k.kid === kid);
  }

  /** Imports every key for every algorithm it allows, so the first requests do not pay for it. */
  async warm(): Promise<void> {
    await Promise.all(this.keys.flatMap((k) => [...k.algs].map((alg) => this.importFor(k, alg).catch(() => undefined))));
  }

  private importFor(k: KeyEntry, alg: string): Promise<CryptoKey | Uint8Array> {
    let p = k.imported.get(alg);
    if (!p) {
      p = loadJose().then((api) => api.importJWK(k.jwk, alg));
      k.imported.set(alg, p);
    }
    return p;
  }

  /** Verifies the token's signature (jose compactVerify, the algorithm pinned to the token's alg). */
  async verify(token: string, alg: string, kid: string | undefined): Promise<KeyVerifyResult> {
    let matched = false;
    for (const k of this.keys) {
      if (kid !== undefined && k.kid !== undefined && k.kid !== kid) continue;
      if (k.alg !== undefined && k.alg !== alg) continue;
      matched = true;
      if (!k.algs.has(alg)) continue; // wrong key type for this alg: never try (e.g. HS256 with an RSA key)
      try {
        const key = await this.importFor(k, alg);
        await (jose ?? (await loadJose())).compactVerify(token, key, { algorithms: [alg] });
        return { ok: true };
      } catch {
        // bad signature, or a key jose refuses (e.g. RSA below 2048 bits): try the next key
      }
    }
    return matched
      ? { ok: false, status: JwtStatus.JwtVerificationFail, unknownKid: false }
      : { ok: false, status: JwtStatus.JwksKidAlgMismatch, unknownKid: kid !== undefined };
  }
}
