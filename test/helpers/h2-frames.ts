// Raw HTTP/2 frames (RFC 9113 §4.1) and the few HPACK encodings (RFC 7541) hostile-client tests need:
// what a real client library would refuse to send.

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export const FrameType = { DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8, CONTINUATION: 0x9 } as const;
export const Flag = { END_STREAM: 0x1, END_HEADERS: 0x4 } as const;

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** An empty SETTINGS frame (all defaults). */
export const SETTINGS = frame(FrameType.SETTINGS, 0, 0);

/** HPACK integer with an N-bit prefix (RFC 7541 §5.1); `first` holds the pattern bits above the prefix. */
export function hpackInt(value: number, prefixBits: number, first = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  for (value -= max; value >= 128; value = Math.floor(value / 128)) out.push((value % 128) | 0x80);
  out.push(value);
  return Buffer.from(out);
}

function hpackString(s: string): Buffer {
  const b = Buffer.from(s, 'latin1');
  return Buffer.concat([hpackInt(b.length, 7), b]); // no Huffman
}

/** A literal field with a literal name: without indexing, or with incremental indexing (enters the dynamic table). */
export function hpackLiteral(name: string, value: string, { index = false } = {}): Buffer {
  return Buffer.concat([Buffer.from([index ? 0x40 : 0x00]), hpackString(name), hpackString(value)]);
}

/** An indexed field (RFC 7541 §6.1): static table 1..61, dynamic table from 62 (newest first). */
export function hpackIndexed(index: number): Buffer {
  return hpackInt(index, 7, 0x80);
}

/** `GET <path>` over http with an authority: the static table's :method GET, :scheme http, then literals. */
export function hpackRequest(path: string, authority: string): Buffer {
  return Buffer.concat([hpackIndexed(2), hpackIndexed(6), hpackLiteral(':path', path), hpackLiteral(':authority', authority)]);
}

export interface ParsedFrame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** Splits received bytes into whole frames (a trailing partial frame is left out). */
export function parseFrames(bytes: Buffer): ParsedFrame[] {
  const out: ParsedFrame[] = [];
  for (let i = 0; i + 9 <= bytes.length; ) {
    const len = bytes.readUIntBE(i, 3);
    if (i + 9 + len > bytes.length) break;
    out.push({ type: bytes[i + 3], flags: bytes[i + 4], stream: bytes.readUInt32BE(i + 5) & 0x7fffffff, payload: bytes.subarray(i + 9, i + 9 + len) });
    i += 9 + len;
  }
  return out;
}
