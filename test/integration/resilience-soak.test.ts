// Resilience soak: sustained faults must leak nothing. A gateway (--workers 1, access log off)
// fronts one service whose two endpoints misbehave per request path (reset before headers, hang
// past the route timeout, 503 retried, death mid-body, slow, fine), a route with fault abort 50% +
// delay, a mirror to a dead endpoint (connection refused), and a DestinationRule with circuit
// breakers, a short upstream idle timeout and outlier detection. Two equal rounds of bounded
// concurrent load (keep-alive clients plus clients that vanish after sending headers), then: the
// active gauges return to zero, upstream connections drain after the idle timeout, the circuit
// breaker is released, the proxy's RSS does not keep growing and its fd count returns to baseline.
import { readdir } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { httpRequest } from '../helpers/http.js';
import { destinationRule, gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { rssBytes, sleep, startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { plainRequest, scrape, type Exposition } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const SVC = 'flaky.default.svc.cluster.local';
const DEAD = 'dead.default.svc.cluster.local';
const CLUSTER = `outbound|80||${SVC}`;
const CONCURRENCY = 32;
const ROUND_MS = 5_000;
const MAX_REQUESTS_PER_ROUND = 50_000;
const IDLE_TIMEOUT_MS = 500;
const MiB = 1024 * 1024;
const HEAP_MB = 64;

type Kind = 'reset' | 'hang' | '503' | 'midbody' | 'slow' | 'ok' | 'fault' | 'abort-hang' | 'abort-slow' | 'abort-fault';
const KINDS: Kind[] = ['reset', 'hang', '503', 'midbody', 'slow', 'ok', 'fault', 'ok', 'abort-hang', 'abort-slow', 'abort-fault', 'fault'];

/** Per-endpoint server-side view: connections currently open, hanging responses held. */
interface Flaky extends Upstream {
  open: number;
  held: Set<ServerResponse>;
}

/** The misbehaving upstream: what it does is chosen by the request path. */
async function flakyUpstream(name: string): Promise<Flaky> {
  const timers = new Set<NodeJS.Timeout>();
  const held = new Set<ServerResponse>();
  let f!: Flaky;
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  };
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string) => {
      if (res.destroyed || res.headersSent) return;
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    switch (path) {
      case '/reset': // dies before any response byte
        req.socket.destroy();
        return;
      case '/hang': // never answers; the proxy's route timeout must end it
        held.add(res);
        res.once('close', () => held.delete(res));
        return;
      case '/503':
        return send(503, 'unavailable');
      case '/midbody': // promises 4 KiB, sends 100 bytes, dies
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '4096' });
        res.write('x'.repeat(100));
        later(5, () => req.socket.destroy());
        return;
      case '/slow': // under the per-try timeout (100ms)
        return later(40, () => send(200, 'slow'));
      default:
        return send(200, 'ok');
    }
  };
  const up = await startUpstream((req, res) => handler(req, res), name);
  f = Object.assign(up, { open: 0, held });
  up.server.on('connection', (s: Socket) => {
    f.open++;
    s.once('close', () => f.open--);
  });
  const close = up.close;
  f.close = async () => {
    for (const t of timers) clearTimeout(t);
    timers.clear();
    await close();
  };
  return f;
}

let proxy: RunningProxy;
let gw: number;
let ups: Flaky[] = [];

beforeAll(async () => {
  ups = [await flakyUpstream('flaky-a'), await flakyUpstream('flaky-b')];
  gw = await freePort();
  const deadPort = await freePort(); // nothing listens: connection refused
  const yaml = toYaml(
    gateway({ port: gw }),
    serviceEntry({ name: 'flaky', host: SVC, endpoints: ups.map((u) => ({ port: u.port })) }),
    serviceEntry({ name: 'dead', host: DEAD, endpoints: [{ port: deadPort }] }),
    virtualService('flaky', {
      hosts: ['flaky.test'],
      gateways: ['gw'],
      http: [
        {
          route: [{ destination: { host: SVC } }],
          timeout: '150ms',
          retries: { attempts: 2, retryOn: '5xx', perTryTimeout: '100ms' },
          mirror: { host: DEAD },
          mirrorPercentage: { value: 100 },
        },
      ],
    }),
    virtualService('fault', {
      hosts: ['fault.test'],
      gateways: ['gw'],
      http: [
        {
          fault: { abort: { httpStatus: 503, percentage: { value: 50 } }, delay: { fixedDelay: '20ms', percentage: { value: 100 } } },
          route: [{ destination: { host: SVC } }],
          timeout: '150ms',
        },
      ],
    }),
    destinationRule('flaky', {
      host: SVC,
      trafficPolicy: {
        connectionPool: {
          tcp: { maxConnections: 20 },
          http: { http1MaxPendingRequests: 20, idleTimeout: `${IDLE_TIMEOUT_MS}ms` },
        },
        // two endpoints and 50%: at most one is ever ejected, so the service stays reachable
        outlierDetection: { consecutive5xxErrors: 8, interval: '1s', baseEjectionTime: '1s', maxEjectionPercent: 50 },
      },
    }),
  );
  // A bounded V8 old space makes RSS mean something: with the default (GiBs) V8 grows the heap
  // lazily (~30-45 MiB per round here even without a leak); bounded, a real leak either keeps the
  // RSS growing or runs the worker out of memory (it is then respawned, which the test checks).
  proxy = await startProxy({ allStats: true,
    yaml,
    args: [...GATEWAY_ARGS, '--access-log', 'off'],
    workers: 1,
    env: { NODE_OPTIONS: `--max-old-space-size=${HEAP_MB}` },
  });
}, 30_000);

afterAll(async () => {
  await stopAllProxies();
  await Promise.all(ups.map((u) => u.close()));
});

// ------------------------------------------------------------------ measurement helpers

async function fdCount(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

const gaugeSum = (e: Exposition, name: string) => e.sum(name);

interface Gauges {
  upstreamRqActive: number;
  downstreamRqActive: number;
  downstreamCxActive: number;
  upstreamCxActive: number;
  deadCxActive: number;
}

async function gauges(): Promise<Gauges> {
  const e = await scrape(proxy.ports.stats);
  return {
    upstreamRqActive: gaugeSum(e, 'envoy_cluster_upstream_rq_active'),
    downstreamRqActive: gaugeSum(e, 'envoy_http_downstream_rq_active'),
    downstreamCxActive: gaugeSum(e, 'envoy_listener_downstream_cx_active'),
    upstreamCxActive: gaugeSum(e, 'envoy_cluster_upstream_cx_active'),
    deadCxActive: e.sum('envoy_cluster_upstream_cx_active', { envoy_cluster_name: `outbound|80||${DEAD}` }),
  };
}

/** Polls the gauges (bounded) until `ok` holds; returns the last reading. */
async function settle(ok: (g: Gauges) => boolean, timeoutMs: number): Promise<Gauges> {
  const deadline = Date.now() + timeoutMs;
  let g = await gauges();
  for (let i = 0; i < 200 && !ok(g) && Date.now() < deadline; i++) {
    await sleep(50);
    g = await gauges();
  }
  return g;
}

const zeroRq = (g: Gauges) => g.upstreamRqActive === 0 && g.downstreamRqActive === 0 && g.downstreamCxActive === 0;
const allZero = (g: Gauges) => zeroRq(g) && g.upstreamCxActive === 0;

// ------------------------------------------------------------------ load

type Tally = Record<string, number>;
const bump = (t: Tally, k: string) => (t[k] = (t[k] ?? 0) + 1);

/** Sends the request headers, then destroys the socket a moment later (client gone mid-request). */
function abortingClient(path: string, host: string, afterMs: number): Promise<void> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port: gw });
    const guard = setTimeout(() => done(), 2_000);
    let t: NodeJS.Timeout | undefined;
    function done() {
      clearTimeout(guard);
      if (t) clearTimeout(t);
      sock.destroy();
      resolve();
    }
    sock.once('connect', () => {
      sock.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      t = setTimeout(done, afterMs);
    });
    sock.on('data', () => {});
    sock.once('error', done);
    sock.once('close', done);
  });
}

async function one(kind: Kind, agent: Agent, tally: Tally): Promise<void> {
  if (kind.startsWith('abort-')) {
    const target = kind.slice('abort-'.length);
    const host = target === 'fault' ? 'fault.test' : 'flaky.test';
    const path = target === 'fault' ? '/ok' : `/${target}`;
    await abortingClient(path, host, 5 + Math.floor(Math.random() * 30));
    bump(tally, 'client-abort');
    return;
  }
  const host = kind === 'fault' ? 'fault.test' : 'flaky.test';
  const path = kind === 'fault' ? (Math.random() < 0.5 ? '/ok' : '/slow') : `/${kind}`;
  try {
    const r = await httpRequest(gw, { host, path, dispatcher: agent, timeoutMs: 3_000 });
    let key = String(r.status);
    if (r.text.includes('upstream request timeout')) key += ' UT';
    else if (r.text.includes('fault filter abort')) key += ' FI';
    else if (r.text.includes('reset reason: overflow')) key += ' UO';
    else if (r.text.includes('no healthy upstream')) key += ' UH';
    else if (r.text.includes('disconnect/reset before headers')) key += ' reset';
    else if (r.status === 503 && r.text === 'unavailable') key += ' upstream';
    bump(tally, key);
    bump(tally, `${kind}:${key}`);
  } catch (e) {
    bump(tally, 'error');
    bump(tally, `${kind}:error`);
  }
}

async function round(): Promise<{ tally: Tally; sent: number }> {
  const agent = new Agent({ keepAliveTimeout: 2_000, keepAliveMaxTimeout: 2_000, connections: CONCURRENCY });
  const tally: Tally = {};
  const deadline = Date.now() + ROUND_MS;
  let sent = 0;
  const lane = async (laneNo: number) => {
    for (let i = 0; i < MAX_REQUESTS_PER_ROUND && Date.now() < deadline && sent < MAX_REQUESTS_PER_ROUND; i++) {
      sent++;
      await one(KINDS[(laneNo + i * 7) % KINDS.length], agent, tally);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, (_, n) => lane(n)));
  await agent.close(); // clients close their keep-alive connections
  return { tally, sent };
}

// ------------------------------------------------------------------ the soak

interface Figures {
  fdBaseline?: number;
  rssBaseline?: number;
  rounds: { sent: number; tally: Tally; settled: Gauges; drained: Gauges; rss: number; fds: number; serverOpen: number; held: number }[];
}
const figures: Figures = { rounds: [] };

describe('resilience soak: sustained faults leak nothing', () => {
  it('warms up and measures the baseline', async () => {
    const r = await plainRequest(gw, '/ok', { host: 'flaky.test', timeoutMs: 2_000 });
    expect(r.status).toBe(200);
    // let the warm-up's idle upstream connection expire, then measure
    const g = await settle(allZero, 3_000);
    expect(g).toEqual({ upstreamRqActive: 0, downstreamRqActive: 0, downstreamCxActive: 0, upstreamCxActive: 0, deadCxActive: 0 });
    figures.fdBaseline = await fdCount(proxy.pid);
    figures.rssBaseline = await rssBytes(proxy.pid);
    expect(figures.fdBaseline).toBeGreaterThan(0);
  });

  for (const n of [1, 2]) {
    it(`round ${n}: ~5 s of mixed faults, then every gauge returns to zero`, async () => {
      const before = await scrape(proxy.ports.stats);
      const { tally, sent } = await round();
      const after = await scrape(proxy.ports.stats);
      const delta = (name: string, cluster = CLUSTER) =>
        after.sum(`envoy_cluster_${name}`, { envoy_cluster_name: cluster }) - before.sum(`envoy_cluster_${name}`, { envoy_cluster_name: cluster });

      // the faults really happened
      expect(sent).toBeGreaterThan(200);
      expect(tally['504 UT'] ?? 0, JSON.stringify(tally)).toBeGreaterThan(0);
      expect(tally['503 upstream'] ?? 0, JSON.stringify(tally)).toBeGreaterThan(0);
      expect(tally['503 FI'] ?? 0, JSON.stringify(tally)).toBeGreaterThan(0);
      expect(tally['200'] ?? 0, JSON.stringify(tally)).toBeGreaterThan(0);
      expect(tally['client-abort'] ?? 0).toBeGreaterThan(0);
      expect(delta('upstream_rq_retry')).toBeGreaterThan(0);
      expect(delta('upstream_rq_timeout')).toBeGreaterThan(0);
      expect(delta('upstream_cx_connect_fail', `outbound|80||${DEAD}`)).toBeGreaterThan(0); // the mirror tried

      // requests and downstream connections: back to zero once the clients are gone
      const settled = await settle(zeroRq, 3_000);
      expect(settled.upstreamRqActive).toBe(0);
      expect(settled.downstreamRqActive).toBe(0);
      expect(settled.downstreamCxActive).toBe(0);
      // upstream connections: at most the keep-alive idle ones (maxConnections 20 for the cluster)
      expect(settled.upstreamCxActive).toBeLessThanOrEqual(20);
      expect(settled.deadCxActive).toBe(0);

      // ...and those close after the idle timeout (500ms; the sweeper runs every 250-500ms)
      const drained = await settle(allZero, 3_000);
      expect(drained).toEqual({ upstreamRqActive: 0, downstreamRqActive: 0, downstreamCxActive: 0, upstreamCxActive: 0, deadCxActive: 0 });
      // seen from the upstreams: no connection is left open, no hanging response still held
      let serverOpen = 0;
      for (let i = 0; i < 40; i++) {
        serverOpen = ups.reduce((s, u) => s + u.open, 0);
        if (serverOpen === 0) break;
        await sleep(50);
      }
      const held = ups.reduce((s, u) => s + u.held.size, 0);
      expect(serverOpen).toBe(0);
      expect(held).toBe(0);

      // the circuit breaker is released: 20 concurrent requests on a healthy path all succeed
      const burst = await Promise.all(
        Array.from({ length: 20 }, () => plainRequest(gw, '/ok', { host: 'flaky.test', timeoutMs: 3_000 }).catch((e: Error) => ({ status: 0, text: e.message }))),
      );
      const bad = burst.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.text}`);
      expect(bad).toEqual([]);
      expect(burst.some((r) => r.text.includes('overflow'))).toBe(false);

      // wait out the burst's idle connections before the fd count
      await settle(allZero, 3_000);
      const fds = await fdCount(proxy.pid);
      // the RSS as the round left it: V8's uncollected garbage included (worker/heap-shrinker.ts
      // gives memory back only after five quiet minutes), so a leak shows as growth over round 1
      const rss = (await rssBytes(proxy.pid)) ?? 0;
      figures.rounds.push({ sent, tally, settled, drained, rss, fds, serverOpen, held });
      expect(fds - figures.fdBaseline!).toBeLessThanOrEqual(10);
    }, 35_000);
  }

  it('memory: round 2 does not keep growing the RSS of round 1', () => {
    expect(figures.rounds.length).toBe(2);
    const [r1, r2] = figures.rounds;
    expect(r2.rss - r1.rss).toBeLessThan(25 * MiB);
    // no data-plane worker died (e.g. out of memory) and was quietly respawned
    expect(proxy.stderr()).not.toMatch(/worker \d+ (crashed|exited)/);
  });

  it('the proxy is still healthy and serves a normal request quickly', async () => {
    expect(proxy.alive()).toBe(true);
    const ready = await plainRequest(proxy.ports.health, '/healthz/ready', { timeoutMs: 2_000 });
    expect(ready.status).toBe(200);
    const t0 = Date.now();
    const r = await plainRequest(gw, '/ok', { host: 'flaky.test', timeoutMs: 2_000 });
    const ms = Date.now() - t0;
    expect(r.status).toBe(200);
    expect(r.text).toBe('ok');
    expect(ms).toBeLessThan(500);
    // eslint-disable-next-line no-console
    console.log(
      JSON.stringify({
        fdBaseline: figures.fdBaseline,
        rssBaselineMiB: +((figures.rssBaseline ?? 0) / MiB).toFixed(1),
        rounds: figures.rounds.map((x) => ({ ...x, rss: +(x.rss / MiB).toFixed(1) })),
        finalRequestMs: ms,
      }),
    );
  });
});
