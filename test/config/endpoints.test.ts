// ClusterLoadAssignment ⇄ hosts: Envoy's grouping by locality and priority, pipe and socket
// addresses, metadata (labels, tlsMode), and locality weights folded into the hosts' weights.
import { describe, expect, it } from 'vitest';
import { hostEndpoints, loadAssignment, parseLocality, staticHost, type HostEndpoint } from '../../src/config/endpoints.js';
import type { ClusterLoadAssignment, LbEndpoint } from '../../src/config/snapshot.js';

const at = (address: string, port: number, over: Partial<HostEndpoint> = {}): HostEndpoint => ({ ...staticHost(address, port), ...over });

describe('loadAssignment / hostEndpoints', () => {
  it('clusters that list the same host share its LbEndpoint, and its host where locality and weight agree', () => {
    const host = at('10.0.0.1', 80, { labels: { version: 'v1' } });
    const all = loadAssignment('outbound|80||a', [host, at('10.0.0.2', 80)]);
    const subset = loadAssignment('outbound|80|v1|a', [host]);
    expect(subset.endpoints[0].lbEndpoints[0]).toBe(all.endpoints[0].lbEndpoints[0]);
    expect(hostEndpoints(subset)[0]).toBe(hostEndpoints(all)[0]);
    // the same LbEndpoint in a weighted locality: a host of its own, with its own weight
    const weighted: ClusterLoadAssignment = { clusterName: 'w', endpoints: [{ ...subset.endpoints[0], loadBalancingWeight: 4 }] };
    expect(hostEndpoints(weighted)[0]).not.toBe(hostEndpoints(all)[0]);
    expect(hostEndpoints(weighted)[0].weight).toBe(4);
    expect(hostEndpoints(all)[0].weight).toBe(1);
  });

  it('hosts with the same labels object share their LbEndpoint metadata; another tlsMode or labels object gets its own', () => {
    const labels = { app: 'a', version: 'v1' };
    const [one, two, mtls, other] = loadAssignment('c', [
      at('10.0.0.1', 80, { labels }),
      at('10.0.0.2', 80, { labels }),
      at('10.0.0.3', 80, { labels, tlsMode: 'istio' }),
      at('10.0.0.4', 80, { labels: { ...labels } }),
    ]).endpoints[0].lbEndpoints.map((e) => e.metadata);
    expect(two).toBe(one);
    expect(one).toEqual({ labels });
    expect(mtls).toEqual({ labels, tlsMode: 'istio' });
    expect(mtls).not.toBe(one);
    expect(other).not.toBe(one);
    expect(other).toEqual(one);
  });

  it('a shared host stays shared when its group\'s locality is an equal object, not the same one', () => {
    // a group takes its first host's locality object: the subset's group starts with another host
    const first = at('10.0.0.1', 80, { locality: parseLocality('r/z') });
    const second = at('10.0.0.2', 80, { locality: parseLocality('r/z') });
    const all = loadAssignment('outbound|80||a', [first, second]);
    const subset = loadAssignment('outbound|80|v2|a', [second]);
    expect(subset.endpoints[0].locality).not.toBe(all.endpoints[0].locality);
    expect(hostEndpoints(subset)[0]).toBe(hostEndpoints(all)[1]);
  });

  it('groups hosts by locality × priority (first-seen order) and gives back the same hosts', () => {
    const east = parseLocality('us-east1/us-east1-b');
    const hosts = [
      at('10.0.0.1', 80, { locality: east, labels: { app: 'a' }, tlsMode: 'istio' }),
      at('10.0.0.2', 80, { locality: east, priority: 1, weight: 3 }),
      at('/run/a.sock', 0, { locality: east }),
      at('fd00::1', 8080, { healthStatus: 'DRAINING' }),
    ];
    const a = loadAssignment('c', hosts);
    expect(a.clusterName).toBe('c');
    expect(a.endpoints.map((l) => [l.locality, l.priority, l.lbEndpoints.length])).toEqual([
      [{ region: 'us-east1', zone: 'us-east1-b', subZone: '' }, 0, 2],
      [{ region: 'us-east1', zone: 'us-east1-b', subZone: '' }, 1, 1],
      [{ region: '', zone: '', subZone: '' }, 0, 1],
    ]);
    expect(a.endpoints[0].lbEndpoints).toEqual([
      { endpoint: { address: { socketAddress: { address: '10.0.0.1', portValue: 80 } } }, healthStatus: 'HEALTHY', loadBalancingWeight: 1, metadata: { labels: { app: 'a' }, tlsMode: 'istio' } },
      { endpoint: { address: { pipe: { path: '/run/a.sock' } } }, healthStatus: 'HEALTHY', loadBalancingWeight: 1, metadata: { labels: {} } },
    ] satisfies LbEndpoint[]);
    const back = hostEndpoints(a);
    expect(back).toHaveLength(4);
    expect(back).toEqual(expect.arrayContaining(hosts));
    expect(hostEndpoints(undefined)).toEqual([]);
  });

  it("locality weights: each locality gets its weight's share of its priority, spread by the hosts' weights; an unweighted locality gets none", () => {
    const lb = (port: number, weight: number): LbEndpoint => ({ endpoint: { address: { socketAddress: { address: '10.0.0.1', portValue: port } } }, healthStatus: 'HEALTHY', loadBalancingWeight: weight, metadata: { labels: {} } });
    const a: ClusterLoadAssignment = {
      clusterName: 'c',
      endpoints: [
        { locality: parseLocality('r/a'), priority: 0, loadBalancingWeight: 80, lbEndpoints: [lb(1, 1), lb(2, 3)] },
        { locality: parseLocality('r/b'), priority: 0, loadBalancingWeight: 20, lbEndpoints: [lb(3, 5)] },
        { locality: parseLocality('r/c'), priority: 0, lbEndpoints: [lb(4, 1)] },
        // another priority without locality weights: host weights as they are
        { locality: parseLocality('r/d'), priority: 1, lbEndpoints: [lb(5, 2)] },
      ],
    };
    expect(hostEndpoints(a).map((h) => [h.port, h.weight])).toEqual([[1, 20], [2, 60], [3, 20], [5, 2]]);
  });
});
