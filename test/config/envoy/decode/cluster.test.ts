// Clusters as istiod and istio-agent send them (config dumps, bootstrap goldens, and the shapes
// istiod's cluster builder gives) decoded into the Snapshot's; what cannot be enforced is refused.
import { describe, expect, it } from 'vitest';
import { decodeCluster, type ClusterMessage } from '../../../../src/config/envoy/decode/cluster.js';
import { collectingContext, findTyped, goldenClusters, JSON_DUMPS, plain, PRODUCTPAGE_MESH_TLS, readDump } from './dumps.js';

const CLUSTER = 'envoy.config.cluster.v3.Cluster';
const cluster = (json: object) => plain<ClusterMessage>(CLUSTER, json);
const UNLIMITED = 4294967295;
const NO_LIMITS = { thresholds: [{ max_connections: UNLIMITED, max_pending_requests: UNLIMITED, max_requests: UNLIMITED, max_retries: UNLIMITED, track_remaining: true }] };
const MX_FILTER = { name: 'istio.metadata_exchange', typed_config: { '@type': 'type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange', protocol: 'istio-peer-exchange' } };
const ADS = { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' };
const HTTP_OPTIONS = (o: object) => ({ 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', ...o } });

describe('every cluster of the config dumps and bootstrap goldens', () => {
  it('decodes, or is refused for a documented reason', () => {
    const results: Record<string, string> = {};
    const inputs = [
      ...JSON_DUMPS.flatMap((f) => findTyped(readDump(f), 'envoy.config.cluster.v3.Cluster').map((c) => ({ from: f, c }))),
      ...goldenClusters().map(({ file, cluster: c }) => ({ from: file, c })),
    ];
    for (const { from, c } of inputs) {
      const key = `${from}: ${c.name as string}`;
      try {
        decodeCluster(cluster(c), collectingContext());
        results[key] = 'ok';
      } catch (e) {
        results[key] = (e as Error).message;
      }
    }
    const refused = Object.entries(results).filter(([, r]) => r !== 'ok');
    // ambient's waypoint clusters tunnel through Envoy's internal listeners: not supported
    expect(refused).toEqual([
      ['proxyconfig/testdata/config_dump.json: inbound-vip|8000|http|httpbin.default.svc.cluster.local', expect.stringContaining('field transport_socket.typed_config: transport socket internal_upstream')],
      ['writer/compare/testdata/configdump.json: inbound-vip|9080|http|ratings.default.svc.cluster.local', expect.stringContaining('field transport_socket.typed_config: transport socket internal_upstream')],
    ]);
    expect(Object.keys(results).length).toBeGreaterThanOrEqual(12);
  });

  it('istio-agent\'s xds-grpc: a pipe, HTTP/2, one request per connection, its default-priority limits (HIGH warned)', () => {
    const xds = goldenClusters().find(({ cluster: c }) => c.name === 'xds-grpc')!.cluster;
    const ctx = collectingContext();
    const d = decodeCluster(cluster(xds), ctx);
    expect(d).toEqual({
      cluster: {
        name: 'xds-grpc',
        type: 'STATIC',
        lbPolicy: 'ROUND_ROBIN',
        connectTimeoutMs: 1000,
        idleTimeoutMs: 4000,
        circuitBreakers: { maxConnections: 100000, maxPendingRequests: 100000, maxRequests: 100000, maxRetries: 3 },
        maxRequestsPerConnection: 1,
        panicThresholdPercent: 50,
        http2: {},
      },
      loadAssignment: { clusterName: 'xds-grpc', endpoints: [{ locality: { region: '', zone: '', subZone: '' }, lbEndpoints: [{ endpoint: { address: { pipe: { path: expect.any(String) } } }, healthStatus: 'UNKNOWN', loadBalancingWeight: 1, metadata: { labels: {} } }], priority: 0 }] },
    });
    expect(ctx.warnings).toEqual([
      'Cluster xds-grpc: upstream_connection_options is not applied (TCP keepalive and happy eyeballs settings are left to the system)',
      'Cluster xds-grpc: circuit_breakers.thresholds[1] (priority HIGH) is not applied: routes have no priority',
    ]);
  });

  it('a STRICT_DNS golden cluster keeps its DNS name and V4_ONLY', () => {
    const zipkin = goldenClusters().find(({ cluster: c }) => c.name === 'zipkin' && !c.transport_socket)!.cluster;
    const d = decodeCluster(cluster(zipkin), collectingContext());
    expect(d.cluster).toMatchObject({ type: 'STRICT_DNS', dnsLookupFamily: 'V4_ONLY' });
    expect(d.loadAssignment!.endpoints[0]!.lbEndpoints[0]!.endpoint.address).toEqual({ socketAddress: { address: 'localhost', portValue: 6000 } });
  });
});

describe('istiod\'s clusters, exactly', () => {
  it('outbound EDS with auto mTLS (transport socket matches, SAN matchers, SNI), its subset and service from metadata', () => {
    const json = findTyped(readDump('describe/testdata/describe/http_config.json'), 'envoy.config.cluster.v3.Cluster')[0]!;
    const ctx = collectingContext();
    const d = decodeCluster(cluster(json), ctx);
    expect(d).toEqual({
      cluster: {
        name: 'outbound|9080|v1|productpage.default.svc.cluster.local',
        type: 'EDS',
        lbPolicy: 'LEAST_REQUEST',
        connectTimeoutMs: 10_000,
        idleTimeoutMs: 4000,
        panicThresholdPercent: 50,
        transportSocketMatches: [
          {
            name: 'tlsMode-istio',
            match: { tlsMode: 'istio' },
            transportSocket: PRODUCTPAGE_MESH_TLS,
          },
          { name: 'tlsMode-disabled', match: {}, transportSocket: { name: 'envoy.transport_sockets.raw_buffer' } },
        ],
        service: { host: 'productpage.default.svc.cluster.local', namespace: 'default', port: 9080, subset: 'v1' },
        // the DestinationRule istiod built it from, in its metadata
        source: '/apis/networking.istio.io/v1alpha3/namespaces/default/destination-rule/productpage',
      },
      edsServiceName: 'outbound|9080|v1|productpage.default.svc.cluster.local',
      edsConfig: { ads: true },
    });
    expect(ctx.warnings).toEqual([]);
  });

  it('inbound: ORIGINAL_DST from 127.0.0.6 / ::6, HTTP/2 for a gRPC port', () => {
    const d = decodeCluster(cluster({
      name: 'inbound|9090||',
      type: 'ORIGINAL_DST',
      connect_timeout: '10s',
      lb_policy: 'CLUSTER_PROVIDED',
      circuit_breakers: NO_LIMITS,
      cleanup_interval: '60s',
      upstream_bind_config: { source_address: { address: '127.0.0.6', port_value: 0 }, extra_source_addresses: [{ address: { address: '::6', port_value: 0 } }] },
      typed_extension_protocol_options: HTTP_OPTIONS({ common_http_protocol_options: { idle_timeout: '3600s' }, explicit_http_config: { http2_protocol_options: {} } }),
      metadata: { filter_metadata: { istio: { services: [{ host: 'grpc.default.svc.cluster.local', name: 'grpc', namespace: 'default' }] } } },
    }), collectingContext());
    expect(d).toEqual({
      cluster: {
        name: 'inbound|9090||',
        type: 'ORIGINAL_DST',
        lbPolicy: 'CLUSTER_PROVIDED',
        connectTimeoutMs: 10_000,
        idleTimeoutMs: 3_600_000,
        panicThresholdPercent: 50,
        upstreamBindAddresses: ['127.0.0.6', '::6'],
        http2: {},
        service: { host: 'grpc.default.svc.cluster.local', namespace: 'default', port: 9090 },
      },
    });
  });

  it('a headless service whose target port differs: ORIGINAL_DST with istiod\'s upstream port override', () => {
    const d = decodeCluster(cluster({ name: 'outbound|80||db.default.svc.cluster.local', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', original_dst_lb_config: { upstream_port_override: 5432 } }), collectingContext());
    expect(d.cluster.originalDstPortOverride).toBe(5432);
  });

  it('PassthroughCluster (the client\'s protocol kept, metadata exchange inert) and BlackHoleCluster', () => {
    const passthrough = decodeCluster(cluster({
      name: 'PassthroughCluster',
      type: 'ORIGINAL_DST',
      connect_timeout: '10s',
      lb_policy: 'CLUSTER_PROVIDED',
      circuit_breakers: NO_LIMITS,
      typed_extension_protocol_options: HTTP_OPTIONS({ common_http_protocol_options: { idle_timeout: '0s' }, use_downstream_protocol_config: { http_protocol_options: {}, http2_protocol_options: {} } }),
      filters: [MX_FILTER],
    }), collectingContext());
    expect(passthrough).toEqual({
      cluster: { name: 'PassthroughCluster', type: 'ORIGINAL_DST', lbPolicy: 'CLUSTER_PROVIDED', connectTimeoutMs: 10_000, idleTimeoutMs: Number.MAX_SAFE_INTEGER, panicThresholdPercent: 50, http2: {}, useClientProtocol: true },
    });
    const blackhole = decodeCluster(cluster({ name: 'BlackHoleCluster', type: 'STATIC', connect_timeout: '10s', load_assignment: { cluster_name: 'BlackHoleCluster' } }), collectingContext());
    expect(blackhole).toEqual({
      cluster: { name: 'BlackHoleCluster', type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 10_000, idleTimeoutMs: 4000, circuitBreakers: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 }, panicThresholdPercent: 50 },
      loadAssignment: { clusterName: 'BlackHoleCluster', endpoints: [] },
    });
  });

  it('a DestinationRule\'s connection pool, outlier detection and LEAST_REQUEST slow start', () => {
    const ctx = collectingContext();
    const d = decodeCluster(cluster({
      name: 'outbound|9080||reviews.default.svc.cluster.local',
      type: 'EDS',
      eds_cluster_config: { eds_config: ADS, service_name: 'outbound|9080||reviews.default.svc.cluster.local' },
      connect_timeout: '2.5s',
      lb_policy: 'LEAST_REQUEST',
      least_request_lb_config: { slow_start_config: { slow_start_window: '30s', aggression: { default_value: 2, runtime_key: 'x' }, min_weight_percent: { value: 20 } } },
      circuit_breakers: { thresholds: [{ max_connections: 100, max_pending_requests: 10, max_requests: 1000, max_retries: 2, track_remaining: true }] },
      typed_extension_protocol_options: HTTP_OPTIONS({ common_http_protocol_options: { idle_timeout: '30s', max_requests_per_connection: 5 }, explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 64 } } }),
      outlier_detection: { consecutive_5xx: 3, interval: '5s', base_ejection_time: '60s', max_ejection_percent: 50, enforcing_consecutive_5xx: 100, enforcing_success_rate: 0, consecutive_gateway_failure: 2, enforcing_consecutive_gateway_failure: 100 },
      common_lb_config: { healthy_panic_threshold: { value: 25 } },
      filters: [MX_FILTER],
    }), ctx);
    expect(d.cluster).toEqual({
      name: 'outbound|9080||reviews.default.svc.cluster.local',
      type: 'EDS',
      lbPolicy: 'LEAST_REQUEST',
      connectTimeoutMs: 2500,
      idleTimeoutMs: 30_000,
      circuitBreakers: { maxConnections: 100, maxPendingRequests: 10, maxRequests: 1000, maxRetries: 2 },
      maxRequestsPerConnection: 5,
      outlierDetection: { consecutive5xx: 3, consecutiveGatewayFailure: 2, consecutiveLocalOriginFailure: 0, splitExternalLocalOriginErrors: false, intervalMs: 5000, baseEjectionTimeMs: 60_000, maxEjectionPercent: 50 },
      panicThresholdPercent: 25,
      slowStart: { windowMs: 30_000, aggression: 2, minWeightPercent: 20 },
      http2: { maxConcurrentStreams: 64 },
    });
    expect(ctx.warnings).toEqual([]);
  });

  it('ring hash and Maglev table sizes; Envoy\'s outlier defaults (success rate warned unless off)', () => {
    const ring = decodeCluster(cluster({ name: 'r', type: 'EDS', eds_cluster_config: { eds_config: ADS }, lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: '2048' } }), collectingContext());
    expect(ring.cluster).toMatchObject({ lbPolicy: 'RING_HASH', hashTableSize: 2048 });
    expect(ring.edsServiceName).toBe('r');
    const maglev = decodeCluster(cluster({ name: 'm', type: 'EDS', eds_cluster_config: { eds_config: ADS }, lb_policy: 'MAGLEV', maglev_lb_config: { table_size: '65537' } }), collectingContext());
    expect(maglev.cluster).toMatchObject({ lbPolicy: 'MAGLEV', hashTableSize: 65537 });
    const ctx = collectingContext();
    const od = decodeCluster(cluster({ name: 'o', type: 'EDS', eds_cluster_config: { eds_config: ADS }, outlier_detection: {} }), ctx);
    expect(od.cluster.outlierDetection).toEqual({ consecutive5xx: 5, consecutiveGatewayFailure: 0, consecutiveLocalOriginFailure: 0, splitExternalLocalOriginErrors: false, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 });
    expect(ctx.warnings).toEqual(['Cluster o: outlier_detection.enforcing_success_rate is not applied (success-rate ejection is not done; set it to 0 as istiod does)']);
  });

  it('a DestinationRule SIMPLE without sni or SANs: auto_sni and auto_san_validation (the certificate must fit the name connected to)', () => {
    const d = decodeCluster(cluster({
      name: 'outbound|443||api.example.com',
      type: 'STRICT_DNS',
      load_assignment: { cluster_name: 'outbound|443||api.example.com', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'api.example.com', port_value: 443 } } } }] }] },
      typed_extension_protocol_options: HTTP_OPTIONS({ upstream_http_protocol_options: { auto_sni: true, auto_san_validation: true }, explicit_http_config: { http_protocol_options: {} } }),
      transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', common_tls_context: { validation_context: { system_root_certs: {} } } } },
    }), collectingContext());
    expect(d.cluster).toMatchObject({ autoSanValidation: true, transportSocket: { typedConfig: { commonTlsContext: { validationContext: { systemRootCerts: {} } } } } });
  });

  it('LOGICAL_DNS: one endpoint, a DNS name', () => {
    const d = decodeCluster(cluster({
      name: 'outbound|443||api.example.com',
      type: 'LOGICAL_DNS',
      dns_lookup_family: 'V4_ONLY',
      load_assignment: { cluster_name: 'outbound|443||api.example.com', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'api.example.com', port_value: 443 } } } }] }] },
    }), collectingContext());
    expect(d.cluster).toMatchObject({ type: 'LOGICAL_DNS', dnsLookupFamily: 'V4_ONLY' });
    expect(d.loadAssignment!.endpoints[0]!.lbEndpoints).toHaveLength(1);
  });
});

describe('refused (fail closed)', () => {
  const eds = { name: 'c', type: 'EDS', eds_cluster_config: { eds_config: ADS } };
  const cases: [string, object, string][] = [
    ['a transport socket match on another key', { ...eds, transport_socket_matches: [{ name: 'x', match: { env: 'prod' }, transport_socket: { name: 'envoy.transport_sockets.raw_buffer' } }] }, 'field transport_socket_matches[0].match.env: transport socket matches on tlsMode: istio only'],
    ['an unknown upstream network filter', { ...eds, filters: [{ name: 'envoy.filters.network.rbac', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC', stat_prefix: 's' } }] }, 'filters[0]: upstream network filter envoy.filters.network.rbac'],
    ['an upstream HTTP filter', { ...eds, typed_extension_protocol_options: HTTP_OPTIONS({ explicit_http_config: { http_protocol_options: {} }, http_filters: [{ name: 'envoy.filters.http.header_mutation' }] }) }, 'upstream HTTP filter envoy.filters.http.header_mutation'],
    ['ORIGINAL_DST by header', { name: 'c', type: 'ORIGINAL_DST', lb_policy: 'CLUSTER_PROVIDED', original_dst_lb_config: { use_http_header: true } }, 'original_dst_lb_config.use_http_header'],
    ['ORIGINAL_DST without CLUSTER_PROVIDED', { name: 'c', type: 'ORIGINAL_DST' }, 'an ORIGINAL_DST cluster needs lb_policy CLUSTER_PROVIDED'],
    ['a custom cluster type', { name: 'c', cluster_type: { name: 'envoy.clusters.aggregate' } }, 'field cluster_type: custom cluster types'],
    ['subset load balancing', { ...eds, lb_subset_config: { fallback_policy: 'ANY_ENDPOINT' } }, 'lb_subset_config'],
    ['EDS without eds_config', { name: 'c', type: 'EDS' }, 'needs its eds_config'],
    ['EDS from a file', { name: 'c', type: 'EDS', eds_cluster_config: { eds_config: { path_config_source: { path: '/x' } } } }, 'file-based xDS'],
    ['a STATIC name', { name: 'c', type: 'STATIC', load_assignment: { cluster_name: 'c', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'db.local', port_value: 1 } } } }] }] } }, 'a STATIC cluster needs IP addresses'],
    ['LOGICAL_DNS with two hosts', { name: 'c', type: 'LOGICAL_DNS', load_assignment: { cluster_name: 'c', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'a', port_value: 1 } } } }, { endpoint: { address: { socket_address: { address: 'b', port_value: 1 } } } }] }] } }, 'exactly one locality with one endpoint'],
    ['both forms of the HTTP protocol options', { ...eds, http2_protocol_options: {}, typed_extension_protocol_options: HTTP_OPTIONS({ explicit_http_config: { http_protocol_options: {} } }) }, 'field http2_protocol_options: cannot be set with typed_extension_protocol_options'],
    ['HTTP/3', { ...eds, typed_extension_protocol_options: HTTP_OPTIONS({ explicit_http_config: { http3_protocol_options: {} } }) }, 'HTTP/3 upstream'],
    ['a mismatched lb config', { ...eds, lb_policy: 'ROUND_ROBIN', ring_hash_lb_config: {} }, 'ring_hash_lb_config does not go with lb_policy ROUND_ROBIN'],
    ['a ring past Envoy\'s bound (memory)', { ...eds, lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: '100000000' } }, 'minimum_ring_size: must be at most 8388608'],
    ['a Maglev table that is not prime', { ...eds, lb_policy: 'MAGLEV', maglev_lb_config: { table_size: '65536' } }, 'table_size: must be a prime'],
    ['an outlier sweep every 0 s', { ...eds, outlier_detection: { interval: '0s' } }, 'outlier_detection.interval: must be above 0'],
    ['a connect timeout of 0', { ...eds, connect_timeout: '0s' }, 'connect_timeout: must be above 0'],
  ];
  for (const [what, json, error] of cases) {
    it(what, () => {
      expect(() => decodeCluster(cluster(json), collectingContext())).toThrow(error);
    });
  }
  it('a payload that does not decode (hostile or corrupt bytes) is an error naming the field', () => {
    const c = cluster({ ...eds, transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext' } } });
    (c.transport_socket!.typed_config as { value: Uint8Array }).value = Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(() => decodeCluster(c, collectingContext())).toThrow(/Cluster c, field transport_socket.typed_config: does not decode/);
    const p = cluster({ ...eds, typed_extension_protocol_options: HTTP_OPTIONS({}) });
    (p.typed_extension_protocol_options!['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']! as { value: Uint8Array }).value = Uint8Array.from([0x12, 0x05, 0x01]);
    expect(() => decodeCluster(p, collectingContext())).toThrow(/field typed_extension_protocol_options.envoy.extensions.upstreams.http.v3.HttpProtocolOptions: does not decode/);
  });
});
