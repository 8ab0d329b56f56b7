/**
 * The HTTP/2 frame writer of one connection: appends frames to an output list the connection
 * takes once per turn and writes with one writev (socket.cork, the writes, uncork). Control
 * frames, frame headers and small payloads are written into a shared slab, and frames that land
 * next to each other in it leave as one Buffer; a large DATA payload is passed by reference after
 * its header. DATA is split at the peer's SETTINGS_MAX_FRAME_SIZE and a header block into HEADERS +
 * CONTINUATION frames (RFC 9113 §4.2, §6.10). What is sent when (flow control, stream state) is
 * the caller's.
 */
import { CLIENT_PREFACE, DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER_LENGTH, FrameFlag, FrameType, PING_LENGTH, SETTING_LENGTH } from './constants.js';

/** Slab size: room for a turn's control frames and small responses. */
const SLAB_SIZE = 16_384;
/** Payloads up to this size are copied next to their header rather than referenced. */
const COPY_LIMIT = 1_024;

export class FrameWriter {
  /** The peer's SETTINGS_MAX_FRAME_SIZE: no frame leaves longer. */
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  /** Frames appended since the last take(): what Envoy's outbound frame limits count. */
  queuedFrames = 0;
  /** Octets appended since the last take(). */
  queuedBytes = 0;
  private out: Buffer[] = [];
  private slab = Buffer.allocUnsafe(SLAB_SIZE);
  /** The slab's octets from chunkStart to slabPos are written and not yet in `out`. */
  private chunkStart = 0;
  private slabPos = 0;

  /** The frames appended since the last take(), as Buffers to write in order; the queue is emptied. */
  take(): Buffer[] {
    this.seal();
    const out = this.out;
    this.out = [];
    this.queuedFrames = 0;
    this.queuedBytes = 0;
    return out;
  }

  /** The client's preface (§3.4), before its SETTINGS. */
  clientPreface(): void {
    this.copy(CLIENT_PREFACE, 0, CLIENT_PREFACE.length);
  }

  /** SETTINGS with [id, value, ...] pairs. */
  settings(entries: readonly number[]): void {
    const b = this.frameHeader(FrameType.SETTINGS, 0, 0, (entries.length / 2) * SETTING_LENGTH, (entries.length / 2) * SETTING_LENGTH);
    for (let i = 0; i < entries.length; i += 2) {
      this.slabPos = b.writeUInt16BE(entries[i], this.slabPos);
      this.slabPos = b.writeUInt32BE(entries[i + 1], this.slabPos);
    }
  }

  settingsAck(): void {
    this.frameHeader(FrameType.SETTINGS, FrameFlag.ACK, 0, 0, 0);
  }

  /** PING with 8 opaque octets (an ACK echoes the peer's). */
  ping(opaque: Buffer, ack: boolean): void {
    if (opaque.length !== PING_LENGTH) throw new RangeError(`PING payload of ${opaque.length} octets, not 8`);
    this.frameHeader(FrameType.PING, ack ? FrameFlag.ACK : 0, 0, PING_LENGTH, PING_LENGTH);
    this.slabPos += opaque.copy(this.slab, this.slabPos);
  }

  goaway(lastStreamId: number, code: number, debug?: Buffer): void {
    const debugLength = debug?.length ?? 0;
    const b = this.frameHeader(FrameType.GOAWAY, 0, 0, 8 + debugLength, 8 + (debugLength <= COPY_LIMIT ? debugLength : 0));
    this.slabPos = b.writeUInt32BE(lastStreamId & 0x7fff_ffff, this.slabPos);
    this.slabPos = b.writeUInt32BE(code, this.slabPos);
    if (debug !== undefined) this.appendPayload(debug, 0, debugLength);
  }

  rstStream(streamId: number, code: number): void {
    const b = this.frameHeader(FrameType.RST_STREAM, 0, streamId, 4, 4);
    this.slabPos = b.writeUInt32BE(code, this.slabPos);
  }

  windowUpdate(streamId: number, increment: number): void {
    const b = this.frameHeader(FrameType.WINDOW_UPDATE, 0, streamId, 4, 4);
    this.slabPos = b.writeUInt32BE(increment, this.slabPos);
  }

  priority(streamId: number, dependency: number, weight: number, exclusive: boolean): void {
    const b = this.frameHeader(FrameType.PRIORITY, 0, streamId, 5, 5);
    this.slabPos = b.writeUInt32BE(((exclusive ? 0x8000_0000 : 0) | dependency) >>> 0, this.slabPos);
    b[this.slabPos++] = weight - 1;
  }

  /** DATA, split into frames of at most maxFrameSize; END_STREAM on the last (an empty body: one empty frame). */
  data(streamId: number, payload: Buffer, endStream: boolean): void {
    const max = this.maxFrameSize;
    let at = 0;
    do {
      const n = Math.min(payload.length - at, max);
      const last = at + n === payload.length;
      this.payloadFrame(FrameType.DATA, last && endStream ? FrameFlag.END_STREAM : 0, streamId, payload, at, n);
      at += n;
    } while (at < payload.length);
  }

  /** A header block: one HEADERS, or HEADERS + CONTINUATIONs when it is longer than maxFrameSize. */
  headers(streamId: number, block: Buffer, endStream: boolean): void {
    this.headerBlock(FrameType.HEADERS, endStream ? FrameFlag.END_STREAM : 0, streamId, block, undefined);
  }

  pushPromise(streamId: number, promisedStreamId: number, block: Buffer): void {
    const promised = Buffer.allocUnsafe(4);
    promised.writeUInt32BE(promisedStreamId & 0x7fff_ffff, 0);
    this.headerBlock(FrameType.PUSH_PROMISE, 0, streamId, block, promised);
  }

  private headerBlock(type: number, flags: number, streamId: number, block: Buffer, prefix: Buffer | undefined): void {
    const room = this.maxFrameSize - (prefix?.length ?? 0);
    const first = Math.min(block.length, room);
    const whole = first === block.length;
    const firstFlags = flags | (whole ? FrameFlag.END_HEADERS : 0);
    if (prefix === undefined) this.payloadFrame(type, firstFlags, streamId, block, 0, first);
    else {
      this.frameHeader(type, firstFlags, streamId, prefix.length + first, prefix.length + (first <= COPY_LIMIT ? first : 0));
      this.slabPos += prefix.copy(this.slab, this.slabPos);
      this.appendPayload(block, 0, first);
    }
    for (let at = first; at < block.length; ) {
      const n = Math.min(block.length - at, this.maxFrameSize);
      this.payloadFrame(FrameType.CONTINUATION, at + n === block.length ? FrameFlag.END_HEADERS : 0, streamId, block, at, n);
      at += n;
    }
  }

  private payloadFrame(type: number, flags: number, streamId: number, payload: Buffer, from: number, length: number): void {
    this.frameHeader(type, flags, streamId, length, length <= COPY_LIMIT ? length : 0);
    this.appendPayload(payload, from, length);
  }

  private appendPayload(payload: Buffer, from: number, length: number): void {
    if (length === 0) return;
    if (length <= COPY_LIMIT) this.slabPos += payload.copy(this.slab, this.slabPos, from, from + length);
    else this.reference(from === 0 && length === payload.length ? payload : payload.subarray(from, from + length));
  }

  /**
   * Writes a frame header into the slab, with room after it for the `inline` payload octets the
   * caller copies in next; returns the slab to write them into at slabPos.
   */
  private frameHeader(type: number, flags: number, streamId: number, length: number, inline: number): Buffer {
    const room = FRAME_HEADER_LENGTH + inline;
    if (this.slab.length - this.slabPos < room) this.newSlab(room);
    const b = this.slab;
    let p = this.slabPos;
    b[p++] = length >>> 16;
    b[p++] = (length >>> 8) & 0xff;
    b[p++] = length & 0xff;
    b[p++] = type;
    b[p++] = flags;
    b.writeUInt32BE(streamId & 0x7fff_ffff, p);
    this.slabPos = p + 4;
    this.queuedFrames++;
    this.queuedBytes += FRAME_HEADER_LENGTH + length;
    return b;
  }

  private copy(src: Buffer, from: number, to: number): void {
    const n = to - from;
    if (this.slab.length - this.slabPos < n) this.newSlab(n);
    this.slabPos += src.copy(this.slab, this.slabPos, from, to);
    this.queuedBytes += n;
  }

  /** A Buffer sent as it is, after what the slab holds so far. */
  private reference(buf: Buffer): void {
    this.seal();
    this.out.push(buf);
  }

  /** What the slab holds since the last chunk goes out as one chunk (a view: the slab is never written twice). */
  private seal(): void {
    if (this.slabPos > this.chunkStart) this.out.push(this.slab.subarray(this.chunkStart, this.slabPos));
    this.chunkStart = this.slabPos;
  }

  private newSlab(min: number): void {
    this.seal();
    this.slab = Buffer.allocUnsafe(Math.max(SLAB_SIZE, min));
    this.slabPos = 0;
    this.chunkStart = 0;
  }
}
