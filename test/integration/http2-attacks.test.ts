// HTTP/2 protections under attack frames: rapid reset (CVE-2023-44487), a CONTINUATION flood
// (CVE-2024-27316), PING and SETTINGS floods, garbage frames — the attacker's connection is cut,
// the proxy stays responsive to a concurrent normal client, nothing crashes. With each downstream
// HTTP/2 codec: the own one (the default) and node:http2 (OUTRIGGER_HTTP2_CODEC=node, the fallback).
import { connect as h2connect, constants } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frame, PREFACE, SETTINGS } from '../helpers/h2-frames.js';
import { GATEWAY_ARGS, gatewayToApp } from '../helpers/mesh.js';
import { h2Status } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let app: Upstream;
let proxy: RunningProxy;
let port: number;

beforeAll(async () => {
  // a slow upstream: streams stay open long enough for resets to be premature
  app = await startUpstream((_req, res) => setTimeout(() => res.end('ok'), 50), 'app');
  port = await freePort();
});

afterAll(async () => {
  await stopAllProxies();
  await app.close();
});

/** A normal HTTP/2 request on its own connection: the proxy must keep answering these. */
const healthy = () => h2Status(port);


/** Sends `data` on a raw connection and resolves when the proxy closes it (or after a timeout). */
function rawAttack(write: (s: Socket) => void, timeoutMs = 10_000): Promise<{ closed: boolean; goaway: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    s.on('data', (b) => (got = Buffer.concat([got, b])));
    const done = (closed: boolean) => {
      // a GOAWAY frame (type 7) somewhere in what the proxy sent
      let goaway = false;
      for (let i = 0; i + 9 <= got.length; ) {
        const len = got.readUIntBE(i, 3);
        if (got[i + 3] === 0x7) goaway = true;
        i += 9 + len;
      }
      s.destroy();
      resolve({ closed, goaway });
    };
    s.on('close', () => done(true));
    s.on('error', () => {});
    s.on('connect', () => write(s));
    setTimeout(() => done(false), timeoutMs).unref();
  });
}

for (const codec of ['own', 'node'] as const) describe(`HTTP/2 protections, ${codec} codec`, () => {
  // the same port for both: each codec's proxy is stopped before the next starts
  beforeAll(async () => {
    proxy = await startProxy({ yaml: gatewayToApp(port, app.port), args: GATEWAY_ARGS, env: { OUTRIGGER_HTTP2_CODEC: codec } });
  });
  afterAll(() => stopAllProxies());

  it('rapid reset: a client opening and cancelling streams at once is sent GOAWAY and cut off', async () => {
    const attacker = h2connect(`http://127.0.0.1:${port}`);
    attacker.on('error', () => {});
    const codes: number[] = [];
    attacker.on('goaway', (code) => codes.push(code));
    const closed = new Promise<void>((resolve) => attacker.on('close', () => resolve()));
    for (let i = 0; i < 2_000 && !attacker.destroyed && !attacker.closed; i++) {
      try {
        const r = attacker.request({ ':path': `/r${i}`, ':authority': 'shop.example.com' });
        r.on('error', () => {});
        r.close(constants.NGHTTP2_CANCEL);
      } catch {
        break; // the session is going away
      }
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000))]);
    expect(attacker.destroyed || attacker.closed).toBe(true);
    // Outrigger's premature-reset budget answers ENHANCE_YOUR_CALM; nghttp2's own RST_STREAM rate
    // limit (in Node's build) may cut the session first, with INTERNAL_ERROR — either way it is gone
    expect(codes.length).toBeGreaterThan(0);
    expect([constants.NGHTTP2_ENHANCE_YOUR_CALM, constants.NGHTTP2_INTERNAL_ERROR]).toContain(codes[0]);
    expect(await healthy()).toBe(200);
  });

  it('a CONTINUATION flood (headers that never end) is cut off; others are served meanwhile', async () => {
    const attack = rawAttack((s) => {
      s.write(Buffer.concat([PREFACE, SETTINGS]));
      // HEADERS without END_HEADERS, then CONTINUATION frames forever (each a literal header)
      const hdr = Buffer.from([0x00, 0x01, 0x61, 0x01, 0x62]); // literal without indexing: a: b
      s.write(frame(0x1, 0x0, 1, hdr));
      const cont = frame(0x9, 0x0, 1, hdr);
      let n = 0;
      const pump = () => {
        while (n < 100_000 && !s.destroyed) {
          n++;
          if (!s.write(cont)) return void s.once('drain', pump);
        }
      };
      pump();
    });
    expect(await healthy()).toBe(200);
    expect((await attack).closed).toBe(true);
  });

  it('PING and SETTINGS floods are cut off', async () => {
    for (const f of [frame(0x6, 0, 0, Buffer.alloc(8)), SETTINGS]) {
      const r = await rawAttack((s) => {
        s.write(Buffer.concat([PREFACE, SETTINGS]));
        const burst = Buffer.concat(Array.from({ length: 1000 }, () => f));
        let n = 0;
        const pump = () => {
          while (n < 2_000 && !s.destroyed) {
            n++;
            // never reading the ACKs is what makes this a flood
            if (!s.write(burst)) return void s.once('drain', pump);
          }
        };
        s.pause();
        pump();
      });
      expect(r.closed).toBe(true);
    }
    expect(await healthy()).toBe(200);
  });

  it('garbage after the preface and frames on stream 0 that need a stream: connection error, no crash', async () => {
    const r1 = await rawAttack((s) => s.write(Buffer.concat([PREFACE, Buffer.from('this is not a frame header at all!!')])));
    expect(r1.closed).toBe(true);
    const r2 = await rawAttack((s) => s.write(Buffer.concat([PREFACE, SETTINGS, frame(0x0, 0x1, 0, Buffer.from('data on stream 0'))])));
    expect(r2).toMatchObject({ closed: true, goaway: true });
    expect(await healthy()).toBe(200);
    expect(proxy.alive()).toBe(true);
  });

  it('a header list larger than max_request_headers_kb (60 KiB decoded) is refused; small ones pass', async () => {
    const s = h2connect(`http://127.0.0.1:${port}`, { maxSendHeaderBlockLength: 1_000_000 } as never);
    s.on('error', () => {});
    try {
      const send = (headers: Record<string, string>) =>
        new Promise<number | string>((resolve) => {
          const r = s.request({ ':path': '/big', ':authority': 'shop.example.com', ...headers });
          r.on('response', (h) => resolve(Number(h[':status'])));
          r.on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? 'error'));
          r.on('close', () => resolve(`closed ${r.rstCode}`));
          r.end();
        });
      // 80 headers of 1 KiB: ~80 KiB once decoded, though HPACK could make the block small
      const big: Record<string, string> = {};
      for (let i = 0; i < 80; i++) big[`x-h${i}`] = 'v'.repeat(1024);
      const refused = await send(big);
      expect(refused).not.toBe(200);
      expect(await healthy()).toBe(200);
    } finally {
      s.destroy();
    }
  });
});
