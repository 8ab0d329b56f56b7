import type {
  CorsPolicy, FaultConfig, HeaderMatcher, HeaderMutation, NodeIdentity, QueryParamMatcher, RetryPolicy, Route, RouteMatch, StringMatch, WeightedCluster,
} from '../snapshot.js';
import { CORS_FILTER, FAULT_FILTER } from '../envoy/http-filters.js';
import { labelsMatch, resolveHost } from './hosts.js';
import type { Service } from './registry.js';
import { istioConfigPath } from '../envoy/istio-config-path.js';
import type { CorsPolicySpec, DestinationSpec, HeaderOpsSpec, HttpMatchSpec, HttpRouteSpec, StringMatchSpec, VirtualServiceSpec } from './resources.js';
import { clusterName } from './translate-clusters.js';

/** Where routes are being built: which listener port, which gateways, which proxy. */
export interface RouteContext {
  node: NodeIdentity;
  /** Port of the listener/virtual host the routes serve; picks the destination port when unspecified. */
  port: number;
  /** Gateways the listener belongs to (`ns/name`), or `mesh` for sidecars. */
  gateways: ReadonlySet<string>;
  services: ReadonlyMap<string, Service>;
}

/** Translates a VirtualService's http routes into Envoy routes: one per match block, in order. */
export function buildVirtualServiceRoutes(vs: VirtualServiceSpec, ctx: RouteContext): Route[] {
  const routes: Route[] = [];
  const source = istioConfigPath('virtual-service', vs.meta.namespace, vs.meta.name);
  vs.http.forEach((http, i) => {
    const name = http.name ?? `${vs.meta.name}.${i}`;
    const matches = http.match.length ? http.match : [undefined];
    for (const m of matches) {
      if (m && !matchAppliesHere(m, vs, ctx)) continue;
      const route: Route = { name, match: translateMatch(m), ...translateAction(http, vs, ctx), source };
      route.decorator = { operation: routeOperation(route, vs.meta.name, ctx.port) };
      const perFilter: Record<string, unknown> = {};
      if (http.fault && route.action.kind === 'route') perFilter[FAULT_FILTER] = faultConfig(http.fault);
      if (http.corsPolicy) perFilter[CORS_FILTER] = corsPolicy(http.corsPolicy);
      if (Object.keys(perFilter).length) route.typedPerFilterConfig = perFilter;
      routes.push(route);
    }
  });
  return routes;
}

/** The route istiod generates for a service without a VirtualService. */
export function defaultRoute(svc: Service, port: number): Route {
  return {
    name: 'default',
    match: { path: { prefix: '/' }, headers: [], queryParams: [] },
    action: { kind: 'route', clusters: [{ name: clusterName('outbound', port, undefined, svc.hostname), weight: 100 }], retryPolicy: DEFAULT_RETRY_POLICY },
    decorator: { operation: `${svc.hostname}:${port}/*` },
  };
}

/**
 * istiod's GetRouteOperation, a route's span name: `host:port` of its one destination cluster, else
 * `virtualService:port`, then the path it matches (`prefix*`, the exact path, the regex, or `/*`).
 */
export function routeOperation(route: Route, vsName: string, port: number): string {
  const p = route.match.path;
  const path = 'prefix' in p ? `${p.prefix}*` : 'exact' in p ? p.exact : 'regex' in p ? p.regex : '/*';
  const a = route.action;
  if (a.kind === 'route' && a.clusters.length === 1) {
    const [direction, clusterPort, , host] = a.clusters[0].name.split('|');
    if (direction === 'outbound' && host) return `${host}:${clusterPort}${path}`;
  }
  return `${vsName}:${port}${path}`;
}


/**
 * Istio's retry policy when a route sets none: 2 retries on connect-failure, refused-stream,
 * unavailable, cancelled and 503, never on the same host twice.
 */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  numRetries: 2,
  retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
  retriableStatusCodes: [503],
  retryPreviousHosts: true,
  hostSelectionRetryMaxAttempts: 5,
  backoffBaseMs: 25,
  backoffMaxMs: 250,
};

/** Istio's translation of HTTPRetry: attempts 0 disables; numbers in retryOn are status codes. */
export function retryPolicyFor(retries: HttpRouteSpec['retries']): RetryPolicy | undefined {
  if (!retries) return DEFAULT_RETRY_POLICY;
  if (retries.attempts === 0) return undefined;
  let retryOn = DEFAULT_RETRY_POLICY.retryOn;
  let codes = DEFAULT_RETRY_POLICY.retriableStatusCodes;
  if (retries.retryOn) {
    const parts = retries.retryOn.split(',').map((p) => p.trim()).filter(Boolean);
    codes = parts.filter((p) => /^\d{3}$/.test(p)).map(Number);
    retryOn = parts.filter((p) => !/^\d{3}$/.test(p));
    if (codes.length && !retryOn.includes('retriable-status-codes')) retryOn = [...retryOn, 'retriable-status-codes'];
  }
  return {
    ...DEFAULT_RETRY_POLICY,
    numRetries: retries.attempts,
    retryOn,
    retriableStatusCodes: codes,
    ...(retries.perTryTimeoutMs !== undefined ? { perTryTimeoutMs: retries.perTryTimeoutMs } : {}),
    ...(retries.retryIgnorePreviousHosts === false ? { retryPreviousHosts: false } : {}),
    ...(retries.retryRemoteLocalities ? { retryOtherPriorities: true } : {}),
    // Envoy's max interval defaults to 10 × the base
    ...(retries.backoffMs !== undefined ? { backoffBaseMs: retries.backoffMs, backoffMaxMs: retries.backoffMs * 10 } : {}),
  };
}

/**
 * istiod's TranslateCORSPolicy: the origins as string matchers, the lists joined with commas, maxAge
 * in seconds; a preflight from another origin goes upstream unless unmatchedPreflights is IGNORE.
 */
function corsPolicy(c: CorsPolicySpec): CorsPolicy {
  return {
    allowOrigins: c.allowOrigins.map((m) => toStringMatch(m)),
    ...(c.allowMethods.length ? { allowMethods: c.allowMethods.join(',') } : {}),
    ...(c.allowHeaders.length ? { allowHeaders: c.allowHeaders.join(',') } : {}),
    ...(c.exposeHeaders.length ? { exposeHeaders: c.exposeHeaders.join(',') } : {}),
    ...(c.maxAgeSeconds !== undefined ? { maxAge: String(c.maxAgeSeconds) } : {}),
    ...(c.allowCredentials !== undefined ? { allowCredentials: c.allowCredentials } : {}),
    forwardNotMatchingPreflights: c.unmatchedPreflights !== 'IGNORE',
  };
}

function faultConfig(f: NonNullable<HttpRouteSpec['fault']>): FaultConfig {
  return { ...(f.delay ? { delay: f.delay } : {}), ...(f.abort ? { abort: f.abort } : {}) };
}

/** Match conditions about the proxy (port, gateways, source workload) are decided now, at config time. */
export function matchAppliesHere(m: Pick<HttpMatchSpec, 'port' | 'gateways' | 'sourceLabels' | 'sourceNamespace'>, vs: VirtualServiceSpec, ctx: RouteContext): boolean {
  if (m.port !== undefined && m.port !== ctx.port) return false;
  if (m.gateways.length && !m.gateways.some((g) => ctx.gateways.has(qualifyGateway(g, vs.meta.namespace)))) return false;
  if (m.sourceLabels && !labelsMatch(m.sourceLabels, ctx.node.labels)) return false;
  if (m.sourceNamespace !== undefined && m.sourceNamespace !== ctx.node.namespace) return false;
  return true;
}

/** `name` → `ns/name` in the VirtualService's namespace; `mesh` stays. */
export function qualifyGateway(ref: string, vsNamespace: string): string {
  if (ref === 'mesh' || ref.includes('/')) return ref;
  const dot = ref.indexOf('.');
  // Istio also accepts `name.namespace.svc.cluster.local`-style references
  if (dot > 0) return `${ref.slice(dot + 1).split('.')[0]}/${ref.slice(0, dot)}`;
  return `${vsNamespace}/${ref}`;
}

function translateMatch(m: HttpMatchSpec | undefined): RouteMatch {
  if (!m) return { path: { prefix: '/' }, headers: [], queryParams: [] };
  const headers: HeaderMatcher[] = [];
  if (m.authority) headers.push({ name: ':authority', match: toStringMatch(m.authority), invert: false });
  if (m.method) headers.push({ name: ':method', match: toStringMatch(m.method), invert: false });
  if (m.scheme) headers.push({ name: ':scheme', match: toStringMatch(m.scheme), invert: false });
  for (const [name, sm] of m.headers) headers.push({ name, ...(sm ? { match: toStringMatch(sm) } : {}), invert: false });
  for (const [name, sm] of m.withoutHeaders) headers.push({ name, ...(sm ? { match: toStringMatch(sm) } : {}), invert: true });
  const queryParams: QueryParamMatcher[] = m.queryParams.map(([name, sm]) => ({ name, ...(sm ? { match: toStringMatch(sm) } : {}) }));
  const path: StringMatch = m.uri ? toStringMatch(m.uri, m.ignoreUriCase) : { prefix: '/' };
  return { path, headers, queryParams };
}

function toStringMatch(s: StringMatchSpec, ignoreCase = false): StringMatch {
  if ('exact' in s) return ignoreCase ? { exact: s.exact, ignoreCase } : { exact: s.exact };
  if ('prefix' in s) return ignoreCase ? { prefix: s.prefix, ignoreCase } : { prefix: s.prefix };
  return { regex: ignoreCase && !s.regex.startsWith('(?i)') ? `(?i)${s.regex}` : s.regex };
}

function translateAction(http: HttpRouteSpec, vs: VirtualServiceSpec, ctx: RouteContext): Pick<Route, 'action' | 'requestHeaders' | 'responseHeaders'> {
  const out: Pick<Route, 'action' | 'requestHeaders' | 'responseHeaders'> = { action: undefined as never };
  const req = mutation(http.headers?.request);
  const res = mutation(http.headers?.response);
  if (req) out.requestHeaders = req;
  if (res) out.responseHeaders = res;
  if (http.redirect) {
    const r = http.redirect;
    out.action = {
      kind: 'redirect',
      responseCode: r.redirectCode ?? 301,
      ...(r.uri !== undefined ? { path: r.uri } : {}),
      ...(r.authority !== undefined ? { host: r.authority } : {}),
      ...(r.scheme !== undefined ? { scheme: r.scheme } : {}),
      ...(r.port !== undefined ? { port: r.port } : {}),
      ...(r.derivePort === 'FROM_REQUEST_PORT' ? { portFromRequest: true } : {}),
    };
    return out;
  }
  if (http.directResponse) {
    out.action = { kind: 'direct_response', status: http.directResponse.status, ...(http.directResponse.body !== undefined ? { body: http.directResponse.body } : {}) };
    return out;
  }
  const single = http.route.length === 1;
  const clusters: WeightedCluster[] = http.route.map((d) => {
    const wc: WeightedCluster = { name: destinationCluster(d.destination, vs, ctx), weight: d.weight ?? (single ? 100 : 0) };
    const dreq = mutation(d.headers?.request);
    const dres = mutation(d.headers?.response);
    if (dreq) wc.requestHeaders = dreq;
    if (dres) wc.responseHeaders = dres;
    return wc;
  });
  if (clusters.every((c) => c.weight === 0)) clusters.forEach((c) => (c.weight = 1)); // Istio treats all-zero as equal
  out.action = {
    kind: 'route',
    clusters,
    ...(http.rewrite?.uri !== undefined ? { prefixRewrite: http.rewrite.uri } : {}),
    ...(http.rewrite?.uriRegexRewrite ? { regexRewrite: { pattern: http.rewrite.uriRegexRewrite.match, substitution: http.rewrite.uriRegexRewrite.rewrite } } : {}),
    ...(http.rewrite?.authority !== undefined ? { hostRewrite: http.rewrite.authority } : {}),
    ...(http.timeoutMs !== undefined ? { timeoutMs: http.timeoutMs } : {}),
  };
  const retryPolicy = retryPolicyFor(http.retries);
  if (retryPolicy) out.action.retryPolicy = retryPolicy;
  // Istio: `mirror` (at mirrorPercentage, else 100%) first, then each of `mirrors`
  const mirrors = [...(http.mirror ? [{ destination: http.mirror, percent: http.mirrorPercent ?? 100 }] : []), ...http.mirrors];
  if (mirrors.length) out.action.mirrors = mirrors.map((m) => ({ cluster: destinationCluster(m.destination, vs, ctx), percent: m.percent }));
  return out;
}

/**
 * The cluster a route destination names: its host resolved in the VirtualService's namespace; its
 * port, else the service's only port, else the port the route serves.
 */
export function destinationCluster(d: DestinationSpec, vs: VirtualServiceSpec, ctx: RouteContext): string {
  const host = resolveHost(d.host, d.namespace ?? vs.meta.namespace, ctx.node.domainSuffix);
  const svc = ctx.services.get(host);
  const port = d.port ?? (svc && svc.ports.length === 1 ? svc.ports[0].number : ctx.port);
  return clusterName('outbound', port, d.subset, host);
}

function mutation(ops: HeaderOpsSpec | undefined): HeaderMutation | undefined {
  if (!ops || (!ops.set.length && !ops.add.length && !ops.remove.length)) return undefined;
  return { set: ops.set, add: ops.add, remove: ops.remove };
}
