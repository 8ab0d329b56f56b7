// HTTP/2 downstream: h2c with prior knowledge on a plaintext gateway port (HTTP/1.1 on the same
// port), h2 by ALPN on TLS, protocol translation to an HTTP/1.1 upstream, request bodies streamed,
// many multiplexed streams (h2load).
import { execFile } from 'node:child_process';
import { connect, constants, createServer as createHttp2Server, performServerHandshake, type Http2Server } from 'node:http2';
import { createServer as createHttp1Server } from 'node:http';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { curl } from '../helpers/http.js';
import { gateway, GATEWAY_ARGS, resource, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { scrape } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let app: Upstream;
let proxy: RunningProxy;
let port: number;
let h2app: Http2Server;
const refusals = new Map<string, number>();
let both: NetServer;
const h2seen: { headers: Record<string, unknown>; body: number }[] = [];

beforeAll(async () => {
  app = await startUpstream(undefined, 'app');
  // an HTTP/2-only upstream (the service port says HTTP2): HTTP/1.1 clients reach it translated
  h2app = createHttp2Server((req, res) => {
    if (req.url?.startsWith('/h2only/refuse')) {
      // the first stream of each path is refused (as a server past its limits does): never processed
      const n = (refusals.get(req.url) ?? 0) + 1;
      refusals.set(req.url, n);
      if (n === 1) return void req.stream.close(constants.NGHTTP2_REFUSED_STREAM);
      res.end(`accepted on attempt ${n}`);
      return;
    }
    if (req.url === '/h2only/trickle') {
      // the first part goes out at once, the last one later: a proxy that buffers would hold both
      res.write('first;');
      setTimeout(() => res.end('last'), 600);
      return;
    }
    let body = 0;
    req.on('data', (c: Buffer) => (body += c.length));
    req.on('end', () => {
      h2seen.push({ headers: { ...req.headers }, body });
      res.setHeader('x-served-by', 'h2');
      res.end(`h2 saw ${req.method} ${req.url} ${body}`);
    });
  });
  await new Promise<void>((r) => h2app.listen(0, '127.0.0.1', () => r()));
  const h2port = (h2app.address() as { port: number }).port;
  // a server that speaks HTTP/1.1 and HTTP/2 (h2c prior knowledge) on one port, saying which it got
  const answer = (req: { httpVersion: string }, res: { end(s: string): void }) => res.end(`both saw HTTP/${req.httpVersion}`);
  const h1side = createHttp1Server(answer);
  both = createNetServer((s) =>
    s.once('data', (b: Buffer) => {
      s.pause();
      s.unshift(b);
      if (b.subarray(0, 3).toString() !== 'PRI') {
        h1side.emit('connection', s);
        s.resume();
        return;
      }
      performServerHandshake(s).on('stream', (st) => {
        st.respond({ ':status': 200 });
        st.end('both saw HTTP/2.0');
      });
    }),
  );
  await new Promise<void>((r) => both.listen(0, '127.0.0.1', () => r()));
  const bothPort = (both.address() as { port: number }).port;
  port = await freePort();
  const yaml = toYaml(
    serviceEntry({ name: 'app', host: svcHost('app'), port: 80, endpoints: [{ port: app.port }] }),
    serviceEntry({ name: 'h2', host: svcHost('h2'), ports: [{ number: 81, name: 'http2', protocol: 'HTTP2' }], endpoints: [{ port: h2port, portName: 'http2' }] }),
    // useClientProtocol: the same upstream (it speaks both) is reached in the client's protocol
    serviceEntry({ name: 'both', host: svcHost('both'), ports: [{ number: 82, name: 'http', protocol: 'HTTP' }], endpoints: [{ port: bothPort, portName: 'http' }] }),
    resource('DestinationRule', 'both', 'default', { host: svcHost('both'), trafficPolicy: { connectionPool: { http: { useClientProtocol: true } } } }),
    gateway({ port }),
    virtualService('app', {
      hosts: ['*'],
      gateways: ['gw'],
      http: [
        { match: [{ uri: { prefix: '/both' } }], route: [{ destination: { host: svcHost('both'), port: { number: 82 } } }] },
        { match: [{ uri: { prefix: '/h2only' } }], route: [{ destination: { host: svcHost('h2'), port: { number: 81 } } }] },
        { route: [{ destination: { host: svcHost('app'), port: { number: 80 } } }] },
      ],
    }),
  );
  proxy = await startProxy({ allStats: true, yaml, args: GATEWAY_ARGS });
});

afterAll(async () => {
  await stopAllProxies();
  await app.close();
  await new Promise((r) => h2app.close(r));
  await new Promise((r) => both.close(r));
});

describe('HTTP/2 downstream', () => {
  it('h2c with prior knowledge (curl) to an HTTP/1.1 upstream: :authority becomes Host', async () => {
    const r = await curl(['--http2-prior-knowledge', '-s', '-o', '-', '-w', '\n%{http_code} %{http_version}', '-H', 'x-probe: 1', `http://shop.example.com:${port}/h2?x=1`.replace('shop.example.com', '127.0.0.1'), '-H', 'host: shop.example.com']);
    const [body, status] = r.stdout.split('\n');
    expect(status, r.stderr).toBe('200 2');
    expect(JSON.parse(body)).toMatchObject({ name: 'app', url: '/h2?x=1' });
    const seen = app.requests.at(-1)!;
    expect(seen.headers.host).toBe('shop.example.com');
    expect(seen.headers['x-probe']).toBe('1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
  });

  it('HTTP/1.1 Upgrade: h2c is declined: answered over HTTP/1.1 (RFC 9113 deprecates it; Envoy does not support it)', async () => {
    const r = await curl(['--http2', '-s', '-o', '/dev/null', '-w', '%{http_code} %{http_version}', `http://127.0.0.1:${port}/upgrade`]);
    expect(r.stdout).toBe('200 1.1');
    expect(app.requests.at(-1)!.headers.upgrade).toBeUndefined();
    expect(app.requests.at(-1)!.headers['http2-settings']).toBeUndefined();
  });

  it('an HTTP/1.1 client reaches an HTTP/2 upstream: Host becomes :authority, the body goes along', async () => {
    const r = await curl(['--http1.1', '-s', '-i', '-H', 'host: shop.example.com', '--data-binary', 'abcdef', `http://127.0.0.1:${port}/h2only/x`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200/);
    expect(r.stdout).toMatch(/\r\nx-served-by: h2\r\n/);
    expect(r.stdout.endsWith('h2 saw POST /h2only/x 6')).toBe(true);
    expect(h2seen.at(-1)!.headers[':authority']).toBe('shop.example.com');
    expect(h2seen.at(-1)!.headers.host).toBeUndefined();
  });

  it('responses stream through HTTP/2 on both sides: the first bytes arrive before the upstream has finished', async () => {
    const session = connect(`http://127.0.0.1:${port}`);
    try {
      const t0 = Date.now();
      const { firstAt, body } = await new Promise<{ firstAt: number; body: string }>((resolve, reject) => {
        const req = session.request({ ':path': '/h2only/trickle', ':authority': 'shop.example.com' });
        let firstAt = 0;
        let body = '';
        req.on('data', (c) => {
          if (!firstAt) firstAt = Date.now() - t0;
          body += c;
        });
        req.on('end', () => resolve({ firstAt, body }));
        req.on('error', reject);
        req.end();
      });
      expect(body).toBe('first;last');
      expect(firstAt).toBeLessThan(400);
    } finally {
      session.close();
    }
  });

  it('useClientProtocol: HTTP/2 clients reach the upstream over HTTP/2, HTTP/1.1 clients over HTTP/1.1', async () => {
    const h2 = await curl(['--http2-prior-knowledge', '-s', '-H', 'host: shop.example.com', `http://127.0.0.1:${port}/both`]);
    expect(h2.stdout).toBe('both saw HTTP/2.0');
    const h1 = await curl(['--http1.1', '-s', '-H', 'host: shop.example.com', `http://127.0.0.1:${port}/both`]);
    expect(h1.stdout).toBe('both saw HTTP/1.1');
  });

  it('a stream the HTTP/2 upstream refuses (REFUSED_STREAM) is retried by Istio\'s default policy (refused-stream)', async () => {
    const r = await curl(['--http1.1', '-s', '-H', 'host: shop.example.com', `http://127.0.0.1:${port}/h2only/refuse-1`]);
    expect(r.stdout).toBe('accepted on attempt 2');
  });

  it('HTTP/1.1 keeps working on the same port', async () => {
    const r = await curl(['-s', '-o', '/dev/null', '-w', '%{http_code} %{http_version}', `http://127.0.0.1:${port}/h1`]);
    expect(r.stdout).toBe('200 1.1');
  });

  it('a request body is streamed to the upstream and the response comes back (node:http2 client)', async () => {
    const session = connect(`http://127.0.0.1:${port}`);
    try {
      const payload = Buffer.alloc(3 * 1024 * 1024, 'z');
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': '/upload', ':authority': 'shop.example.com', 'content-type': 'application/octet-stream' });
        let status = 0;
        let body = '';
        req.on('response', (h) => (status = Number(h[':status'])));
        req.on('data', (c) => (body += c));
        req.on('end', () => resolve({ status, body }));
        req.on('error', reject);
        req.end(payload);
      });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ method: 'POST', bodyBytes: payload.length });
    } finally {
      session.close();
    }
  });

  it('hundreds of multiplexed streams are all answered (h2load)', async () => {
    const out = await new Promise<string>((resolve) =>
      execFile('h2load', ['-n', '2000', '-c', '4', '-m', '100', '-H', 'host: shop.example.com', `http://127.0.0.1:${port}/load`], { timeout: 60_000 }, (_e, stdout) => resolve(String(stdout))),
    );
    expect(out).toMatch(/requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored/);
    expect(out).toMatch(/status codes: 2000 2xx/);
    const s = await scrape(proxy.ports.stats);
    expect(s.sum('envoy_http_downstream_rq_http2_total')).toBeGreaterThanOrEqual(2000);
  });
});
