/** Shared helpers for the config unit tests: YAML text → IstioConfig → Snapshot. */
import { expect } from 'vitest';
import { ConfigError, ConfigErrors } from '../../src/config/errors.js';
import { parseIstioConfig } from '../../src/config/istio/parse.js';
import type { IstioConfig } from '../../src/config/istio/resources.js';
import { translateIstio, type Translation } from '../../src/config/istio/translate.js';
import type { Cluster, DownstreamTlsContext, FilterChain, HttpConnectionManager, Listener, NodeIdentity, Route, RouteConfiguration, TcpProxy, UpstreamTlsContext, VirtualHost } from '../../src/config/snapshot.js';
import { httpConnectionManagerOf, networkAuthzFiltersOf, tcpProxyOf as tcpProxyConfigOf } from '../../src/config/envoy/network-filters.js';
import type { TcpAuthzFilter } from '../../src/config/envoy/rbac.js';
import { parseDocuments } from '../../src/config/source.js';
import { hostEndpoints, type HostEndpoint } from '../../src/config/endpoints.js';

export function parseYaml(text: string, defaultNamespace = 'default', file = 'test.yaml'): IstioConfig {
  return parseIstioConfig(parseDocuments(file, text), { defaultNamespace });
}

/** The errors a parse raised (ConfigErrors unwrapped); fails the test when parsing succeeds. */
export function parseErrors(text: string, defaultNamespace = 'default', file = 'test.yaml'): ConfigError[] {
  try {
    parseYaml(text, defaultNamespace, file);
  } catch (e) {
    if (e instanceof ConfigErrors) return e.errors;
    if (e instanceof ConfigError) return [e];
    throw e;
  }
  expect.fail('expected the configuration to be rejected');
}

/** The single error a parse raised. */
export function parseError(text: string, defaultNamespace = 'default', file = 'test.yaml'): ConfigError {
  const errs = parseErrors(text, defaultNamespace, file);
  expect(errs.map((e) => e.message)).toHaveLength(1);
  return errs[0];
}

export function sidecarNode(over: Partial<NodeIdentity> = {}): NodeIdentity {
  return {
    id: 'sidecar~10.1.1.1~productpage-v1-abc.default~default.svc.cluster.local',
    mode: 'sidecar',
    namespace: 'default',
    serviceAccount: 'bookinfo-productpage',
    labels: { app: 'productpage', version: 'v1' },
    ip: '10.1.1.1',
    acceptHttp10: false,
    clusterId: 'Kubernetes',
    locality: '',
    trustDomain: 'cluster.local',
    domainSuffix: 'cluster.local',
    ...over,
  };
}

export function gatewayNode(over: Partial<NodeIdentity> = {}): NodeIdentity {
  return sidecarNode({
    id: 'router~10.2.2.2~istio-ingressgateway-xyz.istio-system~istio-system.svc.cluster.local',
    mode: 'gateway',
    namespace: 'istio-system',
    serviceAccount: 'istio-ingressgateway-service-account',
    labels: { app: 'istio-ingressgateway', istio: 'ingressgateway' },
    ip: '10.2.2.2',
    ...over,
  });
}

export function translate(text: string, node: NodeIdentity = sidecarNode(), outboundPort = 15001, mtls = false): Translation {
  return translateIstio(parseYaml(text, node.namespace), node, { outboundPort, mtls });
}

/** The DownstreamTlsContext a filter chain terminates TLS with. */
export function downstreamTls(c: FilterChain): DownstreamTlsContext | undefined {
  return c.transportSocket?.typedConfig;
}

/** The secret names a DownstreamTlsContext uses: its certificate's and its CA's (if any). */
export function secretNames(tls: DownstreamTlsContext | undefined): (string | undefined)[] {
  return [tls?.commonTlsContext.tlsCertificateSdsSecretConfigs?.[0]?.name, tls?.commonTlsContext.combinedValidationContext?.validationContextSdsSecretConfig.name];
}

/** The UpstreamTlsContext of the cluster's auto mTLS (its tlsMode-istio transport socket match). */
export function autoMtlsTls(c: Cluster): UpstreamTlsContext | undefined {
  const socket = c.transportSocketMatches?.find((m) => m.name === 'tlsMode-istio')?.transportSocket;
  return socket?.name === 'envoy.transport_sockets.tls' ? socket.typedConfig : undefined;
}

/** The UpstreamTlsContext of the cluster's own transport socket. */
export function upstreamTls(c: Cluster): UpstreamTlsContext | undefined {
  return c.transportSocket?.name === 'envoy.transport_sockets.tls' ? c.transportSocket.typedConfig : undefined;
}

/** The exact SANs a validation context accepts. */
export function exactSans(tls: UpstreamTlsContext | undefined): string[] | undefined {
  const v = tls?.commonTlsContext.combinedValidationContext?.defaultValidationContext ?? tls?.commonTlsContext.validationContext;
  return v && (v.matchSubjectAltNames ?? []).map((m) => ('exact' in m ? m.exact : JSON.stringify(m)));
}

export function cluster(t: Translation, name: string): Cluster {
  const c = t.snapshot.clusters.find((x) => x.name === name);
  if (!c) expect.fail(`no cluster ${name}; have: ${t.snapshot.clusters.map((x) => x.name).join(', ')}`);
  return c;
}

/** The hosts of a cluster (its ClusterLoadAssignment, flattened); none for a cluster without one. */
export function hostsOf(t: Translation, name: string): HostEndpoint[] {
  cluster(t, name);
  return hostEndpoints(t.snapshot.endpoints.find((a) => a.clusterName === name));
}

export function clusterNames(t: Translation): string[] {
  return t.snapshot.clusters.map((c) => c.name).sort();
}

export function listener(t: Translation, name: string): Listener {
  const l = t.snapshot.listeners.find((x) => x.name === name);
  if (!l) expect.fail(`no listener ${name}; have: ${t.snapshot.listeners.map((x) => x.name).join(', ')}`);
  return l;
}

/**
 * The HTTP connection manager a listener serves plain connections with: its only chain, or (the
 * sidecar's virtualOutbound) the chain for connections made to the port directly.
 */
export function hcmOf(l: Listener): HttpConnectionManager {
  const chain = l.filterChains.length === 1 ? l.filterChains[0] : l.filterChains.find((c) => c.match.destinationPort === l.port && !c.match.prefixRanges);
  const hcm = chainHcm(chain);
  if (!hcm) expect.fail(`listener ${l.name} has no HTTP chain for its own port`);
  return hcm;
}

export function routeConfig(t: Translation, name: string): RouteConfiguration {
  const r = t.snapshot.routeConfigs.find((x) => x.name === name);
  if (!r) expect.fail(`no route config ${name}; have: ${t.snapshot.routeConfigs.map((x) => x.name).join(', ')}`);
  return r;
}

export function vhost(rc: RouteConfiguration, name: string): VirtualHost {
  const v = rc.virtualHosts.find((x) => x.name === name);
  if (!v) expect.fail(`no virtual host ${name} in ${rc.name}; have: ${rc.virtualHosts.map((x) => x.name).join(', ')}`);
  return v;
}

/** The virtual host of a route config that lists this exact domain. */
export function vhostWithDomain(rc: RouteConfiguration, domain: string): VirtualHost | undefined {
  return rc.virtualHosts.find((v) => v.domains.includes(domain));
}

/** Route → [cluster, weight] pairs (route actions only). */
export function targets(r: Route): [string, number][] {
  if (r.action.kind !== 'route') expect.fail(`route ${r.name} is a ${r.action.kind}, not a route`);
  return r.action.clusters.map((c) => [c.name, c.weight]);
}

export const yaml = String.raw;

/** ServiceEntries for bookinfo-like services in the default namespace (STATIC, with v1/v2/v3 endpoints). */
export const BOOKINFO_SERVICES = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews.default.svc.cluster.local]
  addresses: [10.96.0.10]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - { number: 9080, name: http, protocol: HTTP }
  endpoints:
  - { address: 10.0.0.1, labels: { app: reviews, version: v1 } }
  - { address: 10.0.0.2, labels: { app: reviews, version: v2 } }
  - { address: 10.0.0.3, labels: { app: reviews, version: v3 } }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ratings, namespace: default }
spec:
  hosts: [ratings.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - { number: 9080, name: http, protocol: HTTP }
  endpoints:
  - { address: 10.0.1.1, labels: { app: ratings, version: v1 } }
  - { address: 10.0.1.2, labels: { app: ratings, version: v2 } }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: productpage, namespace: default }
spec:
  hosts: [productpage.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - { number: 9080, name: http, protocol: HTTP }
  endpoints:
  - { address: 10.0.2.1, labels: { app: productpage, version: v1 } }
`;

/** A chain's HTTP connection manager (the typed config of its terminal filter), if it ends in one. */
export function chainHcm(c: FilterChain | undefined): HttpConnectionManager | undefined {
  return c && httpConnectionManagerOf(c);
}

/** A chain's TCP proxy (the typed config of its terminal filter), if it ends in one. */
export function tcpProxyOf(c: FilterChain | undefined): TcpProxy | undefined {
  return c && tcpProxyConfigOf(c);
}

/** A chain's network RBAC and ext_authz filters, in order. */
export function tcpAuthzOf(c: FilterChain | undefined): TcpAuthzFilter[] {
  return c ? networkAuthzFiltersOf(c) : [];
}
