/**
 * The HTTP/2 frame reader of one connection (RFC 9113 §4–§6): fed the bytes as they arrive, in any
 * split, it checks everything a frame must be on its own and hands each one to a handler object.
 * What depends on stream state (§5.1), flow control (./flow-control.ts) and HPACK is the
 * connection's. A violation the RFC makes a connection error is thrown from feed() as an
 * Http2ConnectionError, and the reader stays failed; a stream error goes to
 * handler.onStreamError and reading goes on.
 *
 * Payloads handed out are views of the fed buffers (no copy): a caller keeping one past the call
 * must not reuse the buffer it fed, which a socket's reads never are.
 */
import { H2_FRAME_SIZE_ERROR, H2_PROTOCOL_ERROR } from '../error-codes.js';
import { CLIENT_PREFACE, DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LENGTH, FrameFlag, FrameType, PING_LENGTH, SETTING_LENGTH } from './constants.js';
import { Http2ConnectionError, Http2StreamError } from './errors.js';
import { HeaderBlockAssembler } from './header-block.js';
import { checkSetting, isKnownSetting } from './settings.js';

/** What the reader hands frames to: one method per frame type, called in the order of the bytes. */
export interface FrameHandler {
  /**
   * `data` without padding; `flowLength`: the whole payload, padding included, which is what
   * flow control counts (§6.9.1).
   */
  onData(streamId: number, data: Buffer, endStream: boolean, flowLength: number): void;
  /** A whole header block: HEADERS and its CONTINUATIONs. Priority fields are checked, not passed (RFC 9113 deprecates them). */
  onHeaders(streamId: number, block: Buffer, endStream: boolean): void;
  onPriority(streamId: number, dependency: number, weight: number, exclusive: boolean): void;
  onRstStream(streamId: number, code: number): void;
  /** Checked known settings as [id, value, ...], in frame order (§6.5.3); unknown ids are left out. */
  onSettings(entries: readonly number[]): void;
  onSettingsAck(): void;
  onPushPromise(streamId: number, promisedStreamId: number, block: Buffer): void;
  /** `opaque`: the 8 octets to echo. */
  onPing(opaque: Buffer, ack: boolean): void;
  onGoaway(lastStreamId: number, code: number, debug: Buffer): void;
  onWindowUpdate(streamId: number, increment: number): void;
  /** A frame that fails only its stream: the connection answers RST_STREAM error.code. */
  onStreamError(error: Http2StreamError): void;
}

export interface FrameReaderOptions {
  /** 'server': the bytes come from a client, which opens with the preface and cannot push. */
  mode: 'server' | 'client';
  /** The SETTINGS_MAX_FRAME_SIZE this end advertises (default 16,384); settable later as maxFrameSize. */
  maxFrameSize?: number;
  /** Most octets one header block may hold across its frames (default 64 KiB). */
  maxHeaderBlockBytes?: number;
  /** Most CONTINUATION frames after one HEADERS or PUSH_PROMISE (default 8, as nghttp2). */
  maxContinuationFrames?: number;
  /** Client mode: this end enabled push, so PUSH_PROMISE is accepted (default false: PROTOCOL_ERROR). */
  pushEnabled?: boolean;
}

const DEFAULT_MAX_HEADER_BLOCK_BYTES = 65_536;
const DEFAULT_MAX_CONTINUATION_FRAMES = 8;
const PRIORITY_LENGTH = 5;
const RST_STREAM_LENGTH = 4;
const WINDOW_UPDATE_LENGTH = 4;
const GOAWAY_MIN_LENGTH = 8;

export class FrameReader {
  /** The SETTINGS_MAX_FRAME_SIZE in force for what the peer sends: ours, once the peer acknowledged it. */
  maxFrameSize: number;
  private readonly server: boolean;
  private readonly pushEnabled: boolean;
  private readonly block: HeaderBlockAssembler;
  /** Bytes of an incomplete preface or frame, kept until `need` of them are in. */
  private parts: Buffer[] = [];
  private partsLength = 0;
  private need = 0;
  private prefaceDone: boolean;
  /** The peer's first frame must be its SETTINGS (§3.4). */
  private settingsDone = false;
  private failure: Http2ConnectionError | undefined;

  constructor(
    private readonly handler: FrameHandler,
    options: FrameReaderOptions,
  ) {
    this.server = options.mode === 'server';
    this.prefaceDone = !this.server;
    this.pushEnabled = !this.server && options.pushEnabled === true;
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.block = new HeaderBlockAssembler(options.maxHeaderBlockBytes ?? DEFAULT_MAX_HEADER_BLOCK_BYTES, options.maxContinuationFrames ?? DEFAULT_MAX_CONTINUATION_FRAMES);
  }

  /** The stream whose header block is still waiting for CONTINUATION frames, or 0. */
  get openHeaderBlockStream(): number {
    return this.block.streamId;
  }

  /** Reads `chunk`: every whole frame in it is handled before this returns; the rest waits for more. */
  feed(chunk: Buffer): void {
    if (this.failure) throw this.failure;
    try {
      this.read(chunk);
    } catch (err) {
      if (err instanceof Http2ConnectionError) this.failure = err;
      throw err;
    }
  }

  private read(chunk: Buffer): void {
    if (this.partsLength > 0) {
      this.parts.push(chunk);
      this.partsLength += chunk.length;
      if (this.partsLength < this.need) return;
      chunk = Buffer.concat(this.parts, this.partsLength);
      this.parts = [];
      this.partsLength = 0;
    }
    let pos = 0;
    if (!this.prefaceDone) {
      const n = Math.min(chunk.length, CLIENT_PREFACE.length);
      if (chunk.compare(CLIENT_PREFACE, 0, n, 0, n) !== 0) throw new Http2ConnectionError(H2_PROTOCOL_ERROR, 'the connection did not open with the client preface');
      if (n < CLIENT_PREFACE.length) return this.keep(chunk, 0, CLIENT_PREFACE.length);
      this.prefaceDone = true;
      pos = n;
    }
    const end = chunk.length;
    while (end - pos >= FRAME_HEADER_LENGTH) {
      const length = (chunk[pos] << 16) | (chunk[pos + 1] << 8) | chunk[pos + 2];
      // refused on the header alone: a hostile length is never buffered (§4.2)
      if (length > this.maxFrameSize) throw new Http2ConnectionError(H2_FRAME_SIZE_ERROR, `frame of ${length} octets over SETTINGS_MAX_FRAME_SIZE ${this.maxFrameSize}`);
      const next = pos + FRAME_HEADER_LENGTH + length;
      if (next > end) return this.keep(chunk, pos, FRAME_HEADER_LENGTH + length);
      this.frame(chunk, pos, length);
      pos = next;
    }
    if (pos < end) this.keep(chunk, pos, FRAME_HEADER_LENGTH);
  }

  private keep(chunk: Buffer, from: number, need: number): void {
    this.parts = [from === 0 ? chunk : chunk.subarray(from)];
    this.partsLength = chunk.length - from;
    this.need = need;
  }

  private frame(buf: Buffer, pos: number, length: number): void {
    const type = buf[pos + 3];
    const flags = buf[pos + 4];
    const streamId = buf.readUInt32BE(pos + 5) & 0x7fff_ffff;
    const start = pos + FRAME_HEADER_LENGTH;
    const end = start + length;
    if (!this.settingsDone) {
      if (type !== FrameType.SETTINGS || flags & FrameFlag.ACK) throw new Http2ConnectionError(H2_PROTOCOL_ERROR, `the peer's first frame is type ${type}, not SETTINGS`);
      this.settingsDone = true;
    }
    if (this.block.streamId !== 0 && (type !== FrameType.CONTINUATION || streamId !== this.block.streamId)) {
      throw new Http2ConnectionError(H2_PROTOCOL_ERROR, `frame type ${type} on stream ${streamId} inside the header block of stream ${this.block.streamId}`);
    }
    switch (type) {
      case FrameType.DATA: return this.data(buf, start, end, flags, streamId);
      case FrameType.HEADERS: return this.headers(buf, start, end, flags, streamId);
      case FrameType.PRIORITY: return this.priority(buf, start, length, streamId);
      case FrameType.RST_STREAM:
        requireStream(type, streamId);
        if (length !== RST_STREAM_LENGTH) throw new Http2ConnectionError(H2_FRAME_SIZE_ERROR, `RST_STREAM of ${length} octets, not 4`);
        return this.handler.onRstStream(streamId, buf.readUInt32BE(start));
      case FrameType.SETTINGS: return this.settings(buf, start, end, flags, streamId);
      case FrameType.PUSH_PROMISE: return this.pushPromise(buf, start, end, flags, streamId);
      case FrameType.PING:
        requireConnection(type, streamId);
        if (length !== PING_LENGTH) throw new Http2ConnectionError(H2_FRAME_SIZE_ERROR, `PING of ${length} octets, not 8`);
        return this.handler.onPing(buf.subarray(start, end), (flags & FrameFlag.ACK) !== 0);
      case FrameType.GOAWAY:
        requireConnection(type, streamId);
        if (length < GOAWAY_MIN_LENGTH) throw new Http2ConnectionError(H2_FRAME_SIZE_ERROR, `GOAWAY of ${length} octets, under 8`);
        return this.handler.onGoaway(buf.readUInt32BE(start) & 0x7fff_ffff, buf.readUInt32BE(start + 4), buf.subarray(start + 8, end));
      case FrameType.WINDOW_UPDATE: return this.windowUpdate(buf, start, length, streamId);
      case FrameType.CONTINUATION: return this.continuation(buf, start, end, flags, streamId);
      default:
        return; // unknown types are ignored (§4.1, §5.5)
    }
  }

  private data(buf: Buffer, start: number, end: number, flags: number, streamId: number): void {
    requireStream(FrameType.DATA, streamId);
    const dataStart = flags & FrameFlag.PADDED ? start + 1 : start;
    const dataEnd = unpaddedEnd(buf, start, end, flags, dataStart, FrameType.DATA);
    this.handler.onData(streamId, buf.subarray(dataStart, dataEnd), (flags & FrameFlag.END_STREAM) !== 0, end - start);
  }

  private headers(buf: Buffer, start: number, end: number, flags: number, streamId: number): void {
    requireStream(FrameType.HEADERS, streamId);
    let blockStart = flags & FrameFlag.PADDED ? start + 1 : start;
    if (flags & FrameFlag.PRIORITY) {
      blockStart += PRIORITY_LENGTH;
      if (blockStart <= end && (buf.readUInt32BE(blockStart - PRIORITY_LENGTH) & 0x7fff_ffff) === streamId) {
        // a stream error by the RFC, but the block must still be decoded to keep HPACK in step:
        // nghttp2 (Envoy's codec) ends the connection instead, and so does this reader
        throw new Http2ConnectionError(H2_PROTOCOL_ERROR, `HEADERS on stream ${streamId} depends on itself`);
      }
    }
    const blockEnd = unpaddedEnd(buf, start, end, flags, blockStart, FrameType.HEADERS);
    this.headerBlock(FrameType.HEADERS, streamId, buf.subarray(blockStart, blockEnd), flags, 0);
  }

  private pushPromise(buf: Buffer, start: number, end: number, flags: number, streamId: number): void {
    if (!this.pushEnabled) throw new Http2ConnectionError(H2_PROTOCOL_ERROR, this.server ? 'a client sent PUSH_PROMISE' : 'PUSH_PROMISE with push disabled');
    requireStream(FrameType.PUSH_PROMISE, streamId);
    const promisedAt = flags & FrameFlag.PADDED ? start + 1 : start;
    const blockEnd = unpaddedEnd(buf, start, end, flags, promisedAt + 4, FrameType.PUSH_PROMISE);
    const promised = buf.readUInt32BE(promisedAt) & 0x7fff_ffff;
    this.headerBlock(FrameType.PUSH_PROMISE, streamId, buf.subarray(promisedAt + 4, blockEnd), flags, promised);
  }

  private headerBlock(type: number, streamId: number, fragment: Buffer, flags: number, promised: number): void {
    const endStream = (flags & FrameFlag.END_STREAM) !== 0;
    if (!(flags & FrameFlag.END_HEADERS)) return this.block.open(type, streamId, fragment, endStream, promised);
    this.block.checkWhole(streamId, fragment);
    if (type === FrameType.HEADERS) this.handler.onHeaders(streamId, fragment, endStream);
    else this.handler.onPushPromise(streamId, promised, fragment);
  }

  private continuation(buf: Buffer, start: number, end: number, flags: number, streamId: number): void {
    requireStream(FrameType.CONTINUATION, streamId);
    const block = this.block;
    block.continue(streamId, buf.subarray(start, end));
    if (!(flags & FrameFlag.END_HEADERS)) return;
    const { type, endStream, promisedStreamId } = block;
    const whole = block.take();
    if (type === FrameType.HEADERS) this.handler.onHeaders(streamId, whole, endStream);
    else this.handler.onPushPromise(streamId, promisedStreamId, whole);
  }

  private priority(buf: Buffer, start: number, length: number, streamId: number): void {
    requireStream(FrameType.PRIORITY, streamId);
    if (length !== PRIORITY_LENGTH) return this.handler.onStreamError(new Http2StreamError(streamId, H2_FRAME_SIZE_ERROR, `PRIORITY of ${length} octets, not 5`));
    const word = buf.readUInt32BE(start);
    const dependency = word & 0x7fff_ffff;
    if (dependency === streamId) return this.handler.onStreamError(new Http2StreamError(streamId, H2_PROTOCOL_ERROR, 'PRIORITY: the stream depends on itself'));
    this.handler.onPriority(streamId, dependency, buf[start + 4] + 1, (word & 0x8000_0000) !== 0);
  }

  private settings(buf: Buffer, start: number, end: number, flags: number, streamId: number): void {
    requireConnection(FrameType.SETTINGS, streamId);
    const length = end - start;
    if (flags & FrameFlag.ACK) {
      if (length !== 0) throw new Http2ConnectionError(H2_FRAME_SIZE_ERROR, `SETTINGS ACK with ${length} octets of payload`);
      return this.handler.onSettingsAck();
    }
    if (length % SETTING_LENGTH !== 0) throw new Http2ConnectionError(H2_FRAME_SIZE_ERROR, `SETTINGS of ${length} octets, not a multiple of 6`);
    const entries: number[] = [];
    for (let at = start; at < end; at += SETTING_LENGTH) {
      const id = buf.readUInt16BE(at);
      if (!isKnownSetting(id)) continue;
      const value = buf.readUInt32BE(at + 2);
      checkSetting(id, value, !this.server);
      entries.push(id, value);
    }
    this.handler.onSettings(entries);
  }

  private windowUpdate(buf: Buffer, start: number, length: number, streamId: number): void {
    if (length !== WINDOW_UPDATE_LENGTH) throw new Http2ConnectionError(H2_FRAME_SIZE_ERROR, `WINDOW_UPDATE of ${length} octets, not 4`);
    const increment = buf.readUInt32BE(start) & 0x7fff_ffff;
    if (increment === 0) {
      if (streamId === 0) throw new Http2ConnectionError(H2_PROTOCOL_ERROR, 'WINDOW_UPDATE of 0 on the connection');
      return this.handler.onStreamError(new Http2StreamError(streamId, H2_PROTOCOL_ERROR, 'WINDOW_UPDATE of 0'));
    }
    this.handler.onWindowUpdate(streamId, increment);
  }
}

const TYPE_NAMES = ['DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS', 'PUSH_PROMISE', 'PING', 'GOAWAY', 'WINDOW_UPDATE', 'CONTINUATION'];

/** Frames that belong to a stream must name one (§6). */
function requireStream(type: number, streamId: number): void {
  if (streamId === 0) throw new Http2ConnectionError(H2_PROTOCOL_ERROR, `${TYPE_NAMES[type]} on stream 0`);
}

/** Frames about the whole connection must be on stream 0 (§6). */
function requireConnection(type: number, streamId: number): void {
  if (streamId !== 0) throw new Http2ConnectionError(H2_PROTOCOL_ERROR, `${TYPE_NAMES[type]} on stream ${streamId}, not 0`);
}

/**
 * Where the content of a PADDED frame ends (`end` when it is not padded): the fields before
 * `contentStart` must fit (FRAME_SIZE_ERROR), and the padding must leave room for them
 * (PROTOCOL_ERROR, §6.1, §6.2, §6.6).
 */
function unpaddedEnd(buf: Buffer, start: number, end: number, flags: number, contentStart: number, type: number): number {
  if (contentStart > end) throw new Http2ConnectionError(H2_FRAME_SIZE_ERROR, `${TYPE_NAMES[type]} of ${end - start} octets, too short for its fields`);
  if (!(flags & FrameFlag.PADDED)) return end;
  const padLength = buf[start];
  if (padLength > end - contentStart) throw new Http2ConnectionError(H2_PROTOCOL_ERROR, `${TYPE_NAMES[type]} padding of ${padLength} octets, longer than its payload`);
  return end - padLength;
}
