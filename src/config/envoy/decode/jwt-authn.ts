/**
 * envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication in the plain form → config/envoy/
 * jwt-authn.ts's shape. Fields that decide which tokens are accepted and that the JWT filter does
 * not check (subjects, max_lifetime, require_expiration, filter_state_rules, route matches other than
 * the prefix `/` istiod emits) are refused.
 */
import type { JwtAuthentication, JwtProvider, JwtRequirement, RequirementRule } from '../jwt-authn.js';
import { durationMs } from '../proto/values.js';
import { fieldPath, resourceError, type DecodeContext, type ResourceRef } from './context.js';
import { checkFields, type FieldPolicy } from './fields.js';

type Msg = Record<string, any>;

const DEFAULT_JWKS_TIMEOUT_MS = 1000;

const JWT_AUTHENTICATION: FieldPolicy = { type: 'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication', reads: ['providers', 'rules', 'requirement_map', 'bypass_cors_preflight'] };
const PROVIDER: FieldPolicy = {
  type: 'envoy.extensions.filters.http.jwt_authn.v3.JwtProvider',
  reads: [
    'issuer', 'audiences', 'remote_jwks', 'local_jwks', 'forward', 'from_headers', 'from_params', 'from_cookies', 'forward_payload_header',
    'pad_forward_payload_header', 'claim_to_headers', 'payload_in_metadata', 'clock_skew_seconds',
  ],
  ignored: { jwt_cache_config: 'verified tokens are not cached' },
};
const REMOTE_JWKS: FieldPolicy = {
  type: 'envoy.extensions.filters.http.jwt_authn.v3.RemoteJwks',
  reads: ['http_uri'],
  ignored: { cache_duration: 'a JWKS is refreshed every 20 minutes (istiod\'s schedule)', async_fetch: 'a JWKS is fetched when first needed', retry_policy: 'a failed fetch is retried at the next request' },
};

export function decodeJwtAuthentication(m: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): JwtAuthentication {
  const at = (k: string) => fieldPath(field, k);
  checkFields(m, JWT_AUTHENTICATION, ref, field, ctx);
  const providers: Record<string, JwtProvider> = {};
  for (const [name, p] of Object.entries((m.providers ?? {}) as Record<string, Msg>)) providers[name] = decodeProvider(p, ctx, ref, fieldPath(at('providers'), name));
  const out: JwtAuthentication = { providers };
  if (m.rules?.length) out.rules = (m.rules as Msg[]).map((r, i) => decodeRule(r, ref, fieldPath(at('rules'), i)));
  if (m.requirement_map) {
    out.requirementMap = {};
    for (const [name, r] of Object.entries(m.requirement_map as Record<string, Msg>)) out.requirementMap[name] = decodeRequirement(r, ref, fieldPath(at('requirement_map'), name));
  }
  if (m.bypass_cors_preflight) out.bypassCorsPreflight = true;
  return out;
}

function decodeProvider(p: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): JwtProvider {
  const at = (k: string) => fieldPath(field, k);
  checkFields(p, PROVIDER, ref, field, ctx);
  const out: JwtProvider = {};
  if (p.issuer) out.issuer = p.issuer;
  if (p.audiences?.length) out.audiences = p.audiences;
  if (p.jwks_source_specifier === 'remote_jwks') {
    checkFields(p.remote_jwks, REMOTE_JWKS, ref, at('remote_jwks'), ctx);
    const u = p.remote_jwks.http_uri as Msg | undefined;
    if (!u?.uri) throw resourceError(ref, at('remote_jwks.http_uri.uri'), 'remote_jwks needs an http_uri');
    out.remoteJwks = { httpUri: { uri: u.uri, ...(u.cluster ? { cluster: u.cluster } : {}), timeoutMs: durationMs(u.timeout) ?? DEFAULT_JWKS_TIMEOUT_MS } };
  } else if (p.jwks_source_specifier === 'local_jwks') {
    const s = p.local_jwks as Msg;
    const text = s.inline_string ?? (s.inline_bytes ? Buffer.from(s.inline_bytes).toString('utf8') : undefined);
    if (text === undefined) throw resourceError(ref, at('local_jwks'), 'only an inline local_jwks is supported');
    out.localJwks = { inlineString: text };
  } else throw resourceError(ref, field, 'a provider needs remote_jwks or local_jwks');
  if (p.forward) out.forward = true;
  if (p.from_headers?.length) out.fromHeaders = (p.from_headers as Msg[]).map((h) => ({ name: (h.name as string).toLowerCase(), ...(h.value_prefix ? { valuePrefix: h.value_prefix } : {}) }));
  if (p.from_params?.length) out.fromParams = p.from_params;
  if (p.from_cookies?.length) out.fromCookies = p.from_cookies;
  if (p.forward_payload_header) out.forwardPayloadHeader = p.forward_payload_header;
  if (p.pad_forward_payload_header) out.padForwardPayloadHeader = true;
  if (p.claim_to_headers?.length) out.claimToHeaders = (p.claim_to_headers as Msg[]).map((c) => ({ headerName: c.header_name, claimName: c.claim_name }));
  if (p.payload_in_metadata) out.payloadInMetadata = p.payload_in_metadata;
  if (p.clock_skew_seconds !== undefined) out.clockSkewSeconds = p.clock_skew_seconds;
  return out;
}

function decodeRule(r: Msg, ref: ResourceRef, field: string): RequirementRule {
  const m = r.match as Msg | undefined;
  const extra = m && Object.keys(m).filter((k) => !['prefix', 'path_specifier'].includes(k));
  if (!m || m.path_specifier !== 'prefix' || m.prefix !== '/' || extra?.length) throw resourceError(ref, fieldPath(field, 'match'), 'only a rule matching prefix "/" is supported');
  if (r.requirement_type === 'requirement_name') return { match: { prefix: '/' }, requirementName: r.requirement_name };
  return { match: { prefix: '/' }, ...(r.requires ? { requires: decodeRequirement(r.requires, ref, fieldPath(field, 'requires')) } : {}) };
}

function decodeRequirement(r: Msg, ref: ResourceRef, field: string): JwtRequirement {
  const list = (k: 'requires_any' | 'requires_all') => ((r[k]?.requirements ?? []) as Msg[]).map((x, i) => decodeRequirement(x, ref, fieldPath(fieldPath(field, `${k}.requirements`), i)));
  switch (r.requires_type) {
    case 'provider_name':
      return { providerName: r.provider_name };
    case 'requires_any':
      return { requiresAny: { requirements: list('requires_any') } };
    case 'requires_all':
      return { requiresAll: { requirements: list('requires_all') } };
    case 'allow_missing':
      return { allowMissing: {} };
    case 'allow_missing_or_failed':
      return { allowMissingOrFailed: {} };
    default:
      throw resourceError(ref, fieldPath(field, r.requires_type ?? 'requires_type'), `JWT requirement ${r.requires_type ?? '(none)'} is not supported`);
  }
}
