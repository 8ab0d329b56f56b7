// Hostile bytes against the HTTP/2 frame layer (src/codec/http2/frames): each is refused with the
// RFC 9113 error and kind a connection must answer, before the reader holds or loops on more than
// its bounds. (test/hardening/http2-frames.test.ts covers the node:http2 path of the running proxy.)
import { describe, expect, it } from 'vitest';
import { H2_ENHANCE_YOUR_CALM, H2_FLOW_CONTROL_ERROR, H2_FRAME_SIZE_ERROR, H2_PROTOCOL_ERROR } from '../../src/codec/http2/error-codes.js';
import { CLIENT_PREFACE, FrameFlag, FrameType, MAX_WINDOW_SIZE } from '../../src/codec/http2/frames/constants.js';
import { HeaderBlockLimitError, Http2ConnectionError, Http2StreamError } from '../../src/codec/http2/frames/errors.js';
import { ReceiveWindow, SendWindow } from '../../src/codec/http2/frames/flow-control.js';
import { FrameReader } from '../../src/codec/http2/frames/reader.js';
import { expectConnectionError, frame, hex, read, Recorder } from '../codec/http2/frames/frame-test-helpers.js';

const { DATA, HEADERS, SETTINGS, CONTINUATION, WINDOW_UPDATE, PUSH_PROMISE } = FrameType;
const { END_HEADERS, PADDED, END_STREAM } = FrameFlag;
const OPENING = Buffer.concat([CLIENT_PREFACE, frame(SETTINGS, 0, 0)]);
const server = { mode: 'server' } as const;
const u32 = (v: number): Buffer => hex(v.toString(16).padStart(8, '0'));

describe('oversized length fields', () => {
  it('a 2^24-1 length is refused on its 9-octet header, before any payload arrives', () => {
    const reader = new FrameReader(new Recorder(), server);
    reader.feed(OPENING);
    expect(() => reader.feed(hex('ffffff 00 00 00000001'))).toThrow(Http2ConnectionError);
  });
  it('the same header sent one octet at a time is refused on its ninth octet', () => {
    const bytes = Buffer.concat([OPENING, hex('ffffff 00 00 00000001')]);
    const r = read(bytes, server, new Array<number>(bytes.length).fill(1));
    expectConnectionError(r, H2_FRAME_SIZE_ERROR);
  });
  it('a SETTINGS frame one octet over the limit, before the peer knows any other', () => {
    expectConnectionError(read(Buffer.concat([CLIENT_PREFACE, frame(SETTINGS, 0, 0, Buffer.alloc(16_386))]), server), H2_FRAME_SIZE_ERROR);
  });
});

describe('CONTINUATION floods (CVE-2024-27316)', () => {
  it('100,000 empty CONTINUATIONs without END_HEADERS in one read: cut off at the 9th, the handler never called', () => {
    const empty = frame(CONTINUATION, 0, 1);
    const bytes = Buffer.concat([OPENING, frame(HEADERS, END_STREAM, 1, hex('82')), Buffer.concat(new Array<Buffer>(100_000).fill(empty))]);
    const r = read(bytes, server);
    const err = expectConnectionError(r, H2_ENHANCE_YOUR_CALM) as HeaderBlockLimitError;
    expect(err.limit).toBe('continuation-frames');
    expect(err.max).toBe(8);
    expect(r.events).toEqual([['settings', []]]);
  });
  it('a header block that never ends, in full frames: cut off at the octet limit, not after gigabytes', () => {
    const reader = new FrameReader(new Recorder(), { ...server, maxHeaderBlockBytes: 64 * 1024, maxContinuationFrames: 1_000 });
    reader.feed(Buffer.concat([OPENING, frame(HEADERS, 0, 1, Buffer.alloc(16_384))]));
    const full = frame(CONTINUATION, 0, 1, Buffer.alloc(16_384));
    let fed = 0;
    let error: unknown;
    for (; fed < 1_000 && error === undefined; fed++) {
      try {
        reader.feed(full);
      } catch (err) {
        error = err;
      }
    }
    expect(error).toBeInstanceOf(HeaderBlockLimitError);
    expect((error as HeaderBlockLimitError).limit).toBe('block-bytes');
    expect(fed).toBe(4); // 16 KiB + 3 × 16 KiB = 64 KiB still fits; the 4th CONTINUATION passes it
  });
  it('a block left open then abandoned for another stream', () => {
    expectConnectionError(read(Buffer.concat([OPENING, frame(HEADERS, 0, 1, hex('82')), frame(HEADERS, END_HEADERS, 3, hex('82'))]), server), H2_PROTOCOL_ERROR);
  });
});

describe('padding tricks', () => {
  it('a pad length of 255 in a frame of 255 octets', () => {
    expectConnectionError(read(Buffer.concat([OPENING, frame(DATA, PADDED, 1, Buffer.from([255, ...new Array<number>(254).fill(0)]))]), server), H2_PROTOCOL_ERROR);
  });
  it('the largest valid padding leaves empty data, counted whole by flow control', () => {
    const r = read(Buffer.concat([OPENING, frame(DATA, PADDED, 1, Buffer.from([255, ...new Array<number>(255).fill(0)]))]), server);
    expect(r.error).toBeUndefined();
    expect(r.events[1]).toEqual(['data', 1, '', false, 256]);
  });
  it('PADDED on an empty HEADERS frame', () => {
    expectConnectionError(read(Buffer.concat([OPENING, frame(HEADERS, END_HEADERS | PADDED, 1)]), server), H2_FRAME_SIZE_ERROR);
  });
  it('padding on a CONTINUATION is not a thing: the flag is ignored and the octets are header block', () => {
    const bytes = Buffer.concat([OPENING, frame(HEADERS, 0, 1, hex('82')), frame(CONTINUATION, END_HEADERS | PADDED, 1, hex('0186'))]);
    expect(read(bytes, server).events[1]).toEqual(['headers', 1, '820186', false]);
  });
  it('a PUSH_PROMISE from a client, however padded', () => {
    expectConnectionError(read(Buffer.concat([OPENING, frame(PUSH_PROMISE, END_HEADERS | PADDED, 1, hex('00 00000002'))]), server), H2_PROTOCOL_ERROR);
  });
});

describe('window overflow', () => {
  it('WINDOW_UPDATEs that take the connection window past 2^31-1: connection FLOW_CONTROL_ERROR', () => {
    const window = new SendWindow(0);
    const recorder = new Recorder();
    const reader = new FrameReader(recorder, server);
    recorder.onWindowUpdate = (_streamId, increment) => window.increase(increment);
    reader.feed(OPENING);
    reader.feed(frame(WINDOW_UPDATE, 0, 0, u32(MAX_WINDOW_SIZE - 65_535)));
    expect(window.size).toBe(MAX_WINDOW_SIZE);
    let err: unknown;
    try {
      reader.feed(frame(WINDOW_UPDATE, 0, 0, u32(1)));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(Http2ConnectionError);
    expect((err as Http2ConnectionError).code).toBe(H2_FLOW_CONTROL_ERROR);
  });
  it('a WINDOW_UPDATE of 2^31-1 on a fresh stream: that stream fails, FLOW_CONTROL_ERROR', () => {
    const window = new SendWindow(1);
    expect(() => window.increase(MAX_WINDOW_SIZE)).toThrow(Http2StreamError);
  });
  it('DATA past the receive window, padding included: FLOW_CONTROL_ERROR', () => {
    const connection = new ReceiveWindow(0);
    const recorder = new Recorder();
    recorder.onData = (_s, _d, _e, flowLength) => connection.receive(flowLength);
    const reader = new FrameReader(recorder, server);
    reader.feed(OPENING);
    for (let i = 0; i < 3; i++) reader.feed(frame(DATA, 0, 1, Buffer.alloc(16_384)));
    // 49,152 in; 16,383 left: a frame of 16,383 octets of which 255 are padding still fits, one more octet does not
    reader.feed(frame(DATA, PADDED, 1, Buffer.from([254, ...new Array<number>(16_382).fill(0)])));
    expect(connection.available).toBe(0);
    expect(() => reader.feed(frame(DATA, 0, 1, hex('00')))).toThrow(expect.objectContaining({ code: H2_FLOW_CONTROL_ERROR }));
  });
});
