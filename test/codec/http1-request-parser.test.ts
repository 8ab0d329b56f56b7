// The downstream HTTP/1.1 request-head parser: what it refuses, with the status Envoy's codec answers.
import { describe, expect, it } from 'vitest';
import { hasBareLineEnding, parseRequestHead, parseResponseHead, ProtocolError, RequestError } from '../../src/codec/http1/parser.js';

/** The status parseRequestHead refuses `text` with (the head without its final CRLFCRLF), or 0. */
function refusal(text: string): number {
  try {
    parseRequestHead(text);
    return 0;
  } catch (err) {
    if (err instanceof RequestError) return err.status;
    throw err;
  }
}

describe('parseRequestHead: HTTP version', () => {
  it('HTTP/1.1 and HTTP/1.0 as they are', () => {
    expect(parseRequestHead('GET / HTTP/1.1\r\nHost: a').minor).toBe(1);
    expect(parseRequestHead('GET / HTTP/1.0').minor).toBe(0);
  });

  // Envoy's codec: any well-formed version but 1.1 is HTTP/1.0 to it (checkProtocolVersion), then
  // refused with 426 unless HTTP/1.0 is accepted; this parser used to answer 505
  it.each(['HTTP/2.0', 'HTTP/1.3', 'HTTP/0.9', 'HTTP/3.0'])('%s is handled as HTTP/1.0', (version) => {
    expect(parseRequestHead(`GET / ${version}\r\nHost: a`).minor).toBe(0);
  });

  it.each(['HTTP/1.10', 'HTTP/11', 'HTTP/1', 'http/1.1', 'HTTP/1.1 ', 'HTTP/a.b', 'HTTPS/1.1', ''])('%j → 400', (version) => {
    expect(refusal(`GET / ${version}\r\nHost: a`)).toBe(400);
  });
});

describe('parseRequestHead: line endings and bytes llhttp strict mode refuses', () => {
  it.each([
    ['a bare CR in the request line', 'GET /\r HTTP/1.1\r\nHost: a'],
    ['a bare CR ending the request line', 'GET / HTTP/1.1\rHost: a'],
    ['a bare CR inside a header value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\rb'],
    ['a bare CR ending the last value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\r'],
    ['a bare CR in a header name', 'GET / HTTP/1.1\r\nHost: a\r\nX\r: a'],
    ['a bare LF', 'GET / HTTP/1.1\nHost: a'],
    ['a NUL in a header value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b'],
    ['a NUL in the target', 'GET /\x00 HTTP/1.1\r\nHost: a'],
    ['a method with a non-token character', 'G(T / HTTP/1.1\r\nHost: a'],
    ['a method with a NUL', 'G\x00T / HTTP/1.1\r\nHost: a'],
    ['two spaces after the method', 'GET  / HTTP/1.1\r\nHost: a'],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2'],
  ])('%s → 400', (_label, text) => {
    expect(refusal(text)).toBe(400);
  });
});

describe('field values: every byte', () => {
  // the head is scanned once for what a value may not hold; only a head with such a byte has its
  // values checked one by one: every byte must still be judged as the per-value check judges it
  const refused = (c: number) => c <= 0x08 || (c >= 0x0a && c <= 0x1f) || c === 0x7f;
  const responseRefused = (text: string) => {
    try {
      parseResponseHead(text, 'GET');
      return false;
    } catch (err) {
      if (err instanceof ProtocolError) return true;
      throw err;
    }
  };

  it.each(Array.from({ length: 256 }, (_, c) => c))('byte %i inside, first and last in a value', (c) => {
    const ch = String.fromCharCode(c);
    for (const value of [`a${ch}b`, `${ch}b`, `a${ch}`]) {
      // the byte in the second field, with a clean field on each side
      expect(refusal(`GET / HTTP/1.1\r\nHost: a\r\nX: ${value}\r\nY: z`) !== 0).toBe(refused(c));
      expect(responseRefused(`HTTP/1.1 200 OK\r\ncontent-length: 0\r\nx: ${value}\r\ny: z`)).toBe(refused(c));
    }
  });
});

describe('hasBareLineEnding', () => {
  it('finds a LF without its CR and a CR followed by anything but LF', () => {
    expect(hasBareLineEnding(Buffer.from('GET / HTTP/1.1\nHost'), 0)).toBe(true);
    expect(hasBareLineEnding(Buffer.from('\nGET'), 0)).toBe(true);
    expect(hasBareLineEnding(Buffer.from('GET / HTTP/1.1\rHost'), 0)).toBe(true);
    expect(hasBareLineEnding(Buffer.from('GET / HTTP/1.1\r\r\n'), 0)).toBe(true);
  });

  it('leaves CRLF pairs, and a CR that is the last byte so far, alone', () => {
    expect(hasBareLineEnding(Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n'), 0)).toBe(false);
    expect(hasBareLineEnding(Buffer.from('GET / HTTP/1.1\r\nHost: a\r'), 0)).toBe(false);
    expect(hasBareLineEnding(Buffer.from(''), 0)).toBe(false);
  });

  it('checks from `from` on: bytes before it were judged by an earlier call', () => {
    const buf = Buffer.from('a\nb\r\nc\rd');
    expect(hasBareLineEnding(buf, 0)).toBe(true);
    expect(hasBareLineEnding(buf, 2)).toBe(true); // the CR at 6
    expect(hasBareLineEnding(buf, 7)).toBe(false);
    // a LF right at `from` is judged against the byte before it
    expect(hasBareLineEnding(Buffer.from('ab\r\n'), 3)).toBe(false);
    expect(hasBareLineEnding(Buffer.from('abc\n'), 3)).toBe(true);
  });
});

describe('parseRequestHead: header names checked once per thread (CHECKED_NAMES)', () => {
  it('a name seen before is lower-cased as the first time; an invalid one is refused every time it comes', () => {
    for (let i = 0; i < 3; i++) {
      expect(parseRequestHead('GET / HTTP/1.1\r\nHost: a\r\nX-Mixed-Case: 1').headers).toEqual(['host', 'a', 'x-mixed-case', '1']);
      expect(refusal('GET / HTTP/1.1\r\nHost: a\r\nBad Name: 1')).toBe(400);
      expect(refusal('GET / HTTP/1.1\r\nHost: a\r\nBad(Name): 1')).toBe(400);
    }
  });

  it('past the bound, new names still take the full path: lower-cased, and refused when invalid', () => {
    for (let i = 0; i < 1_100; i++) expect(parseRequestHead(`GET / HTTP/1.1\r\nHost: a\r\nX-Filler-${i}: 1`).headers[2]).toBe(`x-filler-${i}`);
    expect(parseRequestHead('GET / HTTP/1.1\r\nHost: a\r\nX-After-The-Bound: 1').headers[2]).toBe('x-after-the-bound');
    expect(refusal('GET / HTTP/1.1\r\nHost: a\r\nAfter The Bound: 1')).toBe(400);
  });
});
