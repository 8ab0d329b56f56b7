// The local rate limit filter over xDS: its config on a connection manager (a plain Any, or the
// TypedStruct istiod passes EnvoyFilter patches on in), per route, and the rate_limits of routes
// and virtual hosts; what Outrigger cannot apply refused with the field named.
import { describe, expect, it } from 'vitest';
import { decodeHttpConnectionManager } from '../../../../src/config/envoy/decode/http-connection-manager.js';
import { decodeRouteConfiguration } from '../../../../src/config/envoy/decode/route-configuration.js';
import { sidecarNode } from '../../helpers.js';
import { collectingContext, plain } from './dumps.js';
import { ISTIO_TASK_LIMIT } from '../../../helpers/local-ratelimit.js';

type Json = Record<string, any>;
const HCM_TYPE = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const RL = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
const ref = { kind: 'Listener', name: 'virtualInbound' };

const TASK_VALUE = {
  stat_prefix: 'http_local_rate_limiter',
  token_bucket: { max_tokens: 4, tokens_per_fill: 4, fill_interval: '60s' },
  filter_enabled: { runtime_key: 'local_rate_limit_enabled', default_value: { numerator: 100, denominator: 'HUNDRED' } },
  filter_enforced: { runtime_key: 'local_rate_limit_enforced', default_value: { numerator: 100, denominator: 'HUNDRED' } },
  response_headers_to_add: [{ append: false, header: { key: 'x-local-rate-limit', value: 'true' } }],
};
const TASK_CONFIG = ISTIO_TASK_LIMIT;

function hcm(filter: Json) {
  const ctx = collectingContext();
  ctx.node = sidecarNode();
  const m = plain<Json>(HCM_TYPE, { stat_prefix: 'inbound_0.0.0.0_9080', rds: { config_source: { ads: {} }, route_config_name: 'inbound|9080||' }, http_filters: [filter, ROUTER] });
  return decodeHttpConnectionManager(m, ctx, ref, 'hcm', 'inline@x').hcm;
}

function routes(vh: Json) {
  const ctx = collectingContext();
  ctx.node = sidecarNode();
  const m = plain<Json>('envoy.config.route.v3.RouteConfiguration', { name: 'inbound|9080||', virtual_hosts: [{ name: 'inbound|http|9080', domains: ['*'], ...vh }] });
  return decodeRouteConfiguration(m, ctx);
}

describe('envoy.filters.http.local_ratelimit over xDS', () => {
  it("the task's config as a plain Any and as istiod's TypedStruct: the same Snapshot config", () => {
    const direct = hcm({ name: 'envoy.filters.http.local_ratelimit', typed_config: { '@type': RL, ...TASK_VALUE } });
    expect(direct.httpFilters).toEqual([{ name: 'envoy.filters.http.local_ratelimit', config: TASK_CONFIG }]);
    const wrapped = hcm({ name: 'envoy.filters.http.local_ratelimit', typed_config: { '@type': 'type.googleapis.com/udpa.type.v1.TypedStruct', type_url: RL, value: TASK_VALUE } });
    expect(wrapped.httpFilters).toEqual(direct.httpFilters);
  });

  it('descriptors, stage, x-ratelimit headers, per connection, not-enforced request headers, gRPC status; Envoy\'s defaults', () => {
    const f = hcm({
      name: 'rl',
      typed_config: {
        '@type': RL,
        stat_prefix: 'p',
        status: { code: 'ServiceUnavailable' },
        descriptors: [{ entries: [{ key: 'client_id', value: 'a' }], token_bucket: { max_tokens: 1, fill_interval: '1s' } }],
        stage: 2,
        enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
        local_rate_limit_per_downstream_connection: true,
        request_headers_to_add_when_not_enforced: [{ header: { key: 'x-limited', value: '1' } }],
        always_consume_default_token_bucket: false,
        rate_limited_as_resource_exhausted: true,
      },
    }).httpFilters[0].config;
    expect(f).toEqual({
      statPrefix: 'p',
      enabledPercent: 0,
      enforcedPercent: 0,
      status: 503,
      responseHeadersToAdd: [],
      requestHeadersToAddWhenNotEnforced: [{ name: 'x-limited', value: '1', append: true }],
      descriptors: [{ entries: [{ key: 'client_id', value: 'a' }], tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 1000 } }],
      stage: 2,
      rateLimitHeaders: true,
      alwaysConsumeDefaultTokenBucket: false,
      rateLimitedAsResourceExhausted: true,
      scope: 'connection',
    });
  });

  it('per route and per virtual host; rate_limits with every action Outrigger applies', () => {
    const rc = routes({
      typed_per_filter_config: { 'envoy.filters.http.local_ratelimit': { '@type': RL, ...TASK_VALUE } },
      rate_limits: [{ actions: [{ remote_address: {} }] }],
      routes: [
        {
          match: { prefix: '/' },
          route: {
            cluster: 'inbound|9080||',
            rate_limits: [
              {
                stage: 1,
                actions: [
                  { request_headers: { header_name: 'X-User', descriptor_key: 'user' } },
                  { generic_key: { descriptor_value: 'v' } },
                  { header_value_match: { descriptor_value: 'get', headers: [{ name: ':method', string_match: { exact: 'GET' } }] } },
                  { destination_cluster: {} },
                  { extension: { name: 'custom', typed_config: { '@type': 'type.googleapis.com/udpa.type.v1.TypedStruct', type_url: 'type.googleapis.com/envoy.extensions.rate_limit_descriptors.expr.v3.Descriptor', value: { descriptor_key: 'client_id', text: 'connection.uri_san_peer_certificate' } } } },
                ],
              },
            ],
          },
        },
      ],
    });
    const vh = rc.virtualHosts[0];
    expect(vh.typedPerFilterConfig?.['envoy.filters.http.local_ratelimit']).toEqual(TASK_CONFIG);
    expect(vh.rateLimits).toEqual([{ stage: 0, actions: [{ remoteAddress: true }] }]);
    const action = vh.routes[0].action;
    expect(action.kind === 'route' && action.rateLimits).toEqual([
      {
        stage: 1,
        actions: [
          { requestHeaders: { headerName: 'x-user', descriptorKey: 'user', skipIfAbsent: false } },
          { genericKey: { descriptorValue: 'v', descriptorKey: 'generic_key' } },
          { headerValueMatch: { descriptorKey: 'header_match', descriptorValue: 'get', expectMatch: true, headers: [{ name: ':method', match: { exact: 'GET' }, invert: false }] } },
          { destinationCluster: true },
          { expression: { descriptorKey: 'client_id', text: 'connection.uri_san_peer_certificate', skipIfError: false } },
        ],
      },
    ]);
  });

  it.each<[string, Json, RegExp]>([
    ['a bucket with no tokens', { token_bucket: { max_tokens: 0, fill_interval: '1s' } }, /typed_config\.token_bucket\.max_tokens: max_tokens must be at least 1/],
    ['a fill interval under 50 ms', { token_bucket: { max_tokens: 1, fill_interval: '0.01s' } }, /token_bucket\.fill_interval: fill_interval must be at least 50ms/],
    ['the local cluster rate limit', { local_cluster_rate_limit: {} }, /local_cluster_rate_limit/],
    ['vh_rate_limits INCLUDE', { vh_rate_limits: 'INCLUDE' }, /vh_rate_limits INCLUDE is not supported/],
    ['a 2xx status', { status: { code: 'OK' } }, /status\.code: status OK is not supported/],
  ])('refuses %s', (_what, extra, error) => {
    expect(() => hcm({ name: 'rl', typed_config: { '@type': RL, stat_prefix: 'p', ...extra } })).toThrow(error);
  });

  it('refuses a per-route config without a token_bucket, as Envoy does', () => {
    expect(() => routes({ typed_per_filter_config: { 'envoy.filters.http.local_ratelimit': { '@type': RL, stat_prefix: 'p' } }, routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] })).toThrow(/typed_per_filter_config\.envoy\.filters\.http\.local_ratelimit\.token_bucket: a per-route local rate limit needs a token_bucket/);
  });

  it('refuses a rate limit action it cannot compute and a CEL text that does not parse', () => {
    const route = (actions: Json[]) => routes({ routes: [{ match: { prefix: '/' }, route: { cluster: 'c', rate_limits: [{ actions }] } }] });
    expect(() => route([{ metadata: { descriptor_key: 'k', metadata_key: { key: 'x', path: [{ key: 'y' }] } } }])).toThrow(/actions\[0\]\.metadata: rate limit action metadata is not supported/);
    const expr = (text: string) => ({ extension: { name: 'c', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.rate_limit_descriptors.expr.v3.Descriptor', descriptor_key: 'k', text } } });
    expect(() => route([expr('connection.')])).toThrow(/typed_config\.text: invalid CEL expression/);
  });
});
