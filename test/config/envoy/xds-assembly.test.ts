import { describe, expect, it } from 'vitest';
import type { Cluster, ClusterLoadAssignment, Listener, NodeIdentity, RouteConfiguration, Secret } from '../../../src/config/snapshot.js';
import { assembleSnapshot, InService, wantedResources, XdsResources, type DecodedCluster, type DecodedListener } from '../../../src/config/envoy/xds-assembly.js';

const node = { id: 'sidecar~10.0.0.1~a.ns~ns.svc.cluster.local', mode: 'sidecar' } as NodeIdentity;

function cluster(name: string, extra: Partial<Cluster> = {}): Cluster {
  return { name, type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 60_000, ...extra };
}
function cla(clusterName: string, ip: string): ClusterLoadAssignment {
  return {
    clusterName,
    endpoints: [{ locality: { region: '', zone: '', subZone: '' }, priority: 0, lbEndpoints: [{ endpoint: { address: { socketAddress: { address: ip, portValue: 80 } } }, healthStatus: 'HEALTHY', loadBalancingWeight: 1, metadata: { labels: {} } }] }],
  };
}
function listener(name: string, secretName?: string): Listener {
  return {
    name,
    address: '0.0.0.0',
    port: 8080,
    direction: 'INBOUND',
    filterChains: [
      {
        name: 'c',
        match: {},
        ...(secretName ? { transportSocket: { name: 'envoy.transport_sockets.tls' as const, typedConfig: { commonTlsContext: { tlsCertificateSdsSecretConfigs: [{ name: secretName }] } } } } : {}),
        filters: [],
      },
    ],
  };
}
const route = (name: string): RouteConfiguration => ({ name, virtualHosts: [] });
const secret = (name: string): Secret => ({ name, tlsCertificate: { certificateChain: 'c', privateKey: 'k' } });

describe('xDS assembly (warming)', () => {
  it('keeps an EDS cluster out of service until its assignment arrives, then serves its hosts under the cluster name', () => {
    const r = new XdsResources();
    const s = new InService();
    r.clusters.set('outbound|80||a', { cluster: cluster('outbound|80||a'), edsServiceName: 'outbound|80||a.eds' });
    expect(wantedResources(r).endpoints).toEqual(new Set(['outbound|80||a.eds']));
    let a = assembleSnapshot(node, r, s);
    expect(a.body.clusters).toEqual([]);
    expect(a.warming.clusters.get('outbound|80||a')).toEqual(['ClusterLoadAssignment outbound|80||a.eds']);
    r.endpoints.set('outbound|80||a.eds', cla('outbound|80||a.eds', '10.0.0.9'));
    a = assembleSnapshot(node, r, s);
    expect(a.body.clusters.map((c) => c.name)).toEqual(['outbound|80||a']);
    expect(a.body.endpoints).toEqual([cla('outbound|80||a', '10.0.0.9')]);
  });

  it('serves the version in service while a changed cluster warms, and drops a removed one at once', () => {
    const r = new XdsResources();
    const s = new InService();
    const v1: DecodedCluster = { cluster: cluster('c', { connectTimeoutMs: 1000 }), loadAssignment: cla('c', '10.0.0.1') };
    r.clusters.set('c', v1);
    assembleSnapshot(node, r, s);
    const tls = { name: 'envoy.transport_sockets.tls' as const, typedConfig: { commonTlsContext: { tlsCertificateSdsSecretConfigs: [{ name: 'default' }] } } };
    r.clusters.set('c', { cluster: cluster('c', { transportSocket: tls }), loadAssignment: cla('c', '10.0.0.1') });
    let a = assembleSnapshot(node, r, s);
    expect(a.body.clusters).toEqual([v1.cluster]);
    expect(a.warming.clusters.get('c')).toEqual(['Secret default']);
    r.secrets.set('default', secret('default'));
    a = assembleSnapshot(node, r, s);
    expect(a.body.clusters[0]!.transportSocket).toEqual(tls);
    r.clusters.delete('c');
    a = assembleSnapshot(node, r, s);
    expect(a.body.clusters).toEqual([]);
    expect(a.body.endpoints).toEqual([]);
  });

  it('keeps a listener out of service until its route configurations and secrets are there', () => {
    const r = new XdsResources();
    const s = new InService();
    const l: DecodedListener = { listener: listener('virtualInbound', 'default'), routeConfigs: [route('inline')], rdsNames: ['inbound|9080||'] };
    r.listeners.set('virtualInbound', l);
    expect(wantedResources(r)).toEqual({ routes: new Set(['inbound|9080||']), endpoints: new Set(), secrets: new Map([['default', undefined]]) });
    let a = assembleSnapshot(node, r, s);
    expect(a.body.listeners).toEqual([]);
    expect(a.warming.listeners.get('virtualInbound')).toEqual(['RouteConfiguration inbound|9080||', 'Secret default']);
    r.routes.set('inbound|9080||', route('inbound|9080||'));
    r.routes.set('unused', route('unused'));
    r.secrets.set('default', secret('default'));
    a = assembleSnapshot(node, r, s);
    expect(a.body.listeners).toEqual([l.listener]);
    expect(a.body.routeConfigs.map((rc) => rc.name)).toEqual(['inline', 'inbound|9080||']);
    expect(a.body.secrets.map((x) => x.name)).toEqual(['default']);
  });

  it('puts the bootstrap static resources first and never warms them', () => {
    const r = new XdsResources();
    r.staticListeners.push({ listener: listener('0.0.0.0_15090'), routeConfigs: [route('local_route')], rdsNames: [] });
    r.staticClusters.push({ cluster: cluster('prometheus_stats'), loadAssignment: cla('prometheus_stats', '127.0.0.1') });
    r.listeners.set('x', { listener: listener('x'), routeConfigs: [], rdsNames: [] });
    const a = assembleSnapshot(node, r, new InService());
    expect(a.body.listeners.map((l) => l.name)).toEqual(['0.0.0.0_15090', 'x']);
    expect(a.body.clusters.map((c) => c.name)).toEqual(['prometheus_stats']);
    expect(a.body.routeConfigs.map((rc) => rc.name)).toEqual(['local_route']);
  });
});
