// Sidecar mode: the virtualOutbound listener routing by Host across services, absolute-form
// (explicit proxy) requests, and Sidecar egress/ingress listeners.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { curl, httpRequest, newAgent, rawExchange } from '../helpers/http.js';
import { connectOutcome } from '../helpers/lifecycle.js';
import { serviceEntry, sidecar, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let proxy: RunningProxy;
let out: number;
let egressPort: number;
let ingressPort: number;
const ups: Record<string, Upstream> = {};
const agent = newAgent();

beforeAll(async () => {
  for (const n of ['reviews', 'web', 'ratings', 'egress-svc', 'other-eg', 'app']) ups[n] = await startUpstream(undefined, n);
  [egressPort, ingressPort] = await freePorts(2);
  const yaml = toYaml(
    serviceEntry({ name: 'reviews', host: svcHost('reviews'), port: 9080, endpoints: [{ port: ups.reviews.port }] }),
    serviceEntry({ name: 'web', host: svcHost('web'), port: 80, endpoints: [{ port: ups.web.port }] }),
    serviceEntry({ name: 'ratings', namespace: 'other', host: svcHost('ratings', 'other'), port: 9080, endpoints: [{ port: ups.ratings.port }] }),
    serviceEntry({ name: 'egress-svc', host: svcHost('egress-svc'), port: egressPort, endpoints: [{ port: ups['egress-svc'].port }] }),
    serviceEntry({ name: 'other-eg', namespace: 'other', host: svcHost('other-eg', 'other'), port: egressPort, endpoints: [{ port: ups['other-eg'].port }] }),
    virtualService('reviews', {
      hosts: ['reviews'],
      http: [
        { match: [{ uri: { prefix: '/special' } }], route: [{ destination: { host: 'web', port: { number: 80 } } }] },
        { route: [{ destination: { host: 'reviews' } }] },
      ],
    }),
    sidecar('default', {
      egress: [
        { port: { number: egressPort, protocol: 'HTTP', name: 'http-egress' }, captureMode: 'NONE', hosts: ['./*'] },
        { hosts: ['*/*'] },
      ],
      ingress: [{ port: { number: ingressPort, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', defaultEndpoint: `127.0.0.1:${ups.app.port}` }],
    }),
  );
  proxy = await startProxy({ yaml, args: ['--mode', 'sidecar', '--namespace', 'default'] });
  out = proxy.ports.outbound;
});

afterAll(async () => {
  await stopAllProxies();
  await Promise.all(Object.values(ups).map((u) => u.close()));
  await agent.close();
});

async function via(port: number, host: string, path = '/', headers?: Record<string, string>) {
  return httpRequest(port, { host, path, headers, dispatcher: agent });
}
async function who(port: number, host: string, path = '/'): Promise<string> {
  const r = await via(port, host, path);
  return r.status === 200 ? r.json().name : `status ${r.status}`;
}

describe('capture listeners', () => {
  it('are bound on --outbound-port and --inbound-port', async () => {
    const r = await fetch(`http://127.0.0.1:${proxy.ports.admin}/listeners`);
    const text = await r.text();
    expect(text).toContain(`virtualOutbound::0.0.0.0:${proxy.ports.outbound}\n`);
    expect(text).toContain(`virtualInbound::0.0.0.0:${proxy.ports.inbound}\n`);
    expect(await connectOutcome(proxy.ports.inbound)).toBe('connected');
  });

  it('a connection made straight to the inbound port is closed (it would loop into itself), never answered', async () => {
    const r = await rawExchange(proxy.ports.inbound, 'GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    expect(r).toMatchObject({ data: '', closed: true });
  });
});

describe('virtualOutbound: routing by Host', () => {
  it('FQDN with the service port', async () => {
    expect(await who(out, 'reviews.default.svc.cluster.local:9080')).toBe('reviews');
    expect(await who(out, 'ratings.other.svc.cluster.local:9080')).toBe('ratings');
  });

  it('bare host only for port 80', async () => {
    expect(await who(out, 'web.default.svc.cluster.local')).toBe('web');
    expect(await who(out, 'web.default.svc.cluster.local:80')).toBe('web');
    expect(await who(out, 'reviews.default.svc.cluster.local')).toBe('status 404');
  });

  it('short names: <name> in the proxy namespace, <name>.<ns> and <name>.<ns>.svc anywhere', async () => {
    expect(await who(out, 'reviews:9080')).toBe('reviews');
    expect(await who(out, 'web')).toBe('web');
    expect(await who(out, 'reviews.default:9080')).toBe('reviews');
    expect(await who(out, 'ratings.other:9080')).toBe('ratings');
    expect(await who(out, 'ratings.other.svc:9080')).toBe('ratings');
    expect(await who(out, 'ratings:9080')).toBe('status 404'); // another namespace's short name
  });

  it('unknown host or wrong port → 404', async () => {
    expect(await who(out, 'nope.default.svc.cluster.local:9080')).toBe('status 404');
    expect(await who(out, 'reviews.default.svc.cluster.local:9999')).toBe('status 404');
  });

  it('a mesh VirtualService applies on the outbound listener', async () => {
    expect(await who(out, 'reviews:9080', '/special/x')).toBe('web');
    expect(await who(out, 'reviews:9080', '/other')).toBe('reviews');
  });

  it('sidecar outbound is not an edge: no x-forwarded-for added, x-envoy-* kept, Host unchanged', async () => {
    const r = await via(out, 'reviews.default.svc.cluster.local:9080', '/h', { 'x-envoy-test': '1' });
    const h = r.json().headers;
    expect(h['x-forwarded-for']).toBeUndefined();
    expect(h['x-envoy-test']).toBe('1');
    expect(h.host).toBe('reviews.default.svc.cluster.local:9080');
    expect(h['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('virtualOutbound: absolute-form requests (curl -x)', () => {
  it('http://host/path goes to the service, upstream sees origin-form path and the Host', async () => {
    const r = await curl(['-x', `http://127.0.0.1:${out}`, 'http://web.default.svc.cluster.local/path/a?q=1']);
    expect(r.code, r.stderr).toBe(0);
    const echo = JSON.parse(r.stdout);
    expect(echo.name).toBe('web');
    expect(echo.url).toBe('/path/a?q=1');
    expect(echo.headers.host).toBe('web.default.svc.cluster.local');
  });

  it('http://host:port/path', async () => {
    const r = await curl(['-x', `http://127.0.0.1:${out}`, 'http://reviews.default.svc.cluster.local:9080/r']);
    expect(r.code, r.stderr).toBe(0);
    const echo = JSON.parse(r.stdout);
    expect(echo.name).toBe('reviews');
    expect(echo.url).toBe('/r');
    expect(echo.headers.host).toBe('reviews.default.svc.cluster.local:9080');
    // curl's Proxy-Connection header is hop-by-hop
    expect(echo.headers['proxy-connection']).toBeUndefined();
  });

  it('absolute-form to an unknown host → 404', async () => {
    const r = await curl(['-x', `http://127.0.0.1:${out}`, '-o', '/dev/null', '-w', '%{http_code}', 'http://nope.example/x']);
    expect(r.stdout).toBe('404');
  });
});

describe('Sidecar resource listeners', () => {
  it('egress listener with a port (captureMode NONE) serves on 127.0.0.1 for the admitted hosts', async () => {
    expect(await who(egressPort, 'egress-svc.default.svc.cluster.local')).toBe('egress-svc');
    expect(await who(egressPort, `egress-svc.default.svc.cluster.local:${egressPort}`)).toBe('egress-svc');
    expect(await who(egressPort, 'egress-svc')).toBe('egress-svc');
    // hosts ["./*"]: another namespace's service on that port is not reachable here ...
    expect(await who(egressPort, 'other-eg.other.svc.cluster.local')).toBe('status 404');
    // ... but is on the catch-all outbound listener (hosts ["*/*"])
    expect(await who(out, `other-eg.other.svc.cluster.local:${egressPort}`)).toBe('other-eg');
    // and services on other ports are not on the egress listener
    expect(await who(egressPort, 'reviews.default.svc.cluster.local:9080')).toBe('status 404');
  });

  it('ingress listener forwards everything to its defaultEndpoint', async () => {
    const r = await via(ingressPort, 'anything.example', '/inbound/path?x=1');
    expect(r.status).toBe(200);
    expect(r.json().name).toBe('app');
    expect(r.json().url).toBe('/inbound/path?x=1');
    expect(r.json().headers.host).toBe('anything.example');
  });

  it('startup log names the listeners', () => {
    const ready = proxy.stderr().split('\n').find((l) => l.includes('ready:')) ?? '';
    expect(ready).toContain('virtualOutbound');
    expect(ready).toContain(`127.0.0.1:${egressPort}`);
    expect(ready).toContain(`:${ingressPort}`);
  });
});
