import type { HttpFilterConfig } from '../../config/snapshot.js';
import type { HttpFilterFactory } from '../../http/filter.js';
import { headerMutationFilter } from './header_mutation/index.js';
import { faultFilter } from './fault/index.js';
import { groupAuthorizationFilters, rbacFilter } from './rbac/index.js';
import { jwtAuthnFilter } from './jwt_authn/index.js';

/** HTTP filters by Envoy name. The router is not listed: it always ends the chain. */
export const httpFilterFactories: ReadonlyMap<string, HttpFilterFactory<any>> = new Map<string, HttpFilterFactory<any>>([
  [headerMutationFilter.name, headerMutationFilter],
  [faultFilter.name, faultFilter],
  [rbacFilter.name, rbacFilter],
  [jwtAuthnFilter.name, jwtAuthnFilter],
]);

/**
 * A connection manager's http_filters as they run, each with its index in the config: Envoy's list,
 * except that each run of RBAC and ext_authz filters (which Istio chains through dynamic metadata:
 * an RBAC filter's shadow policy turns the ext_authz after it on) runs as one rbac filter.
 */
export function httpFilterChain(filters: readonly HttpFilterConfig[]): { filter: HttpFilterConfig; index: number }[] {
  return groupAuthorizationFilters(filters);
}
