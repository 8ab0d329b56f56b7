/** Envoy's http_filters list with RBAC and ext_authz entries, as istiod lists them, and how they run. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import type { HttpFilterConfig } from '../../src/config/snapshot.js';
import { httpFilterChain } from '../../src/filters/http/registry.js';
import { rbacFilter } from '../../src/filters/http/rbac/index.js';

const rbac = (action: 'ALLOW' | 'DENY'): HttpFilterConfig => ({ name: 'envoy.filters.http.rbac', config: { rules: { action, policies: {} }, shadowRulesStatPrefix: '' } });
const extAuthz: HttpFilterConfig = { name: 'envoy.filters.http.ext_authz', config: { transportApiVersion: 'V3', grpcService: { envoyGrpc: { clusterName: 'c' }, timeoutMs: 1 } } };
const jwt: HttpFilterConfig = { name: 'envoy.filters.http.jwt_authn', config: { providers: {} } };
const fault: HttpFilterConfig = { name: 'envoy.filters.http.fault', config: {} };

describe('RBAC and ext_authz in a filter chain', () => {
  it('each run of RBAC / ext_authz filters runs as one rbac filter over their configs, in order', () => {
    const chain = httpFilterChain([jwt, rbac('DENY'), rbac('ALLOW'), fault, rbac('DENY')]);
    expect(chain.map(({ filter, index }) => [filter.name, index])).toEqual([
      ['envoy.filters.http.jwt_authn', 0],
      ['envoy.filters.http.rbac', 1],
      ['envoy.filters.http.fault', 3],
      ['envoy.filters.http.rbac', 4],
    ]);
    expect(chain[1].filter.config).toEqual({ filters: [{ name: 'envoy.filters.http.rbac', typedConfig: rbac('DENY').config }, { name: 'envoy.filters.http.rbac', typedConfig: rbac('ALLOW').config }] });
  });

  it('an ext_authz filter no RBAC shadow policy turns on is a config error', () => {
    const [group] = httpFilterChain([extAuthz]);
    expect(() => rbacFilter.parse(group.filter.config)).toThrow(ConfigError);
    expect(() => rbacFilter.parse(group.filter.config)).toThrow(/only an ext_authz filter enabled by the preceding RBAC filter/);
  });
});
