import { describe, expect, it } from 'vitest';
import type { ClusterRuntime } from '../../src/upstream/cluster.js';
import { sendCounted } from '../../src/upstream/counted-request.js';
import type { UpstreamExchange, UpstreamHandler } from '../../src/upstream/exchange.js';
import type { UpstreamHost } from '../../src/upstream/host.js';

function fixture(request: (handler: UpstreamHandler) => UpstreamExchange) {
  const codes: number[] = [];
  const stats = { upstreamRqTotal: 0, upstreamRqActive: 0, response: (code: number) => codes.push(code) };
  const cluster = { stats } as unknown as ClusterRuntime;
  const host = { active: 0 } as UpstreamHost;
  let aborted = 0;
  const pool = { request: (_req: unknown, h: UpstreamHandler) => request(h) } as unknown as UpstreamHost['pool'];
  const seen: string[] = [];
  const handler: UpstreamHandler = {
    onUpstreamHeaders: (s) => seen.push(`headers ${s}`),
    onUpstreamData: () => true,
    onUpstreamEnd: () => seen.push('end'),
    onUpstreamError: (e) => seen.push(`error ${e.kind}`),
  };
  const send = () => sendCounted(cluster, host, pool, { method: 'GET', path: '/', headers: ['host', 'h'], body: null }, handler);
  const exchange: UpstreamExchange = { pause() {}, resume() {}, abort: () => aborted++ };
  return { stats, host, codes, seen, send, exchange, aborted: () => aborted };
}

describe('sendCounted', () => {
  it('counts the request while it is open and its response code, then releases once', () => {
    let h!: UpstreamHandler;
    const f = fixture((handler) => ((h = handler), f.exchange));
    f.send();
    expect([f.host.active, f.stats.upstreamRqTotal, f.stats.upstreamRqActive]).toEqual([1, 1, 1]);
    h.onUpstreamHeaders(503, []);
    h.onUpstreamEnd(undefined);
    h.onUpstreamError({ kind: 'reset' } as never);
    expect([f.host.active, f.stats.upstreamRqTotal, f.stats.upstreamRqActive]).toEqual([0, 1, 0]);
    expect(f.codes).toEqual([503]);
    expect(f.seen).toEqual(['headers 503', 'end', 'error reset']);
  });

  it('releases on an error the pool answers inside request()', () => {
    const f = fixture((handler) => (handler.onUpstreamError({ kind: 'overflow' } as never), f.exchange));
    f.send();
    expect([f.host.active, f.stats.upstreamRqActive]).toEqual([0, 0]);
    expect(f.seen).toEqual(['error overflow']);
  });

  it('releases on abort, and aborts the pool exchange', () => {
    const f = fixture(() => f.exchange);
    const ex = f.send();
    ex.abort();
    ex.abort();
    expect([f.host.active, f.stats.upstreamRqActive]).toEqual([0, 0]);
    expect(f.aborted()).toBe(2);
  });

  it('releases and rethrows when request() throws', () => {
    const f = fixture(() => {
      throw new Error('closed');
    });
    expect(() => f.send()).toThrow('closed');
    expect([f.host.active, f.stats.upstreamRqTotal, f.stats.upstreamRqActive]).toEqual([0, 1, 0]);
  });
});
