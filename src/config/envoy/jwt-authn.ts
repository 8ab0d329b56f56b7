/**
 * Envoy's JWT authentication filter config as plain data:
 * envoy.extensions.filters.http.jwt_authn.v3.{JwtAuthentication, JwtProvider, JwtRequirement,
 * RequirementRule}. Field names are the protos' JSON names (camelCase); durations are
 * milliseconds (`timeoutMs`) as everywhere in the Snapshot.
 */
import type { HttpUri } from './ext-authz.js';

export { JWT_AUTHN_FILTER } from './http-filters.js';

/** envoy.extensions.filters.http.jwt_authn.v3.JwtHeader: a header holding a token after `valuePrefix`. */
export interface JwtHeader {
  /** Lower case. */
  name: string;
  /** Matched case-sensitively; '' or absent: the whole value is the token. */
  valuePrefix?: string;
}

/** envoy.extensions.filters.http.jwt_authn.v3.JwtClaimToHeader: a claim (`.` for nested ones) copied into a header. */
export interface JwtClaimToHeader {
  headerName: string;
  claimName: string;
}

/**
 * envoy.extensions.filters.http.jwt_authn.v3.RemoteJwks. Outrigger fetches the JWKS itself (without a
 * cluster) and refreshes it on istiod's schedule (every 20 min), so cache_duration is not modelled.
 */
export interface RemoteJwks {
  /** Where the JWKS is fetched; `timeoutMs` bounds one fetch. */
  httpUri: Omit<HttpUri, 'cluster'> & { cluster?: string };
}

/**
 * envoy.extensions.filters.http.jwt_authn.v3.JwtProvider. Exactly one of remoteJwks, localJwks,
 * openidDiscovery. `openidDiscovery` is Outrigger's own source (not Envoy's): the JWKS comes from
 * the issuer's `/.well-known/openid-configuration`, which istiod resolves itself into localJwks
 * for a JWT rule without jwks or jwksUri; Outrigger, having no control plane, does it in the proxy.
 */
export interface JwtProvider {
  /** '' or absent: the token's `iss` is not checked. */
  issuer?: string;
  /** Empty or absent: any audience. */
  audiences?: string[];
  remoteJwks?: RemoteJwks;
  /** envoy.config.core.v3.DataSource inline_string: the JWKS text. */
  localJwks?: { inlineString: string };
  openidDiscovery?: { issuer: string; timeoutMs: number };
  /** Keep the token in the request (otherwise its header, or its query parameter, is removed). */
  forward?: boolean;
  /** No location at all: `Authorization: Bearer` and `?access_token=`. */
  fromHeaders?: JwtHeader[];
  fromParams?: string[];
  fromCookies?: string[];
  /** Header that receives the verified token's payload (base64url, as in the token). */
  forwardPayloadHeader?: string;
  /** Pad the forwarded payload to a multiple of 4 with `=`. */
  padForwardPayloadHeader?: boolean;
  claimToHeaders?: JwtClaimToHeader[];
  /** Dynamic metadata key (under the filter's namespace) for the verified payload. */
  payloadInMetadata?: string;
  /** Allowed clock skew for exp and nbf (Envoy's default 60 s). */
  clockSkewSeconds?: number;
}

/** envoy.extensions.filters.http.jwt_authn.v3.JwtRequirement: one member set. */
export type JwtRequirement =
  | { providerName: string }
  | { requiresAny: { requirements: JwtRequirement[] } }
  | { requiresAll: { requirements: JwtRequirement[] } }
  | { allowMissing: Record<string, never> }
  | { allowMissingOrFailed: Record<string, never> };

/** envoy.extensions.filters.http.jwt_authn.v3.RequirementRule: a route match and what it requires. */
export interface RequirementRule {
  /** envoy.config.route.v3.RouteMatch; Istio only generates `prefix: /`. */
  match: { prefix: string };
  requires?: JwtRequirement;
  /** A requirement of requirementMap, by name. */
  requirementName?: string;
}

/** envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication. */
export interface JwtAuthentication {
  /** Provider name → provider (Istio: `origins-<i>` for a workload's i-th JWT rule). */
  providers: Record<string, JwtProvider>;
  /** The first rule whose match covers the request applies; none: nothing is required. */
  rules?: RequirementRule[];
  requirementMap?: Record<string, JwtRequirement>;
  /** CORS preflight requests skip verification (Istio sets it). */
  bypassCorsPreflight?: boolean;
}
