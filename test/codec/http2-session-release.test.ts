/**
 * A closed HTTP/2 connection must become garbage: nothing may keep the session alive. node's
 * session.setTimeout kept every destroyed session reachable from its timer for the whole idle timeout
 * (an hour): closed connections piled up in memory (issue 12, item 8). Run in a child process with
 * --expose-gc against the built codec, so the count is exact.
 */
import { execFile } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const codec = pathToFileURL(resolve(here, '../../dist/codec/http2/server-session.js')).href;
const ownCodec = pathToFileURL(resolve(here, '../../dist/codec/http2/connection.js')).href;

const SCRIPT = (own: boolean) => `
import { ${own ? 'Http2ServerConnection as H2ServerConnection' : 'H2ServerConnection'} } from ${JSON.stringify(own ? ownCodec : codec)};
import http2 from 'node:http2';
import net from 'node:net';
const refs = [];
const srv = net.createServer({ allowHalfOpen: true }, (sock) => {
  const c = new H2ServerConnection(sock, { maxHeaderBytes: 61440, acceptHttp10: false, idleTimeoutMs: 3600000, serverName: 'test' }, () => undefined);
  refs.push(new WeakRef(${own ? 'c' : 'c.session'}));
});
srv.listen(0, '127.0.0.1', async () => {
  const port = srv.address().port;
  for (let i = 0; i < 40; i++) {
    const c = http2.connect('http://127.0.0.1:' + port);
    c.on('error', () => {});
    await new Promise((r) => c.once('connect', r));
    if (i % 2) c.destroy(); else c.close();
  }
  const deadline = Date.now() + 5000;
  let alive = refs.length;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    globalThis.gc();
    alive = refs.filter((r) => r.deref()).length;
    if (alive === 0) break;
  }
  console.log(JSON.stringify({ accepted: refs.length, alive }));
  process.exit(0);
});
`;

for (const own of [false, true]) {
  it(`closed HTTP/2 connections are released (nothing keeps their sessions alive)${own ? ': the own codec' : ''}`, async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--expose-gc', '--input-type=module', '-e', SCRIPT(own)], { timeout: 20_000 });
    const r = JSON.parse(stdout.trim()) as { accepted: number; alive: number };
    expect(r.accepted).toBe(40);
    expect(r.alive).toBe(0);
  });
}

it("the connection idle timeout (Envoy's idle_timeout) still closes a connection with no stream open", async () => {
  const { H2ServerConnection } = await import('../../src/codec/http2/server-session.js');
  const { createServer } = await import('node:net');
  const http2 = await import('node:http2');
  const srv = createServer({ allowHalfOpen: true }, (sock) => {
    new H2ServerConnection(sock, { maxHeaderBytes: 61440, acceptHttp10: false, idleTimeoutMs: 200, serverName: 'test' }, () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  const t0 = Date.now();
  const client = http2.connect(`http://127.0.0.1:${port}`);
  client.on('error', () => {});
  const closedAfter = await new Promise<number>((resolve) => {
    client.once('close', () => resolve(Date.now() - t0));
    setTimeout(() => resolve(-1), 3_000).unref();
  });
  client.destroy();
  srv.close();
  expect(closedAfter).toBeGreaterThanOrEqual(150);
  expect(closedAfter).toBeLessThan(2_000);
});
