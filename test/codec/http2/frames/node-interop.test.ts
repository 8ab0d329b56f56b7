// The frame layer against node:http2 (nghttp2) over loopback: a raw server reads what a real
// client sends with the FrameReader (preface, SETTINGS, WINDOW_UPDATE, HEADERS decoded with the
// HpackDecoder, DATA, trailers, PING) and answers with the FrameWriter and the HpackEncoder,
// which the client must take as a normal response.
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameType, SettingId } from '../../../../src/codec/http2/frames/constants.js';
import type { Http2StreamError } from '../../../../src/codec/http2/frames/errors.js';
import { FrameReader, type FrameHandler } from '../../../../src/codec/http2/frames/reader.js';
import { FrameWriter } from '../../../../src/codec/http2/frames/writer.js';
import { HpackDecoder } from '../../../../src/codec/http2/hpack/decoder.js';
import { HpackEncoder } from '../../../../src/codec/http2/hpack/encoder.js';

/** One raw HTTP/2 server connection: what it read, in order, and how it answers. */
class RawServerConnection implements FrameHandler {
  readonly seen: (string | number | string[])[][] = [];
  readonly requestBody: Buffer[] = [];
  private readonly reader = new FrameReader(this, { mode: 'server' });
  private readonly writer = new FrameWriter();
  private readonly decoder = new HpackDecoder();
  private readonly encoder = new HpackEncoder();
  error: unknown;
  /** Settles when the client has closed the connection. */
  readonly closed: Promise<void>;

  constructor(private readonly socket: Socket) {
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => {
      try {
        this.reader.feed(chunk);
      } catch (err) {
        this.error = err;
        socket.destroy();
      }
      this.flush();
    });
  }

  /** What the writer queued this turn, in one corked write. */
  private flush(): void {
    const out = this.writer.take();
    if (out.length === 0 || this.socket.destroyed) return;
    this.socket.cork();
    for (const b of out) this.socket.write(b);
    this.socket.uncork();
  }

  onSettings(entries: readonly number[]): void {
    this.seen.push(['SETTINGS', ...entries]);
    if (this.seen.length === 1) this.writer.settings([SettingId.MAX_CONCURRENT_STREAMS, 100, SettingId.INITIAL_WINDOW_SIZE, 65_536]);
    this.writer.settingsAck();
  }
  onSettingsAck(): void {
    this.seen.push(['SETTINGS_ACK']);
  }
  onWindowUpdate(streamId: number, increment: number): void {
    this.seen.push(['WINDOW_UPDATE', streamId, increment]);
  }
  onHeaders(streamId: number, block: Buffer, endStream: boolean): void {
    const { headers } = this.decoder.decode(block);
    this.seen.push(['HEADERS', streamId, headers, endStream ? 'END_STREAM' : '']);
    if (endStream) this.respond(streamId);
  }
  onData(streamId: number, data: Buffer, endStream: boolean): void {
    this.seen.push(['DATA', streamId, data.length, endStream ? 'END_STREAM' : '']);
    this.requestBody.push(Buffer.from(data));
    if (endStream) this.respond(streamId);
  }
  onPing(opaque: Buffer, ack: boolean): void {
    this.seen.push(['PING', ack ? 'ACK' : '']);
    if (!ack) this.writer.ping(opaque, true);
  }
  onPriority(streamId: number): void {
    this.seen.push(['PRIORITY', streamId]);
  }
  onRstStream(streamId: number, code: number): void {
    this.seen.push(['RST_STREAM', streamId, code]);
  }
  onGoaway(lastStreamId: number, code: number): void {
    this.seen.push(['GOAWAY', lastStreamId, code]);
  }
  onPushPromise(): void {
    throw new Error('not reached: the reader refuses PUSH_PROMISE from a client');
  }
  onStreamError(error: Http2StreamError): void {
    this.seen.push(['STREAM_ERROR', error.streamId, error.code]);
  }

  /** 200 with a 20,000-octet body (two DATA frames and more) and a trailer. */
  private respond(streamId: number): void {
    this.writer.headers(streamId, this.encoder.encode([':status', '200', 'content-type', 'text/plain', 'x-served-by', 'frames']), false);
    this.writer.data(streamId, Buffer.alloc(20_000, 0x7a), false);
    this.writer.headers(streamId, this.encoder.encode(['x-trailer', 'done']), true);
  }
}

let server: Server | undefined;
let client: ClientHttp2Session | undefined;
afterEach(async () => {
  client?.destroy();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = client = undefined;
});

async function rawServer(): Promise<{ port: number; connections: RawServerConnection[] }> {
  const connections: RawServerConnection[] = [];
  server = createServer((socket) => connections.push(new RawServerConnection(socket)));
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, connections };
}

interface Exchange {
  status: number | undefined;
  contentType: string | undefined;
  body: Buffer;
  trailers: Record<string, unknown>;
}

/** A POST with a 20,000-octet body and a trailer, and a PING, from a node:http2 client. */
async function post(port: number): Promise<Exchange> {
  client = h2connect(`http://127.0.0.1:${port}`);
  client.on('error', () => {});
  const session = client;
  // a WINDOW_UPDATE on stream 0, and a PING (node cancels one sent before the connection is up)
  const pinged = new Promise<void>((resolve, reject) =>
    session.on('connect', () => {
      session.setLocalWindowSize(1 << 20);
      session.ping((err) => (err ? reject(err) : resolve()));
    }),
  );
  const req = client.request({ ':method': 'POST', ':path': '/upload?x=1', 'content-type': 'application/octet-stream', 'x-request-id': 'abc' }, { waitForTrailers: true });
  req.on('wantTrailers', () => req.sendTrailers({ 'x-checksum': 'c0ffee' }));
  req.end(Buffer.alloc(20_000, 0x61));
  const exchange: Exchange = { status: undefined, contentType: undefined, body: Buffer.alloc(0), trailers: {} };
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no response within 5 s')), 5_000);
    req.on('response', (h) => {
      exchange.status = h[':status'];
      exchange.contentType = h['content-type'];
    });
    req.on('trailers', (t) => (exchange.trailers = { ...t }));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      clearTimeout(timer);
      resolve();
    });
    req.on('error', reject);
  });
  await pinged;
  exchange.body = Buffer.concat(chunks);
  return exchange;
}

describe('node:http2 client ↔ FrameReader / FrameWriter', () => {
  it('reads what the client sends: preface, SETTINGS, WINDOW_UPDATE, HEADERS, DATA, trailers, PING', async () => {
    const { port, connections } = await rawServer();
    await post(port);
    const [conn] = connections;
    // a graceful close: the client's GOAWAY, after the SETTINGS ACK it may not have sent yet
    client!.close();
    await conn.closed;
    expect(conn.error).toBeUndefined();
    const seen = conn.seen;
    // the preface was checked by the reader (server mode), then its SETTINGS come first
    expect(seen[0][0]).toBe('SETTINGS');
    expect(seen).toContainEqual(['WINDOW_UPDATE', 0, (1 << 20) - 65_535]);
    expect(seen).toContainEqual(['SETTINGS_ACK']);
    expect(seen.at(-1)).toEqual(['GOAWAY', 0, 0]);
    expect(seen).toContainEqual(['PING', '']);
    const headers = seen.filter((e) => e[0] === 'HEADERS');
    expect(headers).toHaveLength(2);
    const [, streamId, fields, end] = headers[0];
    expect(streamId).toBe(1);
    expect(end).toBe('');
    expect(fields).toEqual(expect.arrayContaining([':method', 'POST', ':path', '/upload?x=1', ':scheme', 'http', ':authority', `127.0.0.1:${port}`, 'x-request-id', 'abc']));
    expect(headers[1]).toEqual(['HEADERS', 1, ['x-checksum', 'c0ffee'], 'END_STREAM']);
    const data = seen.filter((e) => e[0] === 'DATA');
    expect(data.length).toBeGreaterThanOrEqual(2); // 20,000 octets over 16,384-octet frames
    expect(Buffer.concat(conn.requestBody)).toEqual(Buffer.alloc(20_000, 0x61));
    // the trailers come after the last DATA
    expect(seen.indexOf(headers[1])).toBeGreaterThan(seen.indexOf(data[data.length - 1]));
  });

  it('the client takes the response the writer framed: status, headers, body over two DATA frames, trailers', async () => {
    const { port } = await rawServer();
    const exchange = await post(port);
    expect(exchange.status).toBe(200);
    expect(exchange.contentType).toBe('text/plain');
    expect(exchange.body).toEqual(Buffer.alloc(20_000, 0x7a));
    expect(exchange.trailers).toMatchObject({ 'x-trailer': 'done' });
  });

  it('the frame types seen are the ones the RFC lets a client send', async () => {
    const { port, connections } = await rawServer();
    await post(port);
    const names = new Set(connections[0].seen.map((e) => e[0]));
    expect(names.has('STREAM_ERROR')).toBe(false);
    expect([...names].every((n) => typeof n === 'string' && (n === 'SETTINGS_ACK' || n in FrameType))).toBe(true);
  });
});
