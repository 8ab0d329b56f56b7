import { describe, expect, it } from 'vitest';
import { BYTES_BUCKETS, DURATION_BUCKETS_MS, Histogram, splitStatKey, statKey, WorkerStats } from '../../src/telemetry/stats.js';

describe('Histogram.observe (Prometheus le semantics)', () => {
  it('puts a value equal to a bound in that bound\'s bucket, just above it in the next', () => {
    const h = new Histogram([1, 10, 100]);
    expect(h.counts).toEqual([0, 0, 0, 0]);
    h.observe(1);
    expect(h.counts).toEqual([1, 0, 0, 0]);
    h.observe(1.0001);
    expect(h.counts).toEqual([1, 1, 0, 0]);
    h.observe(10);
    expect(h.counts).toEqual([1, 2, 0, 0]);
    h.observe(100);
    expect(h.counts).toEqual([1, 2, 1, 0]);
    h.observe(100.5);
    expect(h.counts).toEqual([1, 2, 1, 1]);
    expect(h.sum).toBeCloseTo(1 + 1.0001 + 10 + 100 + 100.5, 9);
  });

  it('puts zero and values below the first bound in the first bucket, huge ones in +Inf', () => {
    const h = new Histogram(DURATION_BUCKETS_MS);
    h.observe(0);
    h.observe(0.5);
    h.observe(0.25);
    h.observe(3_600_000);
    h.observe(3_600_001);
    h.observe(Number.MAX_SAFE_INTEGER);
    expect(h.counts[0]).toBe(3);
    expect(h.counts[DURATION_BUCKETS_MS.length - 1]).toBe(1);
    expect(h.counts[DURATION_BUCKETS_MS.length]).toBe(2);
    expect(h.counts.reduce((a, b) => a + b, 0)).toBe(6);
  });

  it('every bound lands in its own bucket', () => {
    const h = new Histogram(BYTES_BUCKETS);
    for (const b of BYTES_BUCKETS) h.observe(b);
    expect(h.counts).toEqual([...BYTES_BUCKETS.map(() => 1), 0]);
  });

  it('uses Istio\'s default buckets', () => {
    expect(DURATION_BUCKETS_MS).toEqual([0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000]);
    expect(BYTES_BUCKETS).toEqual([1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000]);
  });
});

describe('statKey', () => {
  it('round-trips names that contain dots, pipes and colons', () => {
    const k = statKey('cluster', 'outbound|9080|v1|reviews.default.svc.cluster.local', 'upstream_rq_2xx');
    expect(splitStatKey(k)).toEqual(['cluster', 'outbound|9080|v1|reviews.default.svc.cluster.local', 'upstream_rq_2xx']);
  });
});

describe('WorkerStats.snapshot', () => {
  it('reports cluster, host, listener and HCM stats under their keys, as a detached plain copy', () => {
    const w = new WorkerStats();
    const c = w.cluster('c1');
    c.upstreamRqTotal = 3;
    c.upstreamCxActive = 1;
    c.response(200);
    c.response(200);
    c.response(503);
    c.host('127.0.0.1:9000').rqTotal = 3;
    w.listener('0.0.0.0_8080').downstreamCxTotal = 2;
    w.hcm('0.0.0.0_8080').downstreamRqTotal = 3;
    const template = { key: 'k', labels: { reporter: 'source' }, requestSeries: new Map(), tcpSeries: new Map() };
    const s = w.istioSeries(template, 200, '-', '');
    s.count++;
    s.duration.observe(7);
    const snap = w.snapshot();
    expect(snap.counters[statKey('cluster', 'c1', 'upstream_rq_total')]).toBe(3);
    expect(snap.counters[statKey('cluster', 'c1', 'upstream_rq_2xx')]).toBe(2);
    expect(snap.counters[statKey('cluster', 'c1', 'upstream_rq_5xx')]).toBe(1);
    expect(snap.counters[statKey('cluster', 'c1', 'upstream_rq_200')]).toBe(2);
    expect(snap.counters[statKey('cluster', 'c1', 'upstream_rq_503')]).toBe(1);
    expect(snap.gauges[statKey('cluster', 'c1', 'upstream_cx_active')]).toBe(1);
    expect(snap.counters[statKey('host', 'c1\u0002127.0.0.1:9000', 'rq_total')]).toBe(3);
    expect(snap.counters[statKey('listener', '0.0.0.0_8080', 'downstream_cx_total')]).toBe(2);
    expect(snap.counters[statKey('http', '0.0.0.0_8080', 'downstream_rq_total')]).toBe(3);
    expect(snap.istioRequests).toHaveLength(1);
    expect(snap.istioRequests[0].count).toBe(1);
    expect(snap.istioRequests[0].duration.sum).toBe(7);
    expect(snap.istioRequests[0].labels).toEqual({ reporter: 'source', response_code: '200', response_flags: '-', grpc_response_status: '' });
    // the same labels return the same series, from another template of them too
    expect(w.istioSeries(template, 200, '-', '')).toBe(s);
    expect(w.istioSeries({ ...template, requestSeries: new Map() }, 200, '-', '')).toBe(s);
    expect(w.istioSeries(template, 503, 'UF', '')).not.toBe(s);
    // detached: later traffic does not change an earlier snapshot; it survives structured cloning
    s.count++;
    s.duration.observe(1);
    expect(snap.istioRequests[0].count).toBe(1);
    expect(snap.istioRequests[0].duration.counts.reduce((a, b) => a + b, 0)).toBe(1);
    expect(structuredClone(snap)).toEqual(snap);
  });
});
