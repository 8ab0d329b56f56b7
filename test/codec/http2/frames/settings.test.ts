// One end's SETTINGS as its frames set them (RFC 9113 §6.5.2, §6.5.3): initial values, in-order
// application of what the reader passes, and which ids the reader keeps.
import { describe, expect, it } from 'vitest';
import { SettingId } from '../../../../src/codec/http2/frames/constants.js';
import { Http2Settings, isKnownSetting } from '../../../../src/codec/http2/frames/settings.js';
import { FrameWriter } from '../../../../src/codec/http2/frames/writer.js';
import { read } from './frame-test-helpers.js';

describe('Http2Settings', () => {
  it('starts at the RFC initial values', () => {
    expect({ ...new Http2Settings() }).toEqual({
      headerTableSize: 4_096,
      enablePush: true,
      maxConcurrentStreams: Infinity,
      initialWindowSize: 65_535,
      maxFrameSize: 16_384,
      maxHeaderListSize: Infinity,
      enableConnectProtocol: false,
      noRfc7540Priorities: false,
    });
  });

  it('applies a frame read off the wire, in order: the last value of an id wins', () => {
    const w = new FrameWriter();
    w.settings([
      SettingId.HEADER_TABLE_SIZE, 0, SettingId.ENABLE_PUSH, 0, SettingId.MAX_CONCURRENT_STREAMS, 100, SettingId.INITIAL_WINDOW_SIZE, 1,
      SettingId.MAX_FRAME_SIZE, 32_768, SettingId.MAX_HEADER_LIST_SIZE, 8_192, SettingId.ENABLE_CONNECT_PROTOCOL, 1,
      SettingId.NO_RFC7540_PRIORITIES, 1, 0x4242, 9, SettingId.INITIAL_WINDOW_SIZE, 1_048_576,
    ]);
    const [event] = read(Buffer.concat(w.take())).events;
    const settings = new Http2Settings();
    settings.apply((event as ['settings', number[]])[1]);
    expect({ ...settings }).toEqual({
      headerTableSize: 0,
      enablePush: false,
      maxConcurrentStreams: 100,
      initialWindowSize: 1_048_576,
      maxFrameSize: 32_768,
      maxHeaderListSize: 8_192,
      enableConnectProtocol: true,
      noRfc7540Priorities: true,
    });
  });

  it('knows the ids of RFC 9113, 8441 and 9218 only', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].filter(isKnownSetting)).toEqual([1, 2, 3, 4, 5, 6, 8, 9]);
  });
});
