// outrigger wait (pilot-agent wait): exit 0 once the proxy's readiness answers 200; 1 after the
// timeout when it never does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { runCli, startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';

let proxy: RunningProxy;

beforeAll(async () => {
  proxy = await startProxy({ yaml: '' });
});

afterAll(async () => {
  await stopAllProxies();
});

describe('outrigger wait', () => {
  it("a ready proxy's health port: exit 0", async () => {
    const r = await runCli(['wait', '--url', `http://127.0.0.1:${proxy.ports.health}/healthz/ready`, '--timeout', '5s']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('ready:');
  });

  it('nothing listening: exit 1 after the timeout, with the last error', async () => {
    const port = await freePort();
    const t = Date.now();
    const r = await runCli(['wait', '--url', `http://127.0.0.1:${port}/healthz/ready`, '--timeout', '1s', '--period', '100ms']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not ready within 1000 ms \(last: /);
    expect(Date.now() - t).toBeLessThan(10_000);
  });

  it('usage: a bad duration', async () => {
    const r = await runCli(['wait', '--timeout', 'soon']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--timeout must be a duration such as 500ms or 60s, got "soon"');
  });
});
