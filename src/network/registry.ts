import { NETWORK_EXT_AUTHZ_FILTER, NETWORK_RBAC_FILTER, type TcpAuthzFilter } from '../config/envoy/rbac.js';
import type { NetworkFilterConfig } from '../config/envoy/network-filters.js';
import { ConfigError } from '../config/errors.js';
import type { FilterChain } from '../config/snapshot.js';
import type { NetworkFilterCreator, NetworkFilterFactory, NetworkFilterFactoryContext } from './filter.js';
import { networkAuthorizationFilter } from './filters/authorization.js';
import { httpConnectionManagerNetworkFilter } from './filters/http-connection-manager.js';
import { tcpProxyNetworkFilter } from './filters/tcp-proxy.js';

/** Network filters by Envoy name (network RBAC and ext_authz share one factory: see authorization.ts). */
export const networkFilterFactories: ReadonlyMap<string, NetworkFilterFactory<any, any>> = new Map<string, NetworkFilterFactory<any, any>>([
  [NETWORK_RBAC_FILTER, networkAuthorizationFilter],
  [NETWORK_EXT_AUTHZ_FILTER, networkAuthorizationFilter],
  [tcpProxyNetworkFilter.name, tcpProxyNetworkFilter],
  [httpConnectionManagerNetworkFilter.name, httpConnectionManagerNetworkFilter],
]);

const isAuthz = (f: NetworkFilterConfig): f is TcpAuthzFilter => f.name === NETWORK_RBAC_FILTER || f.name === NETWORK_EXT_AUTHZ_FILTER;

/**
 * A chain's filters as they run, each with its index in the config: Envoy's list, except that each
 * run of network RBAC and ext_authz filters runs as one filter, with the run's configs.
 */
export function networkFilterRuns(filters: readonly NetworkFilterConfig[]): { name: string; typedConfig: unknown; index: number }[] {
  const out: { name: string; typedConfig: unknown; index: number }[] = [];
  for (let i = 0; i < filters.length; i++) {
    const f = filters[i];
    if (!isAuthz(f)) {
      out.push({ name: f.name, typedConfig: f.typedConfig, index: i });
      continue;
    }
    const run: TcpAuthzFilter[] = [];
    const start = i;
    for (; i < filters.length && isAuthz(filters[i]); i++) run.push(filters[i] as TcpAuthzFilter);
    i--;
    out.push({ name: f.name, typedConfig: run, index: start });
  }
  return out;
}

/**
 * Compiles a chain's network filters at config load, each by its factory: a name nothing registers,
 * a chain without a terminal filter last, or one with a terminal filter before its end is a ConfigError.
 */
export function compileNetworkFilters(chain: FilterChain, context: NetworkFilterFactoryContext, where: string): NetworkFilterCreator[] {
  const location = (field: string) => ({ kind: 'Listener', name: context.listener.name, field: `${where}.${field}` });
  const runs = networkFilterRuns(chain.filters);
  if (runs.length === 0) throw new ConfigError('a filter chain needs a terminal network filter (tcp_proxy or http_connection_manager)', location('filters'));
  return runs.map(({ name, typedConfig, index }, n) => {
    const factory = networkFilterFactories.get(name);
    if (!factory) throw new ConfigError(`unknown network filter "${name}"`, location(`filters[${index}].name`));
    const last = n === runs.length - 1;
    if (factory.terminal !== last) {
      throw new ConfigError(last ? `"${name}" is not a terminal filter; a chain ends in tcp_proxy or http_connection_manager` : `terminal filter "${name}" must be the last in its chain`, location(`filters[${index}]`));
    }
    return factory.create(factory.parse(typedConfig, context), context);
  });
}
