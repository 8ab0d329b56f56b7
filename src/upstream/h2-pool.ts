import * as http2 from 'node:http2';
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders, OutgoingHttpHeaders, SecureClientSessionOptions, Settings } from 'node:http2';
import type { Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { connectUpstream } from './connect.js';
import type { BodySink, BodySource } from '../codec/body.js';
import type { ClusterStats, HostStats } from '../telemetry/stats.js';
import { Resource } from './resource-limits.js';
import { UpstreamError, type PoolOptions, type UpstreamExchange, type UpstreamFailure, type UpstreamHandler, type UpstreamRequest } from './h1-pool.js';
import { hostPort } from '../common/address.js';

export interface H2PoolOptions extends PoolOptions {
  /**
   * Most streams this pool opens on one session; the peer's SETTINGS_MAX_CONCURRENT_STREAMS applies
   * when lower. Absent: 2^31-1 (Envoy's default for upstream HTTP/2).
   */
  maxConcurrentStreams?: number;
}

/** Envoy's default upstream max_concurrent_streams (and what a session assumes before the peer's SETTINGS). */
const DEFAULT_MAX_STREAMS = 2 ** 31 - 1;
const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** RFC 9113 §8.2.2: connection-specific fields are never sent over HTTP/2 (`te` is handled apart); host becomes :authority. */
const DROP_REQUEST_HEADERS = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** Names of HTTP/2 error codes (RST_STREAM / GOAWAY), for error messages and UpstreamError.code. */
const H2_ERROR_NAMES = [
  'NO_ERROR',
  'PROTOCOL_ERROR',
  'INTERNAL_ERROR',
  'FLOW_CONTROL_ERROR',
  'SETTINGS_TIMEOUT',
  'STREAM_CLOSED',
  'FRAME_SIZE_ERROR',
  'REFUSED_STREAM',
  'CANCEL',
  'COMPRESSION_ERROR',
  'CONNECT_ERROR',
  'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY',
  'HTTP_1_1_REQUIRED',
];

/** Is `code` an HTTP/2 error code name, i.e. did the upstream reset the stream (RST_STREAM)? */
export function isHttp2ErrorCode(code: string | undefined): boolean {
  return code !== undefined && (H2_ERROR_NAMES.includes(code) || /^0x[0-9a-f]+$/.test(code));
}

const END_STREAM_OPTIONS = { endStream: true } as const;
/** Request trailers are only known when the body ends, so a request with a body always waits for them. */
const BODY_OPTIONS = { endStream: false, waitForTrailers: true } as const;
const NO_TRAILERS: OutgoingHttpHeaders = {};

/**
 * TLS options for an h2 session: ALPN offers h2, keeping the caller's non-HTTP entries (Istio's
 * `istio`, `istio-peer-exchange`, as Istio's ALPNInMeshH2 = [istio, h2]) and dropping those that
 * name HTTP/1 (`http/1.1`, `istio-http/1.1`).
 */
export function h2TlsOptions(tls: ConnectionOptions): ConnectionOptions {
  const given = Array.isArray(tls.ALPNProtocols) ? (tls.ALPNProtocols as unknown[]).filter((p): p is string => typeof p === 'string') : [];
  const alpn = given.filter((p) => !p.includes('http/1'));
  if (!alpn.includes('h2')) alpn.push('h2');
  return { ...tls, ALPNProtocols: alpn };
}

/**
 * HTTP/2 connections (sessions) to one endpoint, each multiplexing up to the peer's
 * SETTINGS_MAX_CONCURRENT_STREAMS (or `maxConcurrentStreams` when lower) exchanges. Same contract
 * as H1Pool: `request()` returns the exchange's control handle; the handler gets headers, data,
 * end or error. When every session is full, another is opened if the circuit breakers allow, else
 * the request waits (max_pending_requests) or overflows.
 */
export class H2Pool {
  /** Open sessions (connecting, ready, draining), oldest first: requests fill the oldest with room. */
  private readonly sessions: H2Session[] = [];
  /** Requests waiting because the cluster is at max_connections (Resource.PendingRequests). */
  private readonly pending: H2Exchange[] = [];
  private sweeper: NodeJS.Timeout | undefined;
  closing = false;
  private onDrained?: () => void;
  /** The peer's last SETTINGS_MAX_CONCURRENT_STREAMS: how many requests a new session can be assumed to take. */
  private peerMaxStreams = DEFAULT_MAX_STREAMS;
  /** `http://host:port` for http2.connect (only used for its defaults: we send every pseudo-header). */
  readonly authorityUrl: string;
  /** :authority when the request has no host header. */
  readonly defaultAuthority: string;
  /** Our SETTINGS: no server push; the header list size we accept (advisory: node does not enforce it, onResponse does). */
  readonly settings: Settings;

  constructor(
    readonly address: string,
    readonly port: number,
    readonly options: H2PoolOptions,
    /** Connection counters (Envoy's upstream_cx_*), if the owner keeps them. */
    readonly stats?: { cluster: ClusterStats; host: HostStats },
  ) {
    this.defaultAuthority = hostPort(address, port);
    this.authorityUrl = `${options.tls ? 'https' : 'http'}://${this.defaultAuthority}`;
    this.settings = { enablePush: false, maxHeaderListSize: Math.min(Math.max(options.maxHeaderBytes, 0), 2 ** 32 - 1) };
  }

  /** Sessions carrying at least one exchange (or connecting for one). */
  get activeCount(): number {
    let n = 0;
    for (const s of this.sessions) if (s.active > 0 || s.attached.length > 0 || s.state === SessionState.Connecting) n++;
    return n;
  }

  /** Ready sessions with no open stream. */
  get idleCount(): number {
    let n = 0;
    for (const s of this.sessions) if (s.state === SessionState.Ready && s.active === 0 && s.attached.length === 0) n++;
    return n;
  }

  /** Open sessions, whatever their state (for tests and /clusters-like views). */
  get sessionCount(): number {
    return this.sessions.length;
  }

  /** Exchanges with an open stream, over all sessions. */
  get streamCount(): number {
    let n = 0;
    for (const s of this.sessions) n += s.active;
    return n;
  }

  /**
   * Sends a request on a session with a free stream, a connecting one expected to have room, or a
   * new one; with circuit breakers it may wait (max_connections) or overflow (max_pending_requests,
   * max_requests), exactly as H1Pool accounts them. Returns the exchange's control handle.
   */
  request(req: UpstreamRequest, handler: UpstreamHandler): UpstreamExchange {
    const limits = this.options.limits;
    // the request's slot is claimed here and released when its exchange ends (or it overflows)
    if (limits && !limits.tryClaim(Resource.Requests, limits.thresholds.maxRequests)) return overflow(handler, 'max requests');
    const ex = new H2Exchange(this, req, handler);
    const s = this.readySession();
    if (s) {
      s.start(ex);
      return ex;
    }
    const c = this.connectingWithRoom();
    if (c) {
      c.attach(ex);
      return ex;
    }
    // Envoy lets a pool with no connection at all open one even at the limit, so no worker starves
    if (!limits || limits.canCreateConnection() || this.sessions.length === 0) {
      this.openSession().attach(ex);
      return ex;
    }
    limits.add(Resource.Requests, -1); // queued requests do not hold a request slot
    if (!limits.canQueue()) return overflow(handler, 'max pending requests');
    this.enqueue(ex, false);
    return ex;
  }

  /** A ready session with a free stream; an idle one past the idle timeout is closed on the way. */
  private readySession(): H2Session | undefined {
    const sessions = this.sessions;
    for (let i = 0; i < sessions.length; i++) {
      const s = sessions[i];
      if (s.state !== SessionState.Ready || s.active >= s.capacity) continue;
      if (s.active === 0 && Date.now() - s.idleSince >= this.options.idleTimeoutMs) {
        s.close();
        continue;
      }
      return s;
    }
    return undefined;
  }

  /** A session still connecting that is expected to take one more request. */
  private connectingWithRoom(): H2Session | undefined {
    const assumed = this.assumedCapacity();
    for (const s of this.sessions) if (s.state === SessionState.Connecting && s.attached.length < assumed) return s;
    return undefined;
  }

  private assumedCapacity(): number {
    const max = this.options.maxRequestsPerConnection;
    return Math.min(this.options.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS, this.peerMaxStreams, max ? max : DEFAULT_MAX_STREAMS);
  }

  private openSession(): H2Session {
    const s = new H2Session(this);
    this.sessions.push(s);
    return s;
  }

  /** Queues a request until a session has room (Resource.PendingRequests; no request slot held). */
  private enqueue(ex: H2Exchange, front: boolean): void {
    ex.state = ExState.Queued;
    if (front) this.pending.unshift(ex);
    else this.pending.push(ex);
    this.options.limits?.add(Resource.PendingRequests, 1);
    ex.markPending();
  }

  /** Removes a queued request that gave up. */
  dequeue(ex: H2Exchange): void {
    const i = this.pending.indexOf(ex);
    if (i < 0) return;
    this.pending.splice(i, 1);
    this.options.limits?.add(Resource.PendingRequests, -1);
    this.checkDrained();
  }

  /**
   * A request (holding a request slot) that a session could not take after all — it connected with
   * fewer streams than assumed, or went away first: another session, a new one, or the queue.
   */
  reroute(ex: H2Exchange): void {
    const s = this.readySession();
    if (s) return s.start(ex);
    const c = this.connectingWithRoom();
    if (c) return c.attach(ex);
    const limits = this.options.limits;
    if (!limits || limits.canCreateConnection() || this.sessions.length === 0) return this.openSession().attach(ex);
    // already admitted: it waits at the head of the queue, whatever max_pending_requests says
    limits.add(Resource.Requests, -1);
    this.enqueue(ex, true);
  }

  /** Streams may have become available (a stream ended, a session connected or closed): serve the oldest waiting requests. */
  servePending(): void {
    const limits = this.options.limits;
    while (this.pending.length) {
      const s = this.readySession();
      const c = s ? undefined : this.connectingWithRoom();
      if (!s && !c && limits && !limits.canCreateConnection() && this.sessions.length > 0) return;
      const ex = this.pending.shift()!;
      if (limits) {
        limits.add(Resource.PendingRequests, -1);
        limits.add(Resource.Requests, 1);
      }
      if (s) s.start(ex);
      else if (c) c.attach(ex);
      else this.openSession().attach(ex);
    }
  }

  /** A session became idle (no stream, nothing attached). */
  sessionIdle(s: H2Session): void {
    if (this.closing) return s.close();
    s.idleSince = Date.now();
    this.sweeper ??= setInterval(() => this.sweep(), Math.max(250, Math.min(this.options.idleTimeoutMs, 5_000))).unref();
  }

  /** Called once a session is closed. */
  forget(s: H2Session): void {
    const i = this.sessions.indexOf(s);
    if (i >= 0) this.sessions.splice(i, 1);
    if (this.pending.length) queueMicrotask(() => this.servePending());
    this.checkDrained();
  }

  /** The peer's SETTINGS_MAX_CONCURRENT_STREAMS, remembered for sessions opened later. */
  notePeerMaxStreams(n: number): void {
    this.peerMaxStreams = n;
  }

  private checkDrained(): void {
    if (this.closing && this.sessions.length === 0 && this.pending.length === 0) this.onDrained?.();
  }

  private sweep(): void {
    const limit = Date.now() - this.options.idleTimeoutMs;
    let idle = 0;
    for (const s of [...this.sessions]) {
      if (s.state !== SessionState.Ready || s.active > 0 || s.attached.length > 0) continue;
      if (s.idleSince <= limit) s.close();
      else idle++;
    }
    if (idle === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  /** Closes idle sessions now and the others when their streams end (GOAWAY, then close). */
  close(): Promise<void> {
    this.closing = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const s of [...this.sessions]) if (s.active === 0 && s.attached.length === 0) s.close();
    if (this.sessions.length === 0 && this.pending.length === 0) return Promise.resolve();
    return new Promise((resolve) => (this.onDrained = resolve));
  }
}

/** Fails a request that a circuit breaker refused, asynchronously (like a reset), so the caller has its handle first. */
function overflow(handler: UpstreamHandler, what: string): UpstreamExchange {
  let cancelled = false;
  const ex = { pause() {}, resume() {}, abort: () => (cancelled = true) };
  queueMicrotask(() => cancelled || handler.onUpstreamError(new UpstreamError('overflow', `circuit breaker open: ${what}`)));
  return ex;
}

const enum SessionState {
  /** TCP/TLS connect, then the peer's first SETTINGS (its stream limit) — all within the connect timeout. */
  Connecting,
  Ready,
  /** GOAWAY received or sent, max requests reached, or failed: no new streams. */
  Draining,
  Closed,
}

/** One HTTP/2 connection (counted as one upstream connection) and its streams. */
class H2Session {
  state = SessionState.Connecting;
  /** Exchanges with an open stream on this session. */
  active = 0;
  /** Streams started (maxRequestsPerConnection). */
  private started = 0;
  /** Streams this session may have open at once. */
  capacity = 0;
  /** Requests waiting for this session to connect (they hold a request slot). */
  attached: H2Exchange[] = [];
  idleSince = 0;
  session: ClientHttp2Session | undefined;
  private readonly socket: Socket;
  private connectTimer: NodeJS.Timeout | undefined;
  error: (Error & { code?: string }) | undefined;
  /** Why the session failed before it was ready (default connect_failure). */
  private failure: UpstreamFailure | undefined;
  private ready = false;
  private readonly tls: boolean;
  /** :scheme of its requests: the transport this session really has (tls() may give no TLS for some endpoints). */
  readonly scheme: 'http' | 'https';

  constructor(private readonly pool: H2Pool) {
    const opts = pool.options;
    const tls = opts.tls?.();
    this.tls = tls !== undefined;
    this.scheme = this.tls ? 'https' : 'http';
    const up = connectUpstream(pool.address, pool.port, { localAddress: opts.localAddress, tls: tls instanceof Error || !tls ? tls : h2TlsOptions(tls) });
    this.socket = up.socket;
    opts.limits?.add(Resource.Connections, 1);
    // Envoy counts a connection when it is created, so connect failures are part of cx_total
    const s = pool.stats;
    if (s) {
      s.cluster.upstreamCxTotal++;
      s.cluster.upstreamCxActive++;
      s.host.cxTotal++;
      s.host.cxActive++;
    }
    this.connectTimer = setTimeout(() => this.onConnectTimeout(), opts.connectTimeoutMs);
    this.socket.once(up.readyEvent, this.onSocketReady);
    this.socket.on('error', this.onSocketError);
    this.socket.on('close', this.onSocketClose);
  }

  private readonly onSocketError = (err: Error): void => {
    this.error ??= err;
  };

  /** Before the session owns the socket, its close is ours to handle. */
  private readonly onSocketClose = (): void => {
    if (!this.session) this.onClosed();
  };

  private readonly onSocketReady = (): void => {
    if (this.state !== SessionState.Connecting) return;
    if (this.tls && (this.socket as TLSSocket).alpnProtocol !== 'h2') {
      const got = (this.socket as TLSSocket).alpnProtocol;
      this.fail('protocol_error', new Error(`upstream did not negotiate h2 over TLS (ALPN: ${got || 'none'})`));
      return;
    }
    this.socket.removeListener('close', this.onSocketClose);
    const socket = this.socket;
    const options: SecureClientSessionOptions = { createConnection: () => socket, settings: this.pool.settings };
    const session = http2.connect(this.pool.authorityUrl, options);
    this.session = session;
    session.on('remoteSettings', (settings: Settings) => this.onRemoteSettings(settings));
    session.on('goaway', () => this.onGoaway());
    session.on('error', (err: Error) => (this.error ??= err));
    session.on('close', () => this.onClosed());
  };

  private onConnectTimeout(): void {
    this.connectTimer = undefined;
    if (this.state === SessionState.Connecting) this.fail('connect_timeout', new Error('connect timeout'));
  }

  /** The peer's SETTINGS: the first one makes the session ready; later ones may change the stream limit. */
  private onRemoteSettings(settings: Settings): void {
    const peerMax = settings.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS;
    this.pool.notePeerMaxStreams(peerMax);
    const before = this.capacity;
    this.capacity = Math.min(peerMax, this.pool.options.maxConcurrentStreams ?? DEFAULT_MAX_STREAMS);
    if (this.state === SessionState.Connecting) return this.onReady();
    if (this.capacity > before && this.state === SessionState.Ready) this.pool.servePending();
  }

  private onReady(): void {
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.ready = true;
    this.state = SessionState.Ready;
    const waiting = this.attached;
    this.attached = [];
    for (const ex of waiting) {
      if (this.state === SessionState.Ready && this.active < this.capacity) this.start(ex);
      else this.pool.reroute(ex); // fewer streams than assumed: elsewhere, or back to the queue
    }
    if (this.active === 0 && this.state === SessionState.Ready) this.pool.sessionIdle(this);
    this.pool.servePending();
  }

  private onGoaway(): void {
    // streams above the peer's last stream id are refused by nghttp2 (REFUSED_STREAM) and fail as
    // reset_before_headers; the others finish; node closes the session when they are done
    if (this.state === SessionState.Connecting || this.state === SessionState.Ready) this.state = SessionState.Draining;
    this.rerouteAttached();
    if (this.active === 0) this.close();
  }

  attach(ex: H2Exchange): void {
    ex.state = ExState.Attached;
    ex.session = this;
    ex.markPending();
    this.attached.push(ex);
  }

  detachWaiting(ex: H2Exchange): void {
    const i = this.attached.indexOf(ex);
    if (i >= 0) this.attached.splice(i, 1);
  }

  start(ex: H2Exchange): void {
    this.active++;
    this.started++;
    const max = this.pool.options.maxRequestsPerConnection;
    if (max && this.started >= max) this.state = SessionState.Draining; // no new streams; closes when idle
    ex.open(this);
  }

  /** An exchange on this session ended (its stream is closed or being reset). */
  streamDone(): void {
    this.active--;
    if (this.active === 0) {
      if (this.state === SessionState.Draining) this.close();
      else if (this.state === SessionState.Ready) this.pool.sessionIdle(this);
    }
    this.pool.servePending();
  }

  /** session.request threw because the session had closed under us: no new streams here. */
  lost(): void {
    if (this.state === SessionState.Ready || this.state === SessionState.Connecting) this.state = SessionState.Draining;
  }

  private rerouteAttached(): void {
    const waiting = this.attached;
    this.attached = [];
    for (const ex of waiting) this.pool.reroute(ex);
  }

  /** Gracefully closes (GOAWAY; open streams finish) — or ends the connect if not yet up. */
  close(): void {
    if (this.state === SessionState.Closed) return;
    if (this.state !== SessionState.Draining) this.state = SessionState.Draining;
    this.rerouteAttached();
    if (this.session) {
      if (!this.session.closed) this.session.close();
    } else {
      this.socket.destroy();
    }
  }

  /** The session could not be set up: the requests waiting for it fail. */
  private fail(kind: UpstreamFailure, err: Error): void {
    if (this.state === SessionState.Closed) return;
    this.failure = kind;
    this.error ??= err;
    this.state = SessionState.Draining;
    this.failAttached();
    if (this.session) this.session.destroy();
    else this.socket.destroy();
  }

  private failAttached(): void {
    if (this.attached.length === 0) return;
    const err = this.error;
    const kind = this.failure ?? 'connect_failure';
    const message = err?.message ?? (kind === 'connect_failure' ? 'connection closed while connecting' : kind);
    const waiting = this.attached;
    this.attached = [];
    for (const ex of waiting) ex.fail(new UpstreamError(kind, message, err?.code), true);
  }

  private onClosed(): void {
    if (this.state === SessionState.Closed) return;
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.state = SessionState.Closed;
    this.socket.destroy();
    this.failAttached();
    this.pool.options.limits?.add(Resource.Connections, -1);
    const s = this.pool.stats;
    if (s) {
      s.cluster.upstreamCxActive--;
      s.cluster.upstreamCxDestroy++;
      s.host.cxActive--;
      if (!this.ready) {
        s.cluster.upstreamCxConnectFail++;
        s.host.cxConnectFail++;
      }
    }
    this.pool.forget(this);
  }
}

const enum ExState {
  /** In the pool's queue (cluster at max_connections). */
  Queued,
  /** Waiting for its session to connect. */
  Attached,
  Open,
  Done,
}

const kExchange = Symbol('outrigger.h2.exchange');
type TaggedStream = ClientHttp2Stream & { [kExchange]: H2Exchange };

// Stream listeners shared by every stream (no closures per request): `this` is the stream.
function onStreamResponse(this: TaggedStream, headers: IncomingHttpHeaders, _flags: number, raw: string[]): void {
  this[kExchange].onResponse(headers, raw);
}
function onStreamData(this: TaggedStream, chunk: Buffer): void {
  this[kExchange].onData(chunk);
}
function onStreamTrailers(this: TaggedStream, _headers: IncomingHttpHeaders, _flags: number, raw: string[]): void {
  this[kExchange].onTrailers(raw);
}
function onStreamEnd(this: TaggedStream): void {
  this[kExchange].onEnd();
}
function onStreamError(this: TaggedStream, err: Error): void {
  this[kExchange].streamError = err;
}
function onStreamClose(this: TaggedStream): void {
  this[kExchange].onClose();
}
function onStreamDrain(this: TaggedStream): void {
  this[kExchange].onDrain();
}
function onStreamWantTrailers(this: TaggedStream): void {
  this[kExchange].onWantTrailers();
}

/** One request/response: queued, waiting for a session, or a stream. It is the exchange handle and the body's sink. */
class H2Exchange implements UpstreamExchange, BodySink {
  state = ExState.Queued;
  private handler: UpstreamHandler | undefined;
  /** The session it waits for or streams on. */
  session: H2Session | undefined;
  private stream: TaggedStream | undefined;
  private body: BodySource | null;
  private bodyDone: boolean;
  private requestTrailers: string[] | undefined;
  private responseTrailers: string[] | undefined;
  private headersReceived = false;
  /** Counted in upstream_rq_pending_active (waiting for a stream). */
  private pending = false;
  streamError: (Error & { code?: string }) | undefined;

  constructor(
    private readonly pool: H2Pool,
    private readonly req: UpstreamRequest,
    handler: UpstreamHandler,
  ) {
    this.handler = handler;
    this.body = req.body;
    this.bodyDone = req.body === null;
  }

  /** Waiting for a stream: upstream_rq_pending_total / _active (Envoy counts each waiting request once). */
  markPending(): void {
    if (this.pending) return;
    this.pending = true;
    const s = this.pool.stats?.cluster;
    if (s) {
      s.upstreamRqPendingTotal++;
      s.upstreamRqPendingActive++;
    }
  }

  private endPending(failed: boolean): void {
    if (!this.pending) return;
    this.pending = false;
    const s = this.pool.stats?.cluster;
    if (s) {
      s.upstreamRqPendingActive--;
      if (failed) s.upstreamRqPendingFailureEject++;
    }
  }

  open(session: H2Session): void {
    this.state = ExState.Open;
    this.session = session;
    this.endPending(false);
    const headers = requestHeaders(this.req, session.scheme, this.pool.defaultAuthority);
    const options = this.body === null ? END_STREAM_OPTIONS : BODY_OPTIONS;
    let stream: ClientHttp2Stream;
    try {
      stream = session.session!.request(headers, options);
    } catch (err) {
      const e = err as Error & { code?: string };
      if (e.code === 'ERR_HTTP2_HEADER_SINGLE_VALUE') {
        // a field HTTP/2 (node) allows once came twice: combine the values (RFC 9110 §5.3) and retry
        try {
          stream = session.session!.request(combineDuplicates(headers), options);
        } catch (err2) {
          return this.failLater(new UpstreamError('protocol_error', (err2 as Error).message, (err2 as { code?: string }).code));
        }
      } else if (e.code === 'ERR_HTTP2_GOAWAY_SESSION' || e.code === 'ERR_HTTP2_INVALID_SESSION') {
        // the session went away in this very tick: another one takes the request
        session.lost();
        this.state = ExState.Attached;
        session.streamDone();
        return this.pool.reroute(this);
      } else {
        return this.failLater(new UpstreamError('protocol_error', e.message, e.code));
      }
    }
    const s = stream as TaggedStream;
    s[kExchange] = this;
    this.stream = s;
    s.on('response', onStreamResponse);
    s.on('data', onStreamData);
    s.on('trailers', onStreamTrailers);
    s.on('end', onStreamEnd);
    s.on('error', onStreamError);
    s.on('close', onStreamClose);
    const body = this.body;
    if (body) {
      s.on('drain', onStreamDrain);
      s.on('wantTrailers', onStreamWantTrailers);
      body.start(this);
    }
  }

  // ------------------------------------------------------------------ request body (BodySink)

  onBodyData(chunk: Buffer): boolean {
    if (this.state !== ExState.Open || !this.stream || chunk.length === 0) return true;
    return this.stream.write(chunk);
  }

  onBodyEnd(trailers: string[] | undefined): void {
    this.bodyDone = true;
    this.body = null;
    if (this.state !== ExState.Open || !this.stream) return;
    this.requestTrailers = trailers && trailers.length ? trailers : undefined;
    this.stream.end();
  }

  onBodyError(err: Error): void {
    // the client's body broke off: the upstream request cannot be completed
    this.body = null;
    this.fail(new UpstreamError(err.name === 'ReplayOverflowError' ? 'request_body_overflow' : 'downstream_body_error', err.message));
  }

  onDrain(): void {
    this.body?.resume();
  }

  onWantTrailers(): void {
    const stream = this.stream;
    if (!stream || stream.destroyed) return;
    try {
      // no trailers: node sends an empty DATA frame with END_STREAM
      stream.sendTrailers(this.requestTrailers ? headerObject(this.requestTrailers) : NO_TRAILERS);
    } catch (err) {
      // trailers node refuses (an invalid name or value)
      const e = err as Error & { code?: string };
      this.fail(new UpstreamError('protocol_error', e.message, e.code));
    }
  }

  // ------------------------------------------------------------------ response

  onResponse(headers: IncomingHttpHeaders, raw: string[]): void {
    if (this.state !== ExState.Open) return;
    this.headersReceived = true;
    // RFC 9113 §6.5.2 header list size (name + value + 32 per field), against maxHeaderBytes like H1Pool's head limit
    let size = 0;
    for (let i = 0; i < raw.length; i++) size += raw[i].length + 16;
    if (size > this.pool.options.maxHeaderBytes) {
      this.headersReceived = false;
      this.fail(new UpstreamError('protocol_error', `response headers exceed ${this.pool.options.maxHeaderBytes} bytes`));
      return;
    }
    const status = Number(headers[':status']);
    this.handler?.onUpstreamHeaders(status, withoutPseudo(raw));
  }

  onData(chunk: Buffer): void {
    if (this.state !== ExState.Open) return;
    if (this.handler && !this.handler.onUpstreamData(chunk)) this.stream!.pause();
  }

  onTrailers(raw: string[]): void {
    if (this.state === ExState.Open) this.responseTrailers = withoutPseudo(raw);
  }

  onEnd(): void {
    if (this.state !== ExState.Open) return;
    const stream = this.stream!;
    // node ends the readable side of a stream it destroys too (reset, session gone): only an end
    // on a live stream with no reset code is END_STREAM from the server
    if (stream.destroyed || stream.rstCode) return this.onClose();
    if (!this.headersReceived) {
      // RST_STREAM(NO_ERROR) before any response: node ends the readable side
      this.fail(new UpstreamError('reset_before_headers', 'stream closed before response headers', 'NO_ERROR'));
      return;
    }
    const handler = this.handler;
    // the response is complete while the request is not (an early response): the rest is not sent
    if (!this.bodyDone) stream.close(NGHTTP2_CANCEL);
    this.finish();
    handler?.onUpstreamEnd(this.responseTrailers);
  }

  /** The stream closed (or was destroyed) before the response ended: a reset, before or after the response headers. */
  onClose(): void {
    if (this.state !== ExState.Open) return;
    const after = this.headersReceived ? 'reset_after_headers' : 'reset_before_headers';
    const code = this.stream!.rstCode;
    if (code !== NGHTTP2_REFUSED_STREAM && this.session!.session?.destroyed) {
      // the connection went away under the stream (Envoy: connection termination), not a RST_STREAM
      // (a stream refused by a GOAWAY stays refused: it is safe to retry)
      const err = this.session!.error;
      this.fail(new UpstreamError(after, err?.message ?? 'connection termination', err?.code));
      return;
    }
    const name = code ? (H2_ERROR_NAMES[code] ?? `0x${code.toString(16)}`) : undefined;
    const err = this.streamError;
    const message =
      code === NGHTTP2_REFUSED_STREAM ? 'stream refused (REFUSED_STREAM, or above the last stream id of a GOAWAY)' : (err?.message ?? `stream reset${name ? ` with ${name}` : ''}`);
    this.fail(new UpstreamError(after, message, name ?? err?.code));
  }

  // ------------------------------------------------------------------ endings

  /** Ends the exchange's accounting: the stream slot, the request slot or queue place, the body. */
  private finish(failedWaiting = false): void {
    const was = this.state;
    this.state = ExState.Done;
    this.handler = undefined;
    if (was === ExState.Queued) {
      this.pool.dequeue(this);
    } else {
      this.pool.options.limits?.add(Resource.Requests, -1);
      if (was === ExState.Attached) this.session?.detachWaiting(this);
    }
    this.endPending(failedWaiting);
    const body = this.body;
    if (body) {
      this.body = null;
      body.detach(); // the upstream no longer takes it: the downstream codec discards the rest
    }
    if (was === ExState.Open) this.session!.streamDone();
  }

  /** Fails the exchange: the stream is reset (CANCEL) and the handler hears once. */
  fail(err: UpstreamError, connectFailed = false): void {
    if (this.state === ExState.Done) return;
    const handler = this.handler;
    const stream = this.stream;
    if (stream && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
    this.finish(connectFailed);
    handler?.onUpstreamError(err);
  }

  /** A failure found while the caller may still be inside request(): reported on the next microtask. */
  private failLater(err: UpstreamError): void {
    queueMicrotask(() => this.fail(err));
  }

  pause(): void {
    if (this.state === ExState.Open) this.stream?.pause();
  }

  resume(): void {
    if (this.state === ExState.Open) this.stream?.resume();
  }

  abort(): void {
    if (this.state === ExState.Done) return;
    this.handler = undefined;
    const stream = this.stream;
    if (stream && !stream.destroyed) stream.close(NGHTTP2_CANCEL);
    this.finish();
  }

  /** For tests: the stream id, once the stream exists. */
  get streamId(): number | undefined {
    return this.stream?.id;
  }
}

/** RFC 9113 §8.3.1 pseudo-headers from the request line and host, then the fields HTTP/2 allows. */
function requestHeaders(req: UpstreamRequest, scheme: string, defaultAuthority: string): string[] {
  const h = req.headers;
  const out: string[] = [':method', req.method, ':path', req.path, ':scheme', scheme, ':authority', ''];
  let authority: string | undefined;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i];
    if (DROP_REQUEST_HEADERS.has(name)) {
      if (name === 'host' && authority === undefined) authority = h[i + 1];
      continue;
    }
    if (name === 'te') {
      // the only te value HTTP/2 allows
      if (h[i + 1].trim().toLowerCase() === 'trailers') out.push('te', 'trailers');
      continue;
    }
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    out.push(name, h[i + 1]);
  }
  out[7] = authority ?? defaultAuthority;
  return out;
}

/** The same list with repeated names combined: `cookie` with "; " (RFC 9113 §8.2.3), others with ", ". */
function combineDuplicates(list: string[]): string[] {
  const index = new Map<string, number>();
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i];
    const at = index.get(name);
    if (at === undefined) {
      index.set(name, out.length);
      out.push(name, list[i + 1]);
    } else {
      out[at + 1] += (name === 'cookie' ? '; ' : ', ') + list[i + 1];
    }
  }
  return out;
}

/** Pseudo-headers come first (RFC 9113 §8.3; nghttp2 rejects others), so they are a prefix. */
function withoutPseudo(raw: string[]): string[] {
  let i = 0;
  while (i < raw.length && raw[i].charCodeAt(0) === 58 /* ':' */) i += 2;
  return i === 0 ? raw : raw.slice(i);
}

function headerObject(list: string[]): OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i];
    if (DROP_REQUEST_HEADERS.has(name) || name === 'te' || name.charCodeAt(0) === 58) continue;
    const prev = out[name];
    if (prev === undefined) out[name] = list[i + 1];
    else if (Array.isArray(prev)) prev.push(list[i + 1]);
    else out[name] = [prev, list[i + 1]];
  }
  return out;
}
