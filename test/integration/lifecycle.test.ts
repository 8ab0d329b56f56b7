// Graceful drain and exit: SIGTERM with a request in flight, the --drain-duration bound,
// POST /drain_listeners and POST /quitquitquit on the admin port.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { connectOutcome, fetchText, idleKeepAlive, namedSlowUpstream, oneShot, statusOf, waitFor, type OneShot } from '../helpers/lifecycle.js';
import { gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { sleep, startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import type { Upstream } from '../helpers/upstream.js';

const HOST = 'lifecycle.test';
let up: Upstream;

beforeAll(async () => {
  up = await namedSlowUpstream('S');
});

afterEach(async () => {
  await stopAllProxies();
});

afterAll(async () => {
  await up?.close();
});

function meshYaml(gw: number): string {
  return toYaml(
    gateway({ port: gw }),
    serviceEntry({ name: 's', host: svcHost('s'), endpoints: [{ port: up.port }] }),
    virtualService('all', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost('s') } }] }] }),
  );
}

async function start(drainSeconds: number, workers = 1): Promise<{ proxy: RunningProxy; gw: number }> {
  const gw = await freePort();
  const proxy = await startProxy({ yaml: meshYaml(gw), args: [...GATEWAY_ARGS, '--drain-duration', String(drainSeconds)], workers });
  return { proxy, gw };
}

type Settled = { ok: true; res: OneShot } | { ok: false; error: string; at: number };

/**
 * Starts a slow request (`delayMs` at the upstream) on its own connection; resolves once the upstream
 * has it, with `{ done }`: the request's outcome (wrapped, so awaiting this does not await the request).
 */
async function slowRequest(gw: number, delayMs: number): Promise<{ done: Promise<Settled> }> {
  const seen = up.requests.length;
  const p: Promise<Settled> = oneShot(gw, `/slow?delay=${delayMs}`, HOST, delayMs + 5_000).then(
    (res) => ({ ok: true as const, res }),
    (e: Error) => ({ ok: false as const, error: e.message, at: Date.now() }),
  );
  const arrived = await waitFor(() => up.requests.slice(seen).some((r) => r.url.startsWith('/slow')), 3_000, 10);
  expect(arrived, 'the slow request did not reach the upstream').toBeTruthy();
  return { done: p };
}

/** Time (Date.now()) at which `check` first held, polling ≤ `timeoutMs`; undefined if it never did. */
function when(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<number | undefined> {
  return waitFor(async () => ((await check()) ? Date.now() : 0), timeoutMs, 10);
}

const healthIs = (p: RunningProxy, status: number) => async () => (await statusOf(p.ports.health, '/healthz/ready', 500)) === status;
const refused = (port: number) => async () => (await connectOutcome(port, 500)) === 'refused';

describe('SIGTERM', () => {
  it('drains: the in-flight request completes with connection: close, new connections are refused, health 503, idle keep-alives closed, exit 0 soon after', async () => {
    const { proxy, gw } = await start(10);
    const idle = await idleKeepAlive(gw, '/fast', HOST);
    expect(idle.response.status).toBe(200);
    expect(idle.response.headers.connection, 'before SIGTERM the connection is kept alive').toBeUndefined();
    const slow = await slowRequest(gw, 1_500);

    const tTerm = Date.now();
    const exited = proxy.stop(15_000).then((r) => ({ ...r, at: Date.now() }));

    const unhealthyAt = await when(healthIs(proxy, 503), 1_000);
    expect(unhealthyAt, '/healthz/ready did not turn 503').toBeDefined();
    expect(unhealthyAt! - tTerm).toBeLessThan(500);

    const refusedAt = await when(refused(gw), 1_000);
    expect(refusedAt, 'new connections were still accepted after SIGTERM').toBeDefined();
    for (let i = 0; i < 3; i++) expect(await connectOutcome(gw, 500)).toBe('refused');

    const idleClosedAt = await Promise.race([idle.closed, sleep(1_000).then(() => undefined)]);
    idle.destroy();
    expect(idleClosedAt, 'the idle keep-alive connection was not closed by the proxy').toBeDefined();
    expect(idleClosedAt! - tTerm).toBeLessThan(1_000);

    const out = await slow.done;
    expect(out.ok, out.ok ? '' : `slow request failed: ${out.error}`).toBe(true);
    const res = (out as { res: OneShot }).res;
    expect(res.status).toBe(200);
    expect(res.body).toBe('S');
    expect(res.headers.connection).toBe('close');
    const slowClosedAt = await Promise.race([res.closed, sleep(1_000).then(() => undefined)]);
    res.destroy();
    expect(slowClosedAt, 'the proxy kept the drained connection open after its last response').toBeDefined();
    // refusal and health happened while the request was still in flight (draining, not exiting)
    expect(refusedAt!).toBeLessThan(res.headersAt);
    expect(idleClosedAt!).toBeLessThan(res.headersAt);

    const exit = await exited;
    expect(exit.code, proxy.stderr()).toBe(0);
    expect(exit.signal).toBeNull();
    expect(exit.at - tTerm).toBeLessThan(4_000); // well before --drain-duration 10
    expect(exit.at - res.endedAt).toBeLessThan(2_000);
    expect(exit.at).toBeGreaterThanOrEqual(res.headersAt);
    expect(proxy.stderr()).toMatch(/SIGTERM: draining/);
  });

  it('--drain-duration 1: a 5 s request does not hold the exit; exit 0 after ~1 s', async () => {
    const { proxy, gw } = await start(1);
    const slow = await slowRequest(gw, 5_000);
    const tTerm = Date.now();
    const exit = await proxy.stop(10_000);
    const took = Date.now() - tTerm;
    expect(exit.code, proxy.stderr()).toBe(0);
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(3_000);
    const out = await slow.done;
    // the request was cut off when the drain time ran out: no 200 after 5 s
    if (out.ok) expect(out.res.status).not.toBe(200);
    else expect(out.at - tTerm).toBeLessThan(3_500);
  });
});

describe('SIGINT', () => {
  it('drains and exits 0 like SIGTERM', async () => {
    const { proxy, gw } = await start(10);
    const slow = await slowRequest(gw, 500);
    const t = Date.now();
    process.kill(proxy.pid, 'SIGINT');
    expect(await when(refused(gw), 1_000), 'still accepting after SIGINT').toBeDefined();
    const out = await slow.done;
    expect(out.ok && out.res.status === 200 && out.res.headers.connection === 'close', JSON.stringify(out)).toBe(true);
    if (out.ok) out.res.destroy();
    const gone = await when(() => !proxy.alive(), 3_000);
    expect(gone, 'the process did not exit after SIGINT').toBeDefined();
    expect(gone! - t).toBeLessThan(3_000);
    expect((await proxy.stop()).code, proxy.stderr()).toBe(0);
    expect(proxy.stderr()).toMatch(/SIGINT: draining/);
  });
});

describe('admin', () => {
  it('POST /drain_listeners: no new connections, health 503, idle keep-alives closed; keeps running until SIGTERM', async () => {
    const { proxy, gw } = await start(10, 2);
    const idle = await idleKeepAlive(gw, '/fast', HOST);
    expect(await connectOutcome(gw)).toBe('connected');

    const t = Date.now();
    const r = await fetchText(proxy.ports.admin, '/drain_listeners', 'POST');
    expect(r.status).toBe(200);
    const unhealthyAt = await when(healthIs(proxy, 503), 1_000);
    expect(unhealthyAt, '/healthz/ready did not turn 503').toBeDefined();
    expect(await when(refused(gw), 1_000), 'still accepting after /drain_listeners').toBeDefined();
    const idleClosedAt = await Promise.race([idle.closed, sleep(1_000).then(() => undefined)]);
    idle.destroy();
    expect(idleClosedAt, 'the idle keep-alive connection stayed open').toBeDefined();
    expect(idleClosedAt! - t).toBeLessThan(1_000);
    expect((await fetchText(proxy.ports.admin, '/ready')).text.trim()).toBe('DRAINING');

    await sleep(1_500);
    expect(proxy.alive()).toBe(true);
    expect(await statusOf(proxy.ports.health, '/healthz/ready')).toBe(503);
    // both workers stopped accepting (with 2 SO_REUSEPORT sockets, any one left would accept some)
    for (let i = 0; i < 10; i++) expect(await connectOutcome(gw, 500)).toBe('refused');
    expect((await fetchText(proxy.ports.admin, '/server_info')).status).toBe(200);

    const tTerm = Date.now();
    const exit = await proxy.stop(10_000);
    expect(exit.code, proxy.stderr()).toBe(0);
    expect(Date.now() - tTerm).toBeLessThan(3_000);
  });

  it('POST /quitquitquit: drains the in-flight request (connection: close) and exits 0 by itself', async () => {
    const { proxy, gw } = await start(10);
    const slow = await slowRequest(gw, 1_000);
    const t = Date.now();
    const r = await fetchText(proxy.ports.admin, '/quitquitquit', 'POST');
    expect(r.status).toBe(200);
    expect(await when(healthIs(proxy, 503), 1_000), '/healthz/ready did not turn 503').toBeDefined();
    expect(await when(refused(gw), 1_000), 'still accepting after /quitquitquit').toBeDefined();

    const out = await slow.done;
    expect(out.ok, out.ok ? '' : `slow request failed: ${out.error}`).toBe(true);
    const res = (out as { res: OneShot }).res;
    expect(res.status).toBe(200);
    expect(res.headers.connection).toBe('close');
    res.destroy();

    const gone = await when(() => !proxy.alive(), 4_000);
    expect(gone, 'the process did not exit after /quitquitquit').toBeDefined();
    expect(gone! - t).toBeLessThan(4_000);
    const exit = await proxy.stop(); // already exited: returns its exit status
    expect(exit.code, proxy.stderr()).toBe(0);
    expect(proxy.stderr()).toMatch(/quitquitquit: draining/);
  });
});
