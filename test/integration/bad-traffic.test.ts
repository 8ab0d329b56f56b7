// Malformed HTTP/1.1 from raw sockets: answered the way Envoy's codec answers (400 / 431, then close),
// and the proxy keeps serving afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namedUpstreams, svcHost } from '../helpers/fixtures.js';
import { httpRequest, newAgent, rawExchange, rawStatus } from '../helpers/http.js';
import { gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let gw: number;
let proxy: RunningProxy;
let fx: Awaited<ReturnType<typeof namedUpstreams>>;
let roomy: Upstream;
const agent = newAgent();

beforeAll(async () => {
  fx = await namedUpstreams(['echo']);
  roomy = await startUpstream(undefined, 'roomy', { maxHeaderSize: 128 * 1024 });
  gw = await freePort();
  proxy = await startProxy({
    yaml: toYaml(
      gateway({ port: gw }),
      ...fx.entries,
      serviceEntry({ name: 'roomy', host: svcHost('roomy'), endpoints: [{ port: roomy.port }] }),
      virtualService('all', {
        hosts: ['*'],
        gateways: ['gw'],
        http: [
          { match: [{ uri: { prefix: '/almost' } }], route: [{ destination: { host: 'roomy' } }] },
          { route: [{ destination: { host: 'echo' } }] },
        ],
      }),
    ),
    args: GATEWAY_ARGS,
  });
});

afterAll(async () => {
  await stopAllProxies();
  await fx?.closeAll();
  await roomy?.close();
  await agent.close();
});

/** After a bad request: the process is alive and a normal request still works. */
async function stillServes(): Promise<void> {
  expect(proxy.alive()).toBe(true);
  const r = await httpRequest(gw, { host: 'ok.test', path: '/after', dispatcher: agent });
  expect(r.status).toBe(200);
  expect(r.json().url).toBe('/after');
}

const CASES: { name: string; request: string; status: number }[] = [
  {
    name: 'Content-Length together with Transfer-Encoding',
    request: 'POST /smuggle HTTP/1.1\r\nHost: bad.test\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX',
    status: 400,
  },
  {
    name: 'two different Content-Length values',
    request: 'POST /dup HTTP/1.1\r\nHost: bad.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
    status: 400,
  },
  {
    name: 'bare LF line endings',
    request: 'GET /lf HTTP/1.1\nHost: bad.test\nX-A: 1\n\n',
    status: 400,
  },
  {
    // RFC 9112 §5.2: a server must reject obs-fold (or replace it); Envoy rejects with 400
    name: 'obs-fold header continuation',
    request: 'GET /fold HTTP/1.1\r\nHost: bad.test\r\nX-Folded: first\r\n  second\r\n\r\n',
    status: 400,
  },
  {
    name: 'headers over 60 KiB',
    request: `GET /big HTTP/1.1\r\nHost: bad.test\r\n${Array.from({ length: 16 }, (_, i) => `X-Big-${i}: ${'a'.repeat(4096)}\r\n`).join('')}\r\n`,
    status: 431,
  },
];

describe('malformed requests', () => {
  for (const c of CASES) {
    it(`${c.name} → ${c.status} and the connection is closed`, async () => {
      const before = fx.upstreams.get('echo')!.requests.length;
      const res = await rawExchange(gw, c.request, 3_000);
      expect(rawStatus(res.data), `reply: ${JSON.stringify(res.data.slice(0, 200))}`).toBe(c.status);
      expect(res.closed, 'the proxy closes the connection after a codec error').toBe(true);
      // exactly one response: nothing smuggled through
      expect(res.data.match(/HTTP\/1\.1 \d{3}/g)).toHaveLength(1);
      expect(fx.upstreams.get('echo')!.requests.length).toBe(before);
      await stillServes();
    });
  }

  // Envoy's codec answers any transfer-coding other than plain "chunked" with 501 (RFC 9112 §6.1:
  // a server that receives a transfer coding it does not understand should respond 501). Forwarding
  // it instead drops the coding label and hands the upstream a body it cannot decode.
  it('an unsupported transfer-coding → 501, nothing forwarded', async () => {
    const before = fx.upstreams.get('echo')!.requests.length;
    const gzipChunked = await rawExchange(gw, 'POST /te HTTP/1.1\r\nHost: bad.test\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 3_000);
    expect(rawStatus(gzipChunked.data), gzipChunked.data.slice(0, 120)).toBe(501);
    expect(fx.upstreams.get('echo')!.requests.length).toBe(before);
    const identity = await rawExchange(gw, 'POST /te HTTP/1.1\r\nHost: bad.test\r\nTransfer-Encoding: identity\r\n\r\n', 3_000);
    expect(rawStatus(identity.data), identity.data.slice(0, 120)).toBe(501);
    expect(fx.upstreams.get('echo')!.requests.length).toBe(before);
    await stillServes();
  });

  // RFC 9112 §3.2: more than one Host header → 400. Envoy rejects the combined authority ("a,b")
  // as invalid. Forwarding both lets the proxy route on one Host while the upstream may read the other.
  it('two Host headers → 400, nothing forwarded', async () => {
    const before = fx.upstreams.get('echo')!.requests.length;
    const res = await rawExchange(gw, 'GET /two-hosts HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\nConnection: close\r\n\r\n', 3_000);
    expect(rawStatus(res.data), res.data.slice(0, 200)).toBe(400);
    expect(fx.upstreams.get('echo')!.requests.length).toBe(before);
    await stillServes();
  });

  it('headers just under the limit (50 KiB) are forwarded intact', async () => {
    const big = Array.from({ length: 10 }, (_, i) => `X-Big-${i}: ${String(i).repeat(5000)}\r\n`).join('');
    const res = await rawExchange(gw, `GET /almost HTTP/1.1\r\nHost: ok.test\r\nConnection: close\r\n${big}\r\n`, 3_000);
    expect(rawStatus(res.data), res.data.slice(0, 200)).toBe(200);
    const seen = roomy.requests.at(-1)!;
    expect(seen.url).toBe('/almost');
    for (let i = 0; i < 10; i++) expect(seen.headers[`x-big-${i}`]).toBe(String(i).repeat(5000));
    await stillServes();
  });
});
