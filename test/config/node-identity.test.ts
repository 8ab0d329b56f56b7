import { describe, expect, it } from 'vitest';
import { buildNodeIdentity, nodeIdentityFromEnvoyNode, serviceClusterOf } from '../../src/config/node-identity.js';

describe('node identity', () => {
  it("from flags and Istio's injected environment", () => {
    const env = {
      POD_NAMESPACE: 'shop',
      POD_NAME: 'web-1',
      INSTANCE_IP: '10.0.0.5',
      SERVICE_ACCOUNT: 'web',
      ISTIO_METAJSON_LABELS: '{"app":"web","topology.kubernetes.io/region":"r1"}',
      ISTIO_META_WORKLOAD_NAME: 'web',
      ISTIO_META_CLUSTER_ID: 'east',
    };
    expect(buildNodeIdentity({ mode: 'sidecar', labels: ['version=v1'] }, env)).toEqual({
      id: 'sidecar~10.0.0.5~web-1.shop~shop.svc.cluster.local',
      mode: 'sidecar',
      namespace: 'shop',
      serviceAccount: 'web',
      labels: { app: 'web', 'topology.kubernetes.io/region': 'r1', version: 'v1' },
      ip: '10.0.0.5',
      trustDomain: 'cluster.local',
      domainSuffix: 'cluster.local',
      acceptHttp10: false,
      workloadName: 'web',
      clusterId: 'east',
      locality: 'r1',
    });
  });

  it('from an Envoy node gives what the environment gives for the same pod', () => {
    const env = { POD_NAMESPACE: 'shop', POD_NAME: 'web-1', INSTANCE_IP: '10.0.0.5', SERVICE_ACCOUNT: 'web', ISTIO_METAJSON_LABELS: '{"app":"web"}', ISTIO_META_HTTP10: '1' };
    const fromEnv = buildNodeIdentity({ mode: 'gateway', labels: [] }, env);
    const fromNode = nodeIdentityFromEnvoyNode(
      { id: fromEnv.id, cluster: 'web.shop', locality: {}, metadata: { NAMESPACE: 'shop', INSTANCE_IPS: '10.0.0.5', SERVICE_ACCOUNT: 'web', LABELS: { app: 'web' }, HTTP10: '1' } },
      {},
    );
    expect(fromNode).toEqual(fromEnv);
  });
});

describe('ISTIO_METAJSON_ANNOTATIONS', () => {
  it("the pod's annotations, when given; not a JSON object of strings is an error naming the variable", () => {
    const env = { INSTANCE_IP: '10.0.0.5', ISTIO_METAJSON_ANNOTATIONS: '{"sidecar.istio.io/statsInclusionPrefixes":"cluster.outbound"}' };
    expect(buildNodeIdentity({ mode: 'sidecar', labels: [] }, env).annotations).toEqual({ 'sidecar.istio.io/statsInclusionPrefixes': 'cluster.outbound' });
    expect(buildNodeIdentity({ mode: 'sidecar', labels: [] }, { INSTANCE_IP: '10.0.0.5' }).annotations).toBeUndefined();
    expect(() => buildNodeIdentity({ mode: 'sidecar', labels: [] }, { INSTANCE_IP: '10.0.0.5', ISTIO_METAJSON_ANNOTATIONS: '{"a":1}' })).toThrow(/ISTIO_METAJSON_ANNOTATIONS is not a JSON object/);
    expect(() => buildNodeIdentity({ mode: 'sidecar', labels: [] }, { INSTANCE_IP: '10.0.0.5', ISTIO_METAJSON_ANNOTATIONS: '[' })).toThrow(/ISTIO_METAJSON_ANNOTATIONS/);
  });

  it("names the service cluster as pilot-agent does: canonical name, app label, workload name, else istio-proxy, dot namespace", () => {
    const node = buildNodeIdentity({ mode: 'sidecar', labels: [] }, { POD_NAMESPACE: 'shop' });
    expect(serviceClusterOf(node)).toBe('istio-proxy.shop');
    expect(serviceClusterOf({ ...node, workloadName: 'web-v1' })).toBe('web-v1.shop');
    expect(serviceClusterOf({ ...node, workloadName: 'web-v1', labels: { app: 'web' } })).toBe('web.shop');
    expect(serviceClusterOf({ ...node, labels: { app: 'web', 'service.istio.io/canonical-name': 'storefront' } })).toBe('storefront.shop');
  });
});
