// Strict HTTP/1.1 framing both ways (issue 12), on real sockets through a gateway:
// - an upstream response whose framing cannot be trusted (Content-Length with Transfer-Encoding, a bad
//   Content-Length, a coding other than chunked, malformed chunks, CR-only line ends) → 502 with
//   Envoy's UPE flag, the upstream connection closed — seen closing by the raw upstream — and the next
//   request on a new connection; a framing error after the response started → the client's
//   connection closed short, flag UPE;
// - a request the codec cannot frame → 400 (or Envoy's 426/501) and the client's socket closed at
//   once, never after the headers timeout; the request-smuggling cases that already held stay held.
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namedUpstreams, svcHost } from '../helpers/fixtures.js';
import { rawExchange, rawStatus, type RawResult } from '../helpers/http.js';
import { gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { accessLogEntries, eventually } from '../helpers/telemetry.js';

/** A codec error must close the client's socket well before any timeout (the headers timeout is 60 s). */
const PROMPT_MS = 1_000;

/** One connection the raw upstream accepted, and the request paths it carried. */
interface UpstreamConn {
  socket: Socket;
  paths: string[];
  closed: boolean;
}

/**
 * A loopback HTTP/1.1 "server" that answers each request head with the bytes `respond` picks for its
 * path, written as they are: the hostile upstream. Counts the connections it accepts.
 */
class RawUpstream {
  readonly conns: UpstreamConn[] = [];
  port = 0;
  private readonly server: Server;

  constructor(private readonly respond: (path: string, socket: Socket) => void) {
    this.server = createServer((socket) => {
      const c: UpstreamConn = { socket, paths: [], closed: false };
      this.conns.push(c);
      let pending = '';
      socket.on('data', (b: Buffer) => {
        pending += b.toString('latin1');
        for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
          const path = pending.slice(0, end).split(' ')[1] ?? '';
          pending = pending.slice(end + 4); // the requests here have no body
          c.paths.push(path);
          this.respond(path, socket);
        }
      });
      socket.on('error', () => {});
      socket.on('close', () => (c.closed = true));
    });
  }

  get accepted(): number {
    return this.conns.length;
  }

  /** The connection that carried `path` (the latest one, if several did). */
  carrying(path: string): UpstreamConn | undefined {
    return this.conns.findLast((c) => c.paths.includes(path));
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
const CHUNKED_HEAD = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n';

/**
 * Upstream responses whose framing cannot be trusted, each written whole in one go. `was` says what
 * the code before this change did with it (every case also got 503, not Envoy's 502, where refused).
 */
const BAD_RESPONSES: { name: string; response: string; was: string }[] = [
  { name: 'content-length then transfer-encoding', response: 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n', was: '200, connection reused' },
  { name: 'transfer-encoding then content-length', response: 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 0\r\n\r\n5\r\nhello\r\n0\r\n\r\n', was: '200, connection reused' },
  { name: 'content-length with a non-chunked coding', response: 'HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: gzip\r\n\r\nabc', was: '200, body until close' },
  { name: 'transfer-encoding: gzip', response: 'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nabc', was: '200, body until close' },
  { name: 'transfer-encoding: chunked, gzip (chunked not last)', response: 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\nabc', was: '200, body until close' },
  { name: 'transfer-encoding: gzip, chunked', response: 'HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', was: '200, gzip label dropped' },
  { name: 'two transfer-encoding headers', response: 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n', was: '200, connection reused' },
  { name: 'content-length with non-digits', response: 'HTTP/1.1 200 OK\r\ncontent-length: 5a\r\n\r\nhello', was: '503' },
  { name: 'a negative content-length', response: 'HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n', was: '503' },
  { name: 'a content-length too large', response: 'HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n', was: '503' },
  { name: 'two different content-lengths', response: 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!', was: '503' },
  { name: 'a bad content-length on a 204', response: 'HTTP/1.1 204 No Content\r\ncontent-length: x\r\n\r\n', was: '204, connection reused' },
  { name: 'a bad chunk-size line', response: `${CHUNKED_HEAD}zz\r\nhello\r\n0\r\n\r\n`, was: '200 then a cut response' },
  { name: 'chunk size "5 5"', response: `${CHUNKED_HEAD}5 5\r\nhello\r\n0\r\n\r\n`, was: '200, accepted' },
  { name: 'a chunk size with a 0x prefix', response: `${CHUNKED_HEAD}0x5\r\nhello\r\n0\r\n\r\n`, was: '200 then a cut response' },
  { name: 'no CRLF after the chunk data', response: `${CHUNKED_HEAD}5\r\nhelloXX0\r\n\r\n`, was: '200 then a cut response' },
  { name: 'a chunk extension with an unterminated quote', response: `${CHUNKED_HEAD}5;a="b\r\nhello\r\n0\r\n\r\n`, was: '200, accepted' },
  { name: 'a chunk extension with a control byte', response: `${CHUNKED_HEAD}5;a=\x01\r\nhello\r\n0\r\n\r\n`, was: '200, accepted' },
  { name: 'CR-only line endings in the head', response: 'HTTP/1.1 200 OK\rcontent-length: 0\r\r', was: 'no answer until the route timeout' },
];

/** Requests the downstream codec must refuse at once, then close. `was`: the code before this change. */
const BAD_REQUESTS: { name: string; request: string; status: number; was: string }[] = [
  { name: 'CR-only line endings', request: 'GET /cr HTTP/1.1\rHost: framing.test\r\r', status: 400, was: 'no answer for 60 s (headers timeout, 408)' },
  { name: 'a bare CR ending the request line', request: 'GET /cr HTTP/1.1\rHost: framing.test\r\n', status: 400, was: 'no answer for 60 s' },
  { name: 'chunk size "5 5"', request: chunkedPost('5 5\r\nhello\r\n0\r\n\r\n'), status: 400, was: 'forwarded, 200' },
  { name: 'a space inside a chunk size', request: chunkedPost('5 0\r\nhello\r\n0\r\n\r\n'), status: 400, was: 'forwarded, 200' },
  { name: 'whitespace after a chunk size', request: chunkedPost('5 \r\nhello\r\n0\r\n\r\n'), status: 400, was: 'forwarded, 200' },
  { name: 'a chunk extension with an unterminated quote', request: chunkedPost('5;a="b\r\nhello\r\n0\r\n\r\n'), status: 400, was: 'forwarded, 200' },
  { name: 'a chunk extension with a control byte', request: chunkedPost('5;a=b\x7f\r\nhello\r\n0\r\n\r\n'), status: 400, was: 'forwarded, 200' },
  { name: 'a chunk extension without a name', request: chunkedPost('5;=x\r\nhello\r\n0\r\n\r\n'), status: 400, was: 'forwarded, 200' },
  { name: 'a request line with HTTP/2.0 (Envoy: not 1.1 → HTTP/1.0 → 426)', request: 'GET / HTTP/2.0\r\nHost: framing.test\r\n\r\n', status: 426, was: '505' },
];

/** Cases that already held before this change: kept here so they stay held. */
const HELD_REQUESTS: { name: string; request: string; status: number }[] = [
  // request smuggling (the checklist)
  { name: 'CL+TE', request: 'POST / HTTP/1.1\r\nHost: framing.test\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX', status: 400 },
  { name: 'TE+CL', request: 'POST / HTTP/1.1\r\nHost: framing.test\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nX', status: 400 },
  { name: 'two different Content-Lengths', request: 'POST / HTTP/1.1\r\nHost: framing.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!', status: 400 },
  { name: 'two equal Content-Lengths', request: 'POST / HTTP/1.1\r\nHost: framing.test\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello', status: 400 },
  { name: 'a Content-Length list', request: 'POST / HTTP/1.1\r\nHost: framing.test\r\nContent-Length: 5, 5\r\n\r\nhello', status: 400 },
  { name: 'Content-Length with a sign', request: 'POST / HTTP/1.1\r\nHost: framing.test\r\nContent-Length: +5\r\n\r\nhello', status: 400 },
  { name: 'a negative Content-Length', request: 'POST / HTTP/1.1\r\nHost: framing.test\r\nContent-Length: -1\r\n\r\n', status: 400 },
  { name: 'Content-Length in hex', request: 'POST / HTTP/1.1\r\nHost: framing.test\r\nContent-Length: 0x5\r\n\r\nhello', status: 400 },
  { name: 'a 16-digit Content-Length', request: 'POST / HTTP/1.1\r\nHost: framing.test\r\nContent-Length: 1000000000000000\r\n\r\n', status: 400 },
  { name: 'Transfer-Encoding: xchunked', request: 'POST / HTTP/1.1\r\nHost: framing.test\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n', status: 501 },
  { name: 'Transfer-Encoding: chunked, chunked', request: 'POST / HTTP/1.1\r\nHost: framing.test\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n', status: 501 },
  { name: 'two Transfer-Encoding headers', request: 'POST / HTTP/1.1\r\nHost: framing.test\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n', status: 501 },
  { name: 'Transfer-Encoding with a space before the colon', request: 'POST / HTTP/1.1\r\nHost: framing.test\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n', status: 400 },
  { name: 'Transfer-Encoding with a vertical tab', request: 'POST / HTTP/1.1\r\nHost: framing.test\r\nTransfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n', status: 400 },
  { name: 'Transfer-Encoding folded (obs-fold)', request: 'POST / HTTP/1.1\r\nHost: framing.test\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n', status: 400 },
  { name: 'a Transfer-Encoding line starting with a space', request: 'POST / HTTP/1.1\r\nHost: framing.test\r\n Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n', status: 400 },
  { name: 'Transfer-Encoding in an HTTP/1.0 request', request: 'POST / HTTP/1.0\r\nHost: framing.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', status: 400 },
  { name: 'obs-fold', request: 'GET / HTTP/1.1\r\nHost: framing.test\r\nX-A: 1\r\n 2\r\n\r\n', status: 400 },
  { name: 'bare LF line endings', request: 'GET / HTTP/1.1\nHost: framing.test\n\n', status: 400 },
  { name: 'a bare LF in one header line', request: 'GET / HTTP/1.1\r\nHost: framing.test\nX-A: 1\r\n\r\n', status: 400 },
  // other llhttp strict-mode refusals
  { name: 'a bare CR inside a header value', request: 'GET / HTTP/1.1\r\nHost: framing.test\r\nX-A: a\rb\r\n\r\n', status: 400 },
  { name: 'a NUL inside a header value', request: 'GET / HTTP/1.1\r\nHost: framing.test\r\nX-A: a\x00b\r\n\r\n', status: 400 },
  { name: 'a method with non-token characters', request: 'G(T / HTTP/1.1\r\nHost: framing.test\r\n\r\n', status: 400 },
  { name: 'HTTP/1.10', request: 'GET / HTTP/1.10\r\nHost: framing.test\r\n\r\n', status: 400 },
  { name: 'a chunk size with a 0x prefix', request: chunkedPost('0x5\r\nhello\r\n0\r\n\r\n'), status: 400 },
  { name: 'a chunk size with a leading +', request: chunkedPost('+5\r\nhello\r\n0\r\n\r\n'), status: 400 },
  { name: 'a chunk size with a leading space', request: chunkedPost(' 5\r\nhello\r\n0\r\n\r\n'), status: 400 },
  { name: 'a huge chunk size (overflow)', request: chunkedPost('ffffffffffffffffffff\r\nhello\r\n0\r\n\r\n'), status: 400 },
  { name: 'a chunk size line ended by a bare LF', request: chunkedPost('5\nhello\r\n0\r\n\r\n'), status: 400 },
  { name: 'chunk data not followed by CRLF', request: chunkedPost('5\r\nhelloXX0\r\n\r\n'), status: 400 },
  { name: 'a trailer without a colon', request: chunkedPost('5\r\nhello\r\n0\r\nnocolon\r\n\r\n'), status: 400 },
  { name: 'a folded trailer', request: chunkedPost('5\r\nhello\r\n0\r\nx-t: 1\r\n 2\r\n\r\n'), status: 400 },
];

function chunkedPost(body: string, extraHeaders = ''): string {
  return `POST /chunked HTTP/1.1\r\nHost: framing.test\r\nTransfer-Encoding: chunked\r\n${extraHeaders}\r\n${body}`;
}

let gw: number;
let proxy: RunningProxy;
let up: RawUpstream;
let fx: Awaited<ReturnType<typeof namedUpstreams>>;
let rid = 0;

beforeAll(async () => {
  up = new RawUpstream((path, socket) => {
    const bad = /^\/bad\/(\d+)$/.exec(path);
    if (bad) return void socket.write(BAD_RESPONSES[Number(bad[1])].response, 'latin1');
    if (path === '/late') {
      // the head and a first chunk, then a malformed chunk-size line in a later read
      socket.write(`${CHUNKED_HEAD}5\r\nhello\r\n`);
      setTimeout(() => socket.destroyed || socket.write('5 5\r\nworld\r\n0\r\n\r\n'), 50);
      return;
    }
    socket.write(OK);
  });
  await up.listen();
  fx = await namedUpstreams(['echo']);
  gw = await freePort();
  proxy = await startProxy({
    yaml: toYaml(
      gateway({ port: gw }),
      ...fx.entries,
      serviceEntry({ name: 'raw', host: svcHost('raw'), endpoints: [{ port: up.port }] }),
      virtualService('all', {
        hosts: ['*'],
        gateways: ['gw'],
        http: [
          { match: [{ uri: { prefix: '/bad/' } }, { uri: { exact: '/late' } }, { uri: { exact: '/ok' } }], route: [{ destination: { host: 'raw' } }] },
          { route: [{ destination: { host: 'echo' } }] },
        ],
      }),
    ),
    args: [...GATEWAY_ARGS, '--access-log', 'json'],
  });
});

afterAll(async () => {
  await stopAllProxies();
  await up?.close();
  await fx?.closeAll();
});

function get(path: string, id: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: framing.test\r\nx-request-id: ${id}\r\nConnection: close\r\n\r\n`;
}

/** The access-log entry of request `id` (bounded wait). */
async function logged(id: string): Promise<Record<string, unknown>> {
  const entry = await eventually(() => accessLogEntries(proxy).find((e) => e.request_id === id), 3_000, 20);
  if (!entry) throw new Error(`no access-log line for ${id}`);
  return entry;
}

/** After a failed exchange on `bad`: it is closed, and the next request goes on a new upstream connection. */
async function nextRequestOnNewConnection(bad: UpstreamConn): Promise<void> {
  expect(await eventually(() => bad.closed, PROMPT_MS, 10), 'the proxy closes the upstream connection').toBe(true);
  const accepted = up.accepted;
  const id = `ok-${++rid}`;
  const ok = await rawExchange(gw, get('/ok', id));
  expect(rawStatus(ok.data), ok.data.slice(0, 200)).toBe(200);
  const carrier = up.carrying('/ok');
  expect(carrier, 'the next request went to the upstream').toBeDefined();
  expect(carrier).not.toBe(bad);
  expect(up.accepted, 'a new upstream connection').toBe(accepted + 1);
}

describe('upstream responses with untrustworthy framing → 502 UPE, connection closed and never reused', () => {
  BAD_RESPONSES.forEach((c, i) => {
    it(`${c.name} (was: ${c.was})`, async () => {
      // a kept-alive connection from an earlier request is the one the bad response arrives on, if any
      const id = `bad-${++rid}`;
      const r = await rawExchange(gw, get(`/bad/${i}`, id));
      expect(rawStatus(r.data), r.data.slice(0, 200)).toBe(502);
      expect(r.data).toContain('upstream connect error or disconnect/reset before headers. reset reason: protocol error');
      const entry = await logged(id);
      expect(entry.response_code).toBe(502);
      expect(entry.response_flags).toBe('UPE');
      await nextRequestOnNewConnection(up.carrying(`/bad/${i}`)!);
    });
  });

  it('a malformed chunk after the response started: the client connection closes short, flag UPE (was: UC)', async () => {
    const id = `late-${++rid}`;
    const r = await rawExchange(gw, get('/late', id));
    expect(rawStatus(r.data)).toBe(200);
    expect(r.closed).toBe(true);
    expect(r.data).toContain('hello');
    expect(r.data, 'no last chunk: the truncation shows').not.toMatch(/\r\n0\r\n\r\n$/);
    expect(r.data).not.toContain('world');
    expect((await logged(id)).response_flags).toBe('UPE');
    await nextRequestOnNewConnection(up.carrying('/late')!);
  });
});

/** Sends a raw request and measures how long the proxy takes to close the connection. */
async function timedExchange(request: string): Promise<RawResult & { ms: number }> {
  const t0 = Date.now();
  const r = await rawExchange(gw, request, PROMPT_MS + 500);
  return { ...r, ms: Date.now() - t0 };
}

async function expectRefused(request: string, status: number): Promise<void> {
  const r = await timedExchange(request);
  expect(rawStatus(r.data), JSON.stringify(r.data.slice(0, 200))).toBe(status);
  expect(r.closed, 'the proxy closes the connection').toBe(true);
  expect(r.ms, 'at once, not at a timeout').toBeLessThan(PROMPT_MS);
  // exactly one response: nothing smuggled behind it
  expect(r.data.match(/HTTP\/1\.1 \d{3}/g)).toHaveLength(1);
}

describe('requests the codec cannot frame → refused at once and the connection closed', () => {
  for (const c of BAD_REQUESTS) {
    it(`${c.name} → ${c.status} (was: ${c.was})`, async () => {
      await expectRefused(c.request, c.status);
    });
  }

  it('the proxy still serves afterwards', async () => {
    expect(proxy.alive()).toBe(true);
    const r = await rawExchange(gw, chunkedPost('5;name=value;q="a \\" b"\r\nhello\r\n0\r\nx-t: 1\r\n\r\n', 'Connection: close\r\n'));
    expect(rawStatus(r.data), 'a well-formed chunked request with extensions and a trailer').toBe(200);
    expect(r.data).toMatch(/"bodyBytes":5/);
  });
});

describe('request-smuggling and strict-parsing cases that held before: still held', () => {
  for (const c of HELD_REQUESTS) {
    it(`${c.name} → ${c.status}`, async () => {
      await expectRefused(c.request, c.status);
    });
  }
});
