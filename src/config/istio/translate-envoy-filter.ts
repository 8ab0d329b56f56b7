/**
 * EnvoyFilter patches applied as istiod applies them (pilot/pkg/networking/core/envoyfilter): the
 * EnvoyFilters of the root namespace, then of the proxy's own namespace, selecting its labels (or
 * all its namespace's workloads), by priority then age; each patch to the connection managers or
 * routes of its context (SIDECAR_INBOUND, SIDECAR_OUTBOUND, GATEWAY, ANY) and port. Only the
 * patches parse-envoy-filter.ts accepts exist here.
 */
import type { HttpConnectionManager, HttpFilterConfig, Listener, NodeIdentity, Route, RouteConfiguration, VirtualHost } from '../snapshot.js';
import { filterChainsOf, httpConnectionManagerOf } from '../envoy/network-filters.js';
import { labelsMatch } from './hosts.js';
import { ROOT_NAMESPACE } from './registry.js';
import type { EnvoyFilterPatch, EnvoyFilterSpec, IstioConfig, PatchContext } from './resources.js';

type FilterPatch = Extract<EnvoyFilterPatch, { applyTo: 'HTTP_FILTER' }>;
type RoutePatch = Extract<EnvoyFilterPatch, { applyTo: 'HTTP_ROUTE' | 'VIRTUAL_HOST' }>;

/** The EnvoyFilters that apply to this proxy, in the order istiod applies them. */
function applicable(cfg: IstioConfig, node: NodeIdentity): EnvoyFilterSpec[] {
  const selects = (f: EnvoyFilterSpec) => !f.workloadSelector || labelsMatch(f.workloadSelector, node.labels);
  const rank = (f: EnvoyFilterSpec) => (f.meta.namespace === ROOT_NAMESPACE ? 0 : 1);
  return cfg.envoyFilters
    .filter((f) => (f.meta.namespace === ROOT_NAMESPACE || f.meta.namespace === node.namespace) && selects(f))
    .sort((a, b) => rank(a) - rank(b) || a.priority - b.priority || a.meta.order - b.meta.order);
}

/** The patch context of this proxy's listener or route configuration. */
function contextOf(node: NodeIdentity, inbound: boolean): PatchContext {
  return node.mode === 'gateway' ? 'GATEWAY' : inbound ? 'SIDECAR_INBOUND' : 'SIDECAR_OUTBOUND';
}

const appliesIn = (patch: PatchContext, actual: PatchContext) => patch === 'ANY' || patch === actual;

export function applyEnvoyFilters(cfg: IstioConfig, node: NodeIdentity, listeners: readonly Listener[], routeConfigs: RouteConfiguration[]): void {
  const filters = applicable(cfg, node);
  if (!filters.length) return;
  for (const f of filters) {
    for (const p of f.patches) {
      if (p.applyTo === 'HTTP_FILTER') patchConnectionManagers(p, node, listeners);
      else for (let i = 0; i < routeConfigs.length; i++) routeConfigs[i] = patchRouteConfiguration(p, node, routeConfigs[i]);
    }
  }
}


function patchConnectionManagers(p: FilterPatch, node: NodeIdentity, listeners: readonly Listener[]): void {
  const done = new Set<HttpConnectionManager>();
  for (const l of listeners) {
    if (!appliesIn(p.context, contextOf(node, l.direction === 'INBOUND'))) continue;
    for (const c of filterChainsOf(l)) {
      const hcm = httpConnectionManagerOf(c);
      if (!hcm || done.has(hcm)) continue;
      if (p.portNumber !== undefined && (c.match.destinationPort ?? l.port) !== p.portNumber) continue;
      done.add(hcm);
      hcm.httpFilters = inserted(hcm.httpFilters, p);
    }
  }
}

/** The filter list with the patch's filter where the operation puts it (the router, implied, stays last). */
function inserted(list: readonly HttpFilterConfig[], p: FilterPatch): HttpFilterConfig[] {
  const out = [...list];
  const at = p.subFilter === undefined ? -1 : out.findIndex((f) => f.name === p.subFilter);
  switch (p.operation) {
    case 'INSERT_FIRST':
      out.unshift(p.filter);
      break;
    case 'ADD':
      out.push(p.filter);
      break;
    case 'INSERT_BEFORE':
      // without a subFilter (or one not in the list) istiod inserts at the start
      out.splice(at < 0 ? 0 : at, 0, p.filter);
      break;
    case 'INSERT_AFTER':
      if (at < 0) out.push(p.filter);
      else out.splice(at + 1, 0, p.filter);
      break;
  }
  return out;
}

/** The port a route configuration serves: `inbound|9080||`, `9080`, `http.8080`. */
export function portOf(rc: RouteConfiguration): number | undefined {
  const m = /(?:^|[|.:])(\d+)(?:\|\|)?$/.exec(rc.name);
  return m ? Number(m[1]) : undefined;
}

/** Copy-on-write: route lists and virtual hosts may be shared between route configurations. */
function patchRouteConfiguration(p: RoutePatch, node: NodeIdentity, rc: RouteConfiguration): RouteConfiguration {
  if (!appliesIn(p.context, contextOf(node, rc.name.startsWith('inbound|')))) return rc;
  if (p.portNumber !== undefined && portOf(rc) !== p.portNumber) return rc;
  let changed = false;
  const virtualHosts = rc.virtualHosts.map((vh) => {
    if (p.vhostName !== undefined && vh.name !== p.vhostName) return vh;
    const patched = p.applyTo === 'VIRTUAL_HOST' ? mergeVirtualHost(vh, p) : mergeRoutes(vh, p);
    if (patched !== vh) changed = true;
    return patched;
  });
  return changed ? { ...rc, virtualHosts } : rc;
}

function mergeVirtualHost(vh: VirtualHost, p: RoutePatch): VirtualHost {
  return {
    ...vh,
    ...(p.typedPerFilterConfig ? { typedPerFilterConfig: { ...vh.typedPerFilterConfig, ...p.typedPerFilterConfig } } : {}),
    ...(p.rateLimits ? { rateLimits: [...(vh.rateLimits ?? []), ...p.rateLimits] } : {}),
  };
}

const ACTION_KINDS = { ROUTE: 'route', REDIRECT: 'redirect', DIRECT_RESPONSE: 'direct_response' } as const;

function mergeRoutes(vh: VirtualHost, p: RoutePatch): VirtualHost {
  let changed = false;
  const routes = vh.routes.map((r) => {
    if (p.routeName !== undefined && r.name !== p.routeName) return r;
    if (p.routeAction && p.routeAction !== 'ANY' && r.action.kind !== ACTION_KINDS[p.routeAction]) return r;
    changed = true;
    return mergeRoute(r, p);
  });
  return changed ? { ...vh, routes } : vh;
}

function mergeRoute(r: Route, p: RoutePatch): Route {
  const out: Route = { ...r };
  if (p.typedPerFilterConfig) out.typedPerFilterConfig = { ...r.typedPerFilterConfig, ...p.typedPerFilterConfig };
  // rate_limits live on the route action (Envoy's MERGE appends repeated fields)
  if (p.rateLimits && r.action.kind === 'route') out.action = { ...r.action, rateLimits: [...(r.action.rateLimits ?? []), ...p.rateLimits] };
  return out;
}
