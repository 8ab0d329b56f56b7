import { describeMatch } from './describe.js';
import { at, field, isObject, numberOf, objectOf, objectsOf, stringOf, stringsOf, type JsonObject } from './json-values.js';

/** How istioctl describes a listener's filter chains: what each matches and where it sends traffic. */

export const HTTP_CONNECTION_MANAGER = 'envoy.filters.network.http_connection_manager';
export const TCP_PROXY = 'envoy.filters.network.tcp_proxy';

/** The filter chains, then the default filter chain. */
export function filterChainsOf(listener: JsonObject): JsonObject[] {
  const chains = objectsOf(field(listener, 'filter_chains'));
  const defaultChain = objectOf(field(listener, 'default_filter_chain'));
  return defaultChain ? [...chains, defaultChain] : chains;
}

/** The ALPN lists Istio matches on, by the name istioctl gives them. */
const ALPN_DESCRIPTIONS: [string, string[]][] = [
  ['App: HTTP TLS', ['http/1.0', 'http/1.1', 'h2c', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2']],
  ['App: Istio HTTP Plain', ['istio', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2']],
  ['App: TCP TLS', ['istio-peer-exchange', 'istio']],
  ['App: HTTP', ['http/1.0', 'http/1.1', 'h2c']],
];

/**
 * A FilterChainMatch as istioctl prints it: `SNI: a,b`, `Trans: tls`, the ALPN list (by name when
 * it is one of Istio's), `Addr: prefix/len,...:port` or `Addr: *:port`, joined with `; `; `ALL`
 * for none of those (source matches are not shown).
 */
export function describeListenerMatch(chainMatch: unknown): string {
  const match = objectOf(chainMatch) ?? {};
  const descriptions: string[] = [];
  const serverNames = stringsOf(field(match, 'server_names'));
  if (serverNames.length > 0) descriptions.push(`SNI: ${serverNames.join(',')}`);
  const transport = stringOf(field(match, 'transport_protocol'));
  if (transport !== '') descriptions.push(`Trans: ${transport}`);
  const alpn = stringsOf(field(match, 'application_protocols'));
  if (alpn.length > 0) {
    const known = ALPN_DESCRIPTIONS.find(([, list]) => list.length === alpn.length && list.every((p, i) => p === alpn[i]));
    descriptions.push(known ? known[0] : `App: ${alpn.join(',')}`);
  }
  const destinationPort = field(match, 'destination_port');
  const port = destinationPort !== undefined && destinationPort !== null ? `:${numberOf(destinationPort)}` : '';
  const ranges = objectsOf(field(match, 'prefix_ranges'));
  if (ranges.length > 0) {
    descriptions.push(`Addr: ${ranges.map((r) => `${stringOf(field(r, 'address_prefix'))}/${numberOf(field(r, 'prefix_len'))}`).join(',')}${port}`);
  } else if (port !== '') {
    descriptions.push(`Addr: *${port}`);
  }
  return descriptions.length > 0 ? descriptions.join('; ') : 'ALL';
}

/**
 * Where a chain's filters send traffic: the first connection manager's `Route: <rds name>` or its
 * inline routes, or the first TCP proxy's `Cluster: <name>` (a cluster named like
 * `PassthroughCluster` as is; a proxy to the BlackHoleCluster does not count); `Non-HTTP/Non-TCP` without either.
 */
export function describeListenerDestination(filters: JsonObject[]): string {
  for (const filter of filters) {
    if (filter.name === HTTP_CONNECTION_MANAGER) {
      const hcm = objectOf(field(filter, 'typed_config')) ?? {};
      const routeConfig = field(hcm, 'route_config');
      if (isObject(routeConfig)) return describeRouteConfig(routeConfig);
      const rdsName = stringOf(at(hcm, 'rds', 'route_config_name'));
      return rdsName !== '' ? `Route: ${rdsName}` : 'HTTP';
    }
    if (filter.name === TCP_PROXY && !isBlackHoleTcpProxy(filter)) {
      const cluster = stringOf(at(filter, 'typed_config', 'cluster'));
      return cluster.includes('Cluster') ? cluster : `Cluster: ${cluster}`;
    }
  }
  return 'Non-HTTP/Non-TCP';
}

/**
 * Whether the TCP proxy's config mentions the BlackHoleCluster anywhere: istioctl looks for the
 * name in the config's encoded bytes, where any string field (a nested type URL too) may hold it.
 */
export function isBlackHoleTcpProxy(filter: JsonObject): boolean {
  const config = objectOf(field(filter, 'typed_config'));
  if (!config) return false;
  const { '@type': _, ...fields } = config;
  return mentions(fields, 'BlackHoleCluster');
}

function mentions(value: unknown, text: string): boolean {
  if (typeof value === 'string') return value.includes(text);
  if (Array.isArray(value)) return value.some((v) => mentions(v, text));
  if (isObject(value)) return Object.values(value).some((v) => mentions(v, text));
  return false;
}

/** An inline route configuration: `Cluster: <name>` when it sends everything to one cluster, else `Inline Route: ` and its virtual hosts. */
function describeRouteConfig(routeConfig: JsonObject): string {
  const cluster = matchAllCluster(routeConfig);
  if (cluster !== undefined) return cluster;
  const vhosts = objectsOf(field(routeConfig, 'virtual_hosts')).map((vh) => {
    const domains = stringsOf(vh.domains);
    const described = domains.length === 1 && domains[0] === '*' ? '' : domains.join('/');
    const routes = objectsOf(vh.routes)
      .map((r) => describeMatch(r.match))
      .join(', ');
    return described === '' ? routes : `${described} ${routes}`;
  });
  return `Inline Route: ${vhosts.join('; ')}`;
}

/** One virtual host for `*` with one route for prefix `/` to a cluster: that cluster, described as a TCP proxy's is. */
function matchAllCluster(routeConfig: JsonObject): string | undefined {
  const vhosts = objectsOf(field(routeConfig, 'virtual_hosts'));
  if (vhosts.length !== 1) return undefined;
  const domains = stringsOf(vhosts[0].domains);
  if (domains.length !== 1 || domains[0] !== '*') return undefined;
  const routes = objectsOf(vhosts[0].routes);
  if (routes.length !== 1 || stringOf(objectOf(routes[0].match)?.prefix) !== '/') return undefined;
  const action = objectOf(routes[0].route);
  if (!action || typeof action.cluster !== 'string') return undefined;
  return action.cluster.includes('Cluster') ? action.cluster : `Cluster: ${action.cluster}`;
}
