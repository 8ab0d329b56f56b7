/**
 * envoy.extensions.filters.{http,network}.ext_authz.v3.ExtAuthz in the plain form → config/envoy/
 * ext-authz.ts's shapes. What istiod sets is decoded; a field that would change what is checked or
 * what is let through and that the ext_authz client does not implement is refused.
 */
import type { GrpcService, HttpExtAuthz, HttpService, ListStringMatcher, NetworkExtAuthz } from '../ext-authz.js';
import { durationMs } from '../proto/values.js';
import { fieldPath, resourceError, type DecodeContext, type ResourceRef } from './context.js';
import { checkFields, type FieldPolicy } from './fields.js';
import { decodeMetadataMatcher, rbacStringMatcher } from './rbac.js';

type Msg = Record<string, any>;

/** Envoy's default timeout of an ext_authz call (GrpcService / HttpUri timeout absent). */
const DEFAULT_TIMEOUT_MS = 200;

const HTTP_EXT_AUTHZ: FieldPolicy = {
  type: 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
  reads: ['grpc_service', 'http_service', 'transport_api_version', 'failure_mode_allow', 'with_request_body', 'status_on_error', 'allowed_headers', 'filter_enabled_metadata'],
  ignored: { stat_prefix: 'ext_authz stats keep their default names', charge_cluster_response_stats: 'cluster stats are charged', validate_mutations: 'header mutations from the service are validated anyway' },
};
const NETWORK_EXT_AUTHZ: FieldPolicy = {
  type: 'envoy.extensions.filters.network.ext_authz.v3.ExtAuthz',
  reads: ['stat_prefix', 'grpc_service', 'failure_mode_allow', 'transport_api_version', 'filter_enabled_metadata'],
};
const HTTP_SERVICE: FieldPolicy = { type: 'envoy.extensions.filters.http.ext_authz.v3.HttpService', reads: ['server_uri', 'path_prefix', 'authorization_request', 'authorization_response'] };
const AUTHORIZATION_REQUEST: FieldPolicy = { type: 'envoy.extensions.filters.http.ext_authz.v3.AuthorizationRequest', reads: ['headers_to_add'] };
const AUTHORIZATION_RESPONSE: FieldPolicy = {
  type: 'envoy.extensions.filters.http.ext_authz.v3.AuthorizationResponse',
  reads: ['allowed_upstream_headers', 'allowed_client_headers', 'allowed_client_headers_on_success'],
};
const GRPC_SERVICE: FieldPolicy = { type: 'envoy.config.core.v3.GrpcService', reads: ['envoy_grpc', 'timeout'] };
const BUFFER_SETTINGS: FieldPolicy = { type: 'envoy.extensions.filters.http.ext_authz.v3.BufferSettings', reads: ['max_request_bytes', 'allow_partial_message', 'pack_as_bytes'] };

export function decodeHttpExtAuthz(m: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): HttpExtAuthz {
  const at = (k: string) => fieldPath(field, k);
  checkFields(m, HTTP_EXT_AUTHZ, ref, field, ctx);
  if (m.with_request_body) checkFields(m.with_request_body, BUFFER_SETTINGS, ref, at('with_request_body'), ctx);
  if (m.transport_api_version !== 'V3') throw resourceError(ref, at('transport_api_version'), 'only transport_api_version V3 is supported');
  const common = {
    transportApiVersion: 'V3' as const,
    ...(m.failure_mode_allow ? { failureModeAllow: true } : {}),
    ...(m.status_on_error?.code ? { statusOnError: { code: httpStatusCode(m.status_on_error.code, ref, at('status_on_error.code')) } } : {}),
    ...(m.with_request_body
      ? {
          withRequestBody: {
            maxRequestBytes: m.with_request_body.max_request_bytes ?? 0,
            ...(m.with_request_body.allow_partial_message ? { allowPartialMessage: true } : {}),
            ...(m.with_request_body.pack_as_bytes ? { packAsBytes: true } : {}),
          },
        }
      : {}),
    ...(m.allowed_headers ? { allowedHeaders: listMatcher(m.allowed_headers, ref, at('allowed_headers')) } : {}),
    ...(m.filter_enabled_metadata ? { filterEnabledMetadata: decodeMetadataMatcher(m.filter_enabled_metadata, ref, at('filter_enabled_metadata')) } : {}),
  };
  if (m.services === 'grpc_service') return { ...common, grpcService: grpcService(m.grpc_service, ctx, ref, at('grpc_service')) };
  if (m.services === 'http_service') return { ...common, httpService: httpService(m.http_service, ctx, ref, at('http_service')) };
  throw resourceError(ref, field, 'ext_authz needs a grpc_service or an http_service');
}

export function decodeNetworkExtAuthz(m: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): NetworkExtAuthz {
  checkFields(m, NETWORK_EXT_AUTHZ, ref, field, ctx);
  if (m.transport_api_version !== 'V3') throw resourceError(ref, fieldPath(field, 'transport_api_version'), 'only transport_api_version V3 is supported');
  return {
    statPrefix: m.stat_prefix ?? '',
    grpcService: grpcService(m.grpc_service, ctx, ref, fieldPath(field, 'grpc_service')),
    transportApiVersion: 'V3',
    ...(m.failure_mode_allow ? { failureModeAllow: true } : {}),
    ...(m.filter_enabled_metadata ? { filterEnabledMetadata: decodeMetadataMatcher(m.filter_enabled_metadata, ref, fieldPath(field, 'filter_enabled_metadata')) } : {}),
  };
}

function grpcService(g: Msg | undefined, ctx: DecodeContext, ref: ResourceRef, field: string): GrpcService {
  if (g?.target_specifier !== 'envoy_grpc' || !g.envoy_grpc?.cluster_name) throw resourceError(ref, field, 'only envoy_grpc with a cluster_name is supported');
  checkFields(g, GRPC_SERVICE, ref, field, ctx);
  return {
    envoyGrpc: { clusterName: g.envoy_grpc.cluster_name, ...(g.envoy_grpc.authority ? { authority: g.envoy_grpc.authority } : {}) },
    timeoutMs: durationMs(g.timeout) ?? DEFAULT_TIMEOUT_MS,
  };
}

function httpService(h: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): HttpService {
  checkFields(h, HTTP_SERVICE, ref, field, ctx);
  const uri = h.server_uri;
  if (!uri?.uri || !uri.cluster) throw resourceError(ref, fieldPath(field, 'server_uri'), 'an http_service needs server_uri with uri and cluster');
  const req = h.authorization_request as Msg | undefined;
  const res = h.authorization_response as Msg | undefined;
  if (req) checkFields(req, AUTHORIZATION_REQUEST, ref, fieldPath(field, 'authorization_request'), ctx);
  if (res) checkFields(res, AUTHORIZATION_RESPONSE, ref, fieldPath(field, 'authorization_response'), ctx);
  const lists = (['allowed_upstream_headers', 'allowed_client_headers', 'allowed_client_headers_on_success'] as const).filter((k) => res?.[k]);
  const camel = { allowed_upstream_headers: 'allowedUpstreamHeaders', allowed_client_headers: 'allowedClientHeaders', allowed_client_headers_on_success: 'allowedClientHeadersOnSuccess' } as const;
  return {
    serverUri: { uri: uri.uri, cluster: uri.cluster, timeoutMs: durationMs(uri.timeout) ?? DEFAULT_TIMEOUT_MS },
    ...(h.path_prefix ? { pathPrefix: h.path_prefix } : {}),
    ...(req?.headers_to_add?.length ? { authorizationRequest: { headersToAdd: (req.headers_to_add as Msg[]).map((v) => ({ key: v.key, value: v.value ?? '' })) } } : {}),
    ...(lists.length
      ? { authorizationResponse: Object.fromEntries(lists.map((k) => [camel[k], listMatcher(res![k], ref, fieldPath(field, `authorization_response.${k}`))])) }
      : {}),
  };
}

function listMatcher(l: Msg, ref: ResourceRef, field: string): ListStringMatcher {
  return { patterns: ((l.patterns ?? []) as Msg[]).map((p, i) => rbacStringMatcher(p, ref, fieldPath(fieldPath(field, 'patterns'), i))) };
}

/** envoy.type.v3.StatusCode by name (`Forbidden`) or number → the number. */
function httpStatusCode(code: string | number, ref: ResourceRef, field: string): number {
  if (typeof code === 'number') return code;
  const n = STATUS_CODES[code];
  if (n === undefined) throw resourceError(ref, field, `unknown status code ${code}`);
  return n;
}

const STATUS_CODES: Record<string, number> = {
  Continue: 100, OK: 200, Created: 201, Accepted: 202, NoContent: 204, MovedPermanently: 301, Found: 302, NotModified: 304,
  BadRequest: 400, Unauthorized: 401, PaymentRequired: 402, Forbidden: 403, NotFound: 404, MethodNotAllowed: 405, NotAcceptable: 406,
  RequestTimeout: 408, Conflict: 409, Gone: 410, PayloadTooLarge: 413, TooManyRequests: 429, InternalServerError: 500,
  NotImplemented: 501, BadGateway: 502, ServiceUnavailable: 503, GatewayTimeout: 504,
};
