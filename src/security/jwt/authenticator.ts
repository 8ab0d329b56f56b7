/**
 * JWT authentication of a request by Envoy's jwt_authn filter config (JwtAuthentication), with the
 * requirements istiod generates for a workload's RequestAuthentication rules (one provider per rule,
 * pilot/pkg/security/authn convertToEnvoyJwtConfig; see requirement.ts):
 *
 * - each token location (header + prefix, query parameter, cookie) knows the providers that read it;
 *   a provider without locations reads `Authorization: Bearer <t>` and `?access_token=<t>`;
 * - no token anywhere → `none`: the request passes without a principal (requirement allow_missing);
 *   a token in a location no rule reads is ignored;
 * - every token found must be valid (Envoy: "If a request has multiple tokens, all of them must be
 *   valid"); a token is valid if one of the providers reading its location, with the token's issuer (or
 *   without an issuer), accepts it; one failure → `invalid` (401, or 403 for audiences) with Envoy's
 *   status string as the reason;
 * - checks in Envoy's order: format, alg (the jwt_verify_lib list; `none` is refused), issuer, exp/nbf with
 *   60s skew, audiences (any match; scheme and trailing "/" ignored), key (kid/alg), signature (jose);
 * - required providers (a bare providerName requirement): a token must be in one of their locations
 *   (else "Jwt is missing"), and every token there must verify with that provider;
 * - CORS preflights (OPTIONS with Origin and Access-Control-Request-Method) are not verified when
 *   bypassCorsPreflight is set (Istio sets it);
 * - header mutations, Envoy's order: first remove every provider's forwardPayloadHeader and
 *   claimToHeaders headers (sanitizePayloadHeaders, so clients cannot forge them), then per verified
 *   token: add the payload header (the token's payload segment, base64url, padded with
 *   padForwardPayloadHeader), add the claim headers, and unless `forward` remove the token (its whole
 *   header, or its query parameter).
 *
 * With several valid tokens the principal is that of the first in Envoy's extraction order (Istio:
 * "the output principal of such requests is undefined"); all are listed in `tokens`.
 */
import type { JwtAuthentication, JwtProvider } from '../../config/envoy/jwt-authn.js';
import { JwksCache, StaticJwks, type JwksFetchOptions, type JwksSource, RemoteJwks } from './jwks-source.js';
import {
  headerValues, parseCookies, parseQuery, queryValue, tokenFromHeaderValue,
  type HeaderMutation, type JwtRequest,
} from './request.js';
import { providerPresence } from './requirement.js';
import { httpStatusFor, JwtStatus, type JwtStatusMessage } from './status.js';
import { VerifiedTokenCache, type CachedToken } from './token-cache.js';
import {
  audienceAllowed, checkTime, claimHeaderValue, DEFAULT_CLOCK_SKEW_SECONDS, normalizeAudience, parseJwt,
  type ParsedJwt,
} from './token.js';

export interface TokenLocation {
  kind: 'header' | 'param' | 'cookie';
  name: string;
  /** Header value prefix ('' for none and for params and cookies). */
  prefix: string;
}

export interface VerifiedJwt {
  /** `iss/sub`, Istio's request principal. */
  principal: string;
  issuer: string;
  subject: string;
  claims: Readonly<Record<string, unknown>>;
  audiences: readonly string[];
  /** `azp`, the authorized presenter. */
  presenter?: string;
  /** The provider that verified it. */
  provider: string;
  /** The provider's payloadInMetadata: the key of the payload in the filter's dynamic metadata. */
  payloadInMetadata?: string;
  location: TokenLocation;
  token: string;
}

export type JwtAuthResult =
  | { status: 'none'; headerMutations: HeaderMutation[]; corsPreflight?: true }
  | { status: 'invalid'; reason: JwtStatusMessage; httpStatus: 401 | 403; location?: TokenLocation; provider?: string }
  | ({ status: 'valid'; headerMutations: HeaderMutation[]; tokens: VerifiedJwt[] } & VerifiedJwt);

export interface JwtAuthenticatorOptions {
  /** Shared remote key sets (reuse one across config reloads); a private one by default. */
  jwksCache?: JwksCache;
  /** Fetch settings for the private JwksCache (ignored when jwksCache is given). */
  fetch?: JwksFetchOptions;
  /** Clock in ms (Date.now by default). */
  now?: () => number;
  /** Clock skew for providers that set none (Envoy's default 60 s). */
  clockSkewSeconds?: number;
  /**
   * Capacity of the verified-token LRU (default 100, Envoy's jwt_cache_size default; 0 disables it, which is
   * what Envoy does when Istio configures it). A hit skips the signature check (~50 µs → ~3 µs per request
   * for RS256); expiry, issuer and audiences are still checked every time.
   */
  verifiedTokenCacheSize?: number;
}

interface CompiledRule {
  index: number;
  name: string;
  spec: JwtProvider;
  issuer: string;
  audiences: ReadonlySet<string>;
  skewSeconds: number;
  source: JwksSource;
}

interface Location extends TokenLocation {
  rules: CompiledRule[];
}

interface FoundToken {
  loc: Location;
  token: string;
}

export const DEFAULT_VERIFIED_TOKEN_CACHE_SIZE = 100;

type RuleCheck = { ok: true; parsed: ParsedJwt } | { ok: false; status: JwtStatusMessage };

export class JwtAuthenticator {
  private readonly rules: CompiledRule[];
  private readonly headerLocs: Location[];
  private readonly paramLocs: Location[];
  private readonly cookieLocs: Location[];
  private readonly required: CompiledRule[];
  private readonly sanitize: HeaderMutation[];
  private readonly bypassCorsPreflight: boolean;
  private readonly now: () => number;
  private readonly cache: VerifiedTokenCache | undefined;
  readonly jwksCache: JwksCache;

  constructor(config: JwtAuthentication, options: JwtAuthenticatorOptions = {}) {
    this.now = options.now ?? options.fetch?.now ?? Date.now;
    const skew = options.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
    this.jwksCache = options.jwksCache ?? new JwksCache({ ...options.fetch, now: options.fetch?.now ?? options.now });
    const size = options.verifiedTokenCacheSize ?? DEFAULT_VERIFIED_TOKEN_CACHE_SIZE;
    this.cache = size > 0 ? new VerifiedTokenCache(size) : undefined;
    this.bypassCorsPreflight = config.bypassCorsPreflight === true;
    const presence = providerPresence(config);
    // providers in the config's order; those no requirement names verify nothing
    this.rules = Object.entries(config.providers)
      .filter(([name]) => presence.has(name))
      .map(([name, spec], index) => ({
        index,
        name,
        spec,
        issuer: spec.issuer ?? '',
        audiences: new Set((spec.audiences ?? []).map(normalizeAudience)),
        skewSeconds: spec.clockSkewSeconds ?? skew,
        source: jwksSource(spec, this.jwksCache),
      }));
    this.required = this.rules.filter((r) => presence.get(r.name) === 'required');
    const headers = new Map<string, Location>();
    const params = new Map<string, Location>();
    const cookies = new Map<string, Location>();
    const at = (m: Map<string, Location>, key: string, loc: TokenLocation, r: CompiledRule) => {
      let l = m.get(key);
      if (!l) m.set(key, (l = { ...loc, rules: [] }));
      if (!l.rules.includes(r)) l.rules.push(r);
    };
    for (const r of this.rules) {
      const { fromHeaders = [], fromParams = [], fromCookies = [] } = r.spec;
      for (const h of fromHeaders) {
        const prefix = h.valuePrefix ?? '';
        at(headers, h.name + prefix, { kind: 'header', name: h.name, prefix }, r);
      }
      for (const p of fromParams) at(params, p, { kind: 'param', name: p, prefix: '' }, r);
      for (const c of fromCookies) at(cookies, c, { kind: 'cookie', name: c, prefix: '' }, r);
      if (!fromHeaders.length && !fromParams.length && !fromCookies.length) {
        at(headers, 'authorizationBearer ', { kind: 'header', name: 'authorization', prefix: 'Bearer ' }, r);
        at(params, 'access_token', { kind: 'param', name: 'access_token', prefix: '' }, r);
      }
    }
    // Envoy keeps locations in std::maps: sorted by key
    const sorted = (m: Map<string, Location>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, l]) => l);
    this.headerLocs = sorted(headers);
    this.paramLocs = sorted(params);
    this.cookieLocs = sorted(cookies);
    const names = new Set<string>();
    for (const r of this.rules) {
      if (r.spec.forwardPayloadHeader) names.add(r.spec.forwardPayloadHeader);
      for (const c of r.spec.claimToHeaders ?? []) names.add(c.headerName);
    }
    this.sanitize = [...names].map((name) => ({ op: 'remove', name }));
  }

  /** Remote key sets this authenticator uses (to keep them in a shared JwksCache). */
  get remoteSources(): RemoteJwks[] {
    return [...new Set(this.rules.map((r) => r.source).filter((s): s is RemoteJwks => s instanceof RemoteJwks))];
  }

  /** Inline key sets (localJwks) that could not be used, by provider. */
  get inlineJwksErrors(): { provider: string; error: string }[] {
    return this.rules.flatMap((r) => (r.source instanceof StaticJwks && r.source.error ? [{ provider: r.name, error: r.source.error }] : []));
  }

  /** Starts fetching remote key sets; resolves when every first fetch has finished (or failed). */
  async start(): Promise<void> {
    await Promise.all(this.remoteSources.map((s) => (s.generation > 0 ? undefined : s.refresh())));
  }

  get cacheStats(): { hits: number; misses: number; size: number } | undefined {
    return this.cache ? { hits: this.cache.hits, misses: this.cache.misses, size: this.cache.size } : undefined;
  }

  async authenticate(req: JwtRequest): Promise<JwtAuthResult> {
    if (this.rules.length === 0) return { status: 'none', headerMutations: [] };
    if (this.bypassCorsPreflight && isCorsPreflight(req)) return { status: 'none', headerMutations: [...this.sanitize], corsPreflight: true };
    const found = this.extract(req);
    for (const r of this.required) {
      if (!found.some((t) => t.loc.rules.includes(r))) return invalid(JwtStatus.JwtMissed, undefined, r.name);
    }
    if (found.length === 0) return { status: 'none', headerMutations: [...this.sanitize] };

    const nowSeconds = Math.floor(this.now() / 1000);
    const verified: { t: FoundToken; rule: CompiledRule; parsed: ParsedJwt }[] = [];
    for (const t of found) {
      const v = await this.verifyToken(t, nowSeconds);
      if (!v.ok) return invalid(v.status, t.loc, v.rule?.name);
      verified.push({ t, rule: v.rule, parsed: v.parsed });
    }
    for (const r of this.required) {
      for (const v of verified) {
        if (v.rule === r || !v.t.loc.rules.includes(r)) continue;
        const c = await this.checkWithRule(v.t.token, v.parsed, r, nowSeconds);
        if (!c.ok) return invalid(c.status, v.t.loc, r.name);
      }
    }

    const mutations: HeaderMutation[] = [...this.sanitize];
    const tokens: VerifiedJwt[] = [];
    for (const { t, rule, parsed } of verified) {
      const s = rule.spec;
      if (s.forwardPayloadHeader) {
        const value = s.padForwardPayloadHeader ? padBase64(parsed.payloadB64) : parsed.payloadB64;
        mutations.push({ op: 'add', name: s.forwardPayloadHeader, value });
      }
      for (const c of s.claimToHeaders ?? []) {
        const value = claimHeaderValue(parsed.payload, c.claimName);
        if (value !== undefined) mutations.push({ op: 'add', name: c.headerName, value });
      }
      if (!s.forward) {
        if (t.loc.kind === 'header') mutations.push({ op: 'remove', name: t.loc.name });
        else if (t.loc.kind === 'param') mutations.push({ op: 'removeQueryParam', name: t.loc.name });
        // cookies: Envoy does not remove them either
      }
      const azp = parsed.payload.azp;
      tokens.push({
        principal: `${parsed.iss}/${parsed.sub}`,
        issuer: parsed.iss,
        subject: parsed.sub,
        claims: parsed.payload,
        audiences: parsed.audiences,
        ...(typeof azp === 'string' ? { presenter: azp } : {}),
        provider: rule.name,
        ...(s.payloadInMetadata ? { payloadInMetadata: s.payloadInMetadata } : {}),
        location: { kind: t.loc.kind, name: t.loc.name, prefix: t.loc.prefix },
        token: t.token,
      });
    }
    return { status: 'valid', ...tokens[0], headerMutations: mutations, tokens };
  }

  private extract(req: JwtRequest): FoundToken[] {
    const out: FoundToken[] = [];
    for (const loc of this.headerLocs) {
      for (const value of headerValues(req.headers, loc.name)) {
        const token = tokenFromHeaderValue(value, loc.prefix);
        if (token !== undefined) out.push({ loc, token });
      }
    }
    if (this.paramLocs.length) {
      const path = req.path ?? headerValues(req.headers, ':path')[0];
      const q = req.query ?? (path !== undefined && path.includes('?') ? parseQuery(path) : undefined);
      if (q) {
        for (const loc of this.paramLocs) {
          const token = queryValue(q, loc.name);
          if (token !== undefined) out.push({ loc, token });
        }
      }
    }
    if (this.cookieLocs.length) {
      const cookies = req.cookies ? new Map(Object.entries(req.cookies)) : parseCookies(headerValues(req.headers, 'cookie'));
      for (const loc of this.cookieLocs) {
        const token = cookies.get(loc.name);
        if (token !== undefined) out.push({ loc, token });
      }
    }
    return out;
  }

  /** A token is valid if a rule reading its location, with its issuer (exact first, then issuer-less), accepts it. */
  private async verifyToken(
    t: FoundToken,
    nowSeconds: number,
  ): Promise<{ ok: true; rule: CompiledRule; parsed: ParsedJwt } | { ok: false; status: JwtStatusMessage; rule?: CompiledRule }> {
    const hit = this.cache?.get(t.token);
    const parsed = hit?.parsed ?? parseJwt(t.token);
    if (typeof parsed === 'string') return { ok: false, status: parsed };
    const exact = t.loc.rules.filter((r) => r.issuer !== '' && r.issuer === parsed.iss);
    const candidates = exact.concat(t.loc.rules.filter((r) => r.issuer === ''));
    if (candidates.length === 0) return { ok: false, status: JwtStatus.JwtUnknownIssuer };
    let first: { status: JwtStatusMessage; rule: CompiledRule } | undefined;
    for (const r of candidates) {
      const c = await this.checkWithRule(t.token, parsed, r, nowSeconds, hit);
      if (c.ok) return { ok: true, rule: r, parsed };
      first ??= { status: c.status, rule: r };
    }
    return { ok: false, ...first! };
  }

  private async checkWithRule(token: string, parsed: ParsedJwt, r: CompiledRule, nowSeconds: number, hit?: CachedToken): Promise<RuleCheck> {
    if (r.issuer !== '' && r.issuer !== parsed.iss) return { ok: false, status: JwtStatus.JwtUnknownIssuer };
    const time = checkTime(parsed, nowSeconds, r.skewSeconds);
    if (time) return { ok: false, status: time };
    if (!audienceAllowed(r.audiences, parsed.audiences)) return { ok: false, status: JwtStatus.JwtAudienceNotAllowed };
    // keys() first even on a cache hit: it drives the periodic refresh, and no keys means fail closed
    let keys = r.source.keys();
    if (keys instanceof Promise) keys = await keys;
    if (!keys) return { ok: false, status: r.source.failureStatus };
    if (hit && hit.ruleIndex === r.index && hit.generation === r.source.generation) return { ok: true, parsed };
    let res = await keys.verify(token, parsed.alg, parsed.kid);
    if (!res.ok && res.unknownKid) {
      const fresh = await r.source.refetchForUnknownKid();
      if (fresh) res = await fresh.verify(token, parsed.alg, parsed.kid);
    }
    if (!res.ok) return { ok: false, status: res.status };
    this.cache?.set(token, { parsed, ruleIndex: r.index, generation: r.source.generation });
    return { ok: true, parsed };
  }
}

function invalid(reason: JwtStatusMessage, loc?: Location, provider?: string): JwtAuthResult {
  return {
    status: 'invalid',
    reason,
    httpStatus: httpStatusFor(reason),
    ...(loc ? { location: { kind: loc.kind, name: loc.name, prefix: loc.prefix } } : {}),
    ...(provider ? { provider } : {}),
  };
}

/** A provider's key source: localJwks inline, remoteJwks fetched, or the issuer's OpenID discovery. */
function jwksSource(p: JwtProvider, cache: JwksCache): JwksSource {
  if (p.localJwks) return new StaticJwks(p.localJwks.inlineString);
  if (p.remoteJwks) return cache.get({ jwksUri: p.remoteJwks.httpUri.uri }, p.remoteJwks.httpUri.timeoutMs);
  if (p.openidDiscovery) return cache.get({ issuer: p.openidDiscovery.issuer }, p.openidDiscovery.timeoutMs);
  throw new Error('jwt_authn: a provider needs localJwks, remoteJwks or openidDiscovery');
}

/** Envoy's pad_forward_payload_header: base64url padded with `=` to a multiple of 4. */
function padBase64(b64: string): string {
  return b64 + '='.repeat((4 - (b64.length % 4)) % 4);
}

function isCorsPreflight(req: JwtRequest): boolean {
  const method = req.method ?? headerValues(req.headers, ':method')[0];
  if (method !== 'OPTIONS') return false;
  return !!headerValues(req.headers, 'origin')[0] && !!headerValues(req.headers, 'access-control-request-method')[0];
}
