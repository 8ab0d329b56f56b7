// Envoy's connection manager timeouts, end to end on real sockets: stream_idle_timeout ends a request
// to an upstream that never answers (504 once the request was complete, 408 while its body was still
// due), resets an HTTP/2 stream whose client never opens its flow-control window and cancels the
// upstream request, and leaves a slow but moving stream alone; request_timeout answers a client that
// dribbles its body with 408; max_stream_duration ends a long stream; request_headers_timeout ends a
// slow HTTP/1.1 head.
import { connect as h2connect, constants as h2constants } from 'node:http2';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { serviceEntry, sidecar, toYaml } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { accessLogEntries, eventually, scrape } from '../helpers/telemetry.js';
import { rawStatus } from '../helpers/http.js';

/** How late a timeout may fire: the sweeper's ticks and a loaded machine. */
const SLACK_MS = 1_500;

/** An upstream that accepts connections, reads what comes and never answers. */
class SilentUpstream {
  port = 0;
  readonly sockets: Socket[] = [];
  private readonly server: Server = createServer((s) => {
    this.sockets.push(s);
    s.on('error', () => {});
    s.resume();
  });

  listen(): Promise<void> {
    return new Promise((r) => this.server.listen(0, '127.0.0.1', () => ((this.port = (this.server.address() as { port: number }).port), r())));
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** What the streaming upstream saw of each response: did the proxy cancel it before it finished? */
interface Served {
  path: string;
  closedEarly: boolean | undefined;
}
const served: Served[] = [];

/**
 * /big: 16 KiB chunks every 10 ms, never ending (at most 2,000); /slow/<n>: one byte every 200 ms,
 * n bytes, then the end; /small: 1 KiB at once.
 */
function streamingHandler(req: { url?: string }, res: ServerResponse): void {
  const record: Served = { path: req.url ?? '', closedEarly: undefined };
  served.push(record);
  res.on('close', () => (record.closedEarly = !res.writableFinished));
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  if (req.url === '/small') return void res.end(Buffer.alloc(1024, 's'));
  res.flushHeaders();
  const slow = /^\/slow\/(\d+)$/.exec(req.url ?? '');
  let sent = 0;
  const chunk = slow ? Buffer.from('x') : Buffer.alloc(16 * 1024, 'y');
  const limit = slow ? Number(slow[1]) : 2_000;
  const timer = setInterval(
    () => {
      if (res.destroyed) return clearInterval(timer);
      if (sent === limit) {
        clearInterval(timer);
        return void res.end();
      }
      sent++;
      res.write(chunk);
    },
    slow ? 200 : 10,
  );
  res.on('close', () => clearInterval(timer));
}

interface Exchange {
  status: number;
  data: string;
  /** When the proxy closed the connection, from the first byte sent; undefined: still open at the deadline. */
  closedAtMs: number | undefined;
  /** When the response began. */
  answeredAtMs: number | undefined;
}

/**
 * One HTTP/1.1 exchange on a raw socket: `head` is sent, then (optionally) `dribble` body bytes one
 * every `everyMs`; collects the reply until the proxy closes or `deadlineMs` passes.
 */
function exchange(port: number, head: string, opts: { dribble?: number; everyMs?: number; deadlineMs?: number } = {}): Promise<Exchange> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = connect({ host: '127.0.0.1', port });
    let start = 0;
    let answeredAtMs: number | undefined;
    let dribbler: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      clearInterval(dribbler);
      sock.destroy();
      const data = Buffer.concat(chunks).toString('latin1');
      resolve({ status: rawStatus(data), data, closedAtMs: closed ? Date.now() - start : undefined, answeredAtMs });
    };
    const deadline = setTimeout(() => finish(false), opts.deadlineMs ?? 6_000);
    sock.on('connect', () => {
      start = Date.now();
      sock.write(head);
      let left = opts.dribble ?? 0;
      if (left > 0) {
        dribbler = setInterval(() => {
          if (left-- > 0 && !sock.destroyed) sock.write('z');
          else clearInterval(dribbler);
        }, opts.everyMs ?? 200);
      }
    });
    sock.on('data', (d: Buffer) => {
      answeredAtMs ??= Date.now() - start;
      chunks.push(d);
    });
    sock.on('close', () => finish(true));
    sock.on('error', () => finish(true));
  });
}

/**
 * An HTTP/2 request from a client whose stream windows start at 0 and are never opened: the
 * response headers can come, its body cannot. Waits (bounded) for the stream to close.
 */
async function zeroWindowRequest(port: number, authority: string, path: string): Promise<{ status?: number; rstCode: number; closedAtMs?: number }> {
  const session = h2connect(`http://127.0.0.1:${port}`, { settings: { initialWindowSize: 0 } });
  session.on('error', () => {});
  try {
    const req = session.request({ ':path': path, ':authority': authority });
    req.on('error', () => {});
    const start = Date.now();
    let status: number | undefined;
    req.on('response', (h) => (status = Number(h[':status'])));
    return await new Promise((resolve) => {
      const t = setTimeout(() => resolve({ status, rstCode: -1 }), 6_000);
      req.on('close', () => (clearTimeout(t), resolve({ status, rstCode: req.rstCode ?? -1, closedAtMs: Date.now() - start })));
    });
  } finally {
    session.destroy();
  }
}

/** A unary gRPC call over HTTP/2 (the whole request sent at once); resolves with the response headers. */
async function grpcCall(port: number, authority: string, path: string): Promise<Record<string, unknown>> {
  const session = h2connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  try {
    const req = session.request({ ':method': 'POST', ':path': path, ':authority': authority, 'content-type': 'application/grpc', te: 'trailers' });
    req.on('error', () => {});
    req.end(Buffer.from([0, 0, 0, 0, 0]));
    return await new Promise((resolve) => {
      const t = setTimeout(() => resolve({}), 6_000);
      req.on('response', (h) => (clearTimeout(t), resolve({ ...h })));
    });
  } finally {
    session.destroy();
  }
}

// connection: close, so that the proxy closes once the response is over
const get = (host: string, path = '/') => `GET ${path} HTTP/1.1\r\nhost: ${host}\r\nconnection: close\r\n\r\n`;
const post = (host: string, length: number, path = '/', close = true) =>
  `POST ${path} HTTP/1.1\r\nhost: ${host}\r\n${close ? 'connection: close\r\n' : ''}content-length: ${length}\r\n\r\n`;

const host = { silent: svcHost('silent'), stream: svcHost('stream'), echo: svcHost('echo') };
const silent = new SilentUpstream();
let streaming: Upstream;
let echo: Upstream;
/** The egress listener port of each proxy (every service is on it; Host picks one). */
let idlePort = 0;
let limitsPort = 0;
/** --stream-idle-timeout 1s */
let idleProxy: RunningProxy;
/** --request-timeout 1s --max-stream-duration 2s --request-headers-timeout 500ms (stream idle: off, as istiod sets it) */
let limitsProxy: RunningProxy;

function meshYaml(port: number): string {
  return toYaml(
    serviceEntry({ name: 'silent', host: host.silent, port, endpoints: [{ port: silent.port }] }),
    serviceEntry({ name: 'stream', host: host.stream, port, endpoints: [{ port: streaming.port }] }),
    serviceEntry({ name: 'echo', host: host.echo, port, endpoints: [{ port: echo.port }] }),
    sidecar('default', { egress: [{ port: { number: port, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', hosts: ['./*'] }, { hosts: ['*/*'] }] }),
  );
}

beforeAll(async () => {
  await silent.listen();
  streaming = await startUpstream((req, res) => streamingHandler(req, res), 'stream');
  echo = await startUpstream(undefined, 'echo');
  // WebSocket upgrades: 101, then every byte echoed
  echo.server.on('upgrade', (_req, socket: Socket) => {
    socket.on('error', () => {});
    socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n');
    socket.on('data', (d: Buffer) => socket.write(d));
  });
  [idlePort, limitsPort] = await freePorts(2);
  [idleProxy, limitsProxy] = await Promise.all([
    startProxy({ allStats: true, yaml: meshYaml(idlePort), args: ['--stream-idle-timeout', '1s', '--access-log', 'json'] }),
    startProxy({ allStats: true, yaml: meshYaml(limitsPort), args: ['--request-timeout', '1s', '--max-stream-duration', '2s', '--request-headers-timeout', '500ms', '--access-log', 'json'] }),
  ]);
});

afterAll(async () => {
  await stopAllProxies();
  await Promise.all([silent.close(), streaming?.close(), echo?.close()]);
});

describe('stream_idle_timeout', () => {
  it('ends a complete request to a silent upstream with 504 "stream timeout" after the timeout, flag SI', async () => {
    const r = await exchange(idlePort, get(host.silent, '/silent-get'));
    expect(r.status, r.data).toBe(504);
    expect(r.data).toMatch(/\r\n\r\nstream timeout$/);
    expect(r.answeredAtMs).toBeGreaterThanOrEqual(950);
    expect(r.answeredAtMs).toBeLessThan(1_000 + SLACK_MS);
    const log = await eventually(() => accessLogEntries(idleProxy).find((e) => e.path === '/silent-get'));
    expect(log).toMatchObject({ response_code: 504, response_flags: 'SI', response_code_details: 'stream_idle_timeout' });
  });

  it('answers 408 and closes when the request body stopped coming', async () => {
    // a keep-alive request: the proxy closes because the rest of the body can no longer be trusted
    const r = await exchange(idlePort, post(host.silent, 10, '/silent-post', false) + 'ab');
    expect(r.status, r.data).toBe(408);
    expect(r.data).toContain('connection: close');
    expect(r.closedAtMs).toBeDefined();
    expect(r.answeredAtMs).toBeGreaterThanOrEqual(950);
    expect(r.answeredAtMs).toBeLessThan(1_000 + SLACK_MS);
    const e = await scrape(idleProxy.ports.stats);
    expect(e.sum('envoy_http_downstream_rq_idle_timeout')).toBeGreaterThanOrEqual(2);
  });

  it('resets an HTTP/2 stream whose client never opens its window, and cancels the upstream request', async () => {
    const r = await zeroWindowRequest(idlePort, host.stream, '/big');
    expect(r.status).toBe(200);
    expect(r.rstCode, 'RST_STREAM from the proxy').toBeGreaterThan(h2constants.NGHTTP2_NO_ERROR);
    expect(r.closedAtMs).toBeGreaterThanOrEqual(950);
    expect(r.closedAtMs).toBeLessThan(1_000 + SLACK_MS);
    const upstream = await eventually(() => served.find((s) => s.path === '/big' && s.closedEarly !== undefined));
    expect(upstream?.closedEarly, 'the upstream response was cut off, not finished').toBe(true);
    const log = await eventually(() => accessLogEntries(idleProxy).find((e) => e.path === '/big'));
    expect(log).toMatchObject({ response_code: 200, response_flags: 'SI', protocol: 'HTTP/2' });
  });

  it('resets an HTTP/2 stream whose whole response waits behind a window the client never opens (the flush timeout)', async () => {
    const r = await zeroWindowRequest(idlePort, host.stream, '/small');
    expect(r.status).toBe(200);
    expect(r.rstCode, 'RST_STREAM from the proxy').toBeGreaterThan(h2constants.NGHTTP2_NO_ERROR);
    expect(r.closedAtMs).toBeGreaterThanOrEqual(950);
    expect(r.closedAtMs).toBeLessThan(1_000 + SLACK_MS);
  });

  it('a gRPC call to a silent upstream ends with grpc-status UNAVAILABLE (504 mapped as Envoy maps it)', async () => {
    const h = await grpcCall(idlePort, host.silent, '/pkg.Svc/Idle');
    expect(h).toMatchObject({ ':status': 200, 'grpc-status': '14', 'grpc-message': 'stream%20timeout' });
  });

  it('a WebSocket tunnel stays open while bytes move and closes once idle for the timeout', async () => {
    const sock = connect({ host: '127.0.0.1', port: idlePort });
    sock.on('error', () => {});
    let received = '';
    sock.on('data', (d: Buffer) => (received += d.toString('latin1')));
    const closed = new Promise<number>((resolve) => sock.on('close', () => resolve(Date.now())));
    try {
      sock.write(`GET /ws HTTP/1.1\r\nhost: ${host.echo}\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n`);
      expect(await eventually(() => received.startsWith('HTTP/1.1 101'))).toBe(true);
      // a byte every 300 ms for 2.4 s: more than twice the idle timeout, never idle for it
      for (let i = 0; i < 8; i++) {
        await new Promise((r) => setTimeout(r, 300));
        expect(sock.destroyed, `closed after ${i} bytes`).toBe(false);
        sock.write('p');
      }
      expect(await eventually(() => received.endsWith('pppppppp'))).toBe(true);
      const quietFrom = Date.now();
      const at = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 1_000 + SLACK_MS + 1_000))]);
      expect(at, 'the idle tunnel was closed').toBeGreaterThan(0);
      expect(at - quietFrom).toBeGreaterThanOrEqual(900);
      expect(at - quietFrom).toBeLessThan(1_000 + SLACK_MS);
    } finally {
      sock.destroy();
    }
  });

  it('leaves a slow but moving stream alone: a response byte every 200 ms for 3.2 s', async () => {
    const r = await exchange(idlePort, get(host.stream, '/slow/16'));
    expect(r.status, r.data).toBe(200);
    expect(r.data).toMatch(/\r\n\r\n(1\r\nx\r\n){16}0\r\n\r\n$/);
  });

  it('leaves a slow but moving request alone: a body byte every 200 ms for 3.2 s', async () => {
    const r = await exchange(idlePort, post(host.echo, 16, '/dribble'), { dribble: 16 });
    expect(r.status, r.data).toBe(200);
    expect(r.data).toContain('"bodyBytes":16');
  });
});

describe('request_timeout, max_stream_duration, request_headers_timeout', () => {
  it('request_timeout: a client still sending its body after 1 s gets 408 "request timeout"', async () => {
    const r = await exchange(limitsPort, post(host.echo, 100, '/dribble-long'), { dribble: 100 });
    expect(r.status, r.data).toBe(408);
    expect(r.data).toMatch(/\r\n\r\nrequest timeout$/);
    expect(r.answeredAtMs).toBeGreaterThanOrEqual(950);
    expect(r.answeredAtMs).toBeLessThan(1_000 + SLACK_MS);
    expect(r.closedAtMs).toBeDefined();
    const log = await eventually(() => accessLogEntries(limitsProxy).find((e) => e.path === '/dribble-long'));
    expect(log).toMatchObject({ response_code: 408, response_flags: '-', response_code_details: 'request_overall_timeout' });
  });

  it('max_stream_duration: a complete request to a silent upstream gets 504 "downstream duration timeout" at 2 s (request_timeout was disarmed)', async () => {
    const r = await exchange(limitsPort, get(host.silent, '/long-wait'));
    expect(r.status, r.data).toBe(504);
    expect(r.data).toMatch(/\r\n\r\ndownstream duration timeout$/);
    expect(r.answeredAtMs).toBeGreaterThanOrEqual(1_950);
    expect(r.answeredAtMs).toBeLessThan(2_000 + SLACK_MS);
  });

  it('max_stream_duration: a response still streaming at 2 s is cut short (no last chunk) and the upstream cancelled', async () => {
    const r = await exchange(limitsPort, get(host.stream, '/slow/30'));
    expect(r.status, r.data).toBe(200);
    expect(r.closedAtMs).toBeGreaterThanOrEqual(1_950);
    expect(r.closedAtMs).toBeLessThan(2_000 + SLACK_MS);
    expect(r.data).not.toContain('0\r\n\r\n');
    const upstream = await eventually(() => served.find((s) => s.path === '/slow/30' && s.closedEarly !== undefined));
    expect(upstream?.closedEarly).toBe(true);
    const e = await scrape(limitsProxy.ports.stats);
    expect(e.sum('envoy_http_downstream_rq_max_duration_reached')).toBe(2);
    expect(e.sum('envoy_http_downstream_rq_timeout')).toBe(1);
  });

  it('max_stream_duration: a gRPC call gets DEADLINE_EXCEEDED', async () => {
    const h = await grpcCall(limitsPort, host.silent, '/pkg.Svc/Long');
    expect(h).toMatchObject({ ':status': 200, 'grpc-status': '4', 'grpc-message': 'downstream%20duration%20timeout' });
  });

  it('request_headers_timeout: a head still incomplete after 500 ms gets 408 and the connection closes', async () => {
    const r = await exchange(limitsPort, `GET /slow-head HTTP/1.1\r\nhost: ${host.echo}\r\n`);
    expect(r.status, r.data).toBe(408);
    expect(r.closedAtMs).toBeGreaterThanOrEqual(450);
    expect(r.closedAtMs).toBeLessThan(500 + SLACK_MS);
    const e = await scrape(limitsProxy.ports.stats);
    expect(e.sum('envoy_http_downstream_rq_header_timeout')).toBe(1);
  });

  it('without --stream-idle-timeout (istiod sets 0) a silent upstream is not cut at 1 s', async () => {
    const r = await exchange(limitsPort, get(host.silent, '/not-idle'), { deadlineMs: 1_500 });
    // max_stream_duration (2 s) has not come yet; no idle timeout applies
    expect(r.answeredAtMs).toBeUndefined();
    expect(r.closedAtMs).toBeUndefined();
  });
});
