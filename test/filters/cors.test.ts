// envoy.filters.http.cors through the real data plane: a route's CorsPolicy (as istiod sends a
// VirtualService corsPolicy), a real upstream and a real client.
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CorsPolicy, Route } from '../../src/config/snapshot.js';
import { DataPlane } from '../../src/worker/data-plane.js';
import { WorkerStats } from '../../src/telemetry/stats.js';
import { freePorts } from '../helpers/ports.js';
import { filterSnapshot } from '../helpers/filter-snapshot.js';

let upstream: Server;
let upstreamHits = 0;
let dp: DataPlane;
let port: number;

const route = (name: string, prefix: string, cors: CorsPolicy | undefined): Route => ({
  name,
  match: { path: { prefix }, headers: [], queryParams: [] },
  action: { kind: 'route', clusters: [{ name: 'c', weight: 1 }] },
  ...(cors ? { typedPerFilterConfig: { 'envoy.filters.http.cors': cors } } : {}),
});

beforeAll(async () => {
  upstream = createServer((req, res) => {
    upstreamHits++;
    res.writeHead(200, { 'content-length': 2 });
    res.end('ok');
  });
  const [up, lp] = await freePorts(2);
  port = lp;
  await new Promise<void>((r) => upstream.listen(up, '127.0.0.1', () => r()));
  const snapshot = filterSnapshot({
    port: lp,
    upstreamPort: up,
    httpFilters: [{ name: 'envoy.filters.http.cors', config: {} }],
    routes: [
      route('strict', '/strict', { allowOrigins: [{ exact: 'https://a.example' }], forwardNotMatchingPreflights: false }),
      route('any', '/any', { allowOrigins: [{ exact: '*' }], forwardNotMatchingPreflights: true }),
      route('none', '/none', undefined),
      route('api', '/', { allowOrigins: [{ exact: 'https://a.example' }, { suffix: '.b.example' }], allowMethods: 'GET,POST', allowHeaders: 'x-token', exposeHeaders: 'x-trace', maxAge: '600', allowCredentials: true, forwardNotMatchingPreflights: true }),
    ],
  });
  dp = new DataPlane({ stats: new WorkerStats() });
  await dp.apply(snapshot);
});

afterAll(async () => {
  await dp.close();
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

function send(method: string, path: string, headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders; hit: boolean }> {
  const before = upstreamHits;
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { host: 'a', ...headers }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, hit: upstreamHits > before }));
    });
    req.on('error', reject);
    req.end();
  });
}

const cors = (h: IncomingHttpHeaders) => Object.fromEntries(Object.entries(h).filter(([k]) => k.startsWith('access-control-')));
const preflight = (origin: string) => ({ origin, 'access-control-request-method': 'POST' });

describe('envoy.filters.http.cors', () => {
  it('answers a preflight from an allowed origin itself: 200 with the policy, nothing upstream', async () => {
    const r = await send('OPTIONS', '/api', preflight('https://x.b.example'));
    expect(r.status).toBe(200);
    expect(r.hit).toBe(false);
    expect(cors(r.headers)).toEqual({
      'access-control-allow-origin': 'https://x.b.example',
      'access-control-allow-credentials': 'true',
      'access-control-allow-methods': 'GET,POST',
      'access-control-allow-headers': 'x-token',
      'access-control-max-age': '600',
    });
  });

  it('adds the allowed origin, credentials and exposed headers to the response of a CORS request', async () => {
    const r = await send('GET', '/api', { origin: 'https://a.example' });
    expect(r.hit).toBe(true);
    expect(cors(r.headers)).toEqual({ 'access-control-allow-origin': 'https://a.example', 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'x-trace' });
  });

  it('leaves an origin it does not allow alone: its preflight goes upstream, its response gets nothing', async () => {
    const p = await send('OPTIONS', '/api', preflight('https://evil.example'));
    expect(p.hit).toBe(true);
    expect(cors(p.headers)).toEqual({});
    const g = await send('GET', '/api', { origin: 'https://evil.example' });
    expect(cors(g.headers)).toEqual({});
  });

  it('forward_not_matching_preflights off: such a preflight is answered 200 without CORS headers', async () => {
    const r = await send('OPTIONS', '/strict', preflight('https://evil.example'));
    expect(r).toMatchObject({ status: 200, hit: false });
    expect(cors(r.headers)).toEqual({});
  });

  it('a matcher matching "*" allows every origin (the answer names the origin); no policy or no Origin: nothing', async () => {
    expect(cors((await send('GET', '/any', { origin: 'https://z.example' })).headers)).toEqual({ 'access-control-allow-origin': 'https://z.example' });
    expect(cors((await send('GET', '/none', { origin: 'https://a.example' })).headers)).toEqual({});
    expect(cors((await send('GET', '/api', {})).headers)).toEqual({});
  });
});
