/**
 * Envoy's network filters of a filter chain as plain data: each named as Envoy names it, with its
 * typed config (envoy.config.listener.v3.Filter). A chain runs them in order; the last one is
 * terminal (the TCP proxy or the HTTP connection manager).
 */
import type { FilterChain, HttpConnectionManager, Listener, TcpProxy } from '../snapshot.js';
import { NETWORK_EXT_AUTHZ_FILTER, NETWORK_RBAC_FILTER, type TcpAuthzFilter } from './rbac.js';

export const TCP_PROXY_FILTER = 'envoy.filters.network.tcp_proxy';
export const HTTP_CONNECTION_MANAGER_FILTER = 'envoy.filters.network.http_connection_manager';

export type TcpProxyFilter = { name: typeof TCP_PROXY_FILTER; typedConfig: TcpProxy };
export type HttpConnectionManagerFilter = { name: typeof HTTP_CONNECTION_MANAGER_FILTER; typedConfig: HttpConnectionManager };

/** One network filter of a chain. */
export type NetworkFilterConfig = TcpAuthzFilter | TcpProxyFilter | HttpConnectionManagerFilter;

export function tcpProxyFilter(typedConfig: TcpProxy): TcpProxyFilter {
  return { name: TCP_PROXY_FILTER, typedConfig };
}

export function httpConnectionManagerFilter(typedConfig: HttpConnectionManager): HttpConnectionManagerFilter {
  return { name: HTTP_CONNECTION_MANAGER_FILTER, typedConfig };
}

/** Every filter chain of a listener, its default chain last. */
export function filterChainsOf(l: Listener): FilterChain[] {
  return l.defaultFilterChain ? [...l.filterChains, l.defaultFilterChain] : l.filterChains;
}

/** The chain's HTTP connection manager, when it ends in one. */
export function httpConnectionManagerOf(c: FilterChain): HttpConnectionManager | undefined {
  for (const f of c.filters) if (f.name === HTTP_CONNECTION_MANAGER_FILTER) return f.typedConfig;
  return undefined;
}

/** The chain's TCP proxy, when it ends in one. */
export function tcpProxyOf(c: FilterChain): TcpProxy | undefined {
  for (const f of c.filters) if (f.name === TCP_PROXY_FILTER) return f.typedConfig;
  return undefined;
}

/** The chain's network RBAC and ext_authz filters, in order. */
export function networkAuthzFiltersOf(c: FilterChain): TcpAuthzFilter[] {
  return c.filters.filter((f): f is TcpAuthzFilter => f.name === NETWORK_RBAC_FILTER || f.name === NETWORK_EXT_AUTHZ_FILTER);
}
