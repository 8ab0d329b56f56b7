// Outlier detection through a real gateway: DestinationRule outlierDetection (consecutive5xxErrors,
// consecutiveGatewayErrors, splitExternalLocalOriginErrors + consecutiveLocalOriginFailures,
// interval, baseEjectionTime and its multiplier, maxEjectionPercent, minHealthPercent as the panic
// threshold), seen from the client (who answers), from the upstreams (who was asked), from
// /clusters (health_flags) and from the outlier_detection stats. With --workers 2 the consecutive
// counters are the host's, shared by the workers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from 'undici';
import { waitFor } from '../helpers/lifecycle.js';
import { destinationRule, gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { sleep, startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { plainRequest, scrape } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const svc = (name: string) => `${name}.default.svc.cluster.local`;
const clusterOf = (name: string) => `outbound|80||${svc(name)}`;
const label = (u: { port: number }) => `127.0.0.1:${u.port}`;
const NO_HEALTHY = 'no healthy upstream';
const CONNECT_FAILURE = /^upstream connect error or disconnect\/reset before headers\. reset reason: connection failure/;

/** Requests an upstream answered, by Host (the service asked for), with the proxy-side port. */
interface Hit {
  host: string;
  remotePort: number;
}

type Recording = Upstream & { hits: Hit[] };

/** Always answers `status` with body `<name> <status>` (whoami: the proxy's source port). */
async function fixed(name: string, status: number): Promise<Recording> {
  const hits: Hit[] = [];
  const up = await startUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      hits.push({ host: String(req.headers.host ?? ''), remotePort: req.socket.remotePort ?? 0 });
      const body = name === 'whoami' ? String(req.socket.remotePort) : `${name} ${status}`;
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'x-upstream': name });
      res.end(body);
    });
  }, name);
  return Object.assign(up, { hits });
}

/** Requests `u` answered for the service `host` (the Host header the client sent). */
const served = (u: Recording, host: string) => u.hits.filter((h) => h.host === host).length;

async function get(port: number, host: string): Promise<{ status: number; text: string }> {
  const r = await plainRequest(port, '/', { host, timeoutMs: 5_000 });
  return { status: r.status, text: r.text };
}

async function clustersText(proxy: RunningProxy): Promise<string> {
  const r = await plainRequest(proxy.ports.admin, '/clusters');
  expect(r.status).toBe(200);
  return r.text;
}

async function healthFlags(proxy: RunningProxy, cluster: string, host: string): Promise<string | undefined> {
  const text = await clustersText(proxy);
  return text.split('\n').find((l) => l.startsWith(`${cluster}::${host}::health_flags::`))?.split('::')[3];
}

async function odStats(proxy: RunningProxy, cluster: string) {
  const e = await scrape(proxy.ports.stats);
  const v = (stat: string) => e.sum(`envoy_cluster_outlier_detection_${stat}`, { envoy_cluster_name: cluster });
  return {
    active: v('ejections_active'),
    total: v('ejections_total'),
    c5xx: v('ejections_enforced_consecutive_5xx'),
    gateway: v('ejections_enforced_consecutive_gateway_failure'),
    local: v('ejections_enforced_consecutive_local_origin_failure'),
  };
}

/** Waits (bounded) until the host's health_flags equal `want`; returns Date.now() then, or undefined. */
async function untilFlags(proxy: RunningProxy, cluster: string, host: string, want: string, timeoutMs: number): Promise<number | undefined> {
  return waitFor(async () => ((await healthFlags(proxy, cluster, host)) === want ? Date.now() : 0), timeoutMs, 20);
}

const EJECTED = '/failed_outlier_check';

const od = (outlierDetection: Record<string, unknown>, lb = 'ROUND_ROBIN') => ({ loadBalancer: { simple: lb }, outlierDetection });

// ---------------------------------------------------------------- one worker

describe('outlier detection, one worker', () => {
  let proxy: RunningProxy;
  let gw: number;
  let deadPort: number;
  let bad1: Recording;
  let bad2: Recording;
  let bad3: Recording;
  let good: Recording;
  let sick503: Recording;

  beforeAll(async () => {
    bad1 = await fixed('bad1', 500);
    bad2 = await fixed('bad2', 500);
    bad3 = await fixed('bad3', 500);
    good = await fixed('good', 200);
    sick503 = await fixed('sick503', 503);
    [gw, deadPort] = await freePorts(2);
    const entry = (name: string, ups: { port: number }[]) => serviceEntry({ name, host: svc(name), endpoints: ups.map((u) => ({ port: u.port })) });
    const route = (name: string) =>
      virtualService(name, { hosts: [`${name}.test`], gateways: ['gw'], http: [{ route: [{ destination: { host: svc(name) } }], retries: { attempts: 0 } }] });
    const dead = { port: deadPort };
    const services: [string, { port: number }[], Record<string, unknown>][] = [
      // a 500 ms interval: between the host's return and its second ejection (a few requests) no tick
      // may pass, or the multiplier goes back down (Envoy's backoff); 200 ms was too short on a loaded box
      ['od', [bad1, good], od({ consecutive5xxErrors: 2, interval: '500ms', baseEjectionTime: '1s', maxEjectionPercent: 100 })],
      ['quad', [bad1, bad2, bad3, good], od({ consecutive5xxErrors: 2, interval: '200ms', baseEjectionTime: '30s', maxEjectionPercent: 10 })],
      ['gw500', [bad1], od({ consecutive5xxErrors: 0, consecutiveGatewayErrors: 2, interval: '200ms', baseEjectionTime: '30s', maxEjectionPercent: 100 })],
      ['gw503', [sick503], od({ consecutive5xxErrors: 0, consecutiveGatewayErrors: 2, interval: '200ms', baseEjectionTime: '30s', maxEjectionPercent: 100 })],
      ['refused', [dead], od({ consecutive5xxErrors: 2, interval: '200ms', baseEjectionTime: '30s', maxEjectionPercent: 100 })],
      [
        'refusedsplit',
        [dead],
        od({ consecutive5xxErrors: 2, splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 3, interval: '200ms', baseEjectionTime: '30s', maxEjectionPercent: 100 }),
      ],
      ['panic', [bad1, good], od({ consecutive5xxErrors: 2, interval: '200ms', baseEjectionTime: '30s', maxEjectionPercent: 100, minHealthPercent: 60 })],
      ['panicback', [bad1, good], od({ consecutive5xxErrors: 2, interval: '200ms', baseEjectionTime: '1s', maxEjectionPercent: 100, minHealthPercent: 60 })],
    ];
    const yaml = toYaml(
      gateway({ port: gw }),
      ...services.map(([n, ups]) => entry(n, ups)),
      ...services.map(([n, , policy]) => destinationRule(n, { host: svc(n), trafficPolicy: policy })),
      ...services.map(([n]) => route(n)),
    );
    proxy = await startProxy({ allStats: true, yaml, args: GATEWAY_ARGS, workers: 1 });
  });

  afterAll(async () => {
    await stopAllProxies();
    await Promise.all([bad1, bad2, bad3, good, sick503].map((u) => u?.close()));
  });

  /** Sends requests (sequentially, bounded) until `up` served `n` more for `host`. */
  async function untilServes(up: Recording, host: string, n: number): Promise<{ status: number; text: string }[]> {
    const start = served(up, host);
    const out: { status: number; text: string }[] = [];
    for (let i = 0; i < 40 && served(up, host) < start + n; i++) out.push(await get(gw, host));
    expect(served(up, host)).toBe(start + n);
    return out;
  }

  it('consecutive5xxErrors 2: after the bad host\'s 2nd 500 it is ejected; meanwhile every request is 200; it returns after baseEjectionTime; the 2nd ejection lasts twice as long', async () => {
    const OD = clusterOf('od');
    const bad = label(bad1);
    expect(await healthFlags(proxy, OD, bad)).toBe('healthy');
    expect(await healthFlags(proxy, OD, label(good))).toBe('healthy');

    // two 500s from bad1 (round robin alternates with good)
    const first = await untilServes(bad1, 'od.test', 2);
    expect(first.filter((r) => r.status === 500)).toHaveLength(2);
    const ejectedAt = Date.now();
    expect(await untilFlags(proxy, OD, bad, EJECTED, 1_000)).toBeDefined();
    expect(await healthFlags(proxy, OD, label(good))).toBe('healthy');
    expect(await odStats(proxy, OD)).toMatchObject({ active: 1, total: 1, c5xx: 1 });

    // while ejected: every request is 200, bad1 is not asked
    const before = served(bad1, 'od.test');
    for (let i = 0; i < 10; i++) expect(await get(gw, 'od.test')).toEqual({ status: 200, text: 'good 200' });
    expect(served(bad1, 'od.test')).toBe(before);

    // back after baseEjectionTime (1 s), at an interval tick (500 ms)
    const back = await untilFlags(proxy, OD, bad, 'healthy', 3_000);
    expect(back).toBeDefined();
    expect(back! - ejectedAt).toBeGreaterThanOrEqual(850);
    expect(back! - ejectedAt).toBeLessThan(2_200);
    expect(await odStats(proxy, OD)).toMatchObject({ active: 0, total: 1 });

    // it takes traffic again, and two more 500s eject it again
    // (quickly: Envoy lowers the ejection multiplier at each interval the host spends back in)
    const once = await untilServes(bad1, 'od.test', 1);
    expect(once.filter((r) => r.status === 500)).toHaveLength(1);
    expect(await healthFlags(proxy, OD, bad)).toBe('healthy');
    await untilServes(bad1, 'od.test', 1);
    const ejectedAgainAt = Date.now();
    expect(await untilFlags(proxy, OD, bad, EJECTED, 1_000)).toBeDefined();
    expect(await odStats(proxy, OD)).toMatchObject({ active: 1, total: 2, c5xx: 2 });

    // baseEjectionTime × 2 ejections: still out after 1.4 s, back after 2 s (at the next tick)
    await sleep(1_400 - (Date.now() - ejectedAgainAt));
    expect(await healthFlags(proxy, OD, bad)).toBe(EJECTED);
    const backAgain = await untilFlags(proxy, OD, bad, 'healthy', 3_500);
    expect(backAgain).toBeDefined();
    expect(backAgain! - ejectedAgainAt).toBeGreaterThanOrEqual(1_850);
    expect(backAgain! - ejectedAgainAt).toBeLessThan(3_200);
    expect(await odStats(proxy, OD)).toMatchObject({ active: 0, total: 2 });
  });

  it('maxEjectionPercent 10 with 3 bad hosts of 4: only one is ejected (Envoy always allows one)', async () => {
    const Q = clusterOf('quad');
    const results: number[] = [];
    for (let i = 0; i < 32; i++) results.push((await get(gw, 'quad.test')).status);
    expect(results.filter((s) => s === 500).length).toBeGreaterThan(4);
    await sleep(100);
    const flags = await Promise.all([bad1, bad2, bad3, good].map((u) => healthFlags(proxy, Q, label(u))));
    expect(flags.filter((f) => f === EJECTED)).toHaveLength(1);
    expect(flags[3]).toBe('healthy');
    expect(await odStats(proxy, Q)).toMatchObject({ active: 1, total: 1 });
    // the two bad hosts left in keep answering 500
    const later: number[] = [];
    for (let i = 0; i < 9; i++) later.push((await get(gw, 'quad.test')).status);
    expect(later.filter((s) => s === 500).length).toBeGreaterThanOrEqual(4);
    expect(await odStats(proxy, Q)).toMatchObject({ active: 1, total: 1 });
  });

  it('consecutiveGatewayErrors 2 (consecutive5xxErrors 0): 500s do not count', async () => {
    const C = clusterOf('gw500');
    for (let i = 0; i < 4; i++) expect(await get(gw, 'gw500.test')).toEqual({ status: 500, text: 'bad1 500' });
    await sleep(250);
    expect(await healthFlags(proxy, C, label(bad1))).toBe('healthy');
    expect(await get(gw, 'gw500.test')).toEqual({ status: 500, text: 'bad1 500' });
    expect(await odStats(proxy, C)).toMatchObject({ active: 0, total: 0 });
  });

  it('consecutiveGatewayErrors 2: two 503s eject the host (consecutive_gateway_failure)', async () => {
    const C = clusterOf('gw503');
    for (let i = 0; i < 2; i++) expect(await get(gw, 'gw503.test')).toEqual({ status: 503, text: 'sick503 503' });
    expect(await untilFlags(proxy, C, label(sick503), EJECTED, 1_000)).toBeDefined();
    const before = served(sick503, 'gw503.test');
    expect(await get(gw, 'gw503.test')).toEqual({ status: 503, text: NO_HEALTHY });
    expect(served(sick503, 'gw503.test')).toBe(before);
    expect(await odStats(proxy, C)).toMatchObject({ active: 1, total: 1, gateway: 1, c5xx: 0 });
  });

  it('a refused connection is a local-origin failure counted as a 5xx: ejected after 2', async () => {
    const C = clusterOf('refused');
    for (let i = 0; i < 2; i++) {
      const r = await get(gw, 'refused.test');
      expect(r.status).toBe(503);
      expect(r.text).toMatch(CONNECT_FAILURE);
    }
    expect(await untilFlags(proxy, C, `127.0.0.1:${deadPort}`, EJECTED, 1_000)).toBeDefined();
    expect(await get(gw, 'refused.test')).toEqual({ status: 503, text: NO_HEALTHY });
    expect(await odStats(proxy, C)).toMatchObject({ active: 1, total: 1, c5xx: 1 });
  });

  it('splitExternalLocalOriginErrors with consecutiveLocalOriginFailures 3: 2 refused connections do not eject, the 3rd does', async () => {
    const C = clusterOf('refusedsplit');
    const host = `127.0.0.1:${deadPort}`;
    for (let i = 0; i < 2; i++) expect((await get(gw, 'refusedsplit.test')).text).toMatch(CONNECT_FAILURE);
    await sleep(250);
    expect(await healthFlags(proxy, C, host)).toBe('healthy');
    expect((await get(gw, 'refusedsplit.test')).text).toMatch(CONNECT_FAILURE);
    expect(await untilFlags(proxy, C, host, EJECTED, 1_000)).toBeDefined();
    expect(await get(gw, 'refusedsplit.test')).toEqual({ status: 503, text: NO_HEALTHY });
    expect(await odStats(proxy, C)).toMatchObject({ active: 1, total: 1, local: 1, c5xx: 0 });
  });

  it('minHealthPercent 60: with 1 of 2 hosts ejected (50% healthy) the cluster panics and uses both', async () => {
    const C = clusterOf('panic');
    await untilServes(bad1, 'panic.test', 2);
    expect(await untilFlags(proxy, C, label(bad1), EJECTED, 1_000)).toBeDefined();
    expect(await odStats(proxy, C)).toMatchObject({ active: 1, total: 1 });
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await get(gw, 'panic.test')).status);
    // panic routing: the ejected host still takes its share (round robin over both)
    expect(statuses.filter((s) => s === 500).length).toBeGreaterThanOrEqual(5);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(5);
    expect(await healthFlags(proxy, C, label(bad1))).toBe(EJECTED);
  });

  it('a host that kept failing while ejected in panic mode is ejected again after 2 more 5xx once back (counters reset at un-ejection)', async () => {
    const C = clusterOf('panicback');
    await untilServes(bad1, 'panicback.test', 2);
    const ejectedAt = await untilFlags(proxy, C, label(bad1), EJECTED, 1_000);
    expect(ejectedAt).toBeDefined();
    // panic routing: bad1 keeps answering 500 while it is ejected
    const during = await untilServes(bad1, 'panicback.test', 4);
    expect(during.filter((r) => r.status === 500)).toHaveLength(4);
    expect(await untilFlags(proxy, C, label(bad1), 'healthy', 3_000)).toBeDefined();
    expect(await odStats(proxy, C)).toMatchObject({ active: 0, total: 1 });
    // back in: two more consecutive 500s eject it again (Envoy resets the consecutive counters at un-ejection)
    await untilServes(bad1, 'panicback.test', 2);
    expect(await untilFlags(proxy, C, label(bad1), EJECTED, 1_000)).toBeDefined();
    expect(await odStats(proxy, C)).toMatchObject({ active: 1, total: 2 });
  });
});

// ---------------------------------------------------------------- two workers

describe('outlier detection, two workers share the consecutive counters', () => {
  let proxy: RunningProxy;
  let gw: number;
  let lonely: Recording;
  let whoami: Recording;
  const clients: Client[] = [];

  beforeAll(async () => {
    lonely = await fixed('lonely', 500);
    whoami = await fixed('whoami', 200);
    [gw] = await freePorts(1);
    const yaml = toYaml(
      gateway({ port: gw }),
      serviceEntry({ name: 'lonely', host: svc('lonely'), endpoints: [{ port: lonely.port }] }),
      serviceEntry({ name: 'whoami', host: svc('whoami'), endpoints: [{ port: whoami.port }] }),
      destinationRule('lonely', { host: svc('lonely'), trafficPolicy: od({ consecutive5xxErrors: 2, interval: '200ms', baseEjectionTime: '30s', maxEjectionPercent: 100 }) }),
      ...['lonely', 'whoami'].map((n) =>
        virtualService(n, { hosts: [`${n}.test`], gateways: ['gw'], http: [{ route: [{ destination: { host: svc(n) } }], retries: { attempts: 0 } }] }),
      ),
    );
    proxy = await startProxy({ allStats: true, yaml, args: GATEWAY_ARGS, workers: 2 });
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await stopAllProxies();
    await Promise.all([lonely, whoami].map((u) => u?.close()));
  });

  async function send(c: Client, host: string): Promise<{ status: number; text: string }> {
    const r = await c.request({ method: 'GET', path: '/', headers: { host }, headersTimeout: 5_000, bodyTimeout: 5_000 });
    return { status: r.statusCode, text: await r.body.text() };
  }

  it('one 500 through each worker ejects the host (2 consecutive 500s counted across workers)', async () => {
    // Client connections stay on the worker that accepted them. Each worker keeps one keep-alive
    // connection to whoami (requests are sequential), so whoami's view of the proxy's source port
    // tells the workers apart.
    const byWorker = new Map<string, Client>();
    for (let i = 0; i < 24 && byWorker.size < 2; i++) {
      const c = new Client(`http://127.0.0.1:${gw}`, { pipelining: 1, keepAliveTimeout: 10_000 });
      clients.push(c);
      const r = await send(c, 'whoami.test');
      expect(r.status).toBe(200);
      if (!byWorker.has(r.text)) byWorker.set(r.text, c);
    }
    expect(byWorker.size).toBe(2);
    const [a, b] = [...byWorker.values()];
    // the mapping holds: asking again through each client gives the same worker
    expect([...byWorker.keys()]).toEqual([(await send(a, 'whoami.test')).text, (await send(b, 'whoami.test')).text]);

    const C = clusterOf('lonely');
    const host = label(lonely);
    expect(await send(a, 'lonely.test')).toEqual({ status: 500, text: 'lonely 500' });
    await sleep(250);
    expect(await healthFlags(proxy, C, host)).toBe('healthy');
    expect(await send(b, 'lonely.test')).toEqual({ status: 500, text: 'lonely 500' });
    // the two 500s came over two proxy connections, one per worker
    expect(new Set(lonely.hits.map((h) => h.remotePort)).size).toBe(2);
    expect(await untilFlags(proxy, C, host, EJECTED, 1_000)).toBeDefined();
    expect(await odStats(proxy, C)).toMatchObject({ active: 1, total: 1, c5xx: 1 });
    // both workers now route around it
    expect(await send(a, 'lonely.test')).toEqual({ status: 503, text: NO_HEALTHY });
    expect(await send(b, 'lonely.test')).toEqual({ status: 503, text: NO_HEALTHY });
    expect(lonely.hits).toHaveLength(2);
  });
});
