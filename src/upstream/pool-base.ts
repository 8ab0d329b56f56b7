import type { ConnectionOptions } from 'node:tls';
import type { ClusterStats, HostStats } from '../telemetry/stats.js';
import { Resource, type ClusterLimits } from './resource-limits.js';
import { UpstreamError, type UpstreamExchange, type UpstreamFailure, type UpstreamHandler, type UpstreamRequest } from './exchange.js';
import type { UpstreamSource } from './connect.js';

/**
 * What every upstream connection pool does whatever the protocol (Envoy's ConnPoolImplBase):
 * admission against the cluster's circuit breakers, the queue of requests waiting for a connection
 * and its overflow, the connect timeout, the idle sweep, drain, and the bookkeeping of the
 * connections (ready with a free stream, connecting, busy). A protocol adapter (http1/, http2/)
 * only opens a connection, says how many streams it carries, and runs one exchange on it.
 */

export interface PoolOptions {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  maxHeaderBytes: number;
  /** Close a connection after this many requests; 0 or absent: no limit. */
  maxRequestsPerConnection?: number;
  /** The cluster's circuit breakers, shared across workers; absent: unlimited. */
  limits?: ClusterLimits;
  /** The local address and DNS resolution of new connections (Envoy upstream_bind_config, dns_lookup_family). */
  source?: UpstreamSource;
  /** TLS for each new connection (asked each time: a rotated certificate applies to new connections). */
  tls?: () => ConnectionOptions | Error | undefined;
}

/** Connection and pending-request counters (Envoy's upstream_cx_*, upstream_rq_pending_*), if the owner keeps them. */
export interface PoolStats {
  cluster: ClusterStats;
  host: HostStats;
}

export const ClientState = {
  /** Connecting (for HTTP/2 also waiting for the peer's first SETTINGS), within the connect timeout. */
  Connecting: 0,
  Ready: 1,
  /** No new streams (GOAWAY, max requests per connection, not reusable, pool closing): closes when its streams end. */
  Draining: 2,
  Closed: 3,
} as const;
export type ClientState = (typeof ClientState)[keyof typeof ClientState];

/**
 * One upstream connection as the pool sees it (Envoy's ActiveClient). The adapter's subclass owns
 * the socket and reports to its pool: clientReady once it can carry streams, streamDone when an
 * exchange ends, clientClosed once the connection is gone.
 */
export abstract class ActiveClient {
  state: ClientState = ClientState.Connecting;
  /** Exchanges open on this connection. */
  streams = 0;
  /** Exchanges started over its life (maxRequestsPerConnection). */
  started = 0;
  /** Exchanges it may carry at once, known once it is ready. */
  capacity = 0;
  /** Has it ever been ready? A connection closed before that is a connect failure. */
  connected = false;
  /** Requests waiting for this connection to be ready (each holds a request slot). */
  attached: PendingRequest[] = [];
  idleSince = 0;
  /** Is it in the pool's ready list? */
  inReady = false;
  connectTimer: NodeJS.Timeout | undefined;
  /** Why it failed before it was ready (absent: connect_failure), for the requests waiting on it. */
  failure: UpstreamFailure | undefined;
  /** The transport's error, if any. */
  error: (Error & { code?: string }) | undefined;

  /** Runs one exchange on this connection; undefined if the connection turned out unable to (it went away this tick). */
  abstract newStream(req: UpstreamRequest, handler: UpstreamHandler): UpstreamExchange | undefined;
  /** Closes the connection once its streams end (HTTP/2 GOAWAY) or now; it then reports clientClosed. */
  abstract close(): void;
  /** Closes the connection now; it then reports clientClosed. */
  abstract destroy(): void;
}

const Wait = {
  /** In the pool's queue (the cluster is at max_connections; Resource.PendingRequests held). */
  Queued: 0,
  /** Waiting for a connecting client (a request slot held). */
  Attached: 1,
  /** Being handed to a client. */
  Starting: 2,
  Started: 3,
  Done: 4,
} as const;
type Wait = (typeof Wait)[keyof typeof Wait];

/**
 * A request that waits for a stream, queued or attached to a connecting client (Envoy's
 * PendingStream). It is the caller's exchange handle until the real exchange exists.
 */
export class PendingRequest implements UpstreamExchange {
  state: Wait = Wait.Queued;
  client: ActiveClient | undefined;
  exchange: UpstreamExchange | undefined;
  /** Counted in upstream_rq_pending_active. */
  counted = false;

  constructor(
    private readonly pool: ConnPoolBase<ActiveClient>,
    readonly req: UpstreamRequest,
    readonly handler: UpstreamHandler,
  ) {}

  pause(): void {
    this.exchange?.pause();
  }

  resume(): void {
    this.exchange?.resume();
  }

  abort(): void {
    this.pool.cancel(this);
  }
}

/** Fails a request a circuit breaker refused, asynchronously (like a reset), so the caller has its handle first. */
function overflow(handler: UpstreamHandler, what: string): UpstreamExchange {
  let cancelled = false;
  const ex = { pause() {}, resume() {}, abort: () => (cancelled = true) };
  queueMicrotask(() => cancelled || handler.onUpstreamError(new UpstreamError('overflow', `circuit breaker open: ${what}`)));
  return ex;
}

const UNLIMITED_STREAMS = 2 ** 31 - 1;

export abstract class ConnPoolBase<C extends ActiveClient> {
  /** Every open client, whatever its state. */
  private readonly clients = new Set<C>();
  /** Ready clients with a free stream; the most recently freed is last and is taken first. */
  private readonly ready: C[] = [];
  /** Clients connecting, oldest first. */
  private readonly connecting: C[] = [];
  /** Requests waiting because the cluster is at max_connections, oldest first. */
  private readonly queue: PendingRequest[] = [];
  private sweeper: NodeJS.Timeout | undefined;
  private closing = false;
  private onDrained: (() => void) | undefined;

  constructor(
    readonly address: string,
    readonly port: number,
    readonly options: PoolOptions,
    readonly stats?: PoolStats,
  ) {}

  /** Opens a new connection (the adapter's client); it reports clientReady or clientClosed later. */
  protected abstract createClient(): C;
  /** Streams a connection not yet ready can be assumed to take (HTTP/1.1: 1). */
  protected abstract expectedStreams(): number;

  /** Connections carrying an exchange or connecting. */
  get activeCount(): number {
    let n = 0;
    for (const c of this.clients) if (c.streams > 0 || c.state === ClientState.Connecting) n++;
    return n;
  }

  /** Ready connections with no exchange. */
  get idleCount(): number {
    let n = 0;
    for (const c of this.ready) if (c.streams === 0) n++;
    return n;
  }

  /** Open connections, whatever their state. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Exchanges in flight over all connections. */
  get streamCount(): number {
    let n = 0;
    for (const c of this.clients) n += c.streams;
    return n;
  }

  /**
   * Sends a request on a ready connection with a free stream, a connecting one expected to have
   * room, or a new one; with circuit breakers it may wait (max_connections) or overflow
   * (max_pending_requests, max_requests). Returns the exchange's control handle.
   */
  request(req: UpstreamRequest, handler: UpstreamHandler): UpstreamExchange {
    const limits = this.options.limits;
    // the request's slot is claimed here and released when its exchange ends (or it overflows)
    if (limits && !limits.tryClaim(Resource.Requests, limits.thresholds.maxRequests)) return overflow(handler, 'max requests');
    for (let c = this.takeReady(); c; c = this.takeReady()) {
      const ex = this.startStream(c, req, handler);
      if (ex) return ex;
    }
    const p = new PendingRequest(this as ConnPoolBase<ActiveClient>, req, handler);
    if (this.attachToClient(p)) return p;
    // here the circuit breakers exist (without them a client can always be opened)
    limits!.add(Resource.Requests, -1); // queued requests do not hold a request slot
    if (!limits!.canQueue()) return overflow(handler, 'max pending requests');
    this.enqueue(p, false);
    return p;
  }

  /** A ready client with a free stream; one idle past the idle timeout is closed on the way. */
  private takeReady(): C | undefined {
    const ready = this.ready;
    while (ready.length > 0) {
      const c = ready[ready.length - 1];
      if (c.streams > 0 || Date.now() - c.idleSince < this.options.idleTimeoutMs) return c;
      this.closeClient(c);
    }
    return undefined;
  }

  /** Starts an exchange on a ready client; undefined (and the client drains) if it could not take it. */
  private startStream(c: C, req: UpstreamRequest, handler: UpstreamHandler): UpstreamExchange | undefined {
    c.streams++;
    c.started++;
    const max = this.options.maxRequestsPerConnection;
    if (max && c.started >= max) this.stopNewStreams(c);
    else if (c.streams >= c.capacity) this.removeReady(c);
    const ex = c.newStream(req, handler);
    if (ex) return ex;
    c.streams--;
    this.stopNewStreams(c);
    if (c.streams === 0) this.closeClient(c);
    return undefined;
  }

  /** Attaches a waiting request to a connecting client with room, or a new client if the breakers allow. */
  private attachToClient(p: PendingRequest): boolean {
    const c = this.connectingWithRoom() ?? (this.mayOpenClient() ? this.openClient() : undefined);
    if (!c) return false;
    p.state = Wait.Attached;
    p.client = c;
    c.attached.push(p);
    this.countPending(p);
    return true;
  }

  private connectingWithRoom(): C | undefined {
    const max = this.options.maxRequestsPerConnection;
    const room = Math.min(this.expectedStreams(), max ? max : UNLIMITED_STREAMS);
    for (const c of this.connecting) if (c.attached.length < room) return c;
    return undefined;
  }

  /** Within max_connections — or no client at all: Envoy lets such a pool open one even at the limit, so no worker starves. */
  private mayOpenClient(): boolean {
    const limits = this.options.limits;
    return !limits || limits.canCreateConnection() || this.clients.size === 0;
  }

  private openClient(): C {
    const c = this.createClient();
    this.clients.add(c);
    this.connecting.push(c);
    this.options.limits?.add(Resource.Connections, 1);
    // Envoy counts a connection when it is created, so connect failures are part of cx_total
    const s = this.stats;
    if (s) {
      s.cluster.upstreamCxTotal++;
      s.cluster.upstreamCxActive++;
      s.host.cxTotal++;
      s.host.cxActive++;
    }
    c.connectTimer = setTimeout(() => this.clientFailed(c, 'connect_timeout', new Error('connect timeout')), this.options.connectTimeoutMs);
    return c;
  }

  /** Queues a request until a client has room (Resource.PendingRequests; no request slot held). */
  private enqueue(p: PendingRequest, front: boolean): void {
    p.state = Wait.Queued;
    p.client = undefined;
    if (front) this.queue.unshift(p);
    else this.queue.push(p);
    this.options.limits?.add(Resource.PendingRequests, 1);
    this.countPending(p);
  }

  /** Waiting for a stream: upstream_rq_pending_total / _active (each waiting request counts once). */
  private countPending(p: PendingRequest): void {
    if (p.counted) return;
    p.counted = true;
    const s = this.stats?.cluster;
    if (s) {
      s.upstreamRqPendingTotal++;
      s.upstreamRqPendingActive++;
    }
  }

  /** The request stopped waiting; `ejected`: its connection failed (upstream_rq_pending_failure_eject). */
  private uncountPending(p: PendingRequest, ejected: boolean): void {
    if (!p.counted) return;
    p.counted = false;
    const s = this.stats?.cluster;
    if (s) {
      s.upstreamRqPendingActive--;
      if (ejected) s.upstreamRqPendingFailureEject++;
    }
  }

  /** Hands a waiting request (holding a request slot) to a ready client; false if the client could not take it. */
  private startWaiting(c: C, p: PendingRequest): boolean {
    p.state = Wait.Starting;
    p.client = undefined;
    const ex = this.startStream(c, p.req, p.handler);
    // the caller may abort while the exchange starts (a body that fails at once)
    const cancelled = (p.state as Wait) === Wait.Done;
    if (!ex) {
      if (!cancelled) return false;
      this.options.limits?.add(Resource.Requests, -1); // cancelled meanwhile: nothing to reroute
      return true;
    }
    p.state = Wait.Started;
    p.exchange = ex;
    this.uncountPending(p, false);
    if (cancelled) ex.abort();
    return true;
  }

  /**
   * A waiting request (holding a request slot) that its client could not take after all — it
   * connected with fewer streams than assumed, or went away first: another client, a new one, or
   * the head of the queue, whatever max_pending_requests says (it was already admitted).
   */
  private reroute(p: PendingRequest): void {
    for (let c = this.takeReady(); c; c = this.takeReady()) if (this.startWaiting(c, p)) return;
    if (this.attachToClient(p)) return;
    this.options.limits?.add(Resource.Requests, -1);
    this.enqueue(p, true);
  }

  /** Streams may have become available: serves the oldest queued requests. */
  private servePending(): void {
    const limits = this.options.limits;
    while (this.queue.length > 0) {
      const ready = this.takeReady();
      const c = ready ?? this.connectingWithRoom() ?? (this.mayOpenClient() ? this.openClient() : undefined);
      if (!c) return;
      const p = this.queue.shift()!;
      if (limits) {
        limits.add(Resource.PendingRequests, -1);
        limits.add(Resource.Requests, 1);
      }
      if (!ready) {
        p.state = Wait.Attached;
        p.client = c;
        c.attached.push(p);
      } else if (!this.startWaiting(ready, p)) {
        this.reroute(p);
      }
    }
  }

  /** The caller gave up on a waiting request (its stream ended). */
  cancel(p: PendingRequest): void {
    switch (p.state) {
      case Wait.Started:
        p.exchange!.abort();
        return;
      case Wait.Queued: {
        const i = this.queue.indexOf(p);
        if (i >= 0) this.queue.splice(i, 1);
        this.options.limits?.add(Resource.PendingRequests, -1);
        break;
      }
      case Wait.Attached: {
        const attached = p.client!.attached;
        const i = attached.indexOf(p);
        if (i >= 0) attached.splice(i, 1);
        this.options.limits?.add(Resource.Requests, -1);
        break;
      }
      case Wait.Done:
        return;
    }
    // Starting: the exchange is aborted as soon as it exists (startWaiting)
    p.state = Wait.Done;
    p.client = undefined;
    this.uncountPending(p, false);
    this.checkDrained();
  }

  // ------------------------------------------------------------------ reports from the clients

  /** The client can carry `capacity` streams: the requests attached to it start, the others wait elsewhere. */
  clientReady(c: C, capacity: number): void {
    if (c.state !== ClientState.Connecting) return;
    clearTimeout(c.connectTimer);
    c.connectTimer = undefined;
    c.connected = true;
    c.state = ClientState.Ready;
    c.capacity = capacity;
    c.idleSince = Date.now();
    this.removeConnecting(c);
    if (capacity > 0) this.addReady(c);
    const waiting = c.attached;
    c.attached = [];
    for (const p of waiting) {
      // fewer streams than assumed: elsewhere, or back to the queue
      if (c.state !== ClientState.Ready || c.streams >= c.capacity || !this.startWaiting(c, p)) this.reroute(p);
    }
    this.servePending();
    this.settle(c);
  }

  /** The client's stream limit changed (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). */
  clientCapacity(c: C, capacity: number): void {
    const before = c.capacity;
    c.capacity = capacity;
    if (c.state !== ClientState.Ready) return;
    if (c.streams >= capacity) return this.removeReady(c);
    this.addReady(c);
    if (capacity > before) this.servePending();
  }

  /**
   * An exchange on the client ended (its slot is released); `reusable` false: the connection takes
   * no other (HTTP/1.1 without keep-alive, an unfinished request).
   */
  streamDone(c: C, reusable = true): void {
    this.options.limits?.add(Resource.Requests, -1);
    c.streams--;
    if (c.state !== ClientState.Closed) {
      if (!reusable) this.stopNewStreams(c);
      if (c.state === ClientState.Draining) {
        if (c.streams === 0) this.closeClient(c);
      } else if (c.state === ClientState.Ready && c.streams < c.capacity) {
        if (c.streams === 0) c.idleSince = Date.now();
        this.addReady(c);
      }
    }
    this.servePending();
    if (c.state === ClientState.Ready) this.settle(c);
  }

  /** The client takes no new streams (HTTP/2 GOAWAY): it closes once its streams end. */
  clientDraining(c: C): void {
    this.stopNewStreams(c);
    if (c.streams === 0) this.closeClient(c);
  }

  /** The client could not be set up (connect timeout, ALPN): the requests waiting for it fail, and it is closed now. */
  clientFailed(c: C, kind: UpstreamFailure, err: Error): void {
    if (c.state !== ClientState.Connecting) return;
    c.failure = kind;
    c.error ??= err;
    c.state = ClientState.Draining;
    this.removeConnecting(c);
    this.failAttached(c);
    c.destroy();
  }

  /** The client's connection is gone (closed by either side, or failed). */
  clientClosed(c: C): void {
    if (c.state === ClientState.Closed) return;
    clearTimeout(c.connectTimer);
    c.connectTimer = undefined;
    c.state = ClientState.Closed;
    this.removeConnecting(c);
    this.removeReady(c);
    this.clients.delete(c);
    this.options.limits?.add(Resource.Connections, -1);
    const s = this.stats;
    if (s) {
      s.cluster.upstreamCxActive--;
      s.cluster.upstreamCxDestroy++;
      s.host.cxActive--;
      if (!c.connected) {
        s.cluster.upstreamCxConnectFail++;
        s.host.cxConnectFail++;
      }
    }
    this.failAttached(c);
    if (this.queue.length > 0) queueMicrotask(() => this.servePending());
    this.checkDrained();
  }

  // ------------------------------------------------------------------ client bookkeeping

  /** A ready client with no stream (idle since idleSince) is closed by the sweep after idleTimeoutMs, or now if the pool is closing. */
  private settle(c: C): void {
    if (c.state !== ClientState.Ready || c.streams > 0) return;
    if (this.closing) return this.closeClient(c);
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(250, Math.min(this.options.idleTimeoutMs, 5_000))).unref();
  }

  /** No new streams on this client; the requests waiting for it go elsewhere. */
  private stopNewStreams(c: C): void {
    if (c.state !== ClientState.Connecting && c.state !== ClientState.Ready) return;
    c.state = ClientState.Draining;
    this.removeReady(c);
    this.removeConnecting(c);
    this.rerouteAttached(c);
  }

  /** Closes a client (gracefully: its streams, if any, finish). */
  private closeClient(c: C): void {
    if (c.state === ClientState.Closed) return;
    this.stopNewStreams(c);
    c.close();
  }

  private rerouteAttached(c: C): void {
    if (c.attached.length === 0) return;
    const waiting = c.attached;
    c.attached = [];
    for (const p of waiting) this.reroute(p);
  }

  private failAttached(c: C): void {
    if (c.attached.length === 0) return;
    const err = c.error;
    const kind = c.failure ?? 'connect_failure';
    const message = err?.message ?? (kind === 'connect_failure' ? 'connection closed while connecting' : kind);
    const waiting = c.attached;
    c.attached = [];
    for (const p of waiting) {
      p.state = Wait.Done;
      p.client = undefined;
      this.options.limits?.add(Resource.Requests, -1);
      this.uncountPending(p, true);
      p.handler.onUpstreamError(new UpstreamError(kind, message, err?.code));
    }
  }

  private addReady(c: C): void {
    if (c.inReady) return;
    c.inReady = true;
    this.ready.push(c);
  }

  private removeReady(c: C): void {
    if (!c.inReady) return;
    c.inReady = false;
    const ready = this.ready;
    if (ready[ready.length - 1] === c) ready.pop();
    else ready.splice(ready.indexOf(c), 1);
  }

  private removeConnecting(c: C): void {
    const i = this.connecting.indexOf(c);
    if (i >= 0) this.connecting.splice(i, 1);
  }

  private sweep(): void {
    const limit = Date.now() - this.options.idleTimeoutMs;
    let idle = 0;
    for (const c of [...this.ready]) {
      if (c.streams > 0) continue;
      if (c.idleSince <= limit) this.closeClient(c);
      else idle++;
    }
    if (idle === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private checkDrained(): void {
    if (this.closing && this.clients.size === 0 && this.queue.length === 0) this.onDrained?.();
  }

  /**
   * Drain (a retired cluster, shutdown): idle connections close now, the others once their
   * exchanges end (HTTP/2: GOAWAY, then close); queued requests are still served. Resolves when
   * no connection and no queued request is left.
   */
  close(): Promise<void> {
    this.closing = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const c of [...this.ready]) if (c.streams === 0) this.closeClient(c);
    for (const c of [...this.connecting]) if (c.attached.length === 0) this.closeClient(c);
    if (this.clients.size === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => (this.onDrained = resolve));
  }
}
