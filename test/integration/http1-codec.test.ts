// The downstream HTTP/1.1 codec: HTTP/1.0 (Istio refuses it unless ISTIO_META_HTTP10=1),
// pipelining, 100-continue, chunked request bodies and response framing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { namedUpstreams, svcHost } from '../helpers/fixtures.js';
import { rawExchange, rawStatus } from '../helpers/http.js';
import { gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies } from '../helpers/proxy.js';

let gw: number;
let gw10: number;
let fx: Awaited<ReturnType<typeof namedUpstreams>>;
let streamer: Server;
let streamerPort: number;

function mesh(port: number): string {
  return toYaml(
    gateway({ port }),
    ...fx.entries,
    serviceEntry({ name: 'streamer', host: svcHost('streamer'), endpoints: [{ port: streamerPort }] }),
    virtualService('all', {
      hosts: ['*'],
      gateways: ['gw'],
      http: [
        { match: [{ uri: { prefix: '/stream' } }], route: [{ destination: { host: 'streamer' } }] },
        { route: [{ destination: { host: 'echo' } }] },
      ],
    }),
  );
}

beforeAll(async () => {
  fx = await namedUpstreams(['echo']);
  // an upstream that answers without content-length: the proxy must frame the body itself
  streamer = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('part one;');
    res.end('part two');
  });
  streamerPort = await new Promise<number>((r) => streamer.listen(0, '127.0.0.1', () => r((streamer.address() as { port: number }).port)));
  gw = await freePort();
  gw10 = await freePort();
  await startProxy({ yaml: mesh(gw), args: GATEWAY_ARGS });
  await startProxy({ yaml: mesh(gw10), args: GATEWAY_ARGS, env: { ISTIO_META_HTTP10: '1' } });
});

afterAll(async () => {
  await stopAllProxies();
  await fx.closeAll();
  await new Promise((r) => streamer.close(r));
});

describe('HTTP/1.0', () => {
  it('is refused with 426 by default, as Istio configures Envoy', async () => {
    const r = await rawExchange(gw, 'GET / HTTP/1.0\r\nHost: a\r\n\r\n');
    expect(rawStatus(r.data)).toBe(426);
    expect(r.closed).toBe(true);
    expect(fx.upstreams.get('echo')!.requests.length).toBe(0);
  });

  it('is served with ISTIO_META_HTTP10=1, closing the connection after the response', async () => {
    const r = await rawExchange(gw10, 'GET /ten HTTP/1.0\r\nHost: a\r\n\r\n');
    expect(rawStatus(r.data)).toBe(200);
    expect(r.data).toMatch(/\r\nconnection: close\r\n/i);
    expect(r.closed).toBe(true);
  });

  it('keeps the connection alive when an HTTP/1.0 client asks for it', async () => {
    const r = await rawExchange(gw10, 'GET /a HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\nHost: a\r\n\r\n');
    expect(r.data.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
    expect(r.data).toMatch(/\r\nconnection: keep-alive\r\n/i);
  });

  it('gets a close-delimited body when the upstream sends no length (no chunked for 1.0)', async () => {
    const r = await rawExchange(gw10, 'GET /stream HTTP/1.0\r\nHost: a\r\n\r\n');
    expect(rawStatus(r.data)).toBe(200);
    expect(r.data).not.toMatch(/transfer-encoding/i);
    expect(r.data.endsWith('part one;part two')).toBe(true);
    expect(r.closed).toBe(true);
  });
});

describe('HTTP/1.1 framing', () => {
  it('answers pipelined requests in order on one connection', async () => {
    const r = await rawExchange(gw, 'GET /first HTTP/1.1\r\nHost: a\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    const paths = [...r.data.matchAll(/"url":"([^"]+)"/g)].map((m) => m[1]);
    expect(paths).toEqual(['/first', '/second']);
    expect(r.closed).toBe(true);
  });

  it('sends 100 Continue, then forwards the body and the final response', async () => {
    const r = await rawExchange(
      gw,
      'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nhello',
    );
    expect(r.data.startsWith('HTTP/1.1 100 Continue\r\n\r\n')).toBe(true);
    expect(r.data).toMatch(/HTTP\/1\.1 200/);
    expect(r.data).toMatch(/"bodyBytes":5/);
    const seen = fx.upstreams.get('echo')!.requests.at(-1)!;
    expect(seen.headers.expect).toBeUndefined(); // Expect is hop-by-hop here: the proxy answered it
  });

  it('forwards a chunked request body intact and frames an unknown-length response as chunked', async () => {
    const body = '4\r\nabcd\r\n3;ext=1\r\nefg\r\n0\r\n\r\n';
    const r = await rawExchange(gw, `POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${body}`);
    expect(rawStatus(r.data)).toBe(200);
    expect(r.data).toMatch(/"bodyBytes":7/);
    const s = await rawExchange(gw, 'GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(s.data).toMatch(/\r\ntransfer-encoding: chunked\r\n/i);
    expect(s.data).toContain('9\r\npart one;\r\n8\r\npart two\r\n0\r\n\r\n');
  });

  it('a malformed chunked body gets 400 and the connection closes', async () => {
    const r = await rawExchange(gw, 'POST /bad HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n');
    expect(rawStatus(r.data)).toBe(400);
    expect(r.closed).toBe(true);
  });
});
