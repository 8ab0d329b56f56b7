// ConnPoolBase with a fake protocol adapter (no sockets): admission against the circuit breakers,
// requests waiting on a connecting client or in the queue, overflow, rerouting when a client takes
// fewer streams than assumed or went away, connect failure and timeout, max requests per
// connection, the idle sweep, and drain. Each counter the pool touches is checked back at zero.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CircuitBreakers } from '../../src/config/snapshot.js';
import type { UpstreamExchange, UpstreamHandler, UpstreamRequest } from '../../src/upstream/exchange.js';
import { ActiveClient, ClientState, ConnPoolBase, type PoolOptions } from '../../src/upstream/pool-base.js';
import { ClusterLimits, Resource, ResourceTable } from '../../src/upstream/resource-limits.js';
import { ClusterStats } from '../../src/telemetry/stats.js';
import { RecordingHandler } from '../helpers/recording-handler.js';

const UNLIMITED = 2 ** 32 - 1;

class FakeExchange implements UpstreamExchange {
  aborted = false;
  private done = false;
  constructor(
    readonly client: FakeClient,
    readonly handler: UpstreamHandler,
  ) {}
  pause(): void {}
  resume(): void {}
  abort(): void {
    this.aborted = true;
    this.finish(true);
  }
  /** The response ends; `reusable` false: the connection takes no other exchange. */
  respond(reusable = true): void {
    if (this.done) return;
    const handler = this.handler;
    this.finish(reusable);
    handler.onUpstreamHeaders(200, []);
    handler.onUpstreamEnd(undefined);
  }
  private finish(reusable: boolean): void {
    if (this.done) return;
    this.done = true;
    this.client.exchanges.splice(this.client.exchanges.indexOf(this), 1);
    this.client.pool.streamDone(this.client, reusable);
  }
}

/** A connection the test drives: connect(capacity), refuse(), go away, close. */
class FakeClient extends ActiveClient {
  readonly exchanges: FakeExchange[] = [];
  /** Every exchange it ever ran (to see which client a request went to). */
  readonly ran: UpstreamHandler[] = [];
  /** newStream fails as if the connection had gone away this tick (HTTP/2 GOAWAY in flight). */
  goneAway = false;
  closedBy: 'close' | 'destroy' | 'peer' | undefined;

  constructor(readonly pool: FakePool) {
    super();
  }
  override newStream(_req: UpstreamRequest, handler: UpstreamHandler): UpstreamExchange | undefined {
    if (this.goneAway) return undefined;
    const ex = new FakeExchange(this, handler);
    this.exchanges.push(ex);
    this.ran.push(handler);
    return ex;
  }
  override close(): void {
    this.closedBy ??= 'close';
    this.pool.clientClosed(this);
  }
  override destroy(): void {
    this.closedBy ??= 'destroy';
    this.pool.clientClosed(this);
  }
  connect(capacity = 1): void {
    this.pool.clientReady(this, capacity);
  }
  /** The connect is refused (or the peer closes the connection). */
  refuse(code = 'ECONNREFUSED'): void {
    this.closedBy ??= 'peer';
    this.error = Object.assign(new Error(`connect ${code}`), { code });
    this.pool.clientClosed(this);
  }
}

class FakePool extends ConnPoolBase<FakeClient> {
  readonly opened: FakeClient[] = [];
  /** Streams a connecting client is assumed to take (HTTP/1.1: 1; HTTP/2: the peer's last limit). */
  expected = 1;
  protected override createClient(): FakeClient {
    const c = new FakeClient(this);
    this.opened.push(c);
    return c;
  }
  protected override expectedStreams(): number {
    return this.expected;
  }
}

const OPTIONS: PoolOptions = { connectTimeoutMs: 1_000, idleTimeoutMs: 10_000, maxHeaderBytes: 16 * 1024 };

function setup(thresholds: Partial<CircuitBreakers> = {}, options: Partial<PoolOptions> = {}, workers = 1) {
  const init = ResourceTable.create(1, workers);
  const agent = new ResourceTable(init, -1);
  const cluster = new ClusterStats();
  const host = cluster.host('10.0.0.1:80');
  const breakers: CircuitBreakers = { maxConnections: UNLIMITED, maxPendingRequests: UNLIMITED, maxRequests: UNLIMITED, maxRetries: UNLIMITED, ...thresholds };
  const poolFor = (worker: number) =>
    new FakePool('10.0.0.1', 80, { ...OPTIONS, ...options, limits: new ClusterLimits(new ResourceTable(init, worker), 0, breakers) }, { cluster, host });
  const total = (r: Resource) => agent.total(0, r);
  return { pool: poolFor(0), poolFor, total, cluster, host };
}

const REQ: UpstreamRequest = { method: 'GET', path: '/', headers: ['host', 'x'], body: null };
function send(pool: FakePool): { rec: RecordingHandler; ex: UpstreamExchange } {
  const rec = new RecordingHandler();
  return { rec, ex: pool.request(REQ, rec) };
}
const tick = () => new Promise<void>((r) => setTimeout(r, 0));

afterEach(() => {
  vi.useRealTimers();
});

describe('ConnPoolBase: admission and the pending queue', () => {
  it('a request opens a client and waits for it (pending), then runs on it; counters go back to zero', () => {
    const { pool, total, cluster, host } = setup();
    const a = send(pool);
    expect(pool.opened).toHaveLength(1);
    expect(pool.activeCount).toBe(1);
    expect([cluster.upstreamCxTotal, cluster.upstreamCxActive, host.cxTotal, host.cxActive]).toEqual([1, 1, 1, 1]);
    expect([cluster.upstreamRqPendingTotal, cluster.upstreamRqPendingActive]).toEqual([1, 1]);
    expect([total(Resource.Connections), total(Resource.Requests), total(Resource.PendingRequests)]).toEqual([1, 1, 0]);
    const c = pool.opened[0];
    c.connect();
    expect(c.ran).toEqual([a.rec]);
    expect(cluster.upstreamRqPendingActive).toBe(0);
    c.exchanges[0].respond();
    expect(a.rec.ended).toBe(true);
    expect([pool.activeCount, pool.idleCount, total(Resource.Requests)]).toEqual([0, 1, 0]);
    // the next request runs at once on the idle client, without waiting
    const b = send(pool);
    expect(c.ran).toEqual([a.rec, b.rec]);
    expect(cluster.upstreamRqPendingTotal).toBe(1);
  });

  it('max_requests: a request over the limit overflows asynchronously (after the caller has its handle), holding nothing', async () => {
    const { pool, total } = setup({ maxRequests: 1 });
    send(pool);
    const b = send(pool);
    expect(b.rec.error).toBeUndefined();
    await tick();
    expect(b.rec.error?.kind).toBe('overflow');
    expect(b.rec.error?.message).toBe('circuit breaker open: max requests');
    expect(total(Resource.Requests)).toBe(1);
    // aborted before the report: no callback
    const c = send(pool);
    c.ex.abort();
    await tick();
    expect(c.rec.error).toBeUndefined();
  });

  it('max_connections: further requests queue (max_pending_requests), then overflow; the queue is served as streams free up', async () => {
    const { pool, total, cluster } = setup({ maxConnections: 1, maxPendingRequests: 1 });
    const a = send(pool);
    const b = send(pool);
    const c = send(pool);
    expect(pool.opened).toHaveLength(1);
    expect([total(Resource.Connections), total(Resource.Requests), total(Resource.PendingRequests)]).toEqual([1, 1, 1]);
    await tick();
    expect(c.rec.error?.message).toBe('circuit breaker open: max pending requests');
    const client = pool.opened[0];
    client.connect();
    client.exchanges[0].respond();
    expect(a.rec.ended).toBe(true);
    // the queued request went out on the freed client, no new connection
    expect(client.ran).toEqual([a.rec, b.rec]);
    expect(pool.opened).toHaveLength(1);
    expect([total(Resource.Requests), total(Resource.PendingRequests)]).toEqual([1, 0]);
    client.exchanges[0].respond();
    expect([total(Resource.Requests), cluster.upstreamRqPendingActive, cluster.upstreamRqPendingTotal]).toEqual([0, 0, 2]);
  });

  it('a pool with no client may open one even at the cluster\'s max_connections; one with a client queues', () => {
    const { poolFor, total } = setup({ maxConnections: 1 }, {}, 2);
    const w0 = poolFor(0);
    const w1 = poolFor(1);
    send(w0);
    send(w1);
    expect(total(Resource.Connections)).toBe(2);
    send(w1);
    expect(w1.opened).toHaveLength(1);
    expect(total(Resource.PendingRequests)).toBe(1);
  });

  it('aborting a queued request leaves the queue and frees its pending slot; aborting one attached to a connecting client frees its request slot', () => {
    const { pool, total, cluster } = setup({ maxConnections: 1 });
    const a = send(pool);
    const b = send(pool);
    b.ex.abort();
    expect([total(Resource.PendingRequests), cluster.upstreamRqPendingActive]).toEqual([0, 1]);
    a.ex.abort();
    expect([total(Resource.Requests), cluster.upstreamRqPendingActive]).toEqual([0, 0]);
    const client = pool.opened[0];
    client.connect();
    expect(client.ran).toEqual([]);
    expect([a.rec.error, b.rec.error]).toEqual([undefined, undefined]);
    expect(pool.idleCount).toBe(1);
  });

  it('abort() after the request got its stream aborts that exchange', () => {
    const { pool, total } = setup();
    const a = send(pool);
    pool.opened[0].connect();
    const ex = pool.opened[0].exchanges[0];
    a.ex.abort();
    expect(ex.aborted).toBe(true);
    expect(total(Resource.Requests)).toBe(0);
  });
});

describe('ConnPoolBase: clients with several streams', () => {
  it('requests attach to a connecting client up to the streams it is assumed to take; more open another client', () => {
    const { pool } = setup();
    pool.expected = 2;
    const reqs = [send(pool), send(pool), send(pool)];
    expect(pool.opened).toHaveLength(2);
    expect(pool.opened[0].attached).toHaveLength(2);
    pool.opened[0].connect(10);
    expect(pool.opened[0].ran).toEqual([reqs[0].rec, reqs[1].rec]);
    expect(pool.streamCount).toBe(2);
    // a ready client with room takes the next request at once
    const d = send(pool);
    expect(pool.opened[0].ran).toContain(d.rec);
  });

  it('a client that connects with fewer streams than assumed sends the rest elsewhere; a full client is not handed out until a stream ends', () => {
    const { pool, total } = setup({ maxConnections: 1 });
    pool.expected = 3;
    const reqs = [send(pool), send(pool), send(pool)];
    const client = pool.opened[0];
    client.connect(1);
    expect(client.ran).toEqual([reqs[0].rec]);
    // at max_connections the two others wait at the head of the queue, still admitted
    expect(pool.opened).toHaveLength(1);
    expect([total(Resource.Requests), total(Resource.PendingRequests)]).toEqual([1, 2]);
    client.exchanges[0].respond();
    expect(client.ran).toEqual([reqs[0].rec, reqs[1].rec]);
    // the peer raises its limit: the last one goes out too
    pool.clientCapacity(client, 5);
    expect(client.ran).toEqual(reqs.map((r) => r.rec));
    expect(total(Resource.PendingRequests)).toBe(0);
  });

  it('a rerouted request (already admitted) waits at the head of the queue, before requests queued earlier', () => {
    const { pool, total } = setup({ maxConnections: 1, maxPendingRequests: 1 });
    pool.expected = 2;
    const a = send(pool);
    const b = send(pool);
    const c = send(pool); // queued: the one client is assumed full
    const client = pool.opened[0];
    client.connect(1); // b does not fit: back to the queue, ahead of c, over max_pending_requests
    expect(total(Resource.PendingRequests)).toBe(2);
    client.exchanges[0].respond();
    expect(client.ran).toEqual([a.rec, b.rec]);
    client.exchanges[0].respond();
    expect(client.ran).toEqual([a.rec, b.rec, c.rec]);
  });

  it('a client that went away this tick (newStream refuses) drains and closes; the request goes to another client', () => {
    const { pool } = setup();
    const a = send(pool);
    const first = pool.opened[0];
    first.connect(10);
    first.goneAway = true;
    const b = send(pool);
    expect(first.state).toBe(ClientState.Draining);
    expect(pool.opened).toHaveLength(2);
    first.exchanges[0].respond();
    expect(first.closedBy).toBe('close');
    pool.opened[1].connect(10);
    expect(pool.opened[1].ran).toEqual([b.rec]);
    expect(a.rec.ended).toBe(true);
  });

  it('GOAWAY while connecting (clientDraining): the attached requests go to another client', () => {
    const { pool } = setup();
    pool.expected = 10;
    const a = send(pool);
    const first = pool.opened[0];
    pool.clientDraining(first);
    expect(first.closedBy).toBe('close');
    expect(pool.opened).toHaveLength(2);
    expect(pool.opened[1].attached.map((p) => p.handler)).toEqual([a.rec]);
  });
});

describe('ConnPoolBase: failures', () => {
  it('a connect failure fails the requests waiting on that client (pending_failure_eject, cx_connect_fail); a queued one gets a new client', async () => {
    const { pool, total, cluster, host } = setup({ maxConnections: 1 });
    pool.expected = 2;
    const a = send(pool);
    const b = send(pool);
    const c = send(pool); // queued: the one client is assumed full
    expect(total(Resource.PendingRequests)).toBe(1);
    pool.opened[0].refuse();
    for (const r of [a, b]) {
      expect(r.rec.error?.kind).toBe('connect_failure');
      expect(r.rec.error?.code).toBe('ECONNREFUSED');
    }
    expect([cluster.upstreamRqPendingFailureEject, cluster.upstreamCxConnectFail, host.cxConnectFail, cluster.upstreamCxDestroy]).toEqual([2, 1, 1, 1]);
    expect(total(Resource.Connections)).toBe(0);
    await tick();
    expect(pool.opened).toHaveLength(2);
    pool.opened[1].connect(2);
    expect(pool.opened[1].ran).toEqual([c.rec]);
    expect(c.rec.error).toBeUndefined();
  });

  it('connect timeout: the waiting requests fail with connect_timeout and the client is destroyed', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const { pool, total, cluster } = setup();
    const a = send(pool);
    vi.advanceTimersByTime(999);
    expect(a.rec.error).toBeUndefined();
    vi.advanceTimersByTime(1);
    expect(a.rec.error?.kind).toBe('connect_timeout');
    expect(pool.opened[0].closedBy).toBe('destroy');
    expect([total(Resource.Connections), total(Resource.Requests), cluster.upstreamCxConnectFail]).toEqual([0, 0, 1]);
  });

  it('a connection that connected is not a connect failure when it closes; the connect timer is cleared', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const { pool, cluster } = setup();
    const a = send(pool);
    pool.opened[0].connect();
    vi.advanceTimersByTime(5_000);
    expect(a.rec.error).toBeUndefined();
    pool.opened[0].refuse('ECONNRESET');
    expect([cluster.upstreamCxConnectFail, cluster.upstreamCxDestroy, cluster.upstreamCxActive]).toEqual([0, 1, 0]);
  });
});

describe('ConnPoolBase: connection reuse, limits and idle', () => {
  it('the most recently freed client is reused first', () => {
    const { pool } = setup();
    send(pool);
    send(pool);
    const [c1, c2] = pool.opened;
    c1.connect();
    c2.connect();
    c2.exchanges[0].respond();
    c1.exchanges[0].respond();
    const next = send(pool);
    expect(c1.ran).toContain(next.rec);
  });

  it('maxRequestsPerConnection: the client drains after that many streams and closes when they end', () => {
    const { pool } = setup({}, { maxRequestsPerConnection: 2 });
    pool.expected = 10;
    send(pool);
    send(pool);
    send(pool); // a connecting client is assumed to take no more than 2
    expect(pool.opened).toHaveLength(2);
    const c = pool.opened[0];
    c.connect(10);
    expect(c.state).toBe(ClientState.Draining);
    c.exchanges[0].respond();
    expect(c.closedBy).toBeUndefined();
    c.exchanges[0].respond();
    expect(c.closedBy).toBe('close');
  });

  it('an exchange that leaves its connection unusable (streamDone not reusable) closes that client', () => {
    const { pool } = setup();
    send(pool);
    const c = pool.opened[0];
    c.connect();
    c.exchanges[0].respond(false);
    expect(c.closedBy).toBe('close');
    expect(pool.clientCount).toBe(0);
  });

  it('the idle sweep closes clients idle for idleTimeoutMs and stops when none is idle', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    const { pool } = setup({}, { idleTimeoutMs: 2_000 });
    send(pool);
    send(pool);
    const [c1, c2] = pool.opened;
    c1.connect();
    c2.connect();
    c1.exchanges[0].respond();
    vi.advanceTimersByTime(1_000);
    c2.exchanges[0].respond();
    vi.advanceTimersByTime(1_100);
    expect(c1.closedBy).toBe('close');
    expect(c2.closedBy).toBeUndefined();
    // the sweep runs every min(idleTimeoutMs, 5 s): the next one finds it idle long enough
    vi.advanceTimersByTime(2_000);
    expect(c2.closedBy).toBe('close');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a client idle past idleTimeoutMs is not handed out, even before the sweep runs', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { pool } = setup({}, { idleTimeoutMs: 2_000 });
    send(pool);
    const old = pool.opened[0];
    old.connect();
    old.exchanges[0].respond();
    vi.setSystemTime(Date.now() + 2_000);
    send(pool);
    expect(old.closedBy).toBe('close');
    expect(pool.opened).toHaveLength(2);
  });
});

describe('ConnPoolBase: drain', () => {
  it('close(): idle clients close at once; busy ones when their streams end; queued requests are still served; then it resolves', async () => {
    const { pool, total } = setup({ maxConnections: 2 });
    send(pool);
    send(pool);
    const [idle, busy] = pool.opened;
    idle.connect();
    busy.connect();
    idle.exchanges[0].respond();
    const queuedBefore = send(pool); // takes the idle client
    const waiting = send(pool); // both busy, at max_connections: queued
    expect(total(Resource.PendingRequests)).toBe(1);
    let drained = false;
    const done = pool.close().then(() => (drained = true));
    expect(pool.clientCount).toBe(2);
    busy.exchanges[0].respond();
    // the freed client serves the queued request instead of closing
    expect(busy.ran).toContain(waiting.rec);
    busy.exchanges[0].respond();
    expect(busy.closedBy).toBe('close');
    await tick();
    expect(drained).toBe(false);
    idle.exchanges[0].respond();
    expect(idle.closedBy).toBe('close');
    await done;
    expect(queuedBefore.rec.ended && waiting.rec.ended).toBe(true);
    expect([total(Resource.Connections), total(Resource.Requests), total(Resource.PendingRequests)]).toEqual([0, 0, 0]);
  });

  it('close() with only idle clients resolves at once', async () => {
    const { pool } = setup();
    send(pool);
    pool.opened[0].connect();
    pool.opened[0].exchanges[0].respond();
    await pool.close();
    expect(pool.opened[0].closedBy).toBe('close');
  });

  it('close() closes a connecting client nobody waits for any more (its request was aborted) at once', async () => {
    const { pool } = setup();
    send(pool).ex.abort();
    await pool.close();
    expect(pool.opened[0].closedBy).toBe('close');
  });

  it('close() while a client connects: its requests run, then it closes', async () => {
    const { pool } = setup();
    const a = send(pool);
    const done = pool.close();
    pool.opened[0].connect();
    pool.opened[0].exchanges[0].respond();
    await done;
    expect(a.rec.ended).toBe(true);
    expect(pool.opened[0].closedBy).toBe('close');
  });
});
