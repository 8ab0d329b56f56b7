// Where the data plane runs: one worker on the main thread (no second V8 isolate), more — or one with
// --worker-threads — on worker threads. Either way the process runs with the proxy's V8 flags (the
// CLI starts node again with them, same pid), serves, reports its stats and drains on SIGTERM.
import { readdir, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namedUpstreams, svcHost } from '../helpers/fixtures.js';
import { GATEWAY_ARGS, gateway, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies } from '../helpers/proxy.js';
import { plainRequest, scrape } from '../helpers/telemetry.js';

let fx: Awaited<ReturnType<typeof namedUpstreams>>;

beforeAll(async () => {
  fx = await namedUpstreams(['echo']);
});

afterAll(async () => {
  await stopAllProxies();
  await fx?.closeAll();
});

/** The names of the process's threads (a worker thread is named worker-<index>). */
async function threadNames(pid: number): Promise<string[]> {
  const tasks = await readdir(`/proc/${pid}/task`);
  return Promise.all(tasks.map(async (t) => (await readFile(`/proc/${pid}/task/${t}/comm`, 'utf8')).trim()));
}

async function cmdline(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
}

describe.each([
  { workers: 1, args: [], threads: [] },
  { workers: 1, args: ['--worker-threads'], threads: ['worker-0'] },
  { workers: 2, args: [], threads: ['worker-0', 'worker-1'] },
])('--workers $workers $args', ({ workers, args, threads }) => {
  it(`data plane threads: [${threads.join(', ')}]; node flags set; serves and counts`, async () => {
    const gw = await freePort();
    const proxy = await startProxy({
      yaml: toYaml(gateway({ port: gw }), ...fx.entries, virtualService('echo', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost('echo') } }] }] })),
      args: [...GATEWAY_ARGS, ...args],
      workers,
      nodeFlags: [], // as `node bin/outrigger.js ...` starts it
    });
    expect((await threadNames(proxy.pid)).filter((n) => n.startsWith('worker-')).sort()).toEqual(threads);
    // started as `node dist/cli/main.js ...`: the same process now runs with the proxy's V8 flags
    expect(await cmdline(proxy.pid)).toEqual(expect.arrayContaining(['--max-semi-space-size=4', '--heap-growing-percent=20']));
    for (let i = 0; i < 4; i++) expect((await plainRequest(gw, `/r/${i}`, { host: 'thread.test' })).status).toBe(200);
    const stats = await scrape(proxy.ports.stats);
    expect(stats.sum('istio_requests_total', { response_code: '200' })).toBe(4);
    expect((await proxy.stop()).code).toBe(0);
  });
});
