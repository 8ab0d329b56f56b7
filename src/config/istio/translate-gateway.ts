// Gateway mode: the listeners istiod builds for a gateway's servers (pilot/pkg/networking/core/gateway.go).
import type { Cluster, ClusterLoadAssignment, DownstreamTransportSocket, FilterChain, HttpConnectionManager, Listener, NodeIdentity, Route, RouteConfiguration, TcpProxy, VirtualHost } from '../snapshot.js';
import { httpConnectionManagerFilter, tcpProxyFilter } from '../envoy/network-filters.js';
import { hostIntersection, hostMatches, labelsMatch, namespaceAdmits, parseNamespacedHost } from './hosts.js';
import type { Service, VirtualServiceIndex } from './registry.js';
import type { GatewayServerSpec, GatewaySpec, L4RouteSpec, MeshSettings, VirtualServiceSpec } from './resources.js';
import { isHttpProtocol, portKind } from './protocol.js';
import { ChainSet, ISTIO_ALPN_ALL, tcpProxy, weightedClusters } from './translate-capture.js';
import { istioSni } from './translate-clusters.js';
import { gatewayMeshTls, serverTlsContext } from './downstream-tls.js';
import type { SecretSet } from './upstream-tls.js';
import { buildVirtualServiceRoutes, matchAppliesHere, qualifyGateway, type RouteContext } from './translate-routes.js';

/** What gateway translation reads from the rest of the translation, and the lists it adds to. */
interface GatewayInput {
  node: NodeIdentity;
  services: ReadonlyMap<string, Service>;
  vss: VirtualServiceIndex;
  mesh: MeshSettings;
  /** The proxy has a workload certificate (--cert-dir): ISTIO_MUTUAL servers can terminate mesh mTLS. */
  mtls: boolean;
  httpConnectionManager(routeConfigName: string, statPrefix: string): HttpConnectionManager;
  listeners: Listener[];
  routeConfigs: RouteConfiguration[];
  clusters: Cluster[];
  endpoints: ClusterLoadAssignment[];
  /** Where the SDS secrets of the servers' certificates go. */
  secrets: SecretSet;
  warnings: string[];
}

export function selectGateways(gateways: readonly GatewaySpec[], node: NodeIdentity): GatewaySpec[] {
  return gateways.filter((g) => labelsMatch(g.selector, node.labels));
}

/**
 * How a server is served, as Istio decides it (pilot/pkg/model/gateway): plaintext HTTP; HTTPS
 * terminated into the HTTP connection manager; TCP (or TLS terminated here) into a TCP proxy by the
 * VirtualServices' tcp routes; TLS passed through by SNI (tls routes), or AUTO_PASSTHROUGH straight to
 * the cluster its SNI names.
 */
type ServerKind = 'http' | 'https' | 'tcp' | 'tls-terminated' | 'passthrough' | 'auto-passthrough';

interface ServerRef {
  gw: GatewaySpec;
  server: GatewayServerSpec;
  kind: ServerKind;
  /** `namespace/name` of the Gateway, as VirtualServices name it. */
  gwName: string;
}

/** Builds one listener per bind address and port of the servers of the Gateways that select this proxy. */
export function buildGateway(b: GatewayInput, gateways: readonly GatewaySpec[]): void {
  const selected = selectGateways(gateways, b.node);
  if (selected.length === 0) b.warnings.push(`no Gateway selects this proxy (labels ${JSON.stringify(b.node.labels)}): no listeners`);
  const byPort = new Map<string, { bind: string; port: number; servers: ServerRef[] }>();
  for (const gw of selected) {
    for (const server of gw.servers) {
      const kind = classify(b, gw, server);
      if (!kind) continue;
      const bind = server.bind ?? '0.0.0.0';
      const key = `${bind}_${server.port.number}`;
      let group = byPort.get(key);
      if (!group) byPort.set(key, (group = { bind, port: server.port.number, servers: [] }));
      group.servers.push({ gw, server, kind, gwName: `${gw.meta.namespace}/${gw.meta.name}` });
    }
  }
  const sniClusters = new Set<string>();
  for (const [key, group] of byPort) {
    const chains = new ChainSet(b.warnings, key);
    // plaintext HTTP servers of a port share one route configuration (Istio's `http.<port>`)
    const plain = group.servers.filter((s) => s.kind === 'http');
    if (plain.length) {
      const routeName = `http.${group.port}`;
      b.routeConfigs.push({ name: routeName, virtualHosts: gatewayVirtualHosts(b, group.port, plain) });
      chains.add({ name: key, match: {}, filters: [httpConnectionManagerFilter(b.httpConnectionManager(routeName, key))] });
    }
    const usedSni = new Set<string>();
    group.servers.forEach((ref, i) => {
      const name = `${key}_${ref.gw.meta.name}.${ref.gw.meta.namespace}_${i}`;
      const add = (list: (FilterChain | undefined)[]) => list.forEach((c) => c && chains.add(c));
      switch (ref.kind) {
        case 'http':
          return; // the shared chain above
        case 'https':
          return add([httpsChain(b, key, name, group.port, ref)]);
        case 'tcp':
        case 'tls-terminated':
          return add([tcpServerChain(b, ref, name)]);
        case 'passthrough':
          return add(passthroughChains(b, ref, name, usedSni));
        case 'auto-passthrough':
          return add(autoPassthroughChains(b, ref, name, sniClusters));
      }
    });
    // istiod omits a listener left without filter chains (its servers were warned about)
    if (chains.list.length) b.listeners.push({ name: key, address: group.bind, port: group.port, direction: 'GATEWAY', filterChains: chains.list });
  }
}

function where(ref: Pick<ServerRef, 'gw' | 'server'>): string {
  return `Gateway ${ref.gw.meta.namespace}/${ref.gw.meta.name}: server on port ${ref.server.port.number}`;
}

/** The server's kind, or undefined (skipped with a warning) when it cannot be served. */
function classify(b: GatewayInput, gw: GatewaySpec, s: GatewayServerSpec): ServerKind | undefined {
  const proto = s.port.protocol;
  const at = where({ gw, server: s });
  const skip = (why: string) => void b.warnings.push(`${at} (${proto}${s.tls ? ` with tls mode ${s.tls.mode}` : ''}) skipped: ${why}`);
  if (s.tls?.unsupported) return skip(s.tls.unsupported);
  if (portKind(proto) === 'udp') return skip('UDP is not proxied');
  const mode = s.tls?.mode;
  if (isHttpProtocol(proto) && proto !== 'HTTPS') return 'http'; // an HTTP server's tls only carries httpsRedirect
  if (mode === 'PASSTHROUGH') return 'passthrough';
  if (mode === 'AUTO_PASSTHROUGH') return 'auto-passthrough';
  if (!mode) return proto === 'HTTPS' || proto === 'TLS' ? skip('a server of protocol HTTPS or TLS needs tls settings (Istio rejects it)') : 'tcp';
  if (mode === 'ISTIO_MUTUAL' && !b.mtls) return skip('ISTIO_MUTUAL terminates with the workload certificate: run with --cert-dir');
  if (mode !== 'ISTIO_MUTUAL' && (!s.tls!.certPem || !s.tls!.keyPem)) return skip('no server certificate');
  return proto === 'HTTPS' ? 'https' : 'tls-terminated';
}

/** SNI a terminating server answers: its hosts without namespace; `*` answers every SNI (and clients without one). */
function sniMatch(ref: ServerRef): { serverNames?: string[] } {
  const sni = ref.server.hosts.map((h) => parseNamespacedHost(h, ref.gw.meta.namespace).host);
  return sni.includes('*') ? {} : { serverNames: sni };
}

/** Envoy's DownstreamTlsContext for a terminating server: the workload certificate (ISTIO_MUTUAL) or the server's own. */
function terminatingTls(b: GatewayInput, ref: ServerRef, alpn?: string[]): DownstreamTransportSocket {
  const tls = ref.server.tls!;
  // alpn absent: h2 and http/1.1, as Istio advertises on HTTPS servers
  if (tls.mode === 'ISTIO_MUTUAL') return gatewayMeshTls(alpn ?? ['h2', 'http/1.1']);
  return serverTlsContext(tls, b.secrets, alpn);
}

/** HTTPS terminated here: a chain by SNI with a route configuration of its own. */
function httpsChain(b: GatewayInput, key: string, name: string, port: number, ref: ServerRef): FilterChain {
  const routeName = `https.${port}.${ref.server.port.name}.${ref.gw.meta.name}.${ref.gw.meta.namespace}`;
  b.routeConfigs.push({ name: routeName, virtualHosts: gatewayVirtualHosts(b, port, [ref]) });
  return { name, match: { transportProtocol: 'tls', ...sniMatch(ref) }, transportSocket: terminatingTls(b, ref), filters: [httpConnectionManagerFilter(b.httpConnectionManager(routeName, key))] };
}

/** The VirtualServices bound to this server's Gateway, with the hosts they share with the server. */
function boundVirtualServices(b: GatewayInput, ref: ServerRef): { vs: VirtualServiceSpec; domains: Set<string> }[] {
  const out: { vs: VirtualServiceSpec; domains: Set<string> }[] = [];
  for (const { vs, hosts: vsHosts } of b.vss.visible) {
    if (!vs.gateways.some((g) => qualifyGateway(g, vs.meta.namespace) === ref.gwName)) continue;
    const domains = new Set<string>();
    for (const serverHost of ref.server.hosts) {
      const nh = parseNamespacedHost(serverHost, ref.gw.meta.namespace);
      if (!namespaceAdmits(nh.namespace, vs.meta.namespace)) continue;
      for (const vh of vsHosts) {
        const domain = hostIntersection(nh.host, vh);
        if (domain) domains.add(domain);
      }
    }
    if (domains.size) out.push({ vs, domains });
  }
  return out;
}

function routeContext(b: GatewayInput, ref: ServerRef): RouteContext {
  return { node: b.node, port: ref.server.port.number, gateways: new Set([ref.gwName]), services: b.services };
}

/** Istio's stat prefix of a gateway TCP proxy: the cluster for one destination, else the VirtualService. */
function l4Proxy(route: L4RouteSpec, vs: VirtualServiceSpec, ctx: RouteContext): TcpProxy {
  const clusters = weightedClusters(route, vs, ctx);
  return tcpProxy(clusters.length === 1 ? clusters[0].name : `${vs.meta.name}.${vs.meta.namespace}`, clusters);
}

/**
 * A TCP server (or TLS terminated here): the first tcp route, of the first bound VirtualService
 * sharing a host with the server, whose match names this port and gateway (or nothing).
 */
function tcpRouteProxy(b: GatewayInput, ref: ServerRef): TcpProxy | undefined {
  const ctx = routeContext(b, ref);
  for (const { vs } of boundVirtualServices(b, ref)) {
    for (const route of vs.tcp) {
      if (route.route.length === 0) continue;
      if (route.match.length && !route.match.some((m) => matchAppliesHere(m, vs, ctx))) continue;
      return l4Proxy(route, vs, ctx);
    }
  }
  return undefined;
}

/** A TCP server (every connection), or a TLS server terminating here (by SNI), into the TCP proxy of its tcp route. */
function tcpServerChain(b: GatewayInput, ref: ServerRef, name: string): FilterChain | undefined {
  const tcp = tcpRouteProxy(b, ref);
  if (!tcp) {
    b.warnings.push(`${where(ref)}: no VirtualService bound to the gateway has a tcp route for it; server skipped`);
    return undefined;
  }
  if (ref.kind === 'tcp') return { name, match: {}, filters: [tcpProxyFilter(tcp)] };
  // Istio advertises no ALPN where TLS carries opaque bytes
  return { name, match: { transportProtocol: 'tls', ...sniMatch(ref) }, transportSocket: terminatingTls(b, ref, []), filters: [tcpProxyFilter(tcp)] };
}

/**
 * PASSTHROUGH: one chain per tls route match (its sniHosts), TCP-proxied to the route's
 * destinations with the client's TLS untouched. An SNI host another rule already claimed on this
 * listener makes the whole rule skipped, as istiod does.
 */
function passthroughChains(b: GatewayInput, ref: ServerRef, name: string, usedSni: Set<string>): FilterChain[] {
  const ctx = routeContext(b, ref);
  const out: FilterChain[] = [];
  for (const { vs } of boundVirtualServices(b, ref)) {
    for (const route of vs.tls) {
      if (route.route.length === 0) continue;
      route.match.forEach((m, i) => {
        if (!matchAppliesHere(m, vs, ctx)) return;
        const sni = m.sniHosts ?? [];
        const dup = sni.filter((h) => usedSni.has(h));
        if (dup.length) {
          b.warnings.push(`${where(ref)}: VirtualService ${vs.meta.namespace}/${vs.meta.name} tls match #${i} skipped: duplicate SNI host names ${dup.join(', ')}`);
          return;
        }
        sni.forEach((h) => usedSni.add(h));
        out.push({ name: `${name}_${vs.meta.name}.${vs.meta.namespace}_${out.length}`, match: { serverNames: sni }, filters: [tcpProxyFilter(l4Proxy(route, vs, ctx))] });
      });
    }
  }
  if (out.length === 0) b.warnings.push(`${where(ref)}: no VirtualService bound to the gateway has a tls route for it; server serves nothing`);
  return out;
}

/**
 * AUTO_PASSTHROUGH (east-west gateways): a chain per mesh-internal service port the server's hosts
 * cover, and per DestinationRule subset, matching the SNI that names the cluster and Istio's mTLS
 * ALPNs; the client's mTLS goes through untouched to a copy of that cluster without TLS of its own
 * (istiod's SNI-DNAT clusters).
 */
function autoPassthroughChains(b: GatewayInput, ref: ServerRef, name: string, added: Set<string>): FilterChain[] {
  const hosts = ref.server.hosts.map((h) => parseNamespacedHost(h, ref.gw.meta.namespace).host);
  const out: FilterChain[] = [];
  const assignments = new Map(b.endpoints.map((a) => [a.clusterName, a]));
  for (const c of [...b.clusters]) {
    const svc = c.service && b.services.get(c.service.host);
    if (!svc || svc.location === 'MESH_EXTERNAL' || !c.name.startsWith('outbound|')) continue;
    if (portKind(svc.ports.find((p) => p.number === c.service!.port)?.protocol ?? '') === 'udp') continue;
    if (!hosts.some((h) => hostMatches(h, svc.hostname))) continue;
    const sni = istioSni(c.service!);
    if (!added.has(sni)) {
      added.add(sni);
      b.clusters.push(sniDnatCluster(c, sni));
      const hosts = assignments.get(c.name);
      if (hosts) b.endpoints.push({ ...hosts, clusterName: sni });
    }
    out.push({ name: `${name}_${sni}`, match: { serverNames: [sni], applicationProtocols: ISTIO_ALPN_ALL }, filters: [tcpProxyFilter(tcpProxy(sni, [{ name: sni, weight: 1 }]))] });
  }
  return out;
}

/** The cluster's load balancing without any TLS origination (its hosts are the cluster's too): the bytes already are the client's mTLS. */
function sniDnatCluster(c: Cluster, name: string): Cluster {
  const { transportSocket: _tls, transportSocketMatches: _matches, http2: _h2, useClientProtocol: _ucp, hashPolicy: _hash, ...rest } = c;
  return { ...rest, name };
}

/**
 * The virtual hosts of gateway servers: the VirtualServices bound to their Gateway, each host the
 * intersection of a server host and a VirtualService host. A server with tls.httpsRedirect answers
 * 301 to https for all of them instead (Envoy's require_tls).
 */
function gatewayVirtualHosts(b: GatewayInput, port: number, servers: readonly ServerRef[]): VirtualHost[] {
  const vhosts = new Map<string, VirtualHost>();
  const contributed = new Map<string, Set<VirtualServiceSpec>>(); // domain → VirtualServices merged into it
  for (const ref of servers) {
    const ctx: RouteContext = { node: b.node, port, gateways: new Set([ref.gwName]), services: b.services };
    const redirect = ref.server.tls?.httpsRedirect === true;
    for (const { vs, domains } of boundVirtualServices(b, ref)) {
      const routes = redirect ? [HTTPS_REDIRECT_ROUTE] : buildVirtualServiceRoutes(vs, ctx);
      for (const domain of domains) {
        const seen = contributed.get(domain) ?? new Set();
        if (seen.has(vs)) continue;
        seen.add(vs);
        contributed.set(domain, seen);
        const existing = vhosts.get(domain);
        // Istio merges VirtualServices bound to one gateway host, in creation order
        if (existing && !redirect) existing.routes.push(...routes);
        else if (!existing) vhosts.set(domain, { name: `${domain}:${port}`, domains: domain === '*' ? ['*'] : [domain, `${domain}:*`], routes: [...routes] });
      }
    }
  }
  return [...vhosts.values()];
}

/** Envoy's require_tls ALL on a virtual host: plaintext requests get 301 to the https URL. */
const HTTPS_REDIRECT_ROUTE: Route = {
  name: 'https_redirect',
  match: { path: { prefix: '/' }, headers: [], queryParams: [] },
  action: { kind: 'redirect', scheme: 'https', responseCode: 301 },
};
