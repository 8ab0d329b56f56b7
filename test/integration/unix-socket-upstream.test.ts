// ServiceEntry endpoints on unix domain sockets (`address: unix:///path`, Envoy's pipe): the real
// proxy reaches real servers listening on sockets in a temp dir through its HTTP/1.1 pool, its
// HTTP/2 pool and the TCP proxy; `unix://@name` reaches Linux's abstract namespace.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createH2Server, type Http2Server } from 'node:http2';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { httpRequest, newAgent } from '../helpers/http.js';
import { resource, sidecar, toYaml } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { accessLogEntries, eventually } from '../helpers/telemetry.js';

let dir: string;
let proxy: RunningProxy;
let h1Port: number;
let h2Port: number;
let tcpPort: number;
let abstractPort: number;
const ABSTRACT = `@outrigger-test-${process.pid}`;
const servers: (Server | HttpServer | Http2Server)[] = [];
const sockets = new Set<Socket>();
const agent = newAgent();

function listen<T extends Server | HttpServer | Http2Server>(srv: T, path: string): Promise<T> {
  servers.push(srv);
  srv.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // node names the abstract namespace with a leading NUL
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(path.startsWith('@') ? `\0${path.slice(1)}` : path, () => resolve(srv));
  });
}

/** A ServiceEntry with one port and one unix socket endpoint. */
function unixEntry(name: string, port: number, protocol: string, socket: string) {
  return resource('ServiceEntry', name, 'default', {
    hosts: [svcHost(name)],
    location: 'MESH_INTERNAL',
    resolution: 'STATIC',
    ports: [{ number: port, name: protocol.toLowerCase(), protocol }],
    endpoints: [{ address: `unix://${socket}` }],
  });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outrigger-uds-'));
  const answer = (label: string) => (req: { httpVersion: string; url?: string; headers: Record<string, unknown> }, res: { setHeader(k: string, v: string): void; end(b: string): void }) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ server: label, httpVersion: req.httpVersion, url: req.url, host: req.headers.host ?? req.headers[':authority'] }));
  };
  await listen(createHttpServer(answer('h1')), join(dir, 'h1.sock'));
  await listen(createH2Server(answer('h2')), join(dir, 'h2.sock'));
  await listen(createTcpServer({ allowHalfOpen: true }, (s) => s.pipe(s)), join(dir, 'tcp.sock'));
  await listen(createHttpServer(answer('abstract')), ABSTRACT);
  [h1Port, h2Port, tcpPort, abstractPort] = await freePorts(4);
  const yaml = toYaml(
    unixEntry('uds-h1', h1Port, 'HTTP', join(dir, 'h1.sock')),
    unixEntry('uds-h2', h2Port, 'HTTP2', join(dir, 'h2.sock')),
    unixEntry('uds-tcp', tcpPort, 'TCP', join(dir, 'tcp.sock')),
    unixEntry('uds-abstract', abstractPort, 'HTTP', ABSTRACT),
    sidecar('default', {
      egress: [
        { port: { number: h1Port, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', hosts: ['./*'] },
        { port: { number: h2Port, protocol: 'HTTP2', name: 'http2' }, captureMode: 'NONE', hosts: ['./*'] },
        { port: { number: tcpPort, protocol: 'TCP', name: 'tcp' }, captureMode: 'NONE', hosts: ['./*'] },
        { port: { number: abstractPort, protocol: 'HTTP', name: 'http-abstract' }, captureMode: 'NONE', hosts: ['./*'] },
        { hosts: ['*/*'] },
      ],
    }),
  );
  proxy = await startProxy({ yaml, args: ['--access-log', 'json'] });
});

afterAll(async () => {
  await stopAllProxies();
  await agent.close();
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  await rm(dir, { recursive: true, force: true });
});

describe('unix socket endpoints', () => {
  it('HTTP/1.1: requests reach the server on the socket, keep-alive reused', async () => {
    let accepted = 0;
    const count = () => accepted++;
    servers[0].on('connection', count);
    for (let i = 0; i < 3; i++) {
      const r = await httpRequest(h1Port, { host: svcHost('uds-h1'), path: `/a/${i}`, dispatcher: agent });
      expect(r.status).toBe(200);
      expect(r.json()).toMatchObject({ server: 'h1', httpVersion: '1.1', url: `/a/${i}`, host: svcHost('uds-h1') });
    }
    servers[0].off('connection', count);
    // three sequential requests, one upstream connection
    expect(accepted).toBe(1);
    // Envoy names a pipe host by its path
    const entries = await eventually(() => {
      const e = accessLogEntries(proxy).filter((x) => x.authority === svcHost('uds-h1'));
      return e.length >= 3 ? e : undefined;
    });
    expect(entries?.[0]).toMatchObject({ response_code: 200, upstream_host: join(dir, 'h1.sock'), upstream_cluster: `outbound|${h1Port}||${svcHost('uds-h1')}` });
  });

  it('HTTP/2: an HTTP2 port speaks h2c to the socket', async () => {
    const r = await httpRequest(h2Port, { host: svcHost('uds-h2'), path: '/two', dispatcher: agent });
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ server: 'h2', httpVersion: '2.0', url: '/two', host: svcHost('uds-h2') });
  });

  it('TCP proxy: bytes both ways through the socket, half-close forwarded', async () => {
    const payload = Buffer.alloc(256 * 1024, 'u');
    const got = await new Promise<Buffer>((resolve, reject) => {
      const s = connect({ port: tcpPort, host: '127.0.0.1', allowHalfOpen: true });
      const parts: Buffer[] = [];
      const timer = setTimeout(() => reject(new Error('timeout')), 10_000);
      s.on('connect', () => s.end(payload));
      s.on('data', (b) => parts.push(b));
      s.on('error', reject);
      s.on('end', () => {
        clearTimeout(timer);
        s.end();
        resolve(Buffer.concat(parts));
      });
    });
    expect(got.equals(payload)).toBe(true);
  });

  it('the abstract namespace (unix://@name)', async () => {
    const r = await httpRequest(abstractPort, { host: svcHost('uds-abstract'), dispatcher: agent });
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ server: 'abstract' });
  });

  it('a socket nobody listens on: 503 UF, as a refused TCP connection', async () => {
    await new Promise<void>((r) => servers[0].close(() => r()));
    for (const s of sockets) s.destroy();
    const r = await httpRequest(h1Port, { host: svcHost('uds-h1'), path: '/gone', dispatcher: newAgent() });
    expect(r.status).toBe(503);
    expect(r.text).toMatch(/^upstream connect error or disconnect\/reset before headers\. reset reason: connection failure/);
  });
});
