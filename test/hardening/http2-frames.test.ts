// HTTP/2 attacks the threat model lists beyond test/integration/http2-attacks.test.ts (rapid reset,
// CONTINUATION, PING and SETTINGS floods live there): an empty-DATA-frame flood (CVE-2019-9518), an
// HPACK bomb (a small block that decodes to megabytes through dynamic-table references) and the
// 101st concurrent stream (Envoy's edge setting max_concurrent_streams 100: REFUSED_STREAM).
import { connect, type Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Flag, frame, FrameType, hpackIndexed, hpackLiteral, hpackRequest, parseFrames, PREFACE, SETTINGS, type ParsedFrame } from '../helpers/h2-frames.js';
import { GATEWAY_ARGS, gatewayToApp } from '../helpers/mesh.js';
import { h2Status } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { rssBytes, startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { eventually } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const AUTHORITY = 'shop.example.com';
let app: Upstream;
let proxy: RunningProxy;
let port: number;
/** Responses to /hold requests, answered when a test releases them. */
const held: ServerResponse[] = [];

beforeAll(async () => {
  app = await startUpstream((req, res) => {
    req.resume();
    if (req.url?.startsWith('/hold')) held.push(res);
    else res.end('ok');
  }, 'app');
  port = await freePort();
  const yaml = gatewayToApp(port, app.port);
  proxy = await startProxy({ yaml, args: GATEWAY_ARGS });
});

afterAll(async () => {
  for (const r of held.splice(0)) r.end();
  await stopAllProxies();
  await app.close();
});

/** A normal HTTP/2 request on its own connection: the proxy must keep answering these. */
const healthy = () => h2Status(port, '/ok', AUTHORITY);

/** A raw client connection: what it received so far, and whether the proxy closed it. */
interface RawConn {
  sock: Socket;
  frames(): ParsedFrame[];
  closed: Promise<boolean>;
}

function rawConnect(): Promise<RawConn> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    sock.on('data', (b) => (got = Buffer.concat([got, b])));
    sock.on('error', () => {});
    const closed = new Promise<boolean>((r) => {
      sock.on('close', () => r(true));
      setTimeout(() => r(false), 10_000).unref();
    });
    sock.once('connect', () => {
      sock.write(Buffer.concat([PREFACE, SETTINGS]));
      resolve({ sock, frames: () => parseFrames(got), closed });
    });
    sock.once('error', reject);
  });
}

/** Writes `chunk` `count` times, honouring backpressure, until done or the socket is gone. */
function pump(sock: Socket, chunk: Buffer, count: number): void {
  let n = 0;
  const go = () => {
    while (n < count && !sock.destroyed) {
      n++;
      if (!sock.write(chunk)) return void sock.once('drain', go);
    }
  };
  go();
}

describe('HTTP/2 floods and bombs', () => {
  it('an empty-DATA-frame flood on an open stream is cut off; nothing of it reaches the app; others are served', async () => {
    const before = app.requests.length;
    const c = await rawConnect();
    c.sock.write(frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.concat([hpackIndexed(3) /* :method POST */, hpackIndexed(6), hpackLiteral(':path', '/upload'), hpackLiteral(':authority', AUTHORITY)])));
    // empty DATA frames cost the sender nothing and the receiver a frame each: 20 000 of them
    pump(c.sock, Buffer.concat(Array.from({ length: 100 }, () => frame(FrameType.DATA, 0, 1))), 200);
    expect(await healthy()).toBe(200);
    expect(await c.closed).toBe(true);
    expect(c.frames().some((f) => f.type === FrameType.GOAWAY)).toBe(true);
    // the upload was never completed: the app saw no finished request body from it
    expect(app.requests.slice(before).filter((r) => r.url === '/upload' && r.bodyBytes > 0)).toHaveLength(0);
  });

  it('an HPACK bomb (4 KB in the dynamic table, referenced 1000 times per block) is refused without decoding megabytes', async () => {
    const before = app.requests.length;
    const rssBefore = (await rssBytes(proxy.pid))!;
    const c = await rawConnect();
    const value = 'b'.repeat(4_000);
    for (let i = 0; i < 20 && !c.sock.destroyed; i++) {
      const stream = 1 + 2 * i;
      // the first block puts x-bomb into the dynamic table; each block then names it 1000 times
      // (1 byte each): ~4 MB of decoded header per ~4 KB frame
      const refs = Buffer.alloc(1_000, hpackIndexed(62)[0]);
      const block = Buffer.concat([hpackRequest('/bomb', AUTHORITY), i === 0 ? hpackLiteral('x-bomb', value, { index: true }) : Buffer.alloc(0), refs]);
      c.sock.write(frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, stream, block));
    }
    // every stream is reset, or the whole connection goes away
    const allReset = () => c.frames().filter((f) => f.type === FrameType.RST_STREAM).length === 20;
    const ended = await Promise.race([c.closed, eventually(allReset, 10_000)]);
    expect(ended).toBe(true);
    expect(c.frames().filter((f) => f.type === FrameType.HEADERS)).toHaveLength(0); // no response on any stream
    expect(app.requests.slice(before).filter((r) => r.url === '/bomb')).toHaveLength(0);
    c.sock.destroy();
    expect(await healthy()).toBe(200);
    // 80 MB of decoded headers would show: the proxy's resident size stays within a few MiB of before
    expect((await rssBytes(proxy.pid))! - rssBefore).toBeLessThan(40 * 1024 * 1024);
  });
});

describe('concurrent streams', () => {
  it('the 101st concurrent stream is refused (REFUSED_STREAM); the first 100 are all forwarded and answered', async () => {
    const c = await rawConnect();
    try {
      // the proxy announces Envoy's edge limit in its SETTINGS: MAX_CONCURRENT_STREAMS (0x3) = 100
      const settings = (await eventually(() => c.frames().find((f) => f.type === FrameType.SETTINGS && !(f.flags & 0x1)), 5_000))!;
      const announced = new Map<number, number>();
      for (let i = 0; i + 6 <= settings.payload.length; i += 6) announced.set(settings.payload.readUInt16BE(i), settings.payload.readUInt32BE(i + 2));
      expect(announced.get(0x3)).toBe(100);

      const before = held.length;
      const headers = Array.from({ length: 101 }, (_, i) => frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1 + 2 * i, hpackRequest(`/hold/${i}`, AUTHORITY)));
      c.sock.write(Buffer.concat(headers));
      const rst = (await eventually(() => c.frames().find((f) => f.type === FrameType.RST_STREAM), 5_000))!;
      expect(rst.stream).toBe(201);
      expect(rst.payload.readUInt32BE(0)).toBe(0x7); // REFUSED_STREAM: the client may retry it
      expect(await eventually(() => held.length - before === 100, 5_000)).toBe(true);
      expect(app.requests.some((r) => r.url === '/hold/100')).toBe(false);

      for (const r of held.splice(before)) r.end('done');
      const answered = (await eventually(() => {
        const streams = new Set(c.frames().filter((f) => f.type === FrameType.HEADERS).map((f) => f.stream));
        return streams.size === 100 ? streams : undefined;
      }, 5_000))!;
      expect(answered.has(201)).toBe(false);
    } finally {
      c.sock.destroy();
    }
    expect(await healthy()).toBe(200);
  });
});
