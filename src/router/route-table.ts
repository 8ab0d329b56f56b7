import { CelError } from '../common/cel.js';
import { compileRegexRewrite } from '../common/regex.js';
import { ConfigError } from '../config/errors.js';
import type {
  DirectResponseAction, HeaderMutation, RedirectAction, Route, RouteAction, RouteConfiguration, VirtualHost, WeightedCluster,
} from '../config/snapshot.js';
import { compileRouteMatch } from './match.js';
import { compileRateLimitPolicies, type CompiledRateLimitPolicy } from './rate-limit-descriptors.js';
import { RetryPolicyRuntime } from './retry-state.js';
import type { RequestView } from './request-view.js';

export interface CompiledRoute {
  readonly name: string;
  /** The route as configured (its match, action and source, for explain and config dumps). */
  readonly config: Route;
  readonly matches: (req: RequestView) => boolean;
  readonly action: RouteAction | RedirectAction | DirectResponseAction;
  readonly requestHeaders?: HeaderMutation;
  readonly responseHeaders?: HeaderMutation;
  readonly retry?: RetryPolicyRuntime;
  /** Route timeout; 0: none. */
  readonly timeoutMs: number;
  /**
   * Envoy's typed_per_filter_config, compiled by each filter's parsePerRoute: the route's entry,
   * else its virtual host's (the most specific wins). Absent when neither has any.
   */
  readonly typedPerFilterConfig?: ReadonlyMap<string, unknown>;
  /** Picks a weighted cluster (route actions only). */
  readonly pickCluster: () => WeightedCluster;
  /** Applies prefix/regex rewrite to a path; undefined when the route does not rewrite. */
  readonly rewritePath?: (path: string) => string;
  /** The route's decorator: its span's operation name. */
  readonly decorator?: Route['decorator'];
  /** The route action's rate_limits, compiled (route actions only); absent when it has none. */
  readonly rateLimits?: readonly CompiledRateLimitPolicy[];
  /**
   * Its virtual host's rate_limits (route actions only). Kept apart from the route's own: Envoy's
   * rate limit filters read them after the route's, or instead of them (vh_rate_limits).
   */
  readonly virtualHostRateLimits?: readonly CompiledRateLimitPolicy[];
}

export interface CompiledVirtualHost {
  readonly name: string;
  /** Its domains as configured. */
  readonly domains: readonly string[];
  readonly routes: readonly CompiledRoute[];
}

/**
 * A route configuration compiled for lookups: virtual hosts indexed by domain (exact, then
 * `host:*`, then longest `*.suffix`, then `prefix*`, then `*`), routes as precompiled closures.
 */
export class RouteTable {
  private readonly exact = new Map<string, CompiledVirtualHost>();
  private readonly anyPort = new Map<string, CompiledVirtualHost>();
  private readonly suffixes: { suffix: string; anyPort: boolean; vh: CompiledVirtualHost }[] = [];
  private readonly prefixes: { prefix: string; anyPort: boolean; vh: CompiledVirtualHost }[] = [];
  private star?: CompiledVirtualHost;

  /**
   * `perFilter` compiles one typed_per_filter_config entry (the filter's parsePerRoute; it throws
   * for an unknown filter or a bad config); errors become ConfigErrors naming the route and filter.
   */
  constructor(
    readonly config: RouteConfiguration,
    perFilter: PerFilterCompiler = rejectPerFilterConfig,
    /** Routes compiled for other tables of the same Snapshot, by their list: compiled once when virtual hosts share them. */
    shared?: SharedRoutes,
  ) {
    for (const [i, vh] of config.virtualHosts.entries()) {
      const vhField = `virtualHosts[${i}]`;
      const at = (field: string) => (field ? `${vhField}.${field}` : vhField);
      const compiled = compileVirtualHost(vh, {
        perFilter: (raw, field) => compilePerFilterConfigs(raw, perFilter, config.name, at(field)),
        rateLimits: (list, field) => compileRateLimits(list, config.name, at(field)),
      }, shared);
      for (const raw of vh.domains) {
        const d = raw.toLowerCase();
        const anyPort = d.endsWith(':*');
        const host = anyPort ? d.slice(0, -2) : d;
        if (host === '*') this.star ??= compiled;
        else if (host.startsWith('*')) this.suffixes.push({ suffix: host.slice(1), anyPort, vh: compiled });
        else if (host.endsWith('*')) this.prefixes.push({ prefix: host.slice(0, -1), anyPort, vh: compiled });
        else if (anyPort) { if (!this.anyPort.has(host)) this.anyPort.set(host, compiled); }
        else if (!this.exact.has(host)) this.exact.set(host, compiled);
      }
    }
    this.suffixes.sort((a, b) => b.suffix.length - a.suffix.length);
    this.prefixes.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** `authority` is lower-case and may carry a port (dropped first under ignore_port_in_host_matching). */
  findVirtualHost(authority: string): CompiledVirtualHost | undefined {
    let colon = authority.lastIndexOf(':');
    let hasPort = colon > 0 && authority.indexOf(']', colon) < 0 && authority.charCodeAt(authority.length - 1) !== 93;
    if (hasPort && this.config.ignorePortInHostMatching) {
      authority = authority.slice(0, colon);
      colon = -1;
      hasPort = false;
    }
    const hit = this.exact.get(authority);
    if (hit) return hit;
    const bare = hasPort ? authority.slice(0, colon) : authority;
    if (hasPort) {
      const ap = this.anyPort.get(bare);
      if (ap) return ap;
    }
    for (const s of this.suffixes) {
      const h = s.anyPort ? (hasPort ? bare : undefined) : authority;
      if (h !== undefined && h.length > s.suffix.length && h.endsWith(s.suffix)) return s.vh;
    }
    for (const p of this.prefixes) {
      const h = p.anyPort ? (hasPort ? bare : undefined) : authority;
      if (h !== undefined && h.length > p.prefix.length && h.startsWith(p.prefix)) return p.vh;
    }
    return this.star;
  }

  /** First matching route of the virtual host, or undefined (404 NR). */
  static findRoute(vh: CompiledVirtualHost, req: RequestView): CompiledRoute | undefined {
    const routes = vh.routes;
    for (let i = 0; i < routes.length; i++) if (routes[i].matches(req)) return routes[i];
    return undefined;
  }
}

/**
 * Compiles one filter's typed_per_filter_config entry; throws when the filter has none or the config
 * is bad. `where` names the route or virtual host (`<route config>/virtualHosts[i].routes[j]`, or
 * `<route config>/virtualHosts[i]`): a filter with state per config (rate limit buckets) keys it on that.
 */
export type PerFilterCompiler = (filterName: string, raw: unknown, where: string) => unknown;

function rejectPerFilterConfig(filterName: string): never {
  throw new Error(`filter ${filterName} takes no per-route config`);
}

/** How a virtual host's and its routes' parts that name their place in errors are compiled. */
interface VirtualHostCompilers {
  perFilter(raw: Record<string, unknown> | undefined, field: string): Map<string, unknown> | undefined;
  rateLimits(list: VirtualHost['rateLimits'], field: string): readonly CompiledRateLimitPolicy[] | undefined;
}

function compilePerFilterConfigs(raw: Record<string, unknown> | undefined, perFilter: PerFilterCompiler, routeConfig: string, field: string): Map<string, unknown> | undefined {
  if (!raw) return undefined;
  const out = new Map<string, unknown>();
  for (const [name, value] of Object.entries(raw)) {
    try {
      out.set(name, perFilter(name, value, `${routeConfig}/${field}`));
    } catch (e) {
      const reason = e instanceof ConfigError ? e.reason : (e as Error).message;
      // the filter's own path to the bad field, below the entry
      const inner = e instanceof ConfigError && e.location.field ? `.${e.location.field}` : '';
      throw new ConfigError(`typed_per_filter_config of ${name}: ${reason}`, { kind: 'RouteConfiguration', name: routeConfig, field: `${field}.typedPerFilterConfig["${name}"]${inner}` });
    }
  }
  return out;
}

/** A rate_limits list compiled; a CEL expression the evaluator refuses is a ConfigError naming the field. */
function compileRateLimits(list: VirtualHost['rateLimits'], routeConfig: string, field: string): readonly CompiledRateLimitPolicy[] | undefined {
  try {
    return compileRateLimitPolicies(list);
  } catch (e) {
    if (!(e instanceof CelError)) throw e;
    throw new ConfigError(e.message, { kind: 'RouteConfiguration', name: routeConfig, field: `${field}.rateLimits` });
  }
}

/** Compiled routes by the route list they came from (a Snapshot's virtual hosts may share one list). */
export type SharedRoutes = WeakMap<readonly Route[], readonly CompiledRoute[]>;

function compileVirtualHost(vh: VirtualHost, compile: VirtualHostCompilers, shared: SharedRoutes | undefined): CompiledVirtualHost {
  const hostLevel = compile.perFilter(vh.typedPerFilterConfig, '');
  const hostLimits = compile.rateLimits(vh.rateLimits, '');
  // the virtual host's own per-filter configs and rate limits go into its routes: those are not shared
  const reusable = shared && !hostLevel && !hostLimits;
  let routes = reusable ? shared.get(vh.routes) : undefined;
  if (!routes) {
    routes = vh.routes.map((r, j) => {
      const own = compile.perFilter(r.typedPerFilterConfig, `routes[${j}]`);
      // the route's entry wins over the virtual host's, filter by filter (Envoy: most specific)
      const merged = hostLevel && own ? new Map([...hostLevel, ...own]) : (own ?? hostLevel);
      const limits = r.action.kind === 'route' ? { own: compile.rateLimits(r.action.rateLimits, `routes[${j}].action`), host: hostLimits } : undefined;
      return compileRoute(r, merged, limits);
    });
    if (reusable) shared.set(vh.routes, routes);
  }
  return { name: vh.name, domains: vh.domains, routes };
}

/** A route action's rate limits and its virtual host's, compiled. */
interface RouteRateLimits {
  own: readonly CompiledRateLimitPolicy[] | undefined;
  host: readonly CompiledRateLimitPolicy[] | undefined;
}

function compileRoute(r: Route, typedPerFilterConfig: ReadonlyMap<string, unknown> | undefined, limits: RouteRateLimits | undefined): CompiledRoute {
  const action = r.action;
  return {
    name: r.name,
    config: r,
    matches: compileRouteMatch(r.match),
    action,
    requestHeaders: r.requestHeaders,
    responseHeaders: r.responseHeaders,
    ...(typedPerFilterConfig ? { typedPerFilterConfig } : {}),
    retry: action.kind === 'route' && action.retryPolicy ? new RetryPolicyRuntime(action.retryPolicy) : undefined,
    timeoutMs: action.kind === 'route' ? (action.timeoutMs ?? 0) : 0,
    pickCluster: action.kind === 'route' ? compileWeightedPick(action.clusters) : noCluster,
    rewritePath: action.kind === 'route' ? compileRewrite(r, action) : undefined,
    ...(r.decorator ? { decorator: r.decorator } : {}),
    ...(limits?.own ? { rateLimits: limits.own } : {}),
    ...(limits?.host ? { virtualHostRateLimits: limits.host } : {}),
  };
}

function noCluster(): never {
  throw new Error('not a route action');
}

function compileWeightedPick(clusters: readonly WeightedCluster[]): () => WeightedCluster {
  if (clusters.length === 1) {
    const only = clusters[0];
    return () => only;
  }
  const total = clusters.reduce((s, c) => s + c.weight, 0);
  const cumulative = clusters.map(((acc) => (c: WeightedCluster) => (acc += c.weight))(0));
  return () => {
    const r = Math.random() * total;
    for (let i = 0; i < cumulative.length; i++) if (r < cumulative[i]) return clusters[i];
    return clusters[clusters.length - 1];
  };
}

/**
 * Envoy's prefix_rewrite replaces the part the route matched: the prefix, or the whole path of an
 * exact match (the query string stays). With no path match the matched prefix is "/".
 */
function compileRewrite(r: Route, action: RouteAction): ((path: string) => string) | undefined {
  if (action.regexRewrite) {
    const rewrite = compileRegexRewrite(action.regexRewrite.pattern, action.regexRewrite.substitution);
    return (path) => {
      const q = path.indexOf('?');
      const p = q < 0 ? path : path.slice(0, q);
      return rewrite(p) + (q < 0 ? '' : path.slice(q));
    };
  }
  if (action.prefixRewrite === undefined) return undefined;
  const replacement = action.prefixRewrite;
  const m = r.match.path;
  const matchedLength = 'prefix' in m ? m.prefix.length : -1;
  return (path) => {
    if (matchedLength >= 0) return replacement + path.slice(matchedLength);
    const q = path.indexOf('?'); // exact (or regex) match: the whole path is replaced
    return replacement + (q < 0 ? '' : path.slice(q));
  };
}
