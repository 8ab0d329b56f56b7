// Telemetry metric overrides compiled into groups of metrics sharing a label set: no override is
// the one standard series; a metric with an override gets its own series and the rest keep theirs
// (never counted twice); computed labels are CEL, "unknown" when they fail.
import { describe, expect, it } from 'vitest';
import { compileIstioMetrics, DEFAULT_ISTIO_METRICS, variantOf } from '../../src/telemetry/istio-metrics.js';
import { ALL_REQUEST_METRICS, RequestMetric, TcpMetric, WorkerStats } from '../../src/telemetry/stats.js';
import type { IstioLabelTemplate } from '../../src/telemetry/istio-labels.js';
import { fakeContext } from '../helpers/log-context.js';

const template = (): IstioLabelTemplate => ({ key: 'k', labels: { reporter: 'source', grpc_response_status: '' }, requestSeries: new Map(), tcpSeries: new Map() });

describe('compileIstioMetrics', () => {
  it('absent: the default policy, one plain group per kind', () => {
    expect(compileIstioMetrics(undefined)).toBe(DEFAULT_ISTIO_METRICS);
    expect(DEFAULT_ISTIO_METRICS.request).toHaveLength(1);
    expect(variantOf(DEFAULT_ISTIO_METRICS.request[0], undefined)).toBeUndefined();
  });

  it('disabled: no group at all', () => {
    expect(compileIstioMetrics({ disabled: true, metrics: [] })).toEqual({ request: [], tcp: [], perRequestLabels: false });
  });

  it('one metric overridden: its own group, and the others a group that does not report it', () => {
    const p = compileIstioMetrics({ metrics: [{ name: 'requests_total', drop: false, dimensions: {}, tagsToRemove: ['grpc_response_status'] }, { name: 'request_bytes', drop: true, dimensions: {}, tagsToRemove: [] }] });
    expect(p.request.map((g) => g.metrics).sort()).toEqual([RequestMetric.Count, RequestMetric.Duration | RequestMetric.ResponseSize].sort());
    const stats = new WorkerStats();
    const t = template();
    const series = p.request.map((g) => stats.istioSeries(t, 200, '-', '', variantOf(g, undefined)));
    expect(series[0]).not.toBe(series[1]);
    const count = series.find((s) => s.metrics === RequestMetric.Count)!;
    expect(count.labels).not.toHaveProperty('grpc_response_status');
    const rest = series.find((s) => s.metrics !== RequestMetric.Count)!;
    expect(rest.metrics & RequestMetric.Count).toBe(0);
    expect(rest.labels).toHaveProperty('grpc_response_status');
    // the standard series (no variant) is another one: it would count every metric
    expect(stats.istioSeries(t, 200, '-', '').metrics).toBe(ALL_REQUEST_METRICS);
    expect(p.tcp).toEqual(DEFAULT_ISTIO_METRICS.tcp.map((g) => ({ ...g })));
  });

  it('computed labels: one series per value, "unknown" when the expression fails', () => {
    const p = compileIstioMetrics({ metrics: [{ name: 'requests_total', drop: false, dimensions: { host: 'request.host', bad: "request.headers['nope']" }, tagsToRemove: [] }] });
    expect(p.perRequestLabels).toBe(true);
    const g = p.request.find((x) => x.metrics === RequestMetric.Count)!;
    const a = variantOf(g, fakeContext({ request: { ':authority': 'a.test' } }))!;
    const b = variantOf(g, fakeContext({ request: { ':authority': 'b.test' } }))!;
    expect(a.add).toEqual({ bad: 'unknown', host: 'a.test' });
    expect(a.id).not.toBe(b.id);
    const stats = new WorkerStats();
    const t = template();
    expect(stats.istioSeries(t, 200, '-', '', a)).not.toBe(stats.istioSeries(t, 200, '-', '', b));
    expect(stats.istioSeries(t, 200, '-', '', a)).toBe(stats.istioSeries(t, 200, '-', '', variantOf(g, fakeContext({ request: { ':authority': 'a.test' } }))));
  });

  it('TCP metrics group the same way', () => {
    const p = compileIstioMetrics({ metrics: [{ name: 'tcp_sent_bytes_total', drop: true, dimensions: {}, tagsToRemove: [] }] });
    expect(p.tcp.map((g) => g.metrics)).toEqual([TcpMetric.Opened | TcpMetric.Closed | TcpMetric.Received]);
    expect(p.request).toEqual(DEFAULT_ISTIO_METRICS.request.map((g) => ({ ...g })));
  });
});
