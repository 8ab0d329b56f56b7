import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { connectUpstream } from './connect.js';
import type { BodySink, BodySource } from '../codec/body.js';
import type { ClusterStats, HostStats } from '../telemetry/stats.js';
import { Resource, type ClusterLimits } from './resource-limits.js';
import { ChunkedDecoder, CHUNKED, findHeadEnd, parseResponseHead, ProtocolError, UNTIL_CLOSE } from '../codec/http1/parser.js';

/** How an upstream exchange failed; maps to Envoy's reset reasons and response flags. */
export type UpstreamFailure =
  | 'connect_failure'
  | 'connect_timeout'
  | 'reset_before_headers'
  | 'reset_after_headers'
  | 'protocol_error'
  /** A circuit breaker is open: too many pending requests or requests for the cluster (Envoy UO). */
  | 'overflow'
  /** The client's request body failed (malformed or cut off); the downstream codec answers. */
  | 'downstream_body_error'
  /** A retry could not resend the body: it outgrew the replay buffer (Envoy answers 507). */
  | 'request_body_overflow';

export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(
    readonly kind: UpstreamFailure,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

/** Receives one upstream response. Called at most once each for headers, end and error. */
export interface UpstreamHandler {
  onUpstreamHeaders(status: number, headers: string[]): void;
  /** Return false to stop reading until `resume()`. */
  onUpstreamData(chunk: Buffer): boolean;
  onUpstreamEnd(trailers: string[] | undefined): void;
  onUpstreamError(err: UpstreamError): void;
}

export interface UpstreamRequest {
  method: string;
  path: string;
  /** Flat [name, value, ...] with lower-case names; must include host. */
  headers: string[];
  /** Request body; with a content-length header it is sent as is, otherwise chunked. */
  body: BodySource | null;
}

export interface PoolOptions {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  maxHeaderBytes: number;
  /** Close a connection after this many requests; 0 or absent: no limit. */
  maxRequestsPerConnection?: number;
  /** The cluster's circuit breakers, shared across workers; absent: unlimited. */
  limits?: ClusterLimits;
  /** Connect from this local address (Envoy upstream_bind_config). */
  localAddress?: string;
  /** TLS for each new connection (asked each time: a rotated certificate applies to new connections). */
  tls?: () => ConnectionOptions | Error | undefined;
}

/** A request waiting for a connection (the cluster is at max_connections). */
class PendingRequest implements UpstreamExchange {
  cancelled = false;
  started: UpstreamExchange | undefined;
  constructor(
    readonly req: UpstreamRequest,
    readonly handler: UpstreamHandler,
    private readonly pool: H1Pool,
  ) {}
  pause(): void {
    this.started?.pause();
  }
  resume(): void {
    this.started?.resume();
  }
  abort(): void {
    if (this.started) return this.started.abort();
    this.cancelled = true;
    this.pool.dequeue(this);
  }
}

/**
 * Keep-alive HTTP/1.1 connections to one endpoint. One request per connection at a time; idle
 * connections are reused most-recently-used first and closed after the idle timeout.
 */
export class H1Pool {
  private readonly idle: H1Connection[] = [];
  private readonly active = new Set<H1Connection>();
  private sweeper: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(
    readonly address: string,
    readonly port: number,
    readonly options: PoolOptions,
    /** Connection counters (Envoy's upstream_cx_*), if the owner keeps them. */
    readonly stats?: { cluster: ClusterStats; host: HostStats },
  ) {}

  get activeCount(): number {
    return this.active.size;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  private readonly pending: PendingRequest[] = [];

  /**
   * Sends a request on an idle connection or a new one; with circuit breakers, it may wait for a
   * connection (max_connections) or overflow (max_pending_requests, max_requests). Returns the
   * exchange's control handle.
   */
  request(req: UpstreamRequest, handler: UpstreamHandler): UpstreamExchange {
    const limits = this.options.limits;
    // the request's slot is claimed here and released when its exchange ends (or it overflows)
    if (limits && !limits.tryClaim(Resource.Requests, limits.thresholds.maxRequests)) return this.overflow(handler, 'max requests');
    const conn = this.takeIdle();
    if (conn) return this.dispatch(conn, req, handler, true);
    // Envoy lets a pool with no connection at all open one even at the limit, so no worker starves
    if (!limits || limits.canCreateConnection() || this.active.size + this.idle.length === 0) {
      return this.dispatch(new H1Connection(this, true), req, handler, true);
    }
    limits.add(Resource.Requests, -1); // queued requests do not hold a request slot
    if (!limits.canQueue()) return this.overflow(handler, 'max pending requests');
    const p = new PendingRequest(req, handler, this);
    this.pending.push(p);
    limits.add(Resource.PendingRequests, 1);
    const s = this.stats?.cluster;
    if (s) {
      s.upstreamRqPendingTotal++;
      s.upstreamRqPendingActive++;
    }
    return p;
  }

  private takeIdle(): H1Connection | undefined {
    const now = Date.now();
    let conn: H1Connection | undefined;
    while ((conn = this.idle.pop())) {
      if (conn.usable && now - conn.idleSince < this.options.idleTimeoutMs) return conn;
      conn.destroy();
    }
    return undefined;
  }

  private dispatch(conn: H1Connection, req: UpstreamRequest, handler: UpstreamHandler, claimed = false): H1Connection {
    if (!claimed) this.options.limits?.add(Resource.Requests, 1);
    this.active.add(conn);
    conn.start(req, handler);
    return conn;
  }

  private overflow(handler: UpstreamHandler, what: string): UpstreamExchange {
    const ex = { pause() {}, resume() {}, abort: () => (cancelled = true) };
    let cancelled = false;
    // reported asynchronously, like a reset, so the caller has its handle first
    queueMicrotask(() => cancelled || handler.onUpstreamError(new UpstreamError('overflow', `circuit breaker open: ${what}`)));
    return ex;
  }

  /** Removes a pending request that gave up (its stream ended). */
  dequeue(p: PendingRequest): void {
    const i = this.pending.indexOf(p);
    if (i < 0) return;
    this.pending.splice(i, 1);
    this.options.limits?.add(Resource.PendingRequests, -1);
    if (this.stats) this.stats.cluster.upstreamRqPendingActive--;
  }

  /** A connection may have become available: serve the oldest waiting request. */
  private servePending(conn?: H1Connection): boolean {
    const limits = this.options.limits;
    while (this.pending.length) {
      if (!conn && limits && !limits.canCreateConnection() && this.active.size + this.idle.length > 0) return false;
      const p = this.pending.shift()!;
      limits?.add(Resource.PendingRequests, -1);
      if (this.stats) this.stats.cluster.upstreamRqPendingActive--;
      if (p.cancelled) continue;
      p.started = this.dispatch(conn ?? new H1Connection(this), p.req, p.handler);
      return true;
    }
    return false;
  }

  /** Called by a connection when its exchange ends. */
  release(conn: H1Connection, reusable: boolean): void {
    if (this.active.delete(conn)) this.options.limits?.add(Resource.Requests, -1);
    if (!reusable || this.closing) {
      conn.destroy();
      if (this.closing && this.active.size === 0) this.onDrained?.();
      else this.servePending();
      return;
    }
    if (this.servePending(conn)) return;
    conn.idleSince = Date.now();
    this.idle.push(conn);
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(250, Math.min(this.options.idleTimeoutMs, 5_000))).unref();
  }

  forget(conn: H1Connection): void {
    if (this.active.delete(conn)) this.options.limits?.add(Resource.Requests, -1);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    if (this.closing && this.active.size === 0) this.onDrained?.();
    else if (this.pending.length) queueMicrotask(() => this.servePending());
  }

  private sweep(): void {
    const limit = Date.now() - this.options.idleTimeoutMs;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      if (this.idle[i].idleSince <= limit) this.idle.splice(i, 1)[0].destroy();
    }
    if (this.idle.length === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private onDrained?: () => void;

  /** Closes idle connections now and the others when their exchanges end. */
  close(): Promise<void> {
    this.closing = true;
    for (const c of this.idle.splice(0)) c.destroy();
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.active.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.onDrained = resolve));
  }
}

/** Control over one in-flight exchange, for the downstream side. */
export interface UpstreamExchange {
  pause(): void;
  resume(): void;
  /** Abandons the exchange: the connection is closed and the handler gets no more calls. */
  abort(): void;
}

const enum State {
  Connecting,
  Idle,
  AwaitingHead,
  Body,
  Closed,
}

/** One upstream TCP connection and the exchange it carries. */
class H1Connection implements UpstreamExchange, BodySink {
  idleSince = 0;
  private readonly socket: Socket;
  private state = State.Connecting;
  private handler: UpstreamHandler | undefined;
  private method = 'GET';
  private head: Buffer | undefined;
  private bodyMode = 0;
  private remaining = 0;
  private decoder: ChunkedDecoder | undefined;
  private keepAlive = false;
  private requestBody: BodySource | null = null;
  private requestBodyChunked = false;
  private requestBodyDone = true;
  private pendingHead: string | undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  private socketError: (Error & { code?: string }) | undefined;

  /** Set while a request waits for this new connection to connect (Envoy counts it pending). */
  private pendingRequest = false;

  constructor(
    private readonly pool: H1Pool,
    countsPending = false,
  ) {
    if (countsPending && pool.stats) {
      this.pendingRequest = true;
      pool.stats.cluster.upstreamRqPendingTotal++;
      pool.stats.cluster.upstreamRqPendingActive++;
    }
    const up = connectUpstream(pool.address, pool.port, { localAddress: pool.options.localAddress, tls: pool.options.tls?.() });
    this.socket = up.socket;
    pool.options.limits?.add(Resource.Connections, 1);
    // Envoy counts a connection when it is created, so connect failures are part of cx_total
    const s = pool.stats;
    if (s) {
      s.cluster.upstreamCxTotal++;
      s.cluster.upstreamCxActive++;
      s.host.cxTotal++;
      s.host.cxActive++;
    }
    this.connectTimer = setTimeout(() => this.onConnectTimeout(), pool.options.connectTimeoutMs);
    this.socket.once(up.readyEvent, () => this.onConnect());
    this.socket.on('data', (buf: Buffer) => this.onData(buf));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('error', (err) => (this.socketError = err));
    this.socket.on('close', () => this.onClose());
    this.socket.on('drain', () => this.requestBody?.resume());
  }

  get usable(): boolean {
    return this.state === State.Idle && !this.socket.destroyed;
  }

  /** Requests this connection has carried (maxRequestsPerConnection). */
  private requests = 0;

  start(req: UpstreamRequest, handler: UpstreamHandler): void {
    this.requests++;
    this.handler = handler;
    this.method = req.method;
    let head = `${req.method} ${req.path} HTTP/1.1\r\n`;
    const h = req.headers;
    let hasLength = false;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i] === 'content-length') hasLength = true;
      head += `${h[i]}: ${h[i + 1]}\r\n`;
    }
    this.requestBody = req.body;
    this.requestBodyChunked = req.body !== null && !hasLength;
    this.requestBodyDone = req.body === null;
    if (this.requestBodyChunked) head += 'transfer-encoding: chunked\r\n';
    head += '\r\n';
    if (this.state === State.Connecting) {
      this.pendingHead = head;
    } else {
      this.state = State.AwaitingHead;
      this.sendHead(head);
    }
  }

  private sendHead(head: string): void {
    this.socket.write(head, 'latin1');
    this.requestBody?.start(this);
  }

  // ------------------------------------------------------------------ request body (BodySink)

  onBodyData(chunk: Buffer): boolean {
    if (this.state === State.Closed || chunk.length === 0) return true; // an empty chunk would read as the last one
    let ok: boolean;
    if (this.requestBodyChunked) {
      this.socket.cork();
      this.socket.write(`${chunk.length.toString(16)}\r\n`);
      this.socket.write(chunk);
      ok = this.socket.write('\r\n');
      this.socket.uncork();
    } else {
      ok = this.socket.write(chunk);
    }
    return ok;
  }

  onBodyEnd(): void {
    if (this.requestBodyChunked && this.state !== State.Closed) this.socket.write('0\r\n\r\n');
    this.requestBodyDone = true;
    this.requestBody = null;
  }

  onBodyError(err: Error): void {
    // the client's body broke off: the upstream request cannot be completed
    this.requestBody = null;
    this.fail(new UpstreamError(err.name === 'ReplayOverflowError' ? 'request_body_overflow' : 'downstream_body_error', err.message));
  }

  private connected = false;

  private onConnect(): void {
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.connected = true;
    this.endPending(false);
    if (this.state !== State.Connecting) return;
    this.state = State.AwaitingHead;
    const head = this.pendingHead!;
    this.pendingHead = undefined;
    this.sendHead(head);
  }

  /** The waiting request got its connection, or (failed) the connection never came: upstream_rq_pending_failure_eject. */
  private endPending(failed: boolean): void {
    if (!this.pendingRequest) return;
    this.pendingRequest = false;
    const s = this.pool.stats!.cluster;
    s.upstreamRqPendingActive--;
    if (failed) s.upstreamRqPendingFailureEject++;
  }

  private onConnectTimeout(): void {
    this.connectTimer = undefined;
    if (this.state !== State.Connecting) return;
    this.fail(new UpstreamError('connect_timeout', 'connect timeout'));
  }

  private onData(buf: Buffer): void {
    let offset = 0;
    if (this.state === State.AwaitingHead) {
      const data = this.head ? Buffer.concat([this.head, buf]) : buf;
      this.head = undefined;
      let end: number;
      try {
        end = findHeadEnd(data, 0, this.pool.options.maxHeaderBytes);
        if (end < 0) {
          this.head = data;
          return;
        }
        let parsed = parseResponseHead(data.toString('latin1', 0, end - 4), this.method);
        // 1xx interim responses (100 Continue, 103 Early Hints) are not forwarded; the final one follows
        while (parsed.status < 200) {
          const next = findHeadEnd(data, end, this.pool.options.maxHeaderBytes);
          if (next < 0) {
            this.head = data.subarray(end);
            return;
          }
          parsed = parseResponseHead(data.toString('latin1', end, next - 4), this.method);
          end = next;
        }
        this.keepAlive = parsed.keepAlive;
        this.bodyMode = parsed.bodyLength;
        this.remaining = parsed.bodyLength;
        if (parsed.bodyLength === CHUNKED) this.decoder = new ChunkedDecoder((c) => this.deliver(c));
        this.state = State.Body;
        this.handler?.onUpstreamHeaders(parsed.status, parsed.headers);
      } catch (err) {
        this.fail(err instanceof ProtocolError ? new UpstreamError('protocol_error', err.message) : (err as UpstreamError));
        return;
      }
      offset = end;
      buf = data;
      if (this.bodyMode === 0) {
        this.complete(offset < buf.length);
        return;
      }
    }
    if (this.state !== State.Body) {
      // bytes while idle or after the exchange: the server is not speaking HTTP/1.1 properly
      this.destroy();
      return;
    }
    if (offset >= buf.length) return;
    if (this.bodyMode === CHUNKED) {
      let end: number;
      try {
        end = this.decoder!.push(buf, offset);
      } catch (err) {
        // a malformed chunk is a framing error (Envoy: protocol error, UPE), whether or not the response started
        this.fail(new UpstreamError('protocol_error', (err as Error).message));
        return;
      }
      if (end >= 0) this.complete(end < buf.length);
    } else if (this.bodyMode === UNTIL_CLOSE) {
      this.deliver(offset === 0 ? buf : buf.subarray(offset));
    } else {
      const avail = buf.length - offset;
      const take = avail < this.remaining ? avail : this.remaining;
      this.remaining -= take;
      this.deliver(take === buf.length ? buf : buf.subarray(offset, offset + take));
      if (this.remaining === 0) this.complete(take < avail);
    }
  }

  private deliver(chunk: Buffer): void {
    if (this.handler && !this.handler.onUpstreamData(chunk)) this.socket.pause();
  }

  /** The response is complete; `extraBytes`: the server sent more than the framing allows. */
  private complete(extraBytes: boolean): void {
    const handler = this.handler;
    const trailers = this.decoder?.trailers.length ? this.decoder.trailers : undefined;
    this.handler = undefined;
    this.decoder = undefined;
    // reusable only if the server keeps it alive and our request was fully sent
    const max = this.pool.options.maxRequestsPerConnection;
    const reusable = this.keepAlive && !extraBytes && this.requestBodyDone && !(max && this.requests >= max);
    this.detachBody();
    this.state = reusable ? State.Idle : State.Closed;
    if (this.socket.isPaused()) this.socket.resume();
    this.pool.release(this, reusable);
    handler?.onUpstreamEnd(trailers);
  }

  private onEnd(): void {
    if (this.state === State.Body && this.bodyMode === UNTIL_CLOSE) {
      this.keepAlive = false;
      this.complete(false);
    }
  }

  private onClose(): void {
    clearTimeout(this.connectTimer);
    const was = this.state;
    this.state = State.Closed;
    this.pool.options.limits?.add(Resource.Connections, -1);
    this.pool.forget(this);
    this.endPending(true);
    const s = this.pool.stats;
    if (s) {
      s.cluster.upstreamCxActive--;
      s.cluster.upstreamCxDestroy++;
      s.host.cxActive--;
      if (!this.connected) {
        s.cluster.upstreamCxConnectFail++;
        s.host.cxConnectFail++;
      }
    }
    this.detachBody();
    if (!this.handler) return;
    const err = this.socketError;
    if (was === State.Connecting) {
      this.fail(new UpstreamError('connect_failure', err?.message ?? 'connection closed while connecting', err?.code));
    } else if (was === State.AwaitingHead) {
      this.fail(new UpstreamError('reset_before_headers', err?.message ?? 'connection closed before response headers', err?.code));
    } else if (was === State.Body) {
      this.fail(new UpstreamError('reset_after_headers', err?.message ?? 'connection closed before the response ended', err?.code));
    }
  }

  private fail(err: UpstreamError): void {
    const handler = this.handler;
    this.handler = undefined;
    this.destroy();
    handler?.onUpstreamError(err);
  }

  private detachBody(): void {
    const body = this.requestBody;
    if (!body) return;
    this.requestBody = null;
    body.detach(); // the upstream no longer takes it: the downstream codec discards the rest
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  abort(): void {
    this.handler = undefined;
    this.destroy();
  }

  destroy(): void {
    if (this.state !== State.Closed) this.state = State.Closed;
    this.pool.forget(this);
    this.socket.destroy();
  }
}
