// Envoy's --drain-strategy in a graceful drain (/drain_listeners?graceful): immediate tells every
// connection to close at once, gradual spreads that over the drain period. An in-process Agent
// (as the bootstrap path builds it) with 20 idle keep-alive connections.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as AgentModule from '../../src/agent/agent.js';
import type * as ConfigSourceModule from '../../src/agent/config-source.js';
import type * as IdentityModule from '../../src/config/node-identity.js';
import type * as LogModule from '../../src/telemetry/log.js';
import { namedUpstreams, svcHost } from '../helpers/fixtures.js';
import { connectOutcome, fetchText, idleKeepAlive } from '../helpers/lifecycle.js';
import { gateway, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { assertBuilt, ROOT, sleep, writeConfigDir } from '../helpers/proxy.js';

const HOST = 'drain.test';
const CONNECTIONS = 20;
const PERIOD_MS = 1_200;
let fx: Awaited<ReturnType<typeof namedUpstreams>>;
const cleanup: (() => Promise<unknown>)[] = [];

async function fromDist<T>(rel: string): Promise<T> {
  return (await import(pathToFileURL(join(ROOT, 'dist', rel)).href)) as T;
}

async function startAgent(drainStrategy: 'gradual' | 'immediate'): Promise<{ gw: number; admin: number }> {
  const { Agent } = await fromDist<typeof AgentModule>('agent/agent.js');
  const { fileConfigSource } = await fromDist<typeof ConfigSourceModule>('agent/config-source.js');
  const { buildNodeIdentity } = await fromDist<typeof IdentityModule>('config/node-identity.js');
  const [gw, admin, health, outbound, stats] = await freePorts(5);
  const configDir = await writeConfigDir({
    yaml: toYaml(
      gateway({ port: gw! }),
      serviceEntry({ name: 'echo', host: svcHost('echo'), endpoints: [{ port: fx.upstreams.get('echo')!.port }] }),
      virtualService('all', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost('echo') } }] }] }),
    ),
  });
  const agent = new Agent({
    source: fileConfigSource({ paths: [configDir], node: buildNodeIdentity({ mode: 'gateway', namespace: 'default', labels: ['istio=ingressgateway'] }), outboundPort: outbound! }),
    workers: 1,
    logLevel: 'error',
    drainDurationMs: PERIOD_MS,
    drainStrategy,
    ports: { admin: admin!, stats: stats!, health: health! },
    watch: false,
  });
  cleanup.push(async () => {
    await agent.shutdown('test');
    await Promise.race([agent.exited, sleep(5_000)]);
    await rm(configDir, { recursive: true, force: true });
  });
  await agent.start();
  return { gw: gw!, admin: admin! };
}

/** Opens the idle connections, starts a graceful drain, and returns when each was closed (ms after the drain began; undefined: still open). */
async function closeTimes(strategy: 'gradual' | 'immediate'): Promise<{ times: (number | undefined)[]; gw: number }> {
  const { gw, admin } = await startAgent(strategy);
  const conns = await Promise.all(Array.from({ length: CONNECTIONS }, () => idleKeepAlive(gw, '/', HOST)));
  const t = Date.now();
  expect((await fetchText(admin, '/drain_listeners?graceful', 'POST')).text).toBe('OK\n');
  const times = await Promise.all(conns.map((c) => Promise.race([c.closed.then((at) => at - t), sleep(PERIOD_MS + 1_000).then(() => undefined)])));
  for (const c of conns) c.destroy();
  return { times, gw, startedAt: t };
}

beforeAll(async () => {
  assertBuilt();
  (await fromDist<typeof LogModule>('telemetry/log.js')).setLogLevel('error');
  fx = await namedUpstreams(['echo']);
});

afterAll(async () => {
  for (const f of cleanup) await f();
  await fx?.closeAll();
});

describe('graceful drain strategy', () => {
  it('immediate: every idle connection is closed at once', async () => {
    const { times } = await closeTimes('immediate');
    expect(times.every((ms) => ms !== undefined && ms < 300), JSON.stringify(times)).toBe(true);
  });

  it('gradual: the closes are spread over the drain period, all done by its end; then the listener stops', async () => {
    const { times, gw, startedAt } = await closeTimes('gradual');
    expect(times.every((ms) => ms !== undefined && ms <= PERIOD_MS + 300), JSON.stringify(times)).toBe(true);
    const sorted = (times as number[]).sort((a, b) => a - b);
    // 20 uniform draws over 1.2 s: the first within the first half and the last in the second are all but certain
    expect(sorted[0]).toBeLessThan(PERIOD_MS / 2);
    expect(sorted[CONNECTIONS - 1]).toBeGreaterThan(PERIOD_MS / 2);
    // the listener accepts until the drain period ends (the last close may come well before it)
    await sleep(Math.max(0, startedAt + PERIOD_MS + 200 - Date.now()));
    expect(await connectOutcome(gw, 500)).toBe('refused');
  });
});
