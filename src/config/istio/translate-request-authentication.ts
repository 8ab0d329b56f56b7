/**
 * RequestAuthentication JWT rules → Envoy's jwt_authn config, as istiod builds it
 * (pilot/pkg/security/authn convertToEnvoyJwtConfig): provider `origins-<i>` per rule, and under
 * one `prefix: /` rule the requirement "each token present is valid for its provider":
 * one provider: requiresAny [P, allowMissing]; several: requiresAny [P1, ..., Pn, requiresAll
 * [requiresAny [Pi, allowMissing] ...]] (the outer Pi let a token shared by several providers'
 * locations pass with the one that verifies it).
 *
 * Outrigger additions: a rule with `presence: REQUIRED` is a bare `providerName` in the
 * requiresAll (its token must be there), with no outer OR; a rule with neither jwks nor jwksUri
 * gets `openidDiscovery` (istiod resolves the issuer's discovery document itself and inlines the
 * keys; Outrigger has no control plane to do it). Istio fetches jwksUri through istiod by default
 * and inlines the keys (local_jwks) on its 20 min schedule; Outrigger fetches in the proxy on the
 * same schedule, so jwksUri becomes remoteJwks.
 */
import type { JwtAuthentication, JwtProvider, JwtRequirement } from '../envoy/jwt-authn.js';
import type { JwtRuleSpec } from './parse-request-authentication.js';

/** The metadata key istiod gives the verified payload; AuthorizationPolicy claims are read under it. */
export const JWT_PAYLOAD_METADATA_KEY = 'payload';

export function jwtAuthentication(rules: readonly JwtRuleSpec[]): JwtAuthentication | undefined {
  if (rules.length === 0) return undefined;
  const providers: Record<string, JwtProvider> = {};
  const each: JwtRequirement[] = [];
  rules.forEach((r, i) => {
    const name = `origins-${i}`;
    providers[name] = jwtProvider(r);
    each.push(r.presence === 'REQUIRED' ? { providerName: name } : { requiresAny: { requirements: [{ providerName: name }, { allowMissing: {} }] } });
  });
  const anyRequired = rules.some((r) => r.presence === 'REQUIRED');
  let requires: JwtRequirement;
  if (each.length === 1) requires = each[0];
  else if (anyRequired) requires = { requiresAll: { requirements: each } };
  else {
    requires = { requiresAny: { requirements: [...Object.keys(providers).map((providerName) => ({ providerName })), { requiresAll: { requirements: each } }] } };
  }
  return { providers, rules: [{ match: { prefix: '/' }, requires }], bypassCorsPreflight: true };
}

function jwtProvider(r: JwtRuleSpec): JwtProvider {
  return {
    ...(r.issuer ? { issuer: r.issuer } : {}),
    ...(r.audiences.length ? { audiences: [...r.audiences] } : {}),
    ...(r.jwks
      ? { localJwks: { inlineString: r.jwks } }
      : r.jwksUri
        ? { remoteJwks: { httpUri: { uri: r.jwksUri, timeoutMs: r.timeoutMs } } }
        : { openidDiscovery: { issuer: r.issuer, timeoutMs: r.timeoutMs } }),
    ...(r.forwardOriginalToken ? { forward: true } : {}),
    ...(r.fromHeaders.length ? { fromHeaders: r.fromHeaders.map((h) => ({ name: h.name, ...(h.prefix ? { valuePrefix: h.prefix } : {}) })) } : {}),
    ...(r.fromParams.length ? { fromParams: [...r.fromParams] } : {}),
    ...(r.fromCookies.length ? { fromCookies: [...r.fromCookies] } : {}),
    ...(r.outputPayloadToHeader ? { forwardPayloadHeader: r.outputPayloadToHeader } : {}),
    ...(r.outputClaimToHeaders.length ? { claimToHeaders: r.outputClaimToHeaders.map((c) => ({ headerName: c.header, claimName: c.claim })) } : {}),
    payloadInMetadata: JWT_PAYLOAD_METADATA_KEY,
  };
}
