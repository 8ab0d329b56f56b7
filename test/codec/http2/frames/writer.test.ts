// The frame writer: every frame type read back by the FrameReader, DATA and header blocks split
// at the peer's SETTINGS_MAX_FRAME_SIZE, and the output gathered into few Buffers per turn.
import { describe, expect, it } from 'vitest';
import { H2_CANCEL, H2_ENHANCE_YOUR_CALM, H2_NO_ERROR } from '../../../../src/codec/http2/error-codes.js';
import { CLIENT_PREFACE, FrameFlag, FrameType, SettingId } from '../../../../src/codec/http2/frames/constants.js';
import { FrameWriter } from '../../../../src/codec/http2/frames/writer.js';
import { hex, read, type FrameEvent } from './frame-test-helpers.js';

/** What a reader in `mode` makes of everything the writer queued. */
function readBack(writer: FrameWriter, options: Parameters<typeof read>[1] = {}): FrameEvent[] {
  const r = read(Buffer.concat(writer.take()), { maxFrameSize: writer.maxFrameSize, ...options });
  expect(r.error).toBeUndefined();
  return r.events;
}

/** Frame headers in `bytes`: [type, flags, stream, length]. */
function headersOf(bytes: Buffer): number[][] {
  const out: number[][] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = bytes.readUIntBE(at, 3);
    out.push([bytes[at + 3], bytes[at + 4], bytes.readUInt32BE(at + 5), length]);
    at += 9 + length;
  }
  return out;
}

describe('round trips', () => {
  it('every frame type, read back as written', () => {
    const w = new FrameWriter();
    w.settings([SettingId.MAX_CONCURRENT_STREAMS, 100, SettingId.INITIAL_WINDOW_SIZE, 2 ** 31 - 1, SettingId.ENABLE_PUSH, 0]);
    w.settingsAck();
    w.windowUpdate(0, 2 ** 31 - 1);
    w.headers(1, hex('828684'), false);
    w.data(1, Buffer.from('hello'), true);
    w.priority(3, 1, 256, true);
    w.priority(5, 0, 1, false);
    w.pushPromise(1, 2, hex('8287'));
    w.ping(hex('0102030405060708'), false);
    w.ping(hex('0102030405060708'), true);
    w.rstStream(3, H2_CANCEL);
    w.goaway(7, H2_ENHANCE_YOUR_CALM, Buffer.from('calm'));
    w.goaway(0, H2_NO_ERROR);
    expect(readBack(w, { pushEnabled: true })).toEqual([
      ['settings', [SettingId.MAX_CONCURRENT_STREAMS, 100, SettingId.INITIAL_WINDOW_SIZE, 2 ** 31 - 1, SettingId.ENABLE_PUSH, 0]],
      ['settings-ack'],
      ['window', 0, 2 ** 31 - 1],
      ['headers', 1, '828684', false],
      ['data', 1, Buffer.from('hello').toString('hex'), true, 5],
      ['priority', 3, 1, 256, true],
      ['priority', 5, 0, 1, false],
      ['push', 1, 2, '8287'],
      ['ping', '0102030405060708', false],
      ['ping', '0102030405060708', true],
      ['rst', 3, H2_CANCEL],
      ['goaway', 7, H2_ENHANCE_YOUR_CALM, 'calm'],
      ['goaway', 0, H2_NO_ERROR, ''],
    ]);
  });

  it('the client preface, read by a server-mode reader', () => {
    const w = new FrameWriter();
    w.clientPreface();
    w.settings([]);
    const bytes = Buffer.concat(w.take());
    expect(bytes.subarray(0, 24)).toEqual(CLIENT_PREFACE);
    expect(read(bytes, { mode: 'server' }).events).toEqual([['settings', []]]);
  });

  it('a GOAWAY with a large debug payload', () => {
    const w = new FrameWriter();
    w.settings([]);
    w.goaway(9, H2_NO_ERROR, Buffer.alloc(5_000, 0x61));
    expect(readBack(w)[1]).toEqual(['goaway', 9, H2_NO_ERROR, 'a'.repeat(5_000)]);
  });

  it('a PING payload must be 8 octets', () => {
    expect(() => new FrameWriter().ping(Buffer.alloc(4), false)).toThrow(RangeError);
  });
});

describe('splitting at the peer SETTINGS_MAX_FRAME_SIZE', () => {
  it('DATA: frames of maxFrameSize, END_STREAM on the last only', () => {
    const w = new FrameWriter();
    const body = Buffer.alloc(40_000);
    for (let i = 0; i < body.length; i++) body[i] = i & 0xff;
    w.data(1, body, true);
    const bytes = Buffer.concat(w.take());
    expect(headersOf(bytes)).toEqual([
      [FrameType.DATA, 0, 1, 16_384],
      [FrameType.DATA, 0, 1, 16_384],
      [FrameType.DATA, FrameFlag.END_STREAM, 1, 7_232],
    ]);
    const events = read(Buffer.concat([hex('000000040000000000'), bytes])).events.slice(1);
    expect(Buffer.from(events.map((e) => e[2] as string).join(''), 'hex')).toEqual(body);
  });

  it('an empty DATA frame with END_STREAM', () => {
    const w = new FrameWriter();
    w.data(3, Buffer.alloc(0), true);
    expect(headersOf(Buffer.concat(w.take()))).toEqual([[FrameType.DATA, FrameFlag.END_STREAM, 3, 0]]);
  });

  it('a raised maxFrameSize gives bigger frames', () => {
    const w = new FrameWriter();
    w.maxFrameSize = 32_768;
    w.data(1, Buffer.alloc(40_000), false);
    expect(headersOf(Buffer.concat(w.take())).map((h) => h[3])).toEqual([32_768, 7_232]);
  });

  it('HEADERS: a block over maxFrameSize goes on in CONTINUATIONs, END_HEADERS on the last, END_STREAM on HEADERS', () => {
    const w = new FrameWriter();
    const block = Buffer.alloc(35_000, 0x82);
    w.settings([]);
    w.headers(5, block, true);
    const bytes = Buffer.concat(w.take());
    expect(headersOf(bytes)).toEqual([
      [FrameType.SETTINGS, 0, 0, 0],
      [FrameType.HEADERS, FrameFlag.END_STREAM, 5, 16_384],
      [FrameType.CONTINUATION, 0, 5, 16_384],
      [FrameType.CONTINUATION, FrameFlag.END_HEADERS, 5, 2_232],
    ]);
    expect(read(bytes).events[1]).toEqual(['headers', 5, block.toString('hex'), true]);
  });

  it('PUSH_PROMISE: its promised stream id counts in the first frame', () => {
    const w = new FrameWriter();
    w.settings([]);
    w.pushPromise(1, 2, Buffer.alloc(16_384, 0x82));
    const bytes = Buffer.concat(w.take());
    expect(headersOf(bytes).slice(1)).toEqual([
      [FrameType.PUSH_PROMISE, 0, 1, 16_384],
      [FrameType.CONTINUATION, FrameFlag.END_HEADERS, 1, 4],
    ]);
    expect(read(bytes, { pushEnabled: true }).events[1]).toEqual(['push', 1, 2, '82'.repeat(16_384)]);
  });
});

describe('the output queue', () => {
  it('a turn of control frames and a small response leaves as one Buffer', () => {
    const w = new FrameWriter();
    w.settingsAck();
    w.windowUpdate(0, 1_000);
    w.headers(1, hex('88'), false);
    w.data(1, Buffer.from('ok'), true);
    expect(w.queuedFrames).toBe(4);
    expect(w.queuedBytes).toBe(9 + 13 + 10 + 11);
    const out = w.take();
    expect(out).toHaveLength(1);
    expect(w.queuedFrames).toBe(0);
    expect(w.take()).toEqual([]);
  });

  it('a large DATA payload is passed by reference, between slab chunks', () => {
    const w = new FrameWriter();
    const body = Buffer.alloc(4_000, 1);
    w.headers(1, hex('88'), false);
    w.data(1, body, true);
    w.ping(Buffer.alloc(8), true);
    const out = w.take();
    expect(out).toHaveLength(3);
    expect(out[1]).toBe(body);
    expect(out[0].length).toBe(9 + 1 + 9);
  });

  it('what take() handed out is never written over by later frames', () => {
    const w = new FrameWriter();
    const turns: Buffer[][] = [];
    const copies: Buffer[] = [];
    // enough turns to fill several slabs
    for (let i = 0; i < 3_000; i++) {
      w.windowUpdate(1, i + 1);
      const out = w.take();
      turns.push(out);
      copies.push(Buffer.from(Buffer.concat(out)));
    }
    turns.forEach((out, i) => expect(Buffer.concat(out)).toEqual(copies[i]));
    expect(read(Buffer.concat([hex('000000040000000000'), ...copies])).events.at(-1)).toEqual(['window', 1, 3_000]);
  });

  it('a frame bigger than the slab still goes out whole', () => {
    const w = new FrameWriter();
    w.settings(Array.from({ length: 6_000 }, (_, i) => (i % 2 === 0 ? SettingId.MAX_CONCURRENT_STREAMS : i)));
    const r = read(Buffer.concat(w.take()), { maxFrameSize: 20_000 });
    expect(r.error).toBeUndefined();
    expect((r.events[0] as ['settings', number[]])[1]).toHaveLength(6_000);
  });
});
