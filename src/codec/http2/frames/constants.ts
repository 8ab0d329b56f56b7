/** HTTP/2 frame types, flags and SETTINGS (RFC 9113 §4.1, §6), and the limits the RFC fixes. */

/** Frame types (§6; types past CONTINUATION are extensions, ignored when unknown, §4.1). */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags; each means something only on the types §6 lists for it. */
export const FrameFlag = {
  /** SETTINGS, PING */
  ACK: 0x1,
  /** DATA, HEADERS */
  END_STREAM: 0x1,
  /** HEADERS, PUSH_PROMISE, CONTINUATION */
  END_HEADERS: 0x4,
  /** DATA, HEADERS, PUSH_PROMISE */
  PADDED: 0x8,
  /** HEADERS */
  PRIORITY: 0x20,
} as const;

/** SETTINGS parameters (§6.5.2; 0x8 RFC 8441, 0x9 RFC 9218). */
export const SettingId = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
  ENABLE_CONNECT_PROTOCOL: 0x8,
  NO_RFC7540_PRIORITIES: 0x9,
} as const;

/** The 9 octets before every payload: length (24 bits), type, flags, R + stream id (31 bits) (§4.1). */
export const FRAME_HEADER_LENGTH = 9;
/** SETTINGS_MAX_FRAME_SIZE: its initial value and the most it may be set to (§6.5.2). */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;
export const MAX_MAX_FRAME_SIZE = 16_777_215;
/** SETTINGS_INITIAL_WINDOW_SIZE's initial value, also the connection window's (§6.9.2). */
export const DEFAULT_INITIAL_WINDOW_SIZE = 65_535;
/** The most any flow-control window may hold, and the largest WINDOW_UPDATE increment (§6.9.1). */
export const MAX_WINDOW_SIZE = 0x7fff_ffff;
export const DEFAULT_HEADER_TABLE_SIZE = 4_096;
/** One SETTINGS parameter on the wire: a 16-bit id and a 32-bit value (§6.5.1). */
export const SETTING_LENGTH = 6;
export const PING_LENGTH = 8;

/** What a client opens the connection with, before its SETTINGS (§3.4). */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
