// WebSocket through the proxy (HTTP/1.1 Upgrade): a real ws client and server; the tunnel opens
// only on a 101, carries frames both ways unchanged with backpressure, and closes cleanly.
import { createServer, type Server } from 'node:http';
import { connect as h2connect } from 'node:http2';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { svcHost } from '../helpers/fixtures.js';
import { gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { accessLogEntries, eventually } from '../helpers/telemetry.js';

let http: Server;
let wss: WebSocketServer;
let proxy: RunningProxy;
let port: number;
const seenHeaders: Record<string, string | string[] | undefined>[] = [];

beforeAll(async () => {
  // /ws upgrades; /plain refuses the upgrade with a normal 403 response
  http = createServer((req, res) => {
    res.writeHead(403, { 'content-type': 'text/plain' });
    res.end('no websocket here');
  });
  wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (req, socket, head) => {
    seenHeaders.push(req.headers);
    if (req.url !== '/ws') {
      socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 17\r\nconnection: close\r\n\r\nno websocket here');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
  const appPort = (http.address() as { port: number }).port;
  port = await freePort();
  const yaml = toYaml(
    serviceEntry({ name: 'ws', host: svcHost('ws'), port: 80, endpoints: [{ port: appPort }] }),
    gateway({ port }),
    virtualService('ws', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost('ws'), port: { number: 80 } } }] }] }),
  );
  proxy = await startProxy({ yaml, args: [...GATEWAY_ARGS, '--access-log', 'json'] });
});

afterAll(async () => {
  await stopAllProxies();
  wss.close();
  await new Promise((r) => http.close(r));
});

function open(path: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { host: 'chat.example.com' } });
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => reject(new Error(`status ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

describe('WebSocket', () => {
  it('upgrades through the proxy; text and binary frames echo unchanged', async () => {
    const ws = await open('/ws');
    const echo = (data: string | Buffer) =>
      new Promise<{ data: Buffer; binary: boolean }>((resolve) => {
        ws.once('message', (d, binary) => resolve({ data: d as Buffer, binary }));
        ws.send(data);
      });
    expect(await echo('hello')).toMatchObject({ binary: false });
    expect(String((await echo('hello')).data)).toBe('hello');
    const blob = Buffer.alloc(256 * 1024);
    for (let i = 0; i < blob.length; i++) blob[i] = i & 0xff;
    const got = await echo(blob);
    expect(got.binary).toBe(true);
    expect(Buffer.compare(got.data, blob)).toBe(0);
    expect(seenHeaders.at(-1)).toMatchObject({ upgrade: 'websocket', connection: 'upgrade', host: 'chat.example.com' });
    expect(seenHeaders.at(-1)?.['sec-websocket-key']).toBeTruthy();
    await new Promise<void>((r) => {
      ws.once('close', () => r());
      ws.close(1000, 'bye');
    });
  });

  it('many messages in flight both ways (backpressure, no loss, in order)', async () => {
    const ws = await open('/ws');
    const n = 2_000;
    const received: string[] = [];
    const all = new Promise<void>((r) => ws.on('message', (d) => received.push(String(d)) === n && r()));
    for (let i = 0; i < n; i++) ws.send(`m${i}:${'x'.repeat(512)}`);
    await all;
    expect(received[0].startsWith('m0:')).toBe(true);
    expect(received.every((m, i) => m.startsWith(`m${i}:`))).toBe(true);
    ws.terminate();
  });

  it('an upstream that answers the upgrade with something else than 101: that response reaches the client, no tunnel', async () => {
    await expect(open('/plain')).rejects.toThrow('status 403');
  });

  it('over HTTP/2 (RFC 8441 extended CONNECT): :status 200, then WebSocket frames both ways to an HTTP/1.1 server', async () => {
    const session = h2connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    try {
      // the server must announce SETTINGS_ENABLE_CONNECT_PROTOCOL before the client may use it
      await new Promise<void>((r) => session.once('remoteSettings', (s) => (expect(s.enableConnectProtocol).toBe(true), r())));
      const stream = session.request({ ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/ws', ':authority': 'chat.example.com', 'sec-websocket-version': '13' });
      const status = await new Promise<number>((r) => stream.once('response', (h) => r(Number(h[':status']))));
      expect(status).toBe(200);
      // one masked text frame "hello", as a client must send it
      const mask = Buffer.from([1, 2, 3, 4]);
      const payload = Buffer.from('hello');
      stream.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]))]));
      const echoed = await new Promise<Buffer>((r) => stream.once('data', (d: Buffer) => r(d)));
      expect(echoed[0]).toBe(0x81);
      expect(echoed.subarray(2, 2 + echoed[1]).toString()).toBe('hello');
      expect(seenHeaders.at(-1)).toMatchObject({ upgrade: 'websocket', 'sec-websocket-version': '13' });
      expect(seenHeaders.at(-1)?.['sec-websocket-key']).toMatch(/^[A-Za-z0-9+/]{22}==$/);
      stream.close();
    } finally {
      session.destroy();
    }
  });

  it('an Upgrade type no route enables is refused with 403 (Envoy upgrade_failed); h2c is declined, the request served', async () => {
    const send = (upgrade: string) =>
      new Promise<string>((resolve) => {
        const s = connect(port, '127.0.0.1', () => s.write(`GET /plain HTTP/1.1\r\nhost: chat.example.com\r\nconnection: upgrade\r\nupgrade: ${upgrade}\r\n\r\n`));
        let got = '';
        s.on('data', (d) => {
          got += d;
          if (got.includes('\r\n\r\n')) s.destroy();
        });
        s.on('close', () => resolve(got));
        s.on('error', () => resolve(got));
      });
    expect(await send('spdy/3')).toMatch(/^HTTP\/1\.1 403 /);
    // h2c: no upgrade happens, the route answers over HTTP/1.1 (this upstream says 403 for /plain itself)
    const h2c = await send('h2c');
    expect(h2c).toMatch(/^HTTP\/1\.1 403 /);
    expect(h2c).toMatch(/content-type: text\/plain/);
  });

  it('the access log records the upgrade with its 101', async () => {
    const e = await eventually(() => accessLogEntries(proxy).find((x) => x.path === '/ws' && x.response_code === 101));
    expect(e).toBeDefined();
  });
});
