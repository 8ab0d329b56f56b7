import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TracingProvider } from '../../src/config/snapshot.js';
import { SpanExporter } from '../../src/tracing/exporter.js';
import { newTracerStats } from '../../src/tracing/tracer-stats.js';
import type { FinishedSpan } from '../../src/tracing/span.js';
import type { UpstreamHandler, UpstreamRequest } from '../../src/upstream/exchange.js';

const provider: TracingProvider = {
  kind: 'zipkin',
  serviceName: 'a.default',
  collector: { cluster: 'outbound|9411||zipkin', authority: 'zipkin', path: '/api/v2/spans', timeoutMs: 1000, headers: [['x-tenant', 't1']] },
  traceId128Bit: true,
  sharedSpanContext: false,
  traceContextOption: 'USE_B3',
};
const span = (i: number): FinishedSpan => ({
  name: `s${i}`, kind: 'SERVER', context: { traceId: 'a'.repeat(32), spanId: String(i).padStart(16, '0'), sampled: true }, parentSpanId: undefined,
  startMs: 1, endMs: 2, tagKeys: [], tagValues: [], error: false,
});

/** A collector cluster whose one host records the reports and answers them when told to. */
function fakeCluster() {
  const reports: { req: UpstreamRequest; handler: UpstreamHandler; body: Buffer[] }[] = [];
  const stats = { upstreamRqTotal: 0, upstreamRqActive: 0, response() {} };
  const host = {
    active: 0,
    pool: {
      request(req: UpstreamRequest, handler: UpstreamHandler) {
        const body: Buffer[] = [];
        req.body?.start({ onBodyData: (c: Buffer) => body.push(c), onBodyEnd: () => {} } as never);
        reports.push({ req, handler, body });
        return { pause() {}, resume() {}, abort() {} };
      },
    },
    poolFor() {
      return this.pool;
    },
  };
  const cluster = { stats, pick: () => host };
  const answer = (i: number, status = 202) => {
    reports[i].handler.onUpstreamHeaders(status, []);
    reports[i].handler.onUpstreamEnd(undefined);
  };
  return { reports, cluster, answer };
}

afterEach(() => vi.useRealTimers());

describe('SpanExporter', () => {
  it('sends once 5 spans wait, one report in flight; what arrives meanwhile goes in the next', async () => {
    const { reports, cluster, answer } = fakeCluster();
    const stats = newTracerStats();
    const e = new SpanExporter(provider, '10.1.1.1', [], stats, () => () => cluster as never, { minFlushSpans: 5, flushIntervalMs: 60_000, maxBufferedSpans: 1000 });
    for (let i = 0; i < 4; i++) e.add(span(i));
    await new Promise((r) => setTimeout(r, 10));
    expect(reports).toHaveLength(0);
    e.add(span(4));
    await vi.waitFor(() => expect(reports).toHaveLength(1));
    for (let i = 5; i < 17; i++) e.add(span(i));
    await new Promise((r) => setTimeout(r, 10));
    expect(reports).toHaveLength(1); // still in flight
    answer(0);
    await vi.waitFor(() => expect(reports).toHaveLength(2));
    expect(JSON.parse(Buffer.concat(reports[1].body).toString())).toHaveLength(12);
    const h = reports[0].req.headers;
    expect(h.slice(0, 4)).toEqual(['host', 'zipkin', 'content-type', 'application/json']);
    expect(h).toContain('x-tenant');
    expect(reports[0].req.path).toBe('/api/v2/spans');
    answer(1, 500);
    await vi.waitFor(() => expect(stats).toMatchObject({ spansSent: 17, reportsSent: 1, reportsDropped: 1, spansDropped: 0 }));
    e.close();
  });

  it('bounded: past 1,000 waiting spans new ones are dropped and counted; no host: the report is skipped', async () => {
    const { cluster } = fakeCluster();
    const stats = newTracerStats();
    const e = new SpanExporter(provider, '10.1.1.1', [], stats, () => () => cluster as never, { minFlushSpans: 5, flushIntervalMs: 60_000, maxBufferedSpans: 10 });
    for (let i = 0; i < 5; i++) e.add(span(i)); // one report out, never answered
    for (let i = 0; i < 14; i++) e.add(span(i));
    expect(stats.spansDropped).toBe(4);
    e.close();
    const none = newTracerStats();
    const lost = new SpanExporter(provider, '10.1.1.1', [], none, () => () => undefined, { minFlushSpans: 2, flushIntervalMs: 60_000, maxBufferedSpans: 10 });
    lost.add(span(0));
    lost.add(span(1));
    expect(none).toMatchObject({ reportsSkippedNoCluster: 1, spansDropped: 2, spansSent: 0 });
    lost.close();
  });

  it('the flush timer sends what waits; a collector that never answers fails the report at its timeout', async () => {
    vi.useFakeTimers();
    const { reports, cluster } = fakeCluster();
    const stats = newTracerStats();
    const e = new SpanExporter(provider, '10.1.1.1', [], stats, () => () => cluster as never, { minFlushSpans: 5, flushIntervalMs: 5000, maxBufferedSpans: 1000 });
    e.add(span(0));
    await vi.advanceTimersByTimeAsync(5000);
    expect(stats.timerFlushed).toBe(1);
    expect(reports).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(stats.reportsFailed).toBe(1);
    e.close();
  });
});

describe('a report the pool refuses at once', () => {
  it('an error answered inside request() (an overflow), or request() throwing: the report fails, the host and cluster counters come back', async () => {
    for (const refuse of ['answer', 'throw'] as const) {
      const stats = newTracerStats();
      const clusterStats = { upstreamRqTotal: 0, upstreamRqActive: 0, response() {} };
      const host = {
        active: 0,
        pool: {
          request(_req: UpstreamRequest, handler: UpstreamHandler) {
            if (refuse === 'throw') throw new Error('pool closed');
            handler.onUpstreamError({ kind: 'overflow' } as never);
            return { pause() {}, resume() {}, abort() {} };
          },
        },
        poolFor() {
          return this.pool;
        },
      };
      const cluster = { stats: clusterStats, pick: () => host };
      const e = new SpanExporter(provider, '10.1.1.1', [], stats, () => () => cluster as never, { minFlushSpans: 1, flushIntervalMs: 60_000, maxBufferedSpans: 10 });
      e.add(span(0));
      await vi.waitFor(() => expect(stats.reportsFailed, refuse).toBe(1));
      expect(host.active, refuse).toBe(0);
      expect(clusterStats.upstreamRqActive, refuse).toBe(0);
      e.close();
    }
  });
});
