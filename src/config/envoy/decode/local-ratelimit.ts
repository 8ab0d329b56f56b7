/**
 * envoy.filters.http.local_ratelimit's LocalRateLimit (on a connection manager, or per route in
 * typed_per_filter_config) and a route's or virtual host's rate_limits → the Snapshot's
 * LocalRateLimit and RateLimitPolicy. The Istio front end decodes EnvoyFilter patches with the
 * same functions (their TypedStruct values converted to the plain form first).
 */
import { checkCel } from '../../../common/cel.js';
import type { LocalRateLimit, RateLimitAction, RateLimitPolicy, TokenBucket } from '../local-ratelimit.js';
import { durationMs, wrapped } from '../proto/values.js';
import { fieldPath, resourceError, type DecodeContext, type ResourceRef } from './context.js';
import { checkFields, type FieldPolicy } from './fields.js';
import { decodeHeaderMutation } from './headers.js';
import { decodeHeaderMatcher } from './matchers.js';
import { typedConfigOf } from './typed-config.js';

type Msg = Record<string, any>;

export const LOCAL_RATE_LIMIT_TYPE = 'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
const EXPR_DESCRIPTOR_TYPE = 'envoy.extensions.rate_limit_descriptors.expr.v3.Descriptor';

const LOCAL_RATE_LIMIT: FieldPolicy = {
  type: LOCAL_RATE_LIMIT_TYPE,
  reads: [
    'stat_prefix', 'status', 'token_bucket', 'filter_enabled', 'filter_enforced', 'request_headers_to_add_when_not_enforced', 'response_headers_to_add',
    'descriptors', 'stage', 'local_rate_limit_per_downstream_connection', 'enable_x_ratelimit_headers', 'vh_rate_limits', 'always_consume_default_token_bucket',
    'rate_limited_as_resource_exhausted',
  ],
  refused: { local_cluster_rate_limit: 'sharing the limit across the local cluster is not supported (its membership is not known here)' },
};
const TOKEN_BUCKET: FieldPolicy = { type: 'envoy.type.v3.TokenBucket', reads: ['max_tokens', 'tokens_per_fill', 'fill_interval'] };
const RATE_LIMIT: FieldPolicy = {
  type: 'envoy.config.route.v3.RateLimit',
  reads: ['stage', 'actions', 'disable_key'],
  refused: { limit: 'a per-descriptor limit override (dynamic metadata) is not supported' },
};

/** StatusCode names istiod and users write (envoy.type.v3.StatusCode), by number. */
const STATUS: Readonly<Record<string, number>> = {
  BadRequest: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, TooManyRequests: 429, InternalServerError: 500, ServiceUnavailable: 503,
};

const DENOMINATORS: Readonly<Record<string, number>> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

/** A RuntimeFractionalPercent's default value as a percent (the runtime key is not consulted: no runtime). Absent: 0, Envoy's default for this filter. */
function percentOf(f: Msg | undefined): number {
  const v = f?.default_value as Msg | undefined;
  if (!v) return 0;
  const denominator = DENOMINATORS[v.denominator ?? 'HUNDRED'] ?? 100;
  return Math.min(100, ((v.numerator ?? 0) / denominator) * 100);
}

function tokenBucket(m: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): TokenBucket {
  checkFields(m, TOKEN_BUCKET, ref, field, ctx);
  const maxTokens = m.max_tokens ?? 0;
  if (maxTokens < 1) throw resourceError(ref, fieldPath(field, 'max_tokens'), 'max_tokens must be at least 1');
  const tokensPerFill = wrapped<number>(m.tokens_per_fill, 1);
  const fillIntervalMs = durationMs(m.fill_interval) ?? 0;
  // Envoy: at least 50 ms between fills
  if (fillIntervalMs < 50) throw resourceError(ref, fieldPath(field, 'fill_interval'), 'fill_interval must be at least 50ms');
  return { maxTokens, tokensPerFill, fillIntervalMs };
}

/** HeaderValueOptions as name/value/append (append: APPEND_IF_EXISTS_OR_ADD, or the deprecated append true). */
function headersToAdd(list: Msg[] | undefined, ref: ResourceRef, field: string, key: string): LocalRateLimit['responseHeadersToAdd'] {
  const m = decodeHeaderMutation(list, undefined, ref, field, key, '');
  if (!m) return [];
  return [...m.set.map(([name, value]) => ({ name, value, append: false })), ...m.add.map(([name, value]) => ({ name, value, append: true }))];
}

/** `perRoute`: a typed_per_filter_config entry, which Envoy refuses without a token_bucket. */
export function decodeLocalRateLimit(m: Msg, ctx: DecodeContext, ref: ResourceRef, field: string, perRoute = false): LocalRateLimit {
  checkFields(m, LOCAL_RATE_LIMIT, ref, field, ctx);
  const at = (k: string) => fieldPath(field, k);
  if (!m.stat_prefix) throw resourceError(ref, at('stat_prefix'), 'the local rate limit needs a stat_prefix');
  if (perRoute && !m.token_bucket) throw resourceError(ref, at('token_bucket'), 'a per-route local rate limit needs a token_bucket');
  const code = m.status?.code;
  const status = code === undefined ? 429 : typeof code === 'number' ? code : STATUS[code];
  if (status === undefined || status < 400) throw resourceError(ref, at('status.code'), `status ${String(code)} is not supported (a 4xx or 5xx code)`);
  if (m.vh_rate_limits && m.vh_rate_limits !== 'OVERRIDE') throw resourceError(ref, at('vh_rate_limits'), `vh_rate_limits ${m.vh_rate_limits} is not supported (OVERRIDE is)`);
  const headers = m.enable_x_ratelimit_headers;
  if (headers && headers !== 'OFF' && headers !== 'DRAFT_VERSION_03') throw resourceError(ref, at('enable_x_ratelimit_headers'), `${headers} is not supported`);
  return {
    statPrefix: m.stat_prefix,
    ...(m.token_bucket ? { tokenBucket: tokenBucket(m.token_bucket, ctx, ref, at('token_bucket')) } : {}),
    enabledPercent: percentOf(m.filter_enabled),
    enforcedPercent: percentOf(m.filter_enforced),
    status,
    responseHeadersToAdd: headersToAdd(m.response_headers_to_add, ref, field, 'response_headers_to_add'),
    requestHeadersToAddWhenNotEnforced: headersToAdd(m.request_headers_to_add_when_not_enforced, ref, field, 'request_headers_to_add_when_not_enforced'),
    descriptors: ((m.descriptors ?? []) as Msg[]).map((d, i) => {
      const dAt = fieldPath(at('descriptors'), i);
      const entries = ((d.entries ?? []) as Msg[]).map((e) => ({ key: String(e.key ?? ''), value: String(e.value ?? '') }));
      if (!entries.length) throw resourceError(ref, fieldPath(dAt, 'entries'), 'a descriptor needs at least one entry');
      if (!d.token_bucket) throw resourceError(ref, fieldPath(dAt, 'token_bucket'), 'a descriptor needs a token_bucket');
      return { entries, tokenBucket: tokenBucket(d.token_bucket, ctx, ref, fieldPath(dAt, 'token_bucket')) };
    }),
    stage: m.stage ?? 0,
    rateLimitHeaders: headers === 'DRAFT_VERSION_03',
    alwaysConsumeDefaultTokenBucket: wrapped<boolean>(m.always_consume_default_token_bucket, true),
    rateLimitedAsResourceExhausted: m.rate_limited_as_resource_exhausted === true,
    scope: m.local_rate_limit_per_downstream_connection ? 'connection' : 'shared',
  };
}

/** A route's or virtual host's rate_limits: the descriptors the rate limit filters read. */
export function decodeRateLimits(list: Msg[] | undefined, ctx: DecodeContext, ref: ResourceRef, field: string): RateLimitPolicy[] | undefined {
  if (!list?.length) return undefined;
  return list.map((r, i) => {
    const at = fieldPath(field, i);
    checkFields(r, RATE_LIMIT, ref, at, ctx);
    if (r.disable_key) throw resourceError(ref, fieldPath(at, 'disable_key'), 'disable_key (runtime) is not supported');
    const actions = ((r.actions ?? []) as Msg[]).map((a, j) => decodeAction(a, ctx, ref, fieldPath(fieldPath(at, 'actions'), j)));
    if (!actions.length) throw resourceError(ref, fieldPath(at, 'actions'), 'a rate limit needs at least one action');
    return { stage: wrapped<number>(r.stage, 0), actions };
  });
}

function decodeAction(a: Msg, ctx: DecodeContext, ref: ResourceRef, field: string): RateLimitAction {
  const kind = a.action_specifier as string | undefined;
  const at = fieldPath(field, kind ?? 'action_specifier');
  const v = (kind ? a[kind] : undefined) as Msg | undefined;
  switch (kind) {
    case 'source_cluster':
      return { sourceCluster: true };
    case 'destination_cluster':
      return { destinationCluster: true };
    case 'remote_address':
      return { remoteAddress: true };
    case 'request_headers':
      if (!v?.header_name || !v.descriptor_key) throw resourceError(ref, at, 'request_headers needs header_name and descriptor_key');
      return { requestHeaders: { headerName: String(v.header_name).toLowerCase(), descriptorKey: v.descriptor_key, skipIfAbsent: v.skip_if_absent === true } };
    case 'generic_key':
      if (!v?.descriptor_value) throw resourceError(ref, fieldPath(at, 'descriptor_value'), 'generic_key needs a descriptor_value');
      return { genericKey: { descriptorValue: v.descriptor_value, descriptorKey: v.descriptor_key || 'generic_key' } };
    case 'header_value_match':
      if (!v?.descriptor_value) throw resourceError(ref, fieldPath(at, 'descriptor_value'), 'header_value_match needs a descriptor_value');
      return {
        headerValueMatch: {
          descriptorKey: v.descriptor_key || 'header_match',
          descriptorValue: v.descriptor_value,
          expectMatch: wrapped<boolean>(v.expect_match, true),
          headers: ((v.headers ?? []) as Msg[]).map((h, i) => decodeHeaderMatcher(h, ref, fieldPath(fieldPath(at, 'headers'), i))),
        },
      };
    case 'extension':
      return expressionAction(v ?? {}, ref, at);
    default:
      throw resourceError(ref, at, `rate limit action ${kind ?? '(none)'} is not supported`);
  }
}

/** The rate_limit_descriptors.expr extension: a CEL expression (text) whose value is the entry. */
function expressionAction(ext: Msg, ref: ResourceRef, field: string): RateLimitAction {
  const tc = typedConfigOf(ext.typed_config, ref, fieldPath(field, 'typed_config'));
  if (tc?.typeName !== EXPR_DESCRIPTOR_TYPE) throw resourceError(ref, fieldPath(field, 'typed_config'), `rate limit descriptor extension ${ext.name ?? ''} (${tc?.typeName ?? 'none'}) is not supported`);
  const d = (tc.message ?? tc.fields ?? {}) as Msg;
  const text = d.text as string | undefined;
  const at = fieldPath(field, 'typed_config');
  if (!d.descriptor_key) throw resourceError(ref, fieldPath(at, 'descriptor_key'), 'the expression descriptor needs a descriptor_key');
  if (!text) throw resourceError(ref, fieldPath(at, 'text'), 'the expression descriptor needs its text (a parsed expression is not supported)');
  try {
    checkCel(text);
  } catch (e) {
    throw resourceError(ref, fieldPath(at, 'text'), (e as Error).message);
  }
  return { expression: { descriptorKey: d.descriptor_key, text, skipIfError: d.skip_if_error === true } };
}
