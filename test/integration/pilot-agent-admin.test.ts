// The admin API as pilot-agent uses it, replayed verbatim with curl: the readiness queries
// (pilot/cmd/pilot-agent/status/util/stats.go), the drain (`/drain_listeners?inboundonly&graceful`,
// pkg/envoy/admin.go) and EXIT_ON_ZERO_ACTIVE_CONNECTIONS' `downstream_cx_active$` poll
// (pkg/envoy/agent.go), each answer parsed as pilot-agent's Go code parses it.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as connectH2 } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { connectOutcome, namedSlowUpstream, promValue, waitFor } from '../helpers/lifecycle.js';
import { serviceEntry, sidecar, toYaml } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { sleep, startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import type { Upstream } from '../helpers/upstream.js';

const run = promisify(execFile);
let app: Upstream;

beforeAll(async () => {
  app = await namedSlowUpstream('app');
});
afterEach(async () => {
  await stopAllProxies();
});
afterAll(async () => {
  await app?.close();
});

/** `curl` as pilot-agent's HTTP client sends it: GET, or POST for the drain. */
async function curl(port: number, path: string, method = 'GET'): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['-s', '-X', method, '-w', '\n%{http_code}', '--max-time', '3', `http://127.0.0.1:${port}${path}`]);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

/** pilot-agent's parseStats: per line, the first line starting with the stat's name; `name: value` split on ':'; ParseUint. */
function parseStatsLikePilotAgent(body: string, names: string[]): { values: Record<string, number>; errors: string[] } {
  const values: Record<string, number> = {};
  const errors: string[] = [];
  for (const line of body.split(/(?<=\n)/)) {
    for (const name of names) {
      if (name in values || !line.startsWith(name)) continue;
      const parts = line.split(':');
      if (parts.length !== 2) {
        errors.push(`envoy stat ${name} missing separator. line:${line}`);
        values[name] = 0;
        continue;
      }
      const text = parts[1]!.trim();
      if (!/^\d+$/.test(text)) errors.push(`failed parsing Envoy stat ${name}: ${line}`);
      values[name] = Number(text);
    }
  }
  return { values, errors };
}

/** pilot-agent's activeProxyConnections: the listener.* downstream_cx_active lines (not per worker, not its own listeners), summed; -1 for an empty answer. */
function activeConnectionsLikePilotAgent(body: string, known: string[]): number {
  if (body.length === 0) return -1;
  let n = 0;
  for (const line of body.split('\n')) {
    const parts = line.split(':');
    if (parts.length !== 2) continue;
    if (!parts[0]!.startsWith('listener.') || parts[0]!.includes('worker_') || known.includes(parts[0]!)) continue;
    n += Number(parts[1]!.trim());
  }
  return n;
}

const UPDATE_QUERY = '/stats?usedonly&filter=^(cluster_manager\\.cds|listener_manager\\.lds)\\.(update_success|update_rejected)$';
const READY_QUERY = '/stats?usedonly&filter=^(server\\.state|listener_manager\\.workers_started)';
const ACTIVE_QUERY = '/stats?usedonly&filter=downstream_cx_active$';

/** A sidecar with an inbound listener (Sidecar ingress, direction INBOUND) and an outbound one (egress, OUTBOUND), both to `app`. */
async function startSidecar(drainSeconds: number): Promise<{ proxy: RunningProxy; inbound: number; outbound: number }> {
  const [outbound, inbound] = await freePorts(2);
  const yaml = toYaml(
    serviceEntry({ name: 'app', host: svcHost('app'), port: outbound, endpoints: [{ port: app.port }] }),
    sidecar('default', {
      egress: [{ port: { number: outbound, protocol: 'HTTP', name: 'http-egress' }, captureMode: 'NONE', hosts: ['./*'] }],
      ingress: [{ port: { number: inbound, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', defaultEndpoint: `127.0.0.1:${app.port}` }],
    }),
  );
  // as pilot-agent runs with EXIT_ON_ZERO_ACTIVE_CONNECTIONS: the drain polls downstream_cx_active, so the stats keep it
  const proxy = await startProxy({ yaml, args: ['--mode', 'sidecar', '--namespace', 'default', '--drain-duration', String(drainSeconds), '--no-watch'], env: { EXIT_ON_ZERO_ACTIVE_CONNECTIONS: 'true' } });
  return { proxy, inbound: inbound!, outbound: outbound! };
}

interface Reply {
  status: number;
  headers: Record<string, string>;
}

/** An HTTP/1.1 keep-alive client on one raw connection: requests one after the other; `closed` when the server closes it. */
function keepAlive(port: number, host: string): { get(path: string): Promise<Reply>; closed: Promise<void>; isClosed(): boolean; destroy(): void } {
  const sock: Socket = connect({ host: '127.0.0.1', port });
  sock.setEncoding('latin1');
  let buffer = '';
  let waiting: ((r: Reply) => void) | undefined;
  let failing: ((e: Error) => void) | undefined;
  let closedFlag = false;
  const closed = new Promise<void>((resolve) =>
    sock.once('close', () => {
      closedFlag = true;
      failing?.(new Error('closed'));
      resolve();
    }),
  );
  sock.on('error', () => {});
  sock.on('data', (d: string) => {
    buffer += d;
    const end = buffer.indexOf('\r\n\r\n');
    if (end < 0 || !waiting) return;
    const lines = buffer.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
    const len = Number(headers['content-length'] ?? 0);
    if (buffer.length < end + 4 + len) return;
    buffer = buffer.slice(end + 4 + len);
    const done = waiting;
    waiting = undefined;
    done({ status: Number(lines[0]!.split(' ')[1]), headers });
  });
  return {
    get: (path) =>
      new Promise<Reply>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('client timeout')), 3_000);
        waiting = (r) => {
          clearTimeout(timer);
          resolve(r);
        };
        failing = (e) => {
          clearTimeout(timer);
          reject(e);
        };
        sock.write(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
      }),
    closed,
    isClosed: () => closedFlag,
    destroy: () => sock.destroy(),
  };
}

describe("pilot-agent's readiness queries", () => {
  it('update stats: cds and lds update_success counted for the loaded config; then server.state: 0 and workers_started: 1', async () => {
    const { proxy } = await startSidecar(2);
    const updates = await curl(proxy.ports.admin, UPDATE_QUERY);
    expect(updates.status).toBe(200);
    // pasted in the report
    process.stdout.write(`curl '${UPDATE_QUERY}':\n${updates.body}`);
    expect(updates.body).toBe('cluster_manager.cds.update_success: 1\nlistener_manager.lds.update_success: 1\n');
    const u = parseStatsLikePilotAgent(updates.body, ['cluster_manager.cds.update_success', 'cluster_manager.cds.update_rejected', 'listener_manager.lds.update_success', 'listener_manager.lds.update_rejected']);
    expect(u.errors).toEqual([]);
    expect(u.values['cluster_manager.cds.update_success']).toBeGreaterThan(0);
    expect(u.values['listener_manager.lds.update_success']).toBeGreaterThan(0);

    const ready = await curl(proxy.ports.admin, READY_QUERY);
    process.stdout.write(`curl '${READY_QUERY}':\n${ready.body}`);
    // GetReadinessStats: both names present, server.state 0 (LIVE), workers_started 1
    expect(ready.body).toContain('server.state');
    expect(ready.body).toContain('listener_manager.workers_started');
    const r = parseStatsLikePilotAgent(ready.body, ['server.state', 'listener_manager.workers_started']);
    expect(r.errors).toEqual([]);
    expect(r.values).toEqual({ 'server.state': 0, 'listener_manager.workers_started': 1 });
    // and in Prometheus, named as Envoy exports them
    const prom = (await curl(proxy.ports.stats, '/stats/prometheus')).body;
    expect(promValue(prom, 'envoy_listener_manager_lds_update_success')).toBe(1);
    expect(promValue(prom, 'envoy_cluster_manager_cds_update_success')).toBe(1);
    expect(promValue(prom, 'envoy_listener_manager_workers_started')).toBe(1);
    expect(prom).toContain('# TYPE envoy_listener_manager_lds_update_success counter');

    // fed by files: a rejected reload (SIGHUP; the file watcher is off, so there is exactly one) counts as an LDS and a CDS update_rejected, the last good config stays
    await writeFile(join(proxy.configDir, 'broken.yaml'), 'apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: broken}\nspec: {hosts: [x], http: [{route: [{destination: {host: x}, weight: lots}]}]}\n');
    process.kill(proxy.pid, 'SIGHUP');
    const rejected = await waitFor(async () => {
      const body = (await curl(proxy.ports.admin, UPDATE_QUERY)).body;
      return body.includes('update_rejected') ? body : '';
    }, 3_000, 50);
    expect(rejected).toBe('cluster_manager.cds.update_rejected: 1\ncluster_manager.cds.update_success: 1\nlistener_manager.lds.update_rejected: 1\nlistener_manager.lds.update_success: 1\n');
  });
});

describe("pilot-agent's drain: POST /drain_listeners?inboundonly&graceful", () => {
  it('inbound: keeps accepting for the drain period, answers with connection: close, then stops; outbound keeps serving', async () => {
    const { proxy, inbound, outbound } = await startSidecar(2);
    const idleIn = keepAlive(inbound, 'app');
    expect((await idleIn.get('/before')).status).toBe(200);
    const out = keepAlive(outbound, svcHost('app'));
    expect((await out.get('/before')).headers.connection).toBeUndefined();

    const drain = await curl(proxy.ports.admin, '/drain_listeners?inboundonly&graceful', 'POST');
    expect(drain).toEqual({ status: 200, body: 'OK\n' });
    const t = Date.now();
    // the idle inbound keep-alive connection is told to close (immediate strategy)
    await Promise.race([idleIn.closed, sleep(1_000)]);
    expect(idleIn.isClosed(), 'the idle inbound connection stayed open').toBe(true);
    // during the drain period the inbound listener still accepts; its answers close the connection
    const during = keepAlive(inbound, 'app');
    const reply = await during.get('/during');
    expect(reply.status).toBe(200);
    expect(reply.headers.connection).toBe('close');
    await Promise.race([during.closed, sleep(1_000)]);
    expect(during.isClosed()).toBe(true);
    // HTTP/2 (h2c): a stream during the drain period is answered, then GOAWAY at once (not when the period ends)
    const h2 = connectH2(`http://127.0.0.1:${inbound}`);
    h2.on('error', () => {});
    const goaway = new Promise<boolean>((resolve) => {
      h2.once('goaway', () => resolve(true));
      setTimeout(() => resolve(false), 500).unref();
    });
    const h2Status = await new Promise<number>((resolve, reject) => {
      const req = h2.request({ ':path': '/during-h2', ':authority': 'app' });
      req.on('response', (h) => resolve(Number(h[':status'])));
      req.on('error', reject);
      req.resume();
      req.end();
    });
    expect(h2Status).toBe(200);
    expect(await goaway, 'no GOAWAY on an HTTP/2 connection to the draining listener').toBe(true);
    h2.destroy();
    // the outbound keep-alive connection is not drained
    expect((await out.get('/during')).headers.connection).toBeUndefined();
    expect(out.isClosed()).toBe(false);
    // server.state DRAINING (1), readiness fails
    const state = parseStatsLikePilotAgent((await curl(proxy.ports.admin, READY_QUERY)).body, ['server.state']);
    expect(state.values['server.state']).toBe(1);
    // EXIT_ON_ZERO_ACTIVE_CONNECTIONS: the outbound connection still counts
    const active = await curl(proxy.ports.admin, ACTIVE_QUERY);
    process.stdout.write(`curl '${ACTIVE_QUERY}' (drain period, one outbound connection open):\n${active.body}`);
    expect(activeConnectionsLikePilotAgent(active.body, [])).toBe(1);

    // after the drain period (--drain-duration 2) the inbound listener stops; outbound goes on
    const stoppedAt = await waitFor(async () => ((await connectOutcome(inbound, 500)) === 'refused' ? Date.now() : 0), 4_000, 50);
    expect(stoppedAt, 'the inbound listener still accepts after the drain period').toBeDefined();
    expect(stoppedAt! - t).toBeGreaterThanOrEqual(1_500);
    expect((await out.get('/after')).status).toBe(200);
    const fresh = keepAlive(outbound, svcHost('app'));
    expect((await fresh.get('/after')).headers.connection).toBeUndefined();
    out.destroy();
    fresh.destroy();
    expect(await waitFor(async () => activeConnectionsLikePilotAgent((await curl(proxy.ports.admin, ACTIVE_QUERY)).body, []) <= 0, 2_000, 50)).toBe(true);
    expect(proxy.alive(), '/drain_listeners never exits').toBe(true);
  });

  it('skip_exit needs graceful (400, as Envoy); with graceful the listeners keep accepting after the drain period', async () => {
    const { proxy, inbound } = await startSidecar(1);
    expect(await curl(proxy.ports.admin, '/drain_listeners?skip_exit', 'POST')).toEqual({ status: 400, body: 'skip_exit requires graceful\n' });
    expect(await curl(proxy.ports.admin, '/drain_listeners?inboundonly&graceful&skip_exit', 'POST')).toEqual({ status: 200, body: 'OK\n' });
    await sleep(1_500);
    const c = keepAlive(inbound, 'app');
    const reply = await c.get('/after');
    expect(reply.status).toBe(200);
    expect(reply.headers.connection).toBe('close');
    c.destroy();
  });
});
