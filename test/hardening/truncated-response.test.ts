// An upstream that fails after its response started — it closes short of its Content-Length,
// closes a chunked body without the last chunk, resets the connection, sends a malformed chunk, or
// (HTTP/2) resets the stream or drops the connection — never gives the client a clean end: an
// HTTP/2 client gets RST_STREAM (INTERNAL_ERROR), never END_STREAM; an HTTP/1.1 client sees the
// connection close short; a gRPC client gets an error. The access log carries Envoy's flag for the
// upstream's reset reason: UC (connection termination), UR (remote reset), UPE (protocol error).
import * as grpc from '@grpc/grpc-js';
import { connect as h2connect, constants, createServer as createH2Server, type ClientHttp2Session, type Http2Server } from 'node:http2';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { accessLogEntry, scrape } from '../helpers/telemetry.js';

const HALF = 50_000;
const BODY = Buffer.alloc(HALF, 0x61);

/** HTTP/1.1 upstream behaviours after the response head, by request path. */
const H1_CASES: Record<string, (s: Socket) => void> = {
  // Content-Length 100000, half of it, then a FIN
  '/cl-close': (s) => s.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n'), BODY])),
  // a chunked body closed without its last chunk
  '/chunked-close': (s) => s.end(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${HALF.toString(16)}\r\n`), BODY, Buffer.from('\r\n')])),
  // half the body, then a TCP reset
  '/cl-reset': (s) => {
    s.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n'), BODY]), () => setTimeout(() => s.resetAndDestroy(), 50));
  },
  // a chunk, then (in a later read, once the response has started) a chunk-size line that is not
  // one: a framing error mid-body (in the head's own read it would be a 502 before the response)
  '/bad-chunk': (s) => {
    s.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n${HALF.toString(16)}\r\n`), BODY, Buffer.from('\r\n')]), () =>
      setTimeout(() => s.write('zz\r\n'), 50),
    );
  },
};

let h1: Server;
let h2: Http2Server;
let proxy: RunningProxy;
let port: number;

beforeAll(async () => {
  h1 = createServer((s) => {
    s.on('error', () => {});
    let head = '';
    s.on('data', (b: Buffer) => {
      if (head.includes('\r\n\r\n')) return;
      head += b.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const path = head.split(' ')[1];
      H1_CASES[path]?.(s);
    });
  });
  await new Promise<void>((r) => h1.listen(0, '127.0.0.1', () => r()));
  h2 = createH2Server();
  h2.on('session', (session) => session.on('error', () => {}));
  h2.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const path = String(headers[':path']);
    if (path === '/h2/rst-before-headers') return void stream.destroy(new Error('upstream gives up at once'));
    const grpcCall = path.startsWith('/pkg.');
    stream.respond({ ':status': 200, 'content-type': grpcCall ? 'application/grpc' : 'application/octet-stream' });
    // gRPC: one length-prefixed message that says it is longer than what follows
    const prefix = Buffer.from([0, 0, 0, 0xff, 0xff]);
    stream.write(grpcCall ? Buffer.concat([prefix, BODY.subarray(0, 100)]) : BODY, () => {
      setTimeout(() => {
        // RST_STREAM INTERNAL_ERROR (node's stream.close(code) would send END_STREAM first)
        if (path.endsWith('/rst') || grpcCall) stream.destroy(new Error('upstream gives up'));
        else stream.session?.destroy(); // the connection goes away mid-body
      }, 50);
    });
  });
  await new Promise<void>((r) => h2.listen(0, '127.0.0.1', () => r()));
  port = await freePort();
  const yaml = toYaml(
    serviceEntry({ name: 'h1', host: svcHost('h1'), port: 80, endpoints: [{ port: (h1.address() as { port: number }).port }] }),
    serviceEntry({ name: 'h2', host: svcHost('h2'), ports: [{ number: 80, name: 'grpc', protocol: 'GRPC' }], endpoints: [{ port: (h2.address() as { port: number }).port, portName: 'grpc' }] }),
    gateway({ port }),
    virtualService('routes', {
      hosts: ['*'],
      gateways: ['gw'],
      http: [
        { match: [{ uri: { prefix: '/h2/' } }, { uri: { prefix: '/pkg.' } }], route: [{ destination: { host: svcHost('h2'), port: { number: 80 } } }] },
        { route: [{ destination: { host: svcHost('h1'), port: { number: 80 } } }] },
      ],
    }),
  );
  proxy = await startProxy({ allStats: true, yaml, args: [...GATEWAY_ARGS, '--access-log', 'json'] });
}, 30_000);

afterAll(async () => {
  await stopAllProxies();
  await new Promise<void>((r) => h1.close(() => r()));
  await new Promise<void>((r) => h2.close(() => r()));
});

interface H2Outcome {
  status: number;
  bytes: number;
  /** RST_STREAM code the client received (0: the stream ended normally). */
  rstCode: number | undefined;
}

/** One HTTP/2 (h2c) request; resolves once the stream closed, however. */
function h2Get(session: ClientHttp2Session, path: string, rid: string): Promise<H2Outcome> {
  return new Promise((resolve) => {
    const out: H2Outcome = { status: 0, bytes: 0, rstCode: undefined };
    const r = session.request({ ':path': path, ':authority': 'shop.example.com', 'x-request-id': rid });
    r.on('response', (h) => (out.status = Number(h[':status'])));
    r.on('data', (c: Buffer) => (out.bytes += c.length));
    r.on('error', () => {});
    r.on('close', () => resolve({ ...out, rstCode: r.rstCode }));
    r.end();
  });
}

/** One HTTP/1.1 request on a raw socket: everything the proxy sent before it closed the connection. */
function h1Get(path: string, rid: string): Promise<{ head: string; body: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('error', () => {});
    s.on('data', (b: Buffer) => chunks.push(b));
    const done = (closed: boolean) => {
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      resolve({ head: all.subarray(0, end).toString('latin1'), body: all.subarray(end + 4), closed });
    };
    s.on('close', () => done(true));
    setTimeout(() => (s.destroy(), done(false)), 5_000).unref();
    s.write(`GET ${path} HTTP/1.1\r\nhost: shop.example.com\r\nx-request-id: ${rid}\r\n\r\n`);
  });
}

const REASON: Record<string, string> = { UC: 'connection_termination', UR: 'remote_reset', UPE: 'protocol_error' };

/** The access log's code and flags — and Envoy's details for the flag's reset reason. */
async function flagsOf(rid: string): Promise<{ code: unknown; flags: unknown }> {
  const entry = await accessLogEntry(proxy, rid);
  const flags = String(entry?.response_flags);
  expect(entry?.response_code_details).toBe(`upstream_reset_after_response_started{${REASON[flags]}}`);
  return { code: entry?.response_code, flags };
}

describe('a response cut off by the upstream is never a clean end', () => {
  const cases: [path: string, flag: string][] = [
    ['/cl-close', 'UC'],
    ['/chunked-close', 'UC'],
    ['/cl-reset', 'UC'],
    ['/bad-chunk', 'UPE'],
    ['/h2/rst', 'UR'],
    ['/h2/close', 'UC'],
  ];

  for (const [path, flag] of cases) {
    it(`${path} to an HTTP/2 client: headers, part of the body, then RST_STREAM INTERNAL_ERROR (flag ${flag})`, async () => {
      const session = h2connect(`http://127.0.0.1:${port}`);
      session.on('error', () => {});
      try {
        const rid = `h2-${path}`;
        const r = await h2Get(session, path, rid);
        expect(r.status).toBe(200);
        expect(r.bytes).toBeLessThanOrEqual(HALF);
        expect(r.rstCode).toBe(constants.NGHTTP2_INTERNAL_ERROR);
        expect(await flagsOf(rid)).toEqual({ code: 200, flags: flag });
        // the connection is still good for other streams
        expect(session.destroyed).toBe(false);
      } finally {
        session.destroy();
      }
    });
  }

  for (const [path, flag] of cases.filter(([p]) => !p.startsWith('/h2/'))) {
    it(`${path} to an HTTP/1.1 client: the connection closes short of the framing (flag ${flag})`, async () => {
      const rid = `h1-${path}`;
      const r = await h1Get(path, rid);
      expect(r.head).toMatch(/^HTTP\/1\.1 200/);
      expect(r.closed).toBe(true);
      if (/content-length: 100000/i.test(r.head)) expect(r.body.length).toBeLessThan(100_000);
      else expect(r.body.subarray(-5).toString('latin1')).not.toBe('0\r\n\r\n');
      expect(await flagsOf(rid)).toEqual({ code: 200, flags: flag });
    });
  }

  it('each of them is counted as a reset the proxy sent (downstream_rq_tx_reset)', async () => {
    const s = await scrape(proxy.ports.stats);
    expect(s.sum('envoy_http_downstream_rq_tx_reset')).toBe(cases.length + cases.filter(([p]) => !p.startsWith('/h2/')).length);
  });

  it('(before the response starts) an HTTP/2 upstream RST_STREAM is a remote reset: 503, flag UR', async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    try {
      const body = await new Promise<{ status: number; text: string }>((resolve) => {
        const r = session.request({ ':path': '/h2/rst-before-headers', ':authority': 'shop.example.com', 'x-request-id': 'h2-early-rst' });
        let status = 0;
        let text = '';
        r.on('response', (h) => (status = Number(h[':status'])));
        r.setEncoding('utf8').on('data', (d: string) => (text += d));
        r.on('close', () => resolve({ status, text }));
        r.end();
      });
      expect(body).toEqual({ status: 503, text: 'upstream connect error or disconnect/reset before headers. reset reason: remote reset' });
      const entry = await accessLogEntry(proxy, 'h2-early-rst');
      expect(entry?.response_flags).toBe('UR');
    } finally {
      session.destroy();
    }
  });

  it('a gRPC call whose upstream resets mid-message fails (not OK) at the client', async () => {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) => {
        const md = new grpc.Metadata();
        md.set('x-request-id', 'grpc-reset');
        client.makeUnaryRequest('/pkg.Svc/Call', (b: Buffer) => b, (b: Buffer) => b, Buffer.from('x'), md, { deadline: Date.now() + 5_000 }, (e) => resolve(e));
      });
      expect(err?.code).toBe(grpc.status.INTERNAL);
      expect(await flagsOf('grpc-reset')).toEqual({ code: 200, flags: 'UR' });
    } finally {
      client.close();
    }
  });
});
