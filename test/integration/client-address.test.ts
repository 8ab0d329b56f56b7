// The trusted client address through the real proxy: a gateway trusts numTrustedProxies hops of
// x-forwarded-for (meshConfig defaultConfig.gatewayTopology, or this proxy's PROXY_CONFIG) for
// AuthorizationPolicy remote.ip / remoteIpBlocks, x-envoy-external-address and the access log,
// while ipBlocks (source.ip) stays the connection peer; without trusted hops a forged XFF changes
// nothing. A sidecar's inbound (use_remote_address false) takes the last XFF address, as Envoy does.
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { rawExchange, rawStatus } from '../helpers/http.js';
import { gateway, GATEWAY_ARGS, serviceEntry, sidecar, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { accessLogEntry } from '../helpers/telemetry.js';
import { startUpstream, type Upstream, type SeenRequest } from '../helpers/upstream.js';

let app: Upstream;
let trustedPort: number;
let plainPort: number;
let ownPort: number;
let inboundPort: number;
let trusted: RunningProxy;

/** Allowed: /remote* from remote.ip 203.0.113.0/24, /direct* from source.ip 203.0.113.0/24, /open* from anyone. */
const POLICY = stringify({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name: 'by-address', namespace: 'default' },
  spec: {
    action: 'ALLOW',
    rules: [
      { from: [{ source: { remoteIpBlocks: ['203.0.113.0/24'] } }], to: [{ operation: { paths: ['/remote*'] } }] },
      { from: [{ source: { ipBlocks: ['203.0.113.0/24'] } }], to: [{ operation: { paths: ['/direct*'] } }] },
      { to: [{ operation: { paths: ['/open*'] } }] },
    ],
  },
});

const meshConfig = (numTrustedProxies: number) =>
  stringify({ apiVersion: 'meshconfig.istio.io/v1alpha1', kind: 'MeshConfig', defaultConfig: { gatewayTopology: { numTrustedProxies } } });

function gatewayConfig(port: number, ...extra: string[]): string {
  return [
    toYaml(
      serviceEntry({ name: 'app', host: svcHost('app'), port: 80, endpoints: [{ port: app.port }] }),
      gateway({ port }),
      virtualService('app', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost('app'), port: { number: 80 } } }] }] }),
    ),
    POLICY,
    ...extra,
  ].join('---\n');
}

beforeAll(async () => {
  app = await startUpstream(undefined, 'app');
  [trustedPort, plainPort, ownPort, inboundPort] = await freePorts(4);
  const noOwn = { PROXY_CONFIG: '' };
  trusted = await startProxy({ yaml: gatewayConfig(trustedPort, meshConfig(1)), args: [...GATEWAY_ARGS, '--access-log', 'json'], env: noOwn });
  await startProxy({ yaml: gatewayConfig(plainPort), args: GATEWAY_ARGS, env: noOwn });
  // this proxy's own ProxyConfig (istio-agent's PROXY_CONFIG) replaces the mesh's gatewayTopology
  await startProxy({ yaml: gatewayConfig(ownPort, meshConfig(1)), args: GATEWAY_ARGS, env: { PROXY_CONFIG: '{"gatewayTopology":{"numTrustedProxies":2,"forwardClientCertDetails":"ALWAYS_FORWARD_ONLY"}}' } });
  const sidecarYaml = [
    toYaml(sidecar('default', { ingress: [{ port: { number: inboundPort, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', defaultEndpoint: `127.0.0.1:${app.port}` }] })),
    POLICY,
  ].join('---\n');
  await startProxy({ yaml: sidecarYaml, args: ['--mode', 'sidecar', '--namespace', 'default'], env: noOwn });
});

afterAll(async () => {
  await stopAllProxies();
  await app.close();
});

async function get(port: number, path: string, xff?: string): Promise<{ status: number; seen?: SeenRequest; rid: string }> {
  const rid = `xff-${Math.random().toString(36).slice(2)}`;
  const before = app.requests.length;
  const head = `GET ${path} HTTP/1.1\r\nhost: shop.example.com\r\nx-request-id: ${rid}\r\n${xff !== undefined ? `x-forwarded-for: ${xff}\r\n` : ''}connection: close\r\n\r\n`;
  const r = await rawExchange(port, head);
  return { status: rawStatus(r.data), seen: app.requests.length > before ? app.requests.at(-1) : undefined, rid };
}

describe('gateway with gatewayTopology.numTrustedProxies: 1 (MeshConfig defaultConfig)', () => {
  it('remoteIpBlocks match the last XFF address (put there by the trusted proxy)', async () => {
    const r = await get(trustedPort, '/remote', '198.51.100.1, 203.0.113.7');
    expect(r.status).toBe(200);
    // Envoy: the trusted client address is x-envoy-external-address; the peer is appended to XFF
    expect(r.seen?.headers['x-envoy-external-address']).toBe('203.0.113.7');
    expect(r.seen?.headers['x-forwarded-for']).toBe('198.51.100.1, 203.0.113.7,127.0.0.1');
  });

  it('an address the client wrote further left is not trusted: denied', async () => {
    expect((await get(trustedPort, '/remote', '203.0.113.7, 198.51.100.1')).status).toBe(403);
  });

  it('no XFF: the client address is the connection peer (denied here)', async () => {
    const r = await get(trustedPort, '/open');
    expect(r.status).toBe(200);
    expect(r.seen?.headers['x-envoy-external-address']).toBe('127.0.0.1');
    expect((await get(trustedPort, '/remote')).status).toBe(403);
  });

  it('ipBlocks (source.ip) stay the connection peer whatever XFF says', async () => {
    expect((await get(trustedPort, '/direct', '203.0.113.7')).status).toBe(403);
  });

  it("the access log's downstream_remote_address is the XFF client, with port 0 as Envoy prints it", async () => {
    const r = await get(trustedPort, '/open', '203.0.113.9');
    expect(r.status).toBe(200);
    expect((await accessLogEntry(trusted, r.rid))?.downstream_remote_address).toBe('203.0.113.9:0');
    const direct = await get(trustedPort, '/open');
    expect(String((await accessLogEntry(trusted, direct.rid))?.downstream_remote_address)).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
  });

  it('x-forwarded-proto from the trusted proxy is kept (overwritten only with no trusted hop)', async () => {
    const before = app.requests.length;
    await rawExchange(trustedPort, 'GET /open HTTP/1.1\r\nhost: a\r\nx-forwarded-proto: https\r\nconnection: close\r\n\r\n');
    expect(app.requests.length).toBe(before + 1);
    expect(app.requests.at(-1)?.headers['x-forwarded-proto']).toBe('https');
  });
});

describe('gateway without numTrustedProxies', () => {
  it('a forged XFF does not change remote.ip: denied, and x-envoy-external-address is the peer', async () => {
    expect((await get(plainPort, '/remote', '203.0.113.7')).status).toBe(403);
    const open = await get(plainPort, '/open', '203.0.113.7');
    expect(open.seen?.headers['x-envoy-external-address']).toBe('127.0.0.1');
    expect(open.seen?.headers['x-forwarded-for']).toBe('203.0.113.7,127.0.0.1');
  });

  it('a client x-envoy-external-address is replaced, and x-forwarded-proto overwritten', async () => {
    const before = app.requests.length;
    await rawExchange(plainPort, 'GET /open HTTP/1.1\r\nhost: a\r\nx-envoy-external-address: 203.0.113.7\r\nx-forwarded-proto: https\r\nconnection: close\r\n\r\n');
    expect(app.requests.length).toBe(before + 1);
    const h = app.requests.at(-1)!.headers;
    expect(h['x-envoy-external-address']).toBe('127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
  });
});

describe("gateway with its own ProxyConfig (PROXY_CONFIG: numTrustedProxies 2 over the mesh's 1)", () => {
  it('the 2nd address from the right is the client', async () => {
    expect((await get(ownPort, '/remote', '203.0.113.7, 198.51.100.1')).status).toBe(200);
    expect((await get(ownPort, '/remote', '198.51.100.1, 203.0.113.7')).status).toBe(403);
    // fewer addresses than trusted hops: the peer
    expect((await get(ownPort, '/remote', '203.0.113.7')).status).toBe(403);
  });

  it('its forwardClientCertDetails ALWAYS_FORWARD_ONLY forwards a client XFCC even over plaintext (the default drops it)', async () => {
    const xfcc = (port: number) =>
      rawExchange(port, 'GET /open HTTP/1.1\r\nhost: a\r\nx-forwarded-client-cert: Hash=00\r\nconnection: close\r\n\r\n').then(() => app.requests.at(-1)?.headers['x-forwarded-client-cert']);
    expect(await xfcc(ownPort)).toBe('Hash=00');
    expect(await xfcc(trustedPort)).toBeUndefined();
  });
});

describe('sidecar inbound (use_remote_address false, as istiod sets it)', () => {
  it('remote.ip is the last XFF address; without XFF the peer; XFF is forwarded unchanged', async () => {
    const r = await get(inboundPort, '/remote', '198.51.100.1, 203.0.113.7');
    expect(r.status).toBe(200);
    expect(r.seen?.headers['x-forwarded-for']).toBe('198.51.100.1, 203.0.113.7');
    expect(r.seen?.headers['x-envoy-external-address']).toBeUndefined();
    expect((await get(inboundPort, '/remote')).status).toBe(403);
    expect((await get(inboundPort, '/direct', '203.0.113.7')).status).toBe(403);
  });
});
