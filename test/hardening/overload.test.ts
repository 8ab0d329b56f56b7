// Overload protection with a real proxy: downstream connection limits (global across workers, per
// listener, and by default from the descriptor limit) refuse the excess at once — closed, never
// hung —, count it, keep serving the connections already open, and never touch the admin, stats
// and health ports; the overload manager's actions (heap, or Envoy's injected resource) refuse new
// connections, then answer new requests 503 "envoy overloaded" (flag OM) and stop keep-alive, and
// recover when the pressure falls.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_MAX_CONNECTIONS } from '../../src/admin/connection-cap.js';
import { svcHost } from '../helpers/fixtures.js';
import { GATEWAY_ARGS, gateway, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { runCli, sleep, startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { accessLogEntries, eventually, plainRequest, scrape } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

/** A refused connection must be closed by the proxy within this (it is closed at accept). */
const REFUSED_WITHIN_MS = 1_000;
/** How long an overload gauge may take to follow the pressure (the manager samples every 250 ms). */
const GAUGE_WITHIN_MS = 3_000;
const ACTION = 'envoy_overload_envoy_overload_actions';

interface Response {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * A raw HTTP/1.1 keep-alive connection: requests go out as written, responses are read by
 * content-length, and it records when the proxy closed it.
 */
class Conn {
  closedAt: number | undefined;
  private buf = '';
  private wake: (() => void) | undefined;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      this.wake?.();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closedAt = Date.now();
      this.wake?.();
    });
  }

  /** Connects (resolves once the kernel accepted the TCP connection, or it failed). */
  static open(port: number): Promise<Conn> {
    const c = new Conn(connect({ host: '127.0.0.1', port }));
    return new Promise((resolve) => {
      c.socket.once('connect', () => resolve(c));
      c.socket.once('close', () => resolve(c));
    });
  }

  send(bytes: string): void {
    if (!this.socket.destroyed) this.socket.write(bytes, 'latin1');
  }

  /** One GET; rejects if the connection closes first or no answer comes in time. */
  async get(path = '/', timeoutMs = 5_000): Promise<Response> {
    this.send(`GET ${path} HTTP/1.1\r\nhost: overload.test\r\n\r\n`);
    return this.response(timeoutMs);
  }

  /** The next complete response. */
  async response(timeoutMs = 5_000): Promise<Response> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 10_000; i++) {
      const r = this.take();
      if (r) return r;
      if (this.closedAt !== undefined) throw new Error(`closed by the proxy before a response (${JSON.stringify(this.buf.slice(0, 80))})`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no response in time');
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => (clearTimeout(t), r());
      });
    }
    throw new Error('unreachable');
  }

  /** True once the proxy closed the connection, false if it is still open after `timeoutMs`. */
  async closedWithin(timeoutMs: number): Promise<boolean> {
    return eventually(() => this.closedAt !== undefined, timeoutMs, 10);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private take(): Response | undefined {
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const [statusLine, ...lines] = this.buf.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const colon = l.indexOf(':');
      headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (this.buf.length < end + 4 + length) return undefined;
    const body = this.buf.slice(end + 4, end + 4 + length);
    this.buf = this.buf.slice(end + 4 + length);
    return { status: Number(statusLine.split(' ')[1]), headers, body };
  }
}

function openMany(port: number, n: number): Promise<Conn[]> {
  return Promise.all(Array.from({ length: n }, () => Conn.open(port)));
}

/** The admin API, the Prometheus port and readiness: each must answer 200 right now. */
async function controlPlaneAnswers(p: RunningProxy): Promise<void> {
  expect((await plainRequest(p.ports.health, '/healthz/ready', { timeoutMs: 2_000 })).status).toBe(200);
  expect((await plainRequest(p.ports.admin, '/ready', { timeoutMs: 2_000 })).text).toBe('LIVE\n');
  expect((await plainRequest(p.ports.stats, '/stats/prometheus', { timeoutMs: 2_000 })).status).toBe(200);
}

let echo: Upstream;
let tmp: string;

/** One gateway server per port, all routed to the echo upstream. */
function gatewayYaml(ports: number[]): string {
  return toYaml(
    ...ports.map((port, i) => gateway({ name: `gw${i}`, port })),
    serviceEntry({ name: 'echo', host: svcHost('echo'), endpoints: [{ port: echo.port }] }),
    virtualService('all', { hosts: ['*'], gateways: ports.map((_, i) => `gw${i}`), http: [{ route: [{ destination: { host: svcHost('echo') } }] }] }),
  );
}

const listenerLabel = (port: number) => ({ envoy_listener_address: `0.0.0.0_${port}` });

beforeAll(async () => {
  echo = await startUpstream(undefined, 'echo');
  tmp = await mkdtemp(join(tmpdir(), 'outrigger-overload-'));
});

afterAll(async () => {
  await stopAllProxies();
  await echo?.close();
  await rm(tmp, { recursive: true, force: true });
});

describe('downstream connection limits', () => {
  it('--max-downstream-connections holds across workers: the excess is closed at once and counted, the rest keep working', async () => {
    const [gw] = await freePorts(1);
    const p = await startProxy({ allStats: true, yaml: gatewayYaml([gw]), workers: 2, args: [...GATEWAY_ARGS, '--max-downstream-connections', '50'] });
    const held = await openMany(gw, 50);
    for (const r of await Promise.all(held.map((c) => c.get()))) expect(r.status).toBe(200);

    const excess = await openMany(gw, 20);
    for (const c of excess) c.send('GET / HTTP/1.1\r\nhost: overload.test\r\n\r\n');
    const refused = await Promise.all(excess.map((c) => c.closedWithin(REFUSED_WITHIN_MS)));
    expect(refused.filter(Boolean)).toHaveLength(20);

    // the connections already open keep being served, and the control ports answer
    for (const r of await Promise.all(held.map((c) => c.get()))) expect(r.status).toBe(200);
    await controlPlaneAnswers(p);
    const m = await scrape(p.ports.stats);
    expect(m.one('envoy_listener_downstream_global_cx_overflow', listenerLabel(gw))).toBe(20);
    expect(m.one('envoy_listener_downstream_cx_active', listenerLabel(gw))).toBe(50);
    expect(m.one('envoy_listener_downstream_cx_total', listenerLabel(gw))).toBe(50);

    // a closed connection gives its place back
    for (const c of held.splice(0, 10)) c.destroy();
    expect(await eventually(async () => (await scrape(p.ports.stats)).one('envoy_listener_downstream_cx_active', listenerLabel(gw)) === 40)).toBe(true);
    const later = await openMany(gw, 10);
    for (const r of await Promise.all(later.map((c) => c.get()))) expect(r.status).toBe(200);
    for (const c of [...held, ...later]) c.destroy();
    await p.stop();
  });

  it('--listener-connection-limit refuses past one listener limit (downstream_cx_overflow); other listeners are not limited', async () => {
    const [limited, free] = await freePorts(2);
    const p = await startProxy({ allStats: true, yaml: gatewayYaml([limited, free]), args: [...GATEWAY_ARGS, '--listener-connection-limit', `0.0.0.0_${limited}=5`] });
    const held = await openMany(limited, 5);
    for (const r of await Promise.all(held.map((c) => c.get()))) expect(r.status).toBe(200);
    const sixth = await Conn.open(limited);
    expect(await sixth.closedWithin(REFUSED_WITHIN_MS)).toBe(true);
    const others = await openMany(free, 10);
    for (const r of await Promise.all(others.map((c) => c.get()))) expect(r.status).toBe(200);

    const m = await scrape(p.ports.stats);
    expect(m.one('envoy_listener_downstream_cx_overflow', listenerLabel(limited))).toBe(1);
    expect(m.one('envoy_listener_downstream_cx_overflow', listenerLabel(free))).toBe(0);
    expect(m.one('envoy_listener_downstream_global_cx_overflow', listenerLabel(limited))).toBe(0);
    for (const c of [...held, ...others]) c.destroy();
    await p.stop();
  });

  it('at the descriptor limit (RLIMIT_NOFILE 256, no flag) the excess is refused, the rest is served and readiness answers', async () => {
    const [gw] = await freePorts(1);
    // default limit: (256 - 96 reserved) / 2 = 80 downstream connections, the other half for upstream ones
    const p = await startProxy({ allStats: true, yaml: gatewayYaml([gw]), workers: 2, nofile: 256, args: GATEWAY_ARGS });
    // logged just after readiness turns 200
    expect(await eventually(() => p.stderr().includes('downstream connection limit: 80 (RLIMIT_NOFILE 256'))).toBe(true);
    // more connections than the process has descriptors, each sending a request as soon as it can,
    // while readiness is probed
    const probes = (async () => {
      const codes: number[] = [];
      for (let i = 0; i < 10; i++) {
        codes.push((await plainRequest(p.ports.health, '/healthz/ready', { timeoutMs: 2_000 }).catch(() => ({ status: 0 }))).status);
        await sleep(20);
      }
      return codes;
    })();
    const conns = await openMany(gw, 300);
    const outcomes = await Promise.all(conns.map((c) => c.get().then((r) => r.status, () => 'closed' as const)));
    expect(await probes).toEqual(Array(10).fill(200));
    expect(outcomes.filter((o) => o === 200)).toHaveLength(80);
    expect(outcomes.filter((o) => o === 'closed')).toHaveLength(300 - 80);
    await controlPlaneAnswers(p);

    // the admitted connections keep working (each with its upstream connection) while the limit holds
    const served = conns.filter((_, i) => outcomes[i] === 200);
    for (const r of await Promise.all(served.map((c) => c.get()))) expect(r.status).toBe(200);
    const late = await Conn.open(gw);
    expect(await late.closedWithin(REFUSED_WITHIN_MS)).toBe(true);
    await controlPlaneAnswers(p);
    const m = await scrape(p.ports.stats);
    expect(m.one('envoy_listener_downstream_global_cx_overflow', listenerLabel(gw))).toBe(300 - 80 + 1);
    for (const c of conns) c.destroy();
    await p.stop();
  });
  it('a flood of the admin, stats and health ports is capped inside the descriptor reserve: the data plane keeps its share', async () => {
    const [gw] = await freePorts(1);
    const p = await startProxy({ allStats: true, yaml: gatewayYaml([gw]), workers: 2, nofile: 256, args: GATEWAY_ARGS });
    expect(await eventually(() => p.stderr().includes('downstream connection limit: 80 (RLIMIT_NOFILE 256'))).toBe(true);
    // 3 x 100 idle connections: more than the process has descriptors
    const flood = (await Promise.all([p.ports.admin, p.ports.stats, p.ports.health].map((port) => openMany(port, 100)))).flat();
    const openNow = () => flood.filter((c) => c.closedAt === undefined).length;
    await eventually(() => openNow() <= 3 * ADMIN_MAX_CONNECTIONS, 5_000);
    const held = openNow();
    // the test's own probe connections may hold a place or two
    expect(held).toBeLessThanOrEqual(3 * ADMIN_MAX_CONNECTIONS);
    expect(held).toBeGreaterThanOrEqual(3 * ADMIN_MAX_CONNECTIONS - 3);
    // the data plane still gets all of its 80 connections, each with an upstream connection
    const conns = await openMany(gw, 80);
    for (const r of await Promise.all(conns.map((c) => c.get()))) expect(r.status).toBe(200);
    for (const c of flood) c.destroy();
    await sleep(200);
    await controlPlaneAnswers(p);
    expect(p.stderr()).toMatch(/admin server: 8 connections open, \d+ more closed at once/);
    for (const c of conns) c.destroy();
    await p.stop();
  });
});

describe('overload manager', () => {
  it('injected pressure: 95% refuses new connections, 98% answers new requests 503 OM and ends keep-alive; recovers at 0', async () => {
    const [gw] = await freePorts(1);
    const pressure = join(tmp, 'pressure');
    await writeFile(pressure, '0');
    const p = await startProxy({ allStats: true, yaml: gatewayYaml([gw]), args: [...GATEWAY_ARGS, '--overload-injected-resource', pressure, '--access-log', 'json'] });
    const active = async (action: string) => (await scrape(p.ports.stats)).one(`${ACTION}_${action}_active`);

    const keepAlive = await Conn.open(gw);
    expect((await keepAlive.get()).status).toBe(200);
    // a slow client: connected, its request head not complete yet when the proxy gets overloaded
    const slow = await Conn.open(gw);
    slow.send('GET /slow HTTP/1.1\r\nhost: overload.test\r\n');

    await writeFile(pressure, '0.96');
    expect(await eventually(async () => (await active('reject_incoming_connections')) === 1, GAUGE_WITHIN_MS)).toBe(true);
    expect(await active('stop_accepting_requests')).toBe(0);
    const refused = await Conn.open(gw);
    expect(await refused.closedWithin(REFUSED_WITHIN_MS)).toBe(true);
    expect((await keepAlive.get()).status).toBe(200);
    await controlPlaneAnswers(p);

    await writeFile(pressure, '0.99');
    expect(await eventually(async () => (await active('stop_accepting_requests')) === 1, GAUGE_WITHIN_MS)).toBe(true);
    expect(await active('disable_http_keepalive')).toBe(1);
    // disable_http_keepalive: the idle keep-alive connection is closed
    expect(await keepAlive.closedWithin(REFUSED_WITHIN_MS)).toBe(true);
    // stop_accepting_requests: the request that completes now is refused, and its connection closed
    slow.send('\r\n');
    const shed = await slow.response();
    expect(shed.status).toBe(503);
    expect(shed.body).toBe('envoy overloaded');
    expect(shed.headers.connection).toBe('close');
    expect(await slow.closedWithin(REFUSED_WITHIN_MS)).toBe(true);
    expect(echo.requests.some((r) => r.url === '/slow')).toBe(false);
    await controlPlaneAnswers(p);

    const m = await scrape(p.ports.stats);
    expect(m.one('envoy_http_downstream_rq_overload_close', { envoy_http_conn_manager_prefix: `0.0.0.0_${gw}` })).toBe(1);
    expect(m.one('envoy_listener_downstream_cx_overload_reject', listenerLabel(gw))).toBe(1);
    expect(m.one('envoy_overload_envoy_resource_monitors_injected_resource_pressure')).toBe(99);
    expect(m.sum('istio_requests_total', { response_code: '503', response_flags: 'OM' })).toBe(1);
    const logged = await eventually(() => accessLogEntries(p).find((e) => e.path === '/slow'));
    expect(logged).toMatchObject({ response_code: 503, response_flags: 'OM', response_code_details: 'overload' });

    await writeFile(pressure, '0');
    expect(await eventually(async () => (await active('reject_incoming_connections')) === 0, GAUGE_WITHIN_MS)).toBe(true);
    expect(await active('stop_accepting_requests')).toBe(0);
    expect(await active('disable_http_keepalive')).toBe(0);
    const after = await Conn.open(gw);
    expect((await after.get()).status).toBe(200);
    expect((await after.get()).status).toBe(200); // kept alive again
    after.destroy();
    await p.stop();
  });

  it('the fixed_heap monitor: a worker heap over --max-heap-size refuses new connections; readiness still answers', async () => {
    const [gw] = await freePorts(1);
    // 1 MiB: any worker's heap is over it from the first sample
    const p = await startProxy({ allStats: true, yaml: gatewayYaml([gw]), args: [...GATEWAY_ARGS, '--max-heap-size', '1'] });
    const m = await scrape(p.ports.stats);
    expect(m.one('envoy_overload_envoy_resource_monitors_fixed_heap_pressure')).toBeGreaterThan(100);
    expect(m.one(`${ACTION}_reject_incoming_connections_active`)).toBe(1);
    expect(m.one(`${ACTION}_stop_accepting_requests_scale_percent`)).toBe(100);
    const refused = await Conn.open(gw);
    expect(await refused.closedWithin(REFUSED_WITHIN_MS)).toBe(true);
    await controlPlaneAnswers(p);
    await p.stop();
  });
});

describe('flags', () => {
  it('bad overload flag values exit 2 and name the flag', async () => {
    for (const [flag, value] of [
      ['--max-downstream-connections', '0'],
      ['--max-downstream-connections', 'many'],
      ['--listener-connection-limit', '=5'],
      ['--listener-connection-limit', 'gw=-1'],
      ['--max-heap-size', '0.5'],
    ]) {
      const r = await runCli(['run', '-c', tmp, flag, value]);
      expect(r.code, `${flag} ${value}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(flag);
    }
  });

  it('--help documents them', async () => {
    const r = await runCli(['--help']);
    for (const flag of ['--max-downstream-connections', '--listener-connection-limit', '--max-heap-size', '--overload-injected-resource']) expect(r.stdout).toContain(flag);
  });
});
