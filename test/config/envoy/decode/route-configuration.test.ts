// RouteConfiguration decoding (RDS): the dumps' route configurations, and one with what istiod
// emits for VirtualService retries, timeouts, weights, header matches, mirrors and faults.
import { describe, expect, it } from 'vitest';
import { decodeRouteConfiguration } from '../../../../src/config/envoy/decode/route-configuration.js';
import { DEFAULT_RETRY_POLICY } from '../../../../src/config/istio/translate-routes.js';
import { fromProtoJson } from '../../../../src/config/envoy/proto/json.js';
import { messageType } from '../../../../src/config/envoy/proto/registry.js';
import { compilePerRouteConfig } from '../../../../src/filters/http/registry.js';
import { RouteTable } from '../../../../src/router/route-table.js';
import type { RouteConfiguration } from '../../../../src/config/snapshot.js';
import { sidecarNode } from '../../helpers.js';
import { DUMP_FILES, dumpRouteConfigs } from './dumps.js';

const type = messageType('envoy.config.route.v3.RouteConfiguration');
const fromJson = (json: object) => fromProtoJson<Record<string, unknown>>(type, json, { location: { kind: 'RouteConfiguration' } });

function decode(message: Record<string, unknown>): { rc: RouteConfiguration; warnings: string[] } {
  const warnings: string[] = [];
  return { rc: decodeRouteConfiguration(message, { node: sidecarNode(), warn: (w) => warnings.push(w) }), warnings };
}

describe('the config dumps', () => {
  const all = DUMP_FILES.flatMap(dumpRouteConfigs);

  it.each(all.map((r) => [`${r.file} ${r.name}`, r] as const))('%s decodes and compiles into a route table', (_, r) => {
    const { rc } = decode(r.message);
    expect(rc.virtualHosts.length).toBeGreaterThan(0);
    expect(() => new RouteTable(rc, compilePerRouteConfig)).not.toThrow();
  });

  it("http.8080 (bookinfo's gateway): istiod's default retry policy is Istio's, exact and prefix paths, the source VirtualService", () => {
    const rc = decode(dumpRouteConfigs('describe/testdata/describe/http_config.json')[0].message).rc;
    const [first, second] = rc.virtualHosts[0].routes;
    expect(first).toEqual({
      name: '',
      match: { path: { exact: '/productpage' }, headers: [], queryParams: [] },
      action: { kind: 'route', clusters: [{ name: 'outbound|9080||productpage.default.svc.cluster.local', weight: 1 }], timeoutMs: 0, retryPolicy: DEFAULT_RETRY_POLICY },
      source: '/apis/networking.istio.io/v1alpha3/namespaces/default/virtual-service/bookinfo',
      // istiod's route operation: the one destination's host:port and the exact path
      decorator: { operation: 'productpage.default.svc.cluster.local:9080/productpage' },
    });
    expect(second.match.path).toEqual({ prefix: '/static' });
  });

  it("a gateway's route configuration ignores the port in host matching", () => {
    const r = dumpRouteConfigs('writer/envoy/configdump/testdata/routes/istio-gateway-http-route-prefix/configdump.json').find((x) => x.name === 'http.8080')!;
    const { rc } = decode(r.message);
    expect(rc.ignorePortInHostMatching).toBe(true);
    const table = new RouteTable(rc, compilePerRouteConfig);
    const domain = rc.virtualHosts[0].domains.find((d) => !d.includes('*') && !d.includes(':'))!;
    expect(table.findVirtualHost(`${domain}:8080`)).toBe(table.findVirtualHost(domain));
    expect(table.findVirtualHost(domain)).toBeDefined();
  });
});

/** What istiod emits for a VirtualService with a header match, weights, retries, a timeout, a mirror and a fault. */
const REVIEWS = {
  name: '9080',
  virtual_hosts: [{
    name: 'reviews.default.svc.cluster.local:9080',
    domains: ['reviews.default.svc.cluster.local', 'reviews', 'reviews:9080', '10.96.1.7', '10.96.1.7:9080'],
    include_request_attempt_count: true,
    routes: [
      {
        name: 'jason',
        match: {
          prefix: '/',
          case_sensitive: true,
          headers: [
            { name: 'end-user', string_match: { exact: 'jason' } },
            { name: 'x-canary', present_match: false },
            { name: 'x-legacy', exact_match: 'v1', invert_match: true },
            { name: 'x-re', safe_regex_match: { regex: 'a+b' } },
          ],
          query_parameters: [{ name: 'debug', string_match: { prefix: 'on' } }, { name: 'trace', present_match: true }],
        },
        route: {
          weighted_clusters: {
            clusters: [
              { name: 'outbound|9080|v2|reviews.default.svc.cluster.local', weight: 75, request_headers_to_add: [{ header: { key: 'x-subset', value: 'v2' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' }] },
              { name: 'outbound|9080|v3|reviews.default.svc.cluster.local', weight: 25, response_headers_to_remove: ['x-internal'] },
            ],
          },
          timeout: '2.5s',
          retry_policy: {
            retry_on: 'gateway-error,connect-failure,retriable-status-codes',
            num_retries: 3,
            per_try_timeout: '0.5s',
            retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate' } }],
            host_selection_retry_max_attempts: '5',
            retriable_status_codes: [503, 429],
            retry_back_off: { base_interval: '0.1s' },
            retry_priority: { name: 'envoy.retry_priorities.previous_priorities', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.retry.priority.previous_priorities.v3.PreviousPrioritiesConfig', update_frequency: 2 } },
          },
          request_mirror_policies: [{ cluster: 'outbound|9080||mirror.default.svc.cluster.local', runtime_fraction: { default_value: { numerator: 25 } }, trace_sampled: false }],
          hash_policy: [{ header: { header_name: 'X-User' } }],
          max_stream_duration: { max_stream_duration: '0s', grpc_timeout_header_max: '0s' },
          prefix_rewrite: '/v2/',
          host_rewrite_literal: 'reviews.internal',
          upgrade_configs: [{ upgrade_type: 'websocket', enabled: false }],
        },
        request_headers_to_add: [{ header: { key: 'x-route', value: 'jason' } }],
        typed_per_filter_config: {
          'envoy.filters.http.fault': {
            '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault',
            delay: { fixed_delay: '7s', percentage: { numerator: 10 } },
            abort: { http_status: 500, percentage: { numerator: 5000, denominator: 'TEN_THOUSAND' } },
          },
        },
        metadata: { filter_metadata: { istio: { config: '/apis/networking.istio.io/v1alpha3/namespaces/default/virtual-service/reviews' } } },
      },
      { name: 'old', match: { path_separated_prefix: '/old', case_sensitive: false }, redirect: { host_redirect: 'new.example.com', path_redirect: '/new', response_code: 'PERMANENT_REDIRECT', https_redirect: true } },
      { name: 'gone', match: { safe_regex: { regex: '/v[0-9]+/gone' }, grpc: {} }, direct_response: { status: 410, body: { inline_string: 'gone' } } },
    ],
    retry_policy: { retry_on: '5xx', num_retries: 1 },
    request_headers_to_add: [{ header: { key: 'x-vhost', value: '1' }, append: false }],
  }],
  validate_clusters: false,
};

describe('a RouteConfiguration with what a VirtualService gives', () => {
  const { rc, warnings } = decode(fromJson(REVIEWS));
  const [jason, old, gone] = rc.virtualHosts[0].routes;

  it('matches on headers in every form istiod emits and on query parameters', () => {
    expect(jason.match).toEqual({
      path: { prefix: '/' },
      headers: [
        { name: 'end-user', match: { exact: 'jason' }, invert: false },
        { name: 'x-canary', invert: true }, // present_match false: the header is absent
        { name: 'x-legacy', match: { exact: 'v1' }, invert: true },
        { name: 'x-re', match: { regex: 'a+b' }, invert: false },
      ],
      queryParams: [{ name: 'debug', match: { prefix: 'on' } }, { name: 'trace' }],
    });
  });

  it('routes to weighted clusters with their header mutations; timeout, retries, mirror, hash, rewrites, upgrades', () => {
    expect(jason.action).toEqual({
      kind: 'route',
      clusters: [
        { name: 'outbound|9080|v2|reviews.default.svc.cluster.local', weight: 75, requestHeaders: { set: [['x-subset', 'v2']], add: [], remove: [] } },
        { name: 'outbound|9080|v3|reviews.default.svc.cluster.local', weight: 25, responseHeaders: { set: [], add: [], remove: ['x-internal'] } },
      ],
      prefixRewrite: '/v2/',
      hostRewrite: 'reviews.internal',
      timeoutMs: 2500,
      retryPolicy: {
        numRetries: 3,
        perTryTimeoutMs: 500,
        retryOn: ['gateway-error', 'connect-failure', 'retriable-status-codes'],
        retriableStatusCodes: [503, 429],
        retryPreviousHosts: true,
        hostSelectionRetryMaxAttempts: 5,
        retryOtherPriorities: true,
        backoffBaseMs: 100,
        backoffMaxMs: 1000,
      },
      mirrors: [{ cluster: 'outbound|9080||mirror.default.svc.cluster.local', percent: 25 }],
      hashPolicy: { header: 'x-user' },
      upgrades: { websocket: false },
    });
    expect(jason.source).toBe('/apis/networking.istio.io/v1alpha3/namespaces/default/virtual-service/reviews');
  });

  it("folds the virtual host's headers after the route's, and its retry policy into routes without one", () => {
    expect(jason.requestHeaders).toEqual({ set: [['x-vhost', '1']], add: [['x-route', 'jason']], remove: [] });
    expect(old.requestHeaders).toEqual({ set: [['x-vhost', '1']], add: [], remove: [] });
  });

  it("decodes the fault filter's per-route config as its factory compiles it", () => {
    expect(jason.typedPerFilterConfig).toEqual({ 'envoy.filters.http.fault': { delay: { fixedDelayMs: 7000, percent: 10 }, abort: { httpStatus: 500, percent: 50 } } });
    expect(() => new RouteTable(rc, compilePerRouteConfig)).not.toThrow();
  });

  it('redirects and direct responses; path_separated_prefix and case-insensitive paths; gRPC only', () => {
    expect(old.match.path).toEqual({ regex: '(?i)/old(/.*)?' });
    expect(old.action).toEqual({ kind: 'redirect', responseCode: 308, scheme: 'https', host: 'new.example.com', path: '/new' });
    expect(gone.action).toEqual({ kind: 'direct_response', status: 410, body: 'gone' });
    expect(gone.match.headers).toEqual([{ name: 'content-type', match: { regex: 'application/grpc([+;].*)?' }, invert: false }]);
    const table = new RouteTable(rc, compilePerRouteConfig);
    const vh = table.findVirtualHost('reviews:9080')!;
    const view = (path: string, headers: Record<string, string> = {}) => ({ path, pathWithoutQuery: path.split('?')[0], header: (n: string) => headers[n], queryParam: () => undefined }) as never;
    expect(RouteTable.findRoute(vh, view('/OLD/x'))?.name).toBe('old');
    expect(RouteTable.findRoute(vh, view('/older'))).toBeUndefined();
    expect(RouteTable.findRoute(vh, view('/v2/gone', { 'content-type': 'application/grpc+proto' }))?.name).toBe('gone');
    expect(RouteTable.findRoute(vh, view('/v2/gone', { 'content-type': 'application/grpc' }))?.name).toBe('gone');
    expect(RouteTable.findRoute(vh, view('/v2/gone', { 'content-type': 'application/grpc-web' }))).toBeUndefined();
  });

  it('nothing to warn about', () => {
    expect(warnings).toEqual([]);
  });
});

describe('header mutations', () => {
  it('an empty value is left out unless keep_empty_value; append false overwrites', () => {
    const json = structuredClone(REVIEWS) as Record<string, any>;
    json.virtual_hosts[0].routes[1].request_headers_to_add = [
      { header: { key: 'x-empty', value: '' } },
      { header: { key: 'x-kept', value: '' }, keep_empty_value: true },
      { header: { key: 'X-Set', value: 'v' }, append: false },
    ];
    json.virtual_hosts[0].routes[1].request_headers_to_remove = ['X-Gone'];
    const old = decode(fromJson(json)).rc.virtualHosts[0].routes[1];
    expect(old.requestHeaders).toEqual({ set: [['x-set', 'v'], ['x-vhost', '1']], add: [['x-kept', '']], remove: ['x-gone'] });
  });
});

describe('CORS', () => {
  it("a VirtualService's corsPolicy (per filter, or the route's deprecated cors) becomes the CORS filter's per-route config", () => {
    const json = structuredClone(REVIEWS) as Record<string, any>;
    json.virtual_hosts[0].routes[1].typed_per_filter_config = {
      'envoy.filters.http.cors': {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy',
        allow_origin_string_match: [{ exact: 'https://a.example' }, { prefix: 'https://b.' }],
        allow_methods: 'GET,POST',
        allow_headers: 'x-token',
        expose_headers: 'x-trace',
        max_age: '600',
        allow_credentials: true,
      },
    };
    json.virtual_hosts[0].routes[0].route.cors = { allow_origin_string_match: [{ exact: '*' }], forward_not_matching_preflights: false };
    const { rc, warnings } = decode(fromJson(json));
    expect(rc.virtualHosts[0].routes[1].typedPerFilterConfig).toEqual({
      'envoy.filters.http.cors': {
        allowOrigins: [{ exact: 'https://a.example' }, { prefix: 'https://b.' }],
        allowMethods: 'GET,POST',
        allowHeaders: 'x-token',
        exposeHeaders: 'x-trace',
        maxAge: '600',
        allowCredentials: true,
        forwardNotMatchingPreflights: true,
      },
    });
    expect(rc.virtualHosts[0].routes[0].typedPerFilterConfig?.['envoy.filters.http.cors']).toEqual({ allowOrigins: [{ exact: '*' }], forwardNotMatchingPreflights: false });
    expect(() => new RouteTable(rc, compilePerRouteConfig)).not.toThrow();
    expect(warnings).toEqual([]);
  });
});

describe('refused, naming the field', () => {
  const refused = (patch: (r: Record<string, any>) => void) => {
    const json = structuredClone(REVIEWS) as Record<string, any>;
    patch(json.virtual_hosts[0].routes[0]);
    return () => decode(fromJson(json));
  };
  it.each([
    ['cluster_header', (r: Record<string, any>) => (r.route = { cluster_header: 'x-cluster' }), 'virtual_hosts[0].routes[0].route.cluster_header: cluster_header is not supported'],
    ['a runtime fraction below 100%', (r: Record<string, any>) => (r.match.runtime_fraction = { default_value: { numerator: 50 } }), 'runtime_fraction below 100% is not supported'],
    ['an ext_authz per-route config', (r: Record<string, any>) => (r.typed_per_filter_config = { 'envoy.filters.http.ext_authz': { '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute', disabled: true } }), 'a per-route config for envoy.filters.http.ext_authz'],
    ['ADD_IF_ABSENT', (r: Record<string, any>) => (r.request_headers_to_add = [{ header: { key: 'a', value: 'b' }, append_action: 'ADD_IF_ABSENT' }]), 'ADD_IF_ABSENT is not supported'],
  ])('%s', (_, patch, message) => {
    expect(refused(patch)).toThrow(message);
  });
});
