import { describe, expect, it } from 'vitest';
import { marshalJsonpb } from '../../../src/cli/proxy-config/jsonpb.js';

describe("marshalJsonpb (Go's legacy jsonpb over Envoy's proto JSON)", () => {
  it('fields in declaration order under JSON names; unset and default scalars left out, set wrappers kept', () => {
    const cluster = {
      lb_policy: 'ROUND_ROBIN',
      dns_lookup_family: 'V4_ONLY',
      connect_timeout: '1.5s',
      ignore_health_on_host_removal: false,
      per_connection_buffer_limit_bytes: 0,
      name: 'a',
      type: 3,
      transport_socket_matches: [],
      alt_stat_name: '',
    };
    expect(marshalJsonpb('envoy.config.cluster.v3.Cluster', cluster)).toBe('{"name":"a","type":"EDS","connectTimeout":"1.500s","perConnectionBufferLimitBytes":0,"dnsLookupFamily":"V4_ONLY"}');
  });

  it('int64 as a string, Durations with 0, 3, 6 or 9 fraction digits, HTML-escaped strings', () => {
    const route = { match: { prefix: '/a&b<c>' }, route: { cluster: 'c', timeout: '0s', idle_timeout: '0.000001s', retry_policy: { host_selection_retry_max_attempts: 5, num_retries: 2 } } };
    expect(marshalJsonpb('envoy.config.route.v3.Route', route)).toBe(
      '{"match":{"prefix":"/a\\u0026b\\u003cc\\u003e"},"route":{"cluster":"c","timeout":"0s","idleTimeout":"0.000001s","retryPolicy":{"numRetries":2,"hostSelectionRetryMaxAttempts":"5"}}}',
    );
  });

  it("Anys: the type's fields after @type; a well-known type as its value; an unknown type as given, names camel-cased", () => {
    expect(marshalJsonpb('envoy.config.core.v3.TypedExtensionConfig', { name: 'n', typed_config: { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: 'x' } })).toBe(
      '{"name":"n","typedConfig":{"@type":"type.googleapis.com/google.protobuf.StringValue","value":"x"}}',
    );
    expect(marshalJsonpb('envoy.config.listener.v3.Filter', { name: 'tcp', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', cluster: 'c', stat_prefix: 's' } })).toBe(
      '{"name":"tcp","typedConfig":{"@type":"type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy","statPrefix":"s","cluster":"c"}}',
    );
    expect(marshalJsonpb('envoy.config.listener.v3.Filter', { name: 'x', typed_config: { '@type': 'type.googleapis.com/io.istio.Unknown', some_field: 1, nested: { inner_key: [true] } } })).toBe(
      '{"name":"x","typedConfig":{"@type":"type.googleapis.com/io.istio.Unknown","someField":1,"nested":{"innerKey":[true]}}}',
    );
  });

  it('maps sorted by key, Struct values as they are (keys sorted), fields the API does not know kept at the end', () => {
    const metadata = { filter_metadata: { zeta: { b_key: 1, a_key: [null, 'x'] }, alpha: {} } };
    expect(marshalJsonpb('envoy.config.core.v3.Metadata', metadata)).toBe('{"filterMetadata":{"alpha":{},"zeta":{"a_key":[null,"x"],"b_key":1}}}');
    expect(marshalJsonpb('envoy.config.core.v3.Locality', { zone: 'z', future_field: { x_y: 1 }, region: 'r' })).toBe('{"region":"r","zone":"z","futureField":{"xY":1}}');
  });

  it('a float as Go prints a float32 (the shortest decimal of that float32), a double as it is', () => {
    const wrr = 'envoy.extensions.load_balancing_policies.client_side_weighted_round_robin.v3.ClientSideWeightedRoundRobin';
    expect(marshalJsonpb(wrr, { error_utilization_penalty: 0.30000001192092896 })).toBe('{"errorUtilizationPenalty":0.3}');
    expect(marshalJsonpb('envoy.config.cluster.v3.Cluster.CommonLbConfig', { healthy_panic_threshold: { value: 0.30000001192092896 } })).toBe('{"healthyPanicThreshold":{"value":0.30000001192092896}}');
  });

  it("with an indent: jsonpb's layout, an empty message split over lines", () => {
    expect(marshalJsonpb('envoy.config.core.v3.ConfigSource', { ads: {}, resource_api_version: 'V3' }, '    ')).toBe('{\n    "ads": {\n\n    },\n    "resourceApiVersion": "V3"\n}');
    expect(marshalJsonpb('envoy.config.core.v3.ConfigSource', { ads: {} })).toBe('{"ads":{}}');
  });
});
