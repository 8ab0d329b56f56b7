/**
 * SETTINGS parameters (RFC 9113 §6.5.2): what each value may be, and one end's settings as the
 * frames set them. Unknown ids are ignored (§6.5.2), so they never reach these.
 */
import { H2_FLOW_CONTROL_ERROR, H2_PROTOCOL_ERROR } from '../error-codes.js';
import { DEFAULT_HEADER_TABLE_SIZE, DEFAULT_INITIAL_WINDOW_SIZE, DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE, MAX_WINDOW_SIZE, SettingId } from './constants.js';
import { Http2ConnectionError } from './errors.js';

/** Whether the id is one this end knows (the others are skipped). */
export function isKnownSetting(id: number): boolean {
  return (id >= SettingId.HEADER_TABLE_SIZE && id <= SettingId.MAX_HEADER_LIST_SIZE) || id === SettingId.ENABLE_CONNECT_PROTOCOL || id === SettingId.NO_RFC7540_PRIORITIES;
}

/**
 * Refuses a value §6.5.2 forbids, as the connection error it names. `fromServer`: the frame came
 * from a server, which must not turn push on.
 */
export function checkSetting(id: number, value: number, fromServer: boolean): void {
  switch (id) {
    case SettingId.ENABLE_PUSH:
      if (value > 1) throw new Http2ConnectionError(H2_PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH ${value} is neither 0 nor 1`);
      if (value === 1 && fromServer) throw new Http2ConnectionError(H2_PROTOCOL_ERROR, 'a server sent SETTINGS_ENABLE_PUSH 1');
      return;
    case SettingId.INITIAL_WINDOW_SIZE:
      if (value > MAX_WINDOW_SIZE) throw new Http2ConnectionError(H2_FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${value} over 2^31-1`);
      return;
    case SettingId.MAX_FRAME_SIZE:
      if (value < DEFAULT_MAX_FRAME_SIZE || value > MAX_MAX_FRAME_SIZE) throw new Http2ConnectionError(H2_PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE ${value} outside [16384, 2^24-1]`);
      return;
    case SettingId.ENABLE_CONNECT_PROTOCOL:
    case SettingId.NO_RFC7540_PRIORITIES:
      if (value > 1) throw new Http2ConnectionError(H2_PROTOCOL_ERROR, `SETTINGS 0x${id.toString(16)} value ${value} is neither 0 nor 1`);
      return;
  }
}

/** One end's settings: the initial values (§6.5.2), then what its SETTINGS frames set, in order (§6.5.3). */
export class Http2Settings {
  headerTableSize = DEFAULT_HEADER_TABLE_SIZE;
  enablePush = true;
  /** Unlimited until set. */
  maxConcurrentStreams = Infinity;
  initialWindowSize = DEFAULT_INITIAL_WINDOW_SIZE;
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  /** Unlimited until set. */
  maxHeaderListSize = Infinity;
  enableConnectProtocol = false;
  noRfc7540Priorities = false;

  /** Applies checked [id, value, ...] pairs, as the reader passes them. */
  apply(entries: readonly number[]): void {
    for (let i = 0; i < entries.length; i += 2) {
      const value = entries[i + 1];
      switch (entries[i]) {
        case SettingId.HEADER_TABLE_SIZE: this.headerTableSize = value; break;
        case SettingId.ENABLE_PUSH: this.enablePush = value === 1; break;
        case SettingId.MAX_CONCURRENT_STREAMS: this.maxConcurrentStreams = value; break;
        case SettingId.INITIAL_WINDOW_SIZE: this.initialWindowSize = value; break;
        case SettingId.MAX_FRAME_SIZE: this.maxFrameSize = value; break;
        case SettingId.MAX_HEADER_LIST_SIZE: this.maxHeaderListSize = value; break;
        case SettingId.ENABLE_CONNECT_PROTOCOL: this.enableConnectProtocol = value === 1; break;
        case SettingId.NO_RFC7540_PRIORITIES: this.noRfc7540Priorities = value === 1; break;
      }
    }
  }
}
