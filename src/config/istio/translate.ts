import { isIPv6Address } from '../../common/address.js';
import { istioStatsMatcher } from './stats-matcher.js';
import { istioTracing } from './translate-tracing.js';
import { istioAccessLogs } from './translate-access-log.js';
import { istioMetrics } from './translate-metrics.js';
import { applyEnvoyFilters } from './translate-envoy-filter.js';
import { applyLocalRateLimits } from './translate-local-rate-limit.js';
import type { Cluster, ClusterLoadAssignment, FilterChain, HttpConnectionManager, Listener, NodeIdentity, Route, RouteConfiguration, Secret, Snapshot, TrafficDirection, VirtualHost, HttpTimeoutOverrides } from '../snapshot.js';
import { filterChainsOf, httpConnectionManagerFilter, httpConnectionManagerOf, tcpProxyFilter, tcpProxyOf } from '../envoy/network-filters.js';
import { hostMatches, labelsMatch, namespaceAdmits, parseNamespacedHost } from './hosts.js';
import { buildServices, DestinationRuleIndex, ROOT_NAMESPACE, VirtualServiceIndex, type Service } from './registry.js';
import type { IstioConfig, MeshSettings, SidecarSpec, VirtualServiceSpec } from './resources.js';
import { portKind, servesHttp } from './protocol.js';
import { buildOutboundClusters, clusterName } from './translate-clusters.js';
import { SecretSet } from './upstream-tls.js';
import { BLACKHOLE_CLUSTER, buildOutboundCapture, captureClusters, TCP_IDLE_TIMEOUT_MS, type CaptureInput } from './translate-capture.js';
import { buildInboundListeners } from './translate-inbound.js';
import { buildHttpAuthzFilters, buildTcpAuthzFilters, policiesForWorkload } from './authz-builder.js';
import { CORS_FILTER, FAULT_FILTER, insertHttpFilters, JWT_AUTHN_FILTER } from '../envoy/http-filters.js';
import { selectPeerAuthentication } from './select-peer-authentication.js';
import { jwtRulesForWorkload } from './select-request-authentication.js';
import { jwtAuthentication } from './translate-request-authentication.js';
import { gatewayTopologyFields } from './proxy-config.js';
import { buildVirtualServiceRoutes, defaultRoute, type RouteContext } from './translate-routes.js';
import { buildGateway } from './translate-gateway.js';
import { buildSnapshot } from '../snapshot-build.js';

export interface TranslateOptions {
  /** Port of the outbound capture listener (15001). Connections made to it directly get an HTTP proxy routing by Host. */
  outboundPort: number;
  /** Port of the inbound capture listener (15006). */
  inboundPort?: number;
  /** This proxy has a workload certificate: inbound mTLS (PeerAuthentication PERMISSIVE/STRICT) can be terminated. */
  mtls?: boolean;
  /** SDS secrets the caller holds (the workload certificate: `default`, `ROOTCA`), carried in the Snapshot. */
  secrets?: readonly Secret[];
  /** --stream-idle-timeout and the like: set on every HTTP connection manager. */
  httpTimeouts?: HttpTimeoutOverrides;
  /** The Snapshot this source built before: what is unchanged keeps its versions (buildSnapshot). */
  previous?: Snapshot;
  /** pilot-agent's EXIT_ON_ZERO_ACTIVE_CONNECTIONS: the downstream_cx_active stats are kept (config/istio/stats-matcher.ts). */
  exitOnZeroActiveConnections?: boolean;
  /**
   * --access-log: text or json sets meshConfig's accessLogFile to /dev/stdout in that encoding,
   * off clears it; absent: meshConfig decides. Telemetry access logging, where set, still wins.
   */
  accessLog?: 'off' | 'text' | 'json';
}

/** A listener served by one HTTP connection manager (gateway servers, Sidecar listeners with a bind address). */
export function httpListener(name: string, address: string, port: number, direction: TrafficDirection, http: HttpConnectionManager): Listener {
  return { name, address, port, direction, filterChains: [{ name, match: {}, filters: [httpConnectionManagerFilter(http)] }] };
}

export interface Translation {
  snapshot: Snapshot;
  warnings: string[];
}

/** Translates validated Istio config into a Snapshot for this proxy, the way istiod would for it. */
export function translateIstio(cfg: IstioConfig, node: NodeIdentity, opts: TranslateOptions): Translation {
  const warnings = [...cfg.warnings];
  const services = buildServices(cfg, node, warnings);
  const drs = new DestinationRuleIndex(cfg, node);
  const vss = new VirtualServiceIndex(cfg, node);
  const secretSet = new SecretSet();
  for (const secret of opts.secrets ?? []) secretSet.add(secret);
  const { clusters, endpoints } = buildOutboundClusters(services.values(), drs, node, { mtls: !!opts.mtls, secrets: secretSet }, cfg.mesh);
  const listeners: Listener[] = [];
  const routeConfigs: RouteConfiguration[] = [];
  const b = { node, services, vss, listeners, routeConfigs, clusters, endpoints, warnings, mesh: cfg.mesh, secrets: secretSet, serviceRoutes: new Map<string, Route[]>() };
  if (node.mode === 'sidecar') buildSidecar(b, cfg, opts);
  else {
    const topology = gatewayTopologyFields(cfg.mesh.defaultConfig);
    buildGateway({ ...b, mtls: !!opts.mtls, httpConnectionManager: (rc, statPrefix) => ({ ...httpConnectionManager(rc, 'GATEWAY', statPrefix, b.node), ...topology }) }, cfg.gateways);
  }
  addRouteFilters(listeners, routeConfigs);
  addAuthorization(listeners, cfg, node, warnings);
  addJwtAuthentication(listeners, cfg, node);
  const normalization = cfg.mesh.pathNormalization ?? 'BASE';
  for (const hcm of connectionManagers(listeners, false)) {
    hcm.pathNormalization = normalization;
    if (opts.httpTimeouts) Object.assign(hcm, opts.httpTimeouts);
  }
  addHashPolicies(routeConfigs, clusters);
  // tracing: client spec on outbound and gateway connection managers, server spec on inbound ones
  const tracing = istioTracing(cfg, node, services, warnings);
  for (const l of listeners) {
    const t = l.direction === 'INBOUND' ? tracing.server : tracing.client;
    if (!t) continue;
    for (const c of filterChainsOf(l)) {
      const hcm = httpConnectionManagerOf(c);
      if (hcm) hcm.tracing = t;
    }
  }
  clusters.push(...tracing.clusters);
  endpoints.push(...tracing.endpoints);
  // access logs: client loggers on outbound and gateway listeners, server loggers on inbound ones
  // and Istio's metrics as the Telemetry API's overrides say (absent: all, standard labels)
  const logs = istioAccessLogs(cfg, node, meshWithAccessLogFlag(cfg.mesh, opts.accessLog), services, warnings);
  const metrics = istioMetrics(cfg, node, cfg.mesh, warnings);
  for (const l of listeners) {
    const server = l.direction === 'INBOUND';
    const accessLog = server ? logs.server : logs.client;
    const istioStats = server ? metrics.server : metrics.client;
    if (!accessLog.length && !istioStats) continue;
    for (const c of filterChainsOf(l)) {
      for (const f of [httpConnectionManagerOf(c), tcpProxyOf(c)]) {
        if (!f) continue;
        if (accessLog.length) f.accessLog = accessLog;
        if (istioStats) f.istioStats = istioStats;
      }
    }
  }
  // local rate limits (Outrigger's resource), then EnvoyFilter patches last, on what istiod would have built
  applyLocalRateLimits(cfg, node, listeners, routeConfigs);
  applyEnvoyFilters(cfg, node, listeners, routeConfigs);
  const secrets = secretSet.list;
  const statsMatcher = istioStatsMatcher(cfg.mesh.defaultConfig?.proxyStatsMatcher, node.annotations, [node.ip], opts.exitOnZeroActiveConnections);
  return { snapshot: buildSnapshot({ node, listeners, routeConfigs, clusters, endpoints, secrets, statsMatcher }, opts.previous), warnings };
}

/** The mesh's legacy access-log file as the --access-log flag sets it. */
function meshWithAccessLogFlag(mesh: MeshSettings, flag: TranslateOptions['accessLog']): MeshSettings {
  if (!flag) return mesh;
  const { accessLogFile: _file, accessLogFormat: format, ...rest } = mesh;
  if (flag === 'off') return { ...rest, ...(format ? { accessLogFormat: format } : {}) };
  const encoding = flag === 'json' ? 'JSON' : 'TEXT';
  // meshConfig's format is kept when it is in the encoding the flag asks for
  const keep = format && encoding === (mesh.accessLogEncoding ?? 'TEXT');
  return { ...rest, accessLogFile: '/dev/stdout', accessLogEncoding: encoding, ...(keep ? { accessLogFormat: format } : {}) };
}

/**
 * Envoy keeps hash_policy on the route: a route whose destinations all hash the same way (their
 * DestinationRules' consistentHash) gets that policy.
 */
function addHashPolicies(routeConfigs: RouteConfiguration[], clusters: Cluster[]): void {
  const policies = new Map<string, NonNullable<Cluster['hashPolicy']>>();
  for (const c of clusters) if (c.hashPolicy) policies.set(c.name, c.hashPolicy);
  if (policies.size === 0) return; // no DestinationRule hashes (most meshes): nothing to look at
  for (const rc of routeConfigs) {
    for (const vh of rc.virtualHosts) {
      for (const r of vh.routes) {
        if (r.action.kind !== 'route') continue;
        const first = policies.get(r.action.clusters[0]?.name ?? '');
        if (first && r.action.clusters.every((wc) => JSON.stringify(policies.get(wc.name)) === JSON.stringify(first))) r.action.hashPolicy = first;
      }
    }
  }
}

/**
 * AuthorizationPolicy: the policies that select this workload (root namespace, then its own),
 * built into Envoy RBAC as istiod does, on every HTTP connection manager that receives traffic
 * (inbound, gateway) ahead of the other filters, and as network RBAC on inbound TCP chains.
 */
function addAuthorization(listeners: Listener[], cfg: IstioConfig, node: NodeIdentity, warnings: string[]): void {
  const policies = policiesForWorkload(cfg.authorizationPolicies, { namespace: node.namespace, labels: node.labels }, ROOT_NAMESPACE);
  if (policies.length === 0) return;
  const providers = cfg.mesh.extensionProviders ?? [];
  const opts = { trustDomain: node.trustDomain, warnings, extensionProviders: Object.fromEntries(providers.map((p) => [p.name, p])) };
  // CUSTOM policies become ext_authz filters calling their provider through its service's outbound cluster
  const http = buildHttpAuthzFilters(policies, opts);
  const tcp = buildTcpAuthzFilters(policies, opts);
  const httpFilters = http.map((f) => ({ name: f.name, config: f.typedConfig }));
  if (httpFilters.length) for (const hcm of connectionManagers(listeners, true)) insertHttpFilters(hcm.httpFilters, httpFilters);
  if (tcp.length === 0) return;
  for (const l of listeners) {
    if (l.direction === 'OUTBOUND') continue;
    for (const c of filterChainsOf(l)) {
      const proxy = tcpProxyOf(c);
      if (!proxy || proxy.clusters.some((x) => x.name === BLACKHOLE_CLUSTER)) continue;
      if (forwardsMeshMtls(l, c)) continue;
      c.filters = [...tcp, ...c.filters]; // ahead of the TCP proxy
    }
  }
}

/**
 * A gateway chain that forwards Istio mTLS untouched (AUTO_PASSTHROUGH, matched on Istio's ALPN
 * without terminating): it sees no identity, and istiod gives it no authorization filters.
 */
function forwardsMeshMtls(l: Listener, c: FilterChain): boolean {
  return l.direction === 'GATEWAY' && !c.transportSocket && !!c.match.applicationProtocols?.includes('istio');
}

/** A listener's filter chains, its default one included. */

/**
 * Every distinct HTTP connection manager of the listeners (chains of one listener may share one);
 * `receiving`: only those that take traffic in (inbound, gateway), where authn/authz apply.
 */
function connectionManagers(listeners: readonly Listener[], receiving: boolean): Set<HttpConnectionManager> {
  const out = new Set<HttpConnectionManager>();
  for (const l of listeners) {
    if (receiving && l.direction === 'OUTBOUND') continue;
    for (const c of filterChainsOf(l)) {
      const hcm = httpConnectionManagerOf(c);
      if (hcm) out.add(hcm);
    }
  }
  return out;
}

/**
 * RequestAuthentication: the JWT rules that apply to this workload (its namespace and the root
 * namespace), verified ahead of authorization on every HTTP connection manager receiving traffic.
 */
function addJwtAuthentication(listeners: Listener[], cfg: IstioConfig, node: NodeIdentity): void {
  const config = jwtAuthentication(jwtRulesForWorkload(cfg.requestAuthentications, { namespace: node.namespace, labels: node.labels }, ROOT_NAMESPACE));
  if (!config) return;
  for (const hcm of connectionManagers(listeners, true)) insertHttpFilters(hcm.httpFilters, [{ name: JWT_AUTHN_FILTER, config }]);
}

/** Istio puts the fault filter on every HCM; here only where a route needs it (no cost elsewhere). */
/**
 * The fault and CORS filters, where istiod puts them, on the connection managers whose routes
 * configure them (a route's per-filter config does nothing without the filter in the chain).
 */
function addRouteFilters(listeners: Listener[], routeConfigs: RouteConfiguration[]): void {
  for (const name of [FAULT_FILTER, CORS_FILTER]) {
    const using = new Set(routeConfigs.filter((rc) => rc.virtualHosts.some((vh) => vh.routes.some((r) => r.typedPerFilterConfig?.[name]))).map((rc) => rc.name));
    for (const hcm of connectionManagers(listeners, false)) if (using.has(hcm.routeConfigName)) insertHttpFilters(hcm.httpFilters, [{ name, config: {} }]);
  }
}

interface Builder {
  node: NodeIdentity;
  services: Map<string, Service>;
  vss: VirtualServiceIndex;
  listeners: Listener[];
  routeConfigs: RouteConfiguration[];
  clusters: Cluster[];
  endpoints: ClusterLoadAssignment[];
  warnings: string[];
  mesh: MeshSettings;
  secrets: SecretSet;
  /** Each service port's outbound routes (`host:port`), shared by the route configurations that serve it. */
  serviceRoutes: Map<string, Route[]>;
}

export function httpConnectionManager(routeConfigName: string, direction: TrafficDirection, statPrefix: string, node: NodeIdentity): HttpConnectionManager {
  const edge = direction === 'GATEWAY';
  return {
    statPrefix,
    routeConfigName,
    useRemoteAddress: edge,
    stripEnvoyHeaders: edge,
    maxRequestHeadersKb: 60,
    idleTimeoutMs: 3_600_000,
    streamIdleTimeoutMs: 0, // istiod turns Envoy's stream idle timeout off on every connection manager
    acceptHttp10: node.acceptHttp10,
    httpFilters: [],
    // Istio: sidecars sanitize what the app sends and append the peer on the way in; gateways set it
    forwardClientCertDetails: direction === 'INBOUND' ? 'APPEND_FORWARD' : edge ? 'SANITIZE_SET' : 'SANITIZE',
    upgradeTypes: ['websocket'],
  };
}

// ---------------------------------------------------------------- sidecar

/** The Sidecar resource that applies: workload selector in the proxy's namespace, then namespace default, then root. */
export function selectSidecar(sidecars: readonly SidecarSpec[], node: NodeIdentity): SidecarSpec | undefined {
  const inNs = sidecars.filter((s) => s.meta.namespace === node.namespace).sort((a, b) => a.meta.order - b.meta.order);
  return (
    inNs.find((s) => s.workloadSelector && labelsMatch(s.workloadSelector, node.labels)) ??
    inNs.find((s) => !s.workloadSelector) ??
    sidecars.find((s) => s.meta.namespace === ROOT_NAMESPACE && !s.workloadSelector)
  );
}

function buildSidecar(b: Builder, cfg: IstioConfig, opts: TranslateOptions): void {
  const sidecar = selectSidecar(cfg.sidecars, b.node);
  const catchAll = sidecar?.egress.find((e) => !e.port);
  const admitsAll = (_svc: Service) => true;
  const admits = (hosts: string[] | undefined) =>
    hosts ? (svc: Service) => hosts.some((h) => egressHostAdmits(h, sidecar!.meta.namespace, svc.namespace, svc.hostname)) : admitsAll;
  const admitsVsHost = (hosts: string[] | undefined, vs: VirtualServiceSpec, host: string) =>
    !hosts || hosts.some((h) => egressHostAdmits(h, sidecar!.meta.namespace, vs.meta.namespace, host));

  // 15001 reached directly: an HTTP proxy over every visible HTTP service port, matched by Host
  // (with the port, or bare for port 80)
  const outboundName = 'http_proxy';
  // an egress listener for one port (reached through capture) decides what that port can reach
  const captured = new Map((sidecar?.egress ?? []).filter((e) => e.port && e.captureMode !== 'NONE' && !e.bind).map((e) => [e.port!.number, e.hosts]));
  // a Sidecar with egress listeners but no catch-all exposes only the ports it lists
  const none = sidecar && sidecar.egress.length ? [] : undefined;
  const hostsForPort = (port: number) => captured.get(port) ?? catchAll?.hosts ?? none;
  const admitsOnPort = (svc: Service, port: number) => admits(hostsForPort(port))(svc);
  b.routeConfigs.push({
    name: outboundName,
    virtualHosts: sidecarVirtualHosts(b, undefined, admitsOnPort, (vs, h, port) => admitsVsHost(hostsForPort(port), vs, h)),
  });
  const direct: FilterChain = {
    name: 'virtualOutbound-http-proxy',
    match: { destinationPort: opts.outboundPort },
    filters: [httpConnectionManagerFilter(httpConnectionManager(outboundName, 'OUTBOUND', 'outbound_0.0.0.0_' + opts.outboundPort, b.node))],
  };
  const capture: CaptureInput = {
    mtlsMode: (port) => selectPeerAuthentication(cfg.peerAuthentications, { namespace: b.node.namespace, labels: b.node.labels }, ROOT_NAMESPACE, port),
    mtls: !!opts.mtls,
    secrets: b.secrets,
    node: b.node,
    services: b.services,
    vss: b.vss,
    mesh: b.mesh,
    outboundPolicy: sidecar?.outboundTrafficPolicy ?? b.mesh.outboundTrafficPolicy,
    sidecar,
    admits: admitsOnPort,
    httpVirtualHosts: (port) => sidecarVirtualHosts(b, port, admitsOnPort, (vs, h, p) => admitsVsHost(hostsForPort(p), vs, h)),
    httpConnectionManager: (rc, direction, statPrefix) => httpConnectionManager(rc, direction, statPrefix, b.node),
    clusters: b.clusters,
    endpoints: b.endpoints,
    routeConfigs: b.routeConfigs,
    warnings: b.warnings,
  };
  b.clusters.push(...captureClusters(b.mesh));
  b.listeners.push(buildOutboundCapture(capture, opts.outboundPort, direct));
  // every inbound port, captured on 15006 or bound by a Sidecar ingress listener, from one builder
  b.listeners.push(...buildInboundListeners(capture, opts.inboundPort ?? 15006));

  for (const [i, eg] of (sidecar?.egress ?? []).entries()) {
    if (!eg.port) continue;
    const where = `Sidecar ${sidecar!.meta.namespace}/${sidecar!.meta.name}: egress[${i}] port ${eg.port.number}`;
    // Without captureMode NONE or a bind address the listener is reached through traffic capture
    // (15001), which is where its hosts already restrict what the port can reach.
    if (eg.captureMode !== 'NONE' && !eg.bind) continue;
    const port = eg.port.number;
    const bind = eg.bind ?? '127.0.0.1';
    const name = `${bind}_${port}`;
    const kind = portKind(eg.port.protocol);
    if (kind === 'http') {
      b.routeConfigs.push({ name, virtualHosts: sidecarVirtualHosts(b, port, admits(eg.hosts), (vs, h) => admitsVsHost(eg.hosts, vs, h)) });
      b.listeners.push(httpListener(name, bind, port, 'OUTBOUND', httpConnectionManager(name, 'OUTBOUND', `outbound_${name}`, b.node)));
      continue;
    }
    if (kind !== 'tcp' && kind !== 'tls') {
      b.warnings.push(`${where}: protocol ${eg.port.protocol} skipped (a bound egress listener is HTTP, TCP or TLS)`);
      continue;
    }
    // a bound TCP listener has no destination address to route on: it serves the one service it admits on this port
    const targets = [...b.services.values()].filter((svc) => admits(eg.hosts)(svc) && svc.ports.some((p) => p.number === port));
    if (targets.length === 0) {
      b.warnings.push(`${where}: no service admitted by hosts ${JSON.stringify(eg.hosts)} has port ${port}; listener skipped`);
      continue;
    }
    if (targets.length > 1) b.warnings.push(`${where}: ${targets.length} services match; TCP traffic goes to ${targets[0].hostname}`);
    const cluster = clusterName('outbound', port, undefined, targets[0].hostname);
    b.listeners.push({
      name, address: bind, port, direction: 'OUTBOUND',
      filterChains: [{ name, match: {}, filters: [tcpProxyFilter({ statPrefix: cluster, clusters: [{ name: cluster, weight: 1 }], idleTimeoutMs: TCP_IDLE_TIMEOUT_MS })] }],
    });
  }
}

/** `ns/host` of a Sidecar egress listener: does it admit this service? */
function egressHostAdmits(rule: string, sidecarNs: string, serviceNs: string, hostname: string): boolean {
  const nh = parseNamespacedHost(rule, sidecarNs);
  if (nh.namespace === '~' || !namespaceAdmits(nh.namespace, serviceNs)) return false;
  return hostMatches(nh.host, hostname);
}

/**
 * Virtual hosts for sidecar outbound HTTP. `port` set: one listener port (explicit egress listener).
 * `port` undefined: all ports (the 15001 listener), domains carry the port (bare only for 80).
 */
function sidecarVirtualHosts(
  b: Builder,
  port: number | undefined,
  admitService: (svc: Service, port: number) => boolean,
  admitVsHost: (vs: VirtualServiceSpec, host: string, port: number) => boolean,
): VirtualHost[] {
  const vhosts: VirtualHost[] = [];
  const forMesh = (vs: VirtualServiceSpec) => vs.gateways.length === 0 || vs.gateways.includes('mesh');
  const meshVs = b.vss.visible.filter(({ vs }) => forMesh(vs));
  const covered = new Set<string>(); // VirtualService hosts that matched a service
  const gateways = new Set(['mesh']);
  for (const svc of b.services.values()) {
    for (const p of svc.ports) {
      if (!servesHttp(p.protocol) || (port !== undefined && p.number !== port)) continue;
      if (!admitService(svc, p.number)) continue;
      const { vs, named } = b.vss.lookup(svc.hostname, forMesh);
      if (named) covered.add(svc.hostname);
      // a service port's routes are the same on 15001 and on its port's route configuration: built once,
      // one object in both (a worker compiles them once too)
      const key = `${svc.hostname}:${p.number}`;
      let routes = b.serviceRoutes.get(key);
      if (!routes) {
        const ctx: RouteContext = { node: b.node, port: p.number, gateways, services: b.services };
        b.serviceRoutes.set(key, (routes = vs ? buildVirtualServiceRoutes(vs, ctx) : [defaultRoute(svc, p.number)]));
      }
      vhosts.push({ name: key, domains: serviceDomains(svc, p.number, b.node, port === undefined), routes });
    }
  }
  // VirtualService hosts that name no service still get a virtual host (Istio routes them by Host)
  for (const { vs, hosts } of meshVs) {
    for (const h of hosts) {
      const vport = port ?? 80;
      if (covered.has(h) || b.services.has(h) || !admitVsHost(vs, h, vport)) continue;
      covered.add(h);
      const ctx: RouteContext = { node: b.node, port: vport, gateways, services: b.services };
      vhosts.push({ name: `${h}:${vport}`, domains: h === '*' ? ['*'] : [h, `${h}:${vport}`], routes: buildVirtualServiceRoutes(vs, ctx) });
    }
  }
  return vhosts;
}

/** Every name a client in the mesh may use for a service: FQDN, short forms, VIPs; with and without port. */
export function serviceDomains(svc: Service, port: number, node: NodeIdentity, bareOnlyFor80: boolean): string[] {
  const names: string[] = [];
  const k8sSuffix = `.svc.${node.domainSuffix}`;
  // Kubernetes ExternalName aliases of the service answer on its virtual host too
  for (const host of [svc.hostname, ...(svc.aliases ?? [])]) {
    names.push(host);
    if (!host.endsWith(k8sSuffix)) continue;
    const [name, ns] = host.slice(0, -k8sSuffix.length).split('.');
    names.push(`${name}.${ns}.svc`, `${name}.${ns}`);
    if (ns === node.namespace) names.push(name);
  }
  // a headless Kubernetes Service's Pods answer as <pod>.<service> (StatefulSet names): istiod adds `*.` domains
  if (svc.podSubdomains) names.push(...names.map((n) => `*.${n}`));
  // an IPv6 VIP appears in Host headers in brackets: [2001:db8::10], [2001:db8::10]:80
  for (const a of svc.addresses) if (!a.includes('/')) names.push(isIPv6Address(a) ? `[${a}]` : a);
  const out: string[] = [];
  for (const n of names) {
    if (!bareOnlyFor80 || port === 80) out.push(n);
    out.push(`${n}:${port}`);
  }
  return out;
}

