/** meshConfig ext_authz providers: parsing (strict per kind) and where translation puts them. */
import { describe, expect, it } from 'vitest';
import { chainHcm, listener, parseError, parseYaml, tcpAuthzOf, tcpProxyOf, translate } from './helpers.js';

const mc = (provider: string) => `apiVersion: meshconfig.istio.io/v1alpha1\nkind: MeshConfig\nextensionProviders:\n- name: authz\n  ${provider}\n`;

describe('envoyExtAuthzGrpc providers', () => {
  it("Istio's defaults: timeout 600s, fail closed with 403", () => {
    expect(parseYaml(mc('envoyExtAuthzGrpc: { service: foo/authz.foo.svc.cluster.local, port: 9000 }')).mesh.extensionProviders).toEqual([
      { name: 'authz', kind: 'envoyExtAuthzGrpc', service: 'foo/authz.foo.svc.cluster.local', port: 9000, timeoutMs: 600_000, failOpen: false, statusOnError: 403 },
    ]);
  });

  it('timeout, failOpen, statusOnError, includeRequestBodyInCheck', () => {
    const p = parseYaml(
      mc('envoyExtAuthzGrpc: { service: authz, port: 9000, timeout: 2ms, failOpen: true, statusOnError: "503", includeRequestBodyInCheck: { maxRequestBytes: 4096, allowPartialMessage: true } }'),
    ).mesh.extensionProviders![0];
    expect(p).toMatchObject({ timeoutMs: 2, failOpen: true, statusOnError: 503, includeRequestBodyInCheck: { maxRequestBytes: 4096, allowPartialMessage: true, packAsBytes: false } });
  });

  it('HTTP-only fields are unknown to a gRPC provider; statusOnError must be a status code', () => {
    expect(parseError(mc('envoyExtAuthzGrpc: { service: a, port: 9000, pathPrefix: /check }')).message).toMatch(/envoyExtAuthzGrpc\.pathPrefix: unknown field "pathPrefix"/);
    expect(parseError(mc('envoyExtAuthzGrpc: { service: a, port: 9000, includeRequestHeadersInCheck: [x] }')).message).toMatch(/unknown field "includeRequestHeadersInCheck"/);
    expect(parseError(mc('envoyExtAuthzGrpc: { service: a, port: 9000, statusOnError: "nope" }')).message).toMatch(/statusOnError: invalid statusOnError "nope"/);
    expect(parseError(mc('envoyExtAuthzGrpc: { service: a, port: 9000, includeRequestBodyInCheck: { maxRequestBytes: 0 } }')).message).toMatch(/maxRequestBytes/);
  });

  it('clearRouteCache is accepted and reported as not applied', () => {
    expect(parseYaml(mc('envoyExtAuthzGrpc: { service: a, port: 9000, clearRouteCache: true }')).warnings.join('\n')).toMatch(/authz: clearRouteCache accepted but not applied/);
  });
});

describe('translation', () => {
  const yaml = (provider: string) => `apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: default }
spec:
  ingress:
  - { port: { number: 9080, protocol: HTTP, name: http }, defaultEndpoint: 127.0.0.1:8080 }
  - { port: { number: 5432, protocol: TCP, name: tcp }, defaultEndpoint: 127.0.0.1:5433 }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ext, namespace: default }
spec: { action: CUSTOM, provider: { name: authz }, rules: [{ to: [{ operation: { ports: ["9080", "5432"] } }] }] }
---
${mc(provider)}`;

  it('a gRPC provider: on HTTP connection managers and TCP chains, with its cluster and authority', () => {
    const t = translate(yaml('envoyExtAuthzGrpc: { service: foo/authz.foo.svc.cluster.local, port: 9000 }'));
    const chains = listener(t, 'virtualInbound').filterChains;
    const tcp = chains.find((c) => c.name === '0.0.0.0_5432');
    expect(tcpAuthzOf(tcp).map((f) => f.name)).toEqual(['envoy.filters.network.rbac', 'envoy.filters.network.ext_authz']);
    const grpcService = { envoyGrpc: { clusterName: 'outbound|9000||authz.foo.svc.cluster.local', authority: 'authz.foo.svc.cluster.local' }, timeoutMs: 600_000 };
    expect(tcpAuthzOf(tcp)[1].typedConfig).toMatchObject({ statPrefix: 'tcp.', grpcService, transportApiVersion: 'V3' });
    // the connection manager's http_filters as istiod lists them: the CUSTOM RBAC shadow filter, then ext_authz
    const http = chainHcm(chains.find((c) => c.name === '0.0.0.0_9080')!)!.httpFilters;
    expect(http.map((f) => f.name)).toEqual(['envoy.filters.http.rbac', 'envoy.filters.http.ext_authz']);
    expect(http[1].config).toMatchObject({ grpcService, statusOnError: { code: 403 }, transportApiVersion: 'V3' });
  });

  it('an HTTP provider cannot check TCP connections: TCP chains get no ext_authz', () => {
    const t = translate(yaml('envoyExtAuthzHttp: { service: authz.foo.svc.cluster.local, port: 8000 }'));
    const tcp = listener(t, 'virtualInbound').filterChains.find((c) => c.name === '0.0.0.0_5432');
    expect(tcpProxyOf(tcp)).toBeDefined();
    expect(tcpAuthzOf(tcp).some((f) => f.name === 'envoy.filters.network.ext_authz')).toBe(false);
  });
});
