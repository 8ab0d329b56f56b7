/**
 * envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager in the plain
 * form → the Snapshot's HttpConnectionManager, with its inline route_config or the RDS name it
 * needs. HTTP filters are decoded in order: the ones Outrigger runs into their config/envoy shapes,
 * Istio's own that need nothing here recognised and left out, any other refused (an unknown filter
 * could be authorization). The router must be last.
 */
import { LOCAL_RATELIMIT_FILTER } from '../local-ratelimit.js';
import { decodeLocalRateLimit, LOCAL_RATE_LIMIT_TYPE } from './local-ratelimit.js';
import type { HttpConnectionManager, HttpFilterConfig, RouteConfiguration } from '../../snapshot.js';
import { CORS_FILTER, FAULT_FILTER, HEADER_MUTATION_FILTER, HTTP_EXT_AUTHZ_FILTER, HTTP_RBAC_FILTER, JWT_AUTHN_FILTER, ROUTER_FILTER } from '../http-filters.js';
import { durationMs, wrapped } from '../proto/values.js';
import { decodeAccessLogs } from './access-log.js';
import { fieldPath, resourceError, type DecodeContext, type ResourceRef } from './context.js';
import { decodeHttpExtAuthz } from './ext-authz.js';
import { decodeJwtAuthentication } from './jwt-authn.js';
import { decodeRbacFilter } from './rbac.js';
import { checkFields, type FieldPolicy } from './fields.js';
import { decodeRouteConfiguration } from './route-configuration.js';
import { isIstioTelemetryFilter, typedConfigOf, typedMessage } from './typed-config.js';
import { decodeHcmTracing } from './tracing.js';

type Msg = Record<string, any>;

/** A connection manager decoded: its route configuration is inline or comes over RDS under `rdsName`. */
export interface DecodedHttpConnectionManager {
  hcm: HttpConnectionManager;
  /** The inline route_config (its name is the HCM's routeConfigName). */
  routeConfig?: RouteConfiguration;
  /** The RouteConfiguration to subscribe to over RDS. */
  rdsName?: string;
}

const HOUR_MS = 3_600_000;
/** What Outrigger's XFCC carries of the current client (Istio's set_current_client_cert_details). */
const XFCC_DETAILS = ['subject', 'uri', 'dns'];

/** The access log's flush options: Envoy's periodic and early entries. */
const AT_THE_END = 'an access log entry is written when the request ends (no periodic or early entries)';
const NO_UPSTREAM_LOG = 'upstream (per-attempt) access logs are not written';
const HCM: FieldPolicy = {
  type: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  reads: [
    'codec_type', 'stat_prefix', 'rds', 'route_config', 'http_filters', 'common_http_protocol_options', 'http_protocol_options', 'max_request_headers_kb',
    'stream_idle_timeout', 'request_timeout', 'request_headers_timeout', 'use_remote_address', 'xff_num_trusted_hops', 'forward_client_cert_details',
    'set_current_client_cert_details', 'upgrade_configs', 'normalize_path', 'merge_slashes', 'path_with_escaped_slashes_action', 'generate_request_id',
    'request_id_extension', 'tracing', 'access_log',
  ],
  ignored: {
    add_user_agent: 'x-envoy-downstream-service-cluster is not added',
    http2_protocol_options: "downstream HTTP/2 uses Envoy's edge settings",
    server_name: 'responses keep the upstream\'s server header; local replies say "outrigger"',
    server_header_transformation: 'responses keep the upstream\'s server header; local replies say "outrigger"',
    drain_timeout: 'Outrigger drains by its own schedule',
    delayed_close_timeout: 'a connection closes once its response is flushed',
    access_log_flush_interval: AT_THE_END,
    flush_access_log_on_new_request: AT_THE_END,
    access_log_options: AT_THE_END,
    internal_address_config: 'x-envoy-* request headers are stripped by use_remote_address alone',
    preserve_external_request_id: 'a client x-request-id is kept',
    always_set_request_id_in_response: 'x-request-id is not echoed',
    proxy_100_continue: 'Expect: 100-continue is answered by the proxy',
    represent_ipv4_remote_address_as_ipv4_mapped_ipv6: 'IPv4 addresses stay IPv4',
    stream_error_on_invalid_http_message: 'an invalid HTTP/1.1 message closes the connection',
    append_x_forwarded_port: 'x-forwarded-port is not added',
    append_local_overload: 'x-envoy-local-overloaded is not added',
    add_proxy_protocol_connection_state: 'no PROXY protocol',
  },
  refused: {
    scoped_routes: 'scoped routes are not supported',
    skip_xff_append: 'x-forwarded-for is always appended',
    via: 'via is not supported',
    local_reply_config: 'local replies are Envoy\'s defaults',
    http3_protocol_options: 'HTTP/3 is not supported',
  },
};

const COMMON_OPTIONS: FieldPolicy = {
  type: 'envoy.config.core.v3.HttpProtocolOptions',
  reads: ['idle_timeout', 'max_stream_duration', 'max_headers_count', 'headers_with_underscores_action'],
  ignored: { max_connection_duration: 'downstream connections are not aged out', max_requests_per_connection: 'not enforced downstream' },
};

const HTTP1_OPTIONS: FieldPolicy = {
  type: 'envoy.config.core.v3.Http1ProtocolOptions',
  reads: ['accept_http_10'],
  ignored: { use_balsa_parser: 'Outrigger has its own HTTP/1.1 parser', send_fully_qualified_url: 'applies upstream' },
};

const HTTP_FILTER: FieldPolicy = { type: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter', reads: ['name', 'typed_config', 'is_optional', 'disabled'] };

const ROUTER: FieldPolicy = {
  type: 'envoy.extensions.filters.http.router.v3.Router',
  // start_child_span: a client span per upstream attempt (HCM tracing's spawn_upstream_span)
  reads: ['start_child_span'],
  ignored: {
    dynamic_stats: 'the router keeps its stats',
    upstream_log: NO_UPSTREAM_LOG,
    upstream_log_options: NO_UPSTREAM_LOG,
    suppress_envoy_headers: 'x-envoy-* headers are still added',
    strict_check_headers: 'x-envoy-* request headers are checked as they are read',
    respect_expected_rq_timeout: 'x-envoy-expected-rq-timeout-ms is not read',
    suppress_grpc_request_failure_code_stats: 'gRPC stats are not split by code',
  },
};

const UPGRADE: FieldPolicy = { type: 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager.UpgradeConfig', reads: ['upgrade_type', 'enabled'] };

/**
 * The connection manager. `inlineName` names an inline route_config in the Snapshot (inline configs
 * are the HCM's own; the caller makes the name unique).
 */
export function decodeHttpConnectionManager(m: Msg, ctx: DecodeContext, ref: ResourceRef, field: string, inlineName: string): DecodedHttpConnectionManager {
  const at = (k: string) => fieldPath(field, k);
  checkFields(m, HCM, ref, field, ctx);
  if (m.codec_type === 'HTTP3') throw resourceError(ref, at('codec_type'), 'HTTP/3 is not supported');
  if (m.codec_type === 'HTTP1' || m.codec_type === 'HTTP2') ctx.warn(`${ref.kind} ${ref.name}: ${at('codec_type')}: ${m.codec_type}: the codec follows ALPN and the h2c preface (AUTO)`);
  const requestIdConfig = typedConfigOf(m.request_id_extension?.typed_config, ref, at('request_id_extension.typed_config'));
  const requestId = requestIdConfig?.typeName;
  if (requestId && requestId !== 'envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig') ctx.warn(`${ref.kind} ${ref.name}: ${at('request_id_extension')}: x-request-id is a UUID (not ${requestId})`);
  if (m.generate_request_id && m.generate_request_id.value === false) ctx.warn(`${ref.kind} ${ref.name}: ${at('generate_request_id')}: x-request-id is always generated when absent`);
  const { routeConfig, rdsName, routeConfigName } = routeSource(m, ctx, ref, field, inlineName);
  const common = (m.common_http_protocol_options ?? {}) as Msg;
  decodeCommonOptions(common, ctx, ref, at('common_http_protocol_options'));
  const http1 = (m.http_protocol_options ?? {}) as Msg;
  checkFields(http1, HTTP1_OPTIONS, ref, at('http_protocol_options'), ctx);
  const useRemoteAddress = wrapped<boolean>(m.use_remote_address, false);
  const accessLog = decodeAccessLogs(m.access_log as Msg[] | undefined, ctx, ref, at('access_log'));
  const hcm: HttpConnectionManager = {
    statPrefix: m.stat_prefix ?? '',
    routeConfigName,
    useRemoteAddress,
    ...(m.xff_num_trusted_hops ? { xffNumTrustedHops: m.xff_num_trusted_hops } : {}),
    // Envoy strips x-envoy-* from requests it deems external: with use_remote_address, those from outside
    stripEnvoyHeaders: useRemoteAddress,
    maxRequestHeadersKb: wrapped<number>(m.max_request_headers_kb, 60),
    idleTimeoutMs: durationMs(common.idle_timeout) ?? HOUR_MS,
    ...(m.stream_idle_timeout ? { streamIdleTimeoutMs: durationMs(m.stream_idle_timeout) } : {}),
    ...(m.request_timeout ? { requestTimeoutMs: durationMs(m.request_timeout) } : {}),
    ...(m.request_headers_timeout ? { requestHeadersTimeoutMs: durationMs(m.request_headers_timeout) } : {}),
    ...(common.max_stream_duration ? { maxStreamDurationMs: durationMs(common.max_stream_duration) } : {}),
    acceptHttp10: http1.accept_http_10 === true,
    httpFilters: decodeHttpFilters((m.http_filters ?? []) as Msg[], ctx, ref, at('http_filters')),
    forwardClientCertDetails: decodeXfcc(m, ctx, ref, field),
    ...pathNormalization(m, ref, field),
    upgradeTypes: decodeUpgradeConfigs(m.upgrade_configs, ctx, ref, at('upgrade_configs')),
    ...(m.tracing
      ? {
          tracing: decodeHcmTracing(
            m.tracing as Msg,
            wrapped<boolean>((requestIdConfig?.message as Msg | undefined)?.use_request_id_for_trace_sampling, true),
            routerStartsChildSpans(m.http_filters as Msg[] | undefined, ref),
            ctx,
            ref,
            at('tracing'),
          ),
        }
      : {}),
    ...(accessLog ? { accessLog } : {}),
  };
  return { hcm, ...(routeConfig ? { routeConfig } : {}), ...(rdsName !== undefined ? { rdsName } : {}) };
}

/** The router's start_child_span (the last HTTP filter; decodeHttpFilters checked it is the router). */
function routerStartsChildSpans(filters: Msg[] | undefined, ref: ResourceRef): boolean {
  const last = filters?.[filters.length - 1];
  return (typedConfigOf(last?.typed_config, ref, 'http_filters')?.message as Msg | undefined)?.start_child_span === true;
}

function routeSource(m: Msg, ctx: DecodeContext, ref: ResourceRef, field: string, inlineName: string): { routeConfig?: RouteConfiguration; rdsName?: string; routeConfigName: string } {
  if (m.route_specifier === 'rds') {
    const rds = m.rds as Msg;
    if (!rds.route_config_name) throw resourceError(ref, fieldPath(field, 'rds.route_config_name'), 'rds needs a route_config_name');
    const source = rds.config_source as Msg | undefined;
    if (source && source.config_source_specifier !== 'ads') throw resourceError(ref, fieldPath(field, 'rds.config_source'), 'route configurations come over ADS only');
    return { rdsName: rds.route_config_name, routeConfigName: rds.route_config_name };
  }
  if (m.route_specifier === 'route_config') {
    const rc = decodeRouteConfiguration(m.route_config, ctx, ref, fieldPath(field, 'route_config'));
    return { routeConfig: { ...rc, name: inlineName }, routeConfigName: inlineName };
  }
  throw resourceError(ref, field, 'a connection manager needs rds or route_config');
}

function decodeCommonOptions(c: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): void {
  checkFields(c, COMMON_OPTIONS, ref, field, ctx);
  const action = c.headers_with_underscores_action ?? 'ALLOW';
  // REJECT_REQUEST / DROP_HEADER change what reaches authorization and the app: not done, so refused
  if (action !== 'ALLOW') throw resourceError(ref, fieldPath(field, 'headers_with_underscores_action'), `${action} is not supported (headers with underscores are allowed)`);
  const maxHeaders = wrapped<number>(c.max_headers_count, 100);
  if (maxHeaders !== 100) throw resourceError(ref, fieldPath(field, 'max_headers_count'), `only Envoy's default of 100 headers is supported, got ${maxHeaders}`);
}

/**
 * Envoy's filter chain: by the typed_config's type (as Envoy picks the factory), checked against
 * the name where Outrigger keeps one.
 */
function decodeHttpFilters(list: Msg[], ctx: DecodeContext, ref: ResourceRef, field: string): HttpFilterConfig[] {
  const out: HttpFilterConfig[] = [];
  if (!list.length || !isRouter(list[list.length - 1], ref, fieldPath(field, list.length - 1))) throw resourceError(ref, field, 'the router (envoy.filters.http.router) must be the last HTTP filter');
  list.forEach((f, i) => {
    const at = fieldPath(field, i);
    const warn = (what: string) => ctx.warn(`${ref.kind} ${ref.name}: ${at} (${f.name}): ${what}`);
    if (i === list.length - 1) {
      checkFields(f, HTTP_FILTER, ref, at, ctx);
      checkFields(typedConfigOf(f.typed_config, ref, fieldPath(at, 'typed_config'))?.message ?? {}, ROUTER, ref, fieldPath(at, 'typed_config'), ctx);
      return;
    }
    checkFields(f, HTTP_FILTER, ref, at, ctx);
    const tc = typedConfigOf(f.typed_config, ref, fieldPath(at, 'typed_config'));
    const type = tc?.typeName ?? '';
    const message = tc?.message ?? {};
    switch (type) {
      case 'envoy.extensions.filters.http.router.v3.Router':
        throw resourceError(ref, at, 'the router must be the last HTTP filter');
      case 'envoy.extensions.filters.http.rbac.v3.RBAC':
        out.push({ name: HTTP_RBAC_FILTER, config: decodeRbacFilter(message, 'http', ctx, ref, fieldPath(at, 'typed_config')) });
        return;
      case 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz':
        out.push({ name: HTTP_EXT_AUTHZ_FILTER, config: decodeHttpExtAuthz(message, ctx, ref, fieldPath(at, 'typed_config')) });
        return;
      case 'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication':
        out.push({ name: JWT_AUTHN_FILTER, config: decodeJwtAuthentication(message, ctx, ref, fieldPath(at, 'typed_config')) });
        return;
      case 'envoy.extensions.filters.http.fault.v3.HTTPFault':
        // istiod's is empty: the routes' typed_per_filter_config carries the faults
        if (Object.keys(message).length) throw resourceError(ref, fieldPath(at, 'typed_config'), 'a listener-level fault is not supported (faults come per route)');
        out.push({ name: FAULT_FILTER, config: {} });
        return;
      case 'envoy.extensions.filters.http.header_mutation.v3.HeaderMutation':
        out.push({ name: HEADER_MUTATION_FILTER, config: headerMutationConfig(message, ref, fieldPath(at, 'typed_config')) });
        return;
      case 'envoy.extensions.filters.http.grpc_stats.v3.FilterConfig':
      case 'istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig':
        return; // gRPC stats: counted by Outrigger's Istio metrics; ALPN: the upstream ALPN follows the cluster already
      case 'envoy.extensions.filters.http.cors.v3.Cors':
        // the policies come per route (typed_per_filter_config)
        if (Object.keys(message).length) throw resourceError(ref, fieldPath(at, 'typed_config'), 'a listener-level CORS policy is not supported (policies come per route)');
        out.push({ name: CORS_FILTER, config: {} });
        return;
      case LOCAL_RATE_LIMIT_TYPE:
        out.push({ name: LOCAL_RATELIMIT_FILTER, config: decodeLocalRateLimit(typedMessage(tc, ref, fieldPath(at, 'typed_config')) ?? {}, ctx, ref, fieldPath(at, 'typed_config')) });
        return;
      case 'envoy.extensions.filters.http.compressor.v3.Compressor':
        warn('responses are not compressed');
        return;
      default:
        if (isIstioTelemetryFilter(tc)) return;
    }
    // Envoy skips an optional filter it does not know, and a disabled one runs only where a route enables it (none can here)
    if (f.is_optional || f.disabled) {
      warn(`${f.is_optional ? 'optional' : 'disabled'} filter ${type || f.name} skipped`);
      return;
    }
    throw resourceError(ref, fieldPath(at, 'typed_config'), `HTTP filter ${f.name} (${type || 'no typed_config'}) is not supported`);
  });
  return out;
}

function isRouter(f: Msg, ref: ResourceRef, field: string): boolean {
  const t = typedConfigOf(f.typed_config, ref, fieldPath(field, 'typed_config'));
  return t ? t.typeName === 'envoy.extensions.filters.http.router.v3.Router' : f.name === ROUTER_FILTER;
}

/** header_mutation's config as its factory parses it (Envoy's field names, no oneof markers or wrappers). */
function headerMutationConfig(m: Msg, ref: ResourceRef, field: string): unknown {
  const list = (l: Msg[] | undefined, k: string) =>
    (l ?? []).map((x, i) => {
      if (x.action === 'remove') return { remove: x.remove };
      if (x.action !== 'append') throw resourceError(ref, fieldPath(fieldPath(field, `mutations.${k}`), i), `header mutation ${x.action} is not supported`);
      return { append: { header: { key: x.append.header?.key ?? '', value: x.append.header?.value ?? '' }, ...(x.append.append_action ? { append_action: x.append.append_action } : {}) } };
    });
  if (m.query_parameter_mutations?.length || m.mutations?.query_parameter_mutations?.length) throw resourceError(ref, field, 'query parameter mutations are not supported');
  return { mutations: { request_mutations: list(m.mutations?.request_mutations, 'request_mutations'), response_mutations: list(m.mutations?.response_mutations, 'response_mutations') } };
}

function decodeXfcc(m: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): HttpConnectionManager['forwardClientCertDetails'] {
  const mode = (m.forward_client_cert_details ?? 'SANITIZE') as NonNullable<HttpConnectionManager['forwardClientCertDetails']>;
  if (!['SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET', 'ALWAYS_FORWARD_ONLY'].includes(mode)) throw resourceError(ref, fieldPath(field, 'forward_client_cert_details'), `unknown mode ${mode}`);
  const set = m.set_current_client_cert_details as Msg | undefined;
  if ((mode === 'APPEND_FORWARD' || mode === 'SANITIZE_SET') && set) {
    const on = Object.keys(set).filter((k) => set[k] === true || set[k]?.value === true);
    if (on.some((k) => !XFCC_DETAILS.includes(k)) || XFCC_DETAILS.some((k) => !on.includes(k))) {
      ctx.warn(`${ref.kind} ${ref.name}: ${fieldPath(field, 'set_current_client_cert_details')}: the client certificate details sent are Hash, Subject, URI and DNS (${on.join(', ')} asked)`);
    }
  }
  return mode;
}

/**
 * normalize_path / merge_slashes / path_with_escaped_slashes_action as the one pathNormalization
 * the data plane runs (Istio's meshConfig modes); another combination would change what RBAC and
 * the routes see, so it is refused.
 */
function pathNormalization(m: Msg, ref: ResourceRef, field: string): Pick<HttpConnectionManager, 'pathNormalization'> {
  const normalize = wrapped<boolean>(m.normalize_path, false);
  const merge = m.merge_slashes === true;
  const action = m.path_with_escaped_slashes_action ?? 'IMPLEMENTATION_SPECIFIC_DEFAULT';
  const keep = action === 'KEEP_UNCHANGED' || action === 'IMPLEMENTATION_SPECIFIC_DEFAULT';
  // NONE, as the Istio front end sets it: no normalization, but a malformed escape or %00 is still refused (http/path-normalize.ts)
  if (!normalize && !merge && keep) return { pathNormalization: 'NONE' };
  if (normalize && !merge && keep) return { pathNormalization: 'BASE' };
  if (normalize && merge && keep) return { pathNormalization: 'MERGE_SLASHES' };
  if (normalize && merge && action === 'UNESCAPE_AND_FORWARD') return { pathNormalization: 'DECODE_AND_MERGE_SLASHES' };
  throw resourceError(ref, field, `normalize_path ${normalize}, merge_slashes ${merge}, path_with_escaped_slashes_action ${action}: not a path normalization Outrigger does (NONE, BASE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES)`);
}

function decodeUpgradeConfigs(list: Msg[] | undefined, ctx: DecodeContext, ref: ResourceRef, field: string): string[] {
  const out: string[] = [];
  (list ?? []).forEach((u, i) => {
    const at = fieldPath(field, i);
    checkFields(u, UPGRADE, ref, at, ctx);
    if (!u.upgrade_type) throw resourceError(ref, fieldPath(at, 'upgrade_type'), 'an upgrade config needs an upgrade_type');
    if (u.enabled && u.enabled.value !== true) return;
    out.push((u.upgrade_type as string).toLowerCase());
  });
  return out;
}
