/**
 * Snapshot route configurations as Envoy's envoy.config.route.v3.RouteConfiguration JSON (the
 * inverse of decode/route-configuration.ts), with istiod's route metadata (the VirtualService).
 */
import type {
  CorsPolicy, FaultConfig, HashPolicy, HeaderMutation, RedirectAction, RetryPolicy, Route, RouteAction, RouteConfiguration, StringMatch, VirtualHost,
} from '../../snapshot.js';
import { CORS_FILTER, FAULT_FILTER } from '../http-filters.js';
import { LOCAL_RATELIMIT_FILTER } from '../local-ratelimit.js';
import { any, envoyJson, headerMatcher, istioConfigMetadata, stringMatcher, type Json } from './values.js';
import { formatDurationMs } from '../../duration.js';

export function encodeRouteConfiguration(rc: RouteConfiguration): Json {
  return {
    name: rc.name,
    virtual_hosts: rc.virtualHosts.map(virtualHost),
    validate_clusters: false,
    ...(rc.ignorePortInHostMatching ? { ignore_port_in_host_matching: true } : {}),
  };
}

function virtualHost(vh: VirtualHost): Json {
  return {
    name: vh.name,
    domains: vh.domains,
    routes: vh.routes.map(route),
    ...(vh.typedPerFilterConfig ? { typed_per_filter_config: perFilter(vh.typedPerFilterConfig) } : {}),
    ...(vh.rateLimits?.length ? { rate_limits: envoyJson(vh.rateLimits) } : {}),
    include_request_attempt_count: true,
  };
}

function route(r: Route): Json {
  const a = r.action;
  const action = a.kind === 'route' ? { route: routeAction(a) } : a.kind === 'redirect' ? { redirect: redirect(a) } : { direct_response: { status: a.status, ...(a.body !== undefined ? { body: { inline_string: a.body } } : {}) } };
  return {
    ...(r.name ? { name: r.name } : {}),
    match: match(r),
    ...action,
    ...istioConfigMetadata(r.source),
    ...(r.decorator ? { decorator: { operation: r.decorator.operation, ...(r.decorator.propagate === false ? { propagate: false } : {}) } } : {}),
    ...(r.typedPerFilterConfig ? { typed_per_filter_config: perFilter(r.typedPerFilterConfig) } : {}),
    ...headerMutation('request', r.requestHeaders),
    ...headerMutation('response', r.responseHeaders),
  };
}

function match(r: Route): Json {
  const p = r.match.path;
  const ignoreCase = 'ignoreCase' in p && p.ignoreCase;
  const path = 'prefix' in p ? { prefix: p.prefix } : 'exact' in p ? { path: p.exact } : { safe_regex: { regex: 'regex' in p ? p.regex : regexOf(p) } };
  return {
    ...path,
    ...(ignoreCase ? { case_sensitive: false } : {}),
    ...(r.match.headers.length ? { headers: r.match.headers.map(headerMatcher) } : {}),
    ...(r.match.queryParams.length ? { query_parameters: r.match.queryParams.map((q) => ({ name: q.name, ...(q.match ? { string_match: stringMatcher(q.match) } : { present_match: true }) })) } : {}),
  };
}

/** A suffix or contains path match, which Envoy's path_specifier lacks, as the equivalent regex. */
function regexOf(m: StringMatch): string {
  const quote = (s: string) => s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
  if ('suffix' in m) return `.*${quote(m.suffix)}`;
  if ('contains' in m) return `.*${quote(m.contains)}.*`;
  return '.*';
}

function routeAction(a: RouteAction): Json {
  const clusters = a.clusters.length === 1 && !a.clusters[0].requestHeaders && !a.clusters[0].responseHeaders
    ? { cluster: a.clusters[0].name }
    : { weighted_clusters: { clusters: a.clusters.map((c) => ({ name: c.name, weight: c.weight, ...headerMutation('request', c.requestHeaders), ...headerMutation('response', c.responseHeaders) })) } };
  return {
    ...clusters,
    timeout: formatDurationMs(a.timeoutMs ?? 0),
    ...(a.retryPolicy ? { retry_policy: retryPolicy(a.retryPolicy) } : {}),
    ...(a.prefixRewrite !== undefined ? { prefix_rewrite: a.prefixRewrite } : {}),
    ...(a.regexRewrite ? { regex_rewrite: { pattern: { regex: a.regexRewrite.pattern }, substitution: a.regexRewrite.substitution } } : {}),
    ...(a.hostRewrite !== undefined ? { host_rewrite_literal: a.hostRewrite } : {}),
    ...(a.mirrors?.length ? { request_mirror_policies: a.mirrors.map((m) => ({ cluster: m.cluster, runtime_fraction: { default_value: { numerator: Math.round(m.percent * 10_000), denominator: 'MILLION' } } })) } : {}),
    ...(a.hashPolicy ? { hash_policy: [hashPolicy(a.hashPolicy)] } : {}),
    ...(a.upgrades ? { upgrade_configs: Object.entries(a.upgrades).map(([upgrade_type, enabled]) => ({ upgrade_type, enabled })) } : {}),
    ...(a.rateLimits?.length ? { rate_limits: envoyJson(a.rateLimits) } : {}),
    max_stream_duration: { max_stream_duration: '0s', grpc_timeout_header_max: '0s' },
  };
}

function retryPolicy(p: RetryPolicy): Json {
  return {
    retry_on: p.retryOn.join(','),
    num_retries: p.numRetries,
    ...(p.perTryTimeoutMs ? { per_try_timeout: formatDurationMs(p.perTryTimeoutMs) } : {}),
    ...(p.retriableStatusCodes.length ? { retriable_status_codes: p.retriableStatusCodes } : {}),
    ...(p.retryPreviousHosts ? { retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: any('envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate', {}) }] } : {}),
    host_selection_retry_max_attempts: String(p.hostSelectionRetryMaxAttempts),
    ...(p.retryOtherPriorities
      ? { retry_priority: { name: 'envoy.retry_priorities.previous_priorities', typed_config: any('envoy.config.retry.previous_priorities.PreviousPrioritiesConfig', { update_frequency: 2 }) } }
      : {}),
    retry_back_off: { base_interval: formatDurationMs(p.backoffBaseMs), max_interval: formatDurationMs(p.backoffMaxMs) },
  };
}

function hashPolicy(h: HashPolicy): Json {
  if ('header' in h) return { header: { header_name: h.header } };
  if ('cookie' in h) return { cookie: { name: h.cookie.name, ...(h.cookie.path ? { path: h.cookie.path } : {}), ...(h.cookie.ttlMs !== undefined ? { ttl: formatDurationMs(h.cookie.ttlMs) } : {}) } };
  if ('sourceIp' in h) return { connection_properties: { source_ip: true } };
  return { query_parameter: { name: h.queryParameter } };
}

const REDIRECT_CODES: Record<number, string> = { 301: 'MOVED_PERMANENTLY', 302: 'FOUND', 303: 'SEE_OTHER', 307: 'TEMPORARY_REDIRECT', 308: 'PERMANENT_REDIRECT' };

function redirect(r: RedirectAction): Json {
  return {
    ...(r.scheme ? { scheme_redirect: r.scheme } : {}),
    ...(r.host ? { host_redirect: r.host } : {}),
    ...(r.port ? { port_redirect: r.port } : {}),
    ...(r.path !== undefined ? { path_redirect: r.path } : {}),
    response_code: REDIRECT_CODES[r.responseCode] ?? 'MOVED_PERMANENTLY',
  };
}

function headerMutation(side: 'request' | 'response', m: HeaderMutation | undefined): Json {
  if (!m) return {};
  const add = [
    ...m.set.map(([key, value]) => ({ header: { key, value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })),
    ...m.add.map(([key, value]) => ({ header: { key, value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' })),
  ];
  return { ...(add.length ? { [`${side}_headers_to_add`]: add } : {}), ...(m.remove.length ? { [`${side}_headers_to_remove`]: m.remove } : {}) };
}

/** typed_per_filter_config: each filter's route config as its Envoy message. */
function perFilter(configs: Record<string, unknown>): Json {
  const out: Json = {};
  for (const [name, config] of Object.entries(configs)) {
    if (name === FAULT_FILTER) out[name] = any('envoy.extensions.filters.http.fault.v3.HTTPFault', fault(config as FaultConfig));
    else if (name === CORS_FILTER) out[name] = any('envoy.extensions.filters.http.cors.v3.CorsPolicy', cors(config as CorsPolicy));
    else if (name === LOCAL_RATELIMIT_FILTER) out[name] = any('envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit', envoyJson(config) as Json);
    else out[name] = envoyJson(config);
  }
  return out;
}

function percentage(percent: number): Json {
  return { numerator: Math.round(percent * 10_000), denominator: 'MILLION' };
}

function fault(f: FaultConfig): Json {
  return {
    ...(f.delay ? { delay: { fixed_delay: formatDurationMs(f.delay.fixedDelayMs), percentage: percentage(f.delay.percent) } } : {}),
    ...(f.abort
      ? { abort: { ...(f.abort.grpcStatus !== undefined ? { grpc_status: f.abort.grpcStatus } : { http_status: f.abort.httpStatus }), percentage: percentage(f.abort.percent) } }
      : {}),
  };
}

function cors(c: CorsPolicy): Json {
  return {
    allow_origin_string_match: c.allowOrigins.map(stringMatcher),
    ...(c.allowMethods ? { allow_methods: c.allowMethods } : {}),
    ...(c.allowHeaders ? { allow_headers: c.allowHeaders } : {}),
    ...(c.exposeHeaders ? { expose_headers: c.exposeHeaders } : {}),
    ...(c.maxAge ? { max_age: c.maxAge } : {}),
    ...(c.allowCredentials ? { allow_credentials: true } : {}),
    forward_not_matching_preflights: c.forwardNotMatchingPreflights,
  };
}
