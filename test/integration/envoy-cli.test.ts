// `outrigger` with Envoy's command line, as pilot-agent runs it: --mode validate on Istio's bootstrap goldens.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { freePort } from '../helpers/ports.js';
import { CLI, ROOT, runCli, sleep } from '../helpers/proxy.js';

const GOLDENS = resolve(ROOT, '../shared/conformance/istio/pkg/bootstrap/testdata');
const PILOT_AGENT_FLAGS = ['--drain-time-s', '45', '--drain-strategy', 'immediate', '--local-address-ip-version', 'v4', '--file-flush-interval-msec', '1000', '--disable-hot-restart', '--allow-unknown-static-fields', '-l', 'warning', '--component-log-level', 'misc:error'];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outrigger-envoy-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("outrigger with Envoy's command line", () => {
  it("--mode validate with pilot-agent's flags: a golden bootstrap is OK (exit 0)", async () => {
    const golden = join(GOLDENS, 'default_golden.json');
    const r = await runCli(['--mode', 'validate', '-c', golden, ...PILOT_AGENT_FLAGS, '--config-yaml', '{"node":{"cluster":"over"}}']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`configuration '${golden}' OK\n`);
  });

  it('--mode validate: a broken bootstrap exits 1 naming the file and the field', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ node: { id: 'sidecar~10.0.0.1~a.b~b.svc.cluster.local' }, admin: { address: { socket_address: { address: '127.0.0.1', port_value: 'admin' } } } }));
    const r = await runCli(['--mode', 'validate', '-c', bad, ...PILOT_AGENT_FLAGS]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`error initializing configuration '${bad}': ${bad}, field admin.address.socket_address.port_value: expected an integer, got string "admin"`);
  });

  it('without --allow-unknown-static-fields an unknown field is an error; with it, a warning', async () => {
    const golden = join(GOLDENS, 'stats_eviction_interval_golden.json');
    const strict = await runCli(['--mode', 'validate', '-c', golden]);
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain('field stats_eviction_interval: unknown field');
    const lenient = await runCli(['--mode', 'validate', '-c', golden, '--allow-unknown-static-fields']);
    expect(lenient.code, lenient.stderr).toBe(0);
    expect(lenient.stderr).toContain('unknown field stats_eviction_interval ignored (--allow-unknown-static-fields)');
  }, 60_000);

  it('a malformed command line exits 1 (as Envoy) with the reason; ignored flags are warned about', async () => {
    const r = await runCli(['-c', 'x.json', '--drain-strategy', 'never']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--drain-strategy must be gradual or immediate, got "never"');
    const warned = await runCli(['--mode', 'validate', '-c', join(GOLDENS, 'default_golden.json'), '--allow-unknown-static-fields', '--log-format', '%v']);
    expect(warned.code).toBe(0);
    expect(warned.stderr).toContain('--log-format is ignored');
  });

  it("the existing commands still run: validate -c <istio yaml> with --mode (Outrigger's)", async () => {
    const cfg = join(dir, 'se.yaml');
    await writeFile(cfg, 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: a}\nspec: {hosts: [a.example], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS}\n');
    const r = await runCli(['--mode', 'gateway', 'validate', '-c', cfg]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('config OK');
    // without a command it is Envoy's command line, and the error says which command reads Istio YAML
    const envoyStyle = await runCli(['-c', cfg, '--mode', 'validate']);
    expect(envoyStyle.code).toBe(1);
    expect(envoyStyle.stderr).toContain('run it with `outrigger run -c <file-or-dir>`');
  });

  it("serves: Istio's golden bootstrap as pilot-agent runs it starts, its admin API up before any control plane answered (PRE_INITIALIZING), and /quitquitquit exits 0", async () => {
    const admin = await freePort();
    const golden = join(GOLDENS, 'default_golden.json');
    // only the admin port is moved (the golden's own 15000 may be taken); its XDS pipe has no server
    const proxy = spawn(process.execPath, [CLI, '-c', golden, ...PILOT_AGENT_FLAGS, '--config-yaml', JSON.stringify({ admin: { address: { socket_address: { port_value: admin } } } })], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proxy.stderr!.on('data', (d) => (stderr += String(d)));
    const exited = new Promise<number | null>((r) => proxy.once('exit', (code) => r(code)));
    try {
      let ready: Response | undefined;
      for (let i = 0; i < 200 && !ready; i++) {
        ready = await fetch(`http://127.0.0.1:${admin}/ready`).catch(() => undefined);
        if (!ready) await sleep(50);
      }
      expect(ready?.status, stderr).toBe(503);
      expect(await ready!.text()).toBe('PRE_INITIALIZING\n');
      const state = await (await fetch(`http://127.0.0.1:${admin}/stats?usedonly&filter=${encodeURIComponent('^(server\\.state|listener_manager\\.workers_started)')}`)).text();
      expect(state).toContain('server.state: 2');
      expect((await fetch(`http://127.0.0.1:${admin}/quitquitquit`, { method: 'POST' })).status).toBe(200);
      expect(await Promise.race([exited, sleep(10_000).then(() => 'still running')])).toBe(0);
    } finally {
      proxy.kill('SIGKILL');
    }
  });
});
