// Hostile inputs against config regexes: a pattern that a backtracking engine takes exponential time on
// (`(a+)+b`, valid RE2, which Envoy matches in linear time) must not hold a worker, and what RE2 refuses
// (lookbehind, backreferences) is a config error naming file, document and field.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileRegex, compileRegexRewrite, compileSearchRegex } from '../../src/common/regex.js';
import { namedUpstreams } from '../helpers/fixtures.js';
import { httpRequest, newAgent } from '../helpers/http.js';
import { gateway, GATEWAY_ARGS, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { runCli, startProxy, stopAllProxies, writeConfigDir, type RunningProxy } from '../helpers/proxy.js';

const EVIL = '(a+)+b';
/** 41 bytes: on a backtracking engine each extra `a` doubles the time (30 bytes took 8.6 s). */
const HOSTILE = 'a'.repeat(40) + 'c';

/** Mean time of one call in ms, after a warm-up. */
function meanMs(fn: () => unknown, runs: number): number {
  for (let i = 0; i < 10; i++) fn();
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) fn();
  return (performance.now() - t0) / runs;
}

describe('match time of (a+)+b', () => {
  it('a 41-byte value: well under a millisecond per match, and still right', () => {
    const re = compileRegex(EVIL);
    expect(re.test(HOSTILE)).toBe(false);
    expect(re.test('a'.repeat(40) + 'b')).toBe(true);
    expect(meanMs(() => re.test(HOSTILE), 200)).toBeLessThan(0.5); // measured: about 0.0005 ms
  });

  it('linear in the input: a 16 KiB value in a few milliseconds', () => {
    const re = compileRegex(EVIL);
    const t0 = performance.now();
    expect(re.test('a'.repeat(16 * 1024) + 'c')).toBe(false);
    expect(performance.now() - t0).toBeLessThan(100);
  });

  it('rewrite (unanchored, every match) and the admin stats filter (search) are linear too', () => {
    const rewrite = compileRegexRewrite(EVIL, 'x');
    expect(meanMs(() => rewrite(HOSTILE), 50)).toBeLessThan(0.5);
    expect(rewrite('/aab/ab')).toBe('/x/x');
    const filter = compileSearchRegex('(\\w+\\.?)+!');
    expect(meanMs(() => filter.test('cluster.outbound|80||reviews.default.svc.cluster.local.upstream_rq_total'), 50)).toBeLessThan(0.5);
  });
});

describe('(a+)+b through a real proxy', () => {
  let proxy: RunningProxy;
  let gw: number;
  let fx: Awaited<ReturnType<typeof namedUpstreams>>;
  const agent = newAgent();
  const to = (name: string) => [{ destination: { host: name } }];

  beforeAll(async () => {
    fx = await namedUpstreams(['by-header', 'by-uri', 'rewritten', 'fallback']);
    gw = await freePort();
    const yaml = toYaml(
      gateway({ port: gw }),
      ...fx.entries,
      virtualService('evil', {
        hosts: ['evil.test'],
        gateways: ['gw'],
        http: [
          { match: [{ headers: { 'x-probe': { regex: EVIL } } }], route: to('by-header') },
          { match: [{ uri: { regex: `/u/${EVIL}` } }], route: to('by-uri') },
          { match: [{ uri: { prefix: '/rw/' } }], rewrite: { uriRegexRewrite: { match: EVIL, rewrite: 'X' } }, route: to('rewritten') },
          { route: to('fallback') },
        ],
      }),
    );
    proxy = await startProxy({ yaml, args: GATEWAY_ARGS });
  });

  afterAll(async () => {
    await stopAllProxies();
    await fx?.closeAll();
    await agent.close();
  });

  async function timed(path: string, headers: Record<string, string> = {}): Promise<{ name: string; url: string; ms: number }> {
    const t0 = performance.now();
    const r = await httpRequest(gw, { host: 'evil.test', path, headers, dispatcher: agent, timeoutMs: 5_000 });
    expect(r.status).toBe(200);
    return { name: r.json().name, url: r.json().url, ms: performance.now() - t0 };
  }

  it('a 41-byte header against a header regex answers at once', async () => {
    const miss = await timed('/', { 'x-probe': HOSTILE });
    expect(miss.name).toBe('fallback');
    expect(miss.ms).toBeLessThan(1_000);
    expect((await timed('/', { 'x-probe': 'a'.repeat(40) + 'b' })).name).toBe('by-header');
  });

  it('a 41-byte path segment against a uri regex and a rewrite regex answers at once', async () => {
    const miss = await timed(`/u/${HOSTILE}`);
    expect(miss.name).toBe('fallback');
    expect(miss.ms).toBeLessThan(1_000);
    expect((await timed(`/u/${'a'.repeat(40)}b`)).name).toBe('by-uri');
    const rw = await timed(`/rw/${HOSTILE}/aab`);
    expect(rw.name).toBe('rewritten');
    expect(rw.url).toBe(`/rw/${HOSTILE}/X`);
    expect(rw.ms).toBeLessThan(1_000);
  });

  it('the admin /stats filter is RE2 and linear: a nested quantifier answers at once, lookbehind is a 400', async () => {
    const base = `http://127.0.0.1:${proxy.ports.admin}/stats`;
    const t0 = performance.now();
    const res = await fetch(`${base}?filter=${encodeURIComponent('(\\w+[._|]?)+!')}`, { signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
    expect(performance.now() - t0).toBeLessThan(1_000);
    const bad = await fetch(`${base}?filter=${encodeURIComponent('(?<=a)b')}`, { signal: AbortSignal.timeout(5_000) });
    expect(bad.status).toBe(400);
    await bad.text();
  });
});

describe('outrigger validate refuses what RE2 refuses', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  const vs = (name: string, http: unknown) =>
    toYaml(virtualService(name, { hosts: ['re.test'], http }, 'shop'));

  for (const [what, pattern] of [['lookbehind', '(?<=a)b'], ['a backreference', '(a|a)*\\1']] as const) {
    it(`${what} in a header match: file, document, resource and field`, async () => {
      const ok = vs('fine', [{ match: [{ uri: { regex: '/ok/[0-9]+' } }], route: [{ destination: { host: 're.test' } }] }]);
      const bad = vs('hostile', [{ match: [{ headers: { 'x-probe': { regex: pattern } } }], route: [{ destination: { host: 're.test' } }] }]);
      const dir = await writeConfigDir({ files: { 'routes.yaml': `${ok}---\n${bad}` } });
      dirs.push(dir);
      const r = await runCli(['validate', '-c', dir]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(join(dir, 'routes.yaml'));
      expect(r.stderr).toContain('document 1');
      expect(r.stderr).toContain('VirtualService shop/hostile');
      expect(r.stderr).toContain('spec.http[0].match[0].headers.x-probe.regex');
      expect(r.stderr).toContain('invalid regular expression');
      expect(r.stdout).not.toMatch(/config OK/);
    });
  }

  it('in a uri match and a uriRegexRewrite too', async () => {
    const byUri = vs('by-uri', [{ match: [{ uri: { regex: '(a|a)*\\1' } }], route: [{ destination: { host: 're.test' } }] }]);
    const byRewrite = vs('by-rewrite', [
      { match: [{ uri: { prefix: '/' } }], rewrite: { uriRegexRewrite: { match: '(?<=a)b', rewrite: 'c' } }, route: [{ destination: { host: 're.test' } }] },
    ]);
    const dir = await writeConfigDir({ files: { 'routes.yaml': `${byUri}---\n${byRewrite}` } });
    dirs.push(dir);
    const r = await runCli(['validate', '-c', dir]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('document 0, VirtualService shop/by-uri, field spec.http[0].match[0].uri.regex');
    expect(r.stderr).toContain('document 1, VirtualService shop/by-rewrite, field spec.http[0].rewrite.uriRegexRewrite.match');
  });
});
