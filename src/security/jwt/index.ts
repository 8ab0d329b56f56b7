/** JWT authentication: Envoy's jwt_authn over its JwtAuthentication config. */
export { DEFAULT_VERIFIED_TOKEN_CACHE_SIZE, JwtAuthenticator, type JwtAuthResult, type JwtAuthenticatorOptions, type TokenLocation, type VerifiedJwt } from './authenticator.js';
export { JwksCache, RemoteJwks, StaticJwks, type JwksEvent, type JwksFetchOptions, type JwksSource } from './jwks-source.js';
export { JwksKeySet } from './keyset.js';
export { removeQueryParam, type HeaderMutation, type HeaderSource, type JwtRequest, type QuerySource } from './request.js';
export { httpStatusFor, JwtStatus, wwwAuthenticate, type JwtStatusMessage } from './status.js';
export { DEFAULT_CLOCK_SKEW_SECONDS } from './token.js';
