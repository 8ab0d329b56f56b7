import { describe, expect, it } from 'vitest';
import type { Cluster, Listener, NodeIdentity, TrafficDirection } from '../../src/config/snapshot.js';
import { appOf, buildIstioLabels, versionOf, workloadName } from '../../src/telemetry/istio-labels.js';
import { loadAssignment, staticHost } from '../../src/config/endpoints.js';
import { ClusterRuntime } from '../../src/upstream/cluster.js';
import { ClusterStats } from '../../src/telemetry/stats.js';

function node(over: Partial<NodeIdentity> = {}): NodeIdentity {
  return {
    id: 'sidecar~10.0.0.1~p.ns1~ns1.svc.cluster.local',
    mode: 'sidecar',
    namespace: 'ns1',
    serviceAccount: 'sa',
    labels: { app: 'productpage', version: 'v1' },
    ip: '10.0.0.1',
    trustDomain: 'cluster.local',
    domainSuffix: 'cluster.local',
    acceptHttp10: false,
    clusterId: 'c-east',
    locality: '',
    ...over,
  };
}

function listener(direction: TrafficDirection): Listener {
  return {
    name: direction === 'INBOUND' ? 'virtualInbound' : '0.0.0.0_9080',
    address: '0.0.0.0',
    port: 9080,
    direction,
    filterChains: [],
  };
}

/** The cluster's config and its hosts, as a worker's ClusterRuntime holds them. */
function cluster(endpointLabels: Record<string, string>[]): ClusterRuntime {
  const config: Cluster = {
    name: 'outbound|9080||reviews.ns2.svc.cluster.local',
    type: 'STATIC',
    lbPolicy: 'ROUND_ROBIN',
    connectTimeoutMs: 10_000,
    idleTimeoutMs: 3_600_000,
    service: { host: 'reviews.ns2.svc.cluster.local', namespace: 'ns2', port: 9080 },
  };
  const hosts = endpointLabels.map((labels, i) => ({ ...staticHost(`10.1.0.${i + 1}`, 9080), labels }));
  return new ClusterRuntime(config, loadAssignment(config.name, hosts), { stats: new ClusterStats() });
}

const ISTIO_LABELS = [
  'reporter', 'source_workload', 'source_workload_namespace', 'source_principal', 'source_app', 'source_version', 'source_cluster',
  'destination_workload', 'destination_workload_namespace', 'destination_principal', 'destination_app', 'destination_version',
  'destination_service', 'destination_service_name', 'destination_service_namespace', 'destination_cluster', 'request_protocol',
  'connection_security_policy',
];

describe('buildIstioLabels', () => {
  it('outbound: reporter source, this workload as source, the service and its common endpoint labels as destination', () => {
    const t = buildIstioLabels(node(), listener('OUTBOUND'), cluster([{ app: 'reviews', version: 'v2' }, { app: 'reviews', version: 'v2', zone: 'z' }]));
    // the series key: the label values, equal for an equal template (of this Runtime or a later one)
    expect(t.key).toBe(Object.values(t.labels).join('\u0000'));
    expect(buildIstioLabels(node(), listener('OUTBOUND'), cluster([{ app: 'reviews', version: 'v2' }])).key).toBe(t.key);
    expect(Object.keys(t.labels).sort()).toEqual([...ISTIO_LABELS].sort());
    expect(t.labels).toEqual({
      reporter: 'source',
      source_workload: 'productpage',
      source_workload_namespace: 'ns1',
      source_principal: 'unknown',
      source_app: 'productpage',
      source_version: 'v1',
      source_cluster: 'c-east',
      destination_workload: 'reviews',
      destination_workload_namespace: 'ns2',
      destination_principal: 'unknown',
      destination_app: 'reviews',
      destination_version: 'v2',
      destination_service: 'reviews.ns2.svc.cluster.local',
      destination_service_name: 'reviews',
      destination_service_namespace: 'ns2',
      destination_cluster: 'c-east',
      request_protocol: 'http',
      connection_security_policy: 'unknown',
    });
  });

  it('a label the endpoints disagree on is unknown', () => {
    const t = buildIstioLabels(node(), listener('OUTBOUND'), cluster([{ app: 'reviews', version: 'v1' }, { app: 'reviews', version: 'v2' }, { app: 'reviews' }]));
    expect(t.labels.destination_app).toBe('reviews');
    expect(t.labels.destination_version).toBe('unknown');
  });

  it('no cluster (a local reply such as NR): every destination label is unknown', () => {
    const t = buildIstioLabels(node(), listener('GATEWAY'), undefined);
    expect(t.labels.reporter).toBe('source');
    for (const k of ISTIO_LABELS.filter((l) => l.startsWith('destination_'))) expect(t.labels[k], k).toBe('unknown');
  });

  it('inbound: reporter destination, this workload as destination, the source unknown, policy none', () => {
    const t = buildIstioLabels(node(), listener('INBOUND'), cluster([{ app: 'reviews' }]));
    expect(t.labels).toMatchObject({
      reporter: 'destination',
      destination_workload: 'productpage',
      destination_workload_namespace: 'ns1',
      destination_app: 'productpage',
      destination_version: 'v1',
      destination_cluster: 'c-east',
      source_workload: 'unknown',
      source_workload_namespace: 'unknown',
      source_app: 'unknown',
      connection_security_policy: 'none',
    });
  });
});

describe('workload, app and version names', () => {
  it('ISTIO_META_WORKLOAD_NAME wins, then the canonical name, then app, else unknown', () => {
    expect(workloadName(node({ workloadName: 'wl', labels: { app: 'a', 'service.istio.io/canonical-name': 'canon' } }))).toBe('wl');
    expect(workloadName(node({ labels: { app: 'a', 'service.istio.io/canonical-name': 'canon' } }))).toBe('canon');
    expect(workloadName(node({ labels: { app: 'a' } }))).toBe('a');
    expect(workloadName(node({ labels: {} }))).toBe('unknown');
  });
  it('app.kubernetes.io labels win over app/version', () => {
    expect(appOf({ app: 'a', 'app.kubernetes.io/name': 'k' })).toBe('k');
    expect(versionOf({ version: 'v1', 'app.kubernetes.io/version': 'kv' })).toBe('kv');
    expect(appOf({})).toBe('unknown');
    expect(versionOf({})).toBe('unknown');
  });
});
