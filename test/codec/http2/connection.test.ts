// The own HTTP/2 server connection (src/codec/http2/connection.ts) on a real loopback socket with
// node:http2 as the client, without the proxy around it: drain, the idle timeout, the stream flush
// timeout, request-body backpressure through flow control, trailers.
import { connect as h2connect, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { BodySink } from '../../../src/codec/body.js';
import { Http2ServerConnection } from '../../../src/codec/http2/connection.js';
import type { H2Stream } from '../../../src/codec/http2/stream.js';
import type { ServerOptions } from '../../../src/codec/http1/server-connection.js';

const OPTIONS: ServerOptions = { maxHeaderBytes: 61_440, acceptHttp10: false, idleTimeoutMs: 0, serverName: 'test' };
let server: Server | undefined;
let client: ClientHttp2Session | undefined;
const conns: Http2ServerConnection[] = [];

afterEach(async () => {
  client?.destroy();
  for (const c of conns.splice(0)) c.socket.destroy();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

async function serve(onStream: (s: H2Stream) => void, options: Partial<ServerOptions> = {}, clientSettings = {}): Promise<ClientHttp2Session> {
  server = createServer({ allowHalfOpen: true }, (sock) => {
    conns.push(new Http2ServerConnection(sock, { ...OPTIONS, ...options }, (s) => (onStream(s), undefined)));
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  client = h2connect(`http://127.0.0.1:${port}`, { settings: clientSettings });
  client.on('error', () => {});
  return client;
}

function answer(req: ClientHttp2Stream): Promise<{ status: number; body: string; trailers?: Record<string, unknown>; rstCode?: number }> {
  return new Promise((resolve) => {
    let status = 0;
    let body = '';
    let trailers: Record<string, unknown> | undefined;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c) => (body += c));
    req.on('error', () => {});
    req.on('close', () => resolve({ status, body, trailers, rstCode: req.rstCode }));
  });
}

describe('own HTTP/2 server connection', () => {
  it('drain: GOAWAY NO_ERROR, the stream in progress still finishes, then the connection closes', async () => {
    let held: H2Stream | undefined;
    const c = await serve((s) => (held = s));
    const goaway = new Promise<number>((r) => c.once('goaway', (code) => r(code)));
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    const res = answer(c.request({ ':path': '/slow' }));
    await new Promise((r) => setTimeout(r, 50));
    conns[0].drain();
    expect(await goaway).toBe(0);
    held!.respond(200, ['content-type', 'text/plain']);
    held!.end();
    expect((await res).status).toBe(200);
    await closed;
  });

  it('idle timeout: no stream for that long → GOAWAY and closed', async () => {
    const c = await serve(() => {}, { idleTimeoutMs: 150 });
    const t0 = Date.now();
    await new Promise<void>((r) => c.once('close', () => r()));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
  });

  it('a response held by a zero window past the stream flush timeout is reset (INTERNAL_ERROR)', async () => {
    const c = await serve((s) => {
      s.respond(200, []);
      s.write(Buffer.alloc(1000, 'x'));
      s.end();
    }, { streamFlushTimeoutMs: 150 }, { initialWindowSize: 0 });
    const r = await answer(c.request({ ':path': '/' }));
    expect(r.rstCode).toBe(2);
  });

  it('request-body backpressure: a paused sink stops the client at its window; resumed, the whole body arrives', async () => {
    let received = 0;
    let stream: H2Stream | undefined;
    let ended!: () => void;
    const done = new Promise<void>((r) => (ended = r));
    const c = await serve((s) => {
      stream = s;
      const sink: BodySink = {
        onBodyData: (chunk) => ((received += chunk.length), false), // pause after every chunk
        onBodyEnd: () => ended(),
        onBodyError: () => {},
      };
      s.body!.start(sink);
    });
    const req = c.request({ ':method': 'POST', ':path': '/up' });
    req.on('error', () => {});
    req.end(Buffer.alloc(1024 * 1024, 'u'));
    await new Promise((r) => setTimeout(r, 200));
    // the stream window (64 KiB) is all the client may have in flight: the rest waits
    expect(received).toBeLessThanOrEqual(65_536);
    const pump = setInterval(() => stream!.resume(), 1);
    await done;
    clearInterval(pump);
    expect(received).toBe(1024 * 1024);
  });

  it('trailers after a body, and a trailers-only response (gRPC status in the headers)', async () => {
    const c = await serve((s) => {
      if (s.target === '/only') {
        s.respond(200, ['content-type', 'application/grpc', 'grpc-status', '5']);
        s.end();
        return;
      }
      s.respond(200, ['content-type', 'application/grpc', 'connection', 'keep-alive']);
      s.write(Buffer.from([0, 0, 0, 0, 0]));
      s.end(['grpc-status', '0']);
    });
    const full = await answer(c.request({ ':path': '/full' }));
    expect(full).toMatchObject({ status: 200, trailers: { 'grpc-status': '0' } });
    expect(full.body.length).toBe(5);
    const only = new Promise<Record<string, unknown>>((r) => c.request({ ':path': '/only' }).on('response', (h) => r(h)));
    expect(await only).toMatchObject({ ':status': 200, 'grpc-status': '5' });
  });
});
