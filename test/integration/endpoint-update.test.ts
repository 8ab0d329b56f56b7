// An endpoint-only config change updates the cluster's host set in place (Envoy's EDS update): a
// reload that adds one endpoint, then one that removes another, keeps the established upstream
// connections to the hosts that stay (their servers accept no new connection), requests keep
// flowing through both reloads, and the removed host gets no new request and its connection closes
// (after the request in flight on it, if any, is answered).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { Pool } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/lifecycle.js';
import { destinationRule, gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { echoHandler, startUpstream, type Upstream, type UpstreamHandler } from '../helpers/upstream.js';

const HOST = svcHost('app');

/** An upstream that counts the TCP connections it accepted and those that closed. */
interface CountingUpstream {
  up: Upstream;
  accepted: number;
  closed: number;
}

async function countingUpstream(name: string, handler?: UpstreamHandler): Promise<CountingUpstream> {
  // keeps idle connections far longer than the test: a connection that closes was closed by the proxy
  const up = await startUpstream(handler, name, { keepAliveTimeout: 120_000 });
  const u: CountingUpstream = { up, accepted: 0, closed: 0 };
  up.server.on('connection', (s: Socket) => {
    u.accepted++;
    s.once('close', () => u.closed++);
  });
  return u;
}

let a: CountingUpstream;
let b: CountingUpstream;
let c: CountingUpstream;
/** Answers `/hold` only once released; echoes anything else. */
let held: CountingUpstream;
let release: () => void = () => {};
const released = new Promise<void>((r) => (release = r));
let dir: string;
const pools: Pool[] = [];

beforeAll(async () => {
  const echo = echoHandler('H');
  const hold: UpstreamHandler = (req, res, seen) => (req.url === '/hold' ? void released.then(() => echo(req, res, seen)) : echo(req, res, seen));
  [a, b, c, held] = await Promise.all([countingUpstream('A'), countingUpstream('B'), countingUpstream('C'), countingUpstream('H', hold)]);
  dir = await mkdtemp(join(tmpdir(), 'outrigger-eds-'));
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close().catch(() => {})));
  await stopAllProxies();
});

afterAll(async () => {
  release();
  await Promise.all([a?.up.close(), b?.up.close(), c?.up.close(), held?.up.close()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The gateway routes everything to `app`, round robin over these upstreams; pooled connections stay open for a minute. */
function mesh(gw: number, upstreams: CountingUpstream[]): string {
  return toYaml(
    gateway({ port: gw }),
    serviceEntry({ name: 'app', host: HOST, endpoints: upstreams.map((u) => ({ port: u.up.port })) }),
    destinationRule('app', { host: HOST, trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' }, connectionPool: { http: { idleTimeout: '60s' } } } }),
    virtualService('app', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: HOST } }] }] }),
  );
}

/** Requests one after another on one client connection until stopped: who answered each, and any failure. */
function requestLoop(gw: number) {
  const pool = new Pool(`http://127.0.0.1:${gw}`, { connections: 1, pipelining: 1, keepAliveTimeout: 60_000 });
  pools.push(pool);
  const answers: string[] = [];
  const failures: string[] = [];
  let stopped = false;
  const done = (async () => {
    for (let i = 0; i < 5_000 && !stopped; i++) {
      try {
        const res = await pool.request({ path: `/r${i}`, method: 'GET', headers: { host: 'app.example' }, headersTimeout: 5_000, bodyTimeout: 5_000 });
        await res.body.text();
        if (res.statusCode === 200) answers.push(String(res.headers['x-upstream']));
        else failures.push(`#${i}: ${res.statusCode}`);
      } catch (e) {
        failures.push(`#${i}: ${(e as Error).message}`);
      }
    }
  })();
  return {
    answers,
    failures,
    /** Resolves once `n` more requests have been answered. */
    more: (n: number) => {
      const target = answers.length + failures.length + n;
      return waitFor(() => answers.length + failures.length >= target, 10_000, 5);
    },
    stop: async () => {
      stopped = true;
      await done;
    },
  };
}

const applied = (p: RunningProxy) => p.stderr().match(/config \S+ applied/g)?.length ?? 0;

/** Writes the config, SIGHUPs the proxy and waits until it logged the config applied by every worker. */
async function reload(p: RunningProxy, file: string, text: string): Promise<void> {
  const before = applied(p);
  await writeFile(file, text);
  process.kill(p.pid, 'SIGHUP');
  const ok = await waitFor(() => applied(p) > before, 5_000);
  expect(ok, `reload not applied; stderr:\n${p.stderr()}`).toBeTruthy();
}

describe('an endpoint-only change updates the host set in place', () => {
  it('an added endpoint joins, a removed one drains: the hosts that stay keep their upstream connections', async () => {
    const gw = await freePort();
    const file = join(dir, 'mesh.yaml');
    await writeFile(file, mesh(gw, [a, b]));
    const proxy = await startProxy({ args: [...GATEWAY_ARGS, '--no-watch', '-c', file], workers: 1 });
    const loop = requestLoop(gw);
    try {
      await loop.more(10);
      expect(new Set(loop.answers)).toEqual(new Set(['A', 'B']));
      expect([a.accepted, b.accepted, c.accepted]).toEqual([1, 1, 0]);

      // one endpoint added: C starts taking requests, A and B keep the connections they had
      await reload(proxy, file, mesh(gw, [a, b, c]));
      const fromAdd = loop.answers.length;
      await loop.more(15);
      expect(new Set(loop.answers.slice(fromAdd))).toEqual(new Set(['A', 'B', 'C']));
      expect([a.accepted, b.accepted, c.accepted], 'connections accepted by A, B, C after adding C').toEqual([1, 1, 1]);

      // one endpoint removed: B gets no new request once the next one was answered, and its pooled connection closes
      await reload(proxy, file, mesh(gw, [a, c]));
      await loop.more(1); // the request in flight during the swap may still have gone to B
      const bRequests = b.up.requests.length;
      const fromRemove = loop.answers.length;
      await loop.more(15);
      expect(new Set(loop.answers.slice(fromRemove))).toEqual(new Set(['A', 'C']));
      expect(b.up.requests.length, 'requests B received after its removal').toBe(bRequests);
      expect(await waitFor(() => b.closed === 1, 3_000), 'B\'s connection closed by the proxy').toBe(true);
      expect([a.accepted, c.accepted], 'connections accepted by A and C after removing B').toEqual([1, 1]);
      expect([a.closed, c.closed]).toEqual([0, 0]);
    } finally {
      await loop.stop();
    }
    expect(loop.failures, proxy.stderr()).toEqual([]);
  });

  it('a removed host drains: the request in flight on it completes, then its connection closes', async () => {
    const gw = await freePort();
    const file = join(dir, 'drain.yaml');
    await writeFile(file, mesh(gw, [held]));
    const proxy = await startProxy({ args: [...GATEWAY_ARGS, '--no-watch', '-c', file], workers: 1 });
    const pool = new Pool(`http://127.0.0.1:${gw}`, { connections: 2, keepAliveTimeout: 60_000 });
    pools.push(pool);
    const inFlight = pool.request({ path: '/hold', method: 'GET', headers: { host: 'app.example' }, headersTimeout: 10_000 });
    expect(await waitFor(() => held.up.requests.some((r) => r.url === '/hold'), 5_000)).toBe(true);

    await reload(proxy, file, mesh(gw, [a]));
    const next = await pool.request({ path: '/after', method: 'GET', headers: { host: 'app.example' } });
    await next.body.text();
    expect(next.headers['x-upstream']).toBe('A');
    expect(held.closed, 'the held request keeps its connection open').toBe(0);

    release();
    const res = await inFlight;
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-upstream']).toBe('H');
    await res.body.text();
    expect(await waitFor(() => held.closed === 1, 3_000), 'the removed host\'s connection closes once its request is done').toBe(true);
    expect(held.accepted).toBe(1);
  });
});
