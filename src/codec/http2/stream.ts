/**
 * One request/response on an own-codec HTTP/2 connection (./connection.ts): the Downstream the
 * connection manager sees and the BodySource of its request body. The request body is held against
 * the stream's flow-control window: bytes the sink has not taken are not given back, so a slow
 * upstream slows the client (backpressure). The response is sent as the windows allow; what they
 * hold back waits here, and write() says when the caller should wait for onDownstreamDrain.
 */
import type { BodySink, BodySource } from '../body.js';
import type { Downstream, DownstreamEvents } from '../downstream.js';
import type { PeerIdentity } from '../../security/peer.js';
import { H2_CANCEL, H2_INTERNAL_ERROR, H2_NO_ERROR, H2_PROTOCOL_ERROR } from './error-codes.js';
import { ReceiveWindow, SendWindow, sendable } from './frames/flow-control.js';
import type { Http2ServerConnection } from './connection.js';
import { CONNECTION_SPECIFIC, type RequestFields } from './request-fields.js';
import { afterReceive, afterSendEnd, localClosed, remoteClosed, type StreamState } from './stream-state.js';
import { StreamTunnel } from './tunnel.js';

/** Response bytes held per stream before write() asks the caller to wait. */
const HIGH_WATER = 65_536;
const EMPTY = Buffer.alloc(0);
/** The empty list `early` and `pending` start as (most streams hold nothing back): frozen, so a push onto it throws. */
const NO_BUFFERS: Buffer[] = Object.freeze([]) as unknown as Buffer[];

export class H2Stream implements Downstream, BodySource {
  events: DownstreamEvents | undefined;
  state: StreamState = 'idle';
  readonly sendWindow: SendWindow;
  readonly receiveWindow: ReceiveWindow;
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
  readonly protocol = 'HTTP/2';
  readonly connectProtocol: string | undefined;
  readonly body: BodySource | null;
  readonly originalDestination: { address: string; port: number } | undefined;
  readonly peer: PeerIdentity | undefined;
  readonly length: number;
  readonly headBytes: number;
  headersSent = false;
  bytesReceived = 0;
  bytesSent = 0;
  /** The response is over here: ended, reset or handed to a tunnel. */
  finished = false;
  private reset_ = false;
  private requestEnded: boolean;
  private sink: BodySink | undefined;
  private tunnel: StreamTunnel | undefined;
  private tunnelWriteDone: (() => void) | undefined;
  /** Request body received and not yet taken (before start(), while paused). */
  private early: Buffer[] = NO_BUFFERS;
  private requestTrailers: string[] | undefined;
  private paused = false;
  private detached = false;
  /** Response headers not encoded yet: they leave with the first body bytes, the end, or at the turn's end. */
  private pendingHead: string[] | undefined;
  /** A gRPC trailers-only response: one HEADERS ending the stream, unless a body comes after all. */
  private trailersOnly = false;
  /** Response body held back by flow control. */
  private pending: Buffer[] = NO_BUFFERS;
  private pendingBytes = 0;
  /** end() came while body was held back: its trailers (empty: none). */
  private endPending: string[] | undefined;
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly conn: Http2ServerConnection,
    readonly id: number,
    fields: RequestFields,
    endStream: boolean,
    peerInitialWindow: number,
    ownInitialWindow: number,
  ) {
    this.state = afterReceive('idle', endStream);
    this.sendWindow = new SendWindow(id, peerInitialWindow);
    this.receiveWindow = new ReceiveWindow(id, ownInitialWindow);
    this.method = fields.method;
    this.target = fields.target;
    this.headers = fields.headers;
    this.headBytes = fields.bytes;
    this.connectProtocol = fields.protocol;
    this.length = endStream ? 0 : fields.contentLength;
    this.requestEnded = endStream;
    this.body = endStream ? null : this;
    this.scheme = conn.secure || fields.scheme === 'https' ? 'https' : 'http';
    ({ remoteAddress: this.remoteAddress, remotePort: this.remotePort, remoteEndpoint: this.remoteEndpoint, localAddress: this.localAddress, localPort: this.localPort, localEndpoint: this.localEndpoint } = conn.endpoints);
    this.originalDestination = conn.originalDestination;
    this.peer = conn.peer;
  }

  /** The connection, the same object for each of its requests. */
  get downstreamConnection(): object {
    return this.conn;
  }

  get requestComplete(): boolean {
    return this.requestEnded;
  }

  /** The client's side is over (END_STREAM or reset): no WINDOW_UPDATE for it any more. */
  get remoteDone(): boolean {
    return remoteClosed(this.state) || this.reset_;
  }

  // ------------------------------------------------------------------ request body, from the connection

  /** A DATA frame's content (padding already given back). */
  receiveData(data: Buffer, endStream: boolean): void {
    this.bytesReceived += data.length;
    const cl = this.length;
    if (cl >= 0 && (this.bytesReceived > cl || (endStream && this.bytesReceived !== cl))) {
      // a body that disagrees with its content-length is malformed (RFC 9113 §8.1.1)
      return this.conn.resetStream(this, H2_PROTOCOL_ERROR);
    }
    if (data.length > 0) this.deliver(data);
    if (endStream) this.receiveEnd(undefined);
  }

  /** END_STREAM: on DATA, or a HEADERS of trailers. */
  receiveEnd(trailers: string[] | undefined): void {
    if (this.length >= 0 && this.bytesReceived !== this.length) return this.conn.resetStream(this, H2_PROTOCOL_ERROR);
    this.state = afterReceive(this.state, true);
    this.requestEnded = true;
    this.requestTrailers = trailers;
    if (this.early.length === 0) this.deliverEnd();
    if (this.state === 'closed') this.conn.forget(this);
  }

  private deliver(data: Buffer): void {
    if (this.detached) return this.conn.giveBackStream(this, data.length);
    if (this.paused || this.early.length > 0 || (this.sink === undefined && this.tunnel === undefined)) {
      if (this.early === NO_BUFFERS) this.early = [];
      this.early.push(data);
      return;
    }
    this.take(data);
  }

  /** Hands `data` to the sink or tunnel: consumed, so its window goes back to the client. */
  private take(data: Buffer): void {
    this.conn.giveBackStream(this, data.length);
    if (this.tunnel) {
      if (!this.tunnel.push(data)) this.paused = true;
    } else if (!this.sink!.onBodyData(data)) this.paused = true;
  }

  private deliverEnd(): void {
    if (this.tunnel) this.tunnel.push(null);
    else if (this.sink && !this.detached) this.sink.onBodyEnd(this.requestTrailers);
  }

  /** Delivers what waited, until the taker pauses again. */
  private flushEarly(): void {
    while (this.early.length > 0 && !this.paused && !this.reset_) this.take(this.early.shift()!);
    if (this.early.length === 0 && this.requestEnded && !this.paused) this.deliverEnd();
  }

  // ------------------------------------------------------------------ request body (BodySource)

  start(sink: BodySink): void {
    this.sink = sink;
    if (this.reset_) return sink.onBodyError(new Error('client reset the stream'));
    this.paused = false;
    this.flushEarly();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.flushEarly();
  }

  detach(): void {
    // the rest of the request body is read and dropped, its window given back
    this.detached = true;
    this.sink = undefined;
    let n = 0;
    for (const b of this.early) n += b.length;
    this.early = NO_BUFFERS;
    if (n > 0) this.conn.giveBackStream(this, n);
  }

  // ------------------------------------------------------------------ response (Downstream)

  respond(status: number, headers: string[]): void {
    if (this.finished || this.headersSent) return;
    const out = [':status', String(status)];
    let grpcStatus = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      if (CONNECTION_SPECIFIC.has(name) || name === 'http2-settings' || (name === 'content-length' && status === 204)) continue;
      if (name === 'grpc-status') grpcStatus = true;
      out.push(name, headers[i + 1]);
    }
    this.headersSent = true;
    // a gRPC status already in the headers: a trailers-only response, one HEADERS frame ending the stream
    this.trailersOnly = grpcStatus;
    this.pendingHead = grpcStatus ? withoutContentLength(out) : out;
    this.conn.holdHead(this);
  }

  /** Encodes and queues the response headers (HPACK state follows the order frames are queued). */
  sendHead(endStream: boolean): void {
    const head = this.pendingHead;
    if (head === undefined || this.reset_) return;
    this.pendingHead = undefined;
    this.trailersOnly = false;
    this.conn.writer.headers(this.id, this.conn.encoder.encode(head), endStream);
    this.conn.scheduleFlush();
    if (endStream) this.localEnd();
  }

  write(chunk: Buffer): boolean {
    if (this.finished || this.reset_ || chunk.length === 0) return true;
    return this.writeData(chunk);
  }

  private writeData(chunk: Buffer): boolean {
    this.sendHead(false);
    this.bytesSent += chunk.length;
    if (this.pendingBytes > 0) this.hold(chunk);
    else this.send(chunk);
    if (this.canTakeMore) return true;
    this.conn.wait(this);
    return false;
  }

  /** Room for more response bytes: little held back here and a socket that is keeping up. */
  get canTakeMore(): boolean {
    return this.pendingBytes < HIGH_WATER && !this.conn.congested;
  }

  get hasPendingOutput(): boolean {
    return this.pendingBytes > 0 || this.endPending !== undefined;
  }

  /** Sends what the windows allow of `chunk` now; holds the rest. */
  private send(chunk: Buffer): void {
    const connWindow = this.conn.connectionSendWindow;
    const n = sendable(connWindow, this.sendWindow, chunk.length, chunk.length);
    if (n > 0) {
      connWindow.consume(n);
      this.sendWindow.consume(n);
      this.conn.writer.data(this.id, n === chunk.length ? chunk : chunk.subarray(0, n), false);
      this.conn.scheduleFlush();
    }
    if (n < chunk.length) {
      this.hold(n === 0 ? chunk : chunk.subarray(n));
      // held by the connection's window: the connection pumps it; by ours: our WINDOW_UPDATE does
      if (connWindow.size <= 0 && this.sendWindow.size > 0) this.conn.block(this);
    }
  }

  private hold(chunk: Buffer): void {
    if (this.pending === NO_BUFFERS) this.pending = [];
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
  }

  /** The windows opened: send what was held, then the end if it waited. */
  sendPending(): void {
    if (this.reset_) return;
    const held = this.pending;
    this.pending = NO_BUFFERS;
    this.pendingBytes = 0;
    for (let i = 0; i < held.length; i++) {
      if (this.pendingBytes > 0) this.hold(held[i]);
      else this.send(held[i]);
    }
    if (this.pendingBytes === 0 && this.endPending !== undefined) this.sendEnd(this.endPending);
  }

  end(trailers?: string[]): void {
    if (this.finished || this.reset_) return;
    this.finished = true;
    if (this.pendingHead !== undefined && (this.trailersOnly || !trailers?.length)) return this.sendHead(true);
    this.sendHead(false);
    const t = trailers?.length ? trailers : [];
    if (this.pendingBytes > 0) {
      this.endPending = t;
      if (this.conn.streamFlushTimeoutMs) this.armFlushTimeout(this.conn.streamFlushTimeoutMs);
    } else this.sendEnd(t);
  }

  private sendEnd(trailers: string[]): void {
    this.endPending = undefined;
    if (trailers.length) this.conn.writer.headers(this.id, this.conn.encoder.encode(withoutConnectionSpecific(trailers)), true);
    else this.conn.writer.data(this.id, EMPTY, true);
    this.conn.scheduleFlush();
    this.localEnd();
  }

  /** This end sent END_STREAM. A request body nobody reads any more is stopped: RST_STREAM NO_ERROR (RFC 9113 §8.1). */
  private localEnd(): void {
    this.state = afterSendEnd(this.state);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.state === 'closed') return this.conn.forget(this);
    if (!remoteClosed(this.state) && (this.detached || (this.sink === undefined && this.tunnel === undefined))) this.conn.resetStream(this, H2_NO_ERROR);
  }

  /**
   * The response is over here but held back by the client's flow-control window: if none of it
   * moves for `ms`, the stream is reset (Envoy's stream flush timeout), as server-session.ts.
   */
  private armFlushTimeout(ms: number): void {
    let pending = this.pendingBytes;
    const check = () => {
      this.flushTimer = undefined;
      if (this.reset_ || localClosed(this.state)) return;
      if (this.pendingBytes < pending) {
        pending = this.pendingBytes;
        this.flushTimer = setTimeout(check, ms);
        return;
      }
      this.conn.resetStream(this, H2_INTERNAL_ERROR);
    };
    this.flushTimer = setTimeout(check, ms);
  }

  /** An abrupt end (the upstream failed after the response started, a timeout): RST_STREAM INTERNAL_ERROR. */
  reset(): void {
    this.finished = true;
    this.conn.resetStream(this, H2_INTERNAL_ERROR);
  }

  /** HTTP/2 has no `connection: close`: the connection is drained (GOAWAY; the streams in progress finish). */
  closeAfterResponse(): void {
    this.conn.drain();
  }

  /**
   * Extended CONNECT answered: a 101 from the HTTP/1.1 upstream is :status 200 here (RFC 8441),
   * other statuses pass as they are; the stream's DATA is the tunnel's from here.
   */
  upgrade(status: number, _upstreamHead: Buffer): { socket: StreamTunnel; early: Buffer | undefined } {
    this.finished = true;
    this.headersSent = true;
    this.pendingHead = [':status', String(status === 101 ? 200 : status)];
    this.sendHead(false);
    const tunnel = new StreamTunnel(this);
    this.tunnel = tunnel;
    this.sink = undefined;
    let early: Buffer | undefined;
    if (this.early.length > 0) {
      early = Buffer.concat(this.early);
      this.early = NO_BUFFERS;
      this.conn.giveBackStream(this, early.length);
    }
    this.paused = false;
    if (this.requestEnded) tunnel.push(null);
    if (this.reset_) tunnel.destroy();
    return { socket: tunnel, early };
  }

  // ------------------------------------------------------------------ the tunnel's side

  /** The tunnel's reader wants more. */
  tunnelRead(): void {
    if (!this.paused) return;
    this.paused = false;
    this.flushEarly();
  }

  /** Bytes from the upstream into the stream; `done` once they may be followed by more. */
  tunnelWrite(chunk: Buffer, done: () => void): void {
    if (this.reset_ || localClosed(this.state)) return done();
    if (this.writeData(chunk)) done();
    else this.tunnelWriteDone = done;
  }

  tunnelEnd(): void {
    if (this.reset_ || localClosed(this.state)) return;
    if (this.pendingBytes > 0) this.endPending = [];
    else this.sendEnd([]);
  }

  /** The tunnel was destroyed: a stream still open is cancelled. */
  tunnelDestroyed(): void {
    if (this.reset_ || this.state === 'closed') return;
    this.conn.resetStream(this, localClosed(this.state) && this.endPending === undefined ? H2_NO_ERROR : H2_CANCEL);
  }

  /** The client can take more (window or socket): the writer waiting on this stream goes on. */
  drained(): void {
    const done = this.tunnelWriteDone;
    if (done) {
      this.tunnelWriteDone = undefined;
      done();
    } else this.events?.onDownstreamDrain();
  }

  // ------------------------------------------------------------------ the end of the stream

  /** This end sent RST_STREAM (a stream error, or the response abandoned). */
  resetLocally(): void {
    this.closeAbruptly();
  }

  /** The client reset the stream, or the connection went away. */
  resetByPeer(): void {
    this.closeAbruptly();
  }

  private closeAbruptly(): void {
    if (this.reset_) return;
    this.reset_ = true;
    this.state = 'closed';
    this.pending = NO_BUFFERS;
    this.pendingBytes = 0;
    this.endPending = undefined;
    this.pendingHead = undefined;
    this.early = NO_BUFFERS;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.tunnel) {
      this.tunnel.destroy();
      return;
    }
    const sink = this.requestEnded || this.detached ? undefined : this.sink;
    this.sink = undefined;
    // the stream learns first (flag DC, upstream aborted); the body sink then has nothing to do
    if (!this.finished) {
      this.finished = true;
      this.detached = true;
      this.events?.onDownstreamClose();
    }
    sink?.onBodyError(new Error('client reset the stream'));
  }
}

function withoutContentLength(list: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) if (list[i] !== 'content-length') out.push(list[i], list[i + 1]);
  return out;
}

function withoutConnectionSpecific(list: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < list.length; i += 2) if (!CONNECTION_SPECIFIC.has(list[i]) && list[i].charCodeAt(0) !== 58) out.push(list[i], list[i + 1]);
  return out;
}
