import { createHash } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import type { BodySink, BodySource } from '../../src/codec/body.js';
import { UpstreamError, type UpstreamExchange, type UpstreamHandler, type UpstreamRequest } from '../../src/upstream/exchange.js';
import { H1Pool } from '../../src/upstream/http1/pool.js';
import type { PoolOptions } from '../../src/upstream/pool-base.js';

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

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(n: number, seed: number): Buffer {
  const rand = rng(seed);
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** What a raw test server parsed out of one request. */
interface SeenRequest {
  /** Request line and header lines, without the final CRLFCRLF. */
  head: string;
  requestLine: string;
  headers: string[];
  chunked: boolean;
  /** Decoded body. */
  body: Buffer;
  /** Body bytes exactly as they came on the wire. */
  rawBody: Buffer;
  /** Chunk sizes seen (chunked only), including the final 0. */
  chunkSizes: number[];
}

/** One accepted connection on a raw server; parses requests strictly and independently of src/. */
class ServerConn {
  private buf: Buffer = Buffer.alloc(0);
  private cur: (SeenRequest & { length: number; consumed: number; done: boolean; bodyParts: Buffer[]; rawParts: Buffer[] }) | undefined;
  readonly heads: SeenRequest[] = [];
  readonly requests: SeenRequest[] = [];
  private receivedParts: Buffer[] = [];
  clientEnded = false;
  closed = false;
  parseError: string | undefined;
  onHead: ((req: SeenRequest) => void) | undefined;
  onRequest: ((req: SeenRequest) => void) | undefined;

  constructor(
    readonly socket: Socket,
    readonly index: number,
  ) {
    socket.on('data', (d: Buffer) => {
      this.receivedParts.push(d);
      this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
      try {
        this.pump();
      } catch (err) {
        this.parseError = (err as Error).message;
      }
    });
    socket.on('end', () => (this.clientEnded = true));
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  /** Everything received, for byte-exact checks. */
  get received(): Buffer {
    return Buffer.concat(this.receivedParts);
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(data);
  }

  private pump(): void {
    for (let guard = 0; guard < 1_000_000; guard++) {
      if (!this.cur) {
        const e = this.buf.indexOf('\r\n\r\n');
        if (e < 0) return;
        const head = this.buf.toString('latin1', 0, e);
        this.buf = this.buf.subarray(e + 4);
        const [requestLine, ...lines] = head.split('\r\n');
        const headers: string[] = [];
        for (const l of lines) {
          const c = l.indexOf(':');
          if (c <= 0) throw new Error(`bad request header line ${JSON.stringify(l)}`);
          headers.push(l.slice(0, c).toLowerCase(), l.slice(c + 1).trim());
        }
        const get = (n: string) => headers.filter((_, i) => i % 2 === 0 && headers[i] === n).length;
        const te = headers[headers.indexOf('transfer-encoding') + 1];
        const cl = headers[headers.indexOf('content-length') + 1];
        if (get('transfer-encoding') > 1 || get('content-length') > 1) throw new Error('repeated framing header');
        if (headers.includes('transfer-encoding') && headers.includes('content-length')) throw new Error('both framing headers');
        const chunked = headers.includes('transfer-encoding');
        if (chunked && te !== 'chunked') throw new Error(`unexpected transfer-encoding ${te}`);
        const length = chunked ? -1 : headers.includes('content-length') ? Number(cl) : 0;
        this.cur = { head, requestLine, headers, chunked, body: Buffer.alloc(0), rawBody: Buffer.alloc(0), chunkSizes: [], length, consumed: 0, done: false, bodyParts: [], rawParts: [] };
        this.heads.push(this.cur);
        this.onHead?.(this.cur);
      }
      const cur = this.cur;
      if (cur.chunked) {
        // strict chunked decoding: "hex\r\n" data "\r\n" ... "0\r\n\r\n" (the pool sends no extensions or trailers)
        const lineEnd = this.buf.indexOf('\r\n');
        if (lineEnd < 0) return;
        const sizeText = this.buf.toString('latin1', 0, lineEnd);
        if (!/^[0-9a-f]+$/.test(sizeText)) throw new Error(`bad chunk size ${JSON.stringify(sizeText)}`);
        const size = parseInt(sizeText, 16);
        const need = lineEnd + 2 + size + 2;
        if (this.buf.length < need) return;
        if (this.buf[need - 2] !== 13 || this.buf[need - 1] !== 10) throw new Error('missing CRLF after chunk data');
        cur.rawParts.push(this.buf.subarray(0, need));
        cur.chunkSizes.push(size);
        if (size > 0) cur.bodyParts.push(this.buf.subarray(lineEnd + 2, lineEnd + 2 + size));
        this.buf = this.buf.subarray(need);
        if (size === 0) cur.done = true;
      } else {
        const take = Math.min(cur.length - cur.consumed, this.buf.length);
        if (take > 0) {
          cur.bodyParts.push(this.buf.subarray(0, take));
          cur.rawParts.push(this.buf.subarray(0, take));
          cur.consumed += take;
          this.buf = this.buf.subarray(take);
        }
        if (cur.consumed === cur.length) cur.done = true;
        else return;
      }
      if (cur.done) {
        this.cur = undefined;
        cur.body = Buffer.concat(cur.bodyParts);
        cur.rawBody = Buffer.concat(cur.rawParts);
        this.requests.push(cur);
        this.onRequest?.(cur);
      }
    }
  }
}

interface TestServer {
  port: number;
  conns: ServerConn[];
  server: Server;
}

const servers: Server[] = [];
const serverSockets: Socket[] = [];
const pools: H1Pool[] = [];
const cleanups: (() => void | Promise<void>)[] = [];

async function startServer(onConn: (c: ServerConn) => void): Promise<TestServer> {
  const conns: ServerConn[] = [];
  const server = createServer({ noDelay: true }, (sock) => {
    serverSockets.push(sock);
    const c = new ServerConn(sock, conns.length);
    conns.push(c);
    onConn(c);
  });
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  return { port: (server.address() as AddressInfo).port, conns, server };
}

/** A server that answers every complete request with `response` (a string or a function of the request). */
function answering(response: string | Buffer | ((req: SeenRequest, c: ServerConn) => string | Buffer | undefined)) {
  return (c: ServerConn) => {
    c.onRequest = (req) => {
      const r = typeof response === 'function' ? response(req, c) : response;
      if (r !== undefined) c.write(r);
    };
  };
}

const DEFAULTS: PoolOptions = { connectTimeoutMs: 2_000, idleTimeoutMs: 10_000, maxHeaderBytes: 16 * 1024 };

function makePool(port: number, options: Partial<PoolOptions> = {}): H1Pool {
  const pool = new H1Pool('127.0.0.1', port, { ...DEFAULTS, ...options });
  pools.push(pool);
  return pool;
}

function get(path = '/', extra: string[] = []): UpstreamRequest {
  return { method: 'GET', path, headers: ['host', 'example.test', ...extra], body: null };
}

/** Records every handler call and checks the contract: headers, end and error at most once, nothing after the end. */
class Recorder implements UpstreamHandler {
  events: string[] = [];
  status: number | undefined;
  headers: string[] | undefined;
  chunks: Buffer[] = [];
  bytes = 0;
  dataCalls = 0;
  trailers: string[] | undefined;
  ended = false;
  error: UpstreamError | undefined;
  violations: string[] = [];
  /** What onUpstreamData returns. */
  dataResult: (chunk: Buffer) => boolean = () => true;
  keepChunks = true;

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
    this.dataCalls++;
    this.bytes += chunk.length;
    if (this.keepChunks) this.chunks.push(Buffer.from(chunk));
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
    // let any stray late callbacks arrive before the caller checks the contract
    await sleep(20);
    expect(this.violations).toEqual([]);
    return this;
  }
}

async function exchange(pool: H1Pool, req: UpstreamRequest = get()): Promise<Recorder> {
  const rec = new Recorder();
  pool.request(req, rec);
  return rec.done();
}

/** Writes `data` in pieces cut at `cuts` (absolute offsets), pausing between them. */
async function writeInPieces(c: ServerConn, data: string | Buffer, cuts: number[], gapMs = 4): Promise<void> {
  const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  let prev = 0;
  for (const cut of [...cuts, buf.length]) {
    if (cut <= prev) continue;
    c.write(buf.subarray(prev, cut));
    prev = cut;
    await sleep(gapMs);
  }
}

const everyN = (len: number, n: number) => Array.from({ length: Math.ceil(len / n) }, (_, i) => i * n).slice(1);

afterEach(async () => {
  for (const p of pools.splice(0)) await Promise.race([p.close(), sleep(200)]);
  for (const f of cleanups.splice(0)) await f();
  for (const s of serverSockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

const OK5 = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Upstream: a\r\n\r\nhello';

// ---------------------------------------------------------------- basic exchanges and reuse

describe('H1Pool: responses and connection reuse', () => {
  it('delivers headers, data and end, and sends the request head verbatim', async () => {
    const srv = await startServer(answering(OK5));
    const pool = makePool(srv.port);
    const rec = await exchange(pool, get('/a?b=1', ['x-custom', 'Value One', 'accept', '*/*']));
    expect(rec.events).toEqual(['headers', 'data', 'end']);
    expect(rec.status).toBe(200);
    expect(rec.headers).toEqual(['content-length', '5', 'x-upstream', 'a']);
    expect(rec.body).toBe('hello');
    expect(rec.trailers).toBeUndefined();
    expect(rec.error).toBeUndefined();
    expect(srv.conns[0].received.toString('latin1')).toBe('GET /a?b=1 HTTP/1.1\r\nhost: example.test\r\nx-custom: Value One\r\naccept: */*\r\n\r\n');
    expect(pool.activeCount).toBe(0);
    expect(pool.idleCount).toBe(1);
  });

  it('reuses the keep-alive connection for the next request', async () => {
    const srv = await startServer(answering(OK5));
    const pool = makePool(srv.port);
    for (let i = 0; i < 5; i++) {
      const rec = await exchange(pool, get(`/${i}`));
      expect(rec.body).toBe('hello');
    }
    expect(srv.conns).toHaveLength(1);
    expect(srv.conns[0].requests.map((r) => r.requestLine)).toEqual(['GET /0 HTTP/1.1', 'GET /1 HTTP/1.1', 'GET /2 HTTP/1.1', 'GET /3 HTTP/1.1', 'GET /4 HTTP/1.1']);
    expect(srv.conns[0].closed).toBe(false);
    expect(pool.idleCount).toBe(1);
  });

  it('a response with `connection: close` is not reused (and the pool closes it)', async () => {
    const srv = await startServer(answering('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'));
    const pool = makePool(srv.port);
    const a = await exchange(pool);
    expect(a.body).toBe('ok');
    expect(pool.idleCount).toBe(0);
    // the server keeps its side open: the client must be the one closing
    await until(() => srv.conns[0].closed, 'the client to close the first connection');
    const b = await exchange(pool);
    expect(b.body).toBe('ok');
    expect(srv.conns).toHaveLength(2);
  });

  it('an HTTP/1.0 response is reused only with `connection: keep-alive`', async () => {
    let keep = false;
    const srv = await startServer(answering(() => `HTTP/1.0 200 OK\r\n${keep ? 'Connection: keep-alive\r\n' : ''}Content-Length: 2\r\n\r\nok`));
    const pool = makePool(srv.port);
    await exchange(pool);
    await exchange(pool);
    expect(srv.conns).toHaveLength(2);
    keep = true;
    await exchange(pool);
    await exchange(pool);
    expect(srv.conns).toHaveLength(3);
  });

  it('concurrent requests get separate connections; the most recently released is reused first', async () => {
    const pending: { c: ServerConn; path: string }[] = [];
    const srv = await startServer((c) => {
      c.onRequest = (req) => pending.push({ c, path: req.requestLine.split(' ')[1] });
    });
    const pool = makePool(srv.port);
    const a = new Recorder();
    const b = new Recorder();
    pool.request(get('/a'), a);
    pool.request(get('/b'), b);
    expect(pool.activeCount).toBe(2);
    await until(() => pending.length === 2, 'both requests');
    expect(srv.conns).toHaveLength(2);
    const pa = pending.find((p) => p.path === '/a')!;
    const pb = pending.find((p) => p.path === '/b')!;
    expect(pa.c).not.toBe(pb.c);
    pb.c.write(OK5);
    await b.done();
    pa.c.write(OK5);
    await a.done();
    expect(pool.idleCount).toBe(2);
    const c = new Recorder();
    pool.request(get('/c'), c);
    await until(() => pending.length === 3, 'the third request');
    expect(pending[2].c).toBe(pa.c); // released last → reused first
    pending[2].c.write(OK5);
    await c.done();
    expect(srv.conns).toHaveLength(2);
  });

  it('delivers trailers of a chunked response to onUpstreamEnd and reuses the connection', async () => {
    const srv = await startServer(answering('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 42\r\nx-b: two\r\n\r\n'));
    const pool = makePool(srv.port);
    const rec = await exchange(pool);
    expect(rec.body).toBe('abc');
    expect(rec.trailers).toEqual(['x-sum', '42', 'x-b', 'two']);
    const again = await exchange(pool);
    expect(again.body).toBe('abc');
    expect(srv.conns).toHaveLength(1);
  });

  it('a chunked response without trailers ends with undefined trailers', async () => {
    const srv = await startServer(answering('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n'));
    const rec = await exchange(makePool(srv.port));
    expect(rec.trailers).toBeUndefined();
    expect(rec.body).toBe('abc');
  });

  it('a 204 and a content-length: 0 response complete without data and are reused', async () => {
    let n = 0;
    const srv = await startServer(answering(() => (n++ % 2 === 0 ? 'HTTP/1.1 204 No Content\r\n\r\n' : 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')));
    const pool = makePool(srv.port);
    const a = await exchange(pool);
    expect(a.events).toEqual(['headers', 'end']);
    expect(a.status).toBe(204);
    const b = await exchange(pool);
    expect(b.events).toEqual(['headers', 'end']);
    expect(b.status).toBe(200);
    expect(srv.conns).toHaveLength(1);
  });

  it('a HEAD response with content-length and no body completes and the connection is reused', async () => {
    const srv = await startServer(
      answering((req) => (req.requestLine.startsWith('HEAD') ? 'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n' : OK5)),
    );
    const pool = makePool(srv.port);
    const head = await exchange(pool, { method: 'HEAD', path: '/', headers: ['host', 'h'], body: null });
    expect(head.events).toEqual(['headers', 'end']);
    expect(head.status).toBe(200);
    expect(head.headers).toEqual(['content-length', '1000', 'content-type', 'text/plain']);
    expect(head.bytes).toBe(0);
    // the next response on the same connection is parsed from its first byte
    const next = await exchange(pool);
    expect(next.status).toBe(200);
    expect(next.body).toBe('hello');
    expect(srv.conns).toHaveLength(1);
  });

  it('an until-close body ends on the server FIN, and the connection is not reused', async () => {
    const srv = await startServer((c) => {
      c.onRequest = async () => {
        c.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst ');
        await sleep(30);
        c.write('second');
        await sleep(30);
        c.socket.end();
      };
    });
    const pool = makePool(srv.port);
    const rec = new Recorder();
    pool.request(get(), rec);
    await until(() => rec.bytes > 0, 'the first body bytes');
    expect(rec.ended).toBe(false);
    await rec.done();
    expect(rec.events).toEqual(['headers', 'data', 'end']);
    expect(rec.body).toBe('first second');
    expect(rec.error).toBeUndefined();
    expect(pool.idleCount).toBe(0);
    expect(pool.activeCount).toBe(0);
    await exchange(pool);
    expect(srv.conns).toHaveLength(2);
  });

  it('a response with more bytes than its framing completes, but the connection is not reused', async () => {
    const srv = await startServer(answering('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA'));
    const pool = makePool(srv.port);
    const rec = await exchange(pool);
    expect(rec.body).toBe('ok');
    expect(rec.events).toEqual(['headers', 'data', 'end']);
    expect(pool.idleCount).toBe(0);
    await until(() => srv.conns[0].closed, 'the client to close the connection');
  });

  it.each([
    ['content-length', OK5, 'hello'],
    ['chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', 'hello'],
  ])('bytes arriving on an idle connection get it closed and dropped from the pool (after a %s response)', async (_label, response, body) => {
    const srv = await startServer(answering(response));
    const pool = makePool(srv.port);
    await exchange(pool);
    expect(pool.idleCount).toBe(1);
    srv.conns[0].write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    await until(() => srv.conns[0].closed, 'the client to close the misbehaving connection');
    expect(pool.idleCount).toBe(0);
    const rec = await exchange(pool);
    expect(rec.body).toBe(body);
    expect(srv.conns).toHaveLength(2);
  });

  it('an idle connection closed by the server is dropped, and the next request opens a new one', async () => {
    const srv = await startServer(answering(OK5));
    const pool = makePool(srv.port);
    await exchange(pool);
    srv.conns[0].socket.end();
    await until(() => pool.idleCount === 0, 'the pool to drop the closed connection');
    const rec = await exchange(pool);
    expect(rec.error).toBeUndefined();
    expect(rec.body).toBe('hello');
    expect(srv.conns).toHaveLength(2);
  });
});

// ---------------------------------------------------------------- fragmentation and interim responses

describe('H1Pool: fragmented responses and 1xx', () => {
  it('parses a head split mid-line and across the blank line, and a content-length body in pieces', async () => {
    const response = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 26\r\nX-Long-Header: ' + 'v'.repeat(100) + '\r\n\r\nabcdefghijklmnopqrstuvwxyz';
    const blank = response.indexOf('\r\n\r\n');
    const srv = await startServer((c) => {
      c.onRequest = () => void writeInPieces(c, response, [4, 11, 17, 20, 30, 52, blank + 1, blank + 2, blank + 3, blank + 4, blank + 9, blank + 20]);
    });
    const pool = makePool(srv.port);
    const rec = await exchange(pool);
    expect(rec.status).toBe(200);
    expect(rec.headers).toEqual(['content-type', 'text/plain', 'content-length', '26', 'x-long-header', 'v'.repeat(100)]);
    expect(rec.body).toBe('abcdefghijklmnopqrstuvwxyz');
    expect(rec.events).toEqual(['headers', 'data', 'end']);
    // framing was tracked exactly: the connection is reused
    await exchange(pool);
    expect(srv.conns).toHaveLength(1);
  });

  it('parses a response written 3 bytes at a time, with a chunked body and trailers', async () => {
    const chunks = ['Hello', ', ', 'chunked ', 'world', '!'.repeat(20)];
    const body = chunks.map((s) => `${s.length.toString(16)}\r\n${s}\r\n`).join('');
    const response = `HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n${body}0\r\nX-Trailer: t\r\n\r\n`;
    const srv = await startServer((c) => {
      c.onRequest = () => void writeInPieces(c, response, everyN(response.length, 3), 2);
    });
    const pool = makePool(srv.port);
    const rec = await exchange(pool);
    expect(rec.status).toBe(201);
    expect(rec.headers).toEqual(['transfer-encoding', 'chunked', 'x-a', '1']);
    expect(rec.body).toBe(chunks.join(''));
    expect(rec.trailers).toEqual(['x-trailer', 't']);
    expect(pool.idleCount).toBe(1);
  });

  it('parses a chunked body cut at random points (fixed seed)', async () => {
    const rand = rng(1234);
    const parts: Buffer[] = [];
    let wire = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n';
    for (let k = 0; k < 30; k++) {
      const data = randomBytes(1 + Math.floor(rand() * 500), k);
      parts.push(data);
      wire += `${data.length.toString(16)}${k % 3 === 0 ? ';ext=1' : ''}\r\n${data.toString('latin1')}\r\n`;
    }
    wire += '0\r\n\r\n';
    const cuts: number[] = [];
    for (let at = 0; at < wire.length && cuts.length < 200; ) cuts.push((at += 1 + Math.floor(rand() * 97)));
    const srv = await startServer((c) => {
      c.onRequest = () => void writeInPieces(c, wire, cuts, 1);
    });
    const pool = makePool(srv.port);
    const rec = await exchange(pool);
    expect(sha(Buffer.concat(rec.chunks))).toBe(sha(Buffer.concat(parts)));
    const again = await exchange(pool, get('/again'));
    expect(again.bytes).toBe(rec.bytes);
    expect(srv.conns).toHaveLength(1);
  });

  it('skips a 100 Continue sent on its own before the final response', async () => {
    const srv = await startServer((c) => {
      c.onRequest = async () => {
        c.write('HTTP/1.1 100 Continue\r\n\r\n');
        await sleep(30);
        c.write(OK5);
      };
    });
    const pool = makePool(srv.port);
    const rec = await exchange(pool);
    expect(rec.events).toEqual(['headers', 'data', 'end']);
    expect(rec.status).toBe(200);
    expect(rec.headers).toEqual(['content-length', '5', 'x-upstream', 'a']);
    expect(rec.body).toBe('hello');
    await exchange(pool);
    expect(srv.conns).toHaveLength(1);
  });

  it('skips several interim responses arriving in the same packet as the final one, or split between them', async () => {
    const wire = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    let n = 0;
    const srv = await startServer((c) => {
      c.onRequest = () => {
        if (n++ === 0) c.write(wire);
        else void writeInPieces(c, wire, [10, 26, 40, 60, 90, 120], 3);
      };
    });
    const pool = makePool(srv.port);
    for (let i = 0; i < 2; i++) {
      const rec = await exchange(pool);
      expect(rec.status).toBe(200);
      expect(rec.headers).toEqual(['content-length', '2']);
      expect(rec.body).toBe('ok');
      expect(rec.events).toEqual(['headers', 'data', 'end']);
    }
    expect(srv.conns).toHaveLength(1);
  });
});

// ---------------------------------------------------------------- failures

describe('H1Pool: failures', () => {
  it('server closes before sending headers → reset_before_headers', async () => {
    const srv = await startServer((c) => {
      c.onRequest = () => c.socket.end();
    });
    const rec = await exchange(makePool(srv.port));
    expect(rec.events).toEqual(['error']);
    expect(rec.error).toBeInstanceOf(UpstreamError);
    expect(rec.error!.kind).toBe('reset_before_headers');
  });

  it('server closes after part of the head → reset_before_headers', async () => {
    const srv = await startServer((c) => {
      c.onRequest = async () => {
        c.write('HTTP/1.1 200 OK\r\nContent-Len');
        await sleep(20);
        c.socket.end();
      };
    });
    const rec = await exchange(makePool(srv.port));
    expect(rec.events).toEqual(['error']);
    expect(rec.error!.kind).toBe('reset_before_headers');
  });

  it('server resets (RST) before headers → reset_before_headers with ECONNRESET', async () => {
    const srv = await startServer((c) => {
      c.onRequest = () => c.socket.resetAndDestroy();
    });
    const rec = await exchange(makePool(srv.port));
    expect(rec.events).toEqual(['error']);
    expect(rec.error!.kind).toBe('reset_before_headers');
    expect(rec.error!.code).toBe('ECONNRESET');
  });

  it('server dies mid content-length body → reset_after_headers, after the data received so far', async () => {
    const srv = await startServer((c) => {
      c.onRequest = async () => {
        c.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789');
        await sleep(30);
        c.socket.end();
      };
    });
    const pool = makePool(srv.port);
    const rec = await exchange(pool);
    expect(rec.events).toEqual(['headers', 'data', 'error']);
    expect(rec.body).toBe('0123456789');
    expect(rec.error!.kind).toBe('reset_after_headers');
    expect(pool.idleCount + pool.activeCount).toBe(0);
  });

  it('server dies mid chunked body → reset_after_headers', async () => {
    const srv = await startServer((c) => {
      c.onRequest = async () => {
        c.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
        await sleep(30);
        c.socket.destroy();
      };
    });
    const rec = await exchange(makePool(srv.port));
    expect(rec.events).toEqual(['headers', 'data', 'error']);
    expect(rec.body).toBe('hello');
    expect(rec.error!.kind).toBe('reset_after_headers');
  });

  it('an RST during an until-close body is an error, not a normal end', async () => {
    const srv = await startServer((c) => {
      c.onRequest = async () => {
        c.write('HTTP/1.1 200 OK\r\n\r\npartial');
        await sleep(30);
        c.socket.resetAndDestroy();
      };
    });
    const rec = await exchange(makePool(srv.port));
    expect(rec.events).toEqual(['headers', 'data', 'error']);
    expect(rec.error!.kind).toBe('reset_after_headers');
    expect(rec.error!.code).toBe('ECONNRESET');
  });

  it.each([
    ['a garbage status line', 'SSH-2.0-OpenSSH_9.6\r\n\r\n'],
    ['a non-numeric status', 'HTTP/1.1 OK 200\r\nContent-Length: 0\r\n\r\n'],
    ['HTTP/2 in the status line', 'HTTP/2 200\r\n\r\n'],
    ['an invalid header name', 'HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n'],
    ['conflicting content-length', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
    ['a bare LF', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n'],
    ['a garbage final response after a 100 Continue', 'HTTP/1.1 100 Continue\r\n\r\nnope\r\n\r\n'],
    ['content-length with transfer-encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['a transfer-coding other than chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc'],
    ['CR-only line endings (the head never completes)', 'HTTP/1.1 200 OK\rContent-Length: 0\r'],
  ])('%s → protocol_error, without calling onUpstreamHeaders', async (_label, response) => {
    const srv = await startServer(answering(response));
    const pool = makePool(srv.port);
    const rec = await exchange(pool);
    expect(rec.events).toEqual(['error']);
    expect(rec.error).toBeInstanceOf(UpstreamError);
    expect(rec.error!.kind).toBe('protocol_error');
    await until(() => srv.conns[0].closed, 'the client to close the connection');
    expect(pool.idleCount + pool.activeCount).toBe(0);
  });

  it('a response head larger than maxHeaderBytes → protocol_error, even if it never ends', async () => {
    const srv = await startServer((c) => {
      c.onRequest = async () => {
        c.write('HTTP/1.1 200 OK\r\n');
        for (let i = 0; i < 50 && !c.socket.destroyed; i++) {
          c.write(`x-filler-${i}: ${'f'.repeat(200)}\r\n`);
          await sleep(2);
        }
      };
    });
    const rec = await exchange(makePool(srv.port, { maxHeaderBytes: 2048 }));
    expect(rec.events).toEqual(['error']);
    expect(rec.error!.kind).toBe('protocol_error');
  });

  it('a malformed chunk that arrives with the head → protocol_error before onUpstreamHeaders (a 502, not a cut response)', async () => {
    const srv = await startServer(answering('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n'));
    const pool = makePool(srv.port);
    const rec = await exchange(pool);
    expect(rec.events).toEqual(['error']);
    expect(rec.error!.kind).toBe('protocol_error');
    await until(() => srv.conns[0].closed, 'the client to close the connection');
    expect(pool.idleCount + pool.activeCount).toBe(0);
  });

  it('a malformed chunk in a later read fails the started exchange as protocol_error and closes the connection', async () => {
    const srv = await startServer((c) => {
      c.onRequest = async () => {
        c.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
        await sleep(30);
        c.write('5 5\r\nworld\r\n0\r\n\r\n');
      };
    });
    const pool = makePool(srv.port);
    const rec = await exchange(pool);
    expect(rec.events).toEqual(['headers', 'data', 'error']);
    expect(rec.body).toBe('hello');
    // a framing error stays a protocol error after the headers too (Envoy's UPE), not a reset
    expect(rec.error!.kind).toBe('protocol_error');
    await until(() => srv.conns[0].closed, 'the client to close the connection');
    expect(pool.idleCount + pool.activeCount).toBe(0);
  });

  it('a complete chunked response in the same read as its head is delivered whole, trailers included', async () => {
    const srv = await startServer(answering('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n0\r\nx-t: 1\r\n\r\n'));
    const pool = makePool(srv.port);
    const rec = await exchange(pool);
    expect(rec.events).toEqual(['headers', 'data', 'end']);
    expect(rec.body).toBe('hello world');
    expect(rec.trailers).toEqual(['x-t', '1']);
    expect(pool.idleCount).toBe(1);
  });

  it('connection refused (a port bound then closed) → connect_failure with ECONNREFUSED', async () => {
    const tmp = createServer();
    await new Promise<void>((r) => tmp.listen({ host: '127.0.0.1', port: 0 }, () => r()));
    const port = (tmp.address() as AddressInfo).port;
    await new Promise<void>((r) => tmp.close(() => r()));
    const pool = makePool(port);
    const rec = await exchange(pool);
    expect(rec.events).toEqual(['error']);
    expect(rec.error).toBeInstanceOf(UpstreamError);
    expect(rec.error!.kind).toBe('connect_failure');
    expect(rec.error!.code).toBe('ECONNREFUSED');
    expect(pool.activeCount).toBe(0);
    expect(pool.idleCount).toBe(0);
  });

  it('a connect that never completes → connect_timeout after connectTimeoutMs', async () => {
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
    // fill the accept queue: connect until one attempt does not complete within 300 ms
    for (let i = 0; i < 5; i++) {
      const s = connect({ host: '127.0.0.1', port });
      s.on('error', () => {});
      fillers.push(s);
      const connected = await Promise.race([new Promise<boolean>((r) => s.once('connect', () => r(true))), sleep(300).then(() => false)]);
      if (!connected) break;
    }
    const pool = makePool(port, { connectTimeoutMs: 150 });
    const started = Date.now();
    const rec = await exchange(pool);
    const elapsed = Date.now() - started;
    expect(rec.events).toEqual(['error']);
    expect(rec.error!.kind).toBe('connect_timeout');
    expect(elapsed).toBeGreaterThanOrEqual(140);
    expect(elapsed).toBeLessThan(2_000);
    expect(pool.activeCount).toBe(0);
  });

  it('abort() closes the connection and the handler gets no more calls', async () => {
    const srv = await startServer((c) => {
      c.onRequest = () => c.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc');
    });
    const pool = makePool(srv.port);
    const rec = new Recorder();
    const ex = pool.request(get(), rec);
    await until(() => rec.bytes === 3, 'the first body bytes');
    ex.abort();
    await until(() => srv.conns[0].closed, 'the server to see the close');
    srv.conns[0].write('more');
    await sleep(50);
    expect(rec.events).toEqual(['headers', 'data']);
    expect(pool.activeCount).toBe(0);
    expect(pool.idleCount).toBe(0);
  });
});

// ---------------------------------------------------------------- request bodies

/** A BodySource fed by the test; honours the sink's backpressure (false → paused until resume()). */
class TestBody implements BodySource {
  private sink: BodySink | undefined;
  private pending: Buffer[] = [];
  private ending = false;
  private endDelivered = false;
  private flushing = false;
  paused = false;
  detached = false;
  starts = 0;
  falseReturns = 0;
  resumes = 0;

  constructor(
    readonly length: number,
    chunks: Buffer[] = [],
    end = false,
  ) {
    this.pending = [...chunks];
    this.ending = end;
  }

  start(sink: BodySink): void {
    this.starts++;
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

  /** Chunks not yet taken by the sink. */
  get queued(): number {
    return this.pending.length;
  }

  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      for (let i = 0; i < 100_000 && this.sink && !this.paused && !this.detached && this.pending.length; i++) {
        if (!this.sink.onBodyData(this.pending.shift()!)) {
          this.falseReturns++;
          this.paused = true;
        }
      }
      if (this.sink && !this.paused && !this.detached && this.ending && !this.pending.length && !this.endDelivered) {
        this.endDelivered = true;
        this.sink.onBodyEnd(undefined);
      }
    } finally {
      this.flushing = false;
    }
  }
}

describe('H1Pool: request bodies', () => {
  const ok = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

  it('a body with a content-length header is sent verbatim (no chunked framing)', async () => {
    const srv = await startServer(answering(ok));
    const pool = makePool(srv.port);
    const body = new TestBody(11, [Buffer.from('hello '), Buffer.from('wor'), Buffer.from('ld')], true);
    const rec = await exchange(pool, { method: 'POST', path: '/up', headers: ['host', 'h', 'content-length', '11', 'content-type', 'text/plain'], body });
    expect(rec.body).toBe('ok');
    expect(body.starts).toBe(1);
    const req = srv.conns[0].requests[0];
    expect(req.head).toBe('POST /up HTTP/1.1\r\nhost: h\r\ncontent-length: 11\r\ncontent-type: text/plain');
    expect(req.chunked).toBe(false);
    expect(req.rawBody.toString()).toBe('hello world');
    expect(srv.conns[0].received.toString()).toBe(`${req.head}\r\n\r\nhello world`);
    // the request was fully sent: the connection is reusable
    await exchange(pool);
    expect(srv.conns).toHaveLength(1);
  });

  it('a body without content-length is sent chunked, ending with a zero chunk', async () => {
    const srv = await startServer(answering(ok));
    const pool = makePool(srv.port);
    const body = new TestBody(-1, [Buffer.from('hello '), Buffer.from('chunked ')]);
    const rec = new Recorder();
    pool.request({ method: 'POST', path: '/c', headers: ['host', 'h'], body }, rec);
    await until(() => srv.conns.length === 1 && srv.conns[0].heads.length === 1, 'the request head');
    await sleep(20);
    body.push('world'); // data arriving later is framed as its own chunk
    body.end();
    await rec.done();
    expect(rec.body).toBe('ok');
    const conn = srv.conns[0];
    expect(conn.parseError).toBeUndefined();
    const req = conn.requests[0];
    expect(req.head).toBe('POST /c HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked');
    expect(req.chunked).toBe(true);
    expect(req.body.toString()).toBe('hello chunked world');
    expect(req.chunkSizes).toEqual([6, 8, 5, 0]);
    expect(req.rawBody.toString()).toBe('6\r\nhello \r\n8\r\nchunked \r\n5\r\nworld\r\n0\r\n\r\n');
    // the chunked framing ended exactly: the next request on the connection parses
    await exchange(pool, get('/next'));
    expect(conn.requests.map((r) => r.requestLine)).toEqual(['POST /c HTTP/1.1', 'GET /next HTTP/1.1']);
    expect(srv.conns).toHaveLength(1);
  });

  it('an empty chunk from the body source does not end the chunked body early', async () => {
    const srv = await startServer(answering(ok));
    const pool = makePool(srv.port);
    const body = new TestBody(-1, [Buffer.from('hello '), Buffer.alloc(0), Buffer.from('world')], true);
    const rec = await exchange(pool, { method: 'POST', path: '/', headers: ['host', 'h'], body });
    expect(rec.body).toBe('ok');
    const req = srv.conns[0].requests[0];
    expect(req.rawBody.toString()).toBe('6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n');
    expect(req.body.toString()).toBe('hello world');
  });

  it('an empty body without content-length is sent as a lone zero chunk', async () => {
    const srv = await startServer(answering(ok));
    const pool = makePool(srv.port);
    const rec = await exchange(pool, { method: 'POST', path: '/', headers: ['host', 'h'], body: new TestBody(-1, [], true) });
    expect(rec.body).toBe('ok');
    expect(srv.conns[0].requests[0].rawBody.toString()).toBe('0\r\n\r\n');
    await exchange(pool);
    expect(srv.conns).toHaveLength(1);
  });

  it('the body is started once, after connecting, also on a reused connection', async () => {
    const srv = await startServer(answering(ok));
    const pool = makePool(srv.port);
    const a = new TestBody(1, [Buffer.from('a')], true);
    await exchange(pool, { method: 'POST', path: '/1', headers: ['host', 'h', 'content-length', '1'], body: a });
    const b = new TestBody(1, [Buffer.from('b')], true);
    await exchange(pool, { method: 'POST', path: '/2', headers: ['host', 'h', 'content-length', '1'], body: b });
    expect([a.starts, b.starts]).toEqual([1, 1]);
    expect(srv.conns).toHaveLength(1);
    expect(srv.conns[0].requests.map((r) => r.body.toString())).toEqual(['a', 'b']);
  });

  it.each([
    ['with content-length', true],
    ['chunked', false],
  ])('a 1 MB body arrives intact (%s)', async (_label, withLength) => {
    const data = randomBytes(1024 * 1024, withLength ? 7 : 8);
    const srv = await startServer(answering(ok));
    const pool = makePool(srv.port);
    // uneven pieces, some larger than the socket's high-water mark (so write() pushes back)
    const pieces: Buffer[] = [];
    for (let i = 0, k = 0; i < data.length; k++) {
      const n = [1, 16 * 1024 + 7, 100_000, 3, 70_000][k % 5];
      pieces.push(data.subarray(i, i + n));
      i += n;
    }
    const headers = ['host', 'h', ...(withLength ? ['content-length', String(data.length)] : [])];
    const body = new TestBody(withLength ? data.length : -1, pieces, true);
    const rec = await exchange(pool, { method: 'PUT', path: '/big', headers, body });
    expect(rec.body).toBe('ok');
    const req = srv.conns[0].requests[0];
    expect(srv.conns[0].parseError).toBeUndefined();
    expect(req.chunked).toBe(!withLength);
    expect(req.body.length).toBe(data.length);
    expect(sha(req.body)).toBe(sha(data));
    if (!withLength) expect(req.chunkSizes.length).toBe(pieces.length + 1);
    await exchange(pool);
    expect(srv.conns).toHaveLength(1);
  });

  it.each([
    ['with content-length', true],
    ['chunked', false],
  ])('a server that stops reading pauses the body source; it resumes on drain and the body arrives intact (%s)', async (_label, withLength) => {
    const SIZE = 48 * 1024 * 1024;
    const data = Buffer.allocUnsafe(SIZE);
    for (let i = 0; i < SIZE; i += 4) data.writeUInt32LE(i, i);
    const srv = await startServer((c) => {
      c.socket.pause(); // not reading: the kernel buffers fill up
      c.onRequest = () => c.write(ok);
    });
    const pool = makePool(srv.port);
    const pieces: Buffer[] = [];
    for (let i = 0; i < SIZE; i += 256 * 1024) pieces.push(data.subarray(i, i + 256 * 1024));
    const body = new TestBody(withLength ? SIZE : -1, [], false);
    const rec = new Recorder();
    rec.keepChunks = false;
    const headers = ['host', 'h', ...(withLength ? ['content-length', String(SIZE)] : [])];
    pool.request({ method: 'PUT', path: '/stall', headers, body }, rec);
    for (const p of pieces) body.push(p);
    body.end();
    await sleep(150);
    const remaining1 = body.queued;
    await sleep(100);
    expect(body.paused).toBe(true);
    expect(body.queued).toBe(remaining1);
    expect(remaining1).toBeGreaterThan(0); // not everything was pulled into memory
    expect(body.falseReturns).toBeGreaterThan(0);
    srv.conns[0].socket.resume();
    await rec.done('the response after the server reads again', 20_000);
    expect(rec.status).toBe(200);
    const req = srv.conns[0].requests[0];
    expect(req.body.length).toBe(SIZE);
    expect(req.body.equals(data)).toBe(true);
    expect(body.resumes).toBeGreaterThan(0);
  });

  it('an early response (413 before the body is read) completes, detaches the body, and the connection is NOT reused', async () => {
    const srv = await startServer((c) => {
      c.onHead = (req) => {
        if (req.requestLine.startsWith('POST')) c.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n\r\ntoo big!');
      };
      c.onRequest = (req) => {
        if (req.requestLine.startsWith('GET')) c.write(OK5);
      };
    });
    const pool = makePool(srv.port);
    const body = new TestBody(100_000, [Buffer.alloc(1000, 'a')]);
    const rec = new Recorder();
    let detachedAtEnd: boolean | undefined;
    rec.onUpstreamEnd = function (this: Recorder, trailers: string[] | undefined) {
      detachedAtEnd = body.detached;
      Recorder.prototype.onUpstreamEnd.call(this, trailers);
    };
    pool.request({ method: 'POST', path: '/upload', headers: ['host', 'h', 'content-length', '100000'], body }, rec);
    await rec.done();
    expect(detachedAtEnd).toBe(true); // the source is told before the handler hears of the end
    expect(rec.events).toEqual(['headers', 'data', 'end']);
    expect(rec.status).toBe(413);
    expect(rec.body).toBe('too big!');
    expect(body.detached).toBe(true);
    expect(pool.idleCount).toBe(0);
    expect(pool.activeCount).toBe(0);
    await until(() => srv.conns[0].closed, 'the client to close the connection');
    const next = await exchange(pool);
    expect(next.body).toBe('hello');
    expect(srv.conns).toHaveLength(2);
  });

  it('an early response to a chunked upload is not reused either', async () => {
    const srv = await startServer((c) => {
      c.onHead = (req) => {
        if (req.requestLine.startsWith('POST')) c.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n');
      };
      c.onRequest = (req) => {
        if (req.requestLine.startsWith('GET')) c.write(OK5);
      };
    });
    const pool = makePool(srv.port);
    const body = new TestBody(-1, [Buffer.from('some')]);
    const rec = await exchange(pool, { method: 'POST', path: '/', headers: ['host', 'h'], body });
    expect(rec.status).toBe(413);
    expect(body.detached).toBe(true);
    expect(pool.idleCount).toBe(0);
    const next = await exchange(pool);
    expect(next.body).toBe('hello');
    expect(srv.conns).toHaveLength(2);
  });

  it('a request body error closes the upstream connection', async () => {
    const srv = await startServer(() => {});
    const pool = makePool(srv.port);
    const body = new TestBody(-1, [Buffer.from('partial')]);
    const rec = new Recorder();
    pool.request({ method: 'POST', path: '/', headers: ['host', 'h'], body }, rec);
    await until(() => srv.conns.length === 1 && srv.conns[0].heads.length === 1, 'the request head');
    body.fail(new Error('downstream went away'));
    await until(() => srv.conns[0].closed, 'the upstream connection to close');
    expect(pool.activeCount).toBe(0);
    expect(pool.idleCount).toBe(0);
    expect(rec.ended).toBe(false);
  });
});

// ---------------------------------------------------------------- flow control

describe('H1Pool: backpressure', () => {
  const SIZE = 8 * 1024 * 1024;

  it.each([
    ['content-length', false],
    ['chunked', true],
  ])('stops delivering while onUpstreamData returns false, until resume() (%s)', async (_label, chunked) => {
    const data = randomBytes(SIZE, 99);
    const srv = await startServer((c) => {
      c.onRequest = () => {
        if (!chunked) {
          c.write(`HTTP/1.1 200 OK\r\nContent-Length: ${SIZE}\r\n\r\n`);
          c.write(data);
          return;
        }
        c.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
        for (let i = 0; i < SIZE; i += 4096) {
          const part = data.subarray(i, i + 4096);
          c.write(`${part.length.toString(16)}\r\n`);
          c.write(part);
          c.write('\r\n');
        }
        c.write('0\r\n\r\n');
      };
    });
    const pool = makePool(srv.port);
    const rec = new Recorder();
    let paused = true;
    let falseReturns = 0;
    rec.dataResult = () => {
      if (paused) falseReturns++;
      return !paused;
    };
    const ex: UpstreamExchange = pool.request(get(), rec);
    await until(() => rec.bytes > 0, 'the first body bytes');
    const first = rec.bytes;
    await sleep(100);
    const at100 = rec.bytes;
    await sleep(100);
    const at200 = rec.bytes;
    expect(rec.ended).toBe(false);
    // bounded: at most what one socket read had already handed over (64 KiB), nowhere near the body
    expect(at200 - first).toBeLessThanOrEqual(128 * 1024);
    expect(at200).toBeLessThan(1024 * 1024);
    expect(at200).toBe(at100); // and stopped
    expect(falseReturns).toBeGreaterThan(0);
    paused = false;
    ex.resume();
    await rec.done('the body after resume()', 10_000);
    expect(rec.error).toBeUndefined();
    expect(rec.bytes).toBe(SIZE);
    expect(sha(Buffer.concat(rec.chunks))).toBe(sha(data));
    expect(pool.idleCount).toBe(1);
  });

  it('exchange.pause() holds delivery and resume() continues it', async () => {
    const data = randomBytes(SIZE, 5);
    const srv = await startServer((c) => {
      c.onRequest = () => {
        c.write(`HTTP/1.1 200 OK\r\nContent-Length: ${SIZE}\r\n\r\n`);
        c.write(data);
      };
    });
    const pool = makePool(srv.port);
    const rec = new Recorder();
    let ex: UpstreamExchange | undefined;
    rec.onUpstreamHeaders = function (this: Recorder, status, headers) {
      Recorder.prototype.onUpstreamHeaders.call(this, status, headers);
      ex!.pause();
    };
    ex = pool.request(get(), rec);
    await until(() => rec.status !== undefined, 'the headers');
    const first = rec.bytes;
    await sleep(150);
    expect(rec.bytes - first).toBeLessThanOrEqual(128 * 1024);
    expect(rec.ended).toBe(false);
    ex.resume();
    await rec.done('the body after resume()', 10_000);
    expect(rec.bytes).toBe(SIZE);
    expect(sha(Buffer.concat(rec.chunks))).toBe(sha(data));
  });
});

// ---------------------------------------------------------------- idle timeout and close

describe('H1Pool: idle timeout and close()', () => {
  it('closes idle connections after idleTimeoutMs (the server sees the close)', async () => {
    const srv = await startServer(answering(OK5));
    const pool = makePool(srv.port, { idleTimeoutMs: 150 });
    await exchange(pool);
    expect(pool.idleCount).toBe(1);
    await sleep(50);
    expect(srv.conns[0].closed).toBe(false);
    await until(() => srv.conns[0].clientEnded || srv.conns[0].closed, 'the idle connection to be closed', 3_000);
    expect(pool.idleCount).toBe(0);
    const rec = await exchange(pool);
    expect(rec.body).toBe('hello');
    expect(srv.conns).toHaveLength(2);
  });

  it('does not hand out a connection idle for longer than idleTimeoutMs, even before the sweep', async () => {
    const srv = await startServer(answering(OK5));
    const pool = makePool(srv.port, { idleTimeoutMs: 100 });
    await exchange(pool);
    await sleep(150); // past the idle timeout; the first sweep runs at ~250 ms
    const rec = await exchange(pool);
    expect(rec.body).toBe('hello');
    expect(srv.conns).toHaveLength(2);
    await until(() => srv.conns[0].closed, 'the stale connection to be closed');
  });

  it('keeps using a connection that is regularly reused', async () => {
    const srv = await startServer(answering(OK5));
    const pool = makePool(srv.port, { idleTimeoutMs: 400 });
    for (let i = 0; i < 6; i++) {
      await exchange(pool);
      await sleep(60);
    }
    expect(srv.conns).toHaveLength(1);
  });

  it('close() with only idle connections closes them and resolves at once', async () => {
    const srv = await startServer(answering(OK5));
    const pool = makePool(srv.port);
    const a = new Recorder();
    const b = new Recorder();
    pool.request(get(), a);
    pool.request(get(), b);
    await a.done();
    await b.done();
    expect(pool.idleCount).toBe(2);
    await pool.close();
    expect(pool.idleCount).toBe(0);
    await until(() => srv.conns.every((c) => c.closed), 'the server to see both closes');
  });

  it('close() resolves once the active exchange ends, and that connection is closed rather than kept', async () => {
    let respond: (() => void) | undefined;
    const srv = await startServer((c) => {
      c.onRequest = () => (respond = () => c.write(OK5));
    });
    const pool = makePool(srv.port);
    const rec = new Recorder();
    pool.request(get(), rec);
    await until(() => respond !== undefined, 'the request');
    let closed = false;
    const closing = pool.close().then(() => (closed = true));
    await sleep(50);
    expect(closed).toBe(false);
    respond!();
    await closing;
    expect(rec.ended).toBe(true);
    expect(rec.body).toBe('hello');
    expect(pool.idleCount).toBe(0);
    expect(pool.activeCount).toBe(0);
    await until(() => srv.conns[0].closed, 'the server to see the close');
  });

  it('close() resolves when the active exchange ends in an error', async () => {
    let kill: (() => void) | undefined;
    const srv = await startServer((c) => {
      c.onRequest = () => {
        c.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
        kill = () => c.socket.destroy();
      };
    });
    const pool = makePool(srv.port);
    const rec = new Recorder();
    pool.request(get(), rec);
    await until(() => kill !== undefined && rec.bytes === 3, 'the partial response');
    const closing = pool.close().then(() => 'resolved' as const);
    kill!();
    await rec.done();
    expect(rec.error?.kind).toBe('reset_after_headers');
    expect(pool.activeCount).toBe(0);
    expect(await Promise.race([closing, sleep(1_000).then(() => 'still pending' as const)])).toBe('resolved');
  });

  it('close() resolves when the active exchange is aborted', async () => {
    const srv = await startServer(() => {});
    const pool = makePool(srv.port);
    const ex = pool.request(get(), new Recorder());
    await until(() => srv.conns.length === 1 && srv.conns[0].heads.length === 1, 'the request');
    const closing = pool.close().then(() => 'resolved' as const);
    ex.abort();
    expect(pool.activeCount).toBe(0);
    expect(await Promise.race([closing, sleep(1_000).then(() => 'still pending' as const)])).toBe('resolved');
  });
});
