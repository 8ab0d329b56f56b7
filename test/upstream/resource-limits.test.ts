// Circuit-breaker counters shared by the workers (ResourceTable), one cluster's thresholds
// (ClusterLimits), stable slots (ResourceSlots), and H1Pool under those limits: max connections
// (with Envoy's "a pool with no connection may always open one"), the pending queue and its
// overflow, max requests, and counters that go back to zero.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { CircuitBreakers } from '../../src/config/snapshot.js';
import type { UpstreamExchange } from '../../src/upstream/exchange.js';
import { H1Pool } from '../../src/upstream/http1/pool.js';
import { ClusterLimits, Resource, ResourceSlots, ResourceTable } from '../../src/upstream/resource-limits.js';
import { RecordingHandler } from '../helpers/recording-handler.js';

const UNLIMITED = 2 ** 32 - 1;
const cb = (o: Partial<CircuitBreakers>): CircuitBreakers => ({ maxConnections: UNLIMITED, maxPendingRequests: UNLIMITED, maxRequests: UNLIMITED, maxRetries: UNLIMITED, ...o });

describe('ResourceTable', () => {
  it('totals a slot\'s counter over every worker\'s row; slots and resources are independent', () => {
    const init = ResourceTable.create(3, 2);
    expect(init.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(init.buffer.byteLength).toBe(3 * 2 * 4 * 4);
    const w0 = new ResourceTable(init, 0);
    const w1 = new ResourceTable(init, 1);
    const agent = new ResourceTable(init, -1);
    w0.add(1, Resource.Connections, 2);
    w1.add(1, Resource.Connections, 3);
    w1.add(1, Resource.PendingRequests, 1);
    w0.add(2, Resource.Requests, 7);
    for (const t of [w0, w1, agent]) {
      expect(t.total(1, Resource.Connections)).toBe(5);
      expect(t.total(1, Resource.PendingRequests)).toBe(1);
      expect(t.total(1, Resource.Requests)).toBe(0);
      expect(t.total(1, Resource.Retries)).toBe(0);
      expect(t.total(0, Resource.Connections)).toBe(0);
      expect(t.total(2, Resource.Requests)).toBe(7);
      expect(t.total(2, Resource.Connections)).toBe(0);
    }
    w1.add(1, Resource.Connections, -3);
    expect(w0.total(1, Resource.Connections)).toBe(2);
  });

  it('a table made on another structured-clone of the init sees the same counters (the buffer is shared)', () => {
    const init = ResourceTable.create(1, 2);
    const clone = structuredClone(init);
    new ResourceTable(init, 0).add(0, Resource.Requests, 4);
    expect(new ResourceTable(clone, 1).total(0, Resource.Requests)).toBe(4);
  });

  it('zeroWorker forgets one worker\'s rows in every slot and keeps the others\'', () => {
    const init = ResourceTable.create(2, 3);
    const rows = [0, 1, 2].map((w) => new ResourceTable(init, w));
    for (const [w, t] of rows.entries()) {
      for (const slot of [0, 1]) for (const r of [Resource.Connections, Resource.PendingRequests, Resource.Requests, Resource.Retries]) t.add(slot, r, w + 1);
    }
    expect(rows[0].total(0, Resource.Retries)).toBe(6);
    new ResourceTable(init, -1).zeroWorker(1);
    for (const slot of [0, 1]) {
      for (const r of [Resource.Connections, Resource.PendingRequests, Resource.Requests, Resource.Retries]) expect(rows[2].total(slot, r)).toBe(1 + 3);
    }
    rows[1].add(0, Resource.Connections, 1);
    expect(rows[0].total(0, Resource.Connections)).toBe(5);
  });
});

describe('ClusterLimits', () => {
  it('each threshold is "total below the limit", over all workers', () => {
    const init = ResourceTable.create(2, 2);
    const a = new ClusterLimits(new ResourceTable(init, 0), 1, cb({ maxConnections: 2, maxPendingRequests: 1, maxRequests: 3 }));
    const b = new ClusterLimits(new ResourceTable(init, 1), 1, cb({ maxConnections: 2, maxPendingRequests: 1, maxRequests: 3 }));
    const other = new ClusterLimits(new ResourceTable(init, 0), 0, cb({ maxConnections: 1, maxPendingRequests: 1, maxRequests: 1 }));
    expect([a.canCreateConnection(), a.canQueue(), a.canSendRequest()]).toEqual([true, true, true]);
    a.add(Resource.Connections, 1);
    expect(b.canCreateConnection()).toBe(true);
    b.add(Resource.Connections, 1);
    expect(a.canCreateConnection()).toBe(false);
    expect(b.canCreateConnection()).toBe(false);
    b.add(Resource.PendingRequests, 1);
    expect(a.canQueue()).toBe(false);
    a.add(Resource.Requests, 2);
    expect(b.canSendRequest()).toBe(true);
    b.add(Resource.Requests, 1);
    expect(a.canSendRequest()).toBe(false);
    // another cluster's slot is untouched
    expect([other.canCreateConnection(), other.canQueue(), other.canSendRequest()]).toEqual([true, true, true]);
    a.add(Resource.Connections, -1);
    b.add(Resource.PendingRequests, -1);
    a.add(Resource.Requests, -1);
    expect([b.canCreateConnection(), b.canQueue(), b.canSendRequest()]).toEqual([true, true, true]);
  });

  it('tryRetry takes a retry slot while the cluster has one, across workers; maxRetries 0 never', () => {
    const init = ResourceTable.create(1, 2);
    const a = new ClusterLimits(new ResourceTable(init, 0), 0, cb({ maxRetries: 2 }));
    const b = new ClusterLimits(new ResourceTable(init, 1), 0, cb({ maxRetries: 2 }));
    expect(a.tryRetry()).toBe(true);
    expect(b.tryRetry()).toBe(true);
    expect(a.tryRetry()).toBe(false);
    expect(b.tryRetry()).toBe(false);
    // a refused retry takes nothing
    expect(new ResourceTable(init, -1).total(0, Resource.Retries)).toBe(2);
    a.add(Resource.Retries, -1);
    expect(b.tryRetry()).toBe(true);
    expect(a.tryRetry()).toBe(false);

    const none = new ClusterLimits(new ResourceTable(ResourceTable.create(1, 1), 0), 0, cb({ maxRetries: 0 }));
    expect(none.tryRetry()).toBe(false);
    expect(none.tryRetry()).toBe(false);
  });

  it('Istio\'s "unlimited" (2^32-1) is never reached', () => {
    const l = new ClusterLimits(new ResourceTable(ResourceTable.create(1, 1), 0), 0, cb({}));
    l.add(Resource.Connections, 1_000_000);
    expect(l.canCreateConnection()).toBe(true);
    for (let i = 0; i < 100; i++) expect(l.tryRetry()).toBe(true);
  });
});

describe('ResourceSlots', () => {
  it('gives each cluster a stable slot, in order, up to the capacity', () => {
    const s = new ResourceSlots(2);
    expect(s.slotFor('a')).toBe(0);
    expect(s.slotFor('b')).toBe(1);
    expect(s.slotFor('a')).toBe(0);
    expect(s.slotFor('c')).toBeUndefined();
    expect(s.slotFor('b')).toBe(1);
  });
});

// ---------------------------------------------------------------- H1Pool with limits

/** A raw HTTP/1.1 server that holds every request until `answer()`; counts connections. */
interface HoldingServer {
  port: number;
  connections: number;
  open: number;
  /** Sockets with a request waiting, oldest first. */
  waiting: Socket[];
  requests: number;
  answer(n?: number): void;
  close(): Promise<void>;
}

async function holdingServer(): Promise<HoldingServer> {
  const sockets = new Set<Socket>();
  const hs: HoldingServer = {
    port: 0,
    connections: 0,
    open: 0,
    waiting: [],
    requests: 0,
    answer(n = 1) {
      for (let i = 0; i < n; i++) hs.waiting.shift()?.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
  const server: Server = createServer((s) => {
    sockets.add(s);
    hs.connections++;
    hs.open++;
    let buf = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\r\n\r\n'); i >= 0; i = buf.indexOf('\r\n\r\n')) {
        buf = buf.slice(i + 4);
        hs.requests++;
        hs.waiting.push(s);
      }
    });
    s.on('error', () => {});
    s.on('close', () => {
      sockets.delete(s);
      hs.open--;
      hs.waiting = hs.waiting.filter((w) => w !== s);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  hs.port = (server.address() as AddressInfo).port;
  return hs;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
async function until(cond: () => boolean, what: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 10_000 && !cond(); i++) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

const servers: HoldingServer[] = [];
const pools: H1Pool[] = [];
afterEach(async () => {
  for (const s of servers) s.answer(1_000);
  await Promise.all(pools.splice(0).map((p) => Promise.race([p.close(), sleep(500)])));
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function setup(thresholds: Partial<CircuitBreakers>, workers = 1, maxRequestsPerConnection?: number) {
  const server = await holdingServer();
  servers.push(server);
  const init = ResourceTable.create(1, workers);
  const agent = new ResourceTable(init, -1);
  const poolFor = (w: number) => {
    const p = new H1Pool('127.0.0.1', server.port, {
      connectTimeoutMs: 2_000,
      idleTimeoutMs: 10_000,
      maxHeaderBytes: 16 * 1024,
      maxRequestsPerConnection,
      limits: new ClusterLimits(new ResourceTable(init, w), 0, cb(thresholds)),
    });
    pools.push(p);
    return p;
  };
  const total = (r: Resource) => agent.total(0, r);
  return { server, poolFor, total };
}

const req = () => ({ method: 'GET', path: '/', headers: ['host', 'x'], body: null });
function send(pool: H1Pool): { rec: RecordingHandler; ex: UpstreamExchange } {
  const rec = new RecordingHandler();
  return { rec, ex: pool.request(req(), rec) };
}

describe('H1Pool under circuit breakers', () => {
  it('maxConnections 1, pending 1: one connection, one queued request, the next overflows (asynchronously)', async () => {
    const { server, poolFor, total } = await setup({ maxConnections: 1, maxPendingRequests: 1 });
    const pool = poolFor(0);
    const r1 = send(pool);
    const r2 = send(pool);
    const r3 = send(pool);
    expect(r3.rec.error).toBeUndefined(); // reported after the caller has its handle
    await until(() => r3.rec.error !== undefined, 'overflow');
    expect(r3.rec.error!.kind).toBe('overflow');
    expect(total(Resource.Connections)).toBe(1);
    expect(total(Resource.PendingRequests)).toBe(1);
    expect(total(Resource.Requests)).toBe(1);
    await until(() => server.requests === 1, 'first request');
    await sleep(30);
    expect(server.connections).toBe(1);
    expect(server.requests).toBe(1);
    // the first answer frees the connection: the queued request goes out on it
    server.answer();
    await until(() => r1.rec.ended && server.requests === 2, 'queued request sent');
    expect(total(Resource.PendingRequests)).toBe(0);
    expect(server.connections).toBe(1);
    server.answer();
    await until(() => r2.rec.ended, 'second answer');
    expect([r1.rec.status, r2.rec.status]).toEqual([200, 200]);
    expect(total(Resource.Requests)).toBe(0);
    expect(total(Resource.Connections)).toBe(1); // the idle connection still counts
    await pool.close();
    await until(() => total(Resource.Connections) === 0, 'connections released');
  });

  it('a pool with no connection may open one even at the cluster\'s limit; a pool with one queues', async () => {
    const { server, poolFor, total } = await setup({ maxConnections: 1, maxPendingRequests: 1 }, 2);
    const a = poolFor(0);
    const b = poolFor(1);
    const a1 = send(a);
    expect(total(Resource.Connections)).toBe(1);
    const b1 = send(b); // worker 1 has no connection: it opens one although the cluster is at 1
    expect(total(Resource.Connections)).toBe(2);
    const a2 = send(a); // worker 0 has one: queued
    expect(total(Resource.PendingRequests)).toBe(1);
    const b2 = send(b); // the pending limit is the cluster's: full
    await until(() => b2.rec.error !== undefined, 'overflow in worker 1');
    expect(b2.rec.error!.kind).toBe('overflow');
    await until(() => server.requests === 2, 'two requests');
    expect(server.connections).toBe(2);
    server.answer(2);
    await until(() => a1.rec.ended && b1.rec.ended && server.requests === 3, 'a2 sent');
    expect(server.connections).toBe(2);
    server.answer();
    await until(() => a2.rec.ended, 'a2 answered');
    expect(a2.rec.status).toBe(200);
    expect(total(Resource.PendingRequests)).toBe(0);
    expect(total(Resource.Requests)).toBe(0);
  });

  it('maxRequests 2: a third concurrent request overflows although connections are unlimited', async () => {
    const { server, poolFor, total } = await setup({ maxRequests: 2 });
    const pool = poolFor(0);
    const rs = [send(pool), send(pool), send(pool)];
    await until(() => rs[2].rec.error !== undefined, 'overflow');
    expect(rs[2].rec.error!.kind).toBe('overflow');
    expect(total(Resource.Requests)).toBe(2);
    expect(total(Resource.PendingRequests)).toBe(0);
    await until(() => server.requests === 2, 'two requests');
    server.answer(2);
    await until(() => rs[0].rec.ended && rs[1].rec.ended, 'answers');
    expect(total(Resource.Requests)).toBe(0);
    const again = send(pool);
    await until(() => server.requests === 3, 'a new request fits again');
    server.answer();
    await until(() => again.rec.ended, 'answer');
    expect(again.rec.error).toBeUndefined();
  });

  it('an overflowed exchange aborted before the report gets no callback', async () => {
    const { poolFor } = await setup({ maxRequests: 0 });
    const r = send(poolFor(0));
    r.ex.abort();
    await sleep(20);
    expect(r.rec.error).toBeUndefined();
  });

  it('a queued request that is aborted leaves the queue and frees its pending slot', async () => {
    const { server, poolFor, total } = await setup({ maxConnections: 1, maxPendingRequests: 1 });
    const pool = poolFor(0);
    const r1 = send(pool);
    const r2 = send(pool);
    expect(total(Resource.PendingRequests)).toBe(1);
    r2.ex.abort();
    expect(total(Resource.PendingRequests)).toBe(0);
    const r3 = send(pool); // the slot is free again
    expect(total(Resource.PendingRequests)).toBe(1);
    await until(() => server.requests === 1, 'first');
    server.answer();
    await until(() => r1.rec.ended && server.requests === 2, 'r3 sent, not r2');
    server.answer();
    await until(() => r3.rec.ended, 'r3 answered');
    expect(r2.rec.status).toBe(0);
    expect(r2.rec.error).toBeUndefined();
    await sleep(20);
    expect(server.requests).toBe(2);
  });

  it('maxRequestsPerConnection 1 with maxConnections 1: the queued request goes out on a new connection after the first closes', async () => {
    const { server, poolFor, total } = await setup({ maxConnections: 1, maxPendingRequests: 5 }, 1, 1);
    const pool = poolFor(0);
    const rs = [send(pool), send(pool), send(pool)];
    expect(total(Resource.PendingRequests)).toBe(2);
    for (let i = 0; i < 3; i++) {
      await until(() => server.requests === i + 1, `request ${i + 1}`);
      expect(server.open).toBe(1);
      server.answer();
      await until(() => rs[i].rec.ended, `answer ${i + 1}`);
    }
    expect(server.connections).toBe(3);
    expect(rs.map((r) => r.rec.status)).toEqual([200, 200, 200]);
    await until(() => total(Resource.Connections) === 0, 'all closed');
    expect(total(Resource.Requests)).toBe(0);
    expect(total(Resource.PendingRequests)).toBe(0);
  });

  it('a failed connection frees its connection slot and the queued request gets a new one', async () => {
    const { server, poolFor, total } = await setup({ maxConnections: 1, maxPendingRequests: 1 });
    const pool = poolFor(0);
    const r1 = send(pool);
    const r2 = send(pool);
    await until(() => server.requests === 1, 'first');
    server.waiting.shift()!.destroy(); // reset before headers
    await until(() => r1.rec.error !== undefined, 'reset');
    expect(r1.rec.error!.kind).toBe('reset_before_headers');
    await until(() => server.requests === 2, 'queued request on a new connection');
    expect(server.connections).toBe(2);
    server.answer();
    await until(() => r2.rec.ended, 'answer');
    expect(r2.rec.status).toBe(200);
    expect(total(Resource.PendingRequests)).toBe(0);
    expect(total(Resource.Requests)).toBe(0);
  });

  it('close() (drain) with a request queued: the queued request still goes out, and close() resolves only after it', async () => {
    const { server, poolFor, total } = await setup({ maxConnections: 1 });
    const pool = poolFor(0);
    const r1 = send(pool);
    const r2 = send(pool); // queued behind the one connection
    await until(() => server.requests === 1, 'first request');
    let closed = false;
    const done = pool.close().then(() => (closed = true));
    server.answer();
    await until(() => r1.rec.ended && server.requests === 2, 'the queued request sent');
    expect(closed).toBe(false);
    server.answer();
    await done;
    expect(r2.rec.status).toBe(200);
    expect([total(Resource.Connections), total(Resource.PendingRequests), total(Resource.Requests)]).toEqual([0, 0, 0]);
  });
});
