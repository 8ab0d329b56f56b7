// ClusterLoadAssignments as istiod sends them (a sidecar's config dump) decoded into the Snapshot's.
import { describe, expect, it } from 'vitest';
import { decodeClusterLoadAssignment, type ClusterLoadAssignmentMessage } from '../../../../src/config/envoy/decode/endpoint.js';
import { hostEndpoints } from '../../../../src/config/endpoints.js';
import { collectingContext, findTyped, plain, readDump } from './dumps.js';

const CLA = 'envoy.config.endpoint.v3.ClusterLoadAssignment';
const assignment = (json: object) => plain<ClusterLoadAssignmentMessage>(CLA, json);
const ref = (name: string) => ({ kind: 'ClusterLoadAssignment', name });
const DUMP = 'writer/envoy/configdump/testdata/endpoint/configdump.json';

describe('the config dump\'s endpoint configs', () => {
  it('all 37 decode, without warnings; istiod\'s default overprovisioning factor leaves the Snapshot as the Istio front end makes it', () => {
    const all = findTyped(readDump(DUMP), 'envoy.config.endpoint.v3.ClusterLoadAssignment');
    expect(all).toHaveLength(37);
    for (const json of all) {
      const ctx = collectingContext();
      const cla = decodeClusterLoadAssignment(assignment(json), ref(json.cluster_name as string), '', ctx);
      expect(cla.clusterName).toBe(json.cluster_name);
      expect(cla.overprovisioningFactor).toBeUndefined();
      expect(ctx.warnings).toEqual([]);
    }
  });

  it('a sidecar endpoint: tlsMode and the workload from istio metadata, health and weights', () => {
    const json = findTyped(readDump(DUMP), 'envoy.config.endpoint.v3.ClusterLoadAssignment').find((j) => j.cluster_name === 'outbound|8000||httpbin.default.svc.cluster.local')!;
    expect(decodeClusterLoadAssignment(assignment(json), ref('x'), '', collectingContext())).toEqual({
      clusterName: 'outbound|8000||httpbin.default.svc.cluster.local',
      endpoints: [
        {
          locality: { region: '', zone: '', subZone: '' },
          lbEndpoints: [
            {
              endpoint: { address: { socketAddress: { address: '10.244.0.178', portValue: 80 } } },
              healthStatus: 'HEALTHY',
              loadBalancingWeight: 1,
              metadata: {
                labels: { 'service.istio.io/workload-name': 'httpbin', 'service.istio.io/canonical-name': 'httpbin', 'service.istio.io/canonical-revision': 'v1' },
                tlsMode: 'istio',
              },
            },
          ],
          loadBalancingWeight: 1,
          priority: 0,
        },
      ],
    });
  });

  it('localities, priorities and an overprovisioning factor; the data plane sees each host\'s locality share', () => {
    const cla = decodeClusterLoadAssignment(assignment({
      cluster_name: 'outbound|80||a',
      endpoints: [
        { locality: { region: 'us', zone: 'us-a', sub_zone: 'r1' }, load_balancing_weight: 3, priority: 0, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 80 } } }, load_balancing_weight: 2 }, { endpoint: { address: { socket_address: { address: '10.0.0.2', port_value: 80 } } }, health_status: 'DRAINING' }] },
        { locality: { region: 'eu' }, load_balancing_weight: 1, priority: 1, lb_endpoints: [{ endpoint: { address: { pipe: { path: '/run/app.sock' } } }, metadata: { filter_metadata: { 'envoy.transport_socket_match': { tlsMode: 'disabled' } } } }] },
      ],
      policy: { overprovisioning_factor: 200 },
    }), ref('outbound|80||a'), '', collectingContext());
    expect(cla.overprovisioningFactor).toBe(200);
    expect(cla.endpoints.map((l) => [l.locality, l.priority, l.loadBalancingWeight])).toEqual([
      [{ region: 'us', zone: 'us-a', subZone: 'r1' }, 0, 3],
      [{ region: 'eu', zone: '', subZone: '' }, 1, 1],
    ]);
    expect(hostEndpoints(cla).map((h) => [h.address, h.port, h.weight, h.priority, h.healthStatus, h.tlsMode])).toEqual([
      ['10.0.0.1', 80, 2, 0, 'UNKNOWN', undefined],
      ['10.0.0.2', 80, 1, 0, 'DRAINING', undefined],
      ['/run/app.sock', 0, 1, 1, 'UNKNOWN', undefined],
    ]);
  });

  it('drop_overloads is warned about; named endpoints, LEDS, UDP and weight 0 are refused', () => {
    const ctx = collectingContext();
    decodeClusterLoadAssignment(assignment({ cluster_name: 'c', policy: { drop_overloads: [{ category: 'throttle', drop_percentage: { numerator: 10 } }] } }), ref('c'), '', ctx);
    expect(ctx.warnings).toEqual(['ClusterLoadAssignment c: policy.drop_overloads is not applied (no share of the traffic is dropped)']);
    const ep = (e: object) => ({ cluster_name: 'c', endpoints: [{ lb_endpoints: [e] }] });
    const refused: [object, string][] = [
      [{ cluster_name: 'c', named_endpoints: { a: { address: { socket_address: { address: '1.1.1.1', port_value: 1 } } } } }, 'field named_endpoints: named endpoints'],
      [ep({ endpoint_name: 'a' }), 'endpoints[0].lb_endpoints[0].endpoint_name'],
      [{ cluster_name: 'c', endpoints: [{ leds_cluster_locality_config: { leds_collection_name: 'x' } }] }, 'LEDS'],
      [ep({ endpoint: { address: { socket_address: { address: '1.1.1.1', port_value: 53, protocol: 'UDP' } } } }), 'socket_address.protocol: UDP is not supported'],
      [ep({ endpoint: { address: { socket_address: { address: '1.1.1.1', port_value: 1 } } }, load_balancing_weight: 0 }), 'load_balancing_weight: must be at least 1'],
      [ep({ endpoint: { address: { envoy_internal_address: { server_listener_name: 'x' } } } }), 'address envoy_internal_address is not supported (socket_address, pipe)'],
      [{ cluster_name: 'c', policy: { overprovisioning_factor: 0 } }, 'overprovisioning_factor: must be above 0'],
    ];
    for (const [json, error] of refused) expect(() => decodeClusterLoadAssignment(assignment(json), ref('c'), '', collectingContext())).toThrow(error);
  });
});
