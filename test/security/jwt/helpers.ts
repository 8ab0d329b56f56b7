/** Shared fixtures: Istio's JWT test credentials (read at test time) and token minting with jose. */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { base64url, SignJWT, type JWTPayload } from 'jose';
import type { JwtRuleSpec } from '../../../src/config/istio/parse-request-authentication.js';
import { jwtAuthentication } from '../../../src/config/istio/translate-request-authentication.js';
import { JwtAuthenticator, type JwtAuthenticatorOptions } from '../../../src/security/jwt/index.js';

export const CONFORMANCE = new URL('../../../../shared/conformance/istio/', import.meta.url).pathname;
export const JWT_DIR = `${CONFORMANCE}tests/common/jwt/`;
export const SAMPLES_DIR = `${CONFORMANCE}security/tools/jwt/samples/`;

/** tests/common/jwt: issuers test-issuer-{1,2,3}@istio.io, signed with key.pem, verified by jwks.json. */
export const JWKS = readFileSync(`${JWT_DIR}jwks.json`, 'utf8');
export const KID = (JSON.parse(JWKS) as { keys: { kid: string }[] }).keys[0].kid;
export const PRIVATE_KEY: KeyObject = createPrivateKey(readFileSync(`${JWT_DIR}key.pem`, 'utf8'));
export const PUBLIC_PEM = createPublicKey(PRIVATE_KEY).export({ type: 'spki', format: 'pem' }) as string;
export const TOKENS: Record<string, string> = Object.fromEntries(
  Object.entries((JSON.parse(readFileSync(`${JWT_DIR}tokens.json`, 'utf8')) as { tokens: Record<string, { token: string }> }).tokens).map(([k, v]) => [k, v.token]),
);
export const ISSUER1 = 'test-issuer-1@istio.io';
export const ISSUER2 = 'test-issuer-2@istio.io';

/** A fixed "now" for minted tokens (2025-06-15T...). */
export const NOW_MS = 1_750_000_000_000;
export const NOW_S = NOW_MS / 1000;

export function rule(over: Partial<JwtRuleSpec> = {}): JwtRuleSpec {
  return {
    issuer: ISSUER1,
    audiences: [],
    jwks: JWKS,
    fromHeaders: [],
    fromParams: [],
    fromCookies: [],
    forwardOriginalToken: false,
    outputClaimToHeaders: [],
    timeoutMs: 5000,
    spaceDelimitedClaims: [],
    presence: 'OPTIONAL',
    source: 'test',
    ...over,
  };
}

/** The authenticator of the jwt_authn config istiod would generate for these RequestAuthentication rules. */
export function authenticatorFor(rules: readonly JwtRuleSpec[], options?: JwtAuthenticatorOptions): JwtAuthenticator {
  return new JwtAuthenticator(jwtAuthentication(rules) ?? { providers: {} }, options);
}

export interface MintOptions {
  alg?: string;
  kid?: string | null;
  key?: KeyObject | Uint8Array;
}

/** Signs a token with jose (Istio's test key and kid unless told otherwise). */
export async function mint(payload: JWTPayload, o: MintOptions = {}): Promise<string> {
  const alg = o.alg ?? 'RS256';
  const header: { alg: string; kid?: string; typ: string } = { alg, typ: 'JWT' };
  if (o.kid !== null) header.kid = o.kid ?? KID;
  return new SignJWT({ iss: ISSUER1, sub: 'sub-1', ...payload }).setProtectedHeader(header).sign(o.key ?? PRIVATE_KEY);
}

/** An unsigned token with the given header (e.g. alg none). */
export function unsigned(header: object, payload: object, signature = ''): string {
  return `${base64url.encode(JSON.stringify(header))}.${base64url.encode(JSON.stringify(payload))}.${signature}`;
}

export const bearer = (t: string) => ({ headers: { authorization: [`Bearer ${t}`] } });

export interface TestServer {
  url: string;
  port: number;
  requests: string[];
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1; `handle` answers each request (it may delay). */
export async function startServer(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestServer> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
