/**
 * The HTTP filters' Envoy names, each defined once (the filters' folders re-export theirs: the
 * config layer, which the translator is part of, may not import the runtime), and the one rule
 * for where a filter goes in a connection manager's chain: istiod's order.
 */
import type { HttpFilterConfig } from '../snapshot.js';

export const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';
export const HTTP_RBAC_FILTER = 'envoy.filters.http.rbac';
export const HTTP_EXT_AUTHZ_FILTER = 'envoy.filters.http.ext_authz';
export const FAULT_FILTER = 'envoy.filters.http.fault';
export const HEADER_MUTATION_FILTER = 'envoy.filters.http.header_mutation';
export const CORS_FILTER = 'envoy.filters.http.cors';
/**
 * Defined beside its config type. Not ranked below: istiod never adds it itself; an EnvoyFilter
 * patch places it (Istio's task: INSERT_BEFORE the router, or first).
 */
export { LOCAL_RATELIMIT_FILTER } from './local-ratelimit.js';
/** The terminal filter: implied at the end of every chain, never listed. */
export const ROUTER_FILTER = 'envoy.filters.http.router';

/**
 * istiod's HTTP filter order (inbound and gateway: metadata exchange, authentication
 * (jwt_authn, istio_authn), authorization (RBAC shadow + ext_authz for CUSTOM, then AUDIT, DENY,
 * ALLOW RBAC, in the order the authz builder emits them), then grpc_stats, fault, cors, stats, and
 * the router last; the dumps under conformance config-dumps show `grpc_stats > fault > cors >
 * istio.stats > router`). A filter not ranked here (header_mutation, from raw Envoy config) goes
 * after the ranked ones.
 */
const PHASES: readonly (readonly string[])[] = [
  [JWT_AUTHN_FILTER],
  [HTTP_RBAC_FILTER, HTTP_EXT_AUTHZ_FILTER],
  [FAULT_FILTER],
  [CORS_FILTER],
];

function phaseOf(name: string): number {
  const i = PHASES.findIndex((p) => p.includes(name));
  return i < 0 ? PHASES.length : i;
}

/**
 * Adds `filters` (in their own order) to a connection manager's `chain` where istiod puts them:
 * after every filter of the same or an earlier phase, before the later phases.
 */
export function insertHttpFilters(chain: HttpFilterConfig[], filters: readonly HttpFilterConfig[]): void {
  for (const f of filters) {
    const phase = phaseOf(f.name);
    let at = chain.length;
    for (let i = 0; i < chain.length; i++) {
      if (phaseOf(chain[i].name) > phase) {
        at = i;
        break;
      }
    }
    chain.splice(at, 0, f);
  }
}
