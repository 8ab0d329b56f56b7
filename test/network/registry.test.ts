import { describe, expect, it } from 'vitest';
import { httpConnectionManagerFilter, tcpProxyFilter, type NetworkFilterConfig } from '../../src/config/envoy/network-filters.js';
import { ConfigError } from '../../src/config/errors.js';
import type { FilterChain, Listener } from '../../src/config/snapshot.js';
import type { NetworkFilterFactoryContext } from '../../src/network/filter.js';
import { compileNetworkFilters, networkFilterRuns } from '../../src/network/registry.js';

const rbac: NetworkFilterConfig = { name: 'envoy.filters.network.rbac', typedConfig: { rules: { action: 'ALLOW', policies: {} }, shadowRulesStatPrefix: '', statPrefix: 'tcp.' } };
const extAuthz: NetworkFilterConfig = { name: 'envoy.filters.network.ext_authz', typedConfig: { statPrefix: 'tcp.', transportApiVersion: 'V3', grpcService: { envoyGrpc: { clusterName: 'c' }, timeoutMs: 1 } } as never };
const tcp = tcpProxyFilter({ statPrefix: 'c', clusters: [{ name: 'c', weight: 1 }], idleTimeoutMs: 0 });
const hcm = httpConnectionManagerFilter({ statPrefix: 'h', routeConfigName: 'r', useRemoteAddress: false, stripEnvoyHeaders: false, maxRequestHeadersKb: 60, idleTimeoutMs: 0, acceptHttp10: false, httpFilters: [] } as never);

const listener: Listener = { name: 'l', address: '0.0.0.0', port: 1, direction: 'INBOUND', filterChains: [] };
/** Nothing in it is used: each case fails before a factory builds anything. */
const context = { listener, chainName: 'c' } as unknown as NetworkFilterFactoryContext;
const chain = (filters: NetworkFilterConfig[]): FilterChain => ({ name: 'c', match: {}, filters });

function compileError(filters: NetworkFilterConfig[]): ConfigError {
  try {
    compileNetworkFilters(chain(filters), context, 'filterChains[0]');
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  return expect.fail('no ConfigError');
}

describe('network filter registry', () => {
  it('each run of network RBAC / ext_authz filters runs as one filter over their configs, in order', () => {
    const runs = networkFilterRuns([rbac, extAuthz, rbac, tcp]);
    expect(runs.map((r) => [r.name, r.index])).toEqual([['envoy.filters.network.rbac', 0], ['envoy.filters.network.tcp_proxy', 3]]);
    expect(runs[0].typedConfig).toEqual([rbac, extAuthz, rbac]);
    expect(runs[1].typedConfig).toBe(tcp.typedConfig);
  });

  it('a chain must end in exactly one terminal filter, and names only registered filters', () => {
    expect(compileError([]).message).toContain('filterChains[0].filters');
    expect(compileError([rbac]).message).toMatch(/filterChains\[0\]\.filters\[0\].*"envoy\.filters\.network\.rbac" is not a terminal filter/);
    expect(compileError([tcp, hcm]).message).toMatch(/filterChains\[0\]\.filters\[0\].*terminal filter "envoy\.filters\.network\.tcp_proxy" must be the last/);
    expect(compileError([{ name: 'envoy.filters.network.redis_proxy', typedConfig: {} } as never]).message).toMatch(/filterChains\[0\]\.filters\[0\]\.name.*unknown network filter "envoy\.filters\.network\.redis_proxy"/);
  });
});
