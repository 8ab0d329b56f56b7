import { describe, expect, it } from 'vitest';
import { parseClustersStatus, writeEdsDump, writeEdsSummary, writeEndpointDump, writeEndpointSummary, type ClustersStatus, type ConfigDump } from '../../../src/cli/proxy-config/index.js';
import { istioctlDump } from './fixtures.js';

const EDS_DUMP = 'writer/envoy/configdump/testdata/endpoint/configdump.json';

describe('proxy-config endpoints, from /clusters?format=json', () => {
  const socket = (address: string, port_value: number) => ({ socket_address: { address, port_value } });
  const CLUSTERS: ClustersStatus = parseClustersStatus(
    JSON.stringify({
      cluster_statuses: [
        {
          name: 'outbound|9080||reviews.default.svc.cluster.local',
          host_statuses: [
            { address: socket('10.244.0.192', 9080), health_status: { eds_health_status: 'HEALTHY' } },
            { address: socket('10.244.0.193', 9080), health_status: { eds_health_status: 'UNHEALTHY', failed_outlier_check: true } },
          ],
        },
        { name: 'sds-grpc', host_statuses: [{ address: { pipe: { path: './var/run/secrets/workload-spiffe-uds/socket' } }, health_status: { eds_health_status: 'HEALTHY' } }] },
        { name: 'inbound|9080||', host_statuses: [{ address: socket('10.244.0.192', 9080), health_status: {} }] },
        { name: 'outbound|80||x', host_statuses: [{ address: socket('10.244.0.192', 80), health_status: { eds_health_status: 'DRAINING' } }] },
        { name: 'internal', host_statuses: [{ address: { envoy_internal_address: { server_listener_name: 'connect_originate', endpoint_id: '10.0.0.1:80' } }, health_status: { eds_health_status: 'HEALTHY' } }] },
        { name: 'empty' },
      ],
    }),
  );

  it('one row per host, sorted by address, port, cluster', () => {
    expect(writeEndpointSummary(CLUSTERS)).toBe(
      [
        'ENDPOINT                                                STATUS        OUTLIER CHECK     CLUSTER',
        '10.244.0.192:80                                         DRAINING      OK                outbound|80||x',
        '10.244.0.192:9080                                       UNKNOWN       OK                inbound|9080||',
        '10.244.0.192:9080                                       HEALTHY       OK                outbound|9080||reviews.default.svc.cluster.local',
        '10.244.0.193:9080                                       UNHEALTHY     FAILED            outbound|9080||reviews.default.svc.cluster.local',
        'envoy://connect_originate/10.0.0.1:80                   HEALTHY       OK                internal',
        'unix://./var/run/secrets/workload-spiffe-uds/socket     HEALTHY       OK                sds-grpc',
        '',
      ].join('\n'),
    );
    expect(writeEndpointSummary(parseClustersStatus('{}'))).toBe('ENDPOINT     STATUS     OUTLIER CHECK     CLUSTER\n');
  });

  it('--address (the IP, without the port), --port, --status and --cluster (any case)', () => {
    const endpoints = (filter: Parameters<typeof writeEndpointSummary>[1]) =>
      writeEndpointSummary(CLUSTERS, filter)
        .split('\n')
        .slice(1, -1)
        .map((l) => `${l.split(' ')[0]} ${l.split(/ +/).at(-1)}`);
    expect(endpoints({ address: '10.244.0.192' })).toEqual(['10.244.0.192:80 outbound|80||x', '10.244.0.192:9080 inbound|9080||', '10.244.0.192:9080 outbound|9080||reviews.default.svc.cluster.local']);
    expect(endpoints({ address: '10.244.0.192:80' })).toEqual([]);
    expect(endpoints({ port: 9080, status: 'healthy' })).toEqual(['10.244.0.192:9080 outbound|9080||reviews.default.svc.cluster.local']);
    expect(endpoints({ cluster: 'SDS-GRPC' })).toEqual(['unix://./var/run/secrets/workload-spiffe-uds/socket sds-grpc']);
  });

  it('-o json: each whole cluster status with a matching host', () => {
    const out = writeEndpointDump(CLUSTERS, { status: 'UNHEALTHY' }, 'json');
    expect(out.startsWith('[\n    {\n        "name": "outbound|9080||reviews.default.svc.cluster.local",\n        "hostStatuses": [\n')).toBe(true);
    expect(out).toContain('"healthStatus": {\n                    "failedOutlierCheck": true,\n                    "edsHealthStatus": "UNHEALTHY"\n                }');
    expect(out.match(/"address": \{/g)).toHaveLength(2);
  });
});

describe("proxy-config endpoints, from the config dump's EndpointsConfigDump (all, eds)", () => {
  it("istioctl's endpoint test dump, --port 8080", () => {
    expect(writeEdsSummary(istioctlDump(EDS_DUMP), { port: 8080 })).toBe(
      [
        'NAME                  STATUS      LOCALITY     CLUSTER',
        '10.244.0.176:8080     HEALTHY                  outbound|80||istio-ingressgateway.istio-system.svc.cluster.local',
        '10.244.0.189:8080     HEALTHY                  outbound|80||skywalking-ui.skywalking.svc.cluster.local',
        '',
      ].join('\n'),
    );
  });

  it('sorted by hostname, subset, port, direction; static assignments too; pipes by path', () => {
    const rows = writeEdsSummary(istioctlDump(EDS_DUMP)).split('\n');
    expect(rows).toHaveLength(38);
    expect(rows.slice(0, 4)).toEqual([
      'NAME                                             STATUS      LOCALITY     CLUSTER',
      '127.0.0.1:15020                                  HEALTHY                  agent',
      '10.244.0.156:9402                                HEALTHY                  outbound|9402||cert-manager-istio-csr-metrics.cert-manager.svc.cluster.local',
      '10.244.0.156:6443                                HEALTHY                  outbound|443||cert-manager-istio-csr.cert-manager.svc.cluster.local',
    ]);
    expect(rows.slice(25, 27)).toEqual([
      '10.244.0.110:9090                                HEALTHY                  outbound|9090||prometheus.istio-system.svc.cluster.local',
      '127.0.0.1:15000                                  HEALTHY                  prometheus_stats',
    ]);
    expect(rows.at(-7)).toBe('./var/run/secrets/workload-spiffe-uds/socket     HEALTHY                  sds-grpc');
  });

  it('--address is matched against `ip:port` (as istioctl does), --status and --cluster in any case', () => {
    const dump = istioctlDump(EDS_DUMP);
    expect(writeEdsSummary(dump, { address: '10.244.0.176' }).split('\n')).toHaveLength(2);
    expect(writeEdsSummary(dump, { address: '10.244.0.176:15021', status: 'healthy' }).split('\n')[1]).toBe('10.244.0.176:15021     HEALTHY                  outbound|15021||istio-ingressgateway.istio-system.svc.cluster.local');
    expect(writeEdsSummary(dump, { cluster: 'OUTBOUND|53||KUBE-DNS.KUBE-SYSTEM.SVC.CLUSTER.LOCAL' }).split('\n').slice(1, -1).map((l) => l.split(' ')[0])).toEqual(['10.244.0.8:53', '10.244.0.3:53']);
  });

  it('locality, status UNKNOWN when unset, additional addresses, internal addresses; no section: the header only', () => {
    const cla = { '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', cluster_name: 'outbound|80||a.ns.svc.cluster.local' };
    const dump: ConfigDump = {
      configs: [
        {
          '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
          dynamic_endpoint_configs: [
            {
              endpoint_config: {
                ...cla,
                endpoints: [
                  {
                    locality: { region: 'us-east1', zone: 'us-east1-b', sub_zone: 'rack1' },
                    lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } }, additional_addresses: [{ address: { socket_address: { address: 'fd00::1', port_value: 80 } } }] } }],
                  },
                  { locality: { region: 'us-west1' }, lb_endpoints: [{ endpoint: { address: { envoy_internal_address: { server_listener_name: 'connect_originate', endpoint_id: '10.0.0.2:80' } } }, health_status: 'DEGRADED' }] },
                  { lb_endpoints: [{ endpoint: {}, health_status: 2 }] },
                ],
              },
            },
          ],
        },
      ],
    };
    expect(writeEdsSummary(dump, {}, { includeConfigType: true })).toBe(
      [
        'NAME                                               STATUS        LOCALITY                      CLUSTER',
        'endpoint/10.0.0.1:80,fd00::1:80                    UNKNOWN       us-east1/us-east1-b/rack1     outbound|80||a.ns.svc.cluster.local',
        'endpoint/envoy://connect_originate/10.0.0.2:80     DEGRADED      us-west1                      outbound|80||a.ns.svc.cluster.local',
        'endpoint/unknown                                   UNHEALTHY                                   outbound|80||a.ns.svc.cluster.local',
        '',
      ].join('\n'),
    );
    expect(writeEdsSummary({ configs: [] })).toBe('NAME     STATUS     LOCALITY     CLUSTER\n');
  });

  it('-o json / -o yaml: the assignments with a matching endpoint, only the matching endpoints kept', () => {
    const json = writeEdsDump(istioctlDump(EDS_DUMP), { port: 8080 }, 'json');
    expect(json.startsWith('[\n    {\n        "clusterName": "outbound|80||istio-ingressgateway.istio-system.svc.cluster.local",\n        "endpoints": [\n            {\n                "locality": {},\n')).toBe(true);
    expect(json.match(/"clusterName"/g)).toHaveLength(2);
    expect(json.endsWith('        "policy": {\n            "overprovisioningFactor": 140\n        }\n    }\n]\n')).toBe(true);
    expect(writeEdsDump(istioctlDump(EDS_DUMP), { port: 8080 }, 'yaml')).toBe(
      [
        '- clusterName: outbound|80||istio-ingressgateway.istio-system.svc.cluster.local',
        '  endpoints:',
        '  - lbEndpoints:',
        '    - endpoint:',
        '        address:',
        '          socketAddress:',
        '            address: 10.244.0.176',
        '            portValue: 8080',
        '        healthCheckConfig: {}',
        '      healthStatus: HEALTHY',
        '      loadBalancingWeight: 1',
        '      metadata:',
        '        filterMetadata:',
        '          istio:',
        '            workload: istio-ingressgateway;istio-system;istio-ingressgateway;latest;Kubernetes',
        '    loadBalancingWeight: 1',
        '    locality: {}',
        '  policy:',
        '    overprovisioningFactor: 140',
        '- clusterName: outbound|80||skywalking-ui.skywalking.svc.cluster.local',
        '  endpoints:',
        '  - lbEndpoints:',
        '    - endpoint:',
        '        address:',
        '          socketAddress:',
        '            address: 10.244.0.189',
        '            portValue: 8080',
        '        healthCheckConfig: {}',
        '      healthStatus: HEALTHY',
        '      loadBalancingWeight: 1',
        '      metadata:',
        '        filterMetadata:',
        '          istio:',
        '            workload: skywalking-ui;skywalking;;;Kubernetes',
        '    loadBalancingWeight: 1',
        '    locality: {}',
        '  policy:',
        '    overprovisioningFactor: 140',
        '',
        '',
      ].join('\n'),
    );
  });
});
