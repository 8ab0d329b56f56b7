/**
 * The HTTP part of an explanation, in the connection manager's order (http/active-stream.ts): the
 * request headers prepared, the path normalized, the virtual host and route, each HTTP filter's
 * explain (its factory's, over the compiled config), then the router: its action, rewrites,
 * policies, and per destination cluster the endpoints and the pick.
 */
import type { HeaderMatcher, QueryParamMatcher, RouteMatch, StringMatch } from '../config/snapshot.js';
import { istioConfigName } from '../config/envoy/istio-config-path.js';
import { httpFilterFactories } from '../filters/http/registry.js';
import type { ConnectionInfo, ExplainStream, ExplainedReply, StreamInfo } from '../http/filter.js';
import { RequestHeaderMap } from '../http/header-map.js';
import { prepareRequestHeaders } from '../http/proxy-headers.js';
import { describeHeaderMutation, getFromList, mutateHeaderList } from '../router/headers.js';
import { requestHashKey } from '../router/hash-key.js';
import { RequestView } from '../router/request-view.js';
import { RouteTable, type CompiledRoute } from '../router/route-table.js';
import { authorityAddress, redirectLocation } from '../router/router.js';
import { effectiveTimeout } from '../router/timeout.js';
import { LOCAL_REPLIES, type LocalCause } from '../router/upstream-errors.js';
import { hash32 } from '../upstream/hash-lb.js';
import type { HttpPipeline, Runtime } from '../worker/runtime.js';
import { explainCluster, type ClusterExplanation } from './cluster.js';
import type { ChainChoice } from './connection.js';
import type { Outcome, OutcomeShares } from './outcome.js';
import type { ExplainRequest } from './request.js';

export interface FilterStep {
  readonly name: string;
  readonly notes: readonly string[];
  readonly reply?: ExplainedReply;
  readonly decidedElsewhere?: string;
}

export interface HttpExplanation {
  /** The connection manager's stat prefix and route configuration. */
  readonly connectionManager: string;
  readonly routeConfig: string;
  /** :authority and :path as routing sees them (normalized). */
  readonly authority: string;
  readonly path: string;
  readonly virtualHost?: { readonly name: string; readonly domains: readonly string[] };
  readonly route?: {
    readonly name: string;
    /** Its place among the virtual host's routes (first match wins). */
    readonly index: number;
    /** The VirtualService that made it (`ns/name`). */
    readonly source?: string;
    readonly match: string;
  };
  readonly filters: readonly FilterStep[];
  readonly router?: RouterExplanation;
}

export interface RouterExplanation {
  readonly action: string;
  readonly notes: readonly string[];
  readonly clusters: readonly ClusterExplanation[];
}

/** Explains the request through the chain's connection manager; outcomes go into `shares`. */
export async function explainHttp(rt: Runtime, pipeline: HttpPipeline, choice: ChainChoice, req: ExplainRequest, shares: OutcomeShares): Promise<HttpExplanation> {
  const hcm = pipeline.hcm;
  const head = { connectionManager: hcm.statPrefix, routeConfig: hcm.routeConfigName };
  const scheme = choice.secure ? 'https' : 'http';
  const downstreamHeaders = ['host', req.authority.toLowerCase()];
  for (const [name, value] of req.headers) downstreamHeaders.push(name, value);
  const request = new RequestHeaderMap(req.method, req.path, '', []);
  const prepared = prepareRequestHeaders(
    { headers: downstreamHeaders, scheme, remoteAddress: req.sourceIp, ...(choice.peer ? { peer: choice.peer } : {}) },
    hcm,
    rt.services.tls?.workloadIdentity,
    request.list,
  );
  request.authority = prepared.authority;
  const streamInfo: StreamInfo = { startTimeMs: Date.now(), responseFlags: [], downstreamRemoteAddress: prepared.clientAddress ?? req.sourceIp };
  if (pipeline.normalizePath) {
    const p = pipeline.normalizePath(request.path);
    if (typeof p !== 'string') {
      shares.settle({ status: p.status, by: 'path normalization', summary: `the path ${req.path} is refused by path normalization` });
      return { ...head, authority: request.authority, path: request.path, filters: [] };
    }
    request.path = p;
  }
  const view = new RequestView(req.method, request.path, request.authority, scheme, downstreamHeaders);
  const vh = pipeline.routes.findVirtualHost(request.authority);
  const route = vh && RouteTable.findRoute(vh, view);
  const out = {
    ...head,
    authority: request.authority,
    path: request.path,
    ...(vh ? { virtualHost: { name: vh.name, domains: vh.domains } } : {}),
    ...(vh && route ? { route: { name: route.name, index: vh.routes.indexOf(route), ...(route.config.source ? { source: istioConfigName(route.config.source) } : {}), match: describeMatch(route.config.match) } } : {}),
  };
  const connection: ConnectionInfo = {
    remoteAddress: req.sourceIp,
    remotePort: 40000,
    scheme,
    protocol: req.protocol,
    localAddress: choice.destination.address,
    localPort: choice.destination.port,
    ...(choice.originalDestination ? { originalDestination: choice.originalDestination } : {}),
    ...(choice.peer ? { peer: choice.peer } : {}),
  };
  const metadata: Record<string, unknown> = {};
  const filters: FilterStep[] = [];
  for (const entry of pipeline.filters) {
    const factory = httpFilterFactories.get(entry.name);
    if (!factory?.explain || entry.config === undefined) {
      filters.push({ name: entry.name, notes: ['runs; explain cannot tell what it does'] });
      continue;
    }
    const stream: ExplainStream = {
      request, connection, streamInfo, route, metadata,
      perRouteConfig: <T>() => route?.typedPerFilterConfig?.get(entry.name) as T | undefined,
    };
    const e = await factory.explain(entry.config as object, stream);
    filters.push({ name: entry.name, ...e });
    if (e.reply) {
      const r = e.reply;
      shares.stop(r.percent, { status: r.status, ...(r.flag ? { flag: r.flag } : {}), ...(r.details ? { details: r.details } : {}), by: entry.name, summary: `${entry.name} answers ${r.status}` });
    }
    if (e.decidedElsewhere) shares.settle({ by: entry.name, summary: `decided by ${e.decidedElsewhere}` });
    if (shares.done) return { ...out, filters };
  }
  const router = explainRouter(rt, route, request, view, downstreamHeaders, streamInfo.downstreamRemoteAddress, choice, shares);
  return { ...out, filters, router };
}

/** The router, the terminal filter: what it does with the request that reached it. */
function explainRouter(
  rt: Runtime,
  route: CompiledRoute | undefined,
  request: RequestHeaderMap,
  view: RequestView,
  downstreamHeaders: readonly string[],
  clientAddress: string,
  choice: ChainChoice,
  shares: OutcomeShares,
): RouterExplanation {
  if (!route) {
    shares.settle(localReply('route_not_found', 'router', 'no route matches: 404 NR'));
    return { action: 'no route', notes: [], clusters: [] };
  }
  const action = route.action;
  if (action.kind === 'redirect') {
    const location = redirectLocation(action, request.authority, request.path);
    shares.settle({ status: action.responseCode, by: 'router', summary: `redirect ${action.responseCode} to ${location}` });
    return { action: 'redirect', notes: [`location: ${location}`], clusters: [] };
  }
  if (action.kind === 'direct_response') {
    shares.settle({ status: action.status, by: 'router', summary: `direct response ${action.status}` });
    return { action: 'direct response', notes: action.body ? [`body: ${action.body.slice(0, 200)}`] : [], clusters: [] };
  }
  const notes: string[] = [];
  const path = route.rewritePath ? route.rewritePath(request.path) : request.path;
  if (path !== request.path) notes.push(`path rewritten to ${path} (x-envoy-original-path: ${request.path})`);
  if (action.hostRewrite !== undefined) notes.push(`host rewritten to ${action.hostRewrite}`);
  const headers = [...request.list];
  if (route.requestHeaders) mutateHeaderList(headers, route.requestHeaders);
  const edits = describeHeaderMutation(route.requestHeaders);
  if (edits) notes.push(`request headers: ${edits}`);
  const grpcTimeout = getFromList(downstreamHeaders, 'grpc-timeout');
  const timeoutMs = effectiveTimeout(route.timeoutMs, grpcTimeout);
  notes.push(timeoutMs ? `timeout ${timeoutMs} ms${grpcTimeout ? ' (grpc-timeout)' : ''}: 504 UT after it` : 'no route timeout');
  const retry = route.retry?.policy;
  notes.push(retry ? `retries: ${retry.numRetries} on ${retry.retryOn.join(',')}${retry.perTryTimeoutMs ? `, ${retry.perTryTimeoutMs} ms per try` : ''}` : 'no retries');
  for (const m of action.mirrors ?? []) notes.push(`mirrored to ${m.cluster} for ${m.percent}% of requests (host + "-shadow"; the answer is dropped)`);
  const hashKey = action.hashPolicy ? requestHashKey(action.hashPolicy, downstreamHeaders, clientAddress, view) : undefined;
  if (action.hashPolicy) notes.push(hashKey === undefined ? 'consistent hash: no key in this request, a random host' : `consistent hash key ${JSON.stringify(hashKey)}`);
  const hash = hashKey === undefined ? undefined : hash32(hashKey);
  const total = action.clusters.reduce((s, c) => s + c.weight, 0) || 1;
  const parts: { percent: number; outcome: Outcome }[] = [];
  const clusters = action.clusters.map((wc) => {
    const runtime = rt.clusters.get(wc.name);
    // the router's: the original destination, else (no capture) the authority
    const dest = runtime?.config.type === 'ORIGINAL_DST' ? choice.originalDestination ?? authorityAddress(request.authority) : undefined;
    const e = explainCluster(wc.name, wc.weight, runtime, dest, hash);
    const percent = (wc.weight * 100) / total;
    if (!e.exists) parts.push({ percent, outcome: localReply('cluster_not_found', 'router', `cluster ${wc.name} not found: 503 NC`) });
    else if (!e.picked) parts.push({ percent, outcome: localReply('no_healthy_upstream', 'router', `no healthy host in ${wc.name}: 503 UH`) });
    else parts.push({ percent, outcome: { by: 'router', cluster: wc.name, host: e.picked, summary: `proxied to ${wc.name}, host ${e.picked}` } });
    return e;
  });
  shares.split(parts);
  return { action: 'route', notes, clusters };
}

function localReply(cause: LocalCause, by: string, summary: string): Outcome {
  const r = LOCAL_REPLIES[cause];
  return { status: r.status, ...(r.flag ? { flag: r.flag } : {}), details: r.details, by, summary };
}

/** A route's match in words: `prefix /api, header end-user exact jason`. */
export function describeMatch(m: RouteMatch): string {
  return [`path ${describeString(m.path)}`, ...m.headers.map(describeHeader), ...m.queryParams.map(describeQuery)].join(', ');
}

function describeString(m: StringMatch): string {
  const [[kind, value]] = Object.entries(m).filter(([k]) => k !== 'ignoreCase');
  return `${kind} ${value}${'ignoreCase' in m && m.ignoreCase ? ' (any case)' : ''}`;
}

function describeHeader(h: HeaderMatcher): string {
  return `header ${h.name}${h.invert ? ' not' : ''} ${h.match ? describeString(h.match) : 'present'}`;
}

function describeQuery(q: QueryParamMatcher): string {
  return `query ${q.name} ${q.match ? describeString(q.match) : 'present'}`;
}
