/**
 * Incremental, strict HTTP/1.1 response parsing for upstream connections: the status line and
 * header block, then the body framing (content-length, chunked, or until close).
 */

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// field-value: visible chars, SP, HTAB and obs-text; no CR, LF or NUL
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

export interface ResponseHead {
  status: number;
  /** Flat [name, value, ...], names lower-cased, in order. */
  headers: string[];
  /** HTTP/1.1 without `connection: close`, or HTTP/1.0 with `connection: keep-alive`. */
  keepAlive: boolean;
  /** -1: chunked; -2: until the connection closes; otherwise the content-length. */
  bodyLength: number;
}

export const CHUNKED = -1;

/** The field value after `from`, without leading/trailing SP and HTAB (RFC 9110 OWS) — nothing else. */
export function trimOWS(line: string, from: number): string {
  let a = from;
  let b = line.length;
  while (a < b && (line.charCodeAt(a) === 32 || line.charCodeAt(a) === 9)) a++;
  while (b > a && (line.charCodeAt(b - 1) === 32 || line.charCodeAt(b - 1) === 9)) b--;
  return line.slice(a, b);
}
export const UNTIL_CLOSE = -2;

/** Header fields of a head, and the ones that decide framing, collected in one pass. */
interface Fields {
  /** Flat [name, value, ...], names lower-cased, in order. */
  headers: string[];
  contentLengths: string[];
  transferEncoding: string | undefined;
  /** Connection tokens, lower-cased, comma-joined. */
  connection: string;
  hosts: number;
  expect: string | undefined;
}

/** Reads `lines[1..]` strictly: obs-fold, a missing colon, an invalid name or value → `fail`. */
function readFields(lines: readonly string[], fail: (msg: string) => never): Fields {
  const f: Fields = { headers: [], contentLengths: [], transferEncoding: undefined, connection: '', hosts: 0, expect: undefined };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const c0 = line.charCodeAt(0);
    if (c0 === 32 || c0 === 9) fail('obsolete line folding');
    const colon = line.indexOf(':');
    if (colon <= 0) fail('malformed header line');
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name)) fail(`invalid header name "${name.slice(0, 64)}"`);
    const value = trimOWS(line, colon + 1);
    if (BAD_VALUE.test(value)) fail(`invalid value of header "${name}"`);
    switch (name) {
      case 'host':
        f.hosts++;
        break;
      case 'content-length':
        f.contentLengths.push(value);
        break;
      case 'transfer-encoding':
        f.transferEncoding = f.transferEncoding === undefined ? value : `${f.transferEncoding}, ${value}`;
        break;
      case 'connection':
        f.connection = f.connection ? `${f.connection},${value.toLowerCase()}` : value.toLowerCase();
        break;
      case 'expect':
        f.expect = value;
        break;
    }
    f.headers.push(name, value);
  }
  return f;
}

/**
 * An incomplete head (no CRLFCRLF yet) is over the limit unless what lies past `maxBytes` can still
 * be the start of its final CRLFCRLF: the verdict must not depend on how TCP split the bytes.
 */
export function incompleteHeadTooLarge(buf: Buffer, start: number, maxBytes: number): boolean {
  const over = buf.length - start - maxBytes;
  return over > 0 && (over > 3 || !isTerminatorPrefix(buf, start + maxBytes));
}

function isTerminatorPrefix(buf: Buffer, from: number): boolean {
  for (let i = from; i < buf.length; i++) if (buf[i] !== CRLFCRLF[i - from]) return false;
  return true;
}

/**
 * Finds a complete header block in `buf` from `start`. Returns the index just past the blank line,
 * or -1 when more bytes are needed. Throws when the block exceeds `maxBytes`.
 */
export function findHeadEnd(buf: Buffer, start: number, maxBytes: number): number {
  const end = buf.indexOf(CRLFCRLF, start);
  if (end < 0) {
    // over the limit, unless what is past it can still be the start of the final CRLFCRLF
    // (a head of exactly maxBytes may arrive with its terminator split across reads)
    if (incompleteHeadTooLarge(buf, start, maxBytes)) throw new ProtocolError('response headers too large');
    return -1;
  }
  if (end - start > maxBytes) throw new ProtocolError('response headers too large');
  return end + 4;
}

/** Parses a status line and headers (`text` excludes the final CRLFCRLF). */
export function parseResponseHead(text: string, requestMethod: string): ResponseHead {
  if (text.includes('\n') && /(^|[^\r])\n/.test(text)) throw new ProtocolError('bare LF in response head');
  const lines = text.split('\r\n');
  const statusLine = lines[0];
  const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(statusLine);
  if (!m) throw new ProtocolError(`invalid status line "${statusLine.slice(0, 64)}"`);
  const minor = m[1];
  const status = Number(m[2]);
  const f = readFields(lines, (msg) => {
    throw new ProtocolError(`${msg} in response`);
  });
  const headers = f.headers;
  const transferEncoding = f.transferEncoding;
  const connection = f.connection;
  if (f.contentLengths.some((v) => v !== f.contentLengths[0])) throw new ProtocolError('conflicting content-length');
  const contentLength = f.contentLengths[0];
  const keepAlive = minor === '1' ? !/(^|,)\s*close\s*(,|$)/.test(connection) : /(^|,)\s*keep-alive\s*(,|$)/.test(connection);
  let bodyLength: number;
  if (requestMethod === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    bodyLength = 0;
  } else if (transferEncoding !== undefined) {
    // RFC 9112 §6.3: chunked must be the final coding; otherwise the body runs until close
    bodyLength = /(^|,)\s*chunked\s*$/i.test(transferEncoding) ? CHUNKED : UNTIL_CLOSE;
  } else if (contentLength !== undefined) {
    if (!/^\d{1,15}$/.test(contentLength)) throw new ProtocolError(`invalid content-length "${contentLength}"`);
    bodyLength = Number(contentLength);
  } else {
    bodyLength = UNTIL_CLOSE;
  }
  // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding must not be trusted to frame the next one
  const reusable = keepAlive && bodyLength !== UNTIL_CLOSE && !(minor === '0' && transferEncoding !== undefined);
  return { status, headers, keepAlive: reusable, bodyLength };
}

const enum ChunkState {
  Size,
  SizeLF,
  Data,
  DataCR,
  DataLF,
  Trailer,
  Done,
}

/**
 * Decodes a chunked body incrementally. `push` returns the index in `buf` just past the last byte
 * it consumed once the body is complete (trailers included), or -1 when it needs more bytes.
 */
export class ChunkedDecoder {
  private state = ChunkState.Size;
  private size = 0;
  private sizeDigits = 0;
  private inExtension = false;
  private remaining = 0;
  private trailerLine = '';
  /** Trailer fields, flat [name, value, ...]. */
  readonly trailers: string[] = [];

  constructor(private readonly onData: (chunk: Buffer) => void) {}

  push(buf: Buffer, from: number): number {
    let i = from;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case ChunkState.Size: {
          const c = buf[i++];
          if (c === 13) {
            if (this.sizeDigits === 0) throw new ProtocolError('missing chunk size');
            this.state = ChunkState.SizeLF;
          } else if (this.inExtension) {
            if (c === 10) throw new ProtocolError('bare LF in chunk extension');
          } else if (c === 59 /* ; */ || c === 32 || c === 9) {
            this.inExtension = true;
          } else {
            const d = hexValue(c);
            if (d < 0) throw new ProtocolError('invalid chunk size');
            if (++this.sizeDigits > 12) throw new ProtocolError('chunk size too large');
            this.size = this.size * 16 + d;
          }
          break;
        }
        case ChunkState.SizeLF:
          if (buf[i++] !== 10) throw new ProtocolError('expected LF after chunk size');
          if (this.size === 0) {
            this.state = ChunkState.Trailer;
          } else {
            this.remaining = this.size;
            this.state = ChunkState.Data;
          }
          this.size = 0;
          this.sizeDigits = 0;
          this.inExtension = false;
          break;
        case ChunkState.Data: {
          const take = Math.min(this.remaining, n - i);
          this.onData(buf.subarray(i, i + take));
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = ChunkState.DataCR;
          break;
        }
        case ChunkState.DataCR:
          if (buf[i++] !== 13) throw new ProtocolError('expected CRLF after chunk data');
          this.state = ChunkState.DataLF;
          break;
        case ChunkState.DataLF:
          if (buf[i++] !== 10) throw new ProtocolError('expected CRLF after chunk data');
          this.state = ChunkState.Size;
          break;
        case ChunkState.Trailer: {
          const lf = buf.indexOf(10, i);
          if (lf < 0) {
            this.trailerLine += buf.toString('latin1', i, n);
            if (this.trailerLine.length > 64 * 1024) throw new ProtocolError('trailers too large');
            return -1;
          }
          const line = this.trailerLine + buf.toString('latin1', i, lf);
          this.trailerLine = '';
          i = lf + 1;
          if (!line.endsWith('\r')) throw new ProtocolError('bare LF in trailers');
          const content = line.slice(0, -1);
          if (content === '') {
            this.state = ChunkState.Done;
            return i;
          }
          const colon = content.indexOf(':');
          if (colon <= 0) throw new ProtocolError('malformed trailer');
          const name = content.slice(0, colon).toLowerCase();
          const value = trimOWS(content, colon + 1);
          if (!TOKEN.test(name)) throw new ProtocolError('invalid trailer name');
          if (BAD_VALUE.test(value) || value.includes('\r')) throw new ProtocolError(`invalid value of trailer "${name}"`);
          this.trailers.push(name, value);
          break;
        }
        case ChunkState.Done:
          return i;
      }
    }
    return -1;
  }
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

// ---------------------------------------------------------------- requests

/** A request head the proxy may act on; errors carry the status Envoy would answer with. */
export interface RequestHead {
  method: string;
  target: string;
  /** 0 or 1 (HTTP/1.0 or HTTP/1.1). */
  minor: number;
  /** Flat [name, value, ...], names lower-cased, in order. */
  headers: string[];
  /** 0: none; n: content-length; CHUNKED. */
  bodyLength: number;
  keepAlive: boolean;
  expectContinue: boolean;
}

export class RequestError extends Error {
  override readonly name = 'RequestError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const TARGET = /^[\x21-\x7e\x80-\xff]+$/;
/** Envoy's default max_headers_count. */
export const MAX_REQUEST_HEADERS = 100;

/**
 * Parses a request line and headers strictly (RFC 9112, as Envoy's codec): bare LF, obs-fold,
 * whitespace before the colon, invalid names or values, a missing or repeated Host, repeated
 * Content-Length, Content-Length with Transfer-Encoding, or a coding other than chunked → error.
 */
export function parseRequestHead(text: string): RequestHead {
  if (/(^|[^\r])\n/.test(text)) throw new RequestError(400, 'bare LF in request head');
  const lines = text.split('\r\n');
  const requestLine = lines[0];
  const sp1 = requestLine.indexOf(' ');
  const sp2 = requestLine.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || requestLine.indexOf(' ', sp2 + 1) >= 0) throw new RequestError(400, 'malformed request line');
  const method = requestLine.slice(0, sp1);
  const target = requestLine.slice(sp1 + 1, sp2);
  const version = requestLine.slice(sp2 + 1);
  if (!METHOD.test(method)) throw new RequestError(400, 'invalid method');
  if (!TARGET.test(target)) throw new RequestError(400, 'invalid request target');
  let minor: number;
  if (version === 'HTTP/1.1') minor = 1;
  else if (version === 'HTTP/1.0') minor = 0;
  else if (/^HTTP\/\d\.\d$/.test(version)) throw new RequestError(505, 'HTTP version not supported');
  else throw new RequestError(400, 'malformed request line');
  if (lines.length - 1 > MAX_REQUEST_HEADERS) throw new RequestError(431, 'too many headers');

  const f = readFields(lines, (msg) => {
    throw new RequestError(400, msg);
  });
  const { headers, transferEncoding, connection, hosts } = f;
  if (f.contentLengths.length > 1) throw new RequestError(400, 'multiple content-length headers');
  const contentLength = f.contentLengths[0];
  const expectContinue = f.expect?.toLowerCase() === '100-continue';
  if (hosts > 1) throw new RequestError(400, 'multiple host headers');
  if (hosts === 0 && minor === 1) throw new RequestError(400, 'missing host header');
  let bodyLength = 0;
  if (transferEncoding !== undefined) {
    if (contentLength !== undefined) throw new RequestError(400, 'content-length with transfer-encoding');
    if (minor === 0) throw new RequestError(400, 'transfer-encoding in an HTTP/1.0 request');
    if (transferEncoding.toLowerCase() !== 'chunked') throw new RequestError(501, `unsupported transfer-encoding "${transferEncoding}"`);
    bodyLength = CHUNKED;
  } else if (contentLength !== undefined) {
    if (!/^\d{1,15}$/.test(contentLength)) throw new RequestError(400, 'invalid content-length');
    bodyLength = Number(contentLength);
  }
  const keepAlive = minor === 1 ? !/(^|,)\s*close\s*(,|$)/.test(connection) : /(^|,)\s*keep-alive\s*(,|$)/.test(connection);
  return { method, target, minor, headers, bodyLength, keepAlive, expectContinue: expectContinue && minor === 1 && bodyLength !== 0 };
}
