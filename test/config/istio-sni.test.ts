/** Istio's mTLS SNI `outbound_.<port>_.<subset>_.<host>` is written into the cluster's TLS at translation, not derived by the data plane. */
import { describe, expect, it } from 'vitest';
import { autoMtlsTls, cluster, translate, upstreamTls } from './helpers.js';

const config = (tls: string) => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: reviews, namespace: default }
spec:
  hosts: [reviews.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: http, protocol: HTTP }]
  endpoints: [{ address: 10.0.0.1, labels: { version: v1 } }]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: default }
spec:
  host: reviews.default.svc.cluster.local
  ${tls}
  subsets: [{ name: v1, labels: { version: v1 } }]
`;

describe('Istio SNI on outbound clusters', () => {
  it('auto mTLS carries the SNI of the cluster, subset included', () => {
    const t = translate(config(''), undefined, undefined, true);
    expect(autoMtlsTls(cluster(t, 'outbound|9080||reviews.default.svc.cluster.local'))?.sni).toBe('outbound_.9080_._.reviews.default.svc.cluster.local');
    expect(autoMtlsTls(cluster(t, 'outbound|9080|v1|reviews.default.svc.cluster.local'))?.sni).toBe('outbound_.9080_.v1_.reviews.default.svc.cluster.local');
    // without a workload certificate there is no mesh mTLS to pick: plaintext
    expect(cluster(translate(config('')), 'outbound|9080||reviews.default.svc.cluster.local').transportSocketMatches).toBeUndefined();
  });

  it('ISTIO_MUTUAL presents it unless the rule names an sni; other modes get none of their own', () => {
    expect(upstreamTls(cluster(translate(config('trafficPolicy: { tls: { mode: ISTIO_MUTUAL } }')), 'outbound|9080|v1|reviews.default.svc.cluster.local'))?.sni).toBe(
      'outbound_.9080_.v1_.reviews.default.svc.cluster.local',
    );
    expect(upstreamTls(cluster(translate(config('trafficPolicy: { tls: { mode: ISTIO_MUTUAL, sni: custom.example } }')), 'outbound|9080||reviews.default.svc.cluster.local'))?.sni).toBe('custom.example');
    expect(upstreamTls(cluster(translate(config('trafficPolicy: { tls: { mode: SIMPLE } }')), 'outbound|9080||reviews.default.svc.cluster.local'))?.sni).toBeUndefined();
  });
});
