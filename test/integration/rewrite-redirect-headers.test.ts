// Gateway mode: rewrites, redirects, direct responses and header operations, end to end.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namedUpstreams } from '../helpers/fixtures.js';
import { httpRequest, newAgent } from '../helpers/http.js';
import { gateway, GATEWAY_ARGS, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies } from '../helpers/proxy.js';

let gw: number;
let fx: Awaited<ReturnType<typeof namedUpstreams>>;
const agent = newAgent();
const HOST = 'rw.test';

beforeAll(async () => {
  fx = await namedUpstreams(['echo', 'echo2']);
  gw = await freePort();
  const yaml = toYaml(
    gateway({ port: gw }),
    ...fx.entries,
    virtualService('rw', {
      hosts: [HOST],
      gateways: ['gw'],
      http: [
        { match: [{ uri: { prefix: '/api/' } }], rewrite: { uri: '/v2/' }, route: [{ destination: { host: 'echo' } }] },
        { match: [{ uri: { exact: '/old-exact' } }], rewrite: { uri: '/new-exact' }, route: [{ destination: { host: 'echo' } }] },
        { match: [{ uri: { prefix: '/authority' } }], rewrite: { authority: 'rewritten.example' }, route: [{ destination: { host: 'echo' } }] },
        { match: [{ uri: { exact: '/redir' } }], redirect: { uri: '/new-home' } },
        { match: [{ uri: { prefix: '/moved' } }], redirect: { authority: 'elsewhere.example', redirectCode: 302 } },
        { match: [{ uri: { exact: '/teapot' } }], directResponse: { status: 418, body: { string: 'short and stout\n' } } },
        { match: [{ uri: { exact: '/empty-direct' } }], directResponse: { status: 204 } },
        {
          match: [{ uri: { prefix: '/hdrops' } }],
          headers: {
            request: { set: { 'x-set': 'route' }, add: { 'x-add': 'route-added' }, remove: ['x-remove'] },
            response: { set: { 'x-resp-set': 'route' }, add: { 'x-resp-add': 'route-added' }, remove: ['x-upstream'] },
          },
          route: [
            {
              destination: { host: 'echo' },
              headers: {
                request: { set: { 'x-dest': 'dest' }, remove: ['x-dest-remove'] },
                response: { set: { 'x-dest-resp': 'dest' }, remove: ['x-envoy-upstream-service-time'] },
              },
            },
          ],
        },
        { route: [{ destination: { host: 'echo2' } }] },
      ],
    }),
  );
  await startProxy({ yaml, args: GATEWAY_ARGS });
});

afterAll(async () => {
  await stopAllProxies();
  await fx?.closeAll();
  await agent.close();
});

const get = (path: string, headers?: Record<string, string | string[]>) => httpRequest(gw, { host: HOST, path, headers, dispatcher: agent });

describe('rewrite', () => {
  it('prefix rewrite replaces the matched prefix, keeps the query and sends x-envoy-original-path', async () => {
    const r = await get('/api/items/7?color=red&n=2');
    expect(r.status).toBe(200);
    const echo = r.json();
    expect(echo.name).toBe('echo');
    expect(echo.url).toBe('/v2/items/7?color=red&n=2');
    expect(echo.headers['x-envoy-original-path']).toBe('/api/items/7?color=red&n=2');
    expect(echo.headers.host).toBe(HOST);
  });

  it('rewrite of an exact match replaces the whole path but keeps the query', async () => {
    const echo = (await get('/old-exact?k=v')).json();
    expect(echo.url).toBe('/new-exact?k=v');
  });

  it('authority rewrite changes the Host the upstream sees', async () => {
    const echo = (await get('/authority/x')).json();
    expect(echo.url).toBe('/authority/x');
    expect(echo.headers.host).toBe('rewritten.example');
  });

  it('unrewritten routes do not carry x-envoy-original-path', async () => {
    const echo = (await get('/plain')).json();
    expect(echo.name).toBe('echo2');
    expect(echo.headers['x-envoy-original-path']).toBeUndefined();
  });
});

describe('redirect and direct response', () => {
  it('redirect defaults to 301 with the new path on the same authority', async () => {
    const r = await get('/redir');
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe(`http://${HOST}/new-home`);
    expect(fx.upstreams.get('echo')!.requests.some((q) => q.url.startsWith('/redir'))).toBe(false);
    // Envoy path_redirect without a query keeps the request's query string
    const q = await get('/redir?a=1');
    expect(q.status).toBe(301);
    expect(q.headers.location).toBe(`http://${HOST}/new-home?a=1`);
  });

  it('redirectCode and authority', async () => {
    const r = await get('/moved/a?b=c');
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('http://elsewhere.example/moved/a?b=c');
  });

  it('directResponse answers with its status and body', async () => {
    const r = await get('/teapot');
    expect(r.status).toBe(418);
    expect(r.text).toBe('short and stout\n');
    const e = await get('/empty-direct');
    expect(e.status).toBe(204);
    expect(e.text).toBe('');
  });
});

describe('header operations', () => {
  it('route- and destination-level request set/add/remove reach the upstream', async () => {
    const r = await get('/hdrops', { 'x-set': 'client', 'x-add': 'client-value', 'x-remove': 'gone', 'x-dest-remove': 'gone', 'x-keep': 'kept' });
    expect(r.status).toBe(200);
    const h = r.json().headers;
    expect(h['x-set']).toBe('route');
    // add keeps the client's value and appends another
    const raw: string[] = r.json().rawHeaders;
    const adds = raw.filter((_, i) => i % 2 === 1 && raw[i - 1].toLowerCase() === 'x-add');
    expect(adds).toEqual(['client-value', 'route-added']);
    expect(h['x-remove']).toBeUndefined();
    expect(h['x-dest']).toBe('dest');
    expect(h['x-dest-remove']).toBeUndefined();
    expect(h['x-keep']).toBe('kept');
  });

  it('route- and destination-level response set/add/remove reach the client', async () => {
    const r = await get('/hdrops');
    expect(r.status).toBe(200);
    expect(r.headers['x-resp-set']).toBe('route');
    expect(r.headers['x-resp-add']).toBe('route-added');
    expect(r.headers['x-upstream']).toBeUndefined(); // the echo upstream sets it; the route removes it
    expect(r.headers['x-dest-resp']).toBe('dest');
    expect(r.headers['x-envoy-upstream-service-time']).toBeUndefined();
    // and a route without header ops leaves the upstream's headers alone
    const plain = await get('/plain');
    expect(plain.headers['x-upstream']).toBe('echo2');
    expect(plain.headers['x-resp-set']).toBeUndefined();
  });
});
