import type { HttpFilterConfig } from '../../config/snapshot.js';
import type { HttpFilterFactory } from '../../http/filter.js';
import { headerMutationFilter } from './header_mutation/index.js';
import { faultFilter } from './fault/index.js';
import { groupAuthorizationFilters, rbacFilter } from './rbac/index.js';
import { jwtAuthnFilter } from './jwt_authn/index.js';
import { corsFilter } from './cors/index.js';
import { localRateLimitFilter } from './local_ratelimit/index.js';

const factories = new Map<string, HttpFilterFactory<any, any>>(
  [headerMutationFilter, faultFilter, rbacFilter, jwtAuthnFilter, corsFilter, localRateLimitFilter].map((f) => [f.name, f]),
);

/** HTTP filters by Envoy name. The router is not listed: it always ends the chain. */
export const httpFilterFactories: ReadonlyMap<string, HttpFilterFactory<any, any>> = factories;

/** Adds a filter under its name (an extension, or a test's own filter); configs loaded afterwards may use it. */
export function registerHttpFilter(factory: HttpFilterFactory<any, any>): void {
  if (factories.has(factory.name)) throw new Error(`HTTP filter ${factory.name} is already registered`);
  factories.set(factory.name, factory);
}

/**
 * Compiles a typed_per_filter_config entry with its filter's parsePerRoute (the route table calls
 * this at load, `where` naming the route or virtual host); throws for an unknown filter or one that
 * takes no per-route config.
 */
export function compilePerRouteConfig(filterName: string, raw: unknown, where?: string): unknown {
  const factory = httpFilterFactories.get(filterName);
  if (!factory) throw new Error(`unknown HTTP filter "${filterName}"`);
  if (!factory.parsePerRoute) throw new Error(`${filterName} takes no per-route config`);
  return factory.parsePerRoute(raw, where);
}

/**
 * A connection manager's http_filters as they run, each with its index in the config: Envoy's list,
 * except that each run of RBAC and ext_authz filters (which Istio chains through dynamic metadata:
 * an RBAC filter's shadow policy turns the ext_authz after it on) runs as one rbac filter.
 */
export function httpFilterChain(filters: readonly HttpFilterConfig[]): { filter: HttpFilterConfig; index: number }[] {
  return groupAuthorizationFilters(filters);
}
