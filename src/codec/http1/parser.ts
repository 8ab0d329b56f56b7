/**
 * Incremental, strict HTTP/1.1 response parsing for upstream connections: the status line and
 * header block, then the body framing (content-length, chunked, or until close).
 */

import { sharedCompiled } from '../../common/shared-compiled.js';

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
/** RFC 9112 §4: reason-phrase = *( HTAB / SP / VCHAR / obs-text ). */
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: [\t\x20-\x7e\x80-\xff]*)?$/;
const CONTENT_LENGTH = /^\d{1,15}$/;
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

/** The field value in `line[from..to)` (to: the end by default), without leading/trailing SP and HTAB (RFC 9110 OWS) — nothing else. */
export function trimOWS(line: string, from: number, to = line.length): string {
  let a = from;
  let b = to;
  while (a < b && (line.charCodeAt(a) === 32 || line.charCodeAt(a) === 9)) a++;
  while (b > a && (line.charCodeAt(b - 1) === 32 || line.charCodeAt(b - 1) === 9)) b--;
  return line.slice(a, b);
}
export const UNTIL_CLOSE = -2;

/** HTTP/1.1 unless `connection: close`; HTTP/1.0 only with `connection: keep-alive` (tokens lower-cased, comma-joined). */
function keepsAlive(http11: boolean, connection: string): boolean {
  if (connection === '') return http11;
  return http11 ? !/(^|,)\s*close\s*(,|$)/.test(connection) : /(^|,)\s*keep-alive\s*(,|$)/.test(connection);
}

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

/**
 * A head split at CRLF keeps any other line ending inside a line, where the name, value, method and
 * target checks refuse it (none allows CR or LF): these say why, on the failure path only.
 */
const LINE_BREAK = 'line not ended by CRLF';
function hasLineBreak(s: string): boolean {
  return s.includes('\n') || s.includes('\r');
}

/** Thrown by checkedName for a name that is not a token (and so never kept). */
const NOT_A_TOKEN = new Error('not a token');

/**
 * A header name as sent → lower case, checked against TOKEN; shared by the name as sent
 * (common/shared-compiled.ts, per thread, 1,024 names): a name seen again (nearly every name of every
 * head) skips the lower-casing and the check. A name that fails is not kept, so it fails every time.
 */
const checkedName = sharedCompiled(1024, (raw) => {
  const name = raw.toLowerCase();
  if (!TOKEN.test(name)) throw NOT_A_TOKEN;
  return name;
});

/** `raw` (a name as sent) lower-cased, or `fail` when it is not a token. */
function headerName(raw: string, fail: (msg: string) => never): string {
  try {
    return checkedName(raw);
  } catch {
    const name = raw.toLowerCase();
    return fail(hasLineBreak(name) ? LINE_BREAK : `invalid header name "${name.slice(0, 64)}"`);
  }
}

/** Where the line starting at `from` ends: its CRLF, or the end of `text` (a head is passed without its final CRLFCRLF). */
function lineEnd(text: string, from: number): number {
  const end = text.indexOf('\r\n', from);
  return end < 0 ? text.length : end;
}

/** The lines of a head (the start line and every field line). */
function lineCount(text: string): number {
  let n = 1;
  for (let i = text.indexOf('\r\n'); i >= 0; i = text.indexOf('\r\n', i + 2)) n++;
  return n;
}

/**
 * Reads the field lines of `text` from `from` (just past the start line's CRLF) strictly: obs-fold,
 * a missing colon, an invalid name or value → `fail`. Names and values are cut out of `text` as
 * they are found: no line is made a string of its own first.
 */
function readFields(text: string, from: number, fail: (msg: string) => never): Fields {
  const f: Fields = { headers: [], contentLengths: [], transferEncoding: undefined, connection: '', hosts: 0, expect: undefined };
  for (let start = from; start < text.length; ) {
    const end = lineEnd(text, start);
    const c0 = text.charCodeAt(start);
    if (c0 === 32 || c0 === 9) fail('obsolete line folding');
    const colon = text.indexOf(':', start);
    if (colon <= start || colon > end) fail('malformed header line');
    const name = headerName(text.slice(start, colon), fail);
    const value = trimOWS(text, colon + 1, end);
    if (BAD_VALUE.test(value)) fail(hasLineBreak(value) ? LINE_BREAK : `invalid value of header "${name}"`);
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
    start = end + 2;
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
 * Whether `buf[from..]` holds a line ending other than CRLF: a LF without its CR, or a CR followed by
 * anything but LF (a CR as the last byte is undecided). Such a head can never end in CRLFCRLF, so it
 * is refused as soon as it is seen rather than when a timeout fires. `from` lets a caller skip the
 * bytes it already scanned (start one byte early so a CR at the old end is judged).
 */
export function hasBareLineEnding(buf: Buffer, from: number): boolean {
  for (let i = buf.indexOf(10, from); i >= 0; i = buf.indexOf(10, i + 1)) if (i === 0 || buf[i - 1] !== 13) return true;
  for (let i = buf.indexOf(13, from); i >= 0 && i + 1 < buf.length; i = buf.indexOf(13, i + 1)) if (buf[i + 1] !== 10) return true;
  return false;
}

/**
 * Finds a complete header block in `buf` from `start`. Returns the index just past the blank line,
 * or -1 when more bytes are needed. Throws when the block exceeds `maxBytes` or has a line ending
 * other than CRLF; `scanFrom` (≥ start): where the bytes not yet checked for line endings begin.
 */
export function findHeadEnd(buf: Buffer, start: number, maxBytes: number, scanFrom = start): number {
  const end = buf.indexOf(CRLFCRLF, start);
  if (end < 0) {
    // over the limit, unless what is past it can still be the start of the final CRLFCRLF
    // (a head of exactly maxBytes may arrive with its terminator split across reads)
    if (incompleteHeadTooLarge(buf, start, maxBytes)) throw new ProtocolError('response headers too large');
    if (hasBareLineEnding(buf, Math.max(start, scanFrom - 1))) throw new ProtocolError('response head line not ended by CRLF');
    return -1;
  }
  if (end - start > maxBytes) throw new ProtocolError('response headers too large');
  return end + 4;
}

/** Parses a status line and headers (`text` excludes the final CRLFCRLF). */
export function parseResponseHead(text: string, requestMethod: string): ResponseHead {
  const statusEnd = lineEnd(text, 0);
  const statusLine = text.slice(0, statusEnd);
  const m = STATUS_LINE.exec(statusLine);
  if (!m) throw new ProtocolError(hasLineBreak(statusLine) ? `${LINE_BREAK} in response head` : `invalid status line "${statusLine.slice(0, 64)}"`);
  const minor = m[1];
  const status = Number(m[2]);
  const f = readFields(text, statusEnd + 2, (msg) => {
    throw new ProtocolError(`${msg} in response`);
  });
  const { headers, transferEncoding, connection } = f;
  const contentLength = responseContentLength(f.contentLengths);
  if (transferEncoding !== undefined) {
    // RFC 9112 §6.3: both may be a smuggling attempt; Envoy's codec refuses both, and any coding but
    // plain "chunked", in responses as in requests (the upstream request fails with UPE)
    if (contentLength !== undefined) throw new ProtocolError('content-length with transfer-encoding in response');
    if (transferEncoding.toLowerCase() !== 'chunked') throw new ProtocolError(`unsupported transfer-encoding "${transferEncoding.slice(0, 64)}" in response`);
  }
  const keepAlive = keepsAlive(minor === '1', connection);
  let bodyLength: number;
  if (requestMethod === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) {
    bodyLength = 0;
  } else if (transferEncoding !== undefined) {
    bodyLength = CHUNKED;
  } else if (contentLength !== undefined) {
    bodyLength = contentLength;
  } else {
    bodyLength = UNTIL_CLOSE;
  }
  // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding must not be trusted to frame the next one
  const reusable = keepAlive && bodyLength !== UNTIL_CLOSE && !(minor === '0' && transferEncoding !== undefined);
  return { status, headers, keepAlive: reusable, bodyLength };
}

/**
 * The Content-Length of a response, checked whatever the status (a HEAD or 204 response with a
 * malformed one is as suspect as any): digits only, at most 15; repeated only with the same value
 * (RFC 9110 §8.6 lets a recipient accept identical repeats).
 */
function responseContentLength(values: readonly string[]): number | undefined {
  if (values.length === 0) return undefined;
  const v = values[0];
  if (values.some((x) => x !== v)) throw new ProtocolError('conflicting content-length in response');
  if (!CONTENT_LENGTH.test(v)) throw new ProtocolError(`invalid content-length "${v.slice(0, 64)}" in response`);
  return Number(v);
}

const enum ChunkState {
  Size,
  Extensions,
  SizeLF,
  Data,
  DataCR,
  DataLF,
  Trailer,
  Done,
}

/** A chunk-size line's extensions longer than this are refused (Node's http caps them at 16 KiB). */
export const MAX_CHUNK_EXTENSIONS_BYTES = 16 * 1024;
/** The trailer section is held to the request-header limits: 60 KiB (max_request_headers_kb) and 100 fields. */
export const MAX_TRAILER_BYTES = 60 * 1024;
const MAX_TRAILERS = 100;
/** Sizes stop at 12 significant hex digits (256 TiB), well inside a double's exact range. */
const MAX_CHUNK_SIZE_BEFORE_DIGIT = 2 ** 44;
/**
 * RFC 9112 §7.1.1, what follows the size: chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ), a
 * value being a token or a quoted-string (qdtext, quoted-pair). Anything else — `5 5`, an unterminated
 * quote, control bytes, trailing whitespace — is refused, as llhttp's strict mode does. The
 * alternatives never overlap, so matching stays linear.
 */
const CHUNK_EXTENSIONS =
  /^(?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"))?)*$/;

/**
 * Decodes a chunked body incrementally. `push` returns the index in `buf` just past the last byte
 * it consumed once the body is complete (trailers included), or -1 when it needs more bytes.
 */
export class ChunkedDecoder {
  private state = ChunkState.Size;
  private size = 0;
  private sawDigit = false;
  private extensions = '';
  private remaining = 0;
  private trailerLine = '';
  private trailerBytes = 0;
  /** Trailer fields, flat [name, value, ...]. */
  readonly trailers: string[] = [];

  constructor(private readonly onData: (chunk: Buffer) => void) {}

  push(buf: Buffer, from: number): number {
    let i = from;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case ChunkState.Size: {
          const c = buf[i];
          const d = hexValue(c);
          if (d >= 0) {
            if (this.size >= MAX_CHUNK_SIZE_BEFORE_DIGIT) throw new ProtocolError('chunk size too large');
            this.size = this.size * 16 + d;
            this.sawDigit = true;
            i++;
            break;
          }
          if (!this.sawDigit) throw new ProtocolError('invalid chunk size');
          if (c === 13) {
            this.state = ChunkState.SizeLF;
            i++;
          } else {
            this.state = ChunkState.Extensions; // checked whole once its CR arrives
          }
          break;
        }
        case ChunkState.Extensions: {
          let j = i;
          while (j < n && buf[j] !== 13 && buf[j] !== 10) j++;
          if (this.extensions.length + (j - i) > MAX_CHUNK_EXTENSIONS_BYTES) throw new ProtocolError('chunk extensions too long');
          if (j > i) this.extensions += buf.toString('latin1', i, j);
          if (j === n) return -1;
          if (buf[j] === 10) throw new ProtocolError('bare LF in chunk extensions');
          if (!CHUNK_EXTENSIONS.test(this.extensions)) throw new ProtocolError('invalid chunk size line');
          this.extensions = '';
          this.state = ChunkState.SizeLF;
          i = j + 1;
          break;
        }
        case ChunkState.SizeLF:
          if (buf[i++] !== 10) throw new ProtocolError('expected LF after chunk size');
          this.state = this.size === 0 ? ChunkState.Trailer : ChunkState.Data;
          this.remaining = this.size;
          this.size = 0;
          this.sawDigit = false;
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
          const end = lf < 0 ? n : lf;
          this.trailerBytes += end - i;
          if (this.trailerBytes > MAX_TRAILER_BYTES) throw new ProtocolError('trailers too large');
          const part = this.trailerLine + buf.toString('latin1', i, end);
          // a CR anywhere but just before the LF is a CR-only line ending: refused now, not at a timeout
          const cr = part.indexOf('\r');
          if (cr >= 0 && cr < part.length - 1) throw new ProtocolError('bare CR in trailers');
          if (lf < 0) {
            this.trailerLine = part;
            return -1;
          }
          this.trailerLine = '';
          i = lf + 1;
          if (!part.endsWith('\r')) throw new ProtocolError('bare LF in trailers');
          const content = part.slice(0, -1);
          if (content === '') {
            this.state = ChunkState.Done;
            return i;
          }
          if (this.trailers.length >= MAX_TRAILERS * 2) throw new ProtocolError('too many trailers');
          const colon = content.indexOf(':');
          if (colon <= 0) throw new ProtocolError('malformed trailer');
          const name = content.slice(0, colon).toLowerCase();
          const value = trimOWS(content, colon + 1);
          if (!TOKEN.test(name)) throw new ProtocolError('invalid trailer name');
          if (BAD_VALUE.test(value)) throw new ProtocolError(`invalid value of trailer "${name}"`);
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
 * Parses a request line and headers strictly (RFC 9112, as Envoy's codec): bare LF or CR, obs-fold,
 * whitespace before the colon, invalid names or values, a missing or repeated Host, repeated
 * Content-Length, Content-Length with Transfer-Encoding, or a coding other than chunked → error.
 */
export function parseRequestHead(text: string): RequestHead {
  const requestEnd = lineEnd(text, 0);
  const requestLine = text.slice(0, requestEnd);
  const sp1 = requestLine.indexOf(' ');
  const sp2 = requestLine.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || requestLine.indexOf(' ', sp2 + 1) >= 0) throw new RequestError(400, 'malformed request line');
  const method = requestLine.slice(0, sp1);
  const target = requestLine.slice(sp1 + 1, sp2);
  const version = requestLine.slice(sp2 + 1);
  if (!METHOD.test(method)) throw new RequestError(400, hasLineBreak(method) ? `${LINE_BREAK} in request head` : 'invalid method');
  if (!TARGET.test(target)) throw new RequestError(400, hasLineBreak(target) ? `${LINE_BREAK} in request head` : 'invalid request target');
  let minor: number;
  if (version === 'HTTP/1.1') minor = 1;
  else if (version === 'HTTP/1.0') minor = 0;
  // Envoy's codec treats every other well-formed version (HTTP/0.9, 1.3, 2.0) as HTTP/1.0: refused
  // with 426 unless HTTP/1.0 is accepted (checkProtocolVersion); a malformed one (HTTP/1.10) is a 400
  else if (/^HTTP\/\d\.\d$/.test(version)) minor = 0;
  else throw new RequestError(400, hasLineBreak(version) ? `${LINE_BREAK} in request head` : 'malformed request line');
  if (lineCount(text) - 1 > MAX_REQUEST_HEADERS) throw new RequestError(431, 'too many headers');

  const f = readFields(text, requestEnd + 2, (msg) => {
    throw new RequestError(400, msg === LINE_BREAK ? `${LINE_BREAK} in request head` : msg);
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
    if (!CONTENT_LENGTH.test(contentLength)) throw new RequestError(400, 'invalid content-length');
    bodyLength = Number(contentLength);
  }
  const keepAlive = keepsAlive(minor === 1, connection);
  return { method, target, minor, headers, bodyLength, keepAlive, expectContinue: expectContinue && minor === 1 && bodyLength !== 0 };
}
