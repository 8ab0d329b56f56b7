/**
 * One header block being received: a HEADERS or PUSH_PROMISE frame without END_HEADERS, then
 * CONTINUATION frames of the same stream up to the one with END_HEADERS (RFC 9113 §4.3, §6.10).
 * Bounded in octets and in frames, so neither a huge block nor an endless run of empty
 * CONTINUATIONs (CVE-2024-27316) makes the reader hold or loop on more than the caller allows.
 */
import { H2_PROTOCOL_ERROR } from '../error-codes.js';
import { FrameType } from './constants.js';
import { HeaderBlockLimitError, Http2ConnectionError } from './errors.js';

export class HeaderBlockAssembler {
  /** The stream whose block is open, or 0 when none is. */
  streamId = 0;
  /** HEADERS or PUSH_PROMISE: the frame that opened the block. */
  type: number = FrameType.HEADERS;
  /** The opening HEADERS had END_STREAM. */
  endStream = false;
  /** PUSH_PROMISE's promised stream. */
  promisedStreamId = 0;
  private fragments: Buffer[] = [];
  private bytes = 0;
  private continuations = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly maxContinuations: number,
  ) {}

  /** Checks a fragment that is a whole block (END_HEADERS on the opening frame) against the octet bound. */
  checkWhole(streamId: number, fragment: Buffer): void {
    if (fragment.length > this.maxBytes) throw new HeaderBlockLimitError('block-bytes', streamId, this.maxBytes);
  }

  /** Opens a block with the first fragment (copied: the frame's buffer is the reader's). */
  open(type: number, streamId: number, fragment: Buffer, endStream: boolean, promisedStreamId: number): void {
    this.checkWhole(streamId, fragment);
    this.type = type;
    this.streamId = streamId;
    this.endStream = endStream;
    this.promisedStreamId = promisedStreamId;
    this.fragments = fragment.length > 0 ? [Buffer.from(fragment)] : [];
    this.bytes = fragment.length;
    this.continuations = 0;
  }

  /** Adds a CONTINUATION's fragment; the caller has checked it belongs to the open block. */
  continue(streamId: number, fragment: Buffer): void {
    if (this.streamId === 0) throw new Http2ConnectionError(H2_PROTOCOL_ERROR, `CONTINUATION on stream ${streamId} without an open header block`);
    if (++this.continuations > this.maxContinuations) throw new HeaderBlockLimitError('continuation-frames', streamId, this.maxContinuations);
    this.bytes += fragment.length;
    if (this.bytes > this.maxBytes) throw new HeaderBlockLimitError('block-bytes', streamId, this.maxBytes);
    if (fragment.length > 0) this.fragments.push(Buffer.from(fragment));
  }

  /** The whole block, and the assembler closed for the next one. */
  take(): Buffer {
    const block = this.fragments.length === 1 ? this.fragments[0] : Buffer.concat(this.fragments, this.bytes);
    this.fragments = [];
    this.streamId = 0;
    return block;
  }
}
