// HttpConnectionManager decoding: the fields istiod sets mapped onto what the data plane does
// (path normalization, XFCC, timeouts, upgrades), the HTTP filters in order, each compiled by the
// filter factory that runs it.
import { describe, expect, it } from 'vitest';
import { decodeHttpConnectionManager } from '../../../../src/config/envoy/decode/http-connection-manager.js';
import { fromProtoJson } from '../../../../src/config/envoy/proto/json.js';
import { messageType } from '../../../../src/config/envoy/proto/registry.js';
import { httpFilterFactories } from '../../../../src/filters/http/registry.js';
import { sidecarNode } from '../../helpers.js';

const type = messageType('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
const ref = { kind: 'Listener', name: 'virtualInbound' };
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };
const BASE = { stat_prefix: 'inbound_0.0.0.0_8080', rds: { config_source: { ads: {} }, route_config_name: 'inbound|8080||' }, http_filters: [ROUTER] };

function decode(json: Record<string, unknown>) {
  const warnings: string[] = [];
  const merged: Record<string, unknown> = { ...BASE, ...json };
  for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
  const d = decodeHttpConnectionManager(fromProtoJson(type, merged, { location: {} }), { node: sidecarNode(), warn: (w) => warnings.push(w) }, ref, 'hcm', 'inline@x');
  return { ...d, warnings };
}

describe('path normalization: the HCM fields as the one mode the data plane runs', () => {
  it.each([
    [{}, 'NONE'],
    [{ normalize_path: false }, 'NONE'],
    [{ normalize_path: true, path_with_escaped_slashes_action: 'KEEP_UNCHANGED' }, 'BASE'],
    [{ normalize_path: true, merge_slashes: true }, 'MERGE_SLASHES'],
    [{ normalize_path: true, merge_slashes: true, path_with_escaped_slashes_action: 'UNESCAPE_AND_FORWARD' }, 'DECODE_AND_MERGE_SLASHES'],
  ])('%j → %s', (json, mode) => {
    expect(decode(json).hcm.pathNormalization).toBe(mode);
  });

  it.each([
    [{ normalize_path: true, path_with_escaped_slashes_action: 'REJECT_REQUEST' }],
    [{ normalize_path: true, path_with_escaped_slashes_action: 'UNESCAPE_AND_REDIRECT', merge_slashes: true }],
    [{ merge_slashes: true }],
  ])('%j is refused (it would change what RBAC sees)', (json) => {
    expect(() => decode(json)).toThrow('not a path normalization Outrigger does');
  });
});

describe('the connection manager', () => {
  it("istiod's inbound settings: XFCC, timeouts, limits, upgrades, HTTP/1.0", () => {
    const { hcm, rdsName } = decode({
      forward_client_cert_details: 'APPEND_FORWARD',
      set_current_client_cert_details: { subject: true, dns: true, uri: true },
      stream_idle_timeout: '0s',
      request_timeout: '30s',
      request_headers_timeout: '10s',
      max_request_headers_kb: 96,
      common_http_protocol_options: { idle_timeout: '300s', max_stream_duration: '60s', headers_with_underscores_action: 'ALLOW' },
      http_protocol_options: { accept_http_10: true },
      upgrade_configs: [{ upgrade_type: 'websocket' }, { upgrade_type: 'CONNECT', enabled: false }],
      use_remote_address: false,
      xff_num_trusted_hops: 1,
    });
    expect(hcm).toEqual({
      statPrefix: 'inbound_0.0.0.0_8080',
      routeConfigName: 'inbound|8080||',
      useRemoteAddress: false,
      xffNumTrustedHops: 1,
      stripEnvoyHeaders: false,
      maxRequestHeadersKb: 96,
      idleTimeoutMs: 300_000,
      streamIdleTimeoutMs: 0,
      requestTimeoutMs: 30_000,
      requestHeadersTimeoutMs: 10_000,
      maxStreamDurationMs: 60_000,
      acceptHttp10: true,
      httpFilters: [],
      forwardClientCertDetails: 'APPEND_FORWARD',
      pathNormalization: 'NONE',
      upgradeTypes: ['websocket'],
    });
    expect(rdsName).toBe('inbound|8080||');
  });

  it('an inline route_config takes the name it is given', () => {
    const { hcm, routeConfig, rdsName } = decode({ rds: undefined, route_config: { name: 'local', virtual_hosts: [{ name: 'b', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }] }] } });
    expect(hcm.routeConfigName).toBe('inline@x');
    expect(routeConfig?.name).toBe('inline@x');
    expect(rdsName).toBeUndefined();
  });

  it('RDS comes over ADS only', () => {
    expect(() => decode({ rds: { route_config_name: 'r', config_source: { path_config_source: { path: '/tmp/r.yaml' } } } })).toThrow('route configurations come over ADS only');
  });
});

describe('HTTP filters', () => {
  const jwt = {
    name: 'envoy.filters.http.jwt_authn',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication',
      providers: {
        'origins-0': {
          issuer: 'testing@secure.istio.io',
          local_jwks: { inline_string: '{"keys":[{"kty":"RSA","e":"AQAB","n":"xAE7eB6qugXyCAG3yhh7pkDkT65pHymX-P7KfIupjf59vsdo91bSP9C8H07pSAGQO1MV_xFj9VswgsCg4R6otmg5PV2He95lZdHtOcU5DXIg_pbhLdKXbi66GlVeK6ABZOUW3WYtnNHD-91gVuoeJT_DwtGGcp4ignkgXfkiEm4sw-4sfb4qdt5oLbyVpmW6x9cfa7vs2WTfURiCrBoUqgBo_-4WTiULmmHSGZHOjzwa8WtrtOQGsAFjIbno85jp6MnGGGZPYZbDAa_b3y5u-YpW7ypZrvD8BgtKVjgtQgZhLAGezMt0ua3DRrWnKqTZ0BJ_EyxOGuHJrLsn00fnMQ","kid":"DHFbpoIUqrY8t2zpA2qXfCmr5VO5ZEr4RzHU_-envvQ","alg":"RS256"}]}' },
          from_headers: [{ name: 'Authorization', value_prefix: 'Bearer ' }],
          payload_in_metadata: 'testing@secure.istio.io',
          forward: true,
        },
      },
      rules: [{ match: { prefix: '/' }, requires: { requires_any: { requirements: [{ provider_name: 'origins-0' }, { allow_missing: {} }] } } }],
      bypass_cors_preflight: true,
    },
  };
  const headerMutation = {
    name: 'envoy.filters.http.header_mutation',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation',
      mutations: { request_mutations: [{ remove: 'x-debug' }, { append: { header: { key: 'x-env', value: 'prod' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' } }] },
    },
  };
  const optionalUnknown = { name: 'my.optional', is_optional: true, typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer', max_request_bytes: 1024 } };

  it('are decoded in order into the shapes their factories compile; Istio-only ones left out; an optional unknown one skipped as Envoy does', () => {
    const { hcm, warnings } = decode({ http_filters: [jwt, headerMutation, optionalUnknown, ROUTER] });
    expect(hcm.httpFilters.map((f) => f.name)).toEqual(['envoy.filters.http.jwt_authn', 'envoy.filters.http.header_mutation']);
    expect(hcm.httpFilters[0].config).toEqual({
      providers: {
        'origins-0': {
          issuer: 'testing@secure.istio.io',
          localJwks: { inlineString: jwt.typed_config.providers['origins-0'].local_jwks.inline_string },
          fromHeaders: [{ name: 'authorization', valuePrefix: 'Bearer ' }],
          payloadInMetadata: 'testing@secure.istio.io',
          forward: true,
        },
      },
      rules: [{ match: { prefix: '/' }, requires: { requiresAny: { requirements: [{ providerName: 'origins-0' }, { allowMissing: {} }] } } }],
      bypassCorsPreflight: true,
    });
    for (const f of hcm.httpFilters) expect(() => httpFilterFactories.get(f.name)!.parse(f.config)).not.toThrow();
    expect(warnings).toEqual(['Listener virtualInbound: hcm.http_filters[2] (my.optional): optional filter envoy.extensions.filters.http.buffer.v3.Buffer skipped']);
  });

  it('a JWT provider field the filter does not check is refused', () => {
    const strict = structuredClone(jwt) as any;
    strict.typed_config.providers['origins-0'].require_expiration = true;
    expect(() => decode({ http_filters: [strict, ROUTER] })).toThrow('providers.origins-0.require_expiration: not supported by Outrigger');
  });
});

describe('tracing (HttpConnectionManager.tracing, the router\'s start_child_span)', () => {
  const OTEL_GRPC = {
    name: 'envoy.tracers.opentelemetry',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig',
      grpc_service: { envoy_grpc: { cluster_name: 'outbound|4317||otel.observability.svc.cluster.local', authority: 'otel.observability.svc.cluster.local' }, timeout: '3s', initial_metadata: [{ key: 'Authorization', value: 'x' }] },
      service_name: 'productpage.default',
    },
  };

  it('istiod\'s tracing block: the sampling percentages, Istio\'s literal and RBAC dry-run metadata tags, the OpenTelemetry tracer over gRPC', () => {
    const { hcm, warnings } = decode({
      tracing: {
        client_sampling: { value: 100 }, random_sampling: { value: 1 }, overall_sampling: { value: 100 },
        custom_tags: [
          { tag: 'istio.canonical_service', literal: { value: 'productpage' } },
          { tag: 'istio.authorization.dry_run.allow_policy.name', metadata: { kind: { request: {} }, metadata_key: { key: 'envoy.filters.http.rbac', path: [{ key: 'istio_dry_run_allow_shadow_effective_policy_id' }] } } },
          { tag: 'user', request_header: { name: 'X-User', default_value: 'none' } },
        ],
        provider: OTEL_GRPC,
        max_path_tag_length: 99,
      },
      request_id_extension: { typed_config: { '@type': 'type.googleapis.com/envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig', use_request_id_for_trace_sampling: false } },
    });
    expect(warnings).toEqual([]);
    expect(hcm.tracing).toEqual({
      provider: {
        kind: 'opentelemetry',
        serviceName: 'productpage.default',
        transport: 'grpc',
        collector: { cluster: 'outbound|4317||otel.observability.svc.cluster.local', authority: 'otel.observability.svc.cluster.local', timeoutMs: 3000, headers: [['authorization', 'x']] },
      },
      randomSamplingPercent: 1,
      clientSamplingPercent: 100,
      overallSamplingPercent: 100,
      customTags: [
        { tag: 'istio.canonical_service', literal: 'productpage' },
        { tag: 'istio.authorization.dry_run.allow_policy.name', requestMetadata: { filter: 'envoy.filters.http.rbac', path: ['istio_dry_run_allow_shadow_effective_policy_id'] } },
        { tag: 'user', requestHeader: { name: 'X-User', defaultValue: 'none' } },
      ],
      maxPathTagLength: 99,
      spawnUpstreamSpan: false,
      useRequestIdForTraceSampling: false,
    });
  });

  it('Zipkin (istiod\'s collector_cluster form); OpenTelemetry over HTTP; a gateway router\'s start_child_span spawns attempt spans', () => {
    const zipkin = (typed: Record<string, unknown>) => ({ name: 'envoy.tracers.zipkin', typed_config: { '@type': 'type.googleapis.com/envoy.config.trace.v3.ZipkinConfig', collector_endpoint_version: 'HTTP_JSON', ...typed } });
    const z = decode({ tracing: { provider: zipkin({ collector_cluster: 'outbound|9411||zipkin.istio-system.svc.cluster.local', collector_endpoint: '/api/v2/spans', collector_hostname: 'zipkin.istio-system.svc.cluster.local', trace_id_128bit: true, shared_span_context: false }) } }).hcm.tracing!;
    expect(z.provider).toMatchObject({ kind: 'zipkin', collector: { cluster: 'outbound|9411||zipkin.istio-system.svc.cluster.local', authority: 'zipkin.istio-system.svc.cluster.local', path: '/api/v2/spans', timeoutMs: 5000 }, traceId128Bit: true, sharedSpanContext: false });
    // Envoy's defaults: 100 % everywhere when the block names no sampling
    expect(z).toMatchObject({ randomSamplingPercent: 100, clientSamplingPercent: 100, overallSamplingPercent: 100, useRequestIdForTraceSampling: true });
    const http = decode({ tracing: { provider: { name: 'envoy.tracers.opentelemetry', typed_config: { '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig', http_service: { http_uri: { uri: 'otel.observability.svc.cluster.local/v1/traces', cluster: 'outbound|4318||otel.observability.svc.cluster.local', timeout: '2s' }, request_headers_to_add: [{ header: { key: 'X-Tenant', value: 't' } }] } } } } }).hcm.tracing!;
    expect(http.provider).toMatchObject({ transport: 'http', collector: { cluster: 'outbound|4318||otel.observability.svc.cluster.local', authority: 'otel.observability.svc.cluster.local', path: '/v1/traces', timeoutMs: 2000, headers: [['x-tenant', 't']] } });
    const legacy = decode({
      tracing: { provider: zipkin({ collector_cluster: 'zipkin', collector_endpoint: '/api/v2/spans', collector_hostname: 'zipkin.istio-system:9411' }) },
      http_filters: [{ ...ROUTER, typed_config: { ...ROUTER.typed_config, start_child_span: true } }],
    }).hcm.tracing!;
    expect(legacy.provider).toMatchObject({ collector: { cluster: 'zipkin', authority: 'zipkin.istio-system:9411' } });
    expect(legacy.spawnUpstreamSpan).toBe(true);
    // a tracer Outrigger does not export to: decisions, no provider, a warning
    const dd = decode({ tracing: { provider: { name: 'envoy.tracers.datadog', typed_config: { '@type': 'type.googleapis.com/envoy.config.trace.v3.DatadogConfig', collector_cluster: 'dd', service_name: 'x' } } } });
    expect(dd.hcm.tracing?.provider).toBeUndefined();
    expect(dd.warnings.join('\n')).toMatch(/tracer envoy\.tracers\.datadog is not exported to/);
    expect(() => decode({ tracing: { provider: { name: 'x', typed_config: { '@type': 'type.googleapis.com/envoy.config.trace.v3.ZipkinConfig', collector_endpoint_version: 'HTTP_PROTO', collector_cluster: 'z' } } } })).toThrow(/only HTTP_JSON/);
  });
});
