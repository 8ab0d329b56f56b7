// Slow and stalled clients on a gateway with one worker, real sockets: slowloris connections that
// dribble a request head byte by byte are answered 408 and closed at the 60 s headers timeout
// (codec/http1/server-connection.ts HEADERS_TIMEOUT_MS), and clients that send headers and part of
// a body then stop hold nothing but their own streams: the same worker keeps serving everyone
// else at once, and when the stalled clients leave, their upstream requests are aborted.
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { h2Status, httpRequest } from '../helpers/http.js';
import { GATEWAY_ARGS, gatewayToApp } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies } from '../helpers/proxy.js';
import { eventually } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const HEADERS_TIMEOUT_MS = 60_000;
const SLOWLORIS = 20;
let app: Upstream;
let port: number;
/** Upload requests whose upstream side was aborted (the client left mid-body). */
let uploadsAborted = 0;

interface Dribbler {
  sock: Socket;
  got: string;
  closedAt?: number;
}
const dribblers: Dribbler[] = [];
let dribbleStart = 0;
let dribbleTimer: NodeJS.Timeout | undefined;

beforeAll(async () => {
  app = await startUpstream((req, res) => {
    if (req.url === '/upload') {
      req.on('aborted', () => uploadsAborted++);
      req.resume();
      req.on('end', () => res.end('uploaded'));
      return;
    }
    req.resume();
    req.on('end', () => res.end('ok'));
  }, 'app');
  port = await freePort();
  const yaml = gatewayToApp(port, app.port);
  await startProxy({ yaml, args: GATEWAY_ARGS, workers: 1 });

  // slowloris: each connection sends one more header byte every second, never finishing the head
  const head = `GET /slow HTTP/1.1\r\nhost: shop.example.com\r\nx-padding: ${'p'.repeat(200)}`;
  dribbleStart = Date.now();
  for (let i = 0; i < SLOWLORIS; i++) {
    const d: Dribbler = { sock: connect(port, '127.0.0.1'), got: '' };
    d.sock.setEncoding('latin1');
    d.sock.on('data', (s: string) => (d.got += s));
    d.sock.on('close', () => (d.closedAt ??= Date.now()));
    d.sock.on('error', () => {});
    dribblers.push(d);
  }
  let sent = 0;
  dribbleTimer = setInterval(() => {
    if (sent >= head.length) return;
    for (const d of dribblers) if (!d.sock.destroyed) d.sock.write(head[sent]);
    sent++;
  }, 1_000);
});

afterAll(async () => {
  clearInterval(dribbleTimer);
  for (const d of dribblers) d.sock.destroy();
  await stopAllProxies();
  await app.close();
});

const h2get = () => h2Status(port);

describe('slow and stalled clients', () => {
  it('held bodies: 20 clients stop mid-body; 40 others (HTTP/1.1 and HTTP/2) are served at once; leaving aborts their upstream requests', async () => {
    const held: Socket[] = [];
    for (let i = 0; i < 20; i++) {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => {});
      s.write(`POST /upload HTTP/1.1\r\nhost: shop.example.com\r\ncontent-length: 100000\r\n\r\n${'b'.repeat(1_000)}`);
      held.push(s);
    }
    expect(await eventually(() => app.requests.filter((r) => r.url === '/upload').length === 20, 5_000)).toBe(true);
    const t0 = Date.now();
    const statuses = await Promise.all([
      ...Array.from({ length: 20 }, () => httpRequest(port, { path: '/ok', host: 'shop.example.com', timeoutMs: 5_000 }).then((r) => r.status)),
      ...Array.from({ length: 20 }, () => h2get()),
    ]);
    expect(statuses).toEqual(Array(40).fill(200));
    expect(Date.now() - t0).toBeLessThan(3_000);
    for (const s of held) s.destroy();
    expect(await eventually(() => uploadsAborted === 20, 5_000)).toBe(true);
  });

  it('slowloris: while 20 connections dribble their heads, other clients are served', async () => {
    expect(dribblers.every((d) => d.closedAt === undefined)).toBe(true);
    const statuses = await Promise.all(Array.from({ length: 10 }, () => httpRequest(port, { path: '/ok', host: 'shop.example.com', timeoutMs: 5_000 }).then((r) => r.status)));
    expect(statuses).toEqual(Array(10).fill(200));
    expect(await h2get()).toBe(200);
    expect(app.requests.some((r) => r.url === '/slow')).toBe(false);
  });

  it('slowloris: each dribbling connection is answered 408 and closed at the headers timeout, not before', async () => {
    const left = HEADERS_TIMEOUT_MS - (Date.now() - dribbleStart);
    await eventually(() => dribblers.every((d) => d.closedAt !== undefined), left + 5_000, 200);
    for (const d of dribblers) {
      expect(d.closedAt! - dribbleStart).toBeGreaterThan(HEADERS_TIMEOUT_MS - 2_000);
      expect(d.closedAt! - dribbleStart).toBeLessThan(HEADERS_TIMEOUT_MS + 5_000);
      expect(d.got).toMatch(/^HTTP\/1\.1 408 /);
    }
    expect(app.requests.some((r) => r.url === '/slow')).toBe(false);
    expect(await h2get()).toBe(200);
  }, HEADERS_TIMEOUT_MS + 20_000);
});
