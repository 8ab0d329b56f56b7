// The status port (pilot-agent's 15020), as outrigger inject's sidecars run it: readiness, the
// app's probes injection sent there (ISTIO_KUBE_APP_PROBERS: HTTP, TCP and gRPC health checks,
// run against the app), and POST /quitquitquit ending the proxy (a Job's last step).
import * as grpc from '@grpc/grpc-js';
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
let health: grpc.Server;
const seen: string[] = [];

/** grpc.health.v1.Health/Check: SERVING (1) for every service but "down" (NOT_SERVING, 2). */
async function startHealthServer(port: number): Promise<grpc.Server> {
  const server = new grpc.Server();
  const request = (b: Buffer) => ({ service: b.length ? b.subarray(2).toString('utf8') : '' });
  server.addService(
    { Check: { path: '/grpc.health.v1.Health/Check', requestStream: false, responseStream: false, requestSerialize: (x: Buffer) => x, requestDeserialize: request, responseSerialize: (status: number) => Buffer.from([0x08, status]), responseDeserialize: (b: Buffer) => b } },
    { Check: (call: grpc.ServerUnaryCall<{ service: string }, number>, cb: grpc.sendUnaryData<number>) => cb(null, call.request.service === 'down' ? 2 : 1) },
  );
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())));
  return server;
}

beforeAll(async () => {
  let appPort: number;
  let tcpPort: number;
  let grpcPort: number;
  [status, appPort, tcpPort, closed, grpcPort] = await freePorts(5);
  health = await startHealthServer(grpcPort);
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
    '/app-health/grpc/livez': { grpc: { port: grpcPort } },
    '/app-health/grpc/readyz': { grpc: { port: grpcPort, service: 'down' } },
    '/app-health/grpc/startupz': { grpc: { port: closed }, timeoutSeconds: 1 },
  };
  proxy = await startProxy({ yaml: '', args: ['--status-port', String(status)], env: { ISTIO_KUBE_APP_PROBERS: JSON.stringify(probers), INSTANCE_IP: '127.0.0.1' } });
});

afterAll(async () => {
  await stopAllProxies();
  app?.close();
  tcp?.close();
  health?.forceShutdown();
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

  it('gRPC health checks: SERVING is 200, NOT_SERVING and no server 503', async () => {
    expect(await get('/app-health/grpc/livez')).toBe(200);
    expect(await get('/app-health/grpc/readyz')).toBe(503);
    expect(await get('/app-health/grpc/startupz')).toBe(503);
  });

  it('POST /quitquitquit: the proxy drains and exits 0 (GET is refused)', async () => {
    expect(await get('/quitquitquit')).toBe(405);
    expect(proxy.alive()).toBe(true);
    expect(await get('/quitquitquit', 'POST')).toBe(200);
    // it exits by itself (no signal), 0 once drained
    for (let i = 0; i < 200 && proxy.alive(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(proxy.alive(), proxy.stderr()).toBe(false);
    expect(await proxy.stop()).toEqual({ code: 0, signal: null });
  });
});
