// A response sent while the client is still sending its request body, then the connection closed
// (here a directResponse; a 507 while a retry waits is the same path). Closed at once with the
// client's bytes unread, the kernel resets the connection and throws away what it had not sent yet
// of the response; Envoy's delayed close (and now the proxy's) sends the response and its FIN, reads
// and drops the rest of the body, and closes when the client ends or after a delay. The client here
// reads nothing until it has sent its whole body, so the response waits in the proxy's send queue.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gateway, GATEWAY_ARGS, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies } from '../helpers/proxy.js';

const RESPONSE_BODY = 'x'.repeat(512 * 1024);
const REQUEST_BODY = Buffer.alloc(4 * 1024 * 1024, 'y');
let port: number;

beforeAll(async () => {
  port = await freePort();
  await startProxy({
    yaml: toYaml(
      gateway({ port }),
      virtualService('early', { hosts: ['*'], gateways: ['gw'], http: [{ directResponse: { status: 418, body: { string: RESPONSE_BODY } } }] }),
    ),
    args: GATEWAY_ARGS,
  });
});
afterAll(() => stopAllProxies());

/** Sends a POST with the whole body before reading anything, then reads until the connection ends. */
function postUnread(): Promise<string> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let data = '';
    const timer = setTimeout(() => sock.destroy(), 5_000);
    sock.pause();
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => (data += d));
    sock.on('error', () => {});
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
    sock.on('connect', () => {
      sock.write(`POST /upload HTTP/1.1\r\nhost: early.test\r\ncontent-length: ${REQUEST_BODY.length}\r\n\r\n`);
      sock.write(REQUEST_BODY, () => setTimeout(() => sock.resume(), 50));
    });
  });
}

describe('HTTP/1.1: a response sent before the request body was read', () => {
  it('reaches the client whole, then the connection closes (5 connections)', async () => {
    for (let i = 0; i < 5; i++) {
      const data = await postUnread();
      expect(data.slice(0, 12), `connection ${i}`).toBe('HTTP/1.1 418');
      expect(data.endsWith(RESPONSE_BODY), `connection ${i}: ${data.length} bytes`).toBe(true);
    }
  });
});
