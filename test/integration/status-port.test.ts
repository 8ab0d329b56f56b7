// The status port (pilot-agent's 15020), as outrigger inject's sidecars run it: readiness, the
// app's probes injection sent there (ISTIO_KUBE_APP_PROBERS: HTTP and TCP, run against the
// app), and POST /quitquitquit ending the proxy (a Job's last step).
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';

let proxy: RunningProxy;
let status: number;
let app: Server;
let tcp: TcpServer;
let closed: number;
const seen: string[] = [];

beforeAll(async () => {
  let appPort: number;
  let tcpPort: number;
  [status, appPort, tcpPort, closed] = await freePorts(4);
  app = createServer((req, res) => {
    seen.push(`${req.url} ${req.headers['x-probe'] ?? ''}`);
    res.statusCode = req.url === '/ok' ? 200 : 500;
    res.end();
  });
  await new Promise<void>((r) => app.listen(appPort, '127.0.0.1', () => r()));
  tcp = createTcpServer((s) => s.destroy());
  await new Promise<void>((r) => tcp.listen(tcpPort, '127.0.0.1', () => r()));
  const probers = {
    '/app-health/web/readyz': { httpGet: { path: '/ok', port: appPort, httpHeaders: [{ name: 'x-probe', value: 'ready' }] } },
    '/app-health/web/livez': { httpGet: { path: '/bad', port: appPort } },
    '/app-health/web/startupz': { tcpSocket: { port: tcpPort } },
    '/app-lifecycle/web/prestopz': { tcpSocket: { port: closed } },
  };
  proxy = await startProxy({ yaml: '', args: ['--status-port', String(status)], env: { ISTIO_KUBE_APP_PROBERS: JSON.stringify(probers), INSTANCE_IP: '127.0.0.1' } });
});

afterAll(async () => {
  await stopAllProxies();
  app?.close();
  tcp?.close();
});

const get = async (path: string, method = 'GET') => (await fetch(`http://127.0.0.1:${status}${path}`, { method })).status;

describe('the status port', () => {
  it('readiness as the health port says it', async () => {
    expect(await get('/healthz/ready')).toBe(200);
  });

  it("the app's probes: its HTTP status (headers sent), a TCP connect, 503 when nothing listens, 404 for a path injection did not write", async () => {
    expect(await get('/app-health/web/readyz')).toBe(200);
    expect(seen).toContain('/ok ready');
    expect(await get('/app-health/web/livez')).toBe(500);
    expect(await get('/app-health/web/startupz')).toBe(200);
    expect(await get('/app-lifecycle/web/prestopz')).toBe(503);
    expect(await get('/app-health/other/readyz')).toBe(404);
  });

  it('POST /quitquitquit: the proxy drains and exits 0 (GET is refused)', async () => {
    expect(await get('/quitquitquit')).toBe(405);
    expect(proxy.alive()).toBe(true);
    expect(await get('/quitquitquit', 'POST')).toBe(200);
    const exit = await proxy.stop(10_000);
    expect(exit.code).toBe(0);
  });
});
