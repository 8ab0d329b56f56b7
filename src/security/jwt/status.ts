/**
 * Envoy jwt_authn failure statuses (google/jwt_verify_lib Status) and the exact strings Envoy sends as
 * the local-reply body (getStatusString). Envoy's filter answers 403 for JwtAudienceNotAllowed and 401
 * for everything else, with `WWW-Authenticate: Bearer realm="<original uri>"` (plus
 * `, error="invalid_token"` unless the token was missing).
 */
export const JwtStatus = {
  JwtMissed: 'Jwt is missing',
  JwtNotYetValid: 'Jwt not yet valid',
  JwtExpired: 'Jwt is expired',
  JwtBadFormat: 'Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections',
  JwtHeaderParseErrorBadBase64: 'Jwt header is an invalid Base64url encoded',
  JwtHeaderParseErrorBadJson: 'Jwt header is an invalid JSON',
  JwtHeaderBadAlg: 'Jwt header [alg] field is required and must be a string',
  JwtHeaderNotImplementedAlg: 'Jwt header [alg] is not supported',
  JwtHeaderBadKid: 'Jwt header [kid] field is not a string',
  JwtPayloadParseErrorBadBase64: 'Jwt payload is an invalid Base64url encoded',
  JwtPayloadParseErrorBadJson: 'Jwt payload is an invalid JSON',
  JwtPayloadParseErrorIssNotString: 'Jwt payload [iss] field is not a string',
  JwtPayloadParseErrorSubNotString: 'Jwt payload [sub] field is not a string',
  JwtPayloadParseErrorIatNotInteger: 'Jwt payload [iat] field is not an integer',
  JwtPayloadParseErrorIatOutOfRange: 'Jwt payload [iat] field is not a positive 64 bit integer',
  JwtPayloadParseErrorNbfNotInteger: 'Jwt payload [nbf] field is not an integer',
  JwtPayloadParseErrorNbfOutOfRange: 'Jwt payload [nbf] field is not a positive 64 bit integer',
  JwtPayloadParseErrorExpNotInteger: 'Jwt payload [exp] field is not an integer',
  JwtPayloadParseErrorExpOutOfRange: 'Jwt payload [exp] field is not a positive 64 bit integer',
  JwtPayloadParseErrorJtiNotString: 'Jwt payload [jti] field is not a string',
  JwtPayloadParseErrorAudNotString: 'Jwt payload [aud] field is not a string or string list',
  JwtSignatureParseErrorBadBase64: 'Jwt signature is an invalid Base64url encoded',
  JwtUnknownIssuer: 'Jwt issuer is not configured',
  JwtAudienceNotAllowed: 'Audiences in Jwt are not allowed',
  JwtVerificationFail: 'Jwt verification fails',
  JwksNoValidKeys: "Jwks doesn't have any valid public key",
  JwksKidAlgMismatch: "Jwks doesn't have key to match kid or alg from Jwt",
  JwksFetchFail: 'Jwks remote fetch is failed',
} as const;

export type JwtStatusMessage = (typeof JwtStatus)[keyof typeof JwtStatus];

/** The HTTP status Envoy's jwt_authn filter answers a failure with. */
export function httpStatusFor(reason: JwtStatusMessage): 401 | 403 {
  return reason === JwtStatus.JwtAudienceNotAllowed ? 403 : 401;
}

/** Envoy caps the path it puts in the realm (buildOriginalUri with MaximumUriLength). */
const MAX_REALM_PATH = 256;

/**
 * The `WWW-Authenticate` value Envoy's jwt_authn filter puts on its 401/403:
 * `Bearer realm="<x-forwarded-proto>://<host><path>"`, `, error="invalid_token"` unless the token was missing.
 */
export function wwwAuthenticate(reason: JwtStatusMessage, req: { scheme: string; authority: string; path: string }): string {
  const path = req.path.length > MAX_REALM_PATH ? req.path.slice(0, MAX_REALM_PATH) : req.path;
  const realm = `Bearer realm="${req.scheme}://${req.authority}${path}"`;
  return reason === JwtStatus.JwtMissed ? realm : `${realm}, error="invalid_token"`;
}
