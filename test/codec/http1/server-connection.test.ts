// The HTTP/1.1 server connection's idle timeout (Envoy's idle_timeout of the connection manager):
// a keep-alive connection with no request for the timeout is closed; a request that takes longer
// than the timeout is not cut, and the timeout counts again from its response's end.
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { H1ServerConnection, type H1Exchange } from '../../../src/codec/http1/server-connection.js';

const IDLE_MS = 200;
const servers: net.Server[] = [];

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A server whose every response (`ok`) is sent `delayMs` after its request. */
async function serve(delayMs: number): Promise<number> {
  const server = net.createServer((socket) => {
    new H1ServerConnection(socket, { maxHeaderBytes: 8192, acceptHttp10: true, idleTimeoutMs: IDLE_MS, serverName: 'test' }, (ex: H1Exchange) => {
      setTimeout(() => {
        ex.respond(200, ['content-length', '2']);
        ex.write(Buffer.from('ok'));
        ex.end();
      }, delayMs);
      return undefined;
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

/** One request on a new connection: when its response was complete and when the server closed, in ms from the request. */
async function requestThenWait(port: number): Promise<{ response: string; respondedAt: number; closedAt: number }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  const start = performance.now();
  let response = '';
  let respondedAt = -1;
  socket.on('data', (d) => {
    response += d.toString('latin1');
    if (respondedAt < 0 && response.endsWith('\r\n\r\nok')) respondedAt = performance.now() - start;
  });
  socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
  const closedAt = await new Promise<number>((resolve, reject) => {
    const limit = setTimeout(() => reject(new Error('the server never closed the idle connection')), 5_000);
    socket.once('close', () => {
      clearTimeout(limit);
      resolve(performance.now() - start);
    });
  });
  return { response, respondedAt, closedAt };
}

describe('H1ServerConnection idle timeout', () => {
  it('closes a keep-alive connection idle for the timeout after its response', async () => {
    const r = await requestThenWait(await serve(0));
    expect(r.response).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nok$/);
    expect(r.closedAt - r.respondedAt).toBeGreaterThanOrEqual(IDLE_MS - 20);
    expect(r.closedAt - r.respondedAt).toBeLessThan(IDLE_MS + 1_500);
  });

  it('does not cut a request that takes longer than the timeout; the timeout runs from its response', async () => {
    const r = await requestThenWait(await serve(3 * IDLE_MS));
    expect(r.response.endsWith('\r\n\r\nok')).toBe(true);
    expect(r.respondedAt).toBeGreaterThanOrEqual(3 * IDLE_MS - 20);
    expect(r.closedAt - r.respondedAt).toBeGreaterThanOrEqual(IDLE_MS - 20);
  });
});
