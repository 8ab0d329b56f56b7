// meshConfig.pathNormalization through the real proxy: routing (and, later, authorization) and the
// upstream see the normalized path; what cannot be normalized is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { rawExchange, rawStatus } from '../helpers/http.js';
import { gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

let app: Upstream;
const ports: Record<string, number> = {};

/** One gateway per mode: /admin* answers 403 from the route, everything else reaches the app. */
function mesh(port: number, mode?: string): string {
  const yaml = toYaml(
    serviceEntry({ name: 'app', host: svcHost('app'), port: 80, endpoints: [{ port: app.port }] }),
    gateway({ port }),
    virtualService('app', {
      hosts: ['*'],
      gateways: ['gw'],
      http: [
        { match: [{ uri: { prefix: '/admin' } }], directResponse: { status: 403, body: { string: 'admin is blocked' } } },
        { route: [{ destination: { host: svcHost('app'), port: { number: 80 } } }] },
      ],
    }),
  );
  return mode ? `${yaml}\n---\napiVersion: meshconfig.istio.io/v1alpha1\nkind: MeshConfig\npathNormalization: { normalization: ${mode} }\n` : yaml;
}

beforeAll(async () => {
  app = await startUpstream(undefined, 'app');
  const [base, none, merge, decode] = await freePorts(4);
  Object.assign(ports, { base, none, merge, decode });
  await Promise.all([
    startProxy({ yaml: mesh(base), args: GATEWAY_ARGS }),
    startProxy({ yaml: mesh(none, 'NONE'), args: GATEWAY_ARGS }),
    startProxy({ yaml: mesh(merge, 'MERGE_SLASHES'), args: GATEWAY_ARGS }),
    startProxy({ yaml: mesh(decode, 'DECODE_AND_MERGE_SLASHES'), args: GATEWAY_ARGS }),
  ]);
});

afterAll(async () => {
  await stopAllProxies();
  await app.close();
});

async function get(mode: string, path: string): Promise<{ status: number; upstreamSaw?: string }> {
  const before = app.requests.length;
  const r = await rawExchange(ports[mode], `GET ${path} HTTP/1.1\r\nhost: shop.example.com\r\nconnection: close\r\n\r\n`);
  return { status: rawStatus(r.data), ...(app.requests.length > before ? { upstreamSaw: app.requests.at(-1)!.url } : {}) };
}

describe('pathNormalization', () => {
  it('BASE (the default): dot segments cannot sneak past a route; the upstream gets the normalized path', async () => {
    expect(await get('base', '/public/../admin/users')).toEqual({ status: 403 });
    expect(await get('base', '/public/%2e%2e/admin')).toEqual({ status: 403 });
    expect(await get('base', '/public/./a/../b?x=../y')).toEqual({ status: 200, upstreamSaw: '/public/b?x=../y' });
    expect(await get('base', '/%61dmin')).toEqual({ status: 403 });
    expect(await get('base', '/ok#fragment')).toEqual({ status: 200, upstreamSaw: '/ok' });
  });

  it('BASE keeps double slashes and encoded slashes (the modes after it merge and decode them)', async () => {
    expect(await get('base', '//admin')).toEqual({ status: 200, upstreamSaw: '//admin' });
    expect(await get('merge', '//admin')).toEqual({ status: 403 });
    expect(await get('merge', '/x/..%2Fadmin')).toEqual({ status: 200, upstreamSaw: '/x/..%2Fadmin' });
    expect(await get('decode', '/x/..%2Fadmin')).toEqual({ status: 403 });
    expect(await get('decode', '/public%2Fpage')).toEqual({ status: 200, upstreamSaw: '/public/page' });
  });

  it('NONE: the path is routed as sent', async () => {
    expect(await get('none', '/public/../admin')).toEqual({ status: 200, upstreamSaw: '/public/../admin' });
  });

  it('an encoded NUL or a malformed escape is refused with 400 before routing, in every mode', async () => {
    for (const mode of ['base', 'none', 'decode']) {
      expect(await get(mode, '/a%00b'), mode).toEqual({ status: 400 });
      expect(await get(mode, '/a%zz'), mode).toEqual({ status: 400 });
    }
  });
});
