// Clients that leave while their ext_authz gRPC Check is in flight: the check is abandoned, nothing
// reaches the app or the TCP upstream, nothing is counted as a decision, and the proxy serves on.
import { connect, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { rawExchange, rawStatus } from '../helpers/http.js';
import { authorizationPolicy, authzServiceEntry, grpcProviderMesh, startAuthzServer, type AuthzServer } from '../helpers/ext-authz-grpc.js';
import { gateway, GATEWAY_ARGS, serviceEntry, sidecar, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { sleep, startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { eventually, scrape } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const CHECK_DELAY_MS = 300;

let app: Upstream;
let authz: AuthzServer;
let echo: Server;
let echoConnections = 0;
let gw: RunningProxy;
let side: RunningProxy;
let gwPort: number;
let tcpPort: number;

const mesh = grpcProviderMesh('slow');

beforeAll(async () => {
  app = await startUpstream(undefined, 'app');
  authz = await startAuthzServer(async () => {
    await sleep(CHECK_DELAY_MS);
    return { status: { code: 0 } };
  });
  echo = createServer((s) => {
    echoConnections++;
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const echoPort = (echo.address() as { port: number }).port;
  [gwPort, tcpPort] = await freePorts(2);
  gw = await startProxy({ allStats: true,
    yaml: [
      toYaml(
        serviceEntry({ name: 'app', host: svcHost('app'), port: 80, endpoints: [{ port: app.port }] }),
        authzServiceEntry(authz.port),
        gateway({ port: gwPort }),
        virtualService('app', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost('app'), port: { number: 80 } } }] }] }),
      ),
      authorizationPolicy('ext', { action: 'CUSTOM', provider: { name: 'slow' }, rules: [{}] }),
      mesh,
    ].join('---\n'),
    args: GATEWAY_ARGS,
  });
  side = await startProxy({ allStats: true,
    yaml: [
      toYaml(authzServiceEntry(authz.port), sidecar('default', { ingress: [{ port: { number: tcpPort, protocol: 'TCP', name: 'tcp' }, captureMode: 'NONE', defaultEndpoint: `127.0.0.1:${echoPort}` }] })),
      authorizationPolicy('ext-tcp', { action: 'CUSTOM', provider: { name: 'slow' }, rules: [{}] }),
      mesh,
    ].join('---\n'),
    args: ['--mode', 'sidecar', '--namespace', 'default'],
  });
});

afterAll(async () => {
  await stopAllProxies();
  await app.close();
  await authz.close();
  await new Promise((r) => echo.close(r));
});

describe('ext_authz gRPC: the client leaves during the Check', () => {
  it('HTTP: the request never reaches the app and is not counted as a decision; the next one is served', async () => {
    const checksBefore = authz.checks.length;
    const s = connect(gwPort, '127.0.0.1', () => s.write('GET /x HTTP/1.1\r\nhost: shop.example.com\r\n\r\n'));
    s.on('error', () => {});
    // the client leaves while its Check is at the provider
    expect(await eventually(() => authz.checks.length === checksBefore + 1, 2_000)).toBe(true);
    s.destroy();
    await sleep(CHECK_DELAY_MS + 200);
    expect(app.requests.length).toBe(0);
    const stats = await scrape(gw.ports.stats);
    expect(stats.sum('envoy_cluster_ext_authz_error') + stats.sum('envoy_cluster_ext_authz_ok')).toBe(0);
    const r = await rawExchange(gwPort, 'GET /y HTTP/1.1\r\nhost: shop.example.com\r\nconnection: close\r\n\r\n', 5000);
    expect(rawStatus(r.data)).toBe(200);
    expect(app.requests.length).toBe(1);
    expect(authz.checks.length).toBe(checksBefore + 2);
  });

  it('TCP, the client resets: no upstream connection is made, no check stays active; the next connection is proxied', async () => {
    const s = connect(tcpPort, '127.0.0.1', () => s.write('early bytes'));
    s.on('error', () => {});
    await sleep(50);
    // a reset: the connection is gone (a FIN is a half-close, and the proxy goes on as Envoy does)
    s.resetAndDestroy();
    await sleep(CHECK_DELAY_MS + 200);
    expect(echoConnections).toBe(0);
    const stats = await eventually(async () => {
      const x = await scrape(side.ports.stats);
      return x.sum('envoy_ext_authz_tcp_total') === 1 ? x : undefined;
    });
    expect(stats?.sum('envoy_ext_authz_tcp_active')).toBe(0);
    expect(stats!.sum('envoy_ext_authz_tcp_ok') + stats!.sum('envoy_ext_authz_tcp_error')).toBe(0);
    const echoed = await new Promise<string>((resolve) => {
      const c = connect(tcpPort, '127.0.0.1', () => c.write('ping'));
      c.on('data', (b) => (c.end(), resolve(b.toString())));
      c.on('error', () => resolve(''));
      setTimeout(() => (c.destroy(), resolve('')), 3000).unref();
    });
    expect(echoed).toBe('ping');
    expect(echoConnections).toBe(1);
  });
});
