/**
 * The server side of one HTTP/2 connection on Outrigger's own codec (h2c with prior knowledge, or
 * h2 by ALPN over TLS): the frame reader and writer (./frames), HPACK (./hpack), stream states
 * (./stream-state.ts) and Envoy's protections, with each stream a Downstream (./stream.ts) for the
 * connection manager. The same face as the node:http2 one (./server-session.ts), so the connection
 * manager picks either (OUTRIGGER_HTTP2_CODEC=own).
 *
 * Output: frames are appended to the writer as events happen and leave once per event-loop turn,
 * in one corked write (flush()).
 */
import type { Socket } from 'node:net';
import type { ConnectionContext, ServerOptions } from '../http1/server-connection.js';
import type { DownstreamEvents } from '../downstream.js';
import type { PeerIdentity } from '../../security/peer.js';
import { IdleWatch } from '../../common/byte-pipe.js';
import { readSocket } from '../../common/read-buffers.js';
import { H2_ENHANCE_YOUR_CALM, H2_FLOW_CONTROL_ERROR, H2_INTERNAL_ERROR, H2_NO_ERROR, H2_PROTOCOL_ERROR, H2_REFUSED_STREAM } from './error-codes.js';
import { SettingId } from './frames/constants.js';
import { Http2ConnectionError, Http2StreamError } from './frames/errors.js';
import { applyInitialWindowSize, ReceiveWindow, SendWindow } from './frames/flow-control.js';
import { FrameReader, type FrameHandler } from './frames/reader.js';
import { Http2Settings } from './frames/settings.js';
import { FrameWriter } from './frames/writer.js';
import { HpackDecoder } from './hpack/decoder.js';
import { HpackEncoder } from './hpack/encoder.js';
import { HeaderListTooLargeError, HpackDecodingError } from './hpack/errors.js';
import { requestFields, trailerFields } from './request-fields.js';
import { ResetBudget } from './reset-budget.js';
import { isClientStreamId, onReceive, type StreamFrame, type StreamState, type Verdict } from './stream-state.js';
import { H2Stream } from './stream.js';
import { StreamTable } from './stream-table.js';
import { connectionEndpoints, type ConnectionEndpoints } from '../connection-endpoints.js';

/** Envoy's edge defaults for downstream HTTP/2, as ./server-session.ts announces them. */
const MAX_CONCURRENT_STREAMS = 100;
/** After a connection error's GOAWAY, how long the client gets to close first (Envoy's delayed_close_timeout). */
const DELAYED_CLOSE_MS = 1_000;
const INITIAL_STREAM_WINDOW = 65_536;
const INITIAL_CONNECTION_WINDOW = 1_048_576;
/** Envoy's max_headers_count default. */
const MAX_HEADER_COUNT = 100;
/** Envoy's max_outbound_frames and max_outbound_control_frames: frames written but not yet taken by the socket. */
const MAX_OUTBOUND_FRAMES = 10_000;
const MAX_OUTBOUND_CONTROL_FRAMES = 1_000;
/** Envoy's max_consecutive_inbound_frames_with_empty_payload. */
const MAX_CONSECUTIVE_EMPTY_FRAMES = 1;

export type OwnH2RequestListener = (downstream: H2Stream) => DownstreamEvents | undefined;

export class Http2ServerConnection implements FrameHandler {
  readonly originalDestination: { address: string; port: number } | undefined;
  readonly peer: PeerIdentity | undefined;
  /** The client's and this end's addresses, read once for every request on the connection. */
  readonly endpoints: ConnectionEndpoints;
  readonly secure: boolean;
  readonly streamFlushTimeoutMs: number;
  /** Set by the owner to learn when the connection is gone. */
  onClosed: ((c: Http2ServerConnection) => void) | undefined;

  readonly writer = new FrameWriter();
  readonly connectionSendWindow = new SendWindow(0);
  readonly peerSettings = new Http2Settings();
  private readonly reader: FrameReader;
  private readonly decoder: HpackDecoder;
  readonly encoder = new HpackEncoder();
  private readonly receiveWindow = new ReceiveWindow(0);
  private readonly streams = new StreamTable<H2Stream>();
  /** Streams with response bytes held back by flow control, in the order they blocked. */
  private readonly blocked = new Set<H2Stream>();
  /** Streams whose response headers wait for the end of the turn (or their first body bytes). */
  private readonly heads = new Set<H2Stream>();
  /** Streams that were told to wait (write() returned false) and want onDownstreamDrain. */
  private readonly waiting = new Set<H2Stream>();
  private lastStreamId = 0;
  private goawaySent = false;
  private closed = false;
  private flushScheduled = false;
  private emptyFrames = 0;
  private outboundFrames = 0;
  private outboundControlFrames = 0;
  private controlFramesThisTurn = 0;
  private readonly resets = new ResetBudget();
  private idle: IdleWatch | undefined;

  constructor(
    readonly socket: Socket,
    private readonly options: ServerOptions,
    private readonly onRequest: OwnH2RequestListener,
    context?: ConnectionContext,
  ) {
    this.originalDestination = context?.originalDestination;
    this.peer = context?.peer;
    this.endpoints = connectionEndpoints(socket);
    this.secure = context?.secure === true;
    this.streamFlushTimeoutMs = options.streamFlushTimeoutMs ?? 0;
    this.decoder = new HpackDecoder({ maxHeaderListSize: options.maxHeaderBytes, maxHeaderCount: MAX_HEADER_COUNT });
    // a block's octets are bounded well above the decoded limit: Huffman coding can make it longer
    this.reader = new FrameReader(this, { mode: 'server', maxHeaderBlockBytes: Math.max(65_536, 2 * options.maxHeaderBytes) });
    this.writer.settings([
      SettingId.MAX_CONCURRENT_STREAMS, MAX_CONCURRENT_STREAMS,
      SettingId.INITIAL_WINDOW_SIZE, INITIAL_STREAM_WINDOW,
      SettingId.MAX_HEADER_LIST_SIZE, options.maxHeaderBytes,
      SettingId.ENABLE_PUSH, 0,
      // RFC 8441: WebSocket over HTTP/2 with extended CONNECT
      SettingId.ENABLE_CONNECT_PROTOCOL, 1,
    ]);
    const raise = this.receiveWindow.resize(INITIAL_CONNECTION_WINDOW);
    if (raise > 0) this.writer.windowUpdate(0, raise);
    this.scheduleFlush();
    socket.setNoDelay(true);
    readSocket(socket, this.onSocketRead);
    socket.on('error', () => {}); // 'close' follows
    socket.on('drain', this.onSocketDrain);
    socket.once('close', () => this.onClose());
    // HTTP/2 has no half-close: the client's FIN ends the connection, every stream reset (as server-session.ts)
    if (socket.readableEnded) setImmediate(() => socket.destroy());
    else socket.once('end', () => socket.destroy());
    if (options.idleTimeoutMs > 0) this.watchIdle();
    if (context?.preRead) this.onSocketData(context.preRead);
    if (socket.isPaused()) socket.resume();
  }

  // ------------------------------------------------------------------ input

  private readonly onSocketRead = (chunk: Buffer): boolean => {
    this.onSocketData(chunk);
    return true; // pausing is the connection's own (socket.pause)
  };

  private readonly onSocketData = (chunk: Buffer): void => {
    if (this.closed) return;
    try {
      this.reader.feed(chunk);
    } catch (err) {
      if (err instanceof Http2ConnectionError) return this.fail(err.code, err.message);
      if (err instanceof HpackDecodingError) return this.fail(err.code, err.message);
      throw err;
    }
  };

  /** Envoy's inbound flood check: more consecutive frames without payload than allowed ends the connection. */
  private countEmpty(empty: boolean): void {
    if (!empty) {
      this.emptyFrames = 0;
      return;
    }
    if (++this.emptyFrames > MAX_CONSECUTIVE_EMPTY_FRAMES) throw new Http2ConnectionError(H2_PROTOCOL_ERROR, 'too many consecutive frames with an empty payload');
  }

  /** The verdict of stream-state.ts for `frame` on `streamId` (`stream`: ours, if it is open here), thrown when it is a connection error. */
  private verdict(streamId: number, stream: H2Stream | undefined, frame: StreamFrame, endStream: boolean): Verdict {
    const state: StreamState = stream ? stream.state : streamId > this.lastStreamId ? 'idle' : 'closed';
    const v = onReceive(state, frame, endStream);
    if (v.kind === 'connection-error') throw new Http2ConnectionError(v.code, `${frame} on stream ${streamId} in state ${state}`);
    return v;
  }

  onHeaders(streamId: number, block: Buffer, endStream: boolean): void {
    this.countEmpty(block.length === 0 && !endStream);
    this.idle?.touch();
    // decoded first, whatever becomes of the stream: HPACK must stay in step (a decoding error is the connection's)
    let list: string[] | undefined;
    let tooLarge = false;
    try {
      list = this.decoder.decode(block).headers;
    } catch (err) {
      if (!(err instanceof HeaderListTooLargeError)) throw err;
      tooLarge = true;
    }
    if (!isClientStreamId(streamId)) throw new Http2ConnectionError(H2_PROTOCOL_ERROR, `HEADERS on even stream ${streamId}`);
    const known = this.streams.get(streamId);
    const v = this.verdict(streamId, known, 'HEADERS', endStream);
    if (v.kind === 'ignore') return;
    if (known) {
      // trailers
      if (v.kind === 'stream-error') return this.resetStream(known, v.code);
      if (tooLarge) return this.resetStream(known, H2_INTERNAL_ERROR);
      const trailers = trailerFields(list!);
      if (typeof trailers === 'string') return this.resetStream(known, H2_PROTOCOL_ERROR);
      known.receiveEnd(trailers.length ? trailers : undefined);
      return;
    }
    // a new stream: ids only go up (§5.1.1)
    this.lastStreamId = streamId;
    if (this.goawaySent) return; // past our GOAWAY: not served (the client retries elsewhere)
    if (this.streams.size >= MAX_CONCURRENT_STREAMS) return this.refuse(streamId, H2_REFUSED_STREAM);
    // Envoy's codec answers an oversized header list with RST_STREAM, the connection going on
    if (tooLarge) return this.refuse(streamId, H2_INTERNAL_ERROR);
    const fields = requestFields(list!);
    if (typeof fields === 'string') return this.refuse(streamId, H2_PROTOCOL_ERROR);
    if (fields.protocol !== undefined && fields.method === 'CONNECT' && endStream) return this.refuse(streamId, H2_PROTOCOL_ERROR);
    const stream = new H2Stream(this, streamId, fields, endStream, this.peerSettings.initialWindowSize, INITIAL_STREAM_WINDOW);
    this.streams.add(stream);
    stream.events = this.onRequest(stream);
  }

  onPriority(): void {}

  onRstStream(streamId: number, code: number): void {
    const stream = this.streams.get(streamId);
    this.verdict(streamId, stream, 'RST_STREAM', false);
    if (!stream) return;
    // rapid reset: a client cancelling streams before their response completed (CVE-2023-44487)
    // thrown, so the reader stops here: the frames after it in this read are not served
    if (!stream.finished && code !== H2_NO_ERROR && this.resets.spend()) throw new Http2ConnectionError(H2_ENHANCE_YOUR_CALM, 'rapid reset: too many streams reset before their response');
    this.forget(stream);
    stream.resetByPeer();
  }

  onSettings(entries: readonly number[]): void {
    const oldWindow = this.peerSettings.initialWindowSize;
    const oldTable = this.peerSettings.headerTableSize;
    this.peerSettings.apply(entries);
    const s = this.peerSettings;
    if (s.initialWindowSize !== oldWindow) {
      const open = this.streams.list();
      applyInitialWindowSize(open.map((x) => x.sendWindow), oldWindow, s.initialWindowSize);
      for (const stream of open) if (stream.sendWindow.size > 0 && stream.hasPendingOutput) this.blocked.add(stream);
    }
    if (s.headerTableSize !== oldTable) this.encoder.setPeerMaxTableSize(s.headerTableSize);
    this.writer.maxFrameSize = s.maxFrameSize;
    this.writer.settingsAck();
    this.controlFrame();
    this.pump();
  }

  onSettingsAck(): void {}

  onPushPromise(): void {
    // the reader refuses PUSH_PROMISE from a client before it gets here
  }

  onPing(opaque: Buffer, ack: boolean): void {
    if (ack) return;
    this.writer.ping(opaque, true);
    this.controlFrame();
  }

  onGoaway(): void {
    // the client will open no more streams; the ones in progress finish
    this.draining = true;
    this.closeIfDone();
  }

  onWindowUpdate(streamId: number, increment: number): void {
    if (streamId === 0) {
      this.connectionSendWindow.increase(increment);
      this.pump();
      return;
    }
    const stream = this.streams.get(streamId);
    const v = this.verdict(streamId, stream, 'WINDOW_UPDATE', false);
    if (!stream || v.kind !== 'accept') return;
    try {
      stream.sendWindow.increase(increment);
    } catch (err) {
      if (err instanceof Http2StreamError) return this.resetStream(stream, err.code);
      throw err;
    }
    if (stream.hasPendingOutput) this.blocked.add(stream);
    this.pump();
  }

  onStreamError(error: Http2StreamError): void {
    const stream = this.streams.get(error.streamId);
    if (stream) this.resetStream(stream, error.code);
    else this.refuse(error.streamId, error.code);
  }

  // ------------------------------------------------------------------ request body (DATA)

  onData(streamId: number, data: Buffer, endStream: boolean, flowLength: number): void {
    this.countEmpty(flowLength === 0 && !endStream);
    this.idle?.touch();
    // the connection window counts every DATA frame, even on streams that are gone (§6.9)
    this.receiveWindow.receive(flowLength);
    this.giveBackConnection(flowLength);
    const stream = this.streams.get(streamId);
    const v = this.verdict(streamId, stream, 'DATA', endStream);
    if (!stream || v.kind === 'ignore') return;
    if (v.kind === 'stream-error') return this.resetStream(stream, v.code);
    try {
      stream.receiveWindow.receive(flowLength);
    } catch (err) {
      if (err instanceof Http2StreamError) return this.resetStream(stream, H2_FLOW_CONTROL_ERROR);
      throw err;
    }
    // padding counts as consumed at once; the data itself once the body's sink took it
    if (flowLength > data.length) this.giveBackStream(stream, flowLength - data.length);
    stream.receiveData(data, endStream);
  }

  /** The connection window is given back as DATA arrives: each stream's own window bounds what is held. */
  private giveBackConnection(n: number): void {
    const increment = this.receiveWindow.consume(n);
    if (increment > 0) {
      this.writer.windowUpdate(0, increment);
      this.scheduleFlush();
    }
  }

  /** `n` octets of the stream's request body were consumed: WINDOW_UPDATE once half the window is. */
  giveBackStream(stream: H2Stream, n: number): void {
    if (stream.remoteDone) return;
    const increment = stream.receiveWindow.consume(n);
    if (increment > 0) {
      this.writer.windowUpdate(stream.id, increment);
      this.scheduleFlush();
    }
  }

  // ------------------------------------------------------------------ streams

  /** A stream that never became a Downstream: RST_STREAM `code` (its header block was decoded). */
  private refuse(streamId: number, code: number): void {
    this.writer.rstStream(streamId, code);
    this.controlFrame();
  }

  /** Ends a stream with RST_STREAM `code`: a stream error, or the response abandoned. */
  resetStream(stream: H2Stream, code: number): void {
    if (!this.streams.has(stream.id)) return;
    this.forget(stream);
    this.writer.rstStream(stream.id, code);
    this.controlFrame();
    stream.resetLocally();
  }

  /** The stream is closed: both sides ended, or reset. */
  forget(stream: H2Stream): void {
    if (!this.streams.delete(stream.id)) return;
    if (this.blocked.size > 0) this.blocked.delete(stream);
    if (this.waiting.size > 0) this.waiting.delete(stream);
    if (this.heads.size > 0) this.heads.delete(stream);
    this.idle?.touch();
    this.closeIfDone();
  }

  /** A stream has response frames for the writer: they leave this turn. */
  scheduleFlush(): void {
    if (this.flushScheduled || this.closed) return;
    this.flushScheduled = true;
    setImmediate(this.flush);
  }

  /** Response headers to send at the end of this turn unless the body or the end takes them first. */
  holdHead(stream: H2Stream): void {
    this.heads.add(stream);
    this.scheduleFlush();
  }

  /** A stream's output is held by a window: sent when WINDOW_UPDATE comes. */
  block(stream: H2Stream): void {
    this.blocked.add(stream);
  }

  /** A stream's write() returned false: onDownstreamDrain once it can take more. */
  wait(stream: H2Stream): void {
    this.waiting.add(stream);
  }

  /** Sends what the windows allow of the blocked streams' output. */
  private pump(): void {
    for (const stream of this.blocked) {
      if (this.connectionSendWindow.size <= 0) break;
      this.blocked.delete(stream);
      stream.sendPending();
    }
    this.scheduleFlush();
    this.notifyWaiting();
  }

  private notifyWaiting(): void {
    if (this.waiting.size === 0 || this.socket.writableNeedDrain) return;
    for (const stream of this.waiting) {
      if (!stream.canTakeMore) continue;
      this.waiting.delete(stream);
      stream.drained();
    }
  }

  private readonly onSocketDrain = (): void => {
    this.outboundFrames = 0;
    this.outboundControlFrames = 0;
    this.notifyWaiting();
  };

  /** The socket cannot take more now: streams hold their writes. */
  get congested(): boolean {
    return this.socket.writableNeedDrain;
  }

  private controlFrame(): void {
    this.controlFramesThisTurn++;
    this.scheduleFlush();
  }

  /** The frames of this turn leave in one corked write; Envoy's outbound limits count what the socket has not taken. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.socket.destroyed) return;
    if (this.heads.size > 0) {
      for (const stream of this.heads) stream.sendHead(false);
      this.heads.clear();
    }
    const frames = this.writer.queuedFrames;
    const control = this.controlFramesThisTurn;
    this.controlFramesThisTurn = 0;
    const out = this.writer.take();
    if (out.length === 0) return;
    const s = this.socket;
    // what earlier turns wrote has left (a TLS socket may hold some past the write): count afresh
    if (s.writableLength === 0) {
      this.outboundFrames = 0;
      this.outboundControlFrames = 0;
    }
    s.cork();
    for (const b of out) s.write(b);
    s.uncork();
    if (s.writableLength === 0) {
      this.outboundFrames = 0;
      this.outboundControlFrames = 0;
    } else {
      this.outboundFrames += frames;
      this.outboundControlFrames += control;
      if (this.outboundControlFrames > MAX_OUTBOUND_CONTROL_FRAMES || this.outboundFrames > MAX_OUTBOUND_FRAMES) this.cutOff();
    }
    if (this.goawaySent && this.streams.size === 0) this.endSocket();
  };

  // ------------------------------------------------------------------ connection lifetime

  private draining = false;

  private watchIdle(): void {
    this.idle = new IdleWatch(this.options.idleTimeoutMs, () => {
      if (this.closed) return;
      if (this.streams.size === 0) this.drain();
      else this.watchIdle(); // a stream in progress has its own timeouts: look again later
    });
  }

  /** An abusive client: GOAWAY ENHANCE_YOUR_CALM, then the connection is closed. */
  private cutOff(): void {
    this.fail(H2_ENHANCE_YOUR_CALM, 'flood');
  }

  /** A connection error: GOAWAY `code`, written at once, then the connection closed. */
  private fail(code: number, _detail: string): void {
    if (this.closed) return;
    this.writer.goaway(this.lastStreamId, code);
    this.goawaySent = true;
    const out = this.writer.take();
    const s = this.socket;
    if (!s.destroyed) {
      s.cork();
      for (const b of out) s.write(b);
      s.uncork();
      s.end();
    }
    this.closed = true;
    // the streams go at once; the socket after Envoy's delayed close timeout: closed at once with
    // the client's frames unread, the kernel resets the connection and drops what it had not sent
    // yet, the GOAWAY included (seen under load)
    for (const stream of this.streams.list()) {
      this.forget(stream);
      stream.resetByPeer();
    }
    // nothing more is read: a client still writing meets backpressure, and the close after the
    // delay resets it (what it sent is unread), so it learns of the close even if it never reads
    s.pause();
    const timer = setTimeout(() => s.destroy(), DELAYED_CLOSE_MS);
    s.once('close', () => clearTimeout(timer));
  }

  /** Drain: GOAWAY NO_ERROR, the streams in progress finish, then the connection closes. */
  drain(): void {
    if (this.closed || this.goawaySent) return;
    this.goawaySent = true;
    this.draining = true;
    this.writer.goaway(this.lastStreamId, H2_NO_ERROR);
    this.scheduleFlush();
  }

  private closeIfDone(): void {
    if (this.streams.size === 0 && (this.goawaySent || this.draining)) {
      if (!this.goawaySent) this.drain();
      this.scheduleFlush(); // flush() ends the socket once the GOAWAY is out
    }
  }

  private endSocket(): void {
    const s = this.socket;
    if (s.writableEnded) return;
    s.end();
    s.once('finish', () => s.destroy());
  }

  private onClose(): void {
    if (this.closed && this.streams.size === 0 && this.closeReported) return;
    this.closed = true;
    this.idle?.stop();
    for (const stream of this.streams.list()) {
      this.forget(stream);
      stream.resetByPeer();
    }
    if (!this.closeReported) {
      this.closeReported = true;
      this.onClosed?.(this);
    }
  }

  private closeReported = false;

  get isClosed(): boolean {
    return this.closed;
  }
}
