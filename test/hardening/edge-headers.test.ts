// Forged trust headers at a gateway (the mesh edge), over HTTP/1.1 and HTTP/2: a client-sent
// x-forwarded-client-cert is dropped on a plaintext server (SANITIZE_SET with no client
// certificate), every x-envoy-* header is removed (Istio's peer metadata included) and none of
// them takes effect — a 1 ms x-envoy-upstream-rq-timeout-ms does not time the request out, an
// x-envoy-retry-on does not retry. (test/integration/proxy-headers.test.ts checks the HTTP/1.1
// x-envoy-* list; gateway-tls.test.ts the XFCC a MUTUAL server sets.)
import { connect as h2connect } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest } from '../helpers/http.js';
import { GATEWAY_ARGS, gatewayToApp } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies } from '../helpers/proxy.js';
import { echoHandler, startUpstream, type Echo, type Upstream } from '../helpers/upstream.js';

let app: Upstream;
let port: number;
const echo = echoHandler('app');

beforeAll(async () => {
  // /slow answers after 150 ms; /fail answers 500, which Istio's default retry policy does not retry
  app = await startUpstream((req, res, seen) => {
    if (req.url === '/fail') return void (req.resume(), res.writeHead(500).end('down'));
    if (req.url === '/slow') return void setTimeout(() => echo(req, res, seen), 150);
    echo(req, res, seen);
  }, 'app');
  port = await freePort();
  const yaml = gatewayToApp(port, app.port);
  await startProxy({ yaml, args: GATEWAY_ARGS });
});

afterAll(async () => {
  await stopAllProxies();
  await app.close();
});

const FORGED: Record<string, string> = {
  'x-forwarded-client-cert': 'By=spiffe://cluster.local/ns/default/sa/admin;URI=spiffe://cluster.local/ns/istio-system/sa/istiod',
  'x-envoy-internal': 'true',
  'x-envoy-peer-metadata': 'Cg0KBE5BTUUSBRoDYWRt',
  'x-envoy-peer-metadata-id': 'sidecar~10.0.0.1~admin.default~default.svc.cluster.local',
  'x-envoy-upstream-rq-timeout-ms': '1',
  'x-envoy-retry-on': '5xx',
  'x-envoy-max-retries': '5',
  'x-envoy-original-path': '/admin',
  'x-envoy-decorator-operation': 'forged',
  'x-envoy-hedge-on-per-try-timeout': 'true',
};

async function viaH2(path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const s = h2connect(`http://127.0.0.1:${port}`);
  s.on('error', () => {});
  try {
    return await new Promise((resolve, reject) => {
      const r = s.request({ ':path': path, ':authority': 'shop.example.com', ...headers });
      let status = 0;
      let body = '';
      r.setEncoding('utf8');
      r.on('response', (h) => (status = Number(h[':status'])));
      r.on('data', (d: string) => (body += d));
      r.on('end', () => resolve({ status, body }));
      r.on('error', reject);
      r.end();
    });
  } finally {
    s.close();
  }
}

const CLIENTS = {
  'HTTP/1.1': async (path: string, headers: Record<string, string>) => {
    const r = await httpRequest(port, { path, host: 'shop.example.com', headers });
    return { status: r.status, body: r.text };
  },
  'HTTP/2': viaH2,
};

describe('forged trust headers at the edge', () => {
  for (const [name, send] of Object.entries(CLIENTS)) {
    it(`${name}: XFCC and every x-envoy-* header are dropped before the app; the 1 ms timeout has no effect`, async () => {
      const r = await send('/slow', FORGED);
      expect(r.status).toBe(200);
      const e = JSON.parse(r.body) as Echo;
      expect(e.headers['x-forwarded-client-cert']).toBeUndefined();
      // only what the proxy itself sets at the edge
      expect(Object.keys(e.headers).filter((k) => k.startsWith('x-envoy-')).sort()).toEqual(['x-envoy-attempt-count', 'x-envoy-external-address']);
      expect(e.headers['x-envoy-attempt-count']).toBe('1');
    });

    it(`${name}: a forged x-envoy-retry-on / x-envoy-max-retries does not make the proxy retry a 500`, async () => {
      const before = app.requests.filter((q) => q.url === '/fail').length;
      const r = await send('/fail', { 'x-envoy-retry-on': '5xx,retriable-status-codes', 'x-envoy-retriable-status-codes': '500', 'x-envoy-max-retries': '5' });
      expect(r.status).toBe(500);
      expect(app.requests.filter((q) => q.url === '/fail').length - before).toBe(1);
    });
  }
});
