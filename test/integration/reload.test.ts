// Hot reload: config file changes (atomic rename and in-place writes) apply under continuous load
// without failing a request; SIGHUP reloads with --no-watch; invalid config is rejected and the last
// good one keeps serving; a config directory picks up new files (also in subdirectories).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { svcHost } from '../helpers/fixtures.js';
import { atomicWrite, fetchText, namedSlowUpstream, promValue, startLoad, waitFor, whoAnswers, type LoadRecord } from '../helpers/lifecycle.js';
import { gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { sleep, startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import type { Upstream } from '../helpers/upstream.js';

const HOST = 'reload.test';
let upA: Upstream;
let upB: Upstream;
const tmpDirs: string[] = [];
const pools: Pool[] = [];

beforeAll(async () => {
  upA = await namedSlowUpstream('A');
  upB = await namedSlowUpstream('B');
});

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close().catch(() => {})));
  await stopAllProxies();
});

afterAll(async () => {
  await Promise.all([upA?.close(), upB?.close()]);
  await Promise.all(tmpDirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface MeshOpts {
  gw: number;
  /** Which ServiceEntry the /v route goes to. */
  dest: 'a' | 'b';
  /** Upstream port of ServiceEntry a's endpoint (default upstream A). */
  aPort?: number;
  /** An invalid weight on the route (a VirtualService field error). */
  badWeight?: boolean;
  /** One more ServiceEntry (c): a distinct config that routes like the one without it. */
  extra?: boolean;
}

/** Gateway + ServiceEntries a (→ A, or `aPort`) and b (→ B) + a VirtualService routing /v to `dest`. */
function mesh(o: MeshOpts): string {
  return toYaml(
    gateway({ port: o.gw }),
    serviceEntry({ name: 'a', host: svcHost('a'), endpoints: [{ port: o.aPort ?? upA.port }] }),
    serviceEntry({ name: 'b', host: svcHost('b'), endpoints: [{ port: upB.port }] }),
    ...(o.extra ? [serviceEntry({ name: 'c', host: svcHost('c'), endpoints: [{ port: upA.port }] })] : []),
    virtualService('v', {
      hosts: ['*'],
      gateways: ['gw'],
      http: [{ match: [{ uri: { prefix: '/v' } }], route: [{ destination: { host: svcHost(o.dest) }, ...(o.badWeight ? { weight: 'lots' } : {}) }] }],
    }),
  );
}

/** A config file in its own temp dir (so `-c FILE` is watched through its directory). */
async function configFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'outrigger-reload-'));
  tmpDirs.push(dir);
  const file = join(dir, 'mesh.yaml');
  await writeFile(file, text);
  return file;
}

/** Runs the proxy on `-c FILE` (the helper's own config dir stays empty). */
function startOnFile(file: string, extraArgs: string[] = [], workers = 2): Promise<RunningProxy> {
  return startProxy({ args: [...GATEWAY_ARGS, '-c', file, ...extraArgs], workers });
}

function countMatches(text: string, re: RegExp): number {
  return text.match(new RegExp(re.source, 'g'))?.length ?? 0;
}

const appliedCount = (p: RunningProxy) => countMatches(p.stderr(), /config \S+ applied/);

function newPool(port: number): Pool {
  const p = new Pool(`http://127.0.0.1:${port}`, { connections: 1, pipelining: 1, keepAliveTimeout: 30_000 });
  pools.push(p);
  return p;
}

/**
 * Waits (≤ `limitMs`) until the proxy logged one more applied config than `before` and `/v`
 * answers from `expected`; returns the time it took from `since`, or undefined.
 */
async function awaitEffect(p: RunningProxy, probe: Pool, before: number, expected: string, since: number, limitMs = 1_000): Promise<number | undefined> {
  const ok = await waitFor(async () => appliedCount(p) > before && (await whoAnswers(probe, '/v', HOST)).upstream === expected, limitMs, 10);
  return ok ? Date.now() - since : undefined;
}

function summarize(records: LoadRecord[]): string {
  const bad = records.filter((r) => r.error || r.status !== 200);
  return `${records.length} requests, ${bad.length} bad: ${JSON.stringify(bad.slice(0, 5))}`;
}

describe('hot reload of a config file under load', () => {
  it('≥ 5 flips between upstreams A and B (atomic renames and in-place writes): every request succeeds, each config applies within 1 s', async () => {
    const gw = await freePort();
    const file = await configFile(mesh({ gw, dest: 'a' }));
    const proxy = await startOnFile(file);
    const aBefore = upA.requests.length;
    const bBefore = upB.requests.length;
    const load = startLoad({ port: gw, path: '/v', host: HOST, concurrency: 4, maxMs: 10_000 });
    const probe = newPool(gw);
    await sleep(200);
    expect((await whoAnswers(probe, '/v', HOST)).upstream).toBe('A');

    // (route destination, endpoint of a) → who answers; route changes and cluster (endpoint) changes
    const flips: { cfg: MeshOpts; expect: 'A' | 'B'; inPlace: boolean }[] = [
      { cfg: { gw, dest: 'b' }, expect: 'B', inPlace: false },
      { cfg: { gw, dest: 'a' }, expect: 'A', inPlace: false },
      { cfg: { gw, dest: 'a', aPort: upB.port }, expect: 'B', inPlace: true },
      { cfg: { gw, dest: 'a' }, expect: 'A', inPlace: false },
      { cfg: { gw, dest: 'b' }, expect: 'B', inPlace: true },
      { cfg: { gw, dest: 'a' }, expect: 'A', inPlace: false },
    ];
    const windows: { from: number; to: number; expect: string }[] = [];
    const took: number[] = [];
    let records: LoadRecord[] = [];
    try {
      for (const [i, f] of flips.entries()) {
        const before = appliedCount(proxy);
        const tWrite = Date.now();
        if (windows.length) windows[windows.length - 1].to = tWrite;
        if (f.inPlace) await writeFile(file, mesh(f.cfg));
        else await atomicWrite(file, mesh(f.cfg));
        const ms = await awaitEffect(proxy, probe, before, f.expect, tWrite);
        expect(ms, `flip ${i} (${f.inPlace ? 'in-place' : 'rename'}) → ${f.expect} did not apply within 1 s; stderr:\n${proxy.stderr()}`).toBeDefined();
        expect(ms!).toBeLessThanOrEqual(1_000);
        took.push(ms!);
        windows.push({ from: Date.now(), to: Infinity, expect: f.expect });
        await sleep(300); // traffic on the new config
      }
    } finally {
      records = await load.stop();
    }
    const lastWindowEnd = Date.now();
    windows[windows.length - 1].to = lastWindowEnd;

    // zero failures, zero non-200 (no resets, no 503s from the swap)
    expect(records.filter((r) => r.error), summarize(records)).toEqual([]);
    expect(records.filter((r) => r.status !== 200), summarize(records)).toEqual([]);
    expect(records.length).toBeGreaterThan(100);
    // the load really ran across every flip
    expect(Math.max(...records.map((r) => r.end))).toBeGreaterThan(windows[windows.length - 1].from);
    // after a config was applied (every worker acked), every request that started then got its upstream
    for (const [i, w] of windows.entries()) {
      const inWindow = records.filter((r) => r.start >= w.from && r.end <= w.to);
      expect(inWindow.length, `window ${i}`).toBeGreaterThan(0);
      const wrong = inWindow.filter((r) => r.upstream !== w.expect);
      expect(wrong, `window ${i}: expected ${w.expect}`).toEqual([]);
    }
    const names = new Set(records.map((r) => r.upstream));
    expect(names).toEqual(new Set(['A', 'B']));
    expect(upA.requests.length - aBefore).toBeGreaterThan(0);
    expect(upB.requests.length - bBefore).toBeGreaterThan(0);
    expect(appliedCount(proxy)).toBe(flips.length);
    expect(proxy.stderr()).not.toMatch(/rejected|error/);
    expect(proxy.alive()).toBe(true);
    console.log(`reload: ${records.length} requests, apply latencies ${took.join(', ')} ms`);
  });
});

describe('bursts of changes', () => {
  it('writes closer together than the debounce and during a reload in progress: the last write wins', async () => {
    const gw = await freePort();
    const file = await configFile(mesh({ gw, dest: 'a' }));
    const proxy = await startOnFile(file);
    const probe = newPool(gw);
    expect((await whoAnswers(probe, '/v', HOST)).upstream).toBe('A');
    // every step a distinct config; the last one routes /v to B (through a's endpoint)
    const steps: { cfg: MeshOpts; gapMs: number; inPlace: boolean }[] = [
      { cfg: { gw, dest: 'b' }, gapMs: 0, inPlace: false },
      { cfg: { gw, dest: 'a' }, gapMs: 40, inPlace: true },
      { cfg: { gw, dest: 'b' }, gapMs: 130, inPlace: false },
      { cfg: { gw, dest: 'a' }, gapMs: 20, inPlace: false },
      { cfg: { gw, dest: 'a', aPort: upB.port }, gapMs: 110, inPlace: true },
    ];
    for (const st of steps) {
      await sleep(st.gapMs);
      if (st.inPlace) await writeFile(file, mesh(st.cfg));
      else await atomicWrite(file, mesh(st.cfg));
    }
    const t = Date.now();
    const settled = await waitFor(async () => (await whoAnswers(probe, '/v', HOST)).upstream === 'B', 1_000, 10);
    expect(settled, `the last write did not win within 1 s; stderr:\n${proxy.stderr()}`).toBeTruthy();
    // and it stays: no coalesced reload left behind brings an older config back
    await sleep(400);
    for (let i = 0; i < 20; i++) expect((await whoAnswers(probe, '/v', HOST)).upstream).toBe('B');
    const dump = JSON.parse((await fetchText(proxy.ports.admin, '/config_dump')).text);
    const version: string = dump.configs.find((c: any) => c.version_info)?.version_info;
    const applied = [...proxy.stderr().matchAll(/config (\S+) applied/g)].map((m) => m[1]);
    expect(applied.length).toBeGreaterThan(0);
    expect(applied[applied.length - 1]).toBe(version);
    expect(Date.now() - t).toBeLessThan(3_000);
    expect(proxy.stderr()).not.toMatch(/rejected/);
  });
});

describe('SIGHUP', () => {
  it('with --no-watch a changed file has no effect until SIGHUP, then applies', async () => {
    const gw = await freePort();
    const file = await configFile(mesh({ gw, dest: 'a' }));
    const proxy = await startOnFile(file, ['--no-watch'], 1);
    const probe = newPool(gw);
    expect((await whoAnswers(probe, '/v', HOST)).upstream).toBe('A');

    await atomicWrite(file, mesh({ gw, dest: 'b' }));
    await sleep(300);
    await writeFile(file, mesh({ gw, dest: 'b' })); // an in-place write too: still ignored
    await sleep(500);
    for (let i = 0; i < 10; i++) expect((await whoAnswers(probe, '/v', HOST)).upstream).toBe('A');
    expect(appliedCount(proxy)).toBe(0);

    const before = appliedCount(proxy);
    const t = Date.now();
    process.kill(proxy.pid, 'SIGHUP');
    const ms = await awaitEffect(proxy, probe, before, 'B', t);
    expect(ms, proxy.stderr()).toBeDefined();
    expect(proxy.stderr()).toMatch(/config \S+ applied \(SIGHUP\)/);
    for (let i = 0; i < 10; i++) expect((await whoAnswers(probe, '/v', HOST)).upstream).toBe('B');
    expect(proxy.alive()).toBe(true);
  });

  it('a SIGHUP during a reload in progress is not lost: the coalesced reload runs after it', async () => {
    const gw = await freePort();
    const file = await configFile(mesh({ gw, dest: 'a' }));
    // 1000 more ServiceEntries in a second file: every reload takes long enough to overlap a signal
    const pad = Array.from({ length: 1_000 }, (_, i) => serviceEntry({ name: `pad${i}`, host: `pad${i}.example`, endpoints: [{ port: 1 }] }));
    const padFile = join(file, '..', 'padding.yaml');
    await writeFile(padFile, toYaml(...pad));
    const proxy = await startOnFile(file, ['--no-watch', '-c', padFile], 1);
    const probe = newPool(gw);
    expect((await whoAnswers(probe, '/v', HOST)).upstream).toBe('A');

    await atomicWrite(file, mesh({ gw, dest: 'b' }));
    process.kill(proxy.pid, 'SIGHUP'); // reload 1 reads B, then spends its time on the padding
    await sleep(30);
    await atomicWrite(file, mesh({ gw, dest: 'a', extra: true }));
    process.kill(proxy.pid, 'SIGHUP'); // arrives while reload 1 runs: must run after it and read the new file

    const ok = await waitFor(async () => /config \S+ applied \(SIGHUP\)/.test(proxy.stderr()) && (await whoAnswers(probe, '/v', HOST)).upstream === 'A', 3_000, 20);
    expect(ok, proxy.stderr()).toBeTruthy();
    await sleep(300);
    for (let i = 0; i < 10; i++) expect((await whoAnswers(probe, '/v', HOST)).upstream).toBe('A');
    const dump = JSON.parse((await fetchText(proxy.ports.admin, '/config_dump')).text);
    const version: string = dump.configs.find((c: any) => c.version_info)?.version_info;
    const applied = [...proxy.stderr().matchAll(/config (\S+) applied/g)].map((m) => m[1]);
    expect(applied[applied.length - 1]).toBe(version);
    // the active config has ServiceEntry c: it is the second write, not the first
    expect(JSON.stringify(dump)).toContain(svcHost('c'));
  });
});

describe('invalid config during load', () => {
  it('is rejected with a precise error, counted, the old config keeps serving; a valid one applies after', async () => {
    const gw = await freePort();
    const file = await configFile(mesh({ gw, dest: 'a' }));
    const proxy = await startOnFile(file);
    const probe = newPool(gw);
    const statsBefore = await fetchText(proxy.ports.stats, '/stats/prometheus');
    expect(promValue(statsBefore.text, 'outrigger_config_rejected_total')).toBe(0);
    const dumpBefore = JSON.parse((await fetchText(proxy.ports.admin, '/config_dump')).text);
    const versionBefore: string = dumpBefore.configs.find((c: any) => c.version_info)?.version_info;
    expect(versionBefore).toMatch(/\S+/);

    const load = startLoad({ port: gw, path: '/v', host: HOST, concurrency: 3, maxMs: 8_000 });
    let records: LoadRecord[] = [];
    try {
      await sleep(150);
      // 1. a field error (wrong type), written atomically
      const bad = mesh({ gw, dest: 'b', badWeight: true });
      const badLine = bad.split('\n').findIndex((l) => /weight: lots/.test(l)) + 1;
      const badDoc = bad.split(/^---$/m).findIndex((d) => /kind: VirtualService/.test(d));
      const tBad = Date.now();
      await atomicWrite(file, bad);
      // the rejection and its details may arrive in separate writes: wait for both
      expect(await waitFor(() => /config rejected/.test(proxy.stderr()) && proxy.stderr().includes('spec.http[0].route[0].weight'), 3_000), proxy.stderr()).toBeTruthy();
      const err = proxy.stderr();
      expect(err).toContain(`${file}:${badLine}`);
      expect(err).toContain(`document ${badDoc}`);
      expect(err).toContain('VirtualService default/v');
      expect(err).toContain('spec.http[0].route[0].weight');
      expect(err).toContain(`keeping config ${versionBefore}`);
      await sleep(400);
      const afterBad = load.records.filter((r) => r.start >= tBad);
      expect(afterBad.length).toBeGreaterThan(0);
      expect(afterBad.filter((r) => r.upstream !== 'A')).toEqual([]);
      expect(promValue((await fetchText(proxy.ports.stats, '/stats/prometheus')).text, 'outrigger_config_rejected_total')).toBe(1);
      const dumpAfter = JSON.parse((await fetchText(proxy.ports.admin, '/config_dump')).text);
      for (const c of dumpAfter.configs) if (c.version_info !== undefined) expect(c.version_info).toBe(versionBefore);

      // 2. a YAML syntax error, written in place
      const syntax = mesh({ gw, dest: 'b' }).replace('kind: VirtualService', 'kind: VirtualService\nmetadata: {name: [unclosed');
      await writeFile(file, syntax);
      expect(await waitFor(() => countMatches(proxy.stderr(), /config rejected/) >= 2, 1_500), proxy.stderr()).toBeTruthy();
      expect(proxy.stderr()).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+`));
      expect(promValue((await fetchText(proxy.ports.stats, '/stats/prometheus')).text, 'outrigger_config_rejected_total')).toBe(2);
      expect((await whoAnswers(probe, '/v', HOST)).upstream).toBe('A');

      // 3. a valid config applies again
      const before = appliedCount(proxy);
      const t = Date.now();
      await atomicWrite(file, mesh({ gw, dest: 'b' }));
      const ms = await awaitEffect(proxy, probe, before, 'B', t);
      expect(ms, proxy.stderr()).toBeDefined();
      const stats = (await fetchText(proxy.ports.stats, '/stats/prometheus')).text;
      expect(promValue(stats, 'outrigger_config_rejected_total')).toBe(2);
      expect(promValue(stats, 'outrigger_config_reloads_total')).toBe(1);
      const dumpNew = JSON.parse((await fetchText(proxy.ports.admin, '/config_dump')).text);
      expect(dumpNew.configs.find((c: any) => c.version_info)?.version_info).not.toBe(versionBefore);
      await sleep(200);
    } finally {
      records = await load.stop();
    }
    expect(records.filter((r) => r.error || r.status !== 200), summarize(records)).toEqual([]);
    expect(records.length).toBeGreaterThan(50);
    expect(proxy.alive()).toBe(true);
  });
});

describe('config directory (-c DIR)', () => {
  it('picks up a newly added file, one in an existing subdirectory and one in a new subdirectory', async () => {
    const gw = await freePort();
    const base = toYaml(
      gateway({ port: gw }),
      serviceEntry({ name: 'a', host: svcHost('a'), endpoints: [{ port: upA.port }] }),
      serviceEntry({ name: 'b', host: svcHost('b'), endpoints: [{ port: upB.port }] }),
      virtualService('v', { hosts: [HOST], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost('a') } }] }] }),
    );
    const proxy = await startProxy({ files: { 'base.yaml': base, 'routes/README.txt': 'not config\n' }, args: GATEWAY_ARGS, workers: 1 });
    const dir = proxy.configDir;
    const vs = (name: string, host: string, dest: 'a' | 'b') =>
      toYaml(virtualService(name, { hosts: [host], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost(dest) } }] }] }));

    const cases: { rel: string; host: string; dest: 'a' | 'b'; expect: string; mkdir?: string }[] = [
      { rel: 'extra.yaml', host: 'extra.test', dest: 'b', expect: 'B' },
      { rel: 'routes/more.yml', host: 'more.test', dest: 'a', expect: 'A' },
      { rel: 'routes/deep/new.json', host: 'deep.test', dest: 'b', expect: 'B', mkdir: 'routes/deep' },
    ];
    const pool = newPool(gw);
    for (const c of cases) {
      expect((await whoAnswers(pool, '/x', c.host)).status, `${c.host} before its file exists`).toBe(404);
      const before = appliedCount(proxy);
      const t = Date.now();
      if (c.mkdir) {
        await mkdir(join(dir, c.mkdir), { recursive: true });
        await sleep(50);
      }
      const text = c.rel.endsWith('.json') ? JSON.stringify(virtualService(c.rel, { hosts: [c.host], gateways: ['gw'], http: [{ route: [{ destination: { host: svcHost(c.dest) } }] }] })) : vs(c.rel.replace(/\W/g, '-'), c.host, c.dest);
      await writeFile(join(dir, c.rel), text);
      const ok = await waitFor(async () => appliedCount(proxy) > before && (await whoAnswers(pool, '/x', c.host)).upstream === c.expect, 1_000, 10);
      expect(ok, `${c.rel} not picked up within 1 s (${Date.now() - t} ms); stderr:\n${proxy.stderr()}`).toBeTruthy();
      // the earlier routes are still there
      expect((await whoAnswers(pool, '/v', HOST)).upstream).toBe('A');
    }
    expect(proxy.stderr()).not.toMatch(/rejected/);
  });
});
