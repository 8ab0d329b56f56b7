import { describe, expect, it } from 'vitest';
import { aggregateStats } from '../../src/telemetry/aggregate.js';
import { statKey, type StatsSnapshot } from '../../src/telemetry/stats.js';

type Series = StatsSnapshot['istioRequests'][number];

function series(labels: Record<string, string>, count: number, durationCounts: number[], durationSum: number): Series {
  return {
    labels,
    metrics: 15,
    count,
    duration: { counts: durationCounts, sum: durationSum },
    requestBytes: { counts: [count, 0], sum: 10 * count },
    responseBytes: { counts: [0, count], sum: 100 * count },
  };
}

type TcpSeries = StatsSnapshot['istioTcp'][number];

function tcpSeries(labels: Record<string, string>, opened: number, closed: number, sentBytes: number, receivedBytes: number): TcpSeries {
  return { labels, metrics: 15, opened, closed, sentBytes, receivedBytes };
}

describe('aggregateStats', () => {
  const rqTotal = statKey('cluster', 'outbound|80||a.default.svc.cluster.local', 'upstream_rq_total');
  const cxActive = statKey('cluster', 'outbound|80||a.default.svc.cluster.local', 'upstream_cx_active');
  const onlyB = statKey('listener', '0.0.0.0_8080', 'downstream_cx_total');

  it('sums counters and gauges key by key, keeping keys only one worker has', () => {
    const a: StatsSnapshot = { counters: { [rqTotal]: 7 }, gauges: { [cxActive]: 2 }, istioRequests: [], istioTcp: [] };
    const b: StatsSnapshot = { counters: { [rqTotal]: 5, [onlyB]: 3 }, gauges: { [cxActive]: 1 }, istioRequests: [], istioTcp: [] };
    const c: StatsSnapshot = { counters: { [rqTotal]: 0 }, gauges: {}, istioRequests: [], istioTcp: [] };
    const sum = aggregateStats([a, b, c]);
    expect(sum.counters).toEqual({ [rqTotal]: 12, [onlyB]: 3 });
    expect(sum.gauges).toEqual({ [cxActive]: 3 });
  });

  it('takes the highest of each overload gauge (each worker has its own heap), not the sum', () => {
    const active = statKey('overload', 'envoy.overload_actions.stop_accepting_requests', 'active');
    const pressure = statKey('overload', 'envoy.resource_monitors.fixed_heap', 'pressure');
    const failed = statKey('overload', 'envoy.resource_monitors.fixed_heap', 'failed_updates');
    const a: StatsSnapshot = { counters: { [failed]: 1 }, gauges: { [active]: 1, [pressure]: 97, [cxActive]: 2 }, istioRequests: [], istioTcp: [] };
    const b: StatsSnapshot = { counters: { [failed]: 2 }, gauges: { [active]: 1, [pressure]: 40, [cxActive]: 1 }, istioRequests: [], istioTcp: [] };
    const sum = aggregateStats([a, b]);
    expect(sum.gauges).toEqual({ [active]: 1, [pressure]: 97, [cxActive]: 3 });
    expect(sum.counters).toEqual({ [failed]: 3 });
  });

  it('merges Istio series with identical label sets (in any key order), keeps different ones apart', () => {
    const l1 = { reporter: 'source', response_code: '200', destination_service: 'a' };
    const l1Reordered = { destination_service: 'a', response_code: '200', reporter: 'source' };
    const l2 = { reporter: 'source', response_code: '503', destination_service: 'a' };
    const a: StatsSnapshot = { counters: {}, gauges: {}, istioRequests: [series(l1, 2, [1, 1, 0], 3), series(l2, 1, [0, 0, 1], 900)], istioTcp: [] };
    const b: StatsSnapshot = { counters: {}, gauges: {}, istioRequests: [series(l1Reordered, 3, [0, 2, 1], 50)], istioTcp: [] };
    const sum = aggregateStats([a, b]);
    expect(sum.istioRequests).toHaveLength(2);
    const ok = sum.istioRequests.find((s) => s.labels.response_code === '200')!;
    const bad = sum.istioRequests.find((s) => s.labels.response_code === '503')!;
    expect(ok.count).toBe(5);
    expect(ok.duration).toEqual({ counts: [1, 3, 1], sum: 53 });
    expect(ok.requestBytes).toEqual({ counts: [5, 0], sum: 50 });
    expect(ok.responseBytes).toEqual({ counts: [0, 5], sum: 500 });
    expect(bad.count).toBe(1);
    expect(bad.duration).toEqual({ counts: [0, 0, 1], sum: 900 });
  });

  it('does not modify the workers\' snapshots (merging twice gives the same result)', () => {
    const l = { reporter: 'source', response_code: '200' };
    const a: StatsSnapshot = { counters: { [rqTotal]: 1 }, gauges: {}, istioRequests: [series(l, 1, [1, 0, 0], 1)], istioTcp: [] };
    const b: StatsSnapshot = { counters: { [rqTotal]: 1 }, gauges: {}, istioRequests: [series(l, 1, [0, 1, 0], 2)], istioTcp: [] };
    const before = structuredClone([a, b]);
    const first = aggregateStats([a, b]);
    expect([a, b]).toEqual(before);
    expect(aggregateStats([a, b])).toEqual(first);
    expect(first.istioRequests[0].count).toBe(2);
  });

  it('merges Istio TCP series with identical label sets (in any key order), keeps different ones apart', () => {
    const l1 = { reporter: 'source', destination_service: 'db', connection_security_policy: 'unknown' };
    const l1Reordered = { connection_security_policy: 'unknown', destination_service: 'db', reporter: 'source' };
    const l2 = { reporter: 'destination', destination_service: 'db', connection_security_policy: 'unknown' };
    const a: StatsSnapshot = {
      counters: {}, gauges: {}, istioRequests: [],
      istioTcp: [tcpSeries(l1, 3, 2, 100, 1000), tcpSeries(l2, 1, 1, 7, 70)],
    };
    const b: StatsSnapshot = { counters: {}, gauges: {}, istioRequests: [], istioTcp: [tcpSeries(l1Reordered, 2, 2, 50, 500)] };
    const sum = aggregateStats([a, b]);
    expect(sum.istioTcp).toHaveLength(2);
    const src = sum.istioTcp.find((s) => s.labels.reporter === 'source')!;
    const dst = sum.istioTcp.find((s) => s.labels.reporter === 'destination')!;
    expect(src).toMatchObject({ opened: 5, closed: 4, sentBytes: 150, receivedBytes: 1500 });
    expect(dst).toMatchObject({ opened: 1, closed: 1, sentBytes: 7, receivedBytes: 70 });
    // the workers' series are not modified
    expect(a.istioTcp[0]).toEqual(tcpSeries(l1, 3, 2, 100, 1000));
  });


  it('of no snapshots is empty; of one is a copy of it', () => {
    expect(aggregateStats([])).toEqual({ counters: {}, gauges: {}, istioRequests: [], istioTcp: [] });
    const one: StatsSnapshot = {
      counters: { [rqTotal]: 4 }, gauges: { [cxActive]: 1 }, istioRequests: [series({ r: 'x' }, 4, [4, 0, 0], 1)],
      istioTcp: [tcpSeries({ r: 'y' }, 2, 1, 30, 40)],
    };
    expect(aggregateStats([one])).toEqual(one);
  });
});
