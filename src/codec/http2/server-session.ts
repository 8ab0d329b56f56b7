import { constants, performServerHandshake, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { BodySink, BodySource } from '../body.js';
import type { Downstream, DownstreamEvents } from '../downstream.js';
import type { ConnectionContext, ServerOptions } from '../http1/server-connection.js';
import type { PeerIdentity } from '../../security/peer.js';
import { IdleWatch } from '../../common/byte-pipe.js';
import { ResetBudget } from './reset-budget.js';
import { connectionEndpoints, type ConnectionEndpoints } from '../connection-endpoints.js';

/** Envoy's edge defaults for downstream HTTP/2 (the protections). */
const MAX_CONCURRENT_STREAMS = 100;
const INITIAL_STREAM_WINDOW = 65_536;
const INITIAL_CONNECTION_WINDOW = 1_048_576;
/**
 * Envoy's max_outbound_control_frames: PINGs and SETTINGS each make the server queue an ACK; a
 * client that floods them without reading lets the queue grow — past this many frames the
 * connection is closed.
 */
const MAX_OUTBOUND_FRAMES = 1_000;

/** Headers HTTP/2 forbids (RFC 9113 §8.2.2): never sent in a response. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

export type H2RequestListener = (downstream: H2Exchange) => DownstreamEvents | undefined;

/**
 * One client connection speaking HTTP/2 (h2c with prior knowledge, or h2 by ALPN over TLS), on
 * node:http2's session: each stream is a Downstream for the connection manager. Flow control,
 * HPACK and frame validation are nghttp2's; the settings and the reset budget are Envoy's.
 */
export class H2ServerConnection {
  readonly session: ServerHttp2Session;
  readonly originalDestination: { address: string; port: number } | undefined;
  readonly peer: PeerIdentity | undefined;
  /** The client's and this end's addresses, read once for every request on the connection. */
  readonly endpoints: ConnectionEndpoints;
  readonly secure: boolean;
  /** Set by the owner to learn when the connection is gone. */
  onClosed: ((c: H2ServerConnection) => void) | undefined;
  private readonly resets = new ResetBudget();
  private closed = false;
  readonly streamFlushTimeoutMs: number;

  constructor(
    readonly socket: Socket,
    options: ServerOptions,
    private readonly onRequest: H2RequestListener,
    context?: ConnectionContext,
  ) {
    this.originalDestination = context?.originalDestination;
    this.peer = context?.peer;
    this.endpoints = connectionEndpoints(socket);
    this.secure = context?.secure === true;
    this.streamFlushTimeoutMs = options.streamFlushTimeoutMs ?? 0;
    if (context?.preRead) socket.unshift(context.preRead);
    this.session = performServerHandshake(socket, {
      settings: {
        maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
        initialWindowSize: INITIAL_STREAM_WINDOW,
        maxHeaderListSize: options.maxHeaderBytes,
        enablePush: false,
        // RFC 8441: WebSocket over HTTP/2 with extended CONNECT
        enableConnectProtocol: true,
      },
      maxHeaderListPairs: 128,
      // a client that keeps sending frames nghttp2 rejects, or streams past the limit, is cut off
      maxSessionInvalidFrames: 100,
      maxSessionRejectedStreams: 100,
    });
    this.session.on('connect', () => this.session.setLocalWindowSize(INITIAL_CONNECTION_WINDOW));
    // idle (Envoy's idle_timeout): no stream open for that long. Not session.setTimeout: node keeps
    // a destroyed session reachable from that timer until it fires (an hour), so closed connections
    // would pile up; our own watch is stopped when the session closes.
    this.idleMs = options.idleTimeoutMs;
    this.watchIdle();
    const checkFlood = () => {
      if (this.session.destroyed) return;
      if ((this.session.state.outboundQueueSize ?? 0) > MAX_OUTBOUND_FRAMES) this.cutOff();
    };
    this.session.on('ping', checkFlood);
    this.session.on('remoteSettings', checkFlood);
    this.session.on('stream', (stream, headers, flags, rawHeaders) => this.onStream(stream, headers, flags, rawHeaders as unknown as string[]));
    this.session.on('error', () => {}); // 'close' follows
    this.session.on('close', () => this.onClose());
    socket.on('error', () => {});
    // HTTP/2 has no half-close: the client's FIN ends the connection, as Envoy's remote close does —
    // every stream is reset (their upstream requests cancelled) and the socket closed. Listeners
    // allow half-open sockets for the TCP proxy, so nothing else would close this one.
    if (socket.readableEnded) setImmediate(() => this.session.destroy());
    else socket.once('end', () => this.session.destroy());
  }

  private openStreams = 0;
  private readonly idleMs: number;
  private idle: IdleWatch | undefined;

  private watchIdle(): void {
    if (this.idleMs <= 0) return;
    this.idle = new IdleWatch(this.idleMs, () => {
      if (this.openStreams === 0) this.session.close();
      else this.watchIdle(); // a stream in progress has its own timeouts: look again later
    });
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, raw: string[]): void {
    this.openStreams++;
    this.idle?.touch();
    const ex = new H2Exchange(this, stream, headers, raw, (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0);
    stream.on('close', () => {
      this.openStreams--;
      this.idle?.touch();
      if (!ex.finished && stream.rstCode !== undefined && stream.rstCode !== constants.NGHTTP2_NO_ERROR) this.countReset();
      ex.streamClosed();
    });
    stream.on('error', () => {}); // 'close' follows
    ex.events = this.onRequest(ex);
  }

  /** Rapid reset budget: too many streams reset by the client before their response finished. */
  private countReset(): void {
    if (this.resets.spend()) this.cutOff();
  }

  /** An abusive client: GOAWAY ENHANCE_YOUR_CALM, flushed, then the connection is closed. */
  private cutOff(): void {
    const s = this.session;
    if (s.destroyed || this.cutting) return;
    this.cutting = true;
    s.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    setImmediate(() => s.destroy());
  }

  private cutting = false;

  /** Drain: GOAWAY, the streams in progress finish, then the connection closes. */
  drain(): void {
    if (this.session.closed || this.session.destroyed) return;
    this.session.close();
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.idle?.stop();
    this.onClosed?.(this);
  }
}

/** One request/response on an HTTP/2 stream: the Downstream the connection manager sees. */
export class H2Exchange implements Downstream, BodySource {
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
  finished = false;
  private sink: BodySink | undefined;
  private trailers: string[] | undefined;
  private responseTrailers: OutgoingHttpHeaders | undefined;
  private wantsTrailers = false;
  private detached = false;

  constructor(
    private readonly conn: H2ServerConnection,
    private readonly stream: ServerHttp2Stream,
    h: IncomingHttpHeaders,
    raw: string[],
    endStream: boolean,
  ) {
    this.method = String(h[':method'] ?? 'GET');
    this.connectProtocol = this.method === 'CONNECT' && h[':protocol'] ? String(h[':protocol']) : undefined;
    this.target = String(h[':path'] ?? '/');
    // the connection manager reads the authority from `host`, as HTTP/1.1 carries it. With
    // :authority present a `host` field is dropped (RFC 9113 §8.3.1: never used for the target;
    // Envoy's http2_discard_host_header), so routing, policy and the upstream all see :authority.
    const authority = h[':authority'] ? String(h[':authority']) : undefined;
    const out: string[] = [];
    let size = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i];
      size += name.length + raw[i + 1].length;
      if (name.charCodeAt(0) === 58 /* ':' */ || (authority !== undefined && name === 'host')) continue;
      out.push(name, raw[i + 1]);
    }
    if (authority !== undefined) out.unshift('host', authority);
    this.headers = out;
    this.headBytes = size;
    this.scheme = conn.secure || h[':scheme'] === 'https' ? 'https' : 'http';
    ({ remoteAddress: this.remoteAddress, remotePort: this.remotePort, remoteEndpoint: this.remoteEndpoint, localAddress: this.localAddress, localPort: this.localPort, localEndpoint: this.localEndpoint } = conn.endpoints);
    this.originalDestination = conn.originalDestination;
    this.peer = conn.peer;
    const cl = h['content-length'];
    this.length = endStream ? 0 : cl !== undefined ? Number(cl) : -1;
    this.body = endStream ? null : this;
    if (!endStream) stream.pause(); // the body flows once a sink takes it
    stream.on('trailers', (t: IncomingHttpHeaders, _f: number, rawT: string[]) => (this.trailers = (rawT as unknown as string[]) ?? flatten(t)));
    stream.on('drain', () => this.events?.onDownstreamDrain());
  }

  /** The connection, the same object for each of its requests. */
  get downstreamConnection(): object {
    return this.conn;
  }

  get requestComplete(): boolean {
    return this.body === null || this.stream.readableEnded;
  }

  // ------------------------------------------------------------------ request body (BodySource)

  start(sink: BodySink): void {
    this.sink = sink;
    this.stream.on('data', (c: Buffer) => {
      if (this.detached) return;
      this.bytesReceived += c.length;
      if (!sink.onBodyData(c)) this.stream.pause();
    });
    this.stream.on('end', () => {
      if (!this.detached) sink.onBodyEnd(this.trailers);
    });
    this.stream.on('aborted', () => {
      if (!this.detached) sink.onBodyError(new Error('client reset the stream'));
    });
    this.stream.resume();
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  detach(): void {
    // the rest of the request body is read and dropped (flow control must go on for the response)
    this.detached = true;
    this.stream.resume();
  }

  // ------------------------------------------------------------------ response

  respond(status: number, headers: string[]): void {
    if (this.stream.destroyed || this.stream.closed) return;
    const out: OutgoingHttpHeaders = { ':status': status };
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      if (CONNECTION_SPECIFIC.has(name) || name === 'content-length' && status === 204) continue;
      const prev = out[name];
      out[name] = prev === undefined ? headers[i + 1] : Array.isArray(prev) ? [...prev, headers[i + 1]] : [String(prev), headers[i + 1]];
    }
    this.headersSent = true;
    // a gRPC status already in the headers: a trailers-only response, one HEADERS frame ending the stream
    if (out['grpc-status'] !== undefined) {
      delete out['content-length'];
      this.trailersOnly = out;
      return;
    }
    // gRPC ends with a HEADERS frame of trailers
    const ct = out['content-type'];
    this.wantsTrailers = typeof ct === 'string' && ct.startsWith('application/grpc');
    try {
      this.stream.respond(out, this.wantsTrailers ? { waitForTrailers: true } : {});
    } catch {
      this.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    if (this.wantsTrailers) this.stream.once('wantTrailers', () => this.stream.sendTrailers(this.responseTrailers ?? {}));
  }

  write(chunk: Buffer): boolean {
    if (chunk.length === 0) return true;
    this.flushTrailersOnly(false);
    this.bytesSent += chunk.length;
    return this.stream.write(chunk);
  }

  end(trailers?: string[]): void {
    this.finished = true;
    if (this.stream.destroyed) return;
    if (this.trailersOnly) return this.flushTrailersOnly(true);
    if (trailers?.length) this.responseTrailers = toObject(trailers);
    this.stream.end();
    if (this.conn.streamFlushTimeoutMs) this.armFlushTimeout(this.conn.streamFlushTimeoutMs);
  }

  /**
   * The response is over here but may still sit in the stream's buffer, held back by the client's
   * flow-control window: if none of it moves for `ms`, the stream is reset (Envoy's flush timeout).
   */
  private armFlushTimeout(ms: number): void {
    const stream = this.stream;
    let pending = stream.writableLength;
    const check = () => {
      if (stream.closed || stream.destroyed) return;
      if (stream.writableLength < pending) {
        pending = stream.writableLength;
        timer = setTimeout(check, ms);
        return;
      }
      stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    };
    let timer = setTimeout(check, ms);
    stream.once('close', () => clearTimeout(timer));
  }

  private trailersOnly: OutgoingHttpHeaders | undefined;

  /** Sends a deferred trailers-only response; with a body after all, as ordinary headers. */
  private flushTrailersOnly(endStream: boolean): void {
    const h = this.trailersOnly;
    if (!h) return;
    this.trailersOnly = undefined;
    try {
      this.stream.respond(h, { endStream });
    } catch {
      this.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
    }
  }

  /**
   * An abrupt end (the upstream failed after the response started, a timeout): RST_STREAM
   * INTERNAL_ERROR at once. Not `stream.close(code)`: node ends the writable side first, so the
   * client would get END_STREAM — a truncated response that looks complete — before the reset.
   */
  reset(): void {
    this.finished = true;
    this.trailersOnly = undefined;
    if (!this.stream.destroyed) this.stream.destroy(new Error('response abandoned'));
  }

  /** HTTP/2 has no `connection: close`: the connection is drained (GOAWAY; this stream and the others in progress finish). */
  closeAfterResponse(): void {
    this.conn.drain();
  }

  /** The stream closed: a response not finished by then was abandoned by the client (DC). */
  streamClosed(): void {
    if (!this.finished) {
      this.finished = true;
      this.detached = true;
      this.events?.onDownstreamClose();
    }
  }

  /**
   * Extended CONNECT answered: a 101 from the HTTP/1.1 upstream is :status 200 here (RFC 8441),
   * other statuses pass as they are; the stream is the tunnel's from here.
   */
  upgrade(status: number, _upstreamHead: Buffer): { socket: ServerHttp2Stream; early: undefined } {
    this.finished = true;
    this.headersSent = true;
    this.stream.respond({ ':status': status === 101 ? 200 : status });
    this.stream.resume();
    return { socket: this.stream, early: undefined };
  }

  get connection(): H2ServerConnection {
    return this.conn;
  }
}

function flatten(h: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || k.startsWith(':')) continue;
    for (const x of Array.isArray(v) ? v : [v]) out.push(k, String(x));
  }
  return out;
}

function toObject(list: string[]): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (let i = 0; i < list.length; i += 2) {
    const prev = out[list[i]];
    out[list[i]] = prev === undefined ? list[i + 1] : Array.isArray(prev) ? [...prev, list[i + 1]] : [String(prev), list[i + 1]];
  }
  return out;
}
