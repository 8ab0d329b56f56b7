import { isIPv6Address } from '../../common/address.js';
import type { Cluster, ClusterLoadAssignment, FilterChain, HttpConnectionManager, Listener, NodeIdentity, RouteConfiguration, TcpProxy, VirtualHost } from '../snapshot.js';
import { httpConnectionManagerFilter, tcpProxyFilter } from '../envoy/network-filters.js';
import { parseCidr } from '../../common/cidr.js';
import type { Service, VirtualServiceIndex } from './registry.js';
import type { L4RouteSpec, MeshSettings, SidecarSpec, VirtualServiceSpec } from './resources.js';
import { portKind, type PortKind } from './protocol.js';
import { clusterName, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS } from './translate-clusters.js';
import { destinationCluster, matchAppliesHere, type RouteContext } from './translate-routes.js';
import type { SecretSet } from './upstream-tls.js';

/** Istio's special clusters for traffic capture. */
export const PASSTHROUGH_CLUSTER = 'PassthroughCluster';
export const BLACKHOLE_CLUSTER = 'BlackHoleCluster';
export const INBOUND_PASSTHROUGH_CLUSTER = 'InboundPassthroughClusterIpv4';
/** Where the proxy's connections to its own workload come from, so iptables lets them through (Istio's). */
export const INBOUND_BIND_ADDRESSES = ['127.0.0.6', '::6'];
/** Envoy tcp_proxy's default idle timeout. */
export const TCP_IDLE_TIMEOUT_MS = 3_600_000;
/** What Envoy's http_inspector reports for plain HTTP (h2c: the HTTP/2 preface). */
export const HTTP_PROTOCOLS = ['http/1.0', 'http/1.1', 'h2c'];
/** Istio's ALPN values: a sidecar client says it speaks mTLS, and what it carries. */
export const ISTIO_ALPN_HTTP = ['istio-http/1.0', 'istio-http/1.1', 'istio-h2'];
export const ISTIO_ALPN_ALL = ['istio-peer-exchange', 'istio', ...ISTIO_ALPN_HTTP];

/** PeerAuthentication's effective mode for a port (UNSET resolved to its parent's). */
export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

/** What the capture listeners are built from; the HTTP route configurations come from the caller. */
export interface CaptureInput {
  /** The inbound mTLS mode of a port of this workload (undefined: the workload-wide mode). */
  mtlsMode(port: number | undefined): MtlsMode;
  /** The proxy has a workload certificate to terminate mTLS with. */
  mtls: boolean;
  node: NodeIdentity;
  services: ReadonlyMap<string, Service>;
  vss: VirtualServiceIndex;
  mesh: MeshSettings;
  /** The Sidecar's outboundTrafficPolicy, else the mesh's. */
  outboundPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  sidecar?: SidecarSpec;
  /** Does the Sidecar's egress admit this service on this port? */
  admits(svc: Service, port: number): boolean;
  /** The virtual hosts of the outbound HTTP route configuration for one port. */
  httpVirtualHosts(port: number): VirtualHost[];
  httpConnectionManager(routeConfigName: string, direction: 'OUTBOUND' | 'INBOUND', statPrefix: string): HttpConnectionManager;
  clusters: Cluster[];
  endpoints: ClusterLoadAssignment[];
  routeConfigs: RouteConfiguration[];
  /** Where the SDS secrets the TLS contexts name go. */
  secrets: SecretSet;
  warnings: string[];
}

export function tcpProxy(statPrefix: string, clusters: TcpProxy['clusters']): TcpProxy {
  return { statPrefix, clusters, idleTimeoutMs: TCP_IDLE_TIMEOUT_MS };
}

/** The clusters capture needs whatever the config: passthrough both ways, and the black hole (none has hosts). */
export function captureClusters(mesh: MeshSettings): Cluster[] {
  const base = {
    lbPolicy: 'CLUSTER_PROVIDED' as const,
    connectTimeoutMs: mesh.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS,
  };
  return [
    { ...base, name: PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST' },
    { ...base, name: INBOUND_PASSTHROUGH_CLUSTER, type: 'ORIGINAL_DST', upstreamBindAddresses: INBOUND_BIND_ADDRESSES },
    // no endpoints at all (istiod's: STATIC, Envoy's default balancer)
    { ...base, name: BLACKHOLE_CLUSTER, type: 'STATIC', lbPolicy: 'ROUND_ROBIN' },
  ];
}

// ---------------------------------------------------------------- outbound (15001)

/**
 * `virtualOutbound`: every connection the workload opens, matched on its original destination.
 * HTTP ports → the HTTP connection manager for that port (routed by Host); TCP ports → a TCP proxy
 * per service address (VirtualService tcp routes decide the clusters); TLS ports → SNI routing
 * (tls routes); auto-detected ports → HTTP when the first bytes are HTTP, else TCP. Anything else →
 * PassthroughCluster (ALLOW_ANY) or BlackHoleCluster (REGISTRY_ONLY). Connections made to the port
 * itself (not redirected) are served as an explicit HTTP proxy: `directChain`.
 */
export function buildOutboundCapture(input: CaptureInput, port: number, directChain: FilterChain): Listener {
  const chains = new ChainSet(input.warnings, 'virtualOutbound');
  chains.add(directChain);
  const byPort = outboundServicePorts(input);

  // HTTP first: when a TCP service without an address shares the port, Host routing keeps both reachable
  for (const [p, entries] of byPort) {
    const kinds = new Set(entries.map((e) => e.kind));
    if (!kinds.has('http') && !kinds.has('auto')) continue;
    const rcName = String(p);
    input.routeConfigs.push({ name: rcName, virtualHosts: [...input.httpVirtualHosts(p), catchAllVirtualHost(input.outboundPolicy, p)] });
    const http = httpConnectionManagerFilter(input.httpConnectionManager(rcName, 'OUTBOUND', `outbound_0.0.0.0_${p}`));
    if (kinds.has('http')) chains.add({ name: `0.0.0.0_${p}`, match: { destinationPort: p }, filters: [http] });
    for (const e of entries.filter((x) => x.kind === 'auto')) {
      // auto-detected: HTTP on the service's addresses goes to the HTTP chain, the rest to TCP
      const prefixRanges = serviceRanges(e.svc);
      chains.add({ name: `${e.svc.hostname}_${p}_http`, match: { destinationPort: p, ...prefixRanges, applicationProtocols: HTTP_PROTOCOLS }, filters: [http] });
    }
  }
  for (const [p, entries] of byPort) {
    for (const { svc, kind } of entries) {
      if (kind === 'tcp' || kind === 'auto') addTcpChains(input, chains, svc, p);
      else if (kind === 'tls') addTlsChains(input, chains, svc, p);
    }
  }
  const fallback = input.outboundPolicy === 'REGISTRY_ONLY' ? BLACKHOLE_CLUSTER : PASSTHROUGH_CLUSTER;
  return {
    name: 'virtualOutbound',
    address: captureAddress(input.node),
    port,
    direction: 'OUTBOUND',
    useOriginalDst: true,
    protocolDetectionTimeoutMs: input.mesh.protocolDetectionTimeoutMs,
    filterChains: chains.list,
    defaultFilterChain: { name: 'PassthroughFilterChain', match: {}, filters: [tcpProxyFilter(tcpProxy(fallback, [{ name: fallback, weight: 1 }]))] },
  };
}

/** IPv6 pods get their connections redirected to [::1]: the capture listeners bind `::` (dual stack) then. */
export function captureAddress(node: NodeIdentity): string {
  return isIPv6Address(node.ip) ? '::' : '0.0.0.0';
}

/** Istio's last virtual host of every outbound HTTP route configuration: unknown hosts pass through, or get 502. */
function catchAllVirtualHost(policy: 'ALLOW_ANY' | 'REGISTRY_ONLY', port: number): VirtualHost {
  const match = { path: { prefix: '/' }, headers: [], queryParams: [] };
  if (policy === 'REGISTRY_ONLY') {
    return { name: `block_all:${port}`, domains: ['*'], routes: [{ name: 'block_all', match, action: { kind: 'direct_response', status: 502 } }] };
  }
  return { name: `allow_any:${port}`, domains: ['*'], routes: [{ name: 'allow_any', match, action: { kind: 'route', clusters: [{ name: PASSTHROUGH_CLUSTER, weight: 100 }] } }] };
}

interface ServicePort {
  svc: Service;
  kind: PortKind;
}

/** Visible service ports the Sidecar admits, by port number. UDP is not proxied. */
function outboundServicePorts(input: CaptureInput): Map<number, ServicePort[]> {
  const out = new Map<number, ServicePort[]>();
  for (const svc of input.services.values()) {
    for (const p of svc.ports) {
      const kind = portKind(p.protocol);
      if (kind === 'udp' || !input.admits(svc, p.number)) continue;
      let list = out.get(p.number);
      if (!list) out.set(p.number, (list = []));
      list.push({ svc, kind });
    }
  }
  return out;
}

/** A service's addresses (VIPs or CIDRs) as a chain match; none: the service owns the whole port. */
function serviceRanges(svc: Service): { prefixRanges?: string[] } {
  const ranges = svc.addresses.filter((a) => parseCidr(a));
  return ranges.length ? { prefixRanges: ranges } : {};
}

function routeContext(input: CaptureInput, port: number): RouteContext {
  return { node: input.node, port, gateways: new Set(['mesh']), services: input.services };
}

/** The mesh VirtualService for a host with routes of this kind (exact hosts before wildcards). */
function l4VirtualService(input: CaptureInput, hostname: string, kind: 'tcp' | 'tls'): VirtualServiceSpec | undefined {
  return input.vss.lookup(hostname, (vs) => vs[kind].length > 0 && (vs.gateways.length === 0 || vs.gateways.includes('mesh'))).vs;
}

export function weightedClusters(route: L4RouteSpec, vs: VirtualServiceSpec, ctx: RouteContext): TcpProxy['clusters'] {
  const out = route.route.map((d) => ({ name: destinationCluster(d.destination, vs, ctx), weight: d.weight ?? 100 }));
  if (out.every((c) => c.weight === 0)) out.forEach((c) => (c.weight = 1)); // all zero: equal shares
  return out;
}

/**
 * TCP service port: VirtualService tcp routes in order (a route whose match names destinationSubnets
 * gets a chain of its own for them; the first route that matches everything ends the list), else
 * the service's own cluster.
 */
function addTcpChains(input: CaptureInput, chains: ChainSet, svc: Service, port: number): void {
  const ranges = serviceRanges(svc);
  const statPrefix = clusterName('outbound', port, undefined, svc.hostname);
  const vs = l4VirtualService(input, svc.hostname, 'tcp');
  const ctx = routeContext(input, port);
  let i = 0;
  for (const route of vs?.tcp ?? []) {
    const matches = route.match.length ? route.match : [undefined];
    for (const m of matches) {
      if (m && !matchAppliesHere(m, vs!, ctx)) continue;
      const clusters = weightedClusters(route, vs!, ctx);
      const name = `${svc.hostname}_${port}_tcp${i++}`;
      if (m?.destinationSubnets.length) {
        chains.add({ name, match: { destinationPort: port, prefixRanges: m.destinationSubnets }, filters: [tcpProxyFilter(tcpProxy(statPrefix, clusters))] });
        continue;
      }
      chains.add({ name, match: { destinationPort: port, ...ranges }, filters: [tcpProxyFilter(tcpProxy(statPrefix, clusters))] });
      return;
    }
  }
  chains.add({ name: `${svc.hostname}_${port}_tcp`, match: { destinationPort: port, ...ranges }, filters: [tcpProxyFilter(tcpProxy(statPrefix, [{ name: statPrefix, weight: 1 }]))] });
}

/** TLS service port: routed on SNI. VirtualService tls routes first (sniHosts), then the host name itself. */
function addTlsChains(input: CaptureInput, chains: ChainSet, svc: Service, port: number): void {
  const statPrefix = clusterName('outbound', port, undefined, svc.hostname);
  const vs = l4VirtualService(input, svc.hostname, 'tls');
  const ctx = routeContext(input, port);
  let i = 0;
  let hostClaimed = false;
  for (const route of vs?.tls ?? []) {
    for (const m of route.match) {
      if (!matchAppliesHere(m, vs!, ctx)) continue;
      const prefix = m.destinationSubnets.length ? { prefixRanges: m.destinationSubnets } : {};
      if (!m.destinationSubnets.length && m.sniHosts?.length === 1 && m.sniHosts[0] === svc.hostname) hostClaimed = true;
      chains.add({
        name: `${svc.hostname}_${port}_tls${i++}`,
        match: { destinationPort: port, ...prefix, transportProtocol: 'tls', serverNames: m.sniHosts },
        filters: [tcpProxyFilter(tcpProxy(statPrefix, weightedClusters(route, vs!, ctx)))],
      });
    }
  }
  if (hostClaimed) return; // a route already decides where this host's SNI goes
  chains.add({
    name: `${svc.hostname}_${port}_tls`,
    match: { destinationPort: port, transportProtocol: 'tls', serverNames: [svc.hostname] },
    filters: [tcpProxyFilter(tcpProxy(statPrefix, [{ name: statPrefix, weight: 1 }]))],
  });
}

// ---------------------------------------------------------------- chains

/** Filter chains of one listener; a second chain with the same match is dropped with a warning (Istio's conflicts). */
export class ChainSet {
  readonly list: FilterChain[] = [];
  private readonly byMatch = new Map<string, FilterChain>();

  constructor(
    private readonly warnings: string[],
    private readonly listener: string,
  ) {}

  add(chain: FilterChain): void {
    const m = chain.match;
    const key = JSON.stringify([m.destinationPort, [...(m.prefixRanges ?? [])].sort(), [...(m.serverNames ?? [])].sort(), m.transportProtocol, m.applicationProtocols]);
    const seen = this.byMatch.get(key);
    if (seen) {
      this.warnings.push(`${this.listener}: ${chain.name} matches the same traffic as ${seen.name}; ${seen.name} applies`);
      return;
    }
    this.byMatch.set(key, chain);
    this.list.push(chain);
  }
}
