/** Envoy's ext_authz configs compiled once per config: where the service is, its failure policy, the header selections. */
import { describe, expect, it } from 'vitest';
import type { HttpExtAuthz, NetworkExtAuthz } from '../../../src/config/envoy/ext-authz.js';
import type { AuthzFilter } from '../../../src/config/envoy/rbac.js';
import { extAuthzFilterConfigs } from '../../../src/config/istio/translate-ext-authz.js';
import { compileAuthzFilters } from '../../../src/security/authz/rbac.js';
import { compileHttpExtAuthz, compileNetworkExtAuthz } from '../../../src/security/ext-authz/service.js';

const grpcService = { envoyGrpc: { clusterName: 'outbound|9000||authz.foo.svc.cluster.local' }, timeoutMs: 250 };

describe('compiled ext_authz', () => {
  it('gRPC: the cluster, the authority (default: the cluster name), Envoy\'s defaults for failure', () => {
    expect(compileHttpExtAuthz({ transportApiVersion: 'V3', grpcService })).toEqual({
      cluster: 'outbound|9000||authz.foo.svc.cluster.local', authority: 'outbound|9000||authz.foo.svc.cluster.local', timeoutMs: 250, failureModeAllow: false, statusOnError: 403,
    });
    const net: NetworkExtAuthz = { statPrefix: 'tcp.', transportApiVersion: 'V3', failureModeAllow: true, grpcService: { ...grpcService, envoyGrpc: { ...grpcService.envoyGrpc, authority: 'authz' } } };
    expect(compileNetworkExtAuthz(net)).toMatchObject({ authority: 'authz', failureModeAllow: true, statPrefix: 'tcp' });
  });

  it('HTTP: header lists match case-insensitively by exact name, prefix or suffix; Envoy\'s own headers are always sent', () => {
    const { http } = extAuthzFilterConfigs({
      name: 'authz', kind: 'envoyExtAuthzHttp', service: 'foo/authz.foo.svc.cluster.local', port: 8000, timeoutMs: 1000, failOpen: false, statusOnError: 503,
      includeRequestBodyInCheck: { maxRequestBytes: 10, allowPartialMessage: false, packAsBytes: false },
      pathPrefix: '/check', includeRequestHeadersInCheck: ['X-User', 'x-pre-*', '*-post'], includeAdditionalHeadersInCheck: [['x-b', '2'], ['X-A', '1']],
      headersToUpstreamOnAllow: ['Authorization'], headersToDownstreamOnDeny: ['Set-Cookie'], headersToDownstreamOnAllow: [],
    });
    const s = compileHttpExtAuthz(http);
    expect(s).toMatchObject({ cluster: 'outbound|8000||authz.foo.svc.cluster.local', timeoutMs: 1000, statusOnError: 503, withRequestBody: { maxRequestBytes: 10, allowPartialMessage: false, packAsBytes: false } });
    const h = s.http!;
    expect(['x-user', 'x-pre-1', 'a-post', 'authorization', 'content-length', 'path', 'method'].every(h.include)).toBe(true);
    expect(['x-other', 'cookie', 'x-pr'].some(h.include)).toBe(false);
    expect(h.pathPrefix).toBe('/check');
    expect(h.headersToAdd).toEqual([['x-a', '1'], ['x-b', '2']]);
    expect(h.toUpstreamOnAllow('authorization')).toBe(true);
    expect(h.toDownstreamOnDeny('set-cookie')).toBe(true);
    expect(h.toDownstreamOnAllow('set-cookie')).toBe(false);
  });
});

describe('ext_authz in an authorization chain', () => {
  const shadow = { shadowRules: { action: 'DENY' as const, policies: { 'istio-ext-authz-authz-p': { permissions: [{ any: true }], principals: [{ any: true }] } } }, shadowRulesStatPrefix: 'istio_ext_authz_' };
  const ext: HttpExtAuthz = {
    transportApiVersion: 'V3', grpcService,
    filterEnabledMetadata: { filter: 'envoy.filters.http.rbac', path: [{ key: 'istio_ext_authz_shadow_effective_policy_id' }], value: { stringMatch: { prefix: 'istio-ext-authz-authz' } } },
  };

  it('runs when the RBAC filter before it recorded a CUSTOM policy of its provider', () => {
    const e = compileAuthzFilters([{ name: 'envoy.filters.http.rbac', typedConfig: shadow }, { name: 'envoy.filters.http.ext_authz', typedConfig: ext }]);
    expect(e.check({ sourceIp: '10.0.0.1', destinationIp: '10.0.0.2', destinationPort: 80 }).extAuthz).toEqual({ config: ext, policy: 'istio-ext-authz-authz-p' });
  });

  it('refuses an ext_authz filter not enabled by the preceding RBAC filter\'s shadow policy', () => {
    const { filterEnabledMetadata: _m, ...always } = ext;
    const chains: AuthzFilter[][] = [
      [{ name: 'envoy.filters.http.ext_authz', typedConfig: ext }],
      [{ name: 'envoy.filters.http.rbac', typedConfig: shadow }, { name: 'envoy.filters.http.ext_authz', typedConfig: always as HttpExtAuthz }],
      [{ name: 'envoy.filters.http.rbac', typedConfig: { shadowRulesStatPrefix: '' } }, { name: 'envoy.filters.http.ext_authz', typedConfig: ext }],
    ];
    for (const c of chains) expect(() => compileAuthzFilters(c)).toThrow(/only an ext_authz filter enabled by the preceding RBAC filter/);
  });
});
