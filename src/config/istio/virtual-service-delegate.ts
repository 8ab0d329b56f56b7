/**
 * VirtualService delegation, merged once when the config is loaded, as istiod's
 * mergeVirtualServices does (pilot/pkg/model/virtualservice*.go): a root route with `delegate`
 * becomes the delegate's routes, each under the conjunction of the root's and its own match; a
 * delegate route whose match contradicts the root's is dropped; what a delegate route leaves unset
 * (timeout, retries, headers, …) comes from the root route. Delegates (no hosts) then leave the list.
 */
import { isExportedTo } from './hosts.js';
import type { DestinationSpec, HttpMatchSpec, HttpRouteSpec, StringMatchSpec, VirtualServiceSpec } from './resources.js';
import { qualifyGateway } from './translate-routes.js';
import { describeResource } from './parse.js';

/** Root VirtualServices with their delegations merged, and every other VirtualService as it was. */
export function mergeDelegateVirtualServices(all: readonly VirtualServiceSpec[], warnings: string[]): VirtualServiceSpec[] {
  const delegates = new Map(all.filter(isDelegate).map((d) => [`${d.meta.namespace}/${d.meta.name}`, d]));
  const used = new Set<string>();
  const out: VirtualServiceSpec[] = [];
  for (const vs of all) {
    if (isDelegate(vs)) continue;
    if (!vs.http.some((r) => r.delegate)) {
      out.push(vs);
      continue;
    }
    const http: HttpRouteSpec[] = [];
    for (const route of vs.http) {
      if (!route.delegate) {
        http.push(route);
        continue;
      }
      const ns = route.delegate.namespace ?? vs.meta.namespace;
      const delegate = delegates.get(`${ns}/${route.delegate.name}`);
      used.add(`${ns}/${route.delegate.name}`);
      // istiod skips just this route when its delegate is missing or not exported to the root's namespace
      if (!delegate) warnings.push(`${describeResource(vs.meta)}: delegate VirtualService ${ns}/${route.delegate.name} not found; its route is skipped`);
      else if (!isExportedTo(delegate.exportTo, delegate.meta.namespace, vs.meta.namespace)) {
        warnings.push(`${describeResource(vs.meta)}: delegate VirtualService ${ns}/${route.delegate.name} is not exported to ${vs.meta.namespace}; its route is skipped`);
      } else http.push(...mergeHttpRoutes(route, delegate.http.map((r) => inDelegateNamespace(r, delegate.meta.namespace)), vs.meta.namespace));
    }
    out.push({ ...vs, http });
  }
  for (const [key, d] of delegates) {
    if (!used.has(key)) warnings.push(`${describeResource(d.meta)}: a delegate (no hosts) that no root VirtualService names; unused`);
  }
  return out;
}

function isDelegate(vs: VirtualServiceSpec): boolean {
  return vs.hosts.length === 0;
}

/** A delegate's short host names and gateway names resolve in its own namespace, wherever its routes end up. */
function inDelegateNamespace(r: HttpRouteSpec, namespace: string): HttpRouteSpec {
  const dest = (d: DestinationSpec): DestinationSpec => ({ ...d, namespace: d.namespace ?? namespace });
  return {
    ...r,
    match: r.match.map((m) => ({ ...m, gateways: m.gateways.map((g) => qualifyGateway(g, namespace)) })),
    route: r.route.map((d) => ({ ...d, destination: dest(d.destination) })),
    ...(r.mirror ? { mirror: dest(r.mirror) } : {}),
    mirrors: r.mirrors.map((m) => ({ ...m, destination: dest(m.destination) })),
  };
}

/** istiod's MergeHTTPRoutes: one route per delegate route whose match does not conflict with the root's. */
export function mergeHttpRoutes(root: HttpRouteSpec, delegate: readonly HttpRouteSpec[], rootNamespace: string): HttpRouteSpec[] {
  const out: HttpRouteSpec[] = [];
  const rootMatch = root.match.map((m) => ({ ...m, gateways: m.gateways.map((g) => qualifyGateway(g, rootNamespace)) }));
  for (const d of delegate) {
    const match = mergeHttpMatchRequests(rootMatch, d.match);
    if (match) out.push(mergeHttpRoute(root, d, match));
  }
  return out;
}

function mergeHttpRoute(root: HttpRouteSpec, d: HttpRouteSpec, match: HttpMatchSpec[]): HttpRouteSpec {
  const name = d.name === undefined ? root.name : root.name !== undefined ? `${root.name}-${d.name}` : d.name;
  return {
    ...d,
    name,
    match,
    rewrite: d.rewrite ?? root.rewrite,
    directResponse: d.directResponse ?? root.directResponse,
    timeoutMs: d.timeoutMs ?? root.timeoutMs,
    retries: d.retries ?? root.retries,
    fault: d.fault ?? root.fault,
    // mirror, its percentage and mirrors are inherited one by one
    mirror: d.mirror ?? root.mirror,
    mirrorPercent: d.mirrorPercent ?? root.mirrorPercent,
    mirrors: d.mirrors.length ? d.mirrors : root.mirrors,
    headers: d.headers ?? root.headers,
    ...(d.corsPolicy ?? root.corsPolicy ? { corsPolicy: d.corsPolicy ?? root.corsPolicy } : {}),
  };
}

/**
 * istiod's mergeHTTPMatchRequests: every delegate match is combined with each root match it does
 * not conflict with; a delegate match that fits no root match drops the whole route (undefined).
 */
export function mergeHttpMatchRequests(root: readonly HttpMatchSpec[], delegate: readonly HttpMatchSpec[]): HttpMatchSpec[] | undefined {
  if (root.length === 0) return [...delegate];
  if (delegate.length === 0) return [...root];
  const out: HttpMatchSpec[] = [];
  for (const leaf of delegate) {
    let found = false;
    for (const r of root) {
      if (hasConflict(r, leaf)) continue;
      out.push(mergeHttpMatchRequest(r, leaf));
      found = true;
    }
    if (!found) return undefined;
  }
  return out.length ? out : undefined;
}

function mergeHttpMatchRequest(root: HttpMatchSpec, leaf: HttpMatchSpec): HttpMatchSpec {
  const name = leaf.name === undefined ? root.name : root.name !== undefined ? `${root.name}-${leaf.name}` : leaf.name;
  const sourceLabels = root.sourceLabels || leaf.sourceLabels ? { ...root.sourceLabels, ...leaf.sourceLabels } : undefined;
  return {
    ...leaf,
    name,
    uri: leaf.uri ?? root.uri,
    scheme: leaf.scheme ?? root.scheme,
    method: leaf.method ?? root.method,
    authority: leaf.authority ?? root.authority,
    headers: mergeEntries(root.headers, leaf.headers),
    withoutHeaders: mergeEntries(root.withoutHeaders, leaf.withoutHeaders),
    queryParams: mergeEntries(root.queryParams, leaf.queryParams),
    port: leaf.port ?? root.port,
    sourceLabels,
    sourceNamespace: leaf.sourceNamespace ?? root.sourceNamespace,
    gateways: leaf.gateways.length ? leaf.gateways : root.gateways,
  };
}

/** Map union, the delegate's entry winning on the same key. */
function mergeEntries<T>(root: readonly [string, T][], leaf: readonly [string, T][]): [string, T][] {
  const keys = new Set(leaf.map(([k]) => k));
  return [...root.filter(([k]) => !keys.has(k)), ...leaf];
}

/** A header entry's match: absent (undefined), or a StringMatch that may be empty (`{}`, a presence match). */
type EntryMatch = StringMatchSpec | Record<string, never> | undefined;

function entry(list: readonly [string, StringMatchSpec | undefined][], key: string): EntryMatch {
  const e = list.find(([k]) => k === key);
  return e ? (e[1] ?? {}) : undefined;
}

/** istiod's hasConflict: can a request satisfy both the root's match and the delegate's? (conservatively) */
export function hasConflict(root: HttpMatchSpec, leaf: HttpMatchSpec): boolean {
  for (const k of ['uri', 'scheme', 'method', 'authority'] as const) if (stringMatchConflict(root[k], leaf[k])) return true;
  for (const [k, m] of leaf.headers) if (stringMatchConflict(entry(root.headers, k), m ?? {})) return true;
  for (const [k, m] of leaf.withoutHeaders) if (stringMatchConflict(entry(root.withoutHeaders, k), m ?? {})) return true;
  for (const [k, m] of leaf.queryParams) if (stringMatchConflict(entry(root.queryParams, k), m ?? {})) return true;
  if (root.ignoreUriCase !== leaf.ignoreUriCase) return true;
  if (root.port !== undefined && leaf.port !== undefined && root.port !== leaf.port) return true;
  if (root.sourceNamespace !== undefined && root.sourceNamespace !== '' && leaf.sourceNamespace !== root.sourceNamespace) return true;
  for (const [k, v] of Object.entries(leaf.sourceLabels ?? {})) if (root.sourceLabels && k in root.sourceLabels && root.sourceLabels[k] !== v) return true;
  // the root's gateways must include all of the delegate's
  if (root.gateways.length && leaf.gateways.length && !leaf.gateways.every((g) => root.gateways.includes(g))) return true;
  return false;
}

/** Empty strings count as unset, as protobuf getters read them. */
function value(m: EntryMatch, k: 'exact' | 'prefix' | 'regex'): string {
  return m && k in m ? ((m as Record<string, string>)[k] ?? '') : '';
}

/**
 * istiod's stringMatchConflict: a regex only combines with nothing; an exact root needs the same
 * exact; a prefix root needs a prefix or exact under it; anything else conflicts.
 */
function stringMatchConflict(root: EntryMatch, leaf: EntryMatch): boolean {
  if (root === undefined || leaf === undefined) return false;
  const [rRegex, rExact, rPrefix] = [value(root, 'regex'), value(root, 'exact'), value(root, 'prefix')];
  const [lRegex, lExact, lPrefix] = [value(leaf, 'regex'), value(leaf, 'exact'), value(leaf, 'prefix')];
  if (rRegex && (lRegex || lPrefix || lExact)) return true;
  if (lRegex && (rRegex || rPrefix || rExact)) return true;
  if (rExact) return lPrefix !== '' || lExact !== rExact;
  if (rPrefix) {
    if (lPrefix) return !lPrefix.startsWith(rPrefix);
    if (lExact) return !lExact.startsWith(rPrefix);
  }
  return true;
}
