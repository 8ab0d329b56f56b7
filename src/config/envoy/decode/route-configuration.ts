/**
 * envoy.config.route.v3.RouteConfiguration (RDS, or inline in a connection manager) in the plain
 * form → the Snapshot's RouteConfiguration. What changes where a request may go, or who is let
 * through, and that the router does not do is refused; what only concerns observability is accepted
 * with a warning. Virtual-host and route-configuration header mutations and the virtual host's retry
 * policy are folded into each route, where the router applies them.
 */
import type {
  CorsPolicy, DirectResponseAction, FaultConfig, HashPolicy, HeaderMatcher, HeaderMutation, QueryParamMatcher, RedirectAction, RetryPolicy, Route, RouteAction,
  RouteConfiguration, RouteMatch, StringMatch, VirtualHost, WeightedCluster,
} from '../../snapshot.js';
import { CORS_FILTER, FAULT_FILTER } from '../http-filters.js';
import { durationMs, structToJs, wrapped } from '../proto/values.js';
import { fieldPath, resourceError, type DecodeContext, type ResourceRef } from './context.js';
import { checkFields, type FieldPolicy } from './fields.js';
import { decodeHeaderMutation, mergeHeaderMutations } from './headers.js';
import { decodeHeaderMatcher, decodeRegex, decodeStringMatcher } from './matchers.js';
import { typedConfigOf, typedMessage } from './typed-config.js';
import { decodeLocalRateLimit, decodeRateLimits, LOCAL_RATE_LIMIT_TYPE } from './local-ratelimit.js';
import { LOCAL_RATELIMIT_FILTER } from '../local-ratelimit.js';

type Msg = Record<string, any>;

/** Envoy's retry back-off base when retry_back_off is unset; the max defaults to 10 × the base. */
const DEFAULT_BACKOFF_BASE_MS = 25;

const HEADERS = ['request_headers_to_add', 'request_headers_to_remove', 'response_headers_to_add', 'response_headers_to_remove'];


const ROUTE_CONFIGURATION: FieldPolicy = {
  type: 'envoy.config.route.v3.RouteConfiguration',
  // validate_clusters: istiod sets false, what Outrigger does (a route to an unknown cluster answers 503 NC)
  reads: ['name', 'virtual_hosts', 'ignore_port_in_host_matching', 'validate_clusters', ...HEADERS],
  ignored: {
    max_direct_response_body_size_bytes: 'direct response bodies are inline',
    metadata: 'route configuration metadata is not used',
  },
  refused: { vhds: 'VHDS is not supported', most_specific_header_mutations_wins: 'header mutations apply route first, then virtual host, then route configuration' },
};

const VIRTUAL_HOST: FieldPolicy = {
  type: 'envoy.config.route.v3.VirtualHost',
  // include_request_attempt_count: the router always sends x-envoy-attempt-count upstream (istiod asks for it)
  reads: ['name', 'domains', 'routes', 'require_tls', 'typed_per_filter_config', 'retry_policy', 'include_request_attempt_count', 'cors', 'rate_limits', ...HEADERS],
  ignored: {
    include_attempt_count_in_response: 'not sent to the client',
    include_is_timeout_retry_header: 'not sent upstream',
    virtual_clusters: 'virtual cluster stats are not kept',
    per_request_buffer_limit_bytes: 'the stream buffer limit is 1 MiB',
    metadata: 'virtual host metadata is not used',
  },
};

const ROUTE: FieldPolicy = {
  type: 'envoy.config.route.v3.Route',
  // decorator: the operation name of the route's spans (istiod sets one on every route)
  reads: ['name', 'match', 'route', 'redirect', 'direct_response', 'typed_per_filter_config', 'metadata', 'decorator', ...HEADERS],
  ignored: {
    tracing: 'per-route sampling overrides are not applied (the connection manager\'s sampling is)',
    per_request_buffer_limit_bytes: 'the stream buffer limit is 1 MiB',
    stat_prefix: 'per-route stats are not kept',
  },
};

const ROUTE_MATCH: FieldPolicy = {
  type: 'envoy.config.route.v3.RouteMatch',
  reads: ['prefix', 'path', 'safe_regex', 'path_separated_prefix', 'case_sensitive', 'runtime_fraction', 'headers', 'query_parameters', 'grpc'],
  refused: { connect_matcher: 'CONNECT termination (HBONE) is not supported' },
};

const ROUTE_ACTION: FieldPolicy = {
  type: 'envoy.config.route.v3.RouteAction',
  reads: [
    'cluster', 'weighted_clusters', 'cluster_not_found_response_code', 'prefix_rewrite', 'regex_rewrite', 'host_rewrite_literal', 'timeout', 'idle_timeout',
    'retry_policy', 'request_mirror_policies', 'priority', 'hash_policy', 'max_grpc_timeout', 'upgrade_configs', 'max_stream_duration', 'cors', 'rate_limits',
  ],
  ignored: { grpc_timeout_offset: 'grpc-timeout is honoured as sent' },
  refused: {
    cluster_header: 'cluster_header is not supported (the client would choose the cluster)',
    include_vh_rate_limits: 'include_vh_rate_limits is deprecated (the filter\'s vh_rate_limits decides)',
  },
};

const RETRY_POLICY: FieldPolicy = {
  type: 'envoy.config.route.v3.RetryPolicy',
  reads: ['retry_on', 'num_retries', 'per_try_timeout', 'retry_priority', 'retry_host_predicate', 'host_selection_retry_max_attempts', 'retriable_status_codes', 'retry_back_off'],
};

const CLUSTER_WEIGHT: FieldPolicy = { type: 'envoy.config.route.v3.WeightedCluster.ClusterWeight', reads: ['name', 'weight', ...HEADERS] };
const WEIGHTED_CLUSTER: FieldPolicy = { type: 'envoy.config.route.v3.WeightedCluster', reads: ['clusters'], ignored: { total_weight: 'deprecated: the weights are relative' } };
// trace_sampled: istiod sets false; a mirror is never traced here
const MIRROR: FieldPolicy = { type: 'envoy.config.route.v3.RouteAction.RequestMirrorPolicy', reads: ['cluster', 'runtime_fraction', 'trace_sampled'] };
const REDIRECT: FieldPolicy = { type: 'envoy.config.route.v3.RedirectAction', reads: ['https_redirect', 'scheme_redirect', 'host_redirect', 'port_redirect', 'path_redirect', 'response_code'] };
const CORS_FIELDS = ['allow_origin_string_match', 'allow_methods', 'allow_headers', 'expose_headers', 'max_age', 'allow_credentials', 'filter_enabled', 'forward_not_matching_preflights'];
const CORS_IGNORED = { shadow_enabled: 'CORS is not evaluated in shadow mode' };
const CORS_POLICY: FieldPolicy = { type: 'envoy.extensions.filters.http.cors.v3.CorsPolicy', reads: CORS_FIELDS, ignored: CORS_IGNORED };
const ROUTE_CORS_POLICY: FieldPolicy = { type: 'envoy.config.route.v3.CorsPolicy', reads: CORS_FIELDS, ignored: CORS_IGNORED };
const MAX_STREAM_DURATION: FieldPolicy = { type: 'envoy.config.route.v3.RouteAction.MaxStreamDuration', reads: ['max_stream_duration', 'grpc_timeout_header_max', 'grpc_timeout_header_offset'] };

export function decodeRouteConfiguration(m: Msg, ctx: DecodeContext, ref: ResourceRef = { kind: 'RouteConfiguration', name: m.name ?? '' }, field = ''): RouteConfiguration {
  const at = (k: string) => fieldPath(field, k);
  checkFields(m, ROUTE_CONFIGURATION, ref, field, ctx);
  if (m.validate_clusters?.value) ctx.warn(`${ref.kind} ${ref.name}: ${at('validate_clusters')}: clusters are not validated here (a route to an unknown cluster answers 503 NC)`);
  const headers = {
    request: decodeHeaderMutation(m.request_headers_to_add, m.request_headers_to_remove, ref, field, 'request_headers_to_add', 'request_headers_to_remove'),
    response: decodeHeaderMutation(m.response_headers_to_add, m.response_headers_to_remove, ref, field, 'response_headers_to_add', 'response_headers_to_remove'),
  };
  const virtualHosts = ((m.virtual_hosts ?? []) as Msg[]).map((v, i) => decodeVirtualHost(v, headers, ctx, ref, fieldPath(at('virtual_hosts'), i)));
  return { name: m.name ?? '', virtualHosts, ...(m.ignore_port_in_host_matching ? { ignorePortInHostMatching: true } : {}) };
}

interface Enclosing {
  request?: HeaderMutation;
  response?: HeaderMutation;
  retryPolicy?: RetryPolicy;
}

function decodeVirtualHost(v: Msg, outer: Enclosing, ctx: DecodeContext, ref: ResourceRef, field: string): VirtualHost {
  const at = (k: string) => fieldPath(field, k);
  checkFields(v, VIRTUAL_HOST, ref, field, ctx);
  if (v.require_tls && v.require_tls !== 'NONE') throw resourceError(ref, at('require_tls'), `require_tls ${v.require_tls} is not supported`);
  if (!v.domains?.length) throw resourceError(ref, at('domains'), 'a virtual host needs domains');
  const enclosing: Enclosing = {
    request: mergeHeaderMutations(decodeHeaderMutation(v.request_headers_to_add, v.request_headers_to_remove, ref, field, 'request_headers_to_add', 'request_headers_to_remove'), outer.request),
    response: mergeHeaderMutations(decodeHeaderMutation(v.response_headers_to_add, v.response_headers_to_remove, ref, field, 'response_headers_to_add', 'response_headers_to_remove'), outer.response),
    ...(v.retry_policy ? { retryPolicy: decodeRetryPolicy(v.retry_policy, ctx, ref, at('retry_policy')) } : {}),
  };
  const routes = ((v.routes ?? []) as Msg[]).map((r, i) => decodeRoute(r, enclosing, ctx, ref, fieldPath(at('routes'), i)));
  const perFilter = withLegacyCors(decodePerFilterConfigs(v.typed_per_filter_config, ctx, ref, at('typed_per_filter_config')), v.cors, ctx, ref, at('cors'));
  const rateLimits = decodeRateLimits(v.rate_limits, ctx, ref, at('rate_limits'));
  return { name: v.name ?? '', domains: v.domains, routes, ...(perFilter ? { typedPerFilterConfig: perFilter } : {}), ...(rateLimits ? { rateLimits } : {}) };
}

function decodeRoute(r: Msg, outer: Enclosing, ctx: DecodeContext, ref: ResourceRef, field: string): Route {
  const at = (k: string) => fieldPath(field, k);
  checkFields(r, ROUTE, ref, field, ctx);
  const route: Route = { name: r.name ?? '', match: decodeMatch(r.match ?? {}, ctx, ref, at('match')), action: decodeAction(r, outer, ctx, ref, field) };
  const requestHeaders = mergeHeaderMutations(decodeHeaderMutation(r.request_headers_to_add, r.request_headers_to_remove, ref, field, 'request_headers_to_add', 'request_headers_to_remove'), outer.request);
  const responseHeaders = mergeHeaderMutations(decodeHeaderMutation(r.response_headers_to_add, r.response_headers_to_remove, ref, field, 'response_headers_to_add', 'response_headers_to_remove'), outer.response);
  if (requestHeaders) route.requestHeaders = requestHeaders;
  if (responseHeaders) route.responseHeaders = responseHeaders;
  const perFilter = withLegacyCors(decodePerFilterConfigs(r.typed_per_filter_config, ctx, ref, at('typed_per_filter_config')), r.route?.cors, ctx, ref, at('route.cors'));
  if (perFilter) route.typedPerFilterConfig = perFilter;
  // istiod names the VirtualService a route came from in its metadata
  const source = structToJs(r.metadata?.filter_metadata?.istio).config;
  if (typeof source === 'string') route.source = source;
  if (r.decorator?.operation) {
    const propagate = wrapped<boolean>(r.decorator.propagate, true);
    route.decorator = { operation: String(r.decorator.operation), ...(propagate ? {} : { propagate: false }) };
  }
  return route;
}

function decodeMatch(m: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): RouteMatch {
  const at = (k: string) => fieldPath(field, k);
  checkFields(m, ROUTE_MATCH, ref, field, ctx);
  if (m.runtime_fraction) {
    // a fraction below 100% would send part of the traffic elsewhere: only "always" is accepted
    const f = m.runtime_fraction.default_value;
    if (!f || percentOf(f) < 100) throw resourceError(ref, at('runtime_fraction'), 'runtime_fraction below 100% is not supported');
  }
  const ignoreCase = m.case_sensitive?.value === false;
  const path = decodePathSpecifier(m, ignoreCase, ref, field);
  const headers = ((m.headers ?? []) as Msg[]).map((h, i) => decodeHeaderMatcher(h, ref, fieldPath(at('headers'), i)));
  // Envoy's gRPC content type: application/grpc, alone or followed by `+` or `;` (not application/grpc-web)
  if (m.grpc) headers.push({ name: 'content-type', match: { regex: 'application/grpc([+;].*)?' }, invert: false });
  const queryParams = ((m.query_parameters ?? []) as Msg[]).map((q, i): QueryParamMatcher => {
    const qa = fieldPath(at('query_parameters'), i);
    if (!q.name) throw resourceError(ref, fieldPath(qa, 'name'), 'a query parameter matcher needs a name');
    if (q.query_parameter_match_specifier === 'string_match') return { name: q.name, match: decodeStringMatcher(q.string_match, ref, fieldPath(qa, 'string_match')) };
    if (q.query_parameter_match_specifier === 'present_match' && q.present_match) return { name: q.name };
    throw resourceError(ref, qa, 'a query parameter matcher needs string_match or present_match: true');
  });
  return { path, headers, queryParams };
}

function decodePathSpecifier(m: Msg, ignoreCase: boolean, ref: ResourceRef, field: string): StringMatch {
  const ic = ignoreCase ? { ignoreCase: true } : {};
  switch (m.path_specifier) {
    case 'prefix':
      return { prefix: m.prefix ?? '', ...ic };
    case 'path':
      return { exact: m.path ?? '', ...ic };
    case 'safe_regex':
    {
      const regex = decodeRegex(m.safe_regex?.regex, ref, fieldPath(field, 'safe_regex.regex'));
      return { regex: ignoreCase ? `(?i)${regex}` : regex };
    }
    case 'path_separated_prefix': {
      // the prefix, then the end of the path or a `/` (the query never counts)
      const p = m.path_separated_prefix as string;
      if (!p.startsWith('/') || (p.length > 1 && p.endsWith('/')) || /[?#]/.test(p)) throw resourceError(ref, fieldPath(field, 'path_separated_prefix'), `${p} is not a valid path_separated_prefix`);
      return { regex: `${ignoreCase ? '(?i)' : ''}${escapeRegex(p)}(/.*)?` };
    }
    default:
      throw resourceError(ref, fieldPath(field, m.path_specifier ?? 'path_specifier'), `route match ${m.path_specifier ?? '(none)'} is not supported`);
  }
}

function decodeAction(r: Msg, outer: Enclosing, ctx: DecodeContext, ref: ResourceRef, field: string): Route['action'] {
  switch (r.action) {
    case 'route':
      return decodeRouteAction(r.route, outer, ctx, ref, fieldPath(field, 'route'));
    case 'redirect':
      return decodeRedirect(r.redirect, ctx, ref, fieldPath(field, 'redirect'));
    case 'direct_response':
      return decodeDirectResponse(r.direct_response, ref, fieldPath(field, 'direct_response'));
    default:
      throw resourceError(ref, fieldPath(field, r.action ?? 'action'), `route action ${r.action ?? '(none)'} is not supported`);
  }
}

function decodeRouteAction(a: Msg, outer: Enclosing, ctx: DecodeContext, ref: ResourceRef, field: string): RouteAction {
  const at = (k: string) => fieldPath(field, k);
  checkFields(a, ROUTE_ACTION, ref, field, ctx);
  if (a.priority && a.priority !== 'DEFAULT') throw resourceError(ref, at('priority'), `routing priority ${a.priority} is not supported`);
  if (a.cluster_not_found_response_code && a.cluster_not_found_response_code !== 'SERVICE_UNAVAILABLE') {
    throw resourceError(ref, at('cluster_not_found_response_code'), `${a.cluster_not_found_response_code} is not supported (the router answers 503)`);
  }
  const out: RouteAction = { kind: 'route', clusters: decodeClusters(a, ctx, ref, field) };
  if (a.prefix_rewrite !== undefined) out.prefixRewrite = a.prefix_rewrite;
  if (a.regex_rewrite) {
    out.regexRewrite = { pattern: decodeRegex(a.regex_rewrite.pattern?.regex, ref, at('regex_rewrite.pattern.regex')), substitution: a.regex_rewrite.substitution ?? '' };
  }
  if (a.host_rewrite_literal) out.hostRewrite = a.host_rewrite_literal;
  const rateLimits = decodeRateLimits(a.rate_limits, ctx, ref, at('rate_limits'));
  if (rateLimits) out.rateLimits = rateLimits;
  // Envoy's route timeout defaults to 15 s; 0 disables it (istiod sets it on every route)
  out.timeoutMs = durationMs(a.timeout) ?? 15_000;
  if (durationMs(a.idle_timeout)) ctx.warn(`${ref.kind} ${ref.name}: ${at('idle_timeout')}: a per-route idle timeout is not enforced (the connection manager's stream_idle_timeout is)`);
  decodeMaxStreamDuration(a, ctx, ref, field);
  const retryPolicy = a.retry_policy ? decodeRetryPolicy(a.retry_policy, ctx, ref, at('retry_policy')) : outer.retryPolicy;
  if (retryPolicy) out.retryPolicy = retryPolicy;
  if (a.request_mirror_policies?.length) out.mirrors = (a.request_mirror_policies as Msg[]).map((p, i) => decodeMirror(p, ctx, ref, fieldPath(at('request_mirror_policies'), i)));
  if (a.hash_policy?.length) out.hashPolicy = decodeHashPolicy(a.hash_policy, ctx, ref, at('hash_policy'));
  if (a.upgrade_configs?.length) out.upgrades = decodeRouteUpgrades(a.upgrade_configs, ref, at('upgrade_configs'));
  return out;
}

function decodeClusters(a: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): WeightedCluster[] {
  switch (a.cluster_specifier) {
    case 'cluster':
      if (!a.cluster) throw resourceError(ref, fieldPath(field, 'cluster'), 'the cluster name must not be empty');
      return [{ name: a.cluster, weight: 1 }];
    case 'weighted_clusters': {
      const wc = a.weighted_clusters as Msg;
      const at = fieldPath(field, 'weighted_clusters');
      checkFields(wc, WEIGHTED_CLUSTER, ref, at, ctx);
      const clusters = ((wc.clusters ?? []) as Msg[]).map((c, i): WeightedCluster => {
        const ca = fieldPath(fieldPath(at, 'clusters'), i);
        checkFields(c, CLUSTER_WEIGHT, ref, ca, ctx);
        if (!c.name) throw resourceError(ref, fieldPath(ca, 'name'), 'a weighted cluster needs a name');
        const out: WeightedCluster = { name: c.name, weight: c.weight?.value ?? 0 };
        const req = decodeHeaderMutation(c.request_headers_to_add, c.request_headers_to_remove, ref, ca, 'request_headers_to_add', 'request_headers_to_remove');
        const res = decodeHeaderMutation(c.response_headers_to_add, c.response_headers_to_remove, ref, ca, 'response_headers_to_add', 'response_headers_to_remove');
        if (req) out.requestHeaders = req;
        if (res) out.responseHeaders = res;
        return out;
      });
      if (!clusters.length) throw resourceError(ref, fieldPath(at, 'clusters'), 'weighted_clusters needs at least one cluster');
      if (!clusters.some((c) => c.weight > 0)) throw resourceError(ref, fieldPath(at, 'clusters'), 'the weights must not all be 0');
      return clusters;
    }
    default:
      throw resourceError(ref, fieldPath(field, a.cluster_specifier ?? 'cluster_specifier'), `cluster specifier ${a.cluster_specifier ?? '(none)'} is not supported`);
  }
}

/**
 * istiod sets max_stream_duration { max_stream_duration: 0s, grpc_timeout_header_max: 0s } on
 * every route: no cap, and a gRPC client's grpc-timeout shortens the route timeout, which the
 * router always does. A real cap is warned about (not enforced per route).
 */
function decodeMaxStreamDuration(a: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): void {
  const msd = a.max_stream_duration as Msg | undefined;
  const at = fieldPath(field, 'max_stream_duration');
  if (msd) checkFields(msd, MAX_STREAM_DURATION, ref, at, ctx);
  if (msd?.grpc_timeout_header_offset && durationMs(msd.grpc_timeout_header_offset)) ctx.warn(`${ref.kind} ${ref.name}: ${at}.grpc_timeout_header_offset is not applied`);
  if (msd && durationMs(msd.max_stream_duration)) ctx.warn(`${ref.kind} ${ref.name}: ${at}.max_stream_duration is not enforced per route`);
  if (msd && durationMs(msd.grpc_timeout_header_max)) ctx.warn(`${ref.kind} ${ref.name}: ${at}.grpc_timeout_header_max: grpc-timeout is honoured without a cap`);
  if (!msd?.grpc_timeout_header_max && a.max_grpc_timeout === undefined) ctx.warn(`${ref.kind} ${ref.name}: ${at}: grpc-timeout is honoured although grpc_timeout_header_max is unset`);
}

export function decodeRetryPolicy(p: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): RetryPolicy {
  const at = (k: string) => fieldPath(field, k);
  checkFields(p, RETRY_POLICY, ref, field, ctx);
  const retryOn = ((p.retry_on as string | undefined) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  let retryPreviousHosts = false;
  ((p.retry_host_predicate ?? []) as Msg[]).forEach((h, i) => {
    if (h.name !== 'envoy.retry_host_predicates.previous_hosts') throw resourceError(ref, fieldPath(at('retry_host_predicate'), i), `retry host predicate ${h.name} is not supported`);
    retryPreviousHosts = true;
  });
  let retryOtherPriorities = false;
  if (p.retry_priority) {
    if (p.retry_priority.name !== 'envoy.retry_priorities.previous_priorities') throw resourceError(ref, at('retry_priority'), `retry priority ${p.retry_priority.name} is not supported`);
    retryOtherPriorities = true;
  }
  const base = durationMs(p.retry_back_off?.base_interval) ?? DEFAULT_BACKOFF_BASE_MS;
  return {
    numRetries: p.num_retries ? (p.num_retries.value ?? 0) : 1,
    ...(durationMs(p.per_try_timeout) ? { perTryTimeoutMs: durationMs(p.per_try_timeout) } : {}),
    retryOn,
    retriableStatusCodes: (p.retriable_status_codes ?? []) as number[],
    retryPreviousHosts,
    hostSelectionRetryMaxAttempts: Number(p.host_selection_retry_max_attempts ?? 1),
    ...(retryOtherPriorities ? { retryOtherPriorities: true } : {}),
    backoffBaseMs: base,
    backoffMaxMs: durationMs(p.retry_back_off?.max_interval) ?? base * 10,
  };
}

function decodeMirror(p: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): { cluster: string; percent: number } {
  checkFields(p, MIRROR, ref, field, ctx);
  if (!p.cluster) throw resourceError(ref, fieldPath(field, 'cluster'), 'a mirror policy needs a cluster');
  const f = p.runtime_fraction?.default_value;
  return { cluster: p.cluster, percent: f ? percentOf(f) : 100 };
}

function decodeHashPolicy(list: Msg[], ctx: DecodeContext, ref: ResourceRef, field: string): HashPolicy {
  if (list.length > 1) ctx.warn(`${ref.kind} ${ref.name}: ${field}: only the first hash policy is used`);
  const h = list[0];
  const at = fieldPath(field, 0);
  switch (h.policy_specifier) {
    case 'header':
      if (h.header.regex_rewrite) throw resourceError(ref, fieldPath(at, 'header.regex_rewrite'), 'regex_rewrite of a hash header is not supported');
      return { header: (h.header.header_name as string).toLowerCase() };
    case 'cookie': {
      const c = h.cookie as Msg;
      if (c.attributes?.length) throw resourceError(ref, fieldPath(at, 'cookie.attributes'), 'cookie attributes are not supported');
      const ttl = durationMs(c.ttl);
      return { cookie: { name: c.name, ...(c.path ? { path: c.path } : {}), ...(ttl !== undefined ? { ttlMs: ttl } : {}) } };
    }
    case 'connection_properties':
      if (!h.connection_properties.source_ip) throw resourceError(ref, fieldPath(at, 'connection_properties.source_ip'), 'only source_ip is supported');
      return { sourceIp: true };
    case 'query_parameter':
      return { queryParameter: h.query_parameter.name };
    default:
      throw resourceError(ref, fieldPath(at, h.policy_specifier ?? 'policy_specifier'), `hash policy ${h.policy_specifier ?? '(none)'} is not supported`);
  }
}

/** RouteAction.upgrade_configs: each type on (enabled absent or true) or off for this route. */
function decodeRouteUpgrades(list: Msg[], ref: ResourceRef, field: string): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  list.forEach((u, i) => {
    const at = fieldPath(field, i);
    if (!u.upgrade_type) throw resourceError(ref, fieldPath(at, 'upgrade_type'), 'an upgrade config needs an upgrade_type');
    if (u.connect_config) throw resourceError(ref, fieldPath(at, 'connect_config'), 'CONNECT termination is not supported');
    out[(u.upgrade_type as string).toLowerCase()] = u.enabled ? u.enabled.value === true : true;
  });
  return out;
}

function decodeRedirect(r: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): RedirectAction {
  checkFields(r, REDIRECT, ref, field, ctx);
  const out: RedirectAction = { kind: 'redirect', responseCode: REDIRECT_CODES[r.response_code ?? 'MOVED_PERMANENTLY'] ?? 301 };
  if (r.scheme_rewrite_specifier === 'https_redirect' && r.https_redirect) out.scheme = 'https';
  if (r.scheme_rewrite_specifier === 'scheme_redirect') out.scheme = r.scheme_redirect;
  if (r.host_redirect) out.host = r.host_redirect;
  if (r.port_redirect) out.port = r.port_redirect;
  if (r.path_redirect !== undefined) out.path = r.path_redirect;
  return out;
}

const REDIRECT_CODES: Record<string, number> = { MOVED_PERMANENTLY: 301, FOUND: 302, SEE_OTHER: 303, TEMPORARY_REDIRECT: 307, PERMANENT_REDIRECT: 308 };

function decodeDirectResponse(d: Msg, ref: ResourceRef, field: string): DirectResponseAction {
  const status = d.status as number | undefined;
  if (!status || status < 200 || status > 599) throw resourceError(ref, fieldPath(field, 'status'), `status must be in [200, 600), got ${status}`);
  const body = d.body as Msg | undefined;
  if (body && body.specifier !== 'inline_string' && body.specifier !== 'inline_bytes') throw resourceError(ref, fieldPath(field, 'body'), 'only an inline body is supported');
  const text = body?.inline_string ?? (body?.inline_bytes ? Buffer.from(body.inline_bytes).toString('utf8') : undefined);
  return { kind: 'direct_response', status, ...(text !== undefined ? { body: text } : {}) };
}

/**
 * typed_per_filter_config: each entry decoded for its filter as the route table hands it to the
 * filter's parsePerRoute. The fault, CORS and local rate limit filters' are understood; any other (ext_authz or RBAC
 * per route could turn authorization off) is refused.
 */
function decodePerFilterConfigs(m: Record<string, Msg> | undefined, ctx: DecodeContext, ref: ResourceRef, field: string): Record<string, unknown> | undefined {
  if (!m || !Object.keys(m).length) return undefined;
  const out: Record<string, unknown> = {};
  for (const [name, any] of Object.entries(m)) {
    const at = fieldPath(field, name);
    let tc = typedConfigOf(any as never, ref, at);
    if (tc?.typeName === 'envoy.config.route.v3.FilterConfig') {
      const fc = tc.message as Msg;
      if (fc.disabled) throw resourceError(ref, at, `disabling ${name} per route is not supported`);
      tc = typedConfigOf(fc.config, ref, fieldPath(at, 'config'));
    }
    if (name === FAULT_FILTER && tc?.typeName === 'envoy.extensions.filters.http.fault.v3.HTTPFault' && tc.message) {
      out[name] = decodeFault(tc.message, ref, at);
      continue;
    }
    if (name === CORS_FILTER && tc?.typeName === 'envoy.extensions.filters.http.cors.v3.CorsPolicy' && tc.message) {
      out[name] = decodeCors(tc.message, CORS_POLICY, ctx, ref, at);
      continue;
    }
    if (name === LOCAL_RATELIMIT_FILTER && tc?.typeName === LOCAL_RATE_LIMIT_TYPE) {
      out[name] = decodeLocalRateLimit(typedMessage(tc, ref, at) ?? {}, ctx, ref, at, true);
      continue;
    }
    throw resourceError(ref, at, `a per-route config for ${name} (${tc?.typeName ?? 'none'}) is not supported`);
  }
  return Object.keys(out).length ? out : undefined;
}

/** The deprecated `cors` of a route action or virtual host, as the CORS filter's per-route config (the typed_per_filter_config one wins, as in Envoy). */
function withLegacyCors(perFilter: Record<string, unknown> | undefined, cors: Msg | undefined, ctx: DecodeContext, ref: ResourceRef, field: string): Record<string, unknown> | undefined {
  if (!cors || perFilter?.[CORS_FILTER]) return perFilter;
  return { ...perFilter, [CORS_FILTER]: decodeCors(cors, ROUTE_CORS_POLICY, ctx, ref, field) };
}

/** A CorsPolicy (the filter's, or the route's deprecated one) as the CORS filter's parsePerRoute takes it. */
function decodeCors(c: Msg, policy: FieldPolicy, ctx: DecodeContext, ref: ResourceRef, field: string): CorsPolicy {
  checkFields(c, policy, ref, field, ctx);
  const at = (k: string) => fieldPath(field, k);
  if (c.filter_enabled && percentOf(c.filter_enabled.default_value ?? {}) < 100) throw resourceError(ref, at('filter_enabled'), 'a CORS policy enabled for part of the requests is not supported');
  if (c.allow_private_network_access?.value) throw resourceError(ref, at('allow_private_network_access'), 'allow_private_network_access is not supported');
  return {
    allowOrigins: ((c.allow_origin_string_match ?? []) as Msg[]).map((m, i) => decodeStringMatcher(m, ref, fieldPath(at('allow_origin_string_match'), i))),
    ...(c.allow_methods ? { allowMethods: c.allow_methods } : {}),
    ...(c.allow_headers ? { allowHeaders: c.allow_headers } : {}),
    ...(c.expose_headers ? { exposeHeaders: c.expose_headers } : {}),
    ...(c.max_age ? { maxAge: c.max_age } : {}),
    ...(c.allow_credentials?.value ? { allowCredentials: true } : {}),
    forwardNotMatchingPreflights: c.forward_not_matching_preflights ? c.forward_not_matching_preflights.value === true : true,
  };
}

/** envoy.extensions.filters.http.fault.v3.HTTPFault → the fault filter's per-route FaultConfig. */
export function decodeFault(f: Msg, ref: ResourceRef, field: string): FaultConfig {
  const at = (k: string) => fieldPath(field, k);
  for (const k of ['upstream_cluster', 'headers', 'downstream_nodes', 'max_active_faults', 'response_rate_limit']) {
    if (f[k] !== undefined && !(Array.isArray(f[k]) && !f[k].length)) throw resourceError(ref, at(k), `fault ${k} is not supported`);
  }
  const out: FaultConfig = {};
  if (f.delay) {
    if (f.delay.fault_delay_secifier !== 'fixed_delay') throw resourceError(ref, at('delay'), 'only a fixed_delay is supported');
    out.delay = { fixedDelayMs: durationMs(f.delay.fixed_delay) ?? 0, percent: f.delay.percentage ? percentOf(f.delay.percentage) : 100 };
  }
  if (f.abort) {
    const percent = f.abort.percentage ? percentOf(f.abort.percentage) : 100;
    if (f.abort.error_type === 'http_status') out.abort = { httpStatus: f.abort.http_status, percent };
    else if (f.abort.error_type === 'grpc_status') out.abort = { grpcStatus: f.abort.grpc_status ?? 0, percent };
    else throw resourceError(ref, at('abort'), 'only http_status or grpc_status aborts are supported');
  }
  return out;
}

/** envoy.type.v3.FractionalPercent as a percentage (0-100). */
export function percentOf(f: Msg): number {
  const denominator = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 }[(f.denominator as string | undefined) ?? 'HUNDRED'] ?? 100;
  return Math.min(100, ((f.numerator ?? 0) * 100) / denominator);
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}
