import { describe, expect, it } from 'vitest';
import { ProxyConfigError, writeClusterDump, writeClusterSummary, type ConfigDump } from '../../../src/cli/proxy-config/index.js';
import { istioctlDump } from './fixtures.js';

const CLUSTER = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';

function clusterDump(dynamic: object[], statics: object[] = []): ConfigDump {
  const wrap = (cluster: object) => ({ cluster: { '@type': CLUSTER, ...cluster } });
  return { configs: [{ '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump', dynamic_active_clusters: dynamic.map(wrap), static_clusters: statics.map(wrap) }] };
}

const managed = (config: string) => ({ filter_metadata: { istio: { config } } });

const MESH = clusterDump(
  [
    { name: 'outbound|9080|v2|reviews.default.svc.cluster.local', type: 'EDS', metadata: managed('/apis/networking.istio.io/v1/namespaces/default/destination-rule/reviews') },
    { name: 'outbound|9080|v1|reviews.default.svc.cluster.local', type: 'EDS' },
    { name: 'outbound|9080||reviews.default.svc.cluster.local', type: 'EDS' },
    { name: 'inbound|9080||', type: 'STATIC' },
    { name: 'outbound|80||details.default.svc.cluster.local', type: 'EDS', metadata: managed('/some/other/path') },
    { name: 'BlackHoleCluster', type: 'STATIC' },
    { name: 'PassthroughCluster', type: 'ORIGINAL_DST' },
    { name: 'outbound_.8080_._.httpbin.default.svc.cluster.local', type: 'EDS' },
    { name: 'custom', cluster_type: { name: 'envoy.clusters.aggregate' } },
  ],
  [{ name: 'xds-grpc', type: 'STATIC' }],
);

describe('proxy-config clusters', () => {
  it('one row per cluster: parts of Istio names, `-` for the rest; sorted by hostname, subset, port, direction', () => {
    expect(writeClusterSummary(MESH)).toBe(
      [
        'SERVICE FQDN                                            PORT     SUBSET     DIRECTION     TYPE             DESTINATION RULE',
        '                                                        9080     -          inbound       STATIC           ',
        'BlackHoleCluster                                        -        -          -             STATIC           ',
        'PassthroughCluster                                      -        -          -             ORIGINAL_DST     ',
        'custom                                                  -        -          -             STATIC           ',
        'details.default.svc.cluster.local                       80       -          outbound      EDS              <unknown>',
        'outbound_.8080_._.httpbin.default.svc.cluster.local     -        -          -             EDS              ',
        'reviews.default.svc.cluster.local                       9080     -          outbound      EDS              ',
        'reviews.default.svc.cluster.local                       9080     v1         outbound      EDS              ',
        'reviews.default.svc.cluster.local                       9080     v2         outbound      EDS              reviews.default',
        'xds-grpc                                                -        -          -             STATIC           ',
        '',
      ].join('\n'),
    );
  });

  it("DESTINATION RULE from the cluster's Istio metadata (describe test dump)", () => {
    expect(writeClusterSummary(istioctlDump('describe/testdata/describe/http_config.json'))).toBe(
      [
        'SERVICE FQDN                              PORT     SUBSET     DIRECTION     TYPE     DESTINATION RULE',
        'productpage.default.svc.cluster.local     9080     v1         outbound      EDS      productpage.default',
        '',
      ].join('\n'),
    );
  });

  it('--fqdn, --subset, --direction match substrings of the name; --port matches |port|', () => {
    const rows = (filter: Parameters<typeof writeClusterSummary>[1]) =>
      writeClusterSummary(MESH, filter)
        .split('\n')
        .slice(1, -1)
        .map((l) => l.split(/ {2,}/).slice(0, 3).join(' '));
    expect(rows({ fqdn: 'reviews' })).toEqual(['reviews.default.svc.cluster.local 9080 -', 'reviews.default.svc.cluster.local 9080 v1', 'reviews.default.svc.cluster.local 9080 v2']);
    expect(rows({ fqdn: 'reviews', subset: 'v2' })).toEqual(['reviews.default.svc.cluster.local 9080 v2']);
    expect(rows({ port: 80 })).toEqual(['details.default.svc.cluster.local 80 -']);
    expect(rows({ direction: 'inbound' })).toEqual([' 9080 -']);
    // a substring: "outbound" holds "bound", and "outbound_." names hold "outbound" too
    expect(rows({ direction: 'outbound', port: 8080 })).toEqual([]);
    expect(rows({ direction: 'bound', fqdn: 'httpbin' })).toEqual(['outbound_.8080_._.httpbin.default.svc.cluster.local - -']);
  });

  it('with the NAME column (all): `cluster/<name>`, also as the FQDN of a name that is not Istio-shaped', () => {
    const out = writeClusterSummary(istioctlDump('proxyconfig/testdata/config_dump.json'), {}, { includeConfigType: true });
    expect(out.split('\n')[1]).toBe('cluster/agent                                                       cluster/agent                         -        -          -               STATIC     ');
  });

  it('an unnamed cluster gets no NAME cell, as in istioctl', () => {
    const out = writeClusterSummary(clusterDump([{ name: 'outbound|80||a.b', type: 'EDS' }, { type: 'STATIC' }]), {}, { includeConfigType: true });
    expect(out).toBe(
      [
        // the short row has no TYPE column: it splits that column's block in two
        'NAME                         SERVICE FQDN     PORT     SUBSET     DIRECTION     TYPE     DESTINATION RULE',
        '                             -                -        -          STATIC        ',
        'cluster/outbound|80||a.b     a.b              80       -          outbound      EDS     ',
        '',
      ].join('\n'),
    );
  });

  it('no clusters, or no cluster section: the errors istioctl reports', () => {
    expect(() => writeClusterSummary(clusterDump([]))).toThrow(new ProxyConfigError('no clusters found'));
    expect(() => writeClusterSummary({ configs: [] })).toThrow('config dump has no configuration type type.googleapis.com/envoy.admin.v3.ClustersConfigDump');
  });

  it('-o json: the sorted, filtered clusters as Go jsonpb writes them (declaration order, lowerCamelCase, 4-space indent)', () => {
    const out = writeClusterDump(istioctlDump('describe/testdata/describe/http_config.json'), { port: 9080 }, 'json');
    // transport_socket_matches is declared first in cluster.proto; Envoy wrote it last
    expect(out.startsWith('[\n    {\n        "transportSocketMatches": [\n            {\n                "name": "tlsMode-istio",\n                "match": {\n                    "tlsMode": "istio"\n                },\n')).toBe(true);
    expect(out).toContain('\n        "name": "outbound|9080|v1|productpage.default.svc.cluster.local",\n        "type": "EDS",\n        "edsClusterConfig": {\n');
    // metadata is a Struct: its keys stay as they are, sorted
    expect(out).toContain(
      '"filterMetadata": {\n                "istio": {\n                    "config": "/apis/networking.istio.io/v1alpha3/namespaces/default/destination-rule/productpage",\n                    "default_original_port": 9080,\n',
    );
    expect(out.endsWith('    }\n]\n')).toBe(true);
    expect(writeClusterDump(istioctlDump('describe/testdata/describe/http_config.json'), { port: 1 }, 'json')).toBe('[]\n');
  });

  it('-o yaml: sigs.k8s.io/yaml of that JSON (keys sorted, lists not indented)', () => {
    const out = writeClusterDump(istioctlDump('describe/testdata/describe/http_config.json'), {}, 'yaml');
    expect(out.startsWith('- circuitBreakers:\n    thresholds:\n    - maxConnections: 4294967295\n')).toBe(true);
    expect(out).toContain("\n  filters:\n  - name: istio.metadata_exchange\n    typedConfig:\n      '@type': type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange\n");
    expect(out.endsWith('\n\n')).toBe(true);
  });
});
