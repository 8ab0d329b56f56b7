// `outrigger ca init|issue`: files written, exit codes, usage errors.
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadWorkloadCerts } from '../../src/security/workload-certs.js';
import { runCli } from '../helpers/proxy.js';

let base: string;
let caDir: string;
beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'outrigger-ca-cli-'));
  caDir = join(base, 'ca');
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('outrigger ca init', () => {
  it('writes ca-cert.pem and ca-key.pem (0600) and says so', async () => {
    const r = await runCli(['ca', 'init', '--dir', caDir, '--trust-domain', 'mesh.example', '--days', '30']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`wrote ${join(caDir, 'ca-cert.pem')}`);
    expect(r.stdout).toContain(`wrote ${join(caDir, 'ca-key.pem')}`);
    const cert = new X509Certificate(await readFile(join(caDir, 'ca-cert.pem')));
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('O=mesh.example');
    expect((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000).toBeCloseTo(30, 2);
    expect((await stat(join(caDir, 'ca-key.pem'))).mode & 0o777).toBe(0o600);
  });

  it('exits 1 rather than replace an existing CA key', async () => {
    const before = await readFile(join(caDir, 'ca-key.pem'), 'utf8');
    const r = await runCli(['ca', 'init', '--dir', caDir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ca-dir ${caDir}: ca-key.pem already exists`);
    expect(await readFile(join(caDir, 'ca-key.pem'), 'utf8')).toBe(before);
  });
});

describe('outrigger ca issue', () => {
  it("writes Istio's file-mounted layout that loads back with the identity", async () => {
    const out = join(base, 'web-certs');
    const r = await runCli(['ca', 'issue', '--ca-dir', caDir, '--namespace', 'shop', '--service-account', 'web', '--out', out, '--trust-domain', 'mesh.example']);
    expect(r.code, r.stderr).toBe(0);
    for (const f of ['cert-chain.pem', 'key.pem', 'root-cert.pem']) expect(r.stdout).toContain(`wrote ${join(out, f)}`);
    expect(r.stdout).toContain('identity spiffe://mesh.example/ns/shop/sa/web');
    const certs = await loadWorkloadCerts(out);
    expect(certs.identity.principal).toBe('mesh.example/ns/shop/sa/web');
    expect((certs.notAfter - Date.now()) / 3_600_000).toBeCloseTo(24, 0); // --days default 1
    expect(certs.rootCertPem).toBe(await readFile(join(caDir, 'ca-cert.pem'), 'utf8'));
    expect((await stat(join(out, 'key.pem'))).mode & 0o777).toBe(0o600);
  });

  it('--days sets the validity', async () => {
    const out = join(base, 'db-certs');
    const r = await runCli(['ca', 'issue', '--ca-dir', caDir, '--namespace', 'data', '--service-account', 'db', '--out', out, '--days', '0.5']);
    expect(r.code, r.stderr).toBe(0);
    const certs = await loadWorkloadCerts(out);
    expect(certs.identity.spiffeId).toBe('spiffe://cluster.local/ns/data/sa/db');
    expect((certs.notAfter - Date.now()) / 3_600_000).toBeCloseTo(12, 0);
  });

  it('a missing CA directory exits 1 naming the file', async () => {
    const r = await runCli(['ca', 'issue', '--ca-dir', join(base, 'nope'), '--namespace', 'a', '--service-account', 'b', '--out', join(base, 'x')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ca-dir ${join(base, 'nope')}: ca-cert.pem is missing`);
  });
});

describe('usage errors exit 2', () => {
  const cases: [string[], string][] = [
    [['ca'], 'ca needs a command: init or issue'],
    [['ca', 'frobnicate'], 'frobnicate'],
    [['ca', 'init'], 'ca init needs --dir'],
    [['ca', 'init', '--dir', '/tmp/x', '--bogus-flag'], '--bogus-flag'],
    [['ca', 'init', '--dir', '/tmp/x', '--workers', '2'], '--workers is not a flag of "outrigger ca init"'],
    [['ca', 'init', '--dir', '/tmp/x', '--namespace', 'a'], '--namespace is not a flag of "outrigger ca init"'],
    [['ca', 'init', '--dir', '/tmp/x', 'extra'], 'unexpected argument "extra"'],
    [['ca', 'init', '--dir', '/tmp/x', '--days', '0'], '--days'],
    [['ca', 'init', '--dir', '/tmp/x', '--days', 'ten'], '--days'],
    [['ca', 'init', '--dir', '/tmp/x', '--trust-domain', 'Bad/Domain'], '--trust-domain'],
    [['ca', 'issue', '--ca-dir', '/tmp/x', '--service-account', 'b', '--out', '/tmp/y'], 'ca issue needs --namespace'],
    [['ca', 'issue', '--ca-dir', '/tmp/x', '--namespace', 'a', '--out', '/tmp/y'], 'ca issue needs --service-account'],
    [['ca', 'issue', '--ca-dir', '/tmp/x', '--namespace', 'a', '--service-account', 'b'], 'ca issue needs --out'],
    [['ca', 'issue', '--ca-dir', '/tmp/x', '--namespace', 'a/b', '--service-account', 'b', '--out', '/tmp/y'], '--namespace and --service-account'],
    [['ca', 'issue', '--dir', '/tmp/x', '--namespace', 'a', '--service-account', 'b', '--out', '/tmp/y'], '--dir is not a flag of "outrigger ca issue"'],
    [['run', '-c', '/tmp', '--out', '/tmp/y'], '--out is only a flag of "outrigger ca"'],
  ];
  for (const [args, message] of cases) {
    it(args.join(' '), async () => {
      const r = await runCli(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(message);
    });
  }

  it('--help lists the ca commands', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const s of ['outrigger ca init --dir', 'outrigger ca issue --ca-dir', '--service-account <sa> --out <dir>', '--days']) expect(r.stdout).toContain(s);
  });
});
