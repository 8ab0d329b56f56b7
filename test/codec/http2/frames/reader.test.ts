// The frame reader on every frame type, the client preface, any split of the bytes, and each
// check RFC 9113 §4–§6 makes of a single frame, with its error code and kind.
import { describe, expect, it } from 'vitest';
import {
  H2_CANCEL, H2_ENHANCE_YOUR_CALM, H2_FLOW_CONTROL_ERROR, H2_FRAME_SIZE_ERROR, H2_PROTOCOL_ERROR, H2_REFUSED_STREAM,
} from '../../../../src/codec/http2/error-codes.js';
import { CLIENT_PREFACE, FrameFlag, FrameType, SettingId } from '../../../../src/codec/http2/frames/constants.js';
import { HeaderBlockLimitError } from '../../../../src/codec/http2/frames/errors.js';
import { FrameReader } from '../../../../src/codec/http2/frames/reader.js';
import { expectConnectionError, frame, hex, read, Recorder, type FrameEvent } from './frame-test-helpers.js';

const { DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION } = FrameType;
const { END_STREAM, END_HEADERS, PADDED, ACK } = FrameFlag;
const EMPTY_SETTINGS = frame(SETTINGS, 0, 0);

/** The peer's opening SETTINGS, then `frames`. */
const afterSettings = (...frames: Buffer[]): Buffer => Buffer.concat([EMPTY_SETTINGS, ...frames]);
const u32 = (...values: number[]): Buffer => Buffer.concat(values.map((v) => hex(v.toString(16).padStart(8, '0'))));
const setting = (id: number, value: number): Buffer => Buffer.concat([hex(id.toString(16).padStart(4, '0')), u32(value)]);
/** Events after the opening SETTINGS. */
const eventsOf = (bytes: Buffer, options = {}): FrameEvent[] => {
  const r = read(afterSettings(bytes), options);
  expect(r.error).toBeUndefined();
  return r.events.slice(1);
};

/** A request's worth of frames of most types, and what the reader makes of them. */
const SEQUENCE = Buffer.concat([
  frame(SETTINGS, 0, 0, Buffer.concat([setting(SettingId.MAX_CONCURRENT_STREAMS, 100), setting(SettingId.INITIAL_WINDOW_SIZE, 1 << 20), setting(0x77, 1)])),
  frame(WINDOW_UPDATE, 0, 0, u32(983_041)),
  frame(HEADERS, 0, 1, hex('8286')),
  frame(CONTINUATION, END_HEADERS, 1, hex('8441')),
  frame(DATA, PADDED, 1, hex('03 616263 000000')),
  frame(0xfa, 0xff, 1, hex('0102')),
  frame(PING, 0, 0, hex('0001020304050607')),
  frame(DATA, END_STREAM, 1, hex('')),
  frame(SETTINGS, ACK, 0),
  frame(PRIORITY, 0, 3, hex('80000001 0f')),
  frame(RST_STREAM, 0, 3, u32(H2_CANCEL)),
  frame(GOAWAY, 0, 0, Buffer.concat([u32(3, 0), Buffer.from('bye')])),
]);
const SEQUENCE_EVENTS: FrameEvent[] = [
  ['settings', [SettingId.MAX_CONCURRENT_STREAMS, 100, SettingId.INITIAL_WINDOW_SIZE, 1 << 20]],
  ['window', 0, 983_041],
  ['headers', 1, '82868441', false],
  ['data', 1, '616263', false, 7],
  ['ping', '0001020304050607', false],
  ['data', 1, '', true, 0],
  ['settings-ack'],
  ['priority', 3, 1, 16, true],
  ['rst', 3, H2_CANCEL],
  ['goaway', 3, 0, 'bye'],
];

describe('each frame type', () => {
  it('reads a sequence of every kind in one buffer', () => {
    const r = read(SEQUENCE);
    expect(r.error).toBeUndefined();
    expect(r.events).toEqual(SEQUENCE_EVENTS);
  });

  it('HEADERS with END_STREAM, padding and priority fields', () => {
    const payload = hex('02 00000000 10 8286 0000');
    expect(eventsOf(frame(HEADERS, END_STREAM | END_HEADERS | PADDED | FrameFlag.PRIORITY, 5, payload))).toEqual([['headers', 5, '8286', true]]);
  });

  it('PUSH_PROMISE, padded, on a client that enabled push', () => {
    const payload = hex('01 00000002 8286 00');
    expect(eventsOf(frame(PUSH_PROMISE, END_HEADERS | PADDED, 1, payload), { pushEnabled: true })).toEqual([['push', 1, 2, '8286']]);
  });

  it('PING ACK, WINDOW_UPDATE on a stream, the reserved bits ignored', () => {
    const window = frame(WINDOW_UPDATE, 0, 1, u32(0x8000_0010));
    window[5] |= 0x80; // R bit of the stream id
    expect(eventsOf(Buffer.concat([frame(PING, ACK, 0, Buffer.alloc(8)), window]))).toEqual([
      ['ping', '0000000000000000', true],
      ['window', 1, 16],
    ]);
  });

  it('a frame of exactly SETTINGS_MAX_FRAME_SIZE, and a larger one once the setting is raised', () => {
    expect(eventsOf(frame(DATA, 0, 1, Buffer.alloc(16_384, 1)))[0].slice(4)).toEqual([16_384]);
    const big = frame(DATA, 0, 1, Buffer.alloc(20_000, 1));
    expectConnectionError(read(afterSettings(big)), H2_FRAME_SIZE_ERROR);
    expect(eventsOf(big, { maxFrameSize: 20_000 })[0].slice(4)).toEqual([20_000]);
  });

  it('unknown frame types are skipped, also on stream 0 and with any flags', () => {
    expect(eventsOf(Buffer.concat([frame(0x10, 0xff, 0, hex('00')), frame(0xff, 0, 7), frame(PING, 0, 0, Buffer.alloc(8))]))).toEqual([['ping', '0000000000000000', false]]);
  });
});

describe('any split of the bytes', () => {
  const cases: [string, Buffer, FrameEvent[]][] = [
    ['the sequence', SEQUENCE, SEQUENCE_EVENTS],
    ['a DATA frame of 300 octets', afterSettings(frame(DATA, END_STREAM, 1, Buffer.alloc(300, 7))), [['settings', []], ['data', 1, '07'.repeat(300), true, 300]]],
  ];
  for (const [name, bytes, expected] of cases) {
    it(`${name}: cut in two at every octet`, () => {
      for (let cut = 0; cut <= bytes.length; cut++) {
        const r = read(bytes, {}, [cut]);
        expect(r.error).toBeUndefined();
        expect(r.events, `cut at ${cut}`).toEqual(expected);
      }
    });
    it(`${name}: one octet at a time`, () => {
      expect(read(bytes, {}, new Array<number>(bytes.length).fill(1)).events).toEqual(expected);
    });
  }

  it('the client preface in server mode, cut at every octet', () => {
    const bytes = Buffer.concat([CLIENT_PREFACE, SEQUENCE]);
    for (let cut = 0; cut <= bytes.length; cut += 1) {
      const r = read(bytes, { mode: 'server' }, [cut, 3]);
      expect(r.error).toBeUndefined();
      expect(r.events, `cut at ${cut}`).toEqual(SEQUENCE_EVENTS);
    }
  });
});

describe('the connection preface (§3.4)', () => {
  it('server mode refuses bytes that are not the client preface, at the first wrong octet', () => {
    const err = expectConnectionError(read(Buffer.from('GET / HTTP/1.1\r\n'), { mode: 'server' }), H2_PROTOCOL_ERROR);
    expect(err.detail).toMatch(/preface/);
    // "PRI * HTTP/2.0\r\n\r\nSM" then a wrong octet: refused before the preface is whole
    expectConnectionError(read(Buffer.from('PRI * HTTP/2.0\r\n\r\nSX'), { mode: 'server' }), H2_PROTOCOL_ERROR);
  });
  it('client mode does not expect it', () => {
    expect(read(EMPTY_SETTINGS).events).toEqual([['settings', []]]);
  });
  it('the first frame after it must be a SETTINGS, not its ACK', () => {
    expectConnectionError(read(frame(PING, 0, 0, Buffer.alloc(8))), H2_PROTOCOL_ERROR);
    expectConnectionError(read(frame(SETTINGS, ACK, 0)), H2_PROTOCOL_ERROR);
    expectConnectionError(read(Buffer.concat([CLIENT_PREFACE, frame(HEADERS, END_HEADERS, 1, hex('82'))]), { mode: 'server' }), H2_PROTOCOL_ERROR);
  });
  it('a reader that failed keeps failing', () => {
    const reader = new FrameReader(new Recorder(), { mode: 'client' });
    expect(() => reader.feed(frame(PING, 0, 0, Buffer.alloc(8)))).toThrow(/SETTINGS/);
    expect(() => reader.feed(EMPTY_SETTINGS)).toThrow(/SETTINGS/);
  });
});

describe('frame size (§4.2)', () => {
  it('a length over SETTINGS_MAX_FRAME_SIZE is refused from the header alone, for every type', () => {
    for (const type of [DATA, HEADERS, SETTINGS, PING, 0x42]) {
      const header = hex(`004001 ${type.toString(16).padStart(2, '0')} 00 00000001`); // 16,385 octets announced, none sent
      expectConnectionError(read(afterSettings(header)), H2_FRAME_SIZE_ERROR);
    }
  });
});

describe('stream identifiers (§6)', () => {
  const onStreamZero: [string, Buffer][] = [
    ['DATA', frame(DATA, 0, 0, hex('00'))],
    ['HEADERS', frame(HEADERS, END_HEADERS, 0, hex('82'))],
    ['PRIORITY', frame(PRIORITY, 0, 0, hex('00000001 0f'))],
    ['RST_STREAM', frame(RST_STREAM, 0, 0, u32(0))],
    ['CONTINUATION', frame(CONTINUATION, END_HEADERS, 0, hex('82'))],
  ];
  for (const [name, bytes] of onStreamZero) it(`${name} on stream 0: PROTOCOL_ERROR`, () => expectConnectionError(read(afterSettings(bytes)), H2_PROTOCOL_ERROR));
  it('PUSH_PROMISE on stream 0', () => expectConnectionError(read(afterSettings(frame(PUSH_PROMISE, END_HEADERS, 0, u32(2))), { pushEnabled: true }), H2_PROTOCOL_ERROR));

  const onAStream: [string, Buffer][] = [
    ['SETTINGS', frame(SETTINGS, 0, 1)],
    ['PING', frame(PING, 0, 1, Buffer.alloc(8))],
    ['GOAWAY', frame(GOAWAY, 0, 1, u32(0, 0))],
  ];
  for (const [name, bytes] of onAStream) it(`${name} on stream 1: PROTOCOL_ERROR`, () => expectConnectionError(read(afterSettings(bytes)), H2_PROTOCOL_ERROR));
});

describe('padding (§6.1, §6.2, §6.6)', () => {
  it('DATA whose padding is the payload length or more', () => {
    expectConnectionError(read(afterSettings(frame(DATA, PADDED, 1, hex('04 000000')))), H2_PROTOCOL_ERROR);
    expect(eventsOf(frame(DATA, PADDED, 1, hex('03 000000')))).toEqual([['data', 1, '', false, 4]]);
  });
  it('PADDED with no room for the pad length', () => {
    expectConnectionError(read(afterSettings(frame(DATA, PADDED, 1))), H2_FRAME_SIZE_ERROR);
  });
  it('HEADERS whose padding eats into its priority fields', () => {
    expectConnectionError(read(afterSettings(frame(HEADERS, END_HEADERS | PADDED | FrameFlag.PRIORITY, 1, hex('02 00000000 10 00')))), H2_PROTOCOL_ERROR);
  });
  it('HEADERS too short for its priority fields', () => {
    expectConnectionError(read(afterSettings(frame(HEADERS, END_HEADERS | FrameFlag.PRIORITY, 1, hex('000000')))), H2_FRAME_SIZE_ERROR);
  });
  it('PUSH_PROMISE whose padding covers its promised stream id', () => {
    expectConnectionError(read(afterSettings(frame(PUSH_PROMISE, END_HEADERS | PADDED, 1, hex('03 00000002'))), { pushEnabled: true }), H2_PROTOCOL_ERROR);
  });
});

describe('SETTINGS (§6.5)', () => {
  it('a length that is not a multiple of 6', () => expectConnectionError(read(frame(SETTINGS, 0, 0, hex('0003000000'))), H2_FRAME_SIZE_ERROR));
  it('an ACK with a payload', () => expectConnectionError(read(afterSettings(frame(SETTINGS, ACK, 0, setting(3, 1)))), H2_FRAME_SIZE_ERROR));
  const bad: [string, number, number, number][] = [
    ['ENABLE_PUSH 2', SettingId.ENABLE_PUSH, 2, H2_PROTOCOL_ERROR],
    ['INITIAL_WINDOW_SIZE 2^31', SettingId.INITIAL_WINDOW_SIZE, 2 ** 31, H2_FLOW_CONTROL_ERROR],
    ['MAX_FRAME_SIZE 16383', SettingId.MAX_FRAME_SIZE, 16_383, H2_PROTOCOL_ERROR],
    ['MAX_FRAME_SIZE 2^24', SettingId.MAX_FRAME_SIZE, 2 ** 24, H2_PROTOCOL_ERROR],
    ['ENABLE_CONNECT_PROTOCOL 2', SettingId.ENABLE_CONNECT_PROTOCOL, 2, H2_PROTOCOL_ERROR],
  ];
  for (const [name, id, value, code] of bad) it(name, () => expectConnectionError(read(frame(SETTINGS, 0, 0, setting(id, value))), code));

  it('the limits themselves are accepted', () => {
    const entries = [SettingId.INITIAL_WINDOW_SIZE, 2 ** 31 - 1, SettingId.MAX_FRAME_SIZE, 2 ** 24 - 1, SettingId.MAX_FRAME_SIZE, 16_384, SettingId.ENABLE_PUSH, 0];
    const payload = Buffer.concat(entries.flatMap((v, i) => (i % 2 === 0 ? [setting(v, entries[i + 1])] : [])));
    expect(read(frame(SETTINGS, 0, 0, payload)).events).toEqual([['settings', entries]]);
  });
  it('ENABLE_PUSH 1 from a client is fine, from a server it is a PROTOCOL_ERROR', () => {
    const bytes = Buffer.concat([CLIENT_PREFACE, frame(SETTINGS, 0, 0, setting(SettingId.ENABLE_PUSH, 1))]);
    expect(read(bytes, { mode: 'server' }).events).toEqual([['settings', [SettingId.ENABLE_PUSH, 1]]]);
    expectConnectionError(read(frame(SETTINGS, 0, 0, setting(SettingId.ENABLE_PUSH, 1))), H2_PROTOCOL_ERROR);
  });
});

describe('fixed-length frames', () => {
  it('PING of 7 or 9 octets: FRAME_SIZE_ERROR', () => {
    expectConnectionError(read(afterSettings(frame(PING, 0, 0, Buffer.alloc(7)))), H2_FRAME_SIZE_ERROR);
    expectConnectionError(read(afterSettings(frame(PING, 0, 0, Buffer.alloc(9)))), H2_FRAME_SIZE_ERROR);
  });
  it('WINDOW_UPDATE of 3 octets: FRAME_SIZE_ERROR', () => expectConnectionError(read(afterSettings(frame(WINDOW_UPDATE, 0, 1, hex('000001')))), H2_FRAME_SIZE_ERROR));
  it('RST_STREAM of 5 octets: FRAME_SIZE_ERROR', () => expectConnectionError(read(afterSettings(frame(RST_STREAM, 0, 1, hex('0000000800')))), H2_FRAME_SIZE_ERROR));
  it('GOAWAY under 8 octets: FRAME_SIZE_ERROR', () => expectConnectionError(read(afterSettings(frame(GOAWAY, 0, 0, hex('00000001')))), H2_FRAME_SIZE_ERROR));
  it('PRIORITY of 4 octets fails its stream only, and reading goes on', () => {
    expect(eventsOf(Buffer.concat([frame(PRIORITY, 0, 3, hex('00000001')), frame(RST_STREAM, 0, 1, u32(H2_REFUSED_STREAM))]))).toEqual([
      ['stream-error', 3, H2_FRAME_SIZE_ERROR],
      ['rst', 1, H2_REFUSED_STREAM],
    ]);
  });
});

describe('WINDOW_UPDATE of 0 (§6.9)', () => {
  it('on a stream: a stream error, and reading goes on', () => {
    expect(eventsOf(Buffer.concat([frame(WINDOW_UPDATE, 0, 1, u32(0)), frame(WINDOW_UPDATE, 0, 1, u32(5))]))).toEqual([
      ['stream-error', 1, H2_PROTOCOL_ERROR],
      ['window', 1, 5],
    ]);
  });
  it('on the connection: a connection error', () => expectConnectionError(read(afterSettings(frame(WINDOW_UPDATE, 0, 0, u32(0)))), H2_PROTOCOL_ERROR));
});

describe('priority fields', () => {
  it('PRIORITY on its own stream: a stream error', () => {
    expect(eventsOf(frame(PRIORITY, 0, 3, hex('00000003 0f')))).toEqual([['stream-error', 3, H2_PROTOCOL_ERROR]]);
  });
  it('HEADERS depending on its own stream: a connection error (its block cannot be skipped)', () => {
    expectConnectionError(read(afterSettings(frame(HEADERS, END_HEADERS | FrameFlag.PRIORITY, 3, hex('00000003 0f 82')))), H2_PROTOCOL_ERROR);
  });
});

describe('PUSH_PROMISE (§8.4)', () => {
  it('from a client: PROTOCOL_ERROR', () => {
    expectConnectionError(read(Buffer.concat([CLIENT_PREFACE, EMPTY_SETTINGS, frame(PUSH_PROMISE, END_HEADERS, 1, u32(2))]), { mode: 'server' }), H2_PROTOCOL_ERROR);
  });
  it('to a client that did not enable push: PROTOCOL_ERROR', () => {
    expectConnectionError(read(afterSettings(frame(PUSH_PROMISE, END_HEADERS, 1, u32(2)))), H2_PROTOCOL_ERROR);
  });
});

describe('header blocks and CONTINUATION (§4.3, §6.10)', () => {
  it('assembles HEADERS + CONTINUATIONs, empty fragments included', () => {
    const bytes = Buffer.concat([frame(HEADERS, END_STREAM, 1, hex('82')), frame(CONTINUATION, 0, 1), frame(CONTINUATION, 0, 1, hex('86')), frame(CONTINUATION, END_HEADERS, 1, hex('84'))]);
    expect(eventsOf(bytes)).toEqual([['headers', 1, '828684', true]]);
  });
  it('assembles PUSH_PROMISE + CONTINUATION', () => {
    const bytes = Buffer.concat([frame(PUSH_PROMISE, 0, 1, Buffer.concat([u32(4), hex('82')])), frame(CONTINUATION, END_HEADERS, 1, hex('86'))]);
    expect(eventsOf(bytes, { pushEnabled: true })).toEqual([['push', 1, 4, '8286']]);
  });
  const interrupted: [string, Buffer][] = [
    ['DATA on the same stream', frame(DATA, 0, 1, hex('00'))],
    ['a CONTINUATION on another stream', frame(CONTINUATION, END_HEADERS, 3, hex('84'))],
    ['a PING', frame(PING, 0, 0, Buffer.alloc(8))],
    ['an unknown frame type', frame(0x42, 0, 0)],
    ['HEADERS on another stream', frame(HEADERS, END_HEADERS, 3, hex('82'))],
  ];
  for (const [name, next] of interrupted) {
    it(`a block interrupted by ${name}: PROTOCOL_ERROR`, () => {
      expectConnectionError(read(afterSettings(frame(HEADERS, 0, 1, hex('82')), next)), H2_PROTOCOL_ERROR);
    });
  }
  it('a CONTINUATION with no block open: PROTOCOL_ERROR', () => {
    expectConnectionError(read(afterSettings(frame(CONTINUATION, END_HEADERS, 1, hex('82')))), H2_PROTOCOL_ERROR);
    expectConnectionError(read(afterSettings(frame(HEADERS, END_HEADERS, 1, hex('82')), frame(CONTINUATION, END_HEADERS, 1, hex('82')))), H2_PROTOCOL_ERROR);
  });
  it('a block over maxHeaderBlockBytes, in one frame or across CONTINUATIONs: ENHANCE_YOUR_CALM, the limit named', () => {
    const one = expectConnectionError(read(afterSettings(frame(HEADERS, END_HEADERS, 1, Buffer.alloc(101))), { maxHeaderBlockBytes: 100 }), H2_ENHANCE_YOUR_CALM);
    expect(one).toBeInstanceOf(HeaderBlockLimitError);
    expect((one as HeaderBlockLimitError).limit).toBe('block-bytes');
    const split = afterSettings(frame(HEADERS, 0, 1, Buffer.alloc(60)), frame(CONTINUATION, END_HEADERS, 1, Buffer.alloc(41)));
    expect((expectConnectionError(read(split, { maxHeaderBlockBytes: 100 }), H2_ENHANCE_YOUR_CALM) as HeaderBlockLimitError).limit).toBe('block-bytes');
    expect(read(afterSettings(frame(HEADERS, 0, 1, Buffer.alloc(60)), frame(CONTINUATION, END_HEADERS, 1, Buffer.alloc(40))), { maxHeaderBlockBytes: 100 }).error).toBeUndefined();
  });
  it('more CONTINUATIONs than maxContinuationFrames: ENHANCE_YOUR_CALM, the limit named', () => {
    const frames = (n: number) => afterSettings(frame(HEADERS, 0, 1, hex('82')), ...Array.from({ length: n }, () => frame(CONTINUATION, 0, 1)), frame(CONTINUATION, END_HEADERS, 1));
    expect(read(frames(2), { maxContinuationFrames: 3 }).events.slice(1)).toEqual([['headers', 1, '82', false]]);
    const err = expectConnectionError(read(frames(3), { maxContinuationFrames: 3 }), H2_ENHANCE_YOUR_CALM);
    expect((err as HeaderBlockLimitError).limit).toBe('continuation-frames');
  });
});
