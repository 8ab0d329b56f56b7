// The command line: validate, run on bad config, usage errors and --help.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { ROOT, runCli, writeConfigDir } from '../helpers/proxy.js';

const GOOD = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: good
spec:
  hosts: [good.example]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: ok
  namespace: shop
spec:
  hosts: [good.example]
  http:
  - route:
    - destination: {host: good.example}
`;

// line 20 holds the bad field, in document 1 (0-based)
const BAD = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: good
spec:
  hosts: [good.example]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: broken
  namespace: shop
spec:
  hosts: [good.example]
  http:
  - route:
    - destination: {host: good.example}
      weight: lots
`;

// two independent errors: both must be reported
const TWO_ERRORS = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: dr
spec:
  host: good.example
  trafficPolicy:
    loadBalancer: {simple: SOMETIMES}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
    colour: blue
`;

const dirs: string[] = [];
async function configDir(files: Record<string, string>): Promise<string> {
  const d = await writeConfigDir({ files });
  dirs.push(d);
  return d;
}

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('validate', () => {
  it('exits 0 and summarizes a good config', async () => {
    const dir = await configDir({ 'mesh.yaml': GOOD });
    const r = await runCli(['validate', '-c', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/config OK/);
  });

  it('accepts the shipped demo config', async () => {
    const r = await runCli(['validate', '-c', join(ROOT, 'examples', 'demo')]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('exits 1 naming file:line, document, resource and field', async () => {
    const dir = await configDir({ 'mesh.yaml': BAD });
    const file = join(dir, 'mesh.yaml');
    const r = await runCli(['validate', '-c', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:20`);
    expect(r.stderr).toContain('document 1');
    expect(r.stderr).toContain('VirtualService shop/broken');
    expect(r.stderr).toContain('spec.http[0].route[0].weight');
    expect(r.stdout).not.toMatch(/config OK/);
  });

  it('reports every error of a config, each with its location', async () => {
    const dir = await configDir({ 'a.yaml': TWO_ERRORS });
    const file = join(dir, 'a.yaml');
    const r = await runCli(['validate', '-c', dir]);
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(r.stderr).toContain(`${file}:8`);
    expect(r.stderr).toContain('spec.trafficPolicy.loadBalancer.simple');
    expect(r.stderr).toContain('document 1');
    expect(r.stderr).toContain('colour');
  });

  it('a YAML syntax error names file and line', async () => {
    const dir = await configDir({ 'broken.yaml': 'apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: x\nspec: {}\n' });
    const r = await runCli(['validate', '-c', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${join(dir, 'broken.yaml').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+`));
  });

  it('--proxy-config (this proxy\'s ProxyConfig) is checked with the config: an error names it and the field', async () => {
    const dir = await configDir({ 'mesh.yaml': GOOD });
    const bad = await runCli(['validate', '-c', dir, '--proxy-config', 'gatewayTopology: { numTrustedProxies: -2 }']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('error: ProxyConfig --proxy-config, field gatewayTopology.numTrustedProxies: must be between 0 and 4294967295, got -2');
    const good = await runCli(['validate', '-c', dir, '--proxy-config', '{"gatewayTopology":{"numTrustedProxies":1},"concurrency":2}']);
    expect(good.code, good.stderr).toBe(0);
    expect(good.stderr).toContain('warning: --proxy-config: proxy config fields concurrency accepted but not applied by the data plane');
  });

  it('a missing path is an error', async () => {
    const r = await runCli(['validate', '-c', '/nonexistent/outrigger-config']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('/nonexistent/outrigger-config');
  });
});

describe('run', () => {
  it('refuses to start on bad config: exit 1, the error on stderr', async () => {
    const dir = await configDir({ 'mesh.yaml': BAD });
    const [health, outbound, admin, stats, inbound] = await freePorts(5);
    const r = await runCli([
      'run', '-c', dir, '--workers', '1',
      '--health-port', String(health), '--outbound-port', String(outbound), '--admin-port', String(admin),
      '--stats-port', String(stats), '--inbound-port', String(inbound),
    ]);
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(dir, 'mesh.yaml')}:20`);
    expect(r.stderr).toContain('spec.http[0].route[0].weight');
    expect(r.stderr).not.toContain('ready:');
  });
});

describe('usage', () => {
  it('an unknown flag exits 2 and names it', async () => {
    const r = await runCli(['run', '-c', '/tmp', '--bogus-flag']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--bogus-flag');
  });

  it('an unknown command exits 2', async () => {
    const r = await runCli(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('frobnicate');
  });

  it('bad flag values exit 2', async () => {
    for (const args of [['run', '-c', '/tmp', '--workers', '0'], ['run', '-c', '/tmp', '--mode', 'router'], ['run', '-c', '/tmp', '--health-port', '70000'], ['run']]) {
      const r = await runCli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
    }
  });

  it('--help lists the commands and flags', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const s of [
      'run', 'validate', '-c, --config', '--mode', '--namespace', '--label', '--workers', '--log-level',
      '--health-port', '--outbound-port', '--admin-port', '--stats-port', '--inbound-port',
    ]) {
      expect(r.stdout).toContain(s);
    }
  });

  it('--version prints the package version in Envoy\'s shape', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\noutrigger {2}version: outrigger\/\d+\.\d+\.\d+\/Clean\/RELEASE\/OpenSSL\n\n$/);
  });
});
