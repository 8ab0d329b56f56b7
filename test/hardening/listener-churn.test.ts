// Listeners added and removed by config reloads while traffic flows through another one (two
// workers, SO_REUSEPORT): the added port serves within a second, the removed one refuses new
// connections, and the steady listener does not fail a single request across the churn.
// (Invalid config under load is test/integration/reload.test.ts "invalid config during load".)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { atomicWrite, connectOutcome, startLoad, statusOf, waitFor } from '../helpers/lifecycle.js';
import { GATEWAY_ARGS, resource, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { join } from 'node:path';

let app: Upstream;
let proxy: RunningProxy;
let steady: number;
let churn: number;

function config(withChurn: boolean): string {
  const server = (port: number, name: string) => ({ port: { number: port, name, protocol: 'HTTP' }, hosts: ['*'] });
  return toYaml(
    serviceEntry({ name: 'app', host: svcHost('app'), port: 80, endpoints: [{ port: app.port }] }),
    resource('Gateway', 'gw', 'default', { selector: { istio: 'ingressgateway' }, servers: [server(steady, 'http-steady'), ...(withChurn ? [server(churn, 'http-churn')] : [])] }),
    virtualService('app', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost('app'), port: { number: 80 } } }] }] }),
  );
}

beforeAll(async () => {
  app = await startUpstream(undefined, 'app');
  [steady, churn] = await freePorts(2);
  proxy = await startProxy({ yaml: config(false), args: GATEWAY_ARGS, workers: 2 });
});

afterAll(async () => {
  await stopAllProxies();
  await app.close();
});

describe('listener churn under load', () => {
  it('3 × add then remove a listener: it serves, then refuses; the steady listener fails no request', async () => {
    const file = join(proxy.configDir, 'config.yaml');
    const load = startLoad({ port: steady, path: '/steady', host: 'shop.example.com', concurrency: 4, maxMs: 30_000 });
    try {
      for (let round = 0; round < 3; round++) {
        await atomicWrite(file, config(true));
        expect(await waitFor(async () => (await statusOf(churn, '/added')) === 200, 5_000, 50), `round ${round}: added listener serves`).toBe(true);
        await atomicWrite(file, config(false));
        expect(await waitFor(async () => (await connectOutcome(churn)) === 'refused', 5_000, 50), `round ${round}: removed listener refuses`).toBe(true);
      }
    } finally {
      const records = await load.stop();
      expect(records.length).toBeGreaterThan(100);
      expect(records.filter((r) => r.error || r.status !== 200)).toEqual([]);
    }
    expect(proxy.alive()).toBe(true);
  });
});
