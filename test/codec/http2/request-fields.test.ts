// RFC 9113 §8.2–§8.3 and RFC 8441: a decoded HTTP/2 header list → the request, or why it is
// malformed (the stream is then reset PROTOCOL_ERROR, as Envoy does).
import { describe, expect, it } from 'vitest';
import { requestFields, trailerFields, type RequestFields } from '../../../src/codec/http2/request-fields.js';

const GET = [':method', 'GET', ':scheme', 'https', ':path', '/a?b', ':authority', 'shop.example.com'];

function ok(list: string[]): RequestFields {
  const r = requestFields(list);
  if (typeof r === 'string') throw new Error(r);
  return r;
}

describe('requestFields', () => {
  it('pseudo-headers become method, target, scheme; :authority becomes host, first', () => {
    const r = ok([...GET, 'x-a', '1']);
    expect(r).toMatchObject({ method: 'GET', target: '/a?b', scheme: 'https', protocol: undefined, contentLength: -1 });
    expect(r.headers).toEqual(['host', 'shop.example.com', 'x-a', '1']);
  });

  it('a host next to :authority is dropped; alone it stays', () => {
    expect(ok([...GET, 'host', 'other.example.com']).headers).toEqual(['host', 'shop.example.com']);
    expect(ok([':method', 'GET', ':scheme', 'http', ':path', '/', 'host', 'h.example.com']).headers).toEqual(['host', 'h.example.com']);
  });

  it('extended CONNECT carries :protocol; plain CONNECT has only :authority, the target', () => {
    expect(ok([':method', 'CONNECT', ':protocol', 'websocket', ':scheme', 'http', ':path', '/ws', ':authority', 'chat']).protocol).toBe('websocket');
    expect(ok([':method', 'CONNECT', ':authority', 'db:5432']).target).toBe('db:5432');
  });

  it('content-length: one number, repeated only with the same value', () => {
    expect(ok([...GET, 'content-length', '12', 'content-length', '12']).contentLength).toBe(12);
    expect(typeof requestFields([...GET, 'content-length', '12', 'content-length', '13'])).toBe('string');
    expect(typeof requestFields([...GET, 'content-length', '-1'])).toBe('string');
  });

  const malformed: [string, string[]][] = [
    ['no :method', [':scheme', 'http', ':path', '/']],
    ['no :path', [':method', 'GET', ':scheme', 'http']],
    ['an empty :path', [':method', 'GET', ':scheme', 'http', ':path', '']],
    ['two :path', [...GET, ':path', '/x']],
    ['an unknown pseudo-header', [...GET, ':status', '200']],
    ['a pseudo-header after a regular field', [':method', 'GET', 'x-a', '1', ':scheme', 'http', ':path', '/']],
    ['upper case in a name', [...GET, 'X-Upper', '1']],
    ['a space in a name', [...GET, 'x evil', '1']],
    ['CR LF in a value', [...GET, 'x-evil', 'a\r\nx-injected: 1']],
    ['NUL in a value', [...GET, 'x-evil', 'a\u0000b']],
    ['connection', [...GET, 'connection', 'close']],
    ['transfer-encoding', [...GET, 'transfer-encoding', 'chunked']],
    ['upgrade', [...GET, 'upgrade', 'websocket']],
    ['te other than trailers', [...GET, 'te', 'gzip']],
    [':protocol on a GET', [...GET, ':protocol', 'websocket']],
    ['CONNECT with a :path but no :protocol', [':method', 'CONNECT', ':authority', 'a', ':path', '/']],
  ];
  for (const [what, list] of malformed) {
    it(`malformed: ${what}`, () => expect(typeof requestFields(list)).toBe('string'));
  }

  it('te: trailers is allowed (gRPC)', () => {
    expect(ok([...GET, 'te', 'trailers']).headers).toContain('te');
  });
});

describe('trailerFields', () => {
  it('regular fields pass; pseudo-headers and malformed names do not', () => {
    expect(trailerFields(['grpc-status', '0'])).toEqual(['grpc-status', '0']);
    expect(typeof trailerFields([':status', '200'])).toBe('string');
    expect(typeof trailerFields(['Grpc-Status', '0'])).toBe('string');
  });
});
