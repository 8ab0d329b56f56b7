// Gateway-mode routing through a real proxy process: VirtualService match semantics, weighted
// splits, DestinationRule subsets and destination port selection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namedUpstreams, svcHost } from '../helpers/fixtures.js';
import { httpRequest, newAgent } from '../helpers/http.js';
import { destinationRule, gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const ROUTES = [
  'exact', 'prefix', 'regex', 'hdr-exact', 'hdr-prefix', 'hdr-regex', 'without', 'query-exact', 'query-regex', 'query-present',
  'post', 'auth', 'and', 'or', 'first1', 'first2', 'w80', 'w20', 'hdr-multi',
] as const;

let proxy: RunningProxy;
let gw: number;
let fx: Awaited<ReturnType<typeof namedUpstreams>>;
let v1: Upstream;
let v2: Upstream;
let p80: Upstream;
let p8080: Upstream;
const agent = newAgent();

const to = (name: string) => ({ destination: { host: name } });

beforeAll(async () => {
  fx = await namedUpstreams(ROUTES);
  v1 = await startUpstream(undefined, 'v1');
  v2 = await startUpstream(undefined, 'v2');
  p80 = await startUpstream(undefined, 'port-80');
  p8080 = await startUpstream(undefined, 'port-8080');
  gw = await freePort();
  const yaml = toYaml(
    gateway({ port: gw }),
    ...fx.entries,
    serviceEntry({ name: 'versioned', host: svcHost('versioned'), endpoints: [{ port: v1.port, labels: { version: 'v1' } }, { port: v2.port, labels: { version: 'v2' } }] }),
    destinationRule('versioned', { host: 'versioned', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] }),
    serviceEntry({
      name: 'multi',
      host: svcHost('multi'),
      ports: [{ number: 80, name: 'http' }, { number: 8080, name: 'http-alt' }],
      endpoints: [{ port: 0, ports: { http: p80.port, 'http-alt': p8080.port } }],
    }),
    virtualService('match', {
      hosts: ['match.test', 'alt.match.test'],
      gateways: ['gw'],
      http: [
        { match: [{ uri: { exact: '/exact' } }], route: [to('exact')] },
        { match: [{ uri: { prefix: '/prefix' } }], route: [to('prefix')] },
        { match: [{ uri: { regex: '/re/[0-9]+' } }], route: [to('regex')] },
        { match: [{ uri: { prefix: '/hdr' }, headers: { 'x-h': { exact: 'yes' } } }], route: [to('hdr-exact')] },
        { match: [{ uri: { prefix: '/hdr' }, headers: { 'x-h': { prefix: 'pre' } } }], route: [to('hdr-prefix')] },
        { match: [{ uri: { prefix: '/hdr' }, headers: { 'x-h': { regex: 'r[0-9]+' } } }], route: [to('hdr-regex')] },
        { match: [{ uri: { prefix: '/multi' }, headers: { 'x-multi': { exact: 'a,b' } } }], route: [to('hdr-multi')] },
        { match: [{ uri: { prefix: '/without' }, withoutHeaders: { 'x-block': {} } }], route: [to('without')] },
        { match: [{ uri: { prefix: '/query' }, queryParams: { q: { exact: '1' } } }], route: [to('query-exact')] },
        { match: [{ uri: { prefix: '/query' }, queryParams: { q: { regex: 'a+' } } }], route: [to('query-regex')] },
        { match: [{ uri: { prefix: '/query' }, queryParams: { present: {} } }], route: [to('query-present')] },
        { match: [{ uri: { prefix: '/method' }, method: { exact: 'POST' } }], route: [to('post')] },
        { match: [{ uri: { prefix: '/auth' }, authority: { prefix: 'alt.' } }], route: [to('auth')] },
        // AND inside one match block
        { match: [{ uri: { prefix: '/and' }, headers: { 'x-a': { exact: '1' }, 'x-b': { exact: '2' } } }], route: [to('and')] },
        // OR across match blocks
        { match: [{ uri: { prefix: '/or-a' } }, { uri: { prefix: '/or-b' } }], route: [to('or')] },
        // first match wins
        { match: [{ uri: { prefix: '/first' } }], route: [to('first1')] },
        { match: [{ uri: { prefix: '/fir' } }], route: [to('first2')] },
      ],
    }),
    virtualService('split', {
      hosts: ['split.test'],
      gateways: ['gw'],
      http: [{ route: [{ ...to('w80'), weight: 80 }, { ...to('w20'), weight: 20 }] }],
    }),
    virtualService('subsets', {
      hosts: ['subset.test'],
      gateways: ['gw'],
      http: [
        { match: [{ uri: { prefix: '/v1' } }], route: [{ destination: { host: 'versioned', subset: 'v1' } }] },
        { match: [{ uri: { prefix: '/v2' } }], route: [{ destination: { host: 'versioned', subset: 'v2' } }] },
      ],
    }),
    virtualService('ports', {
      hosts: ['port.test'],
      gateways: ['gw'],
      http: [
        { match: [{ uri: { prefix: '/p8080' } }], route: [{ destination: { host: 'multi', port: { number: 8080 } } }] },
        { match: [{ uri: { prefix: '/p80' } }], route: [{ destination: { host: 'multi', port: { number: 80 } } }] },
      ],
    }),
  );
  proxy = await startProxy({ yaml, args: GATEWAY_ARGS });
});

afterAll(async () => {
  await stopAllProxies();
  await fx?.closeAll();
  await Promise.all([v1, v2, p80, p8080].map((u) => u?.close()));
  await agent.close();
});

async function routed(path: string, opts: { host?: string; method?: string; headers?: Record<string, string | string[]> } = {}): Promise<string> {
  const r = await httpRequest(gw, { host: opts.host ?? 'match.test', path, method: opts.method, headers: opts.headers, dispatcher: agent });
  if (r.status !== 200) return `status ${r.status}`;
  return r.json().name as string;
}

async function status(path: string, opts: { host?: string; method?: string; headers?: Record<string, string> } = {}) {
  return httpRequest(gw, { host: opts.host ?? 'match.test', path, method: opts.method, headers: opts.headers, dispatcher: agent });
}

describe('uri matching', () => {
  it('exact matches only the exact path (query ignored)', async () => {
    expect(await routed('/exact')).toBe('exact');
    expect(await routed('/exact?x=1')).toBe('exact');
    expect(await routed('/exact/more')).toBe('status 404');
  });

  it('prefix matches the path prefix', async () => {
    expect(await routed('/prefix')).toBe('prefix');
    expect(await routed('/prefix/a/b?c=d')).toBe('prefix');
    expect(await routed('/prefixed')).toBe('prefix'); // Istio prefix is a string prefix, as Envoy's
  });

  it('regex must match the whole path', async () => {
    expect(await routed('/re/123')).toBe('regex');
    expect(await routed('/re/123x')).toBe('status 404');
    expect(await routed('/x/re/123')).toBe('status 404');
  });
});

describe('header, query, method and authority matching', () => {
  it('headers exact / prefix / regex', async () => {
    expect(await routed('/hdr', { headers: { 'x-h': 'yes' } })).toBe('hdr-exact');
    expect(await routed('/hdr', { headers: { 'x-h': 'prefixed' } })).toBe('hdr-prefix');
    expect(await routed('/hdr', { headers: { 'x-h': 'r42' } })).toBe('hdr-regex');
    expect(await routed('/hdr', { headers: { 'x-h': 'r42z' } })).toBe('status 404'); // regex is anchored
    expect(await routed('/hdr', { headers: { 'x-h': 'YES' } })).toBe('status 404');
    expect(await routed('/hdr')).toBe('status 404');
  });

  // Envoy matches a header sent on several lines against its values joined with "," (no space):
  // HeaderUtility::getAllOfHeaderAsString. Node joins repeated headers with ", ".
  it('a repeated header matches as its values joined with ","', async () => {
    expect(await routed('/multi', { headers: { 'x-multi': 'a,b' } })).toBe('hdr-multi');
    expect(await routed('/multi', { headers: { 'x-multi': ['a', 'b'] } })).toBe('hdr-multi');
  });

  it('withoutHeaders matches only when the header is absent', async () => {
    expect(await routed('/without')).toBe('without');
    expect(await routed('/without', { headers: { 'x-block': '1' } })).toBe('status 404');
  });

  it('queryParams exact / regex / presence', async () => {
    expect(await routed('/query?q=1')).toBe('query-exact');
    expect(await routed('/query?q=aaa')).toBe('query-regex');
    expect(await routed('/query?q=aab')).toBe('status 404');
    expect(await routed('/query?present=')).toBe('query-present');
    expect(await routed('/query?other=1')).toBe('status 404');
  });

  it('method', async () => {
    expect(await routed('/method', { method: 'POST' })).toBe('post');
    expect(await routed('/method', { method: 'GET' })).toBe('status 404');
  });

  it('authority', async () => {
    expect(await routed('/auth', { host: 'alt.match.test' })).toBe('auth');
    expect(await routed('/auth', { host: 'match.test' })).toBe('status 404');
  });
});

describe('match combination and order', () => {
  it('conditions inside one match block are ANDed', async () => {
    expect(await routed('/and', { headers: { 'x-a': '1', 'x-b': '2' } })).toBe('and');
    expect(await routed('/and', { headers: { 'x-a': '1' } })).toBe('status 404');
    expect(await routed('/and', { headers: { 'x-b': '2' } })).toBe('status 404');
    expect(await routed('/other', { headers: { 'x-a': '1', 'x-b': '2' } })).toBe('status 404');
  });

  it('match blocks of one route are ORed', async () => {
    expect(await routed('/or-a')).toBe('or');
    expect(await routed('/or-b/x')).toBe('or');
  });

  it('the first matching route wins', async () => {
    expect(await routed('/first')).toBe('first1');
    expect(await routed('/firm')).toBe('first2');
  });

  it('no matching route: 404 with an empty body, nothing sent upstream', async () => {
    const before = [...fx.upstreams.values()].reduce((s, u) => s + u.requests.length, 0);
    const r = await status('/nothing-here');
    expect(r.status).toBe(404);
    expect(r.text).toBe('');
    const r2 = await status('/', { host: 'unknown-host.test' });
    expect(r2.status).toBe(404);
    expect(r2.text).toBe('');
    const after = [...fx.upstreams.values()].reduce((s, u) => s + u.requests.length, 0);
    expect(after).toBe(before);
  });
});

describe('destinations', () => {
  it('splits traffic by weight (80/20 over 200 requests)', async () => {
    const counts: Record<string, number> = {};
    const N = 200;
    for (let batch = 0; batch < N / 20; batch++) {
      const names = await Promise.all(Array.from({ length: 20 }, () => routed('/', { host: 'split.test' })));
      for (const n of names) counts[n] = (counts[n] ?? 0) + 1;
    }
    expect((counts.w80 ?? 0) + (counts.w20 ?? 0)).toBe(N);
    // binomial(200, 0.8): mean 160, sd ≈ 5.7; ±30 is over 5 sd
    expect(counts.w80).toBeGreaterThanOrEqual(130);
    expect(counts.w80).toBeLessThanOrEqual(190);
  });

  it('subsets route only to the endpoints with the subset labels', async () => {
    const a = await Promise.all(Array.from({ length: 10 }, () => routed('/v1', { host: 'subset.test' })));
    const b = await Promise.all(Array.from({ length: 10 }, () => routed('/v2', { host: 'subset.test' })));
    expect(new Set(a)).toEqual(new Set(['v1']));
    expect(new Set(b)).toEqual(new Set(['v2']));
  });

  it('destination port picks the service port (and its endpoint port)', async () => {
    expect(await routed('/p80', { host: 'port.test' })).toBe('port-80');
    expect(await routed('/p8080', { host: 'port.test' })).toBe('port-8080');
  });
});
