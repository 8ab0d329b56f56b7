import { describe, expect, it } from 'vitest';
import { CHUNKED, ChunkedDecoder, findHeadEnd, MAX_CHUNK_EXTENSIONS_BYTES, parseResponseHead, ProtocolError, UNTIL_CLOSE } from '../../src/codec/http1/parser.js';

/** Joins lines with CRLF (the head text passed to parseResponseHead excludes the final CRLFCRLF). */
const head = (...lines: string[]) => lines.join('\r\n');
const parse = (text: string, method = 'GET') => parseResponseHead(text, method);
const rejects = (text: string, method = 'GET') => expect(() => parseResponseHead(text, method)).toThrow(ProtocolError);

/** Deterministic PRNG (mulberry32) so "random" splits are reproducible. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('ProtocolError', () => {
  it('is an Error named ProtocolError', () => {
    const e = new ProtocolError('x');
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('ProtocolError');
    expect(e.message).toBe('x');
  });
});

describe('findHeadEnd', () => {
  it('returns the index just past the blank line', () => {
    const buf = Buffer.from('HTTP/1.1 200 OK\r\na: b\r\n\r\nBODY');
    expect(findHeadEnd(buf, 0, 1024)).toBe(buf.length - 4);
    expect(buf.subarray(findHeadEnd(buf, 0, 1024)).toString()).toBe('BODY');
  });

  it('returns -1 while the block is incomplete', () => {
    for (const s of ['', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK\r\n', 'HTTP/1.1 200 OK\r\na: b\r\n', 'HTTP/1.1 200 OK\r\na: b\r\n\r']) {
      expect(findHeadEnd(Buffer.from(s), 0, 1024), JSON.stringify(s)).toBe(-1);
    }
  });

  it('searches from `start` and ignores an earlier blank line', () => {
    const first = 'HTTP/1.1 100 Continue\r\n\r\n';
    const buf = Buffer.from(`${first}HTTP/1.1 200 OK\r\nx: y\r\n\r\nrest`);
    expect(findHeadEnd(buf, 0, 1024)).toBe(first.length);
    expect(findHeadEnd(buf, first.length, 1024)).toBe(buf.length - 4);
    expect(findHeadEnd(Buffer.from(`${first}HTTP/1.1 200 OK\r\n`), first.length, 1024)).toBe(-1);
  });

  it('enforces maxBytes on a complete block (the limit is the head size without the final CRLFCRLF)', () => {
    const text = `HTTP/1.1 200 OK\r\nx: ${'a'.repeat(100)}`;
    const buf = Buffer.from(`${text}\r\n\r\n`);
    expect(findHeadEnd(buf, 0, text.length)).toBe(buf.length);
    expect(() => findHeadEnd(buf, 0, text.length - 1)).toThrow(ProtocolError);
    // measured from `start`
    const prefixed = Buffer.concat([Buffer.alloc(50, 'z'), buf]);
    expect(findHeadEnd(prefixed, 50, text.length)).toBe(prefixed.length);
  });

  it('enforces maxBytes on an incomplete block', () => {
    expect(findHeadEnd(Buffer.alloc(64, 'a'), 0, 64)).toBe(-1);
    expect(() => findHeadEnd(Buffer.alloc(65, 'a'), 0, 64)).toThrow(ProtocolError);
    expect(findHeadEnd(Buffer.alloc(65, 'a'), 1, 64)).toBe(-1);
  });

  it('gives the same verdict whichever prefix of an acceptable head has arrived', () => {
    // A head exactly at the limit is accepted once complete, so no prefix of it may be rejected:
    // otherwise the result depends on how TCP happened to split the bytes.
    const text = `HTTP/1.1 200 OK\r\nx: ${'a'.repeat(80)}`;
    const full = Buffer.from(`${text}\r\n\r\n`);
    expect(findHeadEnd(full, 0, text.length)).toBe(full.length);
    for (let n = 1; n < full.length; n++) {
      expect(() => findHeadEnd(full.subarray(0, n), 0, text.length), `prefix of ${n}/${full.length} bytes`).not.toThrow();
    }
  });
});

describe('parseResponseHead: status line', () => {
  it('accepts HTTP/1.1 and HTTP/1.0 with a 3-digit status', () => {
    expect(parse('HTTP/1.1 200 OK\r\ncontent-length: 0').status).toBe(200);
    expect(parse('HTTP/1.0 404 Not Found\r\ncontent-length: 0').status).toBe(404);
    expect(parse('HTTP/1.1 599 Whatever\r\ncontent-length: 0').status).toBe(599);
  });

  it('accepts a missing or empty reason phrase and a reason with spaces', () => {
    expect(parse('HTTP/1.1 204').status).toBe(204);
    expect(parse('HTTP/1.1 204 ').status).toBe(204);
    expect(parse('HTTP/1.1 200 Very  Fine Indeed\r\ncontent-length: 0').status).toBe(200);
  });

  it('returns the status as a number and no headers for a bare status line', () => {
    const r = parse('HTTP/1.1 204 No Content');
    expect(r).toEqual({ status: 204, headers: [], keepAlive: true, bodyLength: 0 });
  });

  it.each([
    'HTTP/1.2 200 OK',
    'HTTP/2 200 OK',
    'HTTP/2.0 200 OK',
    'HTTP/1 200 OK',
    'http/1.1 200 OK',
    'HTTP/1.1 20 OK',
    'HTTP/1.1 2000 OK',
    'HTTP/1.1 2x0 OK',
    'HTTP/1.1  200 OK',
    'HTTP/1.1 200OK',
    'HTTP/1.1\t200 OK',
    ' HTTP/1.1 200 OK',
    'HTTP/1.1 200 O\rK',
    'ICY 200 OK',
    '',
    'garbage',
  ])('rejects status line %j', (line) => {
    rejects(`${line}\r\ncontent-length: 0`);
  });
});

describe('parseResponseHead: reason phrase', () => {
  // RFC 9112 §4: HTAB, SP, VCHAR and obs-text only (was: any byte but CR and LF)
  it.each(['OK\x00', 'O\x01K', 'OK\x7f', 'O\x1bK'])('rejects control bytes in %j', (reason) => {
    rejects(`HTTP/1.1 200 ${reason}\r\ncontent-length: 0`);
  });
  it('keeps HTAB and obs-text', () => {
    expect(parse('HTTP/1.1 200 O\tK\xe9\r\ncontent-length: 0').status).toBe(200);
  });
});

describe('parseResponseHead: header fields', () => {
  it('lower-cases names, keeps order and duplicates, trims OWS from values', () => {
    const r = parse(head('HTTP/1.1 200 OK', 'Content-Type: text/plain', 'X-Dup: one', 'Set-Cookie: a=1', 'x-dup:two', 'SET-COOKIE:  b=2 \t', 'Empty:', 'Content-Length: 0'));
    expect(r.headers).toEqual([
      'content-type', 'text/plain',
      'x-dup', 'one',
      'set-cookie', 'a=1',
      'x-dup', 'two',
      'set-cookie', 'b=2',
      'empty', '',
      'content-length', '0',
    ]);
  });

  it('keeps value case, inner whitespace, HTAB and obs-text', () => {
    const r = parse(head('HTTP/1.1 200 OK', 'X-A: Mixed Case\tvalue  here', 'X-B: caf\xe9', 'content-length: 0'));
    expect(r.headers).toEqual(['x-a', 'Mixed Case\tvalue  here', 'x-b', 'caf\xe9', 'content-length', '0']);
  });

  it('rejects a bare LF anywhere in the head', () => {
    rejects('HTTP/1.1 200 OK\nContent-Length: 0');
    rejects('HTTP/1.1 200 OK\r\nA: b\nContent-Length: 0');
    rejects('HTTP/1.1 200 OK\r\nA: b\r\n\nC: d');
    rejects('\nHTTP/1.1 200 OK');
  });

  it('rejects obs-fold continuation lines (SP or HTAB)', () => {
    rejects(head('HTTP/1.1 200 OK', 'X-A: one', ' two', 'content-length: 0'));
    rejects(head('HTTP/1.1 200 OK', 'X-A: one', '\ttwo', 'content-length: 0'));
  });

  it.each([
    ['no colon', 'NoColon'],
    ['empty name', ': value'],
    ['space before colon', 'X-A : v'],
    ['space inside name', 'X A: v'],
    ['separator in name', 'X(A): v'],
    ['quote in name', 'X"A: v'],
    ['control in name', 'X\x01A: v'],
    ['non-ASCII in name', 'X\xe9: v'],
    ['empty line in the middle', ''],
  ])('rejects an invalid header line (%s)', (_label, line) => {
    rejects(head('HTTP/1.1 200 OK', 'X-Ok: 1', line, 'content-length: 0'));
  });

  it.each([
    ['NUL', 'a\x00b'],
    ['SOH', 'a\x01b'],
    ['BS', 'a\x08b'],
    ['bare CR', 'a\rb'],
    ['VT', 'a\x0bb'],
    ['ESC', 'a\x1bb'],
    ['US', 'a\x1fb'],
    ['DEL', 'a\x7fb'],
  ])('rejects a control character in a value (%s)', (_label, value) => {
    rejects(head('HTTP/1.1 200 OK', `X-A: ${value}`, 'content-length: 0'));
  });

  it('rejects control characters at the edges of a value instead of trimming them away', () => {
    // only SP and HTAB are optional whitespace (RFC 9110 §5.6.3); VT and FF are invalid field content
    rejects(head('HTTP/1.1 200 OK', 'X-A: v\x0b', 'content-length: 0'));
    rejects(head('HTTP/1.1 200 OK', 'X-A: \x0cv', 'content-length: 0'));
  });

  it('keeps obs-text at the edge of a value (a latin1 0xA0 byte is not whitespace)', () => {
    const r = parse(head('HTTP/1.1 200 OK', 'X-A: v\xa0', 'content-length: 0'));
    expect(r.headers.slice(0, 2)).toEqual(['x-a', 'v\xa0']);
  });
});

describe('parseResponseHead: content-length', () => {
  it('uses content-length as the body length', () => {
    expect(parse('HTTP/1.1 200 OK\r\nContent-Length: 42').bodyLength).toBe(42);
    expect(parse('HTTP/1.1 200 OK\r\ncontent-length: 0').bodyLength).toBe(0);
    expect(parse('HTTP/1.1 200 OK\r\ncontent-length: 007').bodyLength).toBe(7);
    expect(parse('HTTP/1.1 200 OK\r\ncontent-length: 999999999999999').bodyLength).toBe(999999999999999);
  });

  it('accepts identical duplicates and keeps both in the header list', () => {
    const r = parse(head('HTTP/1.1 200 OK', 'Content-Length: 5', 'content-length: 5'));
    expect(r.bodyLength).toBe(5);
    expect(r.headers).toEqual(['content-length', '5', 'content-length', '5']);
  });

  it('rejects conflicting duplicates', () => {
    rejects(head('HTTP/1.1 200 OK', 'Content-Length: 5', 'Content-Length: 6'));
    rejects(head('HTTP/1.1 200 OK', 'Content-Length: 5', 'Content-Length: 5', 'Content-Length: 50'));
  });

  it.each(['abc', '-1', '+5', '5 5', '5, 5', '0x10', '1.5', '', '1234567890123456'])('rejects invalid content-length %j', (v) => {
    rejects(`HTTP/1.1 200 OK\r\ncontent-length: ${v}`);
  });

  // was accepted: the format was only checked when the length framed a body
  it.each([
    ['HEAD', 200],
    ['GET', 204],
    ['GET', 304],
    ['GET', 103],
  ])('rejects an invalid content-length in a bodiless response too (%s, %i)', (method, status) => {
    for (const v of ['abc', '-1', '1234567890123456']) rejects(`HTTP/1.1 ${status} X\r\ncontent-length: ${v}`, method);
    rejects(head(`HTTP/1.1 ${status} X`, 'content-length: 1', 'content-length: 2'), method);
  });
});

describe('parseResponseHead: transfer-encoding', () => {
  it('chunked → CHUNKED, whatever its case', () => {
    expect(parse('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked').bodyLength).toBe(CHUNKED);
    expect(parse('HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked').bodyLength).toBe(CHUNKED);
    expect(parse('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked').keepAlive).toBe(true);
  });

  // Envoy's codec refuses any transfer-encoding but plain "chunked" in a response too (UPE): a body
  // read until close in its place would hide a smuggling attempt behind a coding it does not know
  it('any coding other than plain chunked → ProtocolError (was: read until close)', () => {
    for (const te of ['gzip', 'chunked, gzip', 'gzip, chunked', 'identity', 'xchunked', 'chunked;x', '"chunked"', '']) {
      rejects(`HTTP/1.1 200 OK\r\ntransfer-encoding: ${te}`);
    }
    rejects(head('HTTP/1.1 200 OK', 'transfer-encoding: chunked', 'transfer-encoding: gzip'));
    rejects(head('HTTP/1.1 200 OK', 'transfer-encoding: gzip', 'transfer-encoding: chunked'));
    rejects(head('HTTP/1.1 200 OK', 'transfer-encoding: chunked', 'transfer-encoding: chunked'));
  });

  // RFC 9112 §6.3: a response with both is a smuggling attempt; Envoy answers 502 UPE (was: TE won)
  it('content-length with transfer-encoding → ProtocolError, in any order and for any status', () => {
    rejects(head('HTTP/1.1 200 OK', 'content-length: 10', 'transfer-encoding: chunked'));
    rejects(head('HTTP/1.1 200 OK', 'transfer-encoding: chunked', 'content-length: 10'));
    rejects(head('HTTP/1.1 200 OK', 'transfer-encoding: chunked', 'content-length: 0'));
    rejects(head('HTTP/1.1 204 No Content', 'transfer-encoding: chunked', 'content-length: 0'));
    rejects(head('HTTP/1.1 200 OK', 'content-length: 10', 'transfer-encoding: chunked'), 'HEAD');
  });

  it('an HTTP/1.0 response with transfer-encoding is not kept alive (RFC 9112 §6.1)', () => {
    const r = parse(head('HTTP/1.0 200 OK', 'connection: keep-alive', 'transfer-encoding: chunked'));
    expect(r.keepAlive).toBe(false);
  });
});

describe('parseResponseHead: framing without a length', () => {
  it('no content-length and no transfer-encoding → UNTIL_CLOSE and keepAlive false', () => {
    const r = parse('HTTP/1.1 200 OK\r\ncontent-type: text/plain');
    expect(r.bodyLength).toBe(UNTIL_CLOSE);
    expect(r.keepAlive).toBe(false);
    const ka = parse('HTTP/1.1 200 OK\r\nconnection: keep-alive');
    expect(ka.bodyLength).toBe(UNTIL_CLOSE);
    expect(ka.keepAlive).toBe(false);
    expect(parse('HTTP/1.0 200 OK\r\nconnection: keep-alive').keepAlive).toBe(false);
  });

  it('HEAD responses have no body whatever the framing headers say', () => {
    for (const h of ['content-length: 1000', 'transfer-encoding: chunked', 'x: y']) {
      const r = parse(`HTTP/1.1 200 OK\r\n${h}`, 'HEAD');
      expect(r.bodyLength, h).toBe(0);
      expect(r.keepAlive, h).toBe(true);
    }
    // the method is compared as sent
    expect(parse('HTTP/1.1 200 OK\r\ncontent-length: 10', 'GET').bodyLength).toBe(10);
  });

  it.each([204, 304, 100, 101, 103, 199])('status %i has no body', (status) => {
    for (const framing of ['content-length: 55', 'transfer-encoding: chunked']) {
      const r = parse(`HTTP/1.1 ${status} X\r\n${framing}`);
      expect(r.bodyLength, framing).toBe(0);
      expect(r.keepAlive, framing).toBe(true);
    }
    expect(parse(`HTTP/1.1 ${status} X`).bodyLength).toBe(0);
  });

  it('200, 205, 404 and 500 without framing do have a body until close', () => {
    for (const s of [200, 205, 404, 500]) expect(parse(`HTTP/1.1 ${s} X`).bodyLength, String(s)).toBe(UNTIL_CLOSE);
  });
});

describe('parseResponseHead: keep-alive', () => {
  const cl = 'content-length: 0';
  it('HTTP/1.1 is kept alive unless connection has close', () => {
    expect(parse(head('HTTP/1.1 200 OK', cl)).keepAlive).toBe(true);
    expect(parse(head('HTTP/1.1 200 OK', 'connection: keep-alive', cl)).keepAlive).toBe(true);
    expect(parse(head('HTTP/1.1 200 OK', 'connection: upgrade', cl)).keepAlive).toBe(true);
    expect(parse(head('HTTP/1.1 200 OK', 'connection: closed', cl)).keepAlive).toBe(true);
    expect(parse(head('HTTP/1.1 200 OK', 'connection: close', cl)).keepAlive).toBe(false);
    expect(parse(head('HTTP/1.1 200 OK', 'Connection: Close', cl)).keepAlive).toBe(false);
    expect(parse(head('HTTP/1.1 200 OK', 'connection: keep-alive, close', cl)).keepAlive).toBe(false);
    expect(parse(head('HTTP/1.1 200 OK', 'connection: upgrade ,close , x', cl)).keepAlive).toBe(false);
    expect(parse(head('HTTP/1.1 200 OK', 'connection: upgrade', 'connection: close', cl)).keepAlive).toBe(false);
  });

  it('HTTP/1.0 is kept alive only with connection: keep-alive', () => {
    expect(parse(head('HTTP/1.0 200 OK', cl)).keepAlive).toBe(false);
    expect(parse(head('HTTP/1.0 200 OK', 'connection: keep-alive', cl)).keepAlive).toBe(true);
    expect(parse(head('HTTP/1.0 200 OK', 'Connection: Keep-Alive', cl)).keepAlive).toBe(true);
    expect(parse(head('HTTP/1.0 200 OK', 'connection: foo, keep-alive', cl)).keepAlive).toBe(true);
    expect(parse(head('HTTP/1.0 200 OK', 'connection: keep-alives', cl)).keepAlive).toBe(false);
    expect(parse(head('HTTP/1.0 200 OK', 'connection: close', cl)).keepAlive).toBe(false);
  });
});

// ---------------------------------------------------------------- chunked

interface Decoded {
  data: string;
  /** For each push: the returned index. */
  results: number[];
  trailers: string[];
}

/** Pushes each piece once, starting at `from` 0; returns what came out. */
function decode(pieces: Buffer[]): Decoded {
  const out: Buffer[] = [];
  const dec = new ChunkedDecoder((c) => out.push(Buffer.from(c)));
  const results = pieces.map((p) => dec.push(p, 0));
  return { data: Buffer.concat(out).toString('latin1'), results, trailers: dec.trailers };
}

function splitRandomly(buf: Buffer, rand: () => number, maxPiece: number): Buffer[] {
  const pieces: Buffer[] = [];
  let i = 0;
  while (i < buf.length) {
    const n = 1 + Math.floor(rand() * maxPiece);
    pieces.push(buf.subarray(i, i + n));
    i += n;
  }
  return pieces;
}

describe('findHeadEnd: line endings', () => {
  // a head that can never end in CRLFCRLF is refused at once, not when a timeout fires (was: -1, wait)
  it.each([
    ['a CR-only line ending', 'HTTP/1.1 200 OK\rcontent-length: 0\r\r'],
    ['a bare CR inside a value', 'HTTP/1.1 200 OK\r\nx: a\rb'],
    ['a bare LF', 'HTTP/1.1 200 OK\ncontent-length: 0\n'],
  ])('%s → ProtocolError before the head is complete', (_label, text) => {
    expect(() => findHeadEnd(Buffer.from(text), 0, 1024)).toThrow(ProtocolError);
  });

  it('a CR as the last byte read so far is not judged yet, and scanFrom skips bytes already checked', () => {
    expect(findHeadEnd(Buffer.from('HTTP/1.1 200 OK\r'), 0, 1024)).toBe(-1);
    expect(findHeadEnd(Buffer.from('HTTP/1.1 200 OK\r\nx: y\r\n\r'), 0, 1024)).toBe(-1);
    // the CR at the end of the earlier read is judged against the byte that follows it
    expect(() => findHeadEnd(Buffer.from('HTTP/1.1 200 OK\rX'), 0, 1024, 16)).toThrow(ProtocolError);
  });
});

describe('ChunkedDecoder', () => {
  const body = '5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n';

  it('decodes a complete body in one push and returns the index just past it', () => {
    const buf = Buffer.from(body);
    const r = decode([buf]);
    expect(r.data).toBe('hello 0123456789');
    expect(r.results).toEqual([buf.length]);
    expect(r.trailers).toEqual([]);
  });

  it('returns the end index so bytes after the body are detectable', () => {
    const buf = Buffer.from(`${body}HTTP/1.1 200 OK\r\n`);
    const r = decode([buf]);
    expect(r.results[0]).toBe(body.length);
    expect(buf.subarray(r.results[0]).toString()).toBe('HTTP/1.1 200 OK\r\n');
    expect(r.data).toBe('hello 0123456789');
  });

  it('honours `from`', () => {
    const prefix = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n';
    const buf = Buffer.from(prefix + body + 'x');
    const out: Buffer[] = [];
    const dec = new ChunkedDecoder((c) => out.push(Buffer.from(c)));
    expect(dec.push(buf, prefix.length)).toBe(prefix.length + body.length);
    expect(Buffer.concat(out).toString()).toBe('hello 0123456789');
  });

  it('decodes byte by byte: -1 until the last byte, then 1', () => {
    const buf = Buffer.from(`${body.slice(0, -2)}X-T: v\r\n\r\n`);
    const pieces = [...buf].map((b) => Buffer.from([b]));
    const r = decode(pieces);
    expect(r.data).toBe('hello 0123456789');
    expect(r.results.slice(0, -1).every((x) => x === -1)).toBe(true);
    expect(r.results.at(-1)).toBe(1);
    expect(r.trailers).toEqual(['x-t', 'v']);
  });

  it('decodes the same under many random splits (fixed seed)', () => {
    const rand = rng(0x5eed);
    // a body with varied chunk sizes, extensions, upper- and lower-case hex, and trailers
    const payload: string[] = [];
    let wire = '';
    for (let k = 0; k < 40; k++) {
      const len = 1 + Math.floor(rand() * 300);
      const data = Array.from({ length: len }, () => String.fromCharCode(Math.floor(rand() * 256))).join('');
      payload.push(data);
      const hex = rand() < 0.5 ? len.toString(16).toUpperCase() : len.toString(16);
      const ext = rand() < 0.3 ? ';name="v;x"' : rand() < 0.5 ? ' ; a=b' : '';
      wire += `${hex}${ext}\r\n${data}\r\n`;
    }
    wire += '0;last\r\nX-Checksum: abc\r\nx-other:  1 2 \r\n\r\n';
    const buf = Buffer.from(wire + 'TAIL', 'latin1');
    const expected = payload.join('');
    for (let round = 0; round < 200; round++) {
      const pieces = splitRandomly(buf, rand, 1 + Math.floor(rand() * 64));
      const r = decode(pieces);
      const done = r.results.findIndex((x) => x >= 0);
      expect(done, `round ${round}`).toBeGreaterThanOrEqual(0);
      // the consumed offset inside the completing piece lands exactly at the start of TAIL
      const before = pieces.slice(0, done).reduce((a, p) => a + p.length, 0);
      expect(before + r.results[done], `round ${round}`).toBe(wire.length);
      expect(r.data.length).toBe(expected.length);
      expect(r.data === expected, `round ${round}`).toBe(true);
      expect(r.trailers).toEqual(['x-checksum', 'abc', 'x-other', '1 2']);
    }
  });

  it('accepts upper- and lower-case hex sizes', () => {
    const data = 'z'.repeat(0xab);
    expect(decode([Buffer.from(`AB\r\n${data}\r\n0\r\n\r\n`)]).data).toBe(data);
    expect(decode([Buffer.from(`ab\r\n${data}\r\n0\r\n\r\n`)]).data).toBe(data);
    expect(decode([Buffer.from(`aB\r\n${data}\r\n0\r\n\r\n`)]).data).toBe(data);
    expect(decode([Buffer.from(`00aB\r\n${data}\r\n0\r\n\r\n`)]).data).toBe(data);
  });

  it('ignores chunk extensions, on data chunks and on the last chunk', () => {
    const r = decode([Buffer.from('3;a=1;b="x y"\r\nabc\r\n2 ;q\r\nde\r\n0;end=yes\r\n\r\n')]);
    expect(r.data).toBe('abcde');
    expect(r.results[0]).toBeGreaterThan(0);
  });

  it('a lone zero chunk is an empty body', () => {
    let calls = 0;
    const dec = new ChunkedDecoder(() => calls++);
    expect(dec.push(Buffer.from('0\r\n\r\n'), 0)).toBe(5);
    expect(calls).toBe(0);
    expect(dec.trailers).toEqual([]);
    const dec2 = new ChunkedDecoder(() => calls++);
    expect(dec2.push(Buffer.from('000\r\n\r\n'), 0)).toBe(7);
  });

  it('consumes nothing once complete', () => {
    const dec = new ChunkedDecoder(() => {});
    expect(dec.push(Buffer.from('0\r\n\r\n'), 0)).toBe(5);
    expect(dec.push(Buffer.from('xyz'), 1)).toBe(1);
    expect(dec.push(Buffer.from('1\r\na\r\n'), 0)).toBe(0);
  });

  it('needs the final CRLF after the last chunk before it reports completion', () => {
    const dec = new ChunkedDecoder(() => {});
    expect(dec.push(Buffer.from('0\r\n'), 0)).toBe(-1);
    expect(dec.push(Buffer.from('\r'), 0)).toBe(-1);
    expect(dec.push(Buffer.from('\nnext'), 0)).toBe(1);
  });

  it('parses trailers: names lower-cased, values trimmed, in order, duplicates kept', () => {
    const r = decode([Buffer.from('1\r\nx\r\n0\r\nX-A: 1\r\nServer-Timing:  db;dur=5 \r\nx-a:2\r\n\r\n')]);
    expect(r.data).toBe('x');
    expect(r.trailers).toEqual(['x-a', '1', 'server-timing', 'db;dur=5', 'x-a', '2']);
  });

  it('parses a trailer line split across pushes, including between CR and LF', () => {
    const dec = new ChunkedDecoder(() => {});
    expect(dec.push(Buffer.from('0\r\nX-Lo'), 0)).toBe(-1);
    expect(dec.push(Buffer.from('ng: val'), 0)).toBe(-1);
    expect(dec.push(Buffer.from('ue\r'), 0)).toBe(-1);
    expect(dec.push(Buffer.from('\n\r'), 0)).toBe(-1);
    expect(dec.push(Buffer.from('\n'), 0)).toBe(1);
    expect(dec.trailers).toEqual(['x-long', 'value']);
  });

  it('delivers data chunks as views in order, without copying extra bytes', () => {
    const seen: string[] = [];
    const dec = new ChunkedDecoder((c) => seen.push(c.toString()));
    dec.push(Buffer.from('4\r\nab'), 0);
    dec.push(Buffer.from('cd\r\n3\r\nefg\r\n0\r\n\r\n'), 0);
    expect(seen).toEqual(['ab', 'cd', 'efg']);
  });

  it.each([
    ['non-hex size', 'g\r\nx\r\n0\r\n\r\n'],
    ['0x prefix', '0x5\r\nhello\r\n0\r\n\r\n'],
    ['negative size', '-5\r\nhello\r\n0\r\n\r\n'],
    ['empty size', '\r\nhello\r\n0\r\n\r\n'],
    ['leading whitespace', ' 5\r\nhello\r\n0\r\n\r\n'],
    ['only an extension', ';x\r\nhello\r\n0\r\n\r\n'],
    ['bare LF after size', '5\nhello\r\n0\r\n\r\n'],
    ['CR not followed by LF after size', '5\rXhello\r\n0\r\n\r\n'],
    ['bare LF in an extension', '5;a\nhello\r\n0\r\n\r\n'],
    ['too many size digits', '1000000000000\r\n'],
    ['data longer than the size', '5\r\nhelloX\r\n0\r\n\r\n'],
    ['data shorter than the size', '5\r\nhell\r\n0\r\n\r\n'],
    ['LF only after data', '5\r\nhello\n0\r\n\r\n'],
    ['CR then junk after data', '5\r\nhello\rX0\r\n\r\n'],
    ['bare LF ending the trailers', '0\r\n\n'],
    ['bare LF after a trailer', '0\r\nx-a: 1\n\r\n'],
    ['trailer without a colon', '0\r\nnocolon\r\n\r\n'],
    ['trailer with an empty name', '0\r\n: v\r\n\r\n'],
  ])('rejects %s', (_label, wire) => {
    expect(() => decode([Buffer.from(wire)])).toThrow(ProtocolError);
    // and the same when fed byte by byte
    expect(() => decode([...Buffer.from(wire)].map((b) => Buffer.from([b])))).toThrow(ProtocolError);
  });

  // llhttp strict mode / RFC 9112 §7.1.1; each was accepted as an extension or ignored before
  it.each([
    ['a second size after a space (5 5)', '5 5\r\nhello\r\n0\r\n\r\n'],
    ['a space inside the size', '5 0\r\n'],
    ['trailing whitespace after the size', '5 \r\nhello\r\n0\r\n\r\n'],
    ['a tab then junk', '5\tx\r\nhello\r\n0\r\n\r\n'],
    ['a leading +', '+5\r\nhello\r\n0\r\n\r\n'],
    ['an unterminated quoted extension value', '5;a="b\r\nhello\r\n0\r\n\r\n'],
    ['a quote that closes inside the CR (quoted CR)', '5;a="\r"\r\nhello\r\n0\r\n\r\n'],
    ['a NUL in an extension', '5;a=b\x00\r\nhello\r\n0\r\n\r\n'],
    ['a DEL in an extension value', '5;a=\x7f\r\nhello\r\n0\r\n\r\n'],
    ['an ESC in a quoted extension', '5;a="\x1b"\r\nhello\r\n0\r\n\r\n'],
    ['a bare CR in an extension', '5;a\rb\r\nhello\r\n0\r\n\r\n'],
    ['an extension without a name', '5;\r\nhello\r\n0\r\n\r\n'],
    ['an extension with an empty value', '5;a=\r\nhello\r\n0\r\n\r\n'],
    ['an extension name with a space inside', '5;a b=c\r\nhello\r\n0\r\n\r\n'],
    ['junk after a quoted value', '5;a="b"c\r\nhello\r\n0\r\n\r\n'],
    ['an unterminated quote on the last chunk', '0;a="b\r\n\r\n'],
    ['a huge size (overflow)', 'ffffffffffffffffffff\r\n'],
    ['a CR-only line ending in the trailers', '0\r\nx-a: 1\rx-b: 2\r\r'],
    ['obs-fold in the trailers', '0\r\nx-a: 1\r\n b\r\n\r\n'],
  ])('rejects %s', (_label, wire) => {
    expect(() => decode([Buffer.from(wire, 'latin1')])).toThrow(ProtocolError);
    expect(() => decode([...Buffer.from(wire, 'latin1')].map((b) => Buffer.from([b])))).toThrow(ProtocolError);
  });

  it.each([
    ['a token extension', '5;name=value\r\nhello\r\n0\r\n\r\n'],
    ['BWS around ; and =', '5 ;\tname = value ; flag\r\nhello\r\n0\r\n\r\n'],
    ['a quoted value with a quoted-pair and obs-text', '5;a="x \\" y\xe9"\r\nhello\r\n0\r\n\r\n'],
    ['several extensions', '5;a;b=c;d="e"\r\nhello\r\n0;last\r\n\r\n'],
    ['leading zeros beyond 12 digits', '0000000000000005\r\nhello\r\n0\r\n\r\n'],
  ])('accepts %s', (_label, wire) => {
    for (const parts of [[Buffer.from(wire, 'latin1')], [...Buffer.from(wire, 'latin1')].map((b) => Buffer.from([b]))]) {
      const chunks: Buffer[] = [];
      const dec = new ChunkedDecoder((c) => chunks.push(Buffer.from(c)));
      let end = -1;
      for (const p of parts) end = dec.push(p, 0);
      expect(end).toBe(parts.at(-1)!.length);
      expect(Buffer.concat(chunks).toString()).toBe('hello');
    }
  });

  it('refuses chunk extensions longer than 16 KiB without waiting for their end', () => {
    const dec = new ChunkedDecoder(() => {});
    expect(() => dec.push(Buffer.from(`5;${'a'.repeat(MAX_CHUNK_EXTENSIONS_BYTES)}`), 0)).toThrow(ProtocolError);
  });

  it('holds the trailer section to 60 KiB and 100 fields in all (was: 64 KiB per line, any number)', () => {
    const many = new ChunkedDecoder(() => {});
    many.push(Buffer.from('0\r\n'), 0);
    expect(() => {
      for (let k = 0; k < 101; k++) many.push(Buffer.from(`x-t${k}: v\r\n`), 0);
    }).toThrow(ProtocolError);
    const big = new ChunkedDecoder(() => {});
    big.push(Buffer.from('0\r\n'), 0);
    expect(() => {
      for (let k = 0; k < 40; k++) big.push(Buffer.from(`x-t${k}: ${'v'.repeat(2000)}\r\n`), 0);
    }).toThrow(ProtocolError);
  });

  it('accepts a 12-digit size (the largest allowed) without overflowing', () => {
    const dec = new ChunkedDecoder(() => {});
    expect(dec.push(Buffer.from('FFFFFFFFFFFF\r\nabc'), 0)).toBe(-1);
  });

  it('rejects trailer fields with invalid names or control characters, like header fields', () => {
    const bad = [
      '0\r\nx a: 1\r\n\r\n', // space in the name
      '0\r\nx-a : 1\r\n\r\n', // whitespace before the colon
      '0\r\n folded: 1\r\n\r\n', // obs-fold / leading whitespace
      '0\r\nx-a: 1\x00\r\n\r\n', // NUL in the value
      '0\r\nx-a: 1\rinjected\r\n\r\n', // bare CR in the value
    ];
    for (const wire of bad) expect(() => decode([Buffer.from(wire)]), JSON.stringify(wire)).toThrow(ProtocolError);
  });

  it('rejects oversized trailers', () => {
    const dec = new ChunkedDecoder(() => {});
    dec.push(Buffer.from('0\r\nx-big: '), 0);
    expect(() => {
      for (let k = 0; k < 100; k++) dec.push(Buffer.alloc(1024, 'a'), 0);
    }).toThrow(ProtocolError);
  });
});
