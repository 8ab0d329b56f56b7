import { nodeHttp } from '../../common/node-builtins.js';
import type { Socket } from 'node:net';
import type { BodySink, BodySource } from '../body.js';
import type { Downstream, DownstreamEvents } from '../downstream.js';
import { ChunkedDecoder, CHUNKED, hasBareLineEnding, incompleteHeadTooLarge, parseRequestHead, ProtocolError, RequestError, type RequestHead } from './parser.js';
import type { PeerIdentity } from '../../security/peer.js';
import { readSocket } from '../../common/read-buffers.js';
import { IdleWatch } from '../../common/byte-pipe.js';
import { connectionEndpoints, type ConnectionEndpoints } from '../connection-endpoints.js';

const { STATUS_CODES } = nodeHttp;

const CRLFCRLF = Buffer.from('\r\n\r\n');
/**
 * A slow client must finish sending a request head within this time unless the connection manager
 * sets request_headers_timeout (Envoy's is off by default, leaving a slow head to the stream idle
 * timeout, which istiod turns off; Node's is 60 s).
 */
const HEADERS_TIMEOUT_MS = 60_000;
/** After a response, how long a client still sending its request body gets to end it (Envoy's delayed_close_timeout). */
const DELAYED_CLOSE_MS = 1_000;
/** Request-body bytes held before the stream takes them; more pauses the socket. */
const MAX_EARLY_BODY_BYTES = 64 * 1024;
/**
 * A response's first body chunk up to this size goes out in one buffer with its head: one write
 * instead of a corked pair, which node turns into a writev with a string to encode (and over TLS, a
 * second queued write). Above it, the copy would cost more than the write it saves.
 */
const COALESCE_BODY_BYTES = 16 * 1024;

/** `head` (latin1, one byte per char) and `body` in one buffer. */
function joinHead(head: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(head.length + body.length);
  out.write(head, 0, 'latin1');
  out.set(body, head.length); // TypedArray's own copy: Buffer.copy checks its arguments again
  return out;
}

export interface ServerOptions {
  maxHeaderBytes: number;
  acceptHttp10: boolean;
  idleTimeoutMs: number;
  serverName: string;
  /** Envoy's request_headers_timeout: a request head must be complete this long after its first byte (408). Absent: 60 s. */
  requestHeadersTimeoutMs?: number;
  /** Counts a head that timed out (downstream_rq_header_timeout). */
  onRequestHeadersTimeout?: () => void;
  /**
   * HTTP/2: Envoy's stream flush timeout (the connection manager's stream_idle_timeout): a response
   * ended here but held back by the client's flow control, not moving for this long, is reset. Absent: never.
   */
  streamFlushTimeoutMs?: number;
}

export type RequestListener = (downstream: H1Exchange) => DownstreamEvents | undefined;

/** What the listener learnt about a connection before handing it to the codec. */
export interface ConnectionContext {
  /** Bytes already read (protocol detection): parsed before anything else. */
  preRead?: Buffer;
  /** The client half-closed during detection. */
  ended?: boolean;
  /** Where the client was going, when iptables redirected the connection here. */
  originalDestination?: { address: string; port: number };
  /** The mTLS peer, when TLS was terminated with a client certificate. */
  peer?: PeerIdentity;
  /** TLS was terminated: requests are https. */
  secure?: boolean;
  /**
   * The client opened with the HTTP/2 preface (h2c with prior knowledge): the HTTP/1.1 codec
   * steps aside and hands the connection, with the bytes it read, to this callback.
   */
  onHttp2Preface?: (socket: Socket, preRead: Buffer) => void;
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

const enum State {
  Head,
  /** A request is in progress (its body may still be arriving). */
  Active,
  Closed,
}

/**
 * One client connection speaking HTTP/1.1: parses requests strictly, hands each to the
 * connection manager as a Downstream, frames responses (content-length, chunked, or close),
 * keeps the connection alive between requests, and holds pipelined requests until their turn.
 */
export class H1ServerConnection {
  private state = State.Head;
  private buffered: Buffer | undefined;
  private exchange: H1Exchange | undefined;
  private headersTimer: NodeJS.Timeout | undefined;
  /** Envoy's idle_timeout: no request for this long closes a keep-alive connection. */
  private idle: IdleWatch | undefined;
  /** Draining: finish the request in progress with `connection: close`, accept no more. */
  draining = false;
  readonly originalDestination: { address: string; port: number } | undefined;
  readonly peer: PeerIdentity | undefined;
  /** The client's and this end's addresses, read once for every request on the connection. */
  readonly endpoints: ConnectionEndpoints;
  readonly secure: boolean;

  constructor(
    readonly socket: Socket,
    private readonly options: ServerOptions,
    private readonly onRequest: RequestListener,
    context?: ConnectionContext,
  ) {
    this.originalDestination = context?.originalDestination;
    this.peer = context?.peer;
    this.endpoints = connectionEndpoints(socket);
    this.secure = context?.secure === true;
    this.onHttp2Preface = context?.onHttp2Preface;
    socket.setNoDelay(true);
    if (options.idleTimeoutMs > 0) this.watchIdle();
    this.dataListener = readSocket(socket, this.readListener);
    socket.on('error', () => {}); // 'close' follows; resets from clients are routine
    socket.on('close', this.closeListener);
    socket.on('drain', this.drainListener);
    socket.on('end', this.endListener);
    if (context?.preRead) this.onData(context.preRead);
    if (context?.ended) this.onPeerEnd();
  }

  /**
   * The client half-closed. Listeners allow half-open connections for the TCP proxy's sake, but
   * HTTP/1.1 connections do not stay half-open (Envoy's connection manager neither): the
   * connection closes as if half-open were off, and a request still in progress ends with DC.
   */
  private onPeerEnd(): void {
    if (!this.socket.writableEnded) this.socket.end();
  }

  private readonly readListener = (buf: Buffer): boolean => {
    this.idle?.touch();
    this.onData(buf);
    return true; // pausing is the codec's own (socket.pause)
  };
  /** The socket's 'data' listener (common/read-buffers.ts readSocket), removed when the socket is handed on. */
  private readonly dataListener: (chunk: Buffer) => void;
  private readonly closeListener = () => this.onClose();
  private readonly drainListener = () => this.exchange?.events?.onDownstreamDrain();
  private readonly endListener = () => this.onPeerEnd();
  private readonly onHttp2Preface: ConnectionContext['onHttp2Preface'];
  /** Requests seen on this connection (the HTTP/2 preface is only valid first). */
  private served = 0;

  /** The HTTP/2 preface opens the connection: hand it over (once all 24 bytes are in). */
  private takeHttp2Preface(data: Buffer): boolean {
    if (!this.onHttp2Preface || this.served > 0 || data[0] !== 0x50 /* 'P' */) return false;
    const n = Math.min(data.length, H2_PREFACE.length);
    if (data.compare(H2_PREFACE, 0, n, 0, n) !== 0) return false;
    if (n < H2_PREFACE.length) {
      this.buffered = data; // a prefix of the preface: wait for the rest
      return true;
    }
    this.socket.pause();
    for (const [event, fn] of [['data', this.dataListener], ['close', this.closeListener], ['drain', this.drainListener], ['end', this.endListener]] as const) {
      this.socket.off(event, fn as (...args: unknown[]) => void);
    }
    this.idle?.stop();
    this.state = State.Closed;
    this.buffered = undefined;
    this.onClosed?.(this);
    this.onHttp2Preface(this.socket, data);
    return true;
  }

  private onData(buf: Buffer): void {
    if (this.state === State.Active) {
      const ex = this.exchange!;
      if (ex.readingBody) ex.feedBody(buf, 0);
      else this.hold(buf); // a pipelined request: its turn comes after this response
      return;
    }
    if (this.state !== State.Head) return;
    const scanned = this.buffered?.length ?? 0;
    const data = this.buffered ? Buffer.concat([this.buffered, buf]) : buf;
    if (this.served === 0 && this.takeHttp2Preface(data)) return;
    this.parseHeads(data, scanned);
  }

  /**
   * Parses as many request heads as are complete, one request at a time. `scanned`: how many leading
   * bytes an earlier call already checked for line endings (a slow client costs linear time).
   */
  private parseHeads(data: Buffer, scanned = 0): void {
    this.buffered = undefined;
    const end = data.indexOf(CRLFCRLF);
    if (end < 0) {
      if (incompleteHeadTooLarge(data, 0, this.options.maxHeaderBytes)) return this.reject(431, 'request headers too large');
      // a head with bare LF or CR-only line endings never ends in CRLFCRLF: refuse it now, not at the
      // headers timeout (llhttp and Envoy answer 400 at the first such byte)
      if (hasBareLineEnding(data, Math.max(0, scanned - 1))) return this.reject(400, 'line not ended by CRLF in request head');
      this.buffered = data;
      this.headersTimer ??= setTimeout(this.onHeadersTimeout, this.options.requestHeadersTimeoutMs ?? HEADERS_TIMEOUT_MS);
      return;
    }
    if (this.headersTimer) {
      clearTimeout(this.headersTimer);
      this.headersTimer = undefined;
    }
    if (end > this.options.maxHeaderBytes) return this.reject(431, 'request headers too large');
    let head: RequestHead;
    try {
      head = parseRequestHead(data.toString('latin1', 0, end));
    } catch (err) {
      if (err instanceof RequestError) return this.reject(err.status, err.message);
      throw err;
    }
    if (head.minor === 0 && !this.options.acceptHttp10) return this.reject(426, 'HTTP/1.0 is not accepted');
    this.state = State.Active;
    this.served++;
    const ex = new H1Exchange(this, head, end + 4);
    if (this.draining) ex.closeAfterResponse();
    this.exchange = ex;
    if (head.expectContinue) this.socket.write('HTTP/1.1 100 Continue\r\n\r\n');
    const rest = end + 4;
    ex.events = this.onRequest(ex);
    if (rest < data.length && this.exchange === ex && this.state === State.Active) {
      if (ex.readingBody) ex.feedBody(data, rest);
      else this.hold(data.subarray(rest));
    }
  }

  /**
   * An upgrade (WebSocket) succeeded: the codec lets go of the socket. Returns it with the bytes
   * the client already sent past the request (its first frames); the owner pipes it from here.
   */
  takeOver(): { socket: Socket; early: Buffer | undefined } {
    const early = this.buffered;
    this.buffered = undefined;
    this.state = State.Closed;
    this.exchange = undefined;
    if (this.headersTimer) clearTimeout(this.headersTimer);
    for (const [event, fn] of [['data', this.dataListener], ['drain', this.drainListener], ['end', this.endListener]] as const) {
      this.socket.off(event, fn as (...args: unknown[]) => void);
    }
    this.idle?.stop();
    return { socket: this.socket, early };
  }

  /** Keeps bytes of the next pipelined request; stops reading until this exchange ends. */
  hold(buf: Buffer): void {
    this.buffered = this.buffered ? Buffer.concat([this.buffered, buf]) : buf;
    if (this.buffered.length > this.options.maxHeaderBytes) this.socket.pause();
  }

  /** The exchange finished; continue with the next request or close. */
  exchangeDone(ex: H1Exchange, keepAlive: boolean): void {
    if (this.exchange !== ex) return;
    this.exchange = undefined;
    if (!keepAlive || this.state === State.Closed) {
      this.state = State.Closed;
      this.socket.end();
      if (ex.readingBody) this.closeDelayed();
      else this.socket.destroySoon();
      return;
    }
    this.state = State.Head;
    this.idle?.touch();
    if (this.socket.isPaused()) this.socket.resume();
    const next = this.buffered;
    if (next) this.parseHeads(next);
  }

  /**
   * Closes after a response sent while the request's body was still arriving (an early answer, a 507
   * while a retry waited): closed at once with the client's bytes unread, the kernel resets the
   * connection and the client may lose the response it had not read yet. As Envoy's delayed close:
   * the response and our FIN go out, what still arrives is read and dropped (State.Closed), and the
   * socket closes when the client ends its side, or after DELAYED_CLOSE_MS.
   */
  private closeDelayed(): void {
    const timer = setTimeout(() => this.socket.destroy(), DELAYED_CLOSE_MS);
    this.socket.once('close', () => clearTimeout(timer));
    if (this.socket.isPaused()) this.socket.resume();
  }

  /** Answers a request the codec cannot accept, then closes (as Envoy does on codec errors). */
  private reject(status: number, reason: string): void {
    if (this.state === State.Closed) return;
    this.state = State.Closed;
    if (this.headersTimer) clearTimeout(this.headersTimer);
    const body = STATUS_CODES[status] ?? 'Bad Request';
    void reason;
    this.socket.end(
      `HTTP/1.1 ${status} ${body}\r\ncontent-length: ${body.length}\r\ncontent-type: text/plain\r\nserver: ${this.options.serverName}\r\nconnection: close\r\n\r\n${body}`,
      'latin1',
    );
    this.socket.destroySoon();
  }

  private readonly onHeadersTimeout = (): void => {
    this.options.onRequestHeadersTimeout?.();
    this.reject(408, 'request headers timeout');
  };

  /**
   * The idle timeout counts from the last response's end or the client's last bytes. An IdleWatch,
   * not socket.setTimeout: node's socket timeout, once fired during a long request, is not re-armed
   * by later activity (the connection then never timed out), and it re-inserted node's timer on every
   * read and write where the watch reads the clock.
   */
  private watchIdle(): void {
    this.idle = new IdleWatch(this.options.idleTimeoutMs, () => {
      if (this.state === State.Closed) return;
      // only idle keep-alive connections time out; a request in progress has its own timeouts
      if (this.state === State.Head && !this.buffered) this.socket.destroy();
      else this.watchIdle();
    });
  }

  /** Stops keeping this connection alive: idle now → closed; busy → closed after its response. */
  drain(): void {
    this.draining = true;
    if (this.state === State.Head && !this.buffered) this.socket.destroySoon();
    else this.exchange?.closeAfterResponse();
  }

  private onClose(): void {
    this.idle?.stop();
    this.onClosed?.(this);
    if (this.headersTimer) clearTimeout(this.headersTimer);
    this.state = State.Closed;
    const ex = this.exchange;
    this.exchange = undefined;
    ex?.connectionClosed();
  }

  /** Set by the owner to learn when the connection is gone. */
  onClosed: ((c: H1ServerConnection) => void) | undefined;

  get closed(): boolean {
    return this.state === State.Closed;
  }

  get serverName(): string {
    return this.options.serverName;
  }
}

/** One request/response on an H1ServerConnection: the Downstream the connection manager sees. */
export class H1Exchange implements Downstream, BodySource {
  events: DownstreamEvents | undefined;
  readonly method: string;
  readonly target: string;
  readonly headers: string[];
  readonly scheme: 'http' | 'https';
  readonly remoteAddress: string;
  readonly localAddress: string;
  readonly localPort: number;
  readonly localEndpoint: string;
  readonly remoteEndpoint: string;
  readonly remotePort: number;
  readonly protocol: string;
  readonly body: BodySource | null;
  readonly originalDestination: { address: string; port: number } | undefined;
  readonly peer: PeerIdentity | undefined;
  readonly length: number;
  headersSent = false;
  bytesReceived = 0;
  bytesSent = 0;
  /** Request-body bytes still to come on the socket. */
  readingBody: boolean;
  private remaining: number;
  private decoder: ChunkedDecoder | undefined;
  private sink: BodySink | undefined;
  private early: Buffer[] | undefined;
  private earlyBytes = 0;
  private bodyEnded = false;
  private paused = false;
  private detached = false;
  private keepAlive: boolean;
  private readonly minor: number;
  private responseChunked = false;
  private responseHasBody = true;
  private pendingHead: string | undefined;
  private finished = false;

  constructor(
    private readonly conn: H1ServerConnection,
    head: RequestHead,
    readonly headBytes: number,
  ) {
    this.method = head.method;
    this.target = head.target;
    this.headers = head.headers;
    this.minor = head.minor;
    this.keepAlive = head.keepAlive;
    ({ remoteAddress: this.remoteAddress, remotePort: this.remotePort, remoteEndpoint: this.remoteEndpoint, localAddress: this.localAddress, localPort: this.localPort, localEndpoint: this.localEndpoint } = conn.endpoints);
    this.protocol = head.minor === 1 ? 'HTTP/1.1' : 'HTTP/1.0';
    this.originalDestination = conn.originalDestination;
    this.peer = conn.peer;
    this.scheme = conn.secure ? 'https' : 'http';
    this.length = head.bodyLength === CHUNKED ? -1 : head.bodyLength;
    this.remaining = head.bodyLength;
    this.readingBody = head.bodyLength !== 0;
    this.bodyEnded = !this.readingBody;
    if (head.bodyLength === CHUNKED) this.decoder = new ChunkedDecoder((c) => this.deliver(c));
    this.body = this.readingBody ? this : null;
  }

  /** The connection, the same object for each of its requests. */
  get downstreamConnection(): object {
    return this.conn;
  }

  get requestComplete(): boolean {
    return this.bodyEnded;
  }

  // ------------------------------------------------------------------ request body (BodySource)

  feedBody(buf: Buffer, from: number): void {
    if (this.decoder) {
      let end: number;
      try {
        end = this.decoder.push(buf, from);
      } catch (err) {
        this.bodyFailed(err as ProtocolError);
        return;
      }
      if (end >= 0) {
        this.bodyComplete(this.decoder.trailers.length ? this.decoder.trailers : undefined);
        if (end < buf.length) this.conn.hold(buf.subarray(end));
      }
      return;
    }
    const avail = buf.length - from;
    const take = avail < this.remaining ? avail : this.remaining;
    this.remaining -= take;
    this.deliver(from === 0 && take === buf.length ? buf : buf.subarray(from, from + take));
    if (this.remaining === 0) {
      this.bodyComplete(undefined);
      if (take < avail) this.conn.hold(buf.subarray(from + take));
    }
  }

  private deliver(chunk: Buffer): void {
    this.bytesReceived += chunk.length;
    if (this.detached || chunk.length === 0) return;
    if (this.sink) {
      if (!this.sink.onBodyData(chunk)) this.pause();
      return;
    }
    (this.early ??= []).push(chunk);
    this.earlyBytes += chunk.length;
    if (this.earlyBytes > MAX_EARLY_BODY_BYTES) this.pause();
  }

  private bodyComplete(trailers: string[] | undefined): void {
    this.readingBody = false;
    this.bodyEnded = true;
    if (this.sink && !this.detached) this.sink.onBodyEnd(trailers);
    if (this.finished) this.conn.exchangeDone(this, this.keepAlive);
  }

  private bodyError: Error | undefined;

  private bodyFailed(err: Error): void {
    this.readingBody = false;
    this.keepAlive = false;
    this.bodyError = err;
    const sink = this.sink;
    this.sink = undefined;
    sink?.onBodyError(err);
    if (!this.headersSent) this.respondError(400);
    else this.reset();
  }

  start(sink: BodySink): void {
    if (this.bodyError) {
      sink.onBodyError(this.bodyError);
      return;
    }
    this.sink = sink;
    const early = this.early;
    this.early = undefined;
    this.earlyBytes = 0;
    this.paused = false; // a pause for early-body buffering ends here; the sink decides from now on
    if (early) for (const c of early) if (!sink.onBodyData(c)) this.pause();
    if (this.bodyEnded) sink.onBodyEnd(this.decoder?.trailers.length ? this.decoder.trailers : undefined);
    else if (!this.paused && this.conn.socket.isPaused()) this.conn.socket.resume();
  }

  pause(): void {
    this.paused = true;
    this.conn.socket.pause();
  }

  resume(): void {
    this.paused = false;
    if (!this.conn.closed) this.conn.socket.resume();
  }

  detach(): void {
    this.detached = true;
    this.sink = undefined;
    this.early = undefined;
    // the rest of the body is read and dropped only if the connection will be reused
    if (this.readingBody) this.keepAlive = false;
    this.resume();
  }

  // ------------------------------------------------------------------ response (Downstream)

  respond(status: number, headers: string[]): void {
    if (this.headersSent) return;
    this.headersSent = true;
    const noBody = this.method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200);
    this.responseHasBody = !noBody;
    let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    let hasLength = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      if (name === 'content-length') hasLength = true;
      head += `${name}: ${headers[i + 1]}\r\n`;
    }
    // a response that ends before its request body was read: close, the rest cannot be trusted
    if (this.readingBody && !this.sink) this.keepAlive = false;
    if (!noBody && !hasLength) {
      if (this.minor === 1) {
        this.responseChunked = true;
        head += 'transfer-encoding: chunked\r\n';
      } else {
        this.keepAlive = false; // HTTP/1.0: the body ends with the connection
      }
    }
    if (this.conn.draining) this.keepAlive = false;
    if (!this.keepAlive) head += 'connection: close\r\n';
    else if (this.minor === 0) head += 'connection: keep-alive\r\n';
    this.pendingHead = head + '\r\n';
  }

  write(chunk: Buffer): boolean {
    const socket = this.conn.socket;
    if (this.finished || socket.destroyed) return true;
    if (!this.responseHasBody || chunk.length === 0) return true;
    this.bytesSent += chunk.length;
    const head = this.pendingHead;
    this.pendingHead = undefined;
    if (!head && !this.responseChunked) return socket.write(chunk);
    if (head && !this.responseChunked && chunk.length <= COALESCE_BODY_BYTES) return socket.write(joinHead(head, chunk));
    socket.cork();
    if (head) socket.write(head, 'latin1');
    if (this.responseChunked) socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    const ok = this.responseChunked ? socket.write('\r\n', 'latin1') : true;
    socket.uncork();
    return ok && socket.writableNeedDrain === false;
  }

  end(): void {
    if (this.finished) return;
    this.finished = true;
    const socket = this.conn.socket;
    const head = this.pendingHead ?? '';
    this.pendingHead = undefined;
    const tail = this.responseChunked && this.responseHasBody ? '0\r\n\r\n' : '';
    if (head || tail) socket.write(head + tail, 'latin1');
    if (this.readingBody && this.keepAlive) return; // the body is still arriving; done when it ends
    this.conn.exchangeDone(this, this.keepAlive && !this.readingBody);
  }

  reset(): void {
    this.finished = true;
    this.conn.socket.destroy();
  }

  closeAfterResponse(): void {
    this.keepAlive = false;
  }

  /** The upgrade path (WebSocket): the upstream's head goes to the client as is; the socket is the caller's. */
  upgrade(_status: number, upstreamHead: Buffer): { socket: Socket; early: Buffer | undefined } {
    this.finished = true;
    this.headersSent = true;
    const r = this.conn.takeOver();
    r.socket.write(upstreamHead);
    return r;
  }

  /** A locally generated error for a request whose body turned out malformed. */
  private respondError(status: number): void {
    const body = STATUS_CODES[status] ?? 'Bad Request';
    this.keepAlive = false;
    this.respond(status, ['content-length', String(body.length), 'content-type', 'text/plain', 'server', this.conn.serverName]);
    this.write(Buffer.from(body));
    this.end();
  }

  connectionClosed(): void {
    if (!this.finished) {
      this.finished = true;
      const sink = this.sink;
      this.sink = undefined;
      // the stream learns first (flag DC, upstream aborted); the body sink then has nothing to do
      this.events?.onDownstreamClose();
      if (this.readingBody) sink?.onBodyError(new Error('client closed the connection'));
    }
  }
}
