// UpstreamAttempt: one try's host accounting, per-try timer and outlier report, and that an
// abandoned or cancelled try forgets its router: a late event from its exchange goes nowhere.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { UpstreamAttempt, type AttemptCallbacks } from '../../src/router/upstream-attempt.js';
import { UpstreamError } from '../../src/upstream/exchange.js';
import { fakeCluster } from './fake-upstream.js';

function recorder() {
  const calls: string[] = [];
  const router: AttemptCallbacks = {
    onAttemptHeaders: (s) => void calls.push(`headers ${s}`),
    onAttemptData: (c) => (calls.push(`data ${c}`), true),
    onAttemptEnd: () => void calls.push('end'),
    onAttemptError: (e) => void calls.push(`error ${e.kind}`),
    onAttemptPerTryTimeout: () => void calls.push('per-try timeout'),
    onTunnelEnd: () => void calls.push('tunnel end'),
  };
  return { calls, router };
}

const request = { method: 'GET', path: '/', headers: ['host', 'h'], body: null };

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('UpstreamAttempt', () => {
  it('counts the host while in flight and reports headers, data and end to its router', () => {
    const f = fakeCluster();
    const { calls, router } = recorder();
    const a = new UpstreamAttempt(router, f.hosts[0], f.cluster, {});
    a.send('HTTP/1.1', request);
    expect(f.hosts[0].active).toBe(1);
    expect(f.stats.upstreamRqTotal).toBe(1);
    const h = f.sent[0].handler;
    h.onUpstreamHeaders(200, []);
    h.onUpstreamData(Buffer.from('x'));
    h.onUpstreamEnd(undefined);
    expect(calls).toEqual(['headers 200', 'data x', 'end']);
    expect(f.hosts[0].active).toBe(0);
    expect(f.hosts[0].stats).toMatchObject({ rqTotal: 1, rqActive: 0, rqSuccess: 1 });
    expect(a.attached).toBe(false);
  });

  it('abandoned: the exchange is aborted, an error counted once, and late events reach nobody', () => {
    const f = fakeCluster();
    const { calls, router } = recorder();
    const a = new UpstreamAttempt(router, f.hosts[0], f.cluster, {});
    a.send('HTTP/1.1', request);
    a.abandon();
    expect(f.sent[0].aborted).toBe(true);
    expect(f.hosts[0].active).toBe(0);
    expect(f.hosts[0].stats.rqError).toBe(1);
    const h = f.sent[0].handler;
    h.onUpstreamHeaders(200, []);
    expect(h.onUpstreamData(Buffer.from('late'))).toBe(true);
    h.onUpstreamEnd(undefined);
    h.onUpstreamError(new UpstreamError('reset_after_headers', 'late'));
    expect(calls).toEqual([]);
    expect(f.hosts[0].active).toBe(0);
    expect(f.hosts[0].stats).toMatchObject({ rqError: 1, rqSuccess: 0 });
    expect(f.stats.upstreamRqActive).toBe(0);
  });

  it('cancelled (the stream is over): aborted without counting an error', () => {
    const f = fakeCluster();
    const { calls, router } = recorder();
    const a = new UpstreamAttempt(router, f.hosts[0], f.cluster, {});
    a.send('HTTP/1.1', request);
    a.cancel();
    f.sent[0].handler.onUpstreamError(new UpstreamError('connect_failure', 'late'));
    expect(calls).toEqual([]);
    expect(f.hosts[0].stats.rqError).toBe(0);
    expect(f.hosts[0].active).toBe(0);
  });

  it('per-try timer: counted, reported once; never armed once the try is over or abandoned', () => {
    const f = fakeCluster();
    const { calls, router } = recorder();
    const a = new UpstreamAttempt(router, f.hosts[0], f.cluster, {});
    a.send('HTTP/1.1', request);
    a.armPerTryTimeout(100);
    a.armPerTryTimeout(100);
    vi.advanceTimersByTime(100);
    expect(calls).toEqual(['per-try timeout']);
    expect(f.stats.upstreamRqPerTryTimeout).toBe(1);
    const b = new UpstreamAttempt(router, f.hosts[1], f.cluster, {});
    b.send('HTTP/1.1', request);
    b.abandon();
    b.armPerTryTimeout(10);
    vi.advanceTimersByTime(100);
    expect(calls).toEqual(['per-try timeout']);
  });

  it('outlier detection: a response status and a local failure before headers are recorded; a breaker overflow is not', () => {
    const f = fakeCluster({ outlierDetection: { consecutive5xx: 1 } });
    const seen: string[] = [];
    const outliers = {
      outliers: {
        response: (slot: number, _od: unknown, status: number) => (seen.push(`${slot} ${status}`), 'consecutive_5xx' as const),
        localFailure: (slot: number) => (seen.push(`${slot} local`), undefined),
      } as never,
      reportOutlier: (cluster: string, host: string, d: string) => void seen.push(`report ${cluster} ${host} ${d}`),
    };
    const { router } = recorder();
    const a = new UpstreamAttempt(router, f.hosts[0], f.cluster, outliers);
    a.send('HTTP/1.1', request);
    f.sent[0].handler.onUpstreamHeaders(503, []);
    const b = new UpstreamAttempt(router, f.hosts[1], f.cluster, outliers);
    b.send('HTTP/1.1', request);
    f.sent[1].handler.onUpstreamError(new UpstreamError('connect_failure', 'x'));
    const c = new UpstreamAttempt(router, f.hosts[2], f.cluster, outliers);
    c.send('HTTP/1.1', request);
    f.sent[2].handler.onUpstreamError(new UpstreamError('overflow', 'x'));
    expect(seen).toEqual(['0 503', 'report outbound|80||svc 10.0.0.1:80 consecutive_5xx', '1 local']);
  });
});
