import { connect as tlsConnect } from 'node:tls';
import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { sniff } from '../../src/listener/sniff.js';

/** The first bytes a real TLS client sends: captured from node:tls connecting to a raw TCP server. */
function clientHello(opts: { servername?: string; ALPNProtocols?: string[] }): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const srv = createServer((s: Socket) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          s.destroy();
          srv.close();
          resolve(buf);
        }
      });
    });
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      const c = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts });
      c.on('error', () => {}); // the server hangs up after the ClientHello
      setTimeout(() => reject(new Error('no ClientHello')), 3000).unref();
    });
  });
}

describe('protocol sniffing', () => {
  it('an HTTP/1.1 request line, whole or split at any byte', () => {
    const req = Buffer.from('GET /path?q=1 HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(sniff(req)).toEqual({ protocol: 'http1' });
    for (let n = 1; n < req.indexOf('\n'); n++) expect(sniff(req.subarray(0, n)).protocol, `first ${n} bytes`).toBe('need-more');
    expect(sniff(Buffer.from('POST / HTTP/1.0\r\n')).protocol).toBe('http1');
    expect(sniff(Buffer.from('PROPFIND /x HTTP/1.1\r\n')).protocol).toBe('http1');
  });

  it('the HTTP/2 preface (prior knowledge), and its prefixes wait for more', () => {
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    expect(sniff(preface)).toEqual({ protocol: 'h2' });
    expect(sniff(Buffer.concat([preface, Buffer.from([0, 0, 0, 4])]))).toEqual({ protocol: 'h2' });
    for (let n = 1; n < preface.length; n++) expect(sniff(preface.subarray(0, n)).protocol).toBe('need-more');
  });

  it('anything else is TCP: server-first banners, binary, lower-case or unknown methods, no HTTP version', () => {
    for (const s of ['\x00\x01\x02', 'SSH-2.0-OpenSSH\r\n', 'get / HTTP/1.1\r\n', 'FOO / HTTP/1.1\r\n', 'GET /\r\n', 'GET / HTTP/2.0\r\n', '*1\r\n$4\r\nPING\r\n']) {
      expect(sniff(Buffer.from(s, 'latin1')).protocol, JSON.stringify(s)).toBe('tcp');
    }
    expect(sniff(Buffer.alloc(9000, 'A')).protocol).toBe('tcp'); // no request line within 8 KiB
  });

  it('a TLS ClientHello from node:tls: SNI and ALPN, and partial records wait', async () => {
    const hello = await clientHello({ servername: 'Reviews.Default.svc.cluster.local', ALPNProtocols: ['istio-http/1.1', 'h2'] });
    expect(sniff(hello)).toEqual({ protocol: 'tls', sni: 'reviews.default.svc.cluster.local', alpn: ['istio-http/1.1', 'h2'] });
    for (const n of [1, 4, 5, 40, hello.length - 1]) expect(sniff(hello.subarray(0, n)).protocol).toBe('need-more');
    const bare = await clientHello({});
    expect(sniff(bare)).toEqual({ protocol: 'tls', alpn: [] });
  });

  it('a handshake record that is not a ClientHello, or a bad version, is TCP', () => {
    expect(sniff(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x01, 0x02])).protocol).toBe('tcp');
    expect(sniff(Buffer.from([0x16, 0x07, 0x01, 0x00, 0x01, 0x01])).protocol).toBe('tcp');
  });
});
