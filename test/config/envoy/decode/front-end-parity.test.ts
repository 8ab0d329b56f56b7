// The same Istio intent through both front ends: a DestinationRule'd subset as the Istio YAML
// translation gives it, and as istiod's CDS resource decodes. The data plane must see one Cluster;
// the differences left are by design (named below).
import { describe, expect, it } from 'vitest';
import { decodeCluster, type ClusterMessage } from '../../../../src/config/envoy/decode/cluster.js';
import type { Cluster } from '../../../../src/config/snapshot.js';
import { cluster as clusterOf, translate } from '../../helpers.js';
import { collectingContext, plain } from './dumps.js';

const HOST = 'ratings.ext.svc.cluster.local';
const NAME = `outbound|9080|v1|${HOST}`;

const ISTIO_YAML = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ratings, namespace: ext }
spec:
  hosts: [${HOST}]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ name: http, number: 9080, protocol: HTTP }]
  endpoints:
  - { address: 10.0.0.7, labels: { version: v1, security.istio.io/tlsMode: istio }, serviceAccount: ratings }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: ratings, namespace: ext }
spec:
  host: ${HOST}
  trafficPolicy:
    loadBalancer: { simple: LEAST_REQUEST }
    connectionPool:
      tcp: { maxConnections: 100 }
      http: { http1MaxPendingRequests: 10, http2MaxRequests: 1000, maxRetries: 2, idleTimeout: 30s, maxRequestsPerConnection: 5 }
    outlierDetection: { consecutive5xxErrors: 3, interval: 5s, baseEjectionTime: 60s, maxEjectionPercent: 50 }
  subsets:
  - { name: v1, labels: { version: v1 } }
`;

const SDS = { api_config_source: { api_type: 'GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'sds-grpc' } }], set_node_on_first_message_only: true, transport_api_version: 'V3' }, initial_fetch_timeout: '0s', resource_api_version: 'V3' };

/** What istiod's cluster builder sends for that subset (auto mTLS: the endpoint has a sidecar). */
const ISTIOD_CDS = {
  name: NAME,
  type: 'EDS',
  eds_cluster_config: { eds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' }, service_name: NAME },
  connect_timeout: '10s',
  lb_policy: 'LEAST_REQUEST',
  circuit_breakers: { thresholds: [{ max_connections: 100, max_pending_requests: 10, max_requests: 1000, max_retries: 2, track_remaining: true }] },
  typed_extension_protocol_options: {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      common_http_protocol_options: { idle_timeout: '30s', max_requests_per_connection: 5 },
      explicit_http_config: { http_protocol_options: {} },
    },
  },
  outlier_detection: { consecutive_5xx: 3, interval: '5s', base_ejection_time: '60s', max_ejection_percent: 50, enforcing_consecutive_5xx: 100, enforcing_success_rate: 0, consecutive_gateway_failure: 0, enforcing_consecutive_gateway_failure: 0 },
  common_lb_config: { healthy_panic_threshold: {} },
  metadata: { filter_metadata: { istio: { services: [{ host: HOST, name: 'ratings', namespace: 'ext' }], subset: 'v1', default_original_port: 9080, config: '/apis/networking.istio.io/v1/namespaces/ext/destination-rule/ratings' } } },
  filters: [{ name: 'istio.metadata_exchange', typed_config: { '@type': 'type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange', protocol: 'istio-peer-exchange' } }],
  transport_socket_matches: [
    {
      name: 'tlsMode-istio',
      match: { tlsMode: 'istio' },
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
          common_tls_context: {
            tls_params: { tls_minimum_protocol_version: 'TLSv1_2', tls_maximum_protocol_version: 'TLSv1_3' },
            alpn_protocols: ['istio-peer-exchange', 'istio'],
            tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: SDS }],
            combined_validation_context: {
              default_validation_context: { match_subject_alt_names: [{ exact: 'spiffe://cluster.local/ns/ext/sa/ratings' }] },
              validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: SDS },
            },
          },
          sni: `outbound_.9080_.v1_.${HOST}`,
        },
      },
    },
    { name: 'tlsMode-disabled', match: {}, transport_socket: { name: 'envoy.transport_sockets.raw_buffer', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer' } } },
  ],
};

/** The Snapshot without what differs by design: the SDS sources (the YAML front end reads files, xDS names the SDS server). */
function withoutSdsSources(c: Cluster): unknown {
  return JSON.parse(JSON.stringify(c, (k, v: unknown) => (k === 'sdsConfig' ? undefined : v)));
}

describe('one Cluster from either front end', () => {
  it('a DestinationRule subset with connection pool, outlier detection, LEAST_REQUEST and auto mTLS', () => {
    const fromYaml = clusterOf(translate(ISTIO_YAML, undefined, 15001, true), NAME);
    const fromXds = decodeCluster(plain<ClusterMessage>('envoy.config.cluster.v3.Cluster', ISTIOD_CDS), collectingContext()).cluster;
    // istiod sends STATIC ServiceEntry hosts by EDS; the YAML front end makes them a STATIC cluster: the data plane takes hosts from Snapshot.endpoints for both
    expect(fromYaml.type).toBe('STATIC');
    expect(fromXds.type).toBe('EDS');
    expect(withoutSdsSources({ ...fromXds, type: 'STATIC' })).toEqual(withoutSdsSources(fromYaml));
  });
});
