// An Upgrade the upstream answers with something other than 101 (a 426, a 200): that response
// reaches the client and no tunnel opens — nothing the client sends afterwards reaches the upstream
// as raw bytes (test/integration/websocket.test.ts checks that a non-101 response reaches the
// client). The refused answer is framed (content-length or chunked) and the connection then closes,
// even when the upstream keeps its connection alive.
import type { Socket } from 'node:net';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_ARGS, gatewayToApp } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies } from '../helpers/proxy.js';
import { eventually } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let app: Upstream;
let port: number;
/** Bytes the upstream received on upgrade connections after its non-101 answer. */
let afterAnswer = '';

beforeAll(async () => {
  app = await startUpstream((req, res) => {
    req.resume();
    res.end(`plain ${req.url}`);
  }, 'app');
  // node:http hands Upgrade requests over raw: answer them by hand, then record whatever follows
  app.server.on('upgrade', (req, socket: Socket) => {
    app.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0 });
    socket.on('data', (d: Buffer) => (afterAnswer += d.toString('latin1')));
    socket.on('error', () => {});
    if (req.url === '/426') socket.write('HTTP/1.1 426 Upgrade Required\r\nupgrade: websocket\r\ncontent-length: 4\r\n\r\nnope');
    else if (req.url === '/chunked') socket.write('HTTP/1.1 403 Forbidden\r\ntransfer-encoding: chunked\r\n\r\n4\r\nnope\r\n0\r\n\r\n');
    else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nok!');
  });
  port = await freePort();
  const yaml = gatewayToApp(port, app.port);
  await startProxy({ yaml, args: GATEWAY_ARGS });
});

afterAll(async () => {
  await stopAllProxies();
  await app.close();
});

const UPGRADE = (path: string) => `GET ${path} HTTP/1.1\r\nhost: chat.example.com\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;

/** A raw client: write, then wait until the received text satisfies `until` (or the connection closes). */
function rawClient(): { sock: Socket; received: () => string; closed: () => boolean; waitFor: (re: RegExp) => Promise<boolean> } {
  const sock = connect(port, '127.0.0.1');
  let got = '';
  let closed = false;
  sock.setEncoding('latin1');
  sock.on('data', (d: string) => (got += d));
  sock.on('close', () => (closed = true));
  sock.on('error', () => {});
  return {
    sock,
    received: () => got,
    closed: () => closed,
    waitFor: async (re) => !!(await eventually(() => re.test(got) || closed, 5_000)) && re.test(got),
  };
}

describe('Upgrade answered without 101', () => {
  for (const [path, status, body] of [['/426', 426, 'nope'], ['/200', 200, 'ok!']] as const) {
    it(`${status}: relayed to the client; nothing the client sends after it is tunnelled to the upstream`, async () => {
      afterAnswer = '';
      const c = rawClient();
      c.sock.write(UPGRADE(path));
      expect(await c.waitFor(new RegExp(`\\r\\n\\r\\n${body}$`))).toBe(true);
      expect(c.received()).toMatch(new RegExp(`^HTTP/1.1 ${status} `));
      const before = app.requests.length;
      // what a client would send into a tunnel it wrongly believes open
      c.sock.write('GET /next HTTP/1.1\r\nhost: chat.example.com\r\n\r\nhello tunnel\r\n\r\n');
      await new Promise((r) => setTimeout(r, 300));
      c.sock.destroy();
      expect(afterAnswer).toBe('');
      // whatever became of /next, it never reached the upstream without the proxy's own headers
      for (const r of app.requests.slice(before)) expect(r.headers['x-request-id']).toBeDefined();
    });
  }

  // A keep-alive upstream never closes its connection: the refused answer must still end the
  // exchange (the tunnel frames it and closes the client connection), never leave the client waiting.
  for (const [path, ending] of [['/426', /\r\n\r\nnope$/], ['/chunked', /\r\n0\r\n\r\n$/]] as const) {
    it(`${path}: the next request on the connection is answered, or the connection is closed, within 2 s`, async () => {
      const c = rawClient();
      c.sock.write(UPGRADE(path));
      expect(await c.waitFor(ending)).toBe(true);
      c.sock.write('GET /next HTTP/1.1\r\nhost: chat.example.com\r\n\r\n');
      const settled = await eventually(() => /plain \/next$/.test(c.received()) || c.closed(), 2_000);
      c.sock.destroy();
      expect(settled).toBe(true);
    });
  }
});
