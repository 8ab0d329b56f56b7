// The HPACK codec against nghttp2's (node:http2's) on one loopback connection each way: blocks our
// encoder writes are read by a node:http2 server, and blocks a node:http2 client writes are read by
// our decoder, over several requests so both dynamic tables are used.
import http2 from 'node:http2';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HpackDecoder } from '../../../../src/codec/http2/hpack/decoder.js';
import { HpackEncoder } from '../../../../src/codec/http2/hpack/encoder.js';
import { Flag, frame, FrameType, parseFrames, PREFACE, SETTINGS } from '../../../helpers/h2-frames.js';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** Request i of a series: fields that repeat (indexed on the second request), change, or are secret. */
function request(i: number): string[] {
  return [
    ':method', 'POST', ':scheme', 'http', ':path', `/api/v1/items/${i}?q=${'x'.repeat(i)}`, ':authority', 'shop.example.com:8080',
    'content-type', 'application/grpc', 'te', 'trailers', 'user-agent', 'grpc-node-js/1.14.7',
    'x-request-id', `req-${i}-8f0b3f4e-2c1d-4e5f-9a7b`, 'authorization', 'Bearer eyJhbGciOiJSUzI1NiJ9.secret',
    'cookie', 'a=1', 'x-obs', 'caf\u00e9 \u00ff', // obs-text octets
  ];
}

describe('HPACK and nghttp2', () => {
  it('a node:http2 server reads what our encoder writes, 12 requests on one connection', async () => {
    const received: { headers: string[]; sensitive: string[] }[] = [];
    const server = http2.createServer();
    server.on('stream', (stream, headers, _flags, raw) => {
      received.push({ headers: raw, sensitive: (headers as Record<symbol, string[] | undefined>)[http2.sensitiveHeaders] ?? [] });
      stream.respond({ ':status': 200 });
      stream.end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => server.close());
    const socket = connect((server.address() as { port: number }).port, '127.0.0.1');
    closers.push(() => socket.destroy());
    const encoder = new HpackEncoder();
    const blocks: Buffer[] = [];
    for (let i = 0; i < 12; i++) blocks.push(encoder.encode(request(i), ['x-obs']));
    socket.write(Buffer.concat([PREFACE, SETTINGS, ...blocks.map((b, i) => frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 2 * i + 1, b))]));
    await until(() => received.length === 12 || socket.destroyed);
    expect(received.map((r) => r.headers)).toEqual(Array.from({ length: 12 }, (_, i) => request(i)));
    // what nghttp2 read as never indexed: ours (authorization, the short cookie) and the one we marked
    expect(new Set(received[11].sensitive)).toEqual(new Set(['authorization', 'cookie', 'x-obs']));
    // the repeating fields went into the dynamic table: every later block is smaller than the first
    for (const block of blocks.slice(1)) expect(block.length).toBeLessThan(blocks[0].length);
  });

  it('our decoder reads what a node:http2 client writes, 12 requests on one connection', async () => {
    const chunks: Buffer[] = [];
    let raw: Buffer = Buffer.alloc(0);
    const server: Server = createServer((socket: Socket) => {
      socket.write(Buffer.concat([SETTINGS, frame(FrameType.SETTINGS, 0x1, 0)]));
      socket.on('data', (d) => chunks.push(d));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => server.close());
    const client = http2.connect(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
    closers.push(() => client.destroy());
    client.on('error', () => { /* the raw server never answers */ });
    for (let i = 0; i < 12; i++) {
      const headers = { ':method': 'POST', ':path': `/items/${i}`, 'x-request-id': `req-${i}`, 'x-tenant': 'acme', 'x-secret': `s${i}`, [http2.sensitiveHeaders]: ['x-secret'] };
      client.request(headers, { endStream: true }).on('error', () => { /* closed at the end */ });
    }
    const headerFrames = () => parseFrames((raw = Buffer.concat(chunks)).subarray(PREFACE.length)).filter((f) => f.type === FrameType.HEADERS);
    await until(() => chunks.length > 0 && headerFrames().length === 12);
    const decoder = new HpackDecoder();
    const decoded = headerFrames().map((f) => {
      expect(f.flags & Flag.END_HEADERS).toBe(Flag.END_HEADERS); // small blocks: no CONTINUATION
      const padded = f.flags & 0x8 ? f.payload[0] + 1 : 0;
      const priority = f.flags & 0x20 ? 5 : 0;
      return decoder.decode(f.payload.subarray(padded + priority, f.payload.length - (padded ? f.payload[0] : 0)));
    });
    expect(raw.subarray(0, PREFACE.length)).toEqual(PREFACE);
    decoded.forEach(({ headers, neverIndexed }, i) => {
      const asMap = Object.fromEntries(Array.from({ length: headers.length / 2 }, (_, j) => [headers[2 * j], headers[2 * j + 1]]));
      expect(asMap).toMatchObject({ ':method': 'POST', ':path': `/items/${i}`, ':scheme': 'http', 'x-request-id': `req-${i}`, 'x-tenant': 'acme', 'x-secret': `s${i}` });
      expect(neverIndexed).toEqual(['x-secret']);
    });
    expect(decoder.table.length).toBeGreaterThan(0);
  });
});

/** Waits (at most 5 s) until `done()` holds. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 250 && !done(); i++) await new Promise((r) => setTimeout(r, 20));
}
