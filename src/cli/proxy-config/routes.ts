import { ProxyConfigError, requireSection, resourcesOf, type ConfigDump } from './config-dump.js';
import { describeManagement, describeMatch } from './describe.js';
import { sortSlice } from './go-sort.js';
import { atoi } from './go-strings.js';
import { field, objectOf, objectsOf, stringOf, stringsOf, type JsonObject } from './json-values.js';
import { printMessages, type OutputFormat } from './print-messages.js';
import { TABLE, TabWriter } from './tabwriter.js';

/** istioctl proxy-config routes --name (exact), and --verbose (default true: one row per route). */
export interface RouteFilter {
  name?: string;
  verbose?: boolean;
}

export interface RouteSummaryOptions {
  /** Name the route configurations `route/<name>` (what `proxy-config all` does). */
  includeConfigType?: boolean;
}

const ROUTE_CONFIGURATION_TYPE = 'envoy.config.route.v3.RouteConfiguration';

/** The table `istioctl proxy-config routes` prints; the catch-all routes to PassthroughCluster are left out. */
export function writeRouteSummary(dump: ConfigDump, filter: RouteFilter = {}, options: RouteSummaryOptions = {}): string {
  const verbose = filter.verbose ?? true;
  const w = new TabWriter(TABLE);
  w.write(verbose ? 'NAME\tVHOST NAME\tDOMAINS\tMATCH\tVIRTUAL SERVICE\n' : 'NAME\tVIRTUAL HOSTS\n');
  for (const route of sortedRouteConfigs(dump)) {
    if (!routeMatches(filter, route)) continue;
    const name = options.includeConfigType ? `route/${stringOf(route.name)}` : stringOf(route.name);
    const virtualHosts = objectsOf(field(route, 'virtual_hosts'));
    if (!verbose) {
      w.write(`${name}\t${virtualHosts.length}\n`);
      continue;
    }
    for (const vhost of virtualHosts) {
      const domains = describeRouteDomains(stringsOf(vhost.domains));
      const routes = objectsOf(vhost.routes);
      for (const r of routes) {
        if (!isPassthrough(r)) w.write(`${name}\t${stringOf(vhost.name)}\t${domains}\t${describeMatch(r.match)}\t${describeManagement(r.metadata)}\n`);
      }
      if (routes.length === 0) w.write(`${name}\t${stringOf(vhost.name)}\t${domains}\t/*\t404\n`);
    }
  }
  return w.flush();
}

/** `istioctl proxy-config routes -o json|yaml`. */
export function writeRouteDump(dump: ConfigDump, filter: RouteFilter, format: OutputFormat): string {
  return printMessages(ROUTE_CONFIGURATION_TYPE, sortedRouteConfigs(dump).filter((r) => routeMatches(filter, r)), format);
}

function routeMatches(filter: RouteFilter, route: JsonObject): boolean {
  return !filter.name || filter.name === stringOf(route.name);
}

/**
 * Dynamic route configurations, then static ones, sorted as istioctl does: numerically by name,
 * where its comparator calls any pair with a name that is not a number unordered.
 */
function sortedRouteConfigs(dump: ConfigDump): JsonObject[] {
  const section = requireSection(dump, 'routes');
  const routes = [...resourcesOf(section, 'dynamic_route_configs', 'route_config'), ...resourcesOf(section, 'static_route_configs', 'route_config')];
  if (routes.length === 0) throw new ProxyConfigError('no routes found');
  sortSlice(routes, (a, b) => {
    const i = atoi(stringOf(a.name));
    const j = atoi(stringOf(b.name));
    return i !== undefined && j !== undefined && i < j;
  });
  return routes;
}

/** The shortest useful form of a virtual host's domains: port-less names, `x.svc.cluster.local` folded into `x`, two at most. */
export function describeRouteDomains(domains: string[]): string {
  if (domains.length === 0) return '';
  if (domains.length === 1) return domains[0];
  const withoutPort = domains.filter((d) => !d.includes(':') || (d.split(':').length - 1 > 2 && d.endsWith(']')));
  const shown = unexpandDomains(withoutPort);
  if (shown.length > 2) return `${shown.slice(0, 2).join(', ')} + ${shown.length - 2} more...`;
  return shown.join(', ');
}

/** Drops each domain whose short form (without `.svc.cluster.local` or `.svc`) is in the list too. */
function unexpandDomains(domains: string[]): string[] {
  const unique = new Set(domains);
  const drop = new Set<string>();
  for (const h of domains) {
    for (const suffix of ['.svc.cluster.local', '.svc']) {
      const stripped = h.endsWith(suffix) ? h.slice(0, -suffix.length) : h;
      if (stripped !== h && unique.has(stripped)) drop.add(h);
    }
  }
  return domains.filter((h) => !drop.has(h));
}

function isPassthrough(route: JsonObject): boolean {
  return stringOf(objectOf(route.route)?.cluster) === 'PassthroughCluster';
}
