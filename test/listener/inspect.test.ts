/** Protocol detection on real sockets: split and slow first packets, timeouts, early half-close. */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { inspect, type InspectResult } from '../../src/listener/inspect.js';

let server: Server | undefined;
const clients: Socket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** Starts a server that inspects its first connection; resolves with the result and the time it took. */
async function inspectOne(timeoutMs: number, send: (s: Socket) => void | Promise<void>): Promise<{ result: InspectResult | undefined; ms: number; rest: Promise<Buffer> }> {
  let resolveResult!: (v: { result: InspectResult | undefined; ms: number; rest: Promise<Buffer> }) => void;
  const done = new Promise<{ result: InspectResult | undefined; ms: number; rest: Promise<Buffer> }>((r) => (resolveResult = r));
  server = createServer({ allowHalfOpen: true }, (socket) => {
    clients.push(socket);
    const start = Date.now();
    inspect(socket, timeoutMs, (result) => {
      // what the next owner reads: the pre-read bytes must not be consumed twice or lost
      const rest = new Promise<Buffer>((r) => {
        const parts: Buffer[] = [];
        socket.on('data', (b) => parts.push(b));
        socket.on('end', () => r(Buffer.concat(parts)));
        socket.on('close', () => r(Buffer.concat(parts)));
        socket.resume();
      });
      resolveResult({ result, ms: Date.now() - start, rest });
    });
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const c = connect((server!.address() as AddressInfo).port, '127.0.0.1');
  c.on('error', () => {});
  clients.push(c);
  await new Promise<void>((r) => c.once('connect', () => r()));
  await send(c);
  return done;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('inspect (tls_inspector + http_inspector)', () => {
  it('an HTTP request line split into single bytes, slowly: HTTP/1.1, and nothing is lost', async () => {
    const req = 'GET /x HTTP/1.1\r\nhost: a\r\n\r\n';
    const { result, rest } = await inspectOne(5_000, async (c) => {
      for (const ch of req.slice(0, 18)) {
        c.write(ch);
        await sleep(5);
      }
      c.end(req.slice(18));
    });
    expect(result?.inspected).toEqual({ transportProtocol: 'raw_buffer', applicationProtocols: ['http/1.1'] });
    expect(Buffer.concat([result!.preRead!, await rest]).toString()).toBe(req);
  });

  it('the HTTP/2 preface arriving in two packets: h2c', async () => {
    const { result } = await inspectOne(5_000, async (c) => {
      c.write('PRI * HTTP/2.0\r\n');
      await sleep(20);
      c.write('\r\nSM\r\n\r\n');
    });
    expect(result?.inspected.applicationProtocols).toEqual(['h2c']);
  });

  it('a TLS ClientHello: SNI and ALPN', async () => {
    const { result } = await inspectOne(5_000, (c) => {
      const t = tlsConnect({ socket: c, servername: 'reviews.example.com', ALPNProtocols: ['h2', 'http/1.1'] });
      t.on('error', () => {});
    });
    expect(result?.inspected).toEqual({ transportProtocol: 'tls', serverName: 'reviews.example.com', applicationProtocols: ['h2', 'http/1.1'] });
    expect(result?.preRead?.[0]).toBe(0x16);
  });

  it('a server-first protocol (the client says nothing): raw TCP once the detection timeout passes', async () => {
    const { result, ms } = await inspectOne(150, () => {});
    expect(result).toMatchObject({ timedOut: true, preRead: undefined, inspected: { transportProtocol: 'raw_buffer', applicationProtocols: [] } });
    expect(ms).toBeGreaterThanOrEqual(140);
  });

  it('a partial request line then silence: TCP at the timeout, with the bytes kept', async () => {
    const { result } = await inspectOne(150, (c) => void c.write('GE'));
    expect(result).toMatchObject({ timedOut: true });
    expect(result!.preRead!.toString()).toBe('GE');
  });

  it('a client that half-closes after a few bytes: decided on what it sent, marked ended', async () => {
    const { result } = await inspectOne(5_000, (c) => void c.end('PU'));
    expect(result).toMatchObject({ ended: true, timedOut: false, inspected: { applicationProtocols: [] } });
    expect(result!.preRead!.toString()).toBe('PU');
  });

  it('a client that closes before sending anything: no result', async () => {
    const { result } = await inspectOne(5_000, (c) => void c.end());
    expect(result).toBeUndefined();
  });
});
