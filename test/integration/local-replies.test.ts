// Gateway mode: Envoy-compatible local replies when the upstream side fails (UH, UF, NC, UC, UR).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { svcHost } from '../helpers/fixtures.js';
import { httpRequest, newAgent } from '../helpers/http.js';
import { destinationRule, gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let gw: number;
let proxy: RunningProxy;
let ok: Upstream;
let resetter: Upstream;
let midBody: Upstream;
let midChunked: Upstream;
const agent = newAgent();

beforeAll(async () => {
  ok = await startUpstream(undefined, 'ok');
  // accepts the request, then destroys the socket without a byte of response
  resetter = await startUpstream((req, res) => {
    req.resume();
    req.socket.destroy();
  }, 'resetter');
  // promises 1 MB, sends 1000 bytes, dies
  midBody = await startUpstream((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-length': String(1024 * 1024), 'content-type': 'application/octet-stream' });
    res.write(Buffer.alloc(1000, 97), () => setTimeout(() => res.socket?.destroy(), 50));
  }, 'mid-body');
  // chunked: sends one chunk, dies (a clean end here would turn a truncated body into a "complete" one)
  midChunked = await startUpstream((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('partial-', () => setTimeout(() => res.socket?.destroy(), 50));
  }, 'mid-chunked');
  const closedPort = await freePort(); // nothing listens here
  gw = await freePort();
  const yaml = toYaml(
    gateway({ port: gw }),
    serviceEntry({ name: 'empty', host: svcHost('empty'), endpoints: [] }),
    serviceEntry({ name: 'labelled', host: svcHost('labelled'), endpoints: [{ port: ok.port, labels: { version: 'v1' } }] }),
    destinationRule('labelled', { host: 'labelled', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'none', labels: { version: 'nope' } }] }),
    serviceEntry({ name: 'refused', host: svcHost('refused'), endpoints: [{ port: closedPort }] }),
    serviceEntry({ name: 'resetter', host: svcHost('resetter'), endpoints: [{ port: resetter.port }] }),
    serviceEntry({ name: 'mid-body', host: svcHost('mid-body'), endpoints: [{ port: midBody.port }] }),
    serviceEntry({ name: 'mid-chunked', host: svcHost('mid-chunked'), endpoints: [{ port: midChunked.port }] }),
    virtualService('failures', {
      hosts: ['fail.test'],
      gateways: ['gw'],
      http: [
        { match: [{ uri: { exact: '/empty-subset' } }], route: [{ destination: { host: 'labelled', subset: 'none' } }] },
        { match: [{ uri: { exact: '/empty' } }], route: [{ destination: { host: 'empty' } }] },
        { match: [{ uri: { prefix: '/v1' } }], route: [{ destination: { host: 'labelled', subset: 'v1' } }] },
        { match: [{ uri: { prefix: '/unknown-subset' } }], route: [{ destination: { host: 'labelled', subset: 'v9' } }] },
        { match: [{ uri: { prefix: '/refused' } }], route: [{ destination: { host: 'refused' } }] },
        { match: [{ uri: { prefix: '/reset' } }], route: [{ destination: { host: 'resetter' } }] },
        { match: [{ uri: { prefix: '/mid-body' } }], route: [{ destination: { host: 'mid-body' } }] },
        { match: [{ uri: { prefix: '/mid-chunked' } }], route: [{ destination: { host: 'mid-chunked' } }] },
      ],
    }),
  );
  proxy = await startProxy({ yaml, args: GATEWAY_ARGS });
});

afterAll(async () => {
  await stopAllProxies();
  await Promise.all([ok, resetter, midBody, midChunked].map((u) => u?.close()));
  await agent.close();
});

const get = (path: string) => httpRequest(gw, { host: 'fail.test', path, dispatcher: agent });

describe('local replies before the upstream answers', () => {
  it('a cluster with no endpoints: 503 "no healthy upstream"', async () => {
    const r = await get('/empty');
    expect(r.status).toBe(503);
    expect(r.text).toBe('no healthy upstream');
    expect(r.headers['content-type']).toBe('text/plain');
  });

  it('a subset whose labels select no endpoint: 503 "no healthy upstream"', async () => {
    const r = await get('/empty-subset');
    expect(r.status).toBe(503);
    expect(r.text).toBe('no healthy upstream');
    // while the matching subset works
    expect((await get('/v1')).status).toBe(200);
  });

  it('an endpoint with nothing listening: 503 connection failure', async () => {
    const r = await get('/refused');
    expect(r.status).toBe(503);
    expect(r.text.startsWith('upstream connect error or disconnect/reset before headers. reset reason: connection failure')).toBe(true);
  });

  it('a route to an unknown subset: 503 (cluster not found)', async () => {
    const r = await get('/unknown-subset');
    expect(r.status).toBe(503);
    expect(r.text).toBe('');
  });

  it('an upstream that closes the connection before responding: 503 connection termination', async () => {
    const before = resetter.requests.length;
    const r = await get('/reset');
    expect(r.status).toBe(503);
    expect(r.text).toBe('upstream connect error or disconnect/reset before headers. reset reason: connection termination');
    expect(resetter.requests.length).toBe(before + 1); // not retried behind the client's back
  });
});

describe('upstream failure after the response started', () => {
  for (const path of ['/mid-body', '/mid-chunked']) {
    it(`${path}: the client sees the connection close, not a hang and not a clean end`, async () => {
      const t0 = Date.now();
      const outcome = await (async () => {
        const res = await request(`http://127.0.0.1:${gw}${path}`, { headers: { host: 'fail.test' }, dispatcher: agent, headersTimeout: 5_000, bodyTimeout: 5_000 });
        expect(res.statusCode).toBe(200);
        let bytes = 0;
        try {
          for await (const chunk of res.body) bytes += (chunk as Buffer).length;
          return { ended: 'clean', bytes };
        } catch (e) {
          return { ended: 'error', bytes, code: (e as { code?: string }).code };
        }
      })();
      expect(outcome.ended).toBe('error');
      expect(outcome.code).not.toBe('UND_ERR_BODY_TIMEOUT'); // closed by the proxy, not abandoned
      expect(Date.now() - t0).toBeLessThan(4_000);
      expect(outcome.bytes).toBeGreaterThan(0);
      expect(proxy.alive()).toBe(true);
    });
  }
});
