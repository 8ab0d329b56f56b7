// H2Pool against real node:http2 servers on 127.0.0.1: request mapping, multiplexing under the
// peer's SETTINGS_MAX_CONCURRENT_STREAMS, circuit breakers, bodies with backpressure both ways,
// trailers, GOAWAY, resets, connect failures and timeouts, idle timeout, TLS with ALPN h2.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import * as http2 from 'node:http2';
import type { Http2SecureServer, Http2Server, IncomingHttpHeaders, ServerHttp2Session, ServerHttp2Stream, Settings } from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BodySink, BodySource } from '../../src/codec/body.js';
import type { CircuitBreakers } from '../../src/config/snapshot.js';
import { UpstreamError, type UpstreamHandler, type UpstreamRequest } from '../../src/upstream/exchange.js';
import { H2Pool, type H2PoolOptions } from '../../src/upstream/http2/pool.js';
import { h2TlsOptions } from '../../src/upstream/http2/session.js';
import { ClusterLimits, ResourceTable } from '../../src/upstream/resource-limits.js';
import { ClusterStats } from '../../src/telemetry/stats.js';

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_CANCEL } = http2.constants;

// ---------------------------------------------------------------- helpers

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `cond` every 5 ms (bounded); throws with `what` when it does not become true in time. */
async function until(cond: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000 && !cond(); i++) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(5);
  }
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function pseudoRandom(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let a = seed >>> 0;
  for (let i = 0; i < n; i++) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    b[i] = a >>> 24;
  }
  return b;
}

/** One stream as a test server saw it. */
interface SeenStream {
  stream: ServerHttp2Stream;
  headers: IncomingHttpHeaders;
  raw: string[];
  session: ServerHttp2Session;
  sessionIndex: number;
}

interface H2TestServer {
  port: number;
  server: Http2Server | Http2SecureServer;
  sessions: ServerHttp2Session[];
  streams: SeenStream[];
  /** Most streams open at once, per session (index as in `sessions`). */
  maxOpen: number[];
  open: number[];
  closedSessions: number;
}

const cleanups: (() => void | Promise<void>)[] = [];
const pools: H2Pool[] = [];

/** A node:http2 server; `onStream` answers (every stream gets an error listener: resets are expected here). */
async function startH2(onStream: (seen: SeenStream) => void, settings: Settings = {}, tls?: { key: Buffer; cert: Buffer }): Promise<H2TestServer> {
  // maxSendHeaderBlockLength raised so a test can send headers bigger than the pool accepts
  const common = { settings, maxSendHeaderBlockLength: 1 << 20 };
  const server = tls ? http2.createSecureServer({ ...common, key: tls.key, cert: tls.cert, allowHTTP1: false }) : http2.createServer(common);
  const srv: H2TestServer = { port: 0, server, sessions: [], streams: [], maxOpen: [], open: [], closedSessions: 0 };
  server.on('session', (session: ServerHttp2Session) => {
    const index = srv.sessions.length;
    srv.sessions.push(session);
    srv.maxOpen.push(0);
    srv.open.push(0);
    session.on('error', () => {});
    session.on('close', () => srv.closedSessions++);
  });
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, raw: string[]) => {
    const sessionIndex = srv.sessions.indexOf(stream.session as ServerHttp2Session);
    srv.open[sessionIndex]++;
    srv.maxOpen[sessionIndex] = Math.max(srv.maxOpen[sessionIndex], srv.open[sessionIndex]);
    stream.on('error', () => {});
    stream.on('close', () => srv.open[sessionIndex]--);
    const seen = { stream, headers, raw, session: stream.session as ServerHttp2Session, sessionIndex };
    srv.streams.push(seen);
    onStream(seen);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  srv.port = (server.address() as AddressInfo).port;
  cleanups.push(async () => {
    for (const s of srv.sessions) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return srv;
}

/** Answers 200 with `body` once the request body is in (echoing it when `body` is undefined). */
function answering(body?: string, headers: Record<string, string> = {}): (seen: SeenStream) => void {
  return ({ stream }) => {
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.on('end', () => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200, 'x-upstream': 'h2', ...headers });
      stream.end(body ?? Buffer.concat(parts));
    });
  };
}

const DEFAULTS: H2PoolOptions = { connectTimeoutMs: 2_000, idleTimeoutMs: 60_000, maxHeaderBytes: 60 * 1024 };

function makePool(port: number, options: Partial<H2PoolOptions> = {}, stats?: ClusterStats): H2Pool {
  const cs = stats;
  const pool = new H2Pool('127.0.0.1', port, { ...DEFAULTS, ...options }, cs ? { cluster: cs, host: cs.host(`127.0.0.1:${port}`) } : undefined);
  pools.push(pool);
  return pool;
}

function get(path = '/', extra: string[] = []): UpstreamRequest {
  return { method: 'GET', path, headers: ['host', 'example.test', ...extra], body: null };
}

const UNLIMITED = 2 ** 32 - 1;
/** A cluster's circuit breakers and the shared table behind them (to read the counters back). */
function limitsOf(o: Partial<CircuitBreakers>): { limits: ClusterLimits; totals: () => ReturnType<ResourceTable['totals']> } {
  const table = new ResourceTable(ResourceTable.create(1, 1), 0);
  const limits = new ClusterLimits(table, 0, { maxConnections: UNLIMITED, maxPendingRequests: UNLIMITED, maxRequests: UNLIMITED, maxRetries: UNLIMITED, ...o });
  return { limits, totals: () => table.totals(0) };
}

/** Records every handler call and checks the contract: headers, end and error at most once, nothing after the end. */
class Recorder implements UpstreamHandler {
  events: string[] = [];
  status: number | undefined;
  headers: string[] | undefined;
  chunks: Buffer[] = [];
  bytes = 0;
  trailers: string[] | undefined;
  ended = false;
  error: UpstreamError | undefined;
  violations: string[] = [];
  dataResult: (chunk: Buffer) => boolean = () => true;

  private event(name: string): void {
    if (this.ended || this.error) this.violations.push(`${name} after ${this.ended ? 'end' : 'error'}`);
    if (name !== 'data' || this.events.at(-1) !== 'data') this.events.push(name);
  }
  onUpstreamHeaders(status: number, headers: string[]): void {
    if (this.status !== undefined) this.violations.push('headers twice');
    this.event('headers');
    this.status = status;
    this.headers = headers;
  }
  onUpstreamData(chunk: Buffer): boolean {
    if (this.status === undefined) this.violations.push('data before headers');
    this.event('data');
    this.bytes += chunk.length;
    this.chunks.push(Buffer.from(chunk));
    return this.dataResult(chunk);
  }
  onUpstreamEnd(trailers: string[] | undefined): void {
    this.event('end');
    this.ended = true;
    this.trailers = trailers;
  }
  onUpstreamError(err: UpstreamError): void {
    this.event('error');
    this.error = err;
  }
  get body(): string {
    return Buffer.concat(this.chunks).toString('latin1');
  }
  get finished(): boolean {
    return this.ended || this.error !== undefined;
  }
  async done(what = 'the exchange to finish', timeoutMs = 5_000): Promise<this> {
    await until(() => this.finished, what, timeoutMs);
    await sleep(20); // any stray late callback shows up as a violation
    expect(this.violations).toEqual([]);
    return this;
  }
}

async function exchange(pool: H2Pool, req: UpstreamRequest = get()): Promise<Recorder> {
  const rec = new Recorder();
  pool.request(req, rec);
  return rec.done();
}

/** A BodySource fed by the test; honours the sink's backpressure (false → paused until resume()). */
class TestBody implements BodySource {
  private sink: BodySink | undefined;
  private pending: Buffer[];
  private ending: boolean;
  private endDelivered = false;
  private flushing = false;
  paused = false;
  detached = false;
  falseReturns = 0;
  resumes = 0;
  delivered = 0;

  constructor(
    readonly length: number,
    chunks: Buffer[] = [],
    end = false,
    private readonly trailers?: string[],
  ) {
    this.pending = [...chunks];
    this.ending = end;
  }
  start(sink: BodySink): void {
    this.sink = sink;
    this.flush();
  }
  push(chunk: Buffer | string): void {
    this.pending.push(Buffer.from(chunk));
    this.flush();
  }
  end(): void {
    this.ending = true;
    this.flush();
  }
  fail(err: Error): void {
    this.sink?.onBodyError(err);
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.resumes++;
    this.paused = false;
    this.flush();
  }
  detach(): void {
    this.detached = true;
    this.pending = [];
  }
  get queued(): number {
    return this.pending.length;
  }
  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (let i = 0; i < 1_000_000 && this.sink && !this.paused && !this.detached && this.pending.length; i++) {
        const c = this.pending.shift()!;
        this.delivered += c.length;
        if (!this.sink.onBodyData(c)) {
          this.falseReturns++;
          this.paused = true;
        }
      }
      if (this.sink && !this.paused && !this.detached && this.ending && !this.pending.length && !this.endDelivered) {
        this.endDelivered = true;
        this.sink.onBodyEnd(this.trailers);
      }
    } finally {
      this.flushing = false;
    }
  }
}

/** HTTP/2 frame: 9-byte header (length, type, flags, stream id) and payload. */
function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return Buffer.concat([h, payload]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/**
 * A bare HTTP/2 server speaking frames directly (independent of node:http2): SETTINGS, SETTINGS
 * ACK, and `onRequest(socket, streamId, n)` for each request HEADERS (n counts requests).
 */
async function rawH2Server(onRequest: (sock: Socket, streamId: number, n: number) => void): Promise<{ port: number; connections: number }> {
  const state = { port: 0, connections: 0 };
  let n = 0;
  const sockets: Socket[] = [];
  const server = createNetServer((sock) => {
    state.connections++;
    sockets.push(sock);
    sock.on('error', () => {});
    sock.write(frame(4, 0, 0, Buffer.alloc(0))); // our SETTINGS (defaults)
    let buf = Buffer.alloc(0);
    let prefaceSeen = false;
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!prefaceSeen) {
        if (buf.length < 24) return;
        buf = buf.subarray(24);
        prefaceSeen = true;
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) return;
        const type = buf[3];
        const flags = buf[4];
        const id = buf.readUInt32BE(5) & 0x7fffffff;
        buf = buf.subarray(9 + len);
        if (type === 4 && !(flags & 0x1)) sock.write(frame(4, 0x1, 0, Buffer.alloc(0))); // ACK their SETTINGS
        if (type === 1) onRequest(sock, id, n++);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.port = (server.address() as AddressInfo).port;
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return state;
}

afterEach(async () => {
  for (const p of pools.splice(0)) await Promise.race([p.close(), sleep(300)]);
  for (const f of cleanups.splice(0).reverse()) await f();
});

// ---------------------------------------------------------------- request/response

describe('H2Pool: exchanges', () => {
  it('unary request and response with bodies both ways; RFC 9113 request mapping', async () => {
    const srv = await startH2(answering());
    const stats = new ClusterStats();
    const pool = makePool(srv.port, {}, stats);
    const payload = Buffer.from('hello over h2');
    const body = new TestBody(payload.length, [payload.subarray(0, 5), payload.subarray(5)], true);
    const rec = new Recorder();
    pool.request(
      {
        method: 'POST',
        path: '/echo?q=1',
        headers: [
          'host', 'svc.example:8080',
          'content-type', 'text/plain',
          'content-length', String(payload.length),
          'connection', 'keep-alive',
          'keep-alive', 'timeout=5',
          'proxy-connection', 'x',
          'transfer-encoding', 'chunked',
          'upgrade', 'websocket',
          'http2-settings', 'AAAA',
          'te', 'trailers',
          'x-custom', 'a',
          'x-custom', 'b',
        ],
        body,
      },
      rec,
    );
    await rec.done();
    expect(rec.events).toEqual(['headers', 'data', 'end']);
    expect(rec.status).toBe(200);
    expect(rec.body).toBe('hello over h2');
    // pseudo-headers removed from the response; fields as the server sent them
    expect(rec.headers!.filter((_, i) => i % 2 === 0)).not.toContain(':status');
    expect(rec.headers!.slice(0, 2)).toEqual(['x-upstream', 'h2']);
    expect(rec.trailers).toBeUndefined();

    const seen = srv.streams[0];
    expect(seen.raw.slice(0, 8)).toEqual([':method', 'POST', ':path', '/echo?q=1', ':scheme', 'http', ':authority', 'svc.example:8080']);
    expect(seen.raw.slice(8)).toEqual(['content-type', 'text/plain', 'content-length', String(payload.length), 'te', 'trailers', 'x-custom', 'a', 'x-custom', 'b']);
    expect(body.detached).toBe(false);

    expect(stats.upstreamCxTotal).toBe(1);
    expect(stats.upstreamCxActive).toBe(1);
    expect(stats.upstreamCxConnectFail).toBe(0);
    expect(stats.upstreamRqPendingTotal).toBe(1); // waited for the session to connect
    expect(stats.upstreamRqPendingActive).toBe(0);
    expect(pool.idleCount).toBe(1);
    expect(pool.activeCount).toBe(0);

    // the second request reuses the session; te other than "trailers" is dropped, no host → :authority from the address
    const rec2 = await exchange(pool, { method: 'GET', path: '/two', headers: ['te', 'gzip', 'accept', '*/*'], body: null });
    expect(rec2.status).toBe(200);
    expect(srv.sessions).toHaveLength(1);
    expect(srv.streams[1].raw).toEqual([':method', 'GET', ':path', '/two', ':scheme', 'http', ':authority', `127.0.0.1:${srv.port}`, 'accept', '*/*']);
    expect(stats.upstreamCxTotal).toBe(1);
    expect(stats.upstreamRqPendingTotal).toBe(1);
  });

  it('a field that must appear once (content-type) given twice is combined, not refused', async () => {
    const srv = await startH2(answering('ok'));
    const pool = makePool(srv.port);
    const rec = await exchange(pool, get('/', ['content-type', 'a', 'content-type', 'b', 'cookie', 'x=1', 'cookie', 'y=2']));
    expect(rec.status).toBe(200);
    expect(srv.streams[0].headers['content-type']).toBe('a, b');
    expect(srv.streams[0].headers['cookie']).toBe('x=1; y=2');
  });

  it('an invalid header value fails the exchange as protocol_error, asynchronously', async () => {
    const srv = await startH2(answering('ok'));
    const pool = makePool(srv.port);
    await exchange(pool); // session up
    const rec = new Recorder();
    pool.request(get('/', ['x bad', 'v']), rec);
    expect(rec.events).toEqual([]);
    await rec.done();
    expect(rec.error?.kind).toBe('protocol_error');
    expect(pool.streamCount).toBe(0);
    expect((await exchange(pool)).status).toBe(200);
  });

  it('response headers over maxHeaderBytes → protocol_error (node does not enforce SETTINGS_MAX_HEADER_LIST_SIZE itself)', async () => {
    const srv = await startH2(({ stream }) => {
      stream.respond({ ':status': 200, 'x-big': 'a'.repeat(70_000) });
      stream.end('x');
    });
    const pool = makePool(srv.port, { maxHeaderBytes: 60 * 1024 });
    const rec = await exchange(pool);
    expect(rec.events).toEqual(['error']);
    expect(rec.error?.kind).toBe('protocol_error');
    expect(rec.error?.message).toMatch(/exceed/);
  });

  it('1xx informational responses are not forwarded; the final response is', async () => {
    const srv = await startH2(({ stream }) => {
      stream.additionalHeaders({ ':status': 103, link: '</style.css>; rel=preload' });
      setTimeout(() => {
        stream.respond({ ':status': 201 });
        stream.end('made');
      }, 10);
    });
    const pool = makePool(srv.port);
    const rec = await exchange(pool);
    expect(rec.events).toEqual(['headers', 'data', 'end']);
    expect(rec.status).toBe(201);
    expect(rec.body).toBe('made');
  });

  it('response trailers end the exchange; request trailers are sent with the body', async () => {
    let serverTrailers: IncomingHttpHeaders | undefined;
    let serverBody = '';
    const srv = await startH2(({ stream }) => {
      stream.on('data', (d: Buffer) => (serverBody += d.toString()));
      stream.on('trailers', (t: IncomingHttpHeaders) => (serverTrailers = t));
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'fine' }));
        stream.end(Buffer.from([0, 0, 0, 0, 1, 42]));
      });
    });
    const pool = makePool(srv.port);
    const body = new TestBody(-1, [Buffer.from('request')], true, ['x-checksum', 'abc']);
    const rec = await exchange(pool, { method: 'POST', path: '/pkg.Svc/Call', headers: ['host', 'grpc', 'content-type', 'application/grpc', 'te', 'trailers'], body });
    expect(rec.events).toEqual(['headers', 'data', 'end']);
    expect(rec.trailers).toEqual(['grpc-status', '0', 'grpc-message', 'fine']);
    expect(serverBody).toBe('request');
    expect(serverTrailers?.['x-checksum']).toBe('abc');
  });

  it('request trailers node refuses (invalid name) → protocol_error, not an exception', async () => {
    const srv = await startH2(answering('ok'));
    const pool = makePool(srv.port);
    const body = new TestBody(-1, [Buffer.from('x')], true, ['bad name', 'v']);
    const rec = await exchange(pool, { method: 'POST', path: '/', headers: ['host', 'h'], body });
    expect(rec.error?.kind).toBe('protocol_error');
    expect((await exchange(pool)).body).toBe('ok');
  });

  it('a trailers-only response (gRPC error: HEADERS with END_STREAM) → headers, then end without trailers', async () => {
    const srv = await startH2(({ stream }) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'unavailable' }, { endStream: true });
    });
    const pool = makePool(srv.port);
    const rec = await exchange(pool, { method: 'POST', path: '/pkg.Svc/Call', headers: ['host', 'grpc', 'content-type', 'application/grpc', 'te', 'trailers'], body: new TestBody(-1, [Buffer.from([0, 0, 0, 0, 0])], true) });
    expect(rec.events).toEqual(['headers', 'end']);
    expect(rec.status).toBe(200);
    expect(rec.headers).toEqual(expect.arrayContaining(['grpc-status', '14', 'grpc-message', 'unavailable']));
    expect(rec.trailers).toBeUndefined();
    expect(pool.streamCount).toBe(0);
  });

  it('an early response (before the request body ended) completes; the rest of the body is not sent', async () => {
    const srv = await startH2(({ stream }) => {
      stream.respond({ ':status': 413 });
      stream.end('too big');
    });
    const pool = makePool(srv.port);
    const body = new TestBody(-1, [Buffer.from('part')], false);
    const rec = await exchange(pool, { method: 'POST', path: '/', headers: ['host', 'h'], body });
    expect(rec.status).toBe(413);
    expect(rec.body).toBe('too big');
    expect(body.detached).toBe(true);
    expect(pool.streamCount).toBe(0);
    expect((await exchange(pool)).status).toBe(413); // the same session takes the next request
    expect(srv.sessions).toHaveLength(1);
  });
});

// ---------------------------------------------------------------- multiplexing and limits

describe('H2Pool: multiplexing', () => {
  it('200 concurrent requests, server SETTINGS_MAX_CONCURRENT_STREAMS 50: never more than 50 streams on a session', async () => {
    const srv = await startH2(({ stream }) => {
      setTimeout(() => {
        if (stream.destroyed) return;
        stream.respond({ ':status': 200 });
        stream.end('ok');
      }, 30);
    }, { maxConcurrentStreams: 50 });
    const stats = new ClusterStats();
    const pool = makePool(srv.port, {}, stats);
    // learn the server's limit on a first session
    expect((await exchange(pool)).status).toBe(200);
    const recs = Array.from({ length: 200 }, () => new Recorder());
    for (const r of recs) pool.request(get(), r);
    expect(pool.streamCount).toBeLessThanOrEqual(50);
    await Promise.all(recs.map((r) => r.done('all 200', 10_000)));
    expect(recs.every((r) => r.status === 200)).toBe(true);
    expect(Math.max(...srv.maxOpen)).toBeLessThanOrEqual(50);
    expect(srv.sessions.length).toBe(4); // 200 / 50, opened as needed
    expect(Math.max(...srv.maxOpen)).toBe(50);
    expect(stats.upstreamCxTotal).toBe(4);
    expect(stats.upstreamRqPendingActive).toBe(0);
  });

  it('the first session of a pool does not overrun a limit it has not learnt yet (it waits for the SETTINGS)', async () => {
    const srv = await startH2(({ stream }) => {
      setTimeout(() => {
        if (stream.destroyed) return;
        stream.respond({ ':status': 200 });
        stream.end('ok');
      }, 20);
    }, { maxConcurrentStreams: 50 });
    const pool = makePool(srv.port);
    const recs = Array.from({ length: 200 }, () => new Recorder());
    for (const r of recs) pool.request(get(), r);
    await Promise.all(recs.map((r) => r.done('all 200', 10_000)));
    expect(recs.filter((r) => r.status !== 200).map((r) => r.error?.message)).toEqual([]);
    expect(Math.max(...srv.maxOpen)).toBeLessThanOrEqual(50);
    expect(srv.sessions.length).toBe(4);
  });

  it('at max_connections the rest queue (max_pending) and go out as streams free up; limits return to zero', async () => {
    const srv = await startH2(({ stream }) => {
      setTimeout(() => {
        if (stream.destroyed) return;
        stream.respond({ ':status': 200 });
        stream.end('ok');
      }, 20);
    }, { maxConcurrentStreams: 50 });
    const stats = new ClusterStats();
    const { limits, totals } = limitsOf({ maxConnections: 2 });
    const pool = makePool(srv.port, { limits }, stats);
    const recs = Array.from({ length: 200 }, () => new Recorder());
    for (const r of recs) pool.request(get(), r);
    await Promise.all(recs.map((r) => r.done('all 200', 15_000)));
    expect(recs.every((r) => r.status === 200)).toBe(true);
    expect(srv.sessions.length).toBe(2);
    expect(Math.max(...srv.maxOpen)).toBeLessThanOrEqual(50);
    expect(stats.upstreamRqPendingTotal).toBe(200);
    expect(stats.upstreamRqPendingActive).toBe(0);
    expect(totals()).toEqual({ connections: 2, pending: 0, requests: 0, retries: 0 });
  });

  it('options.maxConcurrentStreams below the peer limit caps each session', async () => {
    const srv = await startH2(({ stream }) => {
      setTimeout(() => {
        if (stream.destroyed) return;
        stream.respond({ ':status': 200 });
        stream.end('ok');
      }, 20);
    });
    const pool = makePool(srv.port, { maxConcurrentStreams: 10 });
    const recs = Array.from({ length: 30 }, () => new Recorder());
    for (const r of recs) pool.request(get(), r);
    await Promise.all(recs.map((r) => r.done()));
    expect(recs.every((r) => r.status === 200)).toBe(true);
    expect(srv.sessions.length).toBe(3);
    expect(Math.max(...srv.maxOpen)).toBeLessThanOrEqual(10);
  });

  it('circuit breakers: max_requests and max_pending overflow, as H1Pool', async () => {
    const held: ServerHttp2Stream[] = [];
    const srv = await startH2(({ stream }) => held.push(stream), { maxConcurrentStreams: 1 });
    const { limits, totals } = limitsOf({ maxConnections: 1, maxPendingRequests: 1, maxRequests: 5 });
    const pool = makePool(srv.port, { limits });
    const a = new Recorder();
    pool.request(get(), a);
    await until(() => held.length === 1, 'the first stream');
    const b = new Recorder(); // session full, no second connection: queued
    pool.request(get(), b);
    const c = new Recorder(); // queue full: overflow
    pool.request(get(), c);
    await c.done();
    expect(c.error?.kind).toBe('overflow');
    expect(c.error?.message).toMatch(/max pending requests/);
    held[0].respond({ ':status': 200 });
    held[0].end();
    await a.done();
    await until(() => held.length === 2, 'the queued request on the freed stream');
    held[1].respond({ ':status': 200 });
    held[1].end();
    await b.done();
    expect(b.status).toBe(200);
    expect(totals()).toEqual({ connections: 1, pending: 0, requests: 0, retries: 0 });

    const rec = await exchange(makePool(srv.port, { limits: limitsOf({ maxRequests: 0 }).limits }));
    expect(rec.error?.kind).toBe('overflow');
    expect(rec.error?.message).toMatch(/max requests/);
  });

  it('a queued request that is aborted leaves the queue and never reaches the server', async () => {
    const held: ServerHttp2Stream[] = [];
    const srv = await startH2(({ stream }) => held.push(stream), { maxConcurrentStreams: 1 });
    const stats = new ClusterStats();
    const { limits, totals } = limitsOf({ maxConnections: 1 });
    const pool = makePool(srv.port, { limits }, stats);
    const a = new Recorder();
    pool.request(get('/a'), a);
    await until(() => held.length === 1, 'the first stream');
    const b = new Recorder();
    const exB = pool.request(get('/b'), b);
    expect(stats.upstreamRqPendingActive).toBe(1);
    exB.abort();
    expect(stats.upstreamRqPendingActive).toBe(0);
    held[0].respond({ ':status': 200 });
    held[0].end();
    await a.done();
    await sleep(50);
    expect(held).toHaveLength(1);
    expect(b.events).toEqual([]);
    expect(totals()).toEqual({ connections: 1, pending: 0, requests: 0, retries: 0 });
  });

  it('maxRequestsPerConnection: the session is drained after that many streams and closes when idle', async () => {
    const srv = await startH2(answering('ok'));
    const stats = new ClusterStats();
    const pool = makePool(srv.port, { maxRequestsPerConnection: 2 }, stats);
    for (let i = 0; i < 5; i++) expect((await exchange(pool)).status).toBe(200);
    expect(srv.sessions.map((_, i) => srv.streams.filter((s) => s.sessionIndex === i).length)).toEqual([2, 2, 1]);
    await until(() => stats.upstreamCxDestroy === 2, 'the two full sessions to close');
    expect(stats.upstreamCxActive).toBe(1);
  });
});

// ---------------------------------------------------------------- bodies and backpressure

describe('H2Pool: flow control', () => {
  it('a 20 MiB upload to a slow server: the body source is paused and resumed; bytes in flight stay bounded', async () => {
    const total = 20 * 1024 * 1024;
    const data = pseudoRandom(total, 7);
    let received = 0;
    const hash = createHash('sha256');
    let maxInFlight = 0;
    let body: TestBody | undefined;
    const srv = await startH2(({ stream }) => {
      // a slow reader: 256 KiB, then a 2 ms pause
      let sincePause = 0;
      stream.on('data', (d: Buffer) => {
        received += d.length;
        hash.update(d);
        maxInFlight = Math.max(maxInFlight, body!.delivered - received);
        sincePause += d.length;
        if (sincePause >= 256 * 1024) {
          sincePause = 0;
          stream.pause();
          setTimeout(() => stream.resume(), 2);
        }
      });
      stream.on('end', () => {
        stream.respond({ ':status': 200 });
        stream.end(String(received));
      });
    });
    const pool = makePool(srv.port);
    const chunks: Buffer[] = [];
    for (let o = 0; o < total; o += 64 * 1024) chunks.push(data.subarray(o, o + 64 * 1024));
    body = new TestBody(total, chunks, true);
    const rec = await exchange(pool, { method: 'PUT', path: '/upload', headers: ['host', 'h', 'content-length', String(total)], body });
    expect(rec.status).toBe(200);
    expect(rec.body).toBe(String(total));
    expect(hash.digest('hex')).toBe(sha(data));
    expect(body.falseReturns).toBeGreaterThan(10);
    expect(body.resumes).toBeGreaterThan(10);
    // HTTP/2 flow control (the server's 64 KiB stream window) plus the stream's write buffer: ~112 KiB here
    expect(maxInFlight).toBeLessThan(1024 * 1024);
  }, 30_000);

  it('response backpressure: a handler returning false pauses the stream until resume()', async () => {
    const big = pseudoRandom(4 * 1024 * 1024, 3);
    let serverWritten = 0;
    const srv = await startH2(({ stream }) => {
      stream.respond({ ':status': 200 });
      let o = 0;
      const pump = () => {
        while (o < big.length) {
          const c = big.subarray(o, o + 16 * 1024);
          o += c.length;
          serverWritten = o;
          if (!stream.write(c)) return void stream.once('drain', pump);
        }
        stream.end();
      };
      pump();
    });
    const pool = makePool(srv.port);
    const rec = new Recorder();
    rec.dataResult = () => false;
    const ex = pool.request(get('/big'), rec);
    await until(() => rec.bytes > 0, 'the first bytes');
    await sleep(100);
    const stalled = rec.bytes;
    await sleep(100);
    expect(rec.bytes).toBe(stalled); // paused: no more deliveries
    expect(serverWritten).toBeLessThan(big.length); // and the server is held back by flow control
    rec.dataResult = () => true;
    ex.resume();
    await rec.done('the rest after resume', 10_000);
    expect(rec.events).toEqual(['headers', 'data', 'end']);
    expect(sha(Buffer.concat(rec.chunks))).toBe(sha(big));
  });

  it("a request body that fails → downstream_body_error; the stream is cancelled", async () => {
    let rst: number | undefined;
    const srv = await startH2(({ stream }) => stream.on('close', () => (rst = stream.rstCode)));
    const pool = makePool(srv.port);
    const body = new TestBody(-1, [Buffer.from('abc')], false);
    const rec = new Recorder();
    pool.request({ method: 'POST', path: '/', headers: ['host', 'h'], body }, rec);
    await until(() => srv.streams.length === 1, 'the stream');
    body.fail(new Error('client went away mid-body'));
    await rec.done();
    expect(rec.error?.kind).toBe('downstream_body_error');
    await until(() => rst !== undefined, 'the server to see the reset');
    expect(rst).toBe(NGHTTP2_CANCEL);
  });
});

// ---------------------------------------------------------------- failures

describe('H2Pool: resets, GOAWAY, connect failures', () => {
  it('GOAWAY mid-flight: streams up to lastStreamId finish, the later one is refused (reset_before_headers), new requests use a new session', async () => {
    const held: SeenStream[] = [];
    const srv = await startH2((seen) => {
      if (seen.sessionIndex === 0) held.push(seen);
      else {
        seen.stream.respond({ ':status': 200 });
        seen.stream.end('new session');
      }
    });
    const pool = makePool(srv.port);
    const recs = [new Recorder(), new Recorder(), new Recorder()];
    for (const r of recs) pool.request(get(), r);
    await until(() => held.length === 3, 'three streams');
    const ids = held.map((s) => s.stream.id!);
    held[0].session.goaway(http2.constants.NGHTTP2_NO_ERROR, ids[1]);
    await recs[2].done();
    expect(recs[2].error?.kind).toBe('reset_before_headers');
    expect(recs[2].error?.code).toBe('REFUSED_STREAM');
    // new requests go to a new session while the old one finishes its streams
    const fresh = await exchange(pool);
    expect(fresh.body).toBe('new session');
    expect(srv.sessions).toHaveLength(2);
    for (const s of held.slice(0, 2)) {
      s.stream.respond({ ':status': 200 });
      s.stream.end('in flight');
    }
    await Promise.all(recs.slice(0, 2).map((r) => r.done()));
    expect(recs.slice(0, 2).map((r) => r.body)).toEqual(['in flight', 'in flight']);
    await until(() => pool.clientCount === 1, 'the old session to close');
  });

  it("server session.close() (graceful GOAWAY): in-flight streams finish, then the pool opens a new session", async () => {
    const held: SeenStream[] = [];
    const srv = await startH2((seen) => {
      if (seen.sessionIndex === 0) held.push(seen);
      else {
        seen.stream.respond({ ':status': 200 });
        seen.stream.end('second');
      }
    });
    const pool = makePool(srv.port);
    const a = new Recorder();
    pool.request(get(), a);
    await until(() => held.length === 1, 'the stream');
    held[0].session.close();
    await sleep(30);
    const b = await exchange(pool);
    expect(b.body).toBe('second');
    held[0].stream.respond({ ':status': 200 });
    held[0].stream.end('first');
    await a.done();
    expect(a.body).toBe('first');
  });

  it('server RST_STREAM before headers → reset_before_headers; the session stays usable', async () => {
    const srv = await startH2(({ stream, headers }) => {
      if (headers[':path'] === '/before') return void stream.close(NGHTTP2_INTERNAL_ERROR);
      stream.respond({ ':status': 200 });
      stream.end('fine');
    });
    const pool = makePool(srv.port);
    const before = await exchange(pool, get('/before'));
    expect(before.events).toEqual(['error']);
    expect(before.error?.kind).toBe('reset_before_headers');
    expect(before.error?.code).toBe('INTERNAL_ERROR');
    expect((await exchange(pool)).body).toBe('fine');
    expect(srv.sessions).toHaveLength(1);
    expect(pool.streamCount).toBe(0);
  });

  it('server RST_STREAM after headers and some data → reset_after_headers (raw frames: node flushes END_STREAM before its own resets)', async () => {
    const raw = await rawH2Server((sock, streamId, n) => {
      sock.write(frame(1, 0x4, streamId, Buffer.from([0x88]))); // HEADERS :status 200 (static index 8), END_HEADERS
      sock.write(frame(0, 0, streamId, Buffer.from('partial')));
      if (n === 0) sock.write(frame(3, 0, streamId, u32(NGHTTP2_INTERNAL_ERROR))); // RST_STREAM
      else sock.write(frame(0, 0x1, streamId, Buffer.alloc(0))); // END_STREAM
    });
    const pool = makePool(raw.port);
    const after = await exchange(pool, get('/after'));
    expect(after.events).toEqual(['headers', 'data', 'error']);
    expect(after.body).toBe('partial');
    expect(after.error?.kind).toBe('reset_after_headers');
    expect(after.error?.code).toBe('INTERNAL_ERROR');
    const next = await exchange(pool);
    expect(next.events).toEqual(['headers', 'data', 'end']);
    expect(next.body).toBe('partial');
    expect(raw.connections).toBe(1);
  });

  it('the server going away fails open streams: before headers → reset_before_headers, after → reset_after_headers', async () => {
    const held: SeenStream[] = [];
    const srv = await startH2((seen) => {
      held.push(seen);
      if (seen.headers[':path'] === '/started') {
        seen.stream.respond({ ':status': 200 });
        seen.stream.write('x');
      }
    });
    const stats = new ClusterStats();
    const pool = makePool(srv.port, {}, stats);
    const a = new Recorder();
    const b = new Recorder();
    pool.request(get('/waiting'), a);
    pool.request(get('/started'), b);
    await until(() => held.length === 2 && b.bytes === 1, 'both streams, one with a response');
    held[0].session.destroy();
    await Promise.all([a.done(), b.done()]);
    expect(a.error?.kind).toBe('reset_before_headers');
    expect(b.error?.kind).toBe('reset_after_headers');
    await until(() => stats.upstreamCxActive === 0, 'the session to be counted closed');
    expect(stats.upstreamCxDestroy).toBe(1);
    expect(stats.upstreamCxConnectFail).toBe(0);
  });

  it('connect refused → connect_failure (ECONNREFUSED), counted as a connect failure', async () => {
    const probe = createNetServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const stats = new ClusterStats();
    const pool = makePool(port, {}, stats);
    const recs = [new Recorder(), new Recorder()];
    for (const r of recs) pool.request(get(), r);
    await Promise.all(recs.map((r) => r.done()));
    for (const r of recs) {
      expect(r.error?.kind).toBe('connect_failure');
      expect(r.error?.code).toBe('ECONNREFUSED');
    }
    expect(stats.upstreamCxTotal).toBe(1); // both waited for the same session
    expect(stats.upstreamCxConnectFail).toBe(1);
    expect(stats.upstreamRqPendingFailureEject).toBe(2);
    expect(stats.upstreamRqPendingActive).toBe(0);
    expect(pool.clientCount).toBe(0);
  });

  it('a server that accepts but never sends SETTINGS → connect_timeout after connectTimeoutMs', async () => {
    const sockets: Socket[] = [];
    const mute: Server = createNetServer((s) => sockets.push(s.on('error', () => {})));
    await new Promise<void>((r) => mute.listen(0, '127.0.0.1', r));
    cleanups.push(async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => mute.close(() => r()));
    });
    const stats = new ClusterStats();
    const pool = makePool((mute.address() as AddressInfo).port, { connectTimeoutMs: 150 }, stats);
    const started = Date.now();
    const rec = await exchange(pool);
    const elapsed = Date.now() - started;
    expect(rec.error?.kind).toBe('connect_timeout');
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(2_000);
    await until(() => stats.upstreamCxActive === 0, 'the session to close');
    expect(stats.upstreamCxConnectFail).toBe(1);
  });

  it('a TCP connect that never completes → connect_timeout', async () => {
    // A listener whose thread never accepts: once its accept queue (backlog 1) is full the kernel
    // drops further SYNs, so a connect hangs. Loopback only.
    const gate = new SharedArrayBuffer(4);
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const srv = require('node:net').createServer();
       srv.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
         parentPort.postMessage(srv.address().port);
         Atomics.wait(new Int32Array(workerData), 0, 0, 20000);
         srv.close();
         process.exit(0);
       });`,
      { eval: true, workerData: gate },
    );
    const fillers: Socket[] = [];
    cleanups.push(async () => {
      Atomics.store(new Int32Array(gate), 0, 1);
      Atomics.notify(new Int32Array(gate), 0);
      for (const f of fillers) f.destroy();
      await worker.terminate();
    });
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    const { connect } = await import('node:net');
    for (let i = 0; i < 4; i++) fillers.push(connect(port, '127.0.0.1').on('error', () => {}));
    await sleep(100);
    const pool = makePool(port, { connectTimeoutMs: 150 });
    const started = Date.now();
    const rec = await exchange(pool);
    expect(rec.error?.kind).toBe('connect_timeout');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('abort(): the stream is cancelled (RST_STREAM CANCEL), the handler hears nothing more, the session stays', async () => {
    let rst: number | undefined;
    const srv = await startH2(({ stream, headers }) => {
      if (headers[':path'] !== '/slow') {
        stream.respond({ ':status': 200 });
        return void stream.end('ok');
      }
      stream.on('close', () => (rst = stream.rstCode));
      stream.respond({ ':status': 200 });
      stream.write('abc');
    });
    const pool = makePool(srv.port);
    const rec = new Recorder();
    const ex = pool.request(get('/slow'), rec);
    await until(() => rec.bytes === 3, 'the first bytes');
    ex.abort();
    await until(() => rst !== undefined, 'the server to see the reset');
    expect(rst).toBe(NGHTTP2_CANCEL);
    await sleep(30);
    expect(rec.events).toEqual(['headers', 'data']);
    expect(pool.streamCount).toBe(0);
    expect((await exchange(pool)).body).toBe('ok');
    expect(srv.sessions).toHaveLength(1);
  });

  it('abort() while waiting for the session to connect: nothing is sent, no handler call', async () => {
    const srv = await startH2(answering('ok'));
    const pool = makePool(srv.port);
    const rec = new Recorder();
    pool.request(get(), rec).abort();
    await sleep(100);
    expect(rec.events).toEqual([]);
    expect(srv.streams).toHaveLength(0);
    expect((await exchange(pool)).body).toBe('ok');
  });
});

// ---------------------------------------------------------------- lifecycle

describe('H2Pool: lifecycle', () => {
  it('an idle session is closed after idleTimeoutMs', async () => {
    const srv = await startH2(answering('ok'));
    const stats = new ClusterStats();
    const pool = makePool(srv.port, { idleTimeoutMs: 100 }, stats);
    expect((await exchange(pool)).status).toBe(200);
    expect(pool.idleCount).toBe(1);
    await until(() => srv.closedSessions === 1, 'the server to see the session close', 3_000);
    await until(() => pool.clientCount === 0, 'the pool to forget it');
    expect(stats.upstreamCxDestroy).toBe(1);
    expect(stats.upstreamCxActive).toBe(0);
    // and a new request opens a new one
    expect((await exchange(pool)).status).toBe(200);
    expect(srv.sessions).toHaveLength(2);
  });

  it('a session with an open stream is not idle', async () => {
    const held: ServerHttp2Stream[] = [];
    const srv = await startH2(({ stream }) => held.push(stream));
    const pool = makePool(srv.port, { idleTimeoutMs: 100 });
    const rec = new Recorder();
    pool.request(get(), rec);
    await sleep(500);
    expect(srv.closedSessions).toBe(0);
    held[0].respond({ ':status': 200 });
    held[0].end('late');
    await rec.done();
    expect(rec.body).toBe('late');
  });

  it('close() closes idle sessions and waits for in-flight streams', async () => {
    const held: ServerHttp2Stream[] = [];
    const srv = await startH2(({ stream }) => held.push(stream));
    const pool = makePool(srv.port);
    const rec = new Recorder();
    pool.request(get(), rec);
    await until(() => held.length === 1, 'the stream');
    let closed = false;
    const p = pool.close().then(() => (closed = true));
    await sleep(50);
    expect(closed).toBe(false);
    held[0].respond({ ':status': 200 });
    held[0].end('done');
    await rec.done();
    await Promise.race([p, sleep(2_000)]);
    expect(closed).toBe(true);
    expect(rec.body).toBe('done');
  });
});

// ---------------------------------------------------------------- TLS

describe('H2Pool: TLS', () => {
  let dir = '';
  let key: Buffer;
  let cert: Buffer;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'h2pool-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore', timeout: 20_000 });
    key = readFileSync(join(dir, 'key.pem'));
    cert = readFileSync(join(dir, 'cert.pem'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('TLS with ALPN h2 and a self-signed certificate: :scheme https', async () => {
    const srv = await startH2(({ stream, headers }) => {
      stream.respond({ ':status': 200 });
      stream.end(`${headers[':scheme']} ${(stream.session!.socket as unknown as { alpnProtocol: string }).alpnProtocol}`);
    }, {}, { key, cert });
    const pool = makePool(srv.port, { tls: () => ({ ca: cert, servername: 'localhost' }) });
    const rec = await exchange(pool);
    expect(rec.status).toBe(200);
    expect(rec.body).toBe('https h2');
  });

  it('an untrusted certificate → connect_failure', async () => {
    const srv = await startH2(answering('ok'), {}, { key, cert });
    const stats = new ClusterStats();
    const pool = makePool(srv.port, { tls: () => ({ servername: 'localhost' }) }, stats);
    const rec = await exchange(pool);
    expect(rec.error?.kind).toBe('connect_failure');
    await until(() => stats.upstreamCxConnectFail === 1, 'the connect failure count');
  });

  it('a TLS server that selects no ALPN protocol (so not h2) → protocol_error', async () => {
    const server = createTlsServer({ key, cert }, (s) => s.on('error', () => {}));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const stats = new ClusterStats();
    const pool = makePool((server.address() as AddressInfo).port, { tls: () => ({ ca: cert, servername: 'localhost' }) }, stats);
    const rec = await exchange(pool);
    expect(rec.error?.kind).toBe('protocol_error');
    expect(rec.error?.message).toMatch(/did not negotiate h2/);
    await until(() => stats.upstreamCxActive === 0, 'the connection to close');
    expect(stats.upstreamCxConnectFail).toBe(1);
  });

  it('a TLS server that only offers http/1.1 refuses the handshake (no_application_protocol) → connect_failure', async () => {
    const server = createTlsServer({ key, cert, ALPNProtocols: ['http/1.1'] }, (s) => s.on('error', () => {}));
    server.on('tlsClientError', () => {});
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const pool = makePool((server.address() as AddressInfo).port, { tls: () => ({ ca: cert, servername: 'localhost' }) });
    const rec = await exchange(pool);
    expect(rec.error?.kind).toBe('connect_failure');
    expect(rec.error?.code).toMatch(/NO_APPLICATION_PROTOCOL/);
  });

  it('TLS options that are an Error (no workload certificate) → connect_failure', async () => {
    const pool = makePool(1, { tls: () => new Error('no workload certificate') });
    const rec = await exchange(pool);
    expect(rec.error?.kind).toBe('connect_failure');
    expect(rec.error?.message).toMatch(/no workload certificate/);
  });

  it('ALPN: h2 is offered; Istio entries kept, HTTP/1 ones dropped', () => {
    expect(h2TlsOptions({}).ALPNProtocols).toEqual(['h2']);
    expect(h2TlsOptions({ ALPNProtocols: ['istio-http/1.1', 'istio'] }).ALPNProtocols).toEqual(['istio', 'h2']);
    expect(h2TlsOptions({ ALPNProtocols: ['h2', 'http/1.1'], servername: 'x' })).toEqual({ ALPNProtocols: ['h2'], servername: 'x' });
  });
});
