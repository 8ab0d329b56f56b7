/**
 * envoy.config.listener.v3.Listener in the plain form → the Snapshot's Listener, the route
 * configurations its connection managers carry inline, and the ones they need over RDS. Fields
 * are checked against a policy per message type (fields.ts): what is read, what is harmless and
 * warned about, and everything else refused (fail closed).
 */
import type { FilterChain, FilterChainMatch, Listener, ListenerInspectors, PortRange, RouteConfiguration, TcpProxy, TrafficDirection } from '../../snapshot.js';
import { httpConnectionManagerFilter, tcpProxyFilter, type NetworkFilterConfig } from '../network-filters.js';
import { NETWORK_EXT_AUTHZ_FILTER, NETWORK_RBAC_FILTER } from '../rbac.js';
import { durationMs, wrapped } from '../proto/values.js';
import { decodeAccessLogs } from './access-log.js';
import { fieldPath, resourceError, type DecodeContext, type ResourceRef } from './context.js';
import { decodeNetworkExtAuthz } from './ext-authz.js';
import { checkFields, type FieldPolicy } from './fields.js';
import { decodeHttpConnectionManager } from './http-connection-manager.js';
import { decodeRbacFilter } from './rbac.js';
import { decodeDownstreamTransportSocket } from './tls-context.js';
import { isIstioTelemetryFilter, typedConfigOf } from './typed-config.js';

type Msg = Record<string, any>;

export interface DecodedListener {
  listener: Listener;
  /** The route_config its connection managers carry inline, each named uniquely (`<name>@<listener>/<chain>`). */
  routeConfigs: RouteConfiguration[];
  /** The RouteConfigurations its connection managers need over RDS (no duplicates). */
  rdsNames: string[];
}

/** Envoy's listener_filters_timeout when unset. */
const DEFAULT_LISTENER_FILTERS_TIMEOUT_MS = 15_000;
/** Envoy's tcp_proxy idle_timeout when unset. */
const DEFAULT_TCP_IDLE_TIMEOUT_MS = 3_600_000;
/** istiod's network filter that publishes the mTLS peer's principal in the filter state (RBAC's filter_state decodes to `authenticated`). */
const ISTIO_AUTHN_TYPE = 'io.istio.network.authn.Config';

const LISTENER: FieldPolicy = {
  type: 'envoy.config.listener.v3.Listener',
  reads: ['name', 'address', 'filter_chains', 'use_original_dst', 'default_filter_chain', 'listener_filters', 'listener_filters_timeout', 'continue_on_listener_filters_timeout', 'traffic_direction', 'bind_to_port'],
  ignored: {
    stat_prefix: 'listener stats are named by address',
    metadata: 'listener metadata is not used',
    per_connection_buffer_limit_bytes: 'Node streams keep their own buffers',
    drain_type: 'every listener drains alike',
    socket_options: 'socket options are not set',
    tcp_fast_open_queue_length: 'TCP Fast Open is not enabled',
    connection_balance_config: 'the kernel spreads connections (SO_REUSEPORT)',
    reuse_port: 'listeners always use SO_REUSEPORT',
    enable_reuse_port: 'listeners always use SO_REUSEPORT',
    access_log: 'Outrigger writes its own access log',
    tcp_backlog_size: 'the backlog is 1024',
    max_connections_to_accept_per_socket_event: 'Node accepts as the event loop allows',
    freebind: 'not set on the socket',
    ignore_global_conn_limit: 'every data-plane listener counts toward the global limit',
    bypass_overload_manager: 'the overload manager applies to every listener',
  },
  refused: {
    transparent: 'transparent (original source) listeners are not supported',
    internal_listener: 'internal listeners (HBONE, waypoints) are not supported',
    api_listener: 'API listeners are not supported',
    udp_listener_config: 'UDP listeners are not supported',
    additional_addresses: 'additional addresses are not supported',
    filter_chain_matcher: 'the filter chain matcher API is not supported (filter_chain_match is)',
  },
};

const FILTER_CHAIN: FieldPolicy = {
  type: 'envoy.config.listener.v3.FilterChain',
  reads: ['filter_chain_match', 'filters', 'transport_socket', 'name'],
  ignored: { metadata: 'filter chain metadata is not used', transport_socket_connect_timeout: 'the TLS handshake has its own bound' },
  refused: { use_proxy_proto: 'PROXY protocol would change the source address', on_demand_configuration: 'on-demand filter chains are not supported' },
};

const FILTER_CHAIN_MATCH: FieldPolicy = {
  type: 'envoy.config.listener.v3.FilterChainMatch',
  reads: ['destination_port', 'prefix_ranges', 'server_names', 'transport_protocol', 'application_protocols'],
  refused: {
    direct_source_prefix_ranges: 'source matching is not supported',
    source_type: 'source matching is not supported',
    source_prefix_ranges: 'source matching is not supported',
    source_ports: 'source matching is not supported',
    address_suffix: 'not supported',
    suffix_len: 'not supported',
  },
};

const TCP_PROXY: FieldPolicy = {
  type: 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  reads: ['stat_prefix', 'cluster', 'weighted_clusters', 'idle_timeout', 'access_log'],
  ignored: {
    access_log_flush_interval: 'an access log entry is written when the connection closes (no periodic or on-connect entries)',
    flush_access_log_on_connected: 'an access log entry is written when the connection closes (no periodic or on-connect entries)',
    access_log_options: 'an access log entry is written when the connection closes (no periodic or on-connect entries)',
    max_connect_attempts: 'one connect attempt',
    hash_policy: 'TCP connections are not hashed',
    downstream_idle_timeout: 'idle_timeout applies to both sides',
    upstream_idle_timeout: 'idle_timeout applies to both sides',
    max_downstream_connection_duration: 'TCP connections are not aged out (DestinationRule maxConnectionDuration)',
  },
  refused: { tunneling_config: 'tunneling (HBONE, CONNECT) is not supported', metadata_match: 'subset load balancing is not supported', on_demand: 'on-demand clusters are not supported' },
};

export function decodeListener(m: Msg, ctx: DecodeContext): DecodedListener {
  const ref: ResourceRef = { kind: 'Listener', name: (m.name as string | undefined) ?? '' };
  checkFields(m, LISTENER, ref, '', ctx);
  const { address, port } = socketAddress(m.address, ref);
  // Envoy names an unnamed (bootstrap) listener itself; Istio's way is address_port
  const name = (ref.name ||= `${address}_${port}`);
  const routeConfigs: RouteConfiguration[] = [];
  const rdsNames = new Set<string>();
  const listener: Listener = {
    name,
    address,
    port,
    direction: direction(m.traffic_direction, ctx),
    filterChains: [],
  };
  const useOriginalDst = wrapped<boolean>(m.use_original_dst, false);
  const listenerFilters = decodeListenerFilters((m.listener_filters ?? []) as Msg[], ref);
  // use_original_dst adds Envoy's original_dst listener filter and hands connections off
  if (useOriginalDst || listenerFilters.originalDst) listener.useOriginalDst = true;
  if (useOriginalDst) listener.handOffRestoredDestination = true;
  if (wrapped<boolean>(m.bind_to_port, true) === false) listener.bindToPort = false;
  listener.inspectors = listenerFilters.inspectors;
  if (listenerFilters.inspectors.tls || listenerFilters.inspectors.http) {
    listener.protocolDetectionTimeoutMs = m.listener_filters_timeout ? (durationMs(m.listener_filters_timeout) ?? 0) : DEFAULT_LISTENER_FILTERS_TIMEOUT_MS;
    if (!m.continue_on_listener_filters_timeout) listener.continueOnListenerFiltersTimeout = false;
  }
  const names = new Set<string>();
  const chain = (c: Msg, field: string, index: number | 'default'): FilterChain => {
    let chainName = (c.name as string | undefined) || (index === 'default' ? 'default' : `filter_chain_${index}`);
    // Envoy allows repeated chain names (istiod repeats them); the data plane finds a chain by name
    if (names.has(chainName)) chainName = `${chainName}~${index}`;
    names.add(chainName);
    return decodeFilterChain(c, chainName, ref, field, ctx, routeConfigs, rdsNames);
  };
  listener.filterChains = ((m.filter_chains ?? []) as Msg[]).map((c, i) => chain(c, fieldPath('filter_chains', i), i));
  if (m.default_filter_chain) listener.defaultFilterChain = chain(m.default_filter_chain, 'default_filter_chain', 'default');
  if (!listener.filterChains.length && !listener.defaultFilterChain) throw resourceError(ref, 'filter_chains', 'a listener needs a filter chain');
  return { listener, routeConfigs, rdsNames: [...rdsNames] };
}

function socketAddress(a: Msg | undefined, ref: ResourceRef): { address: string; port: number } {
  if (a?.address !== 'socket_address') throw resourceError(ref, 'address', `only socket_address listeners are supported${a?.address ? `, got ${a.address}` : ''}`);
  const s = a.socket_address as Msg;
  if (s.protocol && s.protocol !== 'TCP') throw resourceError(ref, 'address.socket_address.protocol', `${s.protocol} listeners are not supported`);
  if (s.port_specifier !== 'port_value') throw resourceError(ref, 'address.socket_address', 'a listener needs a port_value');
  if (s.resolver_name) throw resourceError(ref, 'address.socket_address.resolver_name', 'custom resolvers are not supported');
  return { address: s.address ?? '', port: s.port_value ?? 0 };
}

function direction(d: string | undefined, ctx: DecodeContext): TrafficDirection {
  // a gateway's listeners all face clients (istiod marks them OUTBOUND)
  if (ctx.node.mode === 'gateway') return 'GATEWAY';
  return d === 'INBOUND' ? 'INBOUND' : 'OUTBOUND';
}

/**
 * listener_filters: original_dst restores the destination; tls_inspector and http_inspector read
 * the first bytes (each off on the destination ports of its filter_disabled). Anything that would
 * change the source address (proxy_protocol, original_src) or that Outrigger does not run is refused.
 */
function decodeListenerFilters(list: Msg[], ref: ResourceRef): { originalDst: boolean; inspectors: ListenerInspectors } {
  const inspectors: ListenerInspectors = {};
  let originalDst = false;
  list.forEach((f, i) => {
    const at = fieldPath('listener_filters', i);
    if (f.config_type === 'config_discovery') throw resourceError(ref, fieldPath(at, 'config_discovery'), 'listener filters from ECDS are not supported');
    const type = typedConfigOf(f.typed_config, ref, fieldPath(at, 'typed_config'))?.typeName ?? f.name;
    const disabled = f.filter_disabled ? disabledPorts(f.filter_disabled, ref, fieldPath(at, 'filter_disabled')) : undefined;
    const scope = { ...(disabled?.length ? { disabledPorts: disabled } : {}) };
    switch (type) {
      case 'envoy.extensions.filters.listener.original_dst.v3.OriginalDst':
      case 'envoy.filters.listener.original_dst':
        if (disabled?.length) throw resourceError(ref, fieldPath(at, 'filter_disabled'), 'original_dst cannot be disabled by port');
        originalDst = true;
        return;
      case 'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector':
      case 'envoy.filters.listener.tls_inspector':
        inspectors.tls = scope;
        return;
      case 'envoy.extensions.filters.listener.http_inspector.v3.HttpInspector':
      case 'envoy.filters.listener.http_inspector':
        inspectors.http = scope;
        return;
      default:
        throw resourceError(ref, at, `listener filter ${f.name} (${type}) is not supported`);
    }
  });
  return { originalDst, inspectors };
}

/** A filter_disabled predicate as the destination port ranges it covers (istiod: one range or an or_match of ranges). */
function disabledPorts(p: Msg, ref: ResourceRef, field: string): PortRange[] {
  switch (p.rule) {
    case 'destination_port_range': {
      const r = p.destination_port_range as Msg;
      return [{ start: r.start ?? 0, end: r.end ?? 0 }];
    }
    case 'or_match':
      return ((p.or_match?.rules ?? []) as Msg[]).flatMap((r, i) => disabledPorts(r, ref, fieldPath(fieldPath(field, 'or_match.rules'), i)));
    default:
      throw resourceError(ref, fieldPath(field, p.rule ?? 'rule'), `a filter_disabled ${p.rule ?? '(empty)'} predicate is not supported (destination_port_range, or_match)`);
  }
}

function decodeFilterChain(c: Msg, name: string, ref: ResourceRef, field: string, ctx: DecodeContext, routeConfigs: RouteConfiguration[], rdsNames: Set<string>): FilterChain {
  checkFields(c, FILTER_CHAIN, ref, field, ctx);
  const chain: FilterChain = { name, match: decodeChainMatch(c.filter_chain_match ?? {}, ref, fieldPath(field, 'filter_chain_match'), ctx), filters: [] };
  if (c.transport_socket) {
    const ts = decodeDownstreamTransportSocket(c.transport_socket, ref, fieldPath(field, 'transport_socket'), ctx);
    if (ts) chain.transportSocket = ts;
  }
  const filters = (c.filters ?? []) as Msg[];
  filters.forEach((f, i) => {
    const at = fieldPath(fieldPath(field, 'filters'), i);
    const terminal = chain.filters.length && isTerminal(chain.filters[chain.filters.length - 1]);
    const decoded = decodeNetworkFilter(f, ref, at, ctx, `${ref.name}/${name}`, routeConfigs, rdsNames);
    if (!decoded) return;
    if (terminal) throw resourceError(ref, at, `no filter may follow the terminal ${chain.filters[chain.filters.length - 1].name}`);
    chain.filters.push(decoded);
  });
  if (!chain.filters.length || !isTerminal(chain.filters[chain.filters.length - 1])) throw resourceError(ref, fieldPath(field, 'filters'), 'a filter chain must end in tcp_proxy or http_connection_manager');
  return chain;
}

function isTerminal(f: NetworkFilterConfig): boolean {
  return f.name === 'envoy.filters.network.tcp_proxy' || f.name === 'envoy.filters.network.http_connection_manager';
}

function decodeChainMatch(m: Msg, ref: ResourceRef, field: string, ctx: DecodeContext): FilterChainMatch {
  checkFields(m, FILTER_CHAIN_MATCH, ref, field, ctx);
  const out: FilterChainMatch = {};
  if (m.destination_port) out.destinationPort = wrapped<number>(m.destination_port, 0);
  if (m.prefix_ranges?.length) {
    out.prefixRanges = (m.prefix_ranges as Msg[]).map((r, i) => {
      if (!r.address_prefix) throw resourceError(ref, fieldPath(fieldPath(field, 'prefix_ranges'), i), 'a prefix range needs an address_prefix');
      return `${r.address_prefix}/${r.prefix_len?.value ?? 0}`;
    });
  }
  if (m.server_names?.length) out.serverNames = (m.server_names as string[]).map((n) => n.toLowerCase());
  if (m.transport_protocol) {
    if (m.transport_protocol !== 'tls' && m.transport_protocol !== 'raw_buffer') throw resourceError(ref, fieldPath(field, 'transport_protocol'), `transport protocol ${m.transport_protocol} is not supported (tls, raw_buffer)`);
    out.transportProtocol = m.transport_protocol;
  }
  if (m.application_protocols?.length) out.applicationProtocols = m.application_protocols;
  return out;
}

/** One network filter: its Snapshot config, or undefined for Istio's filters that need nothing here. */
function decodeNetworkFilter(f: Msg, ref: ResourceRef, field: string, ctx: DecodeContext, chainPath: string, routeConfigs: RouteConfiguration[], rdsNames: Set<string>): NetworkFilterConfig | undefined {
  if (f.config_type === 'config_discovery') throw resourceError(ref, fieldPath(field, 'config_discovery'), 'filters from ECDS are not supported');
  const tc = typedConfigOf(f.typed_config, ref, fieldPath(field, 'typed_config'));
  const type = tc?.typeName ?? '';
  const message = tc?.message ?? {};
  const at = fieldPath(field, 'typed_config');
  switch (type) {
    case 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager': {
      const inlineName = `${(message as Msg).route_config?.name || 'inline'}@${chainPath}`;
      const d = decodeHttpConnectionManager(message, ctx, ref, at, inlineName);
      if (d.routeConfig) routeConfigs.push(d.routeConfig);
      if (d.rdsName !== undefined) rdsNames.add(d.rdsName);
      return httpConnectionManagerFilter(d.hcm);
    }
    case 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy':
      return tcpProxyFilter(decodeTcpProxy(message, ref, at, ctx));
    case 'envoy.extensions.filters.network.rbac.v3.RBAC':
      return { name: NETWORK_RBAC_FILTER, typedConfig: decodeRbacFilter(message, 'network', ctx, ref, at) };
    case 'envoy.extensions.filters.network.ext_authz.v3.ExtAuthz':
      return { name: NETWORK_EXT_AUTHZ_FILTER, typedConfig: decodeNetworkExtAuthz(message, ctx, ref, at) };
    case ISTIO_AUTHN_TYPE:
      return undefined; // the peer principal it publishes is what RBAC's `authenticated` reads from the TLS peer
    default:
      if (isIstioTelemetryFilter(tc)) return undefined;
  }
  throw resourceError(ref, at, `network filter ${f.name} (${type || 'no typed_config'}) is not supported`);
}

function decodeTcpProxy(m: Msg, ref: ResourceRef, field: string, ctx: DecodeContext): TcpProxy {
  checkFields(m, TCP_PROXY, ref, field, ctx);
  let clusters: TcpProxy['clusters'];
  if (m.cluster_specifier === 'cluster' && m.cluster) clusters = [{ name: m.cluster, weight: 1 }];
  else if (m.cluster_specifier === 'weighted_clusters') {
    clusters = ((m.weighted_clusters?.clusters ?? []) as Msg[]).map((c, i) => {
      const at = fieldPath(fieldPath(field, 'weighted_clusters.clusters'), i);
      if (!c.name) throw resourceError(ref, fieldPath(at, 'name'), 'a weighted cluster needs a name');
      if (c.metadata_match) throw resourceError(ref, fieldPath(at, 'metadata_match'), 'subset load balancing is not supported');
      return { name: c.name, weight: c.weight ?? 0 };
    });
    if (!clusters.some((c) => c.weight > 0)) throw resourceError(ref, fieldPath(field, 'weighted_clusters'), 'weighted_clusters needs a cluster with a weight');
  } else throw resourceError(ref, field, 'tcp_proxy needs a cluster or weighted_clusters');
  const accessLog = decodeAccessLogs(m.access_log as Msg[] | undefined, ctx, ref, fieldPath(field, 'access_log'));
  return { statPrefix: m.stat_prefix ?? '', clusters, idleTimeoutMs: m.idle_timeout ? (durationMs(m.idle_timeout) ?? 0) : DEFAULT_TCP_IDLE_TIMEOUT_MS, ...(accessLog ? { accessLog } : {}) };
}

