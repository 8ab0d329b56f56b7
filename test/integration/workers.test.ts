// --workers 2: both workers bind the listener (SO_REUSEPORT) and every request succeeds.
import { readFile } from 'node:fs/promises';
import { request as nodeRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namedUpstreams } from '../helpers/fixtures.js';
import { gateway, GATEWAY_ARGS, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';

let gw: number;
let proxy: RunningProxy;
let fx: Awaited<ReturnType<typeof namedUpstreams>>;

beforeAll(async () => {
  fx = await namedUpstreams(['echo']);
  gw = await freePort();
  proxy = await startProxy({
    yaml: toYaml(gateway({ port: gw }), ...fx.entries, virtualService('all', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: 'echo' } }] }] })),
    args: GATEWAY_ARGS,
    workers: 2,
  });
});

afterAll(async () => {
  await stopAllProxies();
  await fx?.closeAll();
});

/** LISTEN sockets on 127.0.0.1/0.0.0.0:port in this network namespace (/proc/net/tcp, state 0A). */
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

/** One request on a fresh connection (so the kernel spreads them across the workers' sockets). */
function freshConnectionGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = nodeRequest({ host: '127.0.0.1', port: gw, path, headers: { host: 'workers.test', connection: 'close' }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('two workers', () => {
  it('both workers bind the listener port (SO_REUSEPORT)', async () => {
    expect(await listeningSockets(gw)).toBe(2);
    expect(proxy.stderr()).toMatch(/ready: .*2 worker\(s\)/);
  });

  it('400 requests over fresh connections, 20 at a time, all succeed', async () => {
    const results: number[] = [];
    for (let batch = 0; batch < 20; batch++) {
      const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => freshConnectionGet(`/r/${batch}/${i}`)));
      for (const r of rs) {
        results.push(r.status);
        expect(JSON.parse(r.body).name).toBe('echo');
      }
    }
    expect(results.length).toBe(400);
    expect(results.filter((s) => s !== 200)).toEqual([]);
    expect(fx.upstreams.get('echo')!.requests.length).toBeGreaterThanOrEqual(400);
    expect(proxy.alive()).toBe(true);
  });

  it('SIGTERM stops both workers and the process exits 0', async () => {
    const exit = await proxy.stop(5_000);
    expect(exit.code).toBe(0);
    expect(await listeningSockets(gw)).toBe(0);
  });
});
