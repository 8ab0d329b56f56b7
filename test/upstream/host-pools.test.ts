// A host makes its connection pool on its first request: a proxy of a large mesh holds thousands of
// hosts it never calls.
import { describe, expect, it, vi } from 'vitest';
import { staticHost } from '../../src/config/endpoints.js';
import type { Cluster } from '../../src/config/snapshot.js';
import { ClusterStats } from '../../src/telemetry/stats.js';

const made = vi.hoisted(() => ({ h1: 0, h2: 0 }));
vi.mock('../../src/upstream/http1/pool.js', async (original) => {
  const m = await original<typeof import('../../src/upstream/http1/pool.js')>();
  return { ...m, H1Pool: class extends m.H1Pool { constructor(...a: ConstructorParameters<typeof m.H1Pool>) { super(...a); made.h1++; } } };
});
vi.mock('../../src/upstream/http2/pool.js', async (original) => {
  const m = await original<typeof import('../../src/upstream/http2/pool.js')>();
  return { ...m, H2Pool: class extends m.H2Pool { constructor(...a: ConstructorParameters<typeof m.H2Pool>) { super(...a); made.h2++; } } };
});
const { UpstreamHost } = await import('../../src/upstream/host.js');

const cluster: Cluster = { name: 'c', type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 1000 };

describe('UpstreamHost pools', () => {
  it('none is made until a request asks for one; then one, kept', async () => {
    made.h1 = made.h2 = 0;
    const hosts = Array.from({ length: 100 }, (_, i) => new UpstreamHost(staticHost('127.0.0.1', 1000 + i), cluster, new ClusterStats()));
    expect(made).toEqual({ h1: 0, h2: 0 });
    const pool = hosts[0].poolFor('HTTP/1.1');
    expect(hosts[0].poolFor('HTTP/2')).toBe(pool);
    expect(hosts[0].pool).toBe(pool);
    expect(made).toEqual({ h1: 1, h2: 0 });
    await Promise.all(hosts.map((h) => h.close())); // closing a host without a pool makes none
    expect(made).toEqual({ h1: 1, h2: 0 });
  });

  it('the protocol options pick the pool: HTTP/2, or per client protocol with useClientProtocol', () => {
    made.h1 = made.h2 = 0;
    const h2 = new UpstreamHost(staticHost('127.0.0.1', 1), { ...cluster, http2: {} }, new ClusterStats());
    expect(h2.poolFor('HTTP/1.1')).toBe(h2.poolFor('HTTP/2'));
    expect(made).toEqual({ h1: 0, h2: 1 });
    const both = new UpstreamHost(staticHost('127.0.0.1', 2), { ...cluster, http2: {}, useClientProtocol: true }, new ClusterStats());
    expect(both.poolFor('HTTP/2')).not.toBe(both.poolFor('HTTP/1.1'));
    expect(both.poolFor('HTTP/2')).toBe(both.poolFor('HTTP/2'));
    expect(made).toEqual({ h1: 1, h2: 2 });
  });
});
