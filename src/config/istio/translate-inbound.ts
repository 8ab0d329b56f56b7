import type { Cluster, DownstreamTransportSocket, HttpConnectionManager, Listener, TcpProxy } from '../snapshot.js';
import { httpConnectionManagerFilter, tcpProxyFilter } from '../envoy/network-filters.js';
import { labelsMatch } from './hosts.js';
import { workloadPort, type Service } from './registry.js';
import type { ServicePortSpec } from './resources.js';
import { portKind, type PortKind } from './protocol.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS, http2Of } from './translate-clusters.js';
import { loadAssignment, staticHost } from '../endpoints.js';
import {
  BLACKHOLE_CLUSTER, captureAddress, ChainSet, HTTP_PROTOCOLS, INBOUND_BIND_ADDRESSES, INBOUND_PASSTHROUGH_CLUSTER, ISTIO_ALPN_ALL, ISTIO_ALPN_HTTP, tcpProxy, type CaptureInput, type MtlsMode,
} from './translate-capture.js';
import { MESH_DOWNSTREAM_ALPN_HTTP, MESH_DOWNSTREAM_ALPN_TCP, meshDownstreamTls, serverTlsContext } from './downstream-tls.js';

/**
 * Everything that receives traffic for this workload is built here, once: the ports captured on
 * `virtualInbound` (15006) and the Sidecar ingress listeners bound on their own address. Istio builds
 * both from the same inbound chain configs (pilot's listener_inbound.go), so PeerAuthentication,
 * peer identity, authorization, protocol detection, the upstream protocol and the telemetry
 * metadata are the same whichever way a connection arrives.
 */

/** One inbound port: Istio's inboundChainConfig. */
interface InboundChainConfig {
  /** The port the workload listens on (the original destination port; a bound listener's port). */
  port: number;
  /** How the port is served, after the Sidecar's own TLS (if any) is terminated. */
  kind: 'http' | 'tcp' | 'auto';
  /** The declared protocol (GRPC/HTTP2 reach the app over HTTP/2). */
  protocol: string;
  /** The service whose port this is, for telemetry (destination_service, canonical labels). */
  svc?: Service;
  servicePort?: number;
  /** Sidecar ingress defaultEndpoint (`127.0.0.1:8080`); absent: the original destination. */
  endpoint?: string;
  /** Bound on this address as a listener of its own (captureMode NONE or bind); absent: captured on 15006. */
  bind?: string;
  /** Sidecar ingress tls: TLS terminated with the Sidecar's certificates, where mTLS is DISABLE. */
  tls?: DownstreamTransportSocket;
  /** Its TLS credential is missing: the port is refused rather than served without it. */
  refused?: boolean;
}

/**
 * The inbound listeners: `virtualInbound` on `capturePort` (first), then one listener per bound
 * Sidecar ingress port. Clusters and route configurations go into `input`.
 */
export function buildInboundListeners(input: CaptureInput, capturePort: number): Listener[] {
  const virtual = new ChainSet(input.warnings, 'virtualInbound');
  // connections made to 15006 itself would loop back into it
  virtual.add({ name: 'virtualInbound-blackhole', match: { destinationPort: capturePort }, filters: [tcpProxyFilter(blackHole())] });
  const bound: Listener[] = [];
  for (const cc of inboundChainConfigs(input)) {
    if (cc.refused) {
      virtual.add({ name: `0.0.0.0_${cc.port}_refused`, match: { destinationPort: cc.port }, filters: [tcpProxyFilter(blackHole())] });
      continue;
    }
    const bindName = `${cc.bind ?? '0.0.0.0'}_${cc.port}`;
    const chains = cc.bind ? new ChainSet(input.warnings, bindName) : virtual;
    addPortChains(input, chains, cc, bindName);
    if (cc.bind) {
      bound.push({
        name: bindName,
        address: cc.bind,
        port: cc.port,
        direction: 'INBOUND',
        protocolDetectionTimeoutMs: input.mesh.protocolDetectionTimeoutMs,
        filterChains: chains.list,
      });
    }
  }
  // ports no service declares pass through to the app, under the workload's mTLS mode
  const passthrough = tcpProxy(INBOUND_PASSTHROUGH_CLUSTER, [{ name: INBOUND_PASSTHROUGH_CLUSTER, weight: 1 }]);
  const workloadMode = input.mtlsMode(undefined);
  addInboundChains(virtual, 'InboundPassthrough', undefined, workloadMode, input.mtls, 'tcp', undefined, passthrough, input.node.trustDomain);
  const virtualInbound: Listener = {
    name: 'virtualInbound',
    address: captureAddress(input.node),
    port: capturePort,
    direction: 'INBOUND',
    useOriginalDst: true,
    protocolDetectionTimeoutMs: input.mesh.protocolDetectionTimeoutMs,
    filterChains: virtual.list,
    defaultFilterChain: {
      name: 'InboundPassthroughFilterChain',
      match: {},
      // STRICT: what is not mTLS goes nowhere
      filters: [tcpProxyFilter(workloadMode === 'STRICT' ? blackHole() : passthrough)],
    },
  };
  return [virtualInbound, ...bound];
}

function blackHole(): TcpProxy {
  return tcpProxy(BLACKHOLE_CLUSTER, [{ name: BLACKHOLE_CLUSTER, weight: 1 }]);
}

/** The cluster `inbound|PORT||`, its route configuration (HTTP) and the port's filter chains. */
function addPortChains(input: CaptureInput, chains: ChainSet, cc: InboundChainConfig, bindName: string): void {
  const name = `inbound|${cc.port}||`;
  input.clusters.push(inboundCluster(input, cc, name));
  let http: HttpConnectionManager | undefined;
  if (cc.kind !== 'tcp') {
    input.routeConfigs.push({
      name,
      virtualHosts: [{
        name: `inbound|http|${cc.port}`,
        domains: ['*'],
        routes: [{ name: 'default', match: { path: { prefix: '/' }, headers: [], queryParams: [] }, action: { kind: 'route', clusters: [{ name, weight: 100 }] } }],
      }],
    });
    http = input.httpConnectionManager(name, 'INBOUND', `inbound_${bindName}`);
  }
  const tcp = tcpProxy(name, [{ name, weight: 1 }]);
  const mode = input.mtlsMode(cc.port);
  if (cc.tls && mode === 'DISABLE') return addSidecarTlsChains(chains, bindName, cc, http, tcp);
  if (cc.tls) {
    input.warnings.push(`inbound port ${cc.port}: the Sidecar's ingress tls is not used: PeerAuthentication mode ${mode} applies (Istio terminates the Sidecar's own TLS only where mTLS is DISABLE)`);
  }
  addInboundChains(chains, bindName, cc.port, mode, input.mtls, cc.kind, http, tcp, input.node.trustDomain);
}

/** What Envoy's tls_inspector reports for HTTP over TLS. */
const TLS_HTTP_ALPN = ['h2', 'http/1.1'];

/** Sidecar ingress tls: only TLS is accepted, terminated with the Sidecar's certificates (Istio's getTLSFilterChainMatchOptions). */
function addSidecarTlsChains(chains: ChainSet, name: string, cc: InboundChainConfig, http: HttpConnectionManager | undefined, tcp: TcpProxy): void {
  const at = { destinationPort: cc.port, transportProtocol: 'tls' as const };
  if (cc.kind === 'auto') chains.add({ name: `${name}_tls_http`, match: { ...at, applicationProtocols: TLS_HTTP_ALPN }, transportSocket: cc.tls, filters: [httpConnectionManagerFilter(http!)] });
  chains.add({ name: `${name}_tls`, match: at, transportSocket: cc.tls, filters: [cc.kind === 'http' ? httpConnectionManagerFilter(http!) : tcpProxyFilter(tcp)] });
}

/**
 * The inbound chains of one port (or, port undefined, of the ports no service declares) under a
 * PeerAuthentication mode, as Istio builds them:
 * - DISABLE, or PERMISSIVE without a workload certificate: plaintext only (HTTP or TCP; `auto`
 *   picks by the first bytes).
 * - PERMISSIVE: plaintext as above, plus mTLS for clients offering Istio's ALPN (istio-http/* →
 *   HTTP, istio → TCP); other TLS passes through as bytes.
 * - STRICT: mTLS only; any TLS is terminated (a client without a mesh certificate fails the
 *   handshake) and plaintext is closed (BlackHoleCluster).
 */
function addInboundChains(
  chains: ChainSet,
  name: string,
  port: number | undefined,
  mode: MtlsMode,
  haveCert: boolean,
  kind: 'http' | 'tcp' | 'auto',
  http: HttpConnectionManager | undefined,
  tcp: TcpProxy,
  trustDomain: string,
): void {
  const at = port === undefined ? {} : { destinationPort: port };
  const filter = { filters: [kind === 'http' ? httpConnectionManagerFilter(http!) : tcpProxyFilter(tcp)] };
  // istiod's inbound mTLS: HTTP chains offer h2/http/1.1, TCP chains metadata exchange too
  const mtlsHttp = meshDownstreamTls(trustDomain, MESH_DOWNSTREAM_ALPN_HTTP);
  const mtls = kind === 'http' ? mtlsHttp : meshDownstreamTls(trustDomain, MESH_DOWNSTREAM_ALPN_TCP);
  const plaintext = () => {
    if (kind === 'auto') chains.add({ name: `${name}_http`, match: { ...at, applicationProtocols: HTTP_PROTOCOLS }, filters: [httpConnectionManagerFilter(http!)] });
    chains.add({ name, match: { ...at }, ...filter });
  };
  if (mode === 'DISABLE' || (mode === 'PERMISSIVE' && !haveCert)) {
    if (port !== undefined) plaintext();
    return;
  }
  if (kind === 'auto') chains.add({ name: `${name}_mtls_http`, match: { ...at, transportProtocol: 'tls', applicationProtocols: ISTIO_ALPN_HTTP }, transportSocket: mtlsHttp, filters: [httpConnectionManagerFilter(http!)] });
  if (mode === 'STRICT') {
    chains.add({ name: `${name}_mtls`, match: { ...at, transportProtocol: 'tls' }, transportSocket: mtls, ...filter });
    if (port !== undefined) chains.add({ name: `${name}_plaintext_refused`, match: { ...at }, filters: [tcpProxyFilter(blackHole())] });
    return;
  }
  chains.add({ name: `${name}_mtls`, match: { ...at, transportProtocol: 'tls', applicationProtocols: kind === 'auto' ? ['istio', 'istio-peer-exchange'] : ISTIO_ALPN_ALL }, transportSocket: mtls, ...filter });
  if (port === undefined) return; // the default chain passes the rest through
  // TLS from outside the mesh (no Istio ALPN) is the app's own: bytes through (HTTP ports: the codec refuses it)
  chains.add({ name: `${name}_tls_passthrough`, match: { ...at, transportProtocol: 'tls' }, ...filter });
  plaintext();
}

/** The chain kind of a port kind on the inbound side: TLS the app terminates itself is bytes to the proxy. */
function inboundKind(kind: PortKind): InboundChainConfig['kind'] {
  return kind === 'http' || kind === 'auto' ? kind : 'tcp';
}

/** HTTPS / TLS once the Sidecar's own TLS is terminated (Istio's Protocol.AfterTLSTermination). */
function afterTlsTermination(protocol: string): string {
  return protocol === 'HTTPS' ? 'HTTP' : protocol === 'TLS' ? 'TCP' : protocol;
}

/**
 * The inbound ports, one per port number (the first declaration wins, as in Istio). A Sidecar with
 * ingress listeners defines them (the services' ports no longer apply); otherwise the ports of the
 * services this workload is an endpoint of.
 */
function inboundChainConfigs(input: CaptureInput): InboundChainConfig[] {
  const out = new Map<number, InboundChainConfig>();
  const served = servedPorts(input);
  const sc = input.sidecar;
  if (sc?.ingress.length) {
    for (const [i, ing] of sc.ingress.entries()) {
      const where = `Sidecar ${sc.meta.namespace}/${sc.meta.name}: ingress[${i}] port ${ing.port.number}`;
      const bound = ing.captureMode === 'NONE' || !!ing.bind;
      if (portKind(ing.port.protocol) === 'udp') {
        input.warnings.push(`${where}: protocol UDP skipped (not proxied)${bound ? '' : '; the port passes through'}`);
        continue;
      }
      if (out.has(ing.port.number)) continue;
      if (ing.tls?.unsupported) {
        // never served without the TLS it asks for (Istio: the chain waits for its SDS secret)
        input.warnings.push(`${where}: tls ${ing.tls.unsupported}; ${bound ? 'listener skipped' : 'connections to the port are refused'}`);
        if (!bound) out.set(ing.port.number, { port: ing.port.number, kind: 'tcp', protocol: ing.port.protocol, refused: true });
        continue;
      }
      if (ing.defaultEndpoint?.startsWith('unix://')) {
        input.warnings.push(`${where}: unix socket defaultEndpoint is not supported yet; ${bound ? 'listener skipped' : 'the port passes through'}`);
        continue;
      }
      const protocol = ing.tls ? afterTlsTermination(ing.port.protocol) : ing.port.protocol;
      // the service whose port this is, for telemetry (Istio's findOrCreateService); none: "unknown"
      const owner = served.find((s) => s.target === ing.port.number);
      out.set(ing.port.number, {
        port: ing.port.number,
        kind: inboundKind(portKind(protocol)),
        protocol,
        ...(owner ? { svc: owner.svc, servicePort: owner.port.number } : {}),
        // a bound listener has no original destination to go to: the app's port on loopback
        ...(ing.defaultEndpoint ? { endpoint: ing.defaultEndpoint } : bound ? { endpoint: `127.0.0.1:${ing.port.number}` } : {}),
        ...(bound ? { bind: ing.bind ?? captureAddress(input.node) } : {}),
        ...(ing.tls ? { tls: serverTlsContext(ing.tls, input.secrets) } : {}),
      });
    }
    return [...out.values()];
  }
  for (const { svc, port: p, target } of served) {
    const kind = portKind(p.protocol);
    if (kind === 'udp') continue;
    const seen = out.get(target);
    if (seen) {
      if (seen.kind !== inboundKind(kind)) input.warnings.push(`inbound port ${target}: ${svc.hostname} declares it ${p.protocol}, ${seen.svc?.hostname} another protocol; the first one applies`);
      continue;
    }
    out.set(target, { port: target, kind: inboundKind(kind), svc, servicePort: p.number, protocol: p.protocol });
  }
  return [...out.values()];
}

/** A port of a service this workload is an endpoint of, and the port the workload listens on for it. */
interface ServedPort {
  svc: Service;
  port: ServicePortSpec;
  target: number;
}

/** The ports of the services this workload is an endpoint of (its IP, or a workloadSelector matching its labels). */
function servedPorts(input: CaptureInput): ServedPort[] {
  const out: ServedPort[] = [];
  for (const svc of input.services.values()) {
    const mine = svc.endpoints.filter((w) => w.address === input.node.ip);
    const selected = !!svc.selector && svc.namespace === input.node.namespace && labelsMatch(svc.selector, input.node.labels);
    if (!mine.length && !selected) continue;
    for (const port of svc.ports) out.push({ svc, port, target: workloadPort(mine.find((w) => w.ports[port.name]), port) });
  }
  return out;
}

function inboundCluster(input: CaptureInput, cc: InboundChainConfig, name: string): Cluster {
  const common = {
    name,
    connectTimeoutMs: input.mesh.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    idleTimeoutMs: DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS,
    ...(cc.svc ? { service: { host: cc.svc.hostname, namespace: cc.svc.namespace, port: cc.servicePort! } } : {}),
    ...http2Of(cc.protocol, {}),
  };
  if (!cc.endpoint) {
    // the workload is where the client was going: the original destination, reached from 127.0.0.6
    return { ...common, type: 'ORIGINAL_DST', lbPolicy: 'CLUSTER_PROVIDED', upstreamBindAddresses: INBOUND_BIND_ADDRESSES };
  }
  const i = cc.endpoint.lastIndexOf(':');
  const host = cc.endpoint.slice(0, i).replace(/^\[|\]$/g, '');
  // 0.0.0.0 means "the instance IP" (Istio's Sidecar docs)
  input.endpoints.push(loadAssignment(name, [staticHost(host === '0.0.0.0' || host === '::' ? input.node.ip : host, Number(cc.endpoint.slice(i + 1)))]));
  return {
    ...common,
    type: 'STATIC',
    lbPolicy: 'ROUND_ROBIN',
    // a pod's own address is captured again unless the connection comes from 127.0.0.6 (Istio's iptables exemption)
    ...(host === '127.0.0.1' || host === '::1' ? {} : { upstreamBindAddresses: INBOUND_BIND_ADDRESSES }),
  };
}
