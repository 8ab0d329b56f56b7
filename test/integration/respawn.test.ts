// A data-plane worker that dies is respawned while traffic continues. The Agent runs in this
// process (from dist/, so the worker entry dist/worker/main.js is found next to it), which gives
// the test the worker threads to kill.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { request as nodeRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as AgentModule from '../../src/agent/agent.js';
import type * as ConfigSourceModule from '../../src/agent/config-source.js';
import type * as IdentityModule from '../../src/config/node-identity.js';
import type * as LogModule from '../../src/telemetry/log.js';
import { namedUpstreams, svcHost } from '../helpers/fixtures.js';
import { connectOutcome, fetchText, promValue, startLoad, waitFor, type LoadRecord } from '../helpers/lifecycle.js';
import { gateway, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { ALL_STATS_ENV, assertBuilt, ROOT, sleep, writeConfigDir } from '../helpers/proxy.js';

type Agent = AgentModule.Agent;

const HOST = 'respawn.test';
let fx: Awaited<ReturnType<typeof namedUpstreams>>;
const configDirs: string[] = [];
const agents = new Set<Agent>();

/** The build under test; OUTRIGGER_DIST points at another one (e.g. a deliberately broken copy). */
const DIST = process.env.OUTRIGGER_DIST ?? join(ROOT, 'dist');

/** Imports a compiled module from dist/ (typed by its source). */
async function fromDist<T>(rel: string): Promise<T> {
  return (await import(pathToFileURL(join(DIST, rel)).href)) as T;
}

interface InProcess {
  agent: Agent;
  gw: number;
  statsPort: number;
  configDir: string;
}

/** An Agent in this process on free ports, built as src/cli/lifecycle.ts startAgent builds it. */
async function startInProcess(workers: number): Promise<InProcess> {
  const { Agent } = await fromDist<typeof AgentModule>('agent/agent.js');
  const { fileConfigSource } = await fromDist<typeof ConfigSourceModule>('agent/config-source.js');
  const { buildNodeIdentity } = await fromDist<typeof IdentityModule>('config/node-identity.js');
  const [gw, admin, health, outbound, statsPort] = await freePorts(5);
  const configDir = await writeConfigDir({
    yaml: toYaml(
      gateway({ port: gw }),
      serviceEntry({ name: 'echo', host: svcHost('echo'), endpoints: [{ port: fx.upstreams.get('echo')!.port }] }),
      virtualService('all', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost('echo') } }] }] }),
    ),
  });
  configDirs.push(configDir);
  const agent = new Agent({
    source: fileConfigSource({ paths: [configDir], node: buildNodeIdentity({ mode: 'gateway', namespace: 'default', labels: ['istio=ingressgateway'] }, { ...process.env, ...ALL_STATS_ENV }), outboundPort: outbound }),
    workers,
    logLevel: 'error',
    drainDurationMs: 2_000,
    ports: { admin, stats: statsPort, health },
    watch: false,
  });
  agents.add(agent);
  await agent.start();
  return { agent, gw, statsPort, configDir };
}

/** Shuts an agent down (bounded) and forgets it. */
async function shutdown(a: Agent, reason = 'test'): Promise<number | 'timeout'> {
  agents.delete(a);
  await a.shutdown(reason);
  return Promise.race([a.exited, sleep(5_000).then(() => 'timeout' as const)]);
}

beforeAll(async () => {
  assertBuilt();
  const { setLogLevel } = await fromDist<typeof LogModule>('telemetry/log.js');
  setLogLevel('error'); // the main thread's log (the crash and respawn lines are errors)
  fx = await namedUpstreams(['echo']);
});

afterAll(async () => {
  await Promise.all([...agents].map((a) => Promise.race([shutdown(a, 'test cleanup'), sleep(8_000)])));
  await fx?.closeAll();
  await Promise.all(configDirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** LISTEN sockets on :port (/proc/net/tcp, state 0A): one per worker that has the listener bound. */
async function listeningSockets(port: number): Promise<number> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const table = await readFile('/proc/net/tcp', 'utf8');
  return table
    .split('\n')
    .slice(1)
    .filter((l) => {
      const cols = l.trim().split(/\s+/);
      return cols[1]?.endsWith(`:${hex}`) && cols[3] === '0A';
    }).length;
}

/** One GET on a fresh connection (so the kernel spreads connections over both workers' sockets). */
function freshGet(gw: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = nodeRequest({ host: '127.0.0.1', port: gw, path, headers: { host: HOST, connection: 'close' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(-1));
    });
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(-1));
    req.end();
  });
}

async function freshBatches(gw: number, batches: number, perBatch: number, tag: string): Promise<number[]> {
  const out: number[] = [];
  for (let b = 0; b < batches; b++) out.push(...(await Promise.all(Array.from({ length: perBatch }, (_, i) => freshGet(gw, `/${tag}/${b}/${i}`)))));
  return out;
}

/** Downstream connections each worker has accepted so far (from its own stats). */
async function perWorkerConnections(agent: Agent): Promise<number[]> {
  const replies = await agent.workers.collectStats();
  return replies.map((r) => {
    const c = r.stats.counters as Record<string, number>;
    // keys are `family \u0001 tag \u0001 stat` (src/telemetry/stats.ts statKey)
    return Object.entries(c)
      .filter(([k]) => {
        const [family, , stat] = k.split('\u0001');
        return family === 'listener' && stat === 'downstream_cx_total';
      })
      .reduce((n, [, v]) => n + v, 0);
  });
}

describe('worker respawn', () => {
  let a: Agent;
  let gw: number;
  let statsPort: number;
  beforeAll(async () => {
    ({ agent: a, gw, statsPort } = await startInProcess(2));
  });

  it('a terminated worker is replaced, the listener is bound again, and traffic continues', async () => {
    expect(await listeningSockets(gw)).toBe(2);
    expect(a.workers.crashes).toBe(0);
    const before = a.workers.threads().map((t) => t.threadId);
    expect(before.length).toBe(2);
    const metricsBefore = (await fetchText(statsPort, '/stats/prometheus')).text;
    expect(promValue(metricsBefore, 'outrigger_worker_restarts_total')).toBe(0);

    const CONNS = 6;
    const load = startLoad({ port: gw, path: '/load', host: HOST, concurrency: CONNS, maxMs: 8_000 });
    let records: LoadRecord[] = [];
    let tKill = 0;
    try {
      await sleep(500);
      expect(load.records.filter((r) => r.status === 200).length).toBeGreaterThan(20);
      tKill = Date.now();
      const code = await a.workers.threads()[0].terminate();
      expect(code).toBe(1); // terminate(): the worker did not exit by itself

      // the replacement comes up and binds the listener again
      const rebound = await waitFor(async () => (await listeningSockets(gw)) === 2 && a.workers.threads()[0].threadId !== before[0], 3_000, 20);
      expect(rebound, 'the respawned worker did not bind the listener again').toBeTruthy();
      await sleep(Math.max(0, tKill + 1_500 - Date.now()));
    } finally {
      records = await load.stop();
    }

    // failures only around the kill: at most one in-flight request per keep-alive connection
    // (plus the reconnects racing the dead socket), none once 500 ms have passed
    const failed = records.filter((r) => r.error || r.status !== 200);
    const late = records.filter((r) => r.start >= tKill + 500);
    const lateFailed = late.filter((r) => r.error || r.status !== 200);
    expect(failed.length, JSON.stringify(failed.slice(0, 10))).toBeLessThanOrEqual(2 * CONNS);
    expect(failed.filter((r) => r.start < tKill - 50), 'failures before the kill').toEqual([]);
    expect(late.length).toBeGreaterThan(20);
    expect(lateFailed, JSON.stringify(lateFailed.slice(0, 10))).toEqual([]);

    console.log(`respawn: ${records.length} requests, ${failed.length} failed around the kill: ${JSON.stringify(failed.map((r) => [r.start - tKill, r.error]))}`);
    expect(a.workers.crashes).toBe(1);
    const after = a.workers.threads().map((t) => t.threadId);
    expect(after.length).toBe(2);
    expect(after[0]).not.toBe(before[0]);
    expect(after[1]).toBe(before[1]);
    const metrics = (await fetchText(statsPort, '/stats/prometheus')).text;
    expect(promValue(metrics, 'outrigger_worker_restarts_total')).toBe(1);
    expect(a.state()).toBe('LIVE');
  });

  it('after the respawn, both workers serve: many fresh connections all succeed and the new worker takes some', async () => {
    const cxBefore = await perWorkerConnections(a);
    expect(cxBefore.length).toBe(2);
    const statuses = await freshBatches(gw, 10, 20, 'fresh');
    expect(statuses.length).toBe(200);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const cxAfter = await perWorkerConnections(a);
    const taken = cxAfter.map((n, i) => n - cxBefore[i]);
    console.log(`fresh connections per worker: ${taken.join(', ')}`);
    expect(taken[0] + taken[1]).toBeGreaterThanOrEqual(200);
    // SO_REUSEPORT spreads by hash; with 200 connections each worker gets a share
    expect(taken[0], `new worker took ${taken[0]} of ${taken[0] + taken[1]}`).toBeGreaterThan(0);
    expect(taken[1]).toBeGreaterThan(0);
    expect(a.workers.crashes).toBe(1);
  });

  it('shuts down cleanly: agent.exited resolves with 0 and the listener is gone', async () => {
    expect(await shutdown(a)).toBe(0);
    expect(await listeningSockets(gw)).toBe(0);
    expect(a.workers.crashes).toBe(1); // the shutdown's worker exits are not counted as crashes
  });
});

describe('a worker that dies during a drain', () => {
  it('is respawned drained: its listener stays closed, the agent stays DRAINING, shutdown still exits 0', async () => {
    const { agent: a, gw } = await startInProcess(2);
    expect(await freshGet(gw, '/before')).toBe(200);
    a.drainListeners();
    expect(await waitFor(async () => (await connectOutcome(gw)) === 'refused', 1_000), 'still accepting after drainListeners()').toBeTruthy();
    expect(await listeningSockets(gw)).toBe(0);

    const old = a.workers.threads()[0].threadId;
    await a.workers.threads()[0].terminate();
    expect(await waitFor(() => a.workers.crashes === 1 && a.workers.threads()[0].threadId !== old, 2_000), 'no respawn').toBeTruthy();
    // give the replacement time to apply the snapshot (and, were it not drained, to bind)
    const answered = await waitFor(async () => (await a.workers.collectStats()).length === 2, 2_000, 50);
    expect(answered, 'the replacement worker does not answer').toBeTruthy();
    await sleep(200);
    expect(await listeningSockets(gw)).toBe(0);
    for (let i = 0; i < 5; i++) expect(await connectOutcome(gw, 500)).toBe('refused');
    expect(a.state()).toBe('DRAINING');
    expect(await shutdown(a)).toBe(0);
  });
});

describe('a worker respawned after the data plane rejected a config', () => {
  it('runs the last good config (not the rejected one): no crash loop, fresh connections all succeed', async () => {
    const { agent: a, gw, statsPort, configDir } = await startInProcess(2);
    const good = a.current!.version;
    // a second Gateway on a port another socket holds: valid YAML, but no worker can bind it
    const busyPort = (await freePorts(1))[0];
    const blocker = createServer();
    await new Promise<void>((resolve, reject) => {
      blocker.once('error', reject);
      blocker.listen(busyPort, '127.0.0.1', () => resolve());
    });
    try {
      await writeFile(
        join(configDir, 'config.yaml'),
        toYaml(
          gateway({ port: gw }),
          gateway({ name: 'gw2', port: busyPort }),
          serviceEntry({ name: 'echo', host: svcHost('echo'), endpoints: [{ port: fx.upstreams.get('echo')!.port }] }),
          virtualService('all', { hosts: ['*'], gateways: ['gw', 'gw2'], http: [{ route: [{ destination: { host: svcHost('echo') } }] }] }),
        ),
      );
      await a.reload('test');
      expect(a.serverValues().configRejected).toBe(1);
      expect(a.current!.version).toBe(good);
      expect((await freshBatches(gw, 1, 10, 'kept')).filter((s) => s !== 200)).toEqual([]);

      const old = a.workers.threads()[0].threadId;
      await a.workers.threads()[0].terminate();
      const respawned = await waitFor(async () => a.workers.crashes >= 1 && a.workers.threads()[0].threadId !== old && (await listeningSockets(gw)) === 2, 3_000, 20);
      expect(respawned, 'no respawn').toBeTruthy();
      await sleep(200);

      // the replacement must serve the config the agent reports as current
      const statuses = await freshBatches(gw, 5, 20, 'after');
      const bad = statuses.filter((s) => s !== 200);
      expect(bad.length, `${bad.length} of ${statuses.length} fresh connections failed after the respawn; worker crashes ${a.workers.crashes}`).toBe(0);
      expect(a.workers.crashes, 'the respawned worker crashed again (it got the rejected snapshot and has no runtime)').toBe(1);
      expect(promValue((await fetchText(statsPort, '/stats/prometheus')).text, 'outrigger_worker_restarts_total')).toBe(1);
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
      expect(await shutdown(a)).toBe(0);
    }
  });
});
