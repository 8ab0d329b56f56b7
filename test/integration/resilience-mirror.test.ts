// Request mirroring through a real gateway, in the shape of Istio's mirroring docs task: route to
// httpbin v1, mirror to v2 (mirrorPercentage 100). The mirror gets a copy (Host `<authority>-shadow`,
// same method, path, headers and body bytes), fire and forget: its latency, status and reachability
// never touch the primary's response. Also mirrorPercentage 0 and 50, a body too large to buffer,
// and a `mirrors:` list with two destinations.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { httpRequest, newAgent } from '../helpers/http.js';
import { waitFor } from '../helpers/lifecycle.js';
import { destinationRule, gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { ROOT, sleep, startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { scrape } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const HTTPBIN = 'httpbin.default.svc.cluster.local';
const SHADOW3 = 'shadow3.default.svc.cluster.local';
const DEADMIRROR = 'deadmirror.default.svc.cluster.local';
const MIRROR_DELAY_MS = 1_000;

/** One request as an upstream saw it. */
interface Seen {
  upstream: string;
  key: string;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  bytes: number;
  sha: string;
  at: number;
}

const seen: Seen[] = [];
const seenBy = (upstream: string, key: string) => seen.filter((s) => s.upstream === upstream && s.key === key);
const timers = new Set<NodeJS.Timeout>();

/**
 * Records every request (body sha256) and answers 200 {upstream, bytes, sha} once the body is read.
 * A mirror target (`obey`) also follows `m=slow` (answer after MIRROR_DELAY_MS) and `m=500`.
 */
async function recorder(name: string, obey: boolean): Promise<Upstream> {
  return startUpstream((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    req.on('end', () => {
      const sha = hash.digest('hex');
      seen.push({ upstream: name, key: url.searchParams.get('key') ?? '', method: req.method ?? '', url: req.url ?? '', headers: req.headers, bytes, sha, at: Date.now() });
      const m = obey ? url.searchParams.get('m') : null;
      const status = m === '500' ? 500 : 200;
      const body = JSON.stringify({ upstream: name, bytes, sha });
      const answer = () => {
        if (res.destroyed) return;
        res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-upstream': name });
        res.end(body);
      };
      if (m !== 'slow') return answer();
      const t = setTimeout(() => {
        timers.delete(t);
        answer();
      }, MIRROR_DELAY_MS);
      timers.add(t);
    });
  }, name);
}

/** The docs task's mirroring route (`http` of snip_mirroring_traffic_to_v2_1.yaml), read in place when there. */
function docsMirrorHttp(): Record<string, unknown>[] {
  const file = join(ROOT, '..', 'shared', 'conformance', 'istio', 'docs-tasks', 'traffic-management', 'mirroring', 'snip_mirroring_traffic_to_v2_1.yaml');
  if (existsSync(file)) {
    const vs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS()).find((d) => d?.kind === 'VirtualService');
    if (vs) return vs.spec.http;
  }
  return [{ route: [{ destination: { host: 'httpbin', subset: 'v1' }, weight: 100 }], mirror: { host: 'httpbin', subset: 'v2' }, mirrorPercentage: { value: 100.0 } }];
}

let proxy: RunningProxy;
let gw: number;
let v1: Upstream;
let v2: Upstream;
let v3: Upstream;
const agent = newAgent({ connections: 16 });

beforeAll(async () => {
  v1 = await recorder('v1', false);
  v2 = await recorder('v2', true);
  v3 = await recorder('v3', true);
  let deadPort: number;
  [gw, deadPort] = await freePorts(2);
  const route = [{ destination: { host: 'httpbin', subset: 'v1' }, weight: 100 }];
  const vs = (host: string, http: Record<string, unknown>) => virtualService(host.replace(/\./g, '-'), { hosts: [host], gateways: ['gw'], http: [{ route, ...http }] });
  const yaml = toYaml(
    gateway({ port: gw }),
    serviceEntry({ name: 'httpbin', host: HTTPBIN, endpoints: [{ port: v1.port, labels: { version: 'v1' } }, { port: v2.port, labels: { version: 'v2' } }] }),
    serviceEntry({ name: 'shadow3', host: SHADOW3, endpoints: [{ port: v3.port }] }),
    serviceEntry({ name: 'deadmirror', host: DEADMIRROR, endpoints: [{ port: deadPort }] }),
    destinationRule('httpbin', { host: 'httpbin', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] }),
    virtualService('httpbin', { hosts: ['mirror.test'], gateways: ['gw'], http: docsMirrorHttp() }),
    vs('mirror0.test', { mirror: { host: 'httpbin', subset: 'v2' }, mirrorPercentage: { value: 0 } }),
    vs('mirror50.test', { mirror: { host: 'httpbin', subset: 'v2' }, mirrorPercentage: { value: 50 } }),
    vs('mirrors.test', { mirrors: [{ destination: { host: 'httpbin', subset: 'v2' } }, { destination: { host: SHADOW3 } }] }),
    vs('mirrordead.test', { mirror: { host: DEADMIRROR } }),
  );
  proxy = await startProxy({ allStats: true, yaml, args: GATEWAY_ARGS });
});

afterAll(async () => {
  for (const t of timers) clearTimeout(t);
  await agent.close();
  await stopAllProxies();
  await Promise.all([v1, v2, v3].map((u) => u?.close()));
});

let keyN = 0;
const newKey = () => `m${++keyN}`;

async function call(host: string, opts: { query?: string; method?: string; body?: Buffer; headers?: Record<string, string> } = {}) {
  const key = newKey();
  const started = Date.now();
  const res = await httpRequest(gw, {
    method: opts.method ?? (opts.body ? 'POST' : 'GET'),
    path: `/anything/x?key=${key}${opts.query ? `&${opts.query}` : ''}`,
    host,
    headers: { 'x-request-id': `rid-${key}`, ...opts.headers },
    body: opts.body,
    dispatcher: agent,
    timeoutMs: 5_000,
  });
  return { ...res, key, ms: Date.now() - started };
}

/** Waits (bounded) until `upstream` saw a request for `key`. */
async function mirrored(upstream: string, key: string, timeoutMs = 2_000): Promise<Seen | undefined> {
  return waitFor(() => seenBy(upstream, key)[0], timeoutMs, 10);
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('mirror to v2, mirrorPercentage 100 (docs task)', () => {
  it('the response comes from v1; v2 gets a copy with Host `<authority>-shadow`, same method, path and headers', async () => {
    const r = await call('mirror.test', { headers: { 'x-custom': 'abc', 'user-agent': 'mirror-test' } });
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ upstream: 'v1' });
    expect(r.headers['x-upstream']).toBe('v1');
    const copy = await mirrored('v2', r.key);
    expect(copy).toBeDefined();
    const primary = seenBy('v1', r.key);
    expect(primary).toHaveLength(1);
    expect(seenBy('v2', r.key)).toHaveLength(1);
    expect(primary[0].headers.host).toBe('mirror.test');
    expect(copy!.headers.host).toBe('mirror.test-shadow');
    expect(copy!.method).toBe('GET');
    expect(copy!.url).toBe(primary[0].url);
    const { host: _h1, ...h1 } = primary[0].headers;
    const { host: _h2, ...h2 } = copy!.headers;
    expect(h2).toEqual(h1);
    expect(h2).toMatchObject({ 'x-custom': 'abc', 'user-agent': 'mirror-test', 'x-request-id': `rid-${r.key}` });
  });

  it('an authority with a port keeps it after -shadow', async () => {
    const r = await call(`mirror.test:${gw}`);
    expect(r.status).toBe(200);
    const copy = await mirrored('v2', r.key);
    expect(copy?.headers.host).toBe(`mirror.test-shadow:${gw}`);
    expect(seenBy('v1', r.key)[0]?.headers.host).toBe(`mirror.test:${gw}`);
  });

  it('a POST body reaches the mirror byte for byte (and the primary too)', async () => {
    const body = randomBytes(256 * 1024);
    const r = await call('mirror.test', { body, method: 'POST', headers: { 'content-type': 'application/octet-stream' } });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ upstream: 'v1', bytes: body.length, sha: sha(body) });
    const copy = await mirrored('v2', r.key);
    expect(copy).toMatchObject({ method: 'POST', bytes: body.length, sha: sha(body) });
    expect(copy!.headers['content-type']).toBe('application/octet-stream');
  });

  it('a slow mirror (1 s) does not delay the primary', async () => {
    const r = await call('mirror.test', { query: 'm=slow' });
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ upstream: 'v1' });
    expect(r.ms).toBeLessThan(MIRROR_DELAY_MS / 2);
    expect(await mirrored('v2', r.key)).toBeDefined();
  });

  it('a mirror answering 500 does not change the primary\'s status', async () => {
    const r = await call('mirror.test', { query: 'm=500' });
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ upstream: 'v1' });
    expect(await mirrored('v2', r.key)).toBeDefined();
    // the shadow's 500 is counted on the mirror's cluster, not answered to the client
    const e = await scrape(proxy.ports.stats);
    expect(e.sum('envoy_cluster_upstream_rq', { envoy_cluster_name: `outbound|80|v2|${HTTPBIN}`, envoy_response_code: '500' })).toBeGreaterThanOrEqual(1);
  });

  it('an unreachable mirror (connection refused) does not change the primary\'s status or latency', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await call('mirrordead.test');
      expect(r.status).toBe(200);
      expect(r.json()).toMatchObject({ upstream: 'v1' });
      expect(r.ms).toBeLessThan(MIRROR_DELAY_MS / 2);
    }
  });

  it('a 2 MiB body is not mirrored (beyond the buffer) while the primary gets it intact', async () => {
    const body = randomBytes(2 * 1024 * 1024);
    const r = await call('mirror.test', { body, method: 'POST' });
    expect(r.status).toBe(200);
    expect(r.json()).toEqual({ upstream: 'v1', bytes: body.length, sha: sha(body) });
    // a small request sent after it is mirrored: by then a copy of the big one would have arrived too
    const after = await call('mirror.test');
    expect(await mirrored('v2', after.key)).toBeDefined();
    await sleep(200);
    expect(seenBy('v2', r.key)).toHaveLength(0);
  });
});

describe('mirror percentages and several mirrors', () => {
  it('mirrorPercentage 0: the mirror is never called', async () => {
    const keys: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await call('mirror0.test');
      expect(r.status).toBe(200);
      keys.push(r.key);
    }
    const control = await call('mirror.test');
    expect(await mirrored('v2', control.key)).toBeDefined();
    await sleep(100);
    expect(keys.filter((k) => seenBy('v2', k).length > 0)).toEqual([]);
    expect(keys.every((k) => seenBy('v1', k).length === 1)).toBe(true);
  });

  it('mirrorPercentage 50 over 200 requests: roughly half are mirrored', async () => {
    const keys: string[] = [];
    for (let batch = 0; batch < 25; batch++) {
      const rs = await Promise.all(Array.from({ length: 8 }, () => call('mirror50.test')));
      for (const r of rs) {
        expect(r.status).toBe(200);
        keys.push(r.key);
      }
    }
    expect(keys).toHaveLength(200);
    const control = await call('mirror.test');
    expect(await mirrored('v2', control.key)).toBeDefined();
    await sleep(200);
    const n = keys.filter((k) => seenBy('v2', k).length > 0).length;
    // binomial(200, 0.5): mean 100, sd ~7; 5 sd either way
    expect(n).toBeGreaterThanOrEqual(65);
    expect(n).toBeLessThanOrEqual(135);
    expect(keys.filter((k) => seenBy('v2', k).length > 1)).toEqual([]);
  });

  it('`mirrors:` with two destinations: both get a copy, the client gets v1', async () => {
    const body = randomBytes(10_000);
    const r = await call('mirrors.test', { body, method: 'PUT' });
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ upstream: 'v1' });
    const [a, b] = await Promise.all([mirrored('v2', r.key), mirrored('v3', r.key)]);
    expect(a).toMatchObject({ method: 'PUT', bytes: body.length, sha: sha(body) });
    expect(b).toMatchObject({ method: 'PUT', bytes: body.length, sha: sha(body) });
    expect(a!.headers.host).toBe('mirrors.test-shadow');
    expect(b!.headers.host).toBe('mirrors.test-shadow');
    expect(seenBy('v1', r.key)).toHaveLength(1);
  });
});
