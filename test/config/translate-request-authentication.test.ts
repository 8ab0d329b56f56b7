/** RequestAuthentication → Envoy's jwt_authn JwtAuthentication, in the shape istiod generates (convertToEnvoyJwtConfig). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jwtAuthentication } from '../../src/config/istio/translate-request-authentication.js';
import { providerPresence } from '../../src/security/jwt/requirement.js';
import { chainHcm, listener, translate } from './helpers.js';
import { CONFORMANCE, parseSecurity } from './security-helpers.js';

const JWKS = readFileSync(join(CONFORMANCE, 'tests/common/jwt/jwks.json'), 'utf8');
const ra = (rules: string) => `apiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: { name: jwt, namespace: default }\nspec:\n  jwtRules:\n${rules}\n---\n`;
const rulesOf = (rules: string) => parseSecurity(ra(rules)).request[0].jwtRules;
const optional = (name: string) => ({ requiresAny: { requirements: [{ providerName: name }, { allowMissing: {} }] } });

describe('jwt_authn from RequestAuthentication', () => {
  it('one rule: provider origins-0 with every field istiod maps, required or allowed missing', () => {
    const cfg = jwtAuthentication(
      rulesOf(`  - issuer: https://example.com
    audiences: [a, b]
    jwksUri: https://example.com/jwks
    timeout: 3s
    fromHeaders: [{ name: X-Jwt, prefix: "Bearer " }, { name: x-raw }]
    fromParams: [token]
    fromCookies: [session]
    outputPayloadToHeader: x-jwt-payload
    forwardOriginalToken: true
    outputClaimToHeaders: [{ header: x-sub, claim: sub }]`),
    );
    expect(cfg).toEqual({
      providers: {
        'origins-0': {
          issuer: 'https://example.com',
          audiences: ['a', 'b'],
          remoteJwks: { httpUri: { uri: 'https://example.com/jwks', timeoutMs: 3000 } },
          forward: true,
          fromHeaders: [{ name: 'x-jwt', valuePrefix: 'Bearer ' }, { name: 'x-raw' }],
          fromParams: ['token'],
          fromCookies: ['session'],
          forwardPayloadHeader: 'x-jwt-payload',
          claimToHeaders: [{ headerName: 'x-sub', claimName: 'sub' }],
          payloadInMetadata: 'payload',
        },
      },
      rules: [{ match: { prefix: '/' }, requires: optional('origins-0') }],
      bypassCorsPreflight: true,
    });
  });

  it('inline jwks is localJwks; neither jwks nor jwksUri: the issuer\'s OpenID discovery', () => {
    const cfg = jwtAuthentication(rulesOf(`  - issuer: one\n    jwks: '${JWKS.replace(/\n/g, '')}'\n  - issuer: https://two.example`))!;
    expect(cfg.providers['origins-0'].localJwks).toEqual({ inlineString: JWKS.replace(/\n/g, '') });
    expect(cfg.providers['origins-1'].openidDiscovery).toEqual({ issuer: 'https://two.example', timeoutMs: 5000 });
  });

  it('several rules: any single provider, or all of them each valid-or-missing (istiod\'s outer OR + inner AND)', () => {
    const cfg = jwtAuthentication(rulesOf('  - issuer: a\n    jwksUri: https://a/j\n  - issuer: b\n    jwksUri: https://b/j'))!;
    expect(cfg.rules).toEqual([
      {
        match: { prefix: '/' },
        requires: {
          requiresAny: {
            requirements: [{ providerName: 'origins-0' }, { providerName: 'origins-1' }, { requiresAll: { requirements: [optional('origins-0'), optional('origins-1')] } }],
          },
        },
      },
    ]);
    expect(providerPresence(cfg)).toEqual(new Map([['origins-0', 'optional'], ['origins-1', 'optional']]));
  });

  it('presence REQUIRED: a bare providerName in the AND, no outer OR', () => {
    const cfg = jwtAuthentication(rulesOf('  - issuer: a\n    jwksUri: https://a/j\n    presence: REQUIRED\n  - issuer: b\n    jwksUri: https://b/j'))!;
    expect(cfg.rules![0].requires).toEqual({ requiresAll: { requirements: [{ providerName: 'origins-0' }, optional('origins-1')] } });
    expect(providerPresence(cfg)).toEqual(new Map([['origins-0', 'required'], ['origins-1', 'optional']]));
  });

  it('goes on every connection manager that receives traffic, ahead of authorization', () => {
    const t = translate(
      `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: default }
spec:
  ingress:
  - { port: { number: 9080, protocol: HTTP, name: http }, defaultEndpoint: 127.0.0.1:8080 }
---
${ra('  - issuer: a\n    jwksUri: https://a/j')}`,
    );
    const hcm = chainHcm(listener(t, 'virtualInbound').filterChains.find((c) => c.name === '0.0.0.0_9080')!)!;
    expect(hcm.httpFilters[0]).toEqual({ name: 'envoy.filters.http.jwt_authn', config: jwtAuthentication(rulesOf('  - issuer: a\n    jwksUri: https://a/j')) });
  });
});
