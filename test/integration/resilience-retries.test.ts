// Retries through a real gateway, against upstreams that fail on purpose: VirtualService `retries`
// (attempts, retryOn conditions, perTryTimeout), Istio's default retry policy when a route sets
// none, x-envoy-attempt-count, request-body replay (and its 1 MiB limit), retry_host_predicate
// previous_hosts over two endpoints, backoff spacing, and the retry/URX accounting.
import { createHash, randomBytes } from 'node:crypto';
import { request as nodeRequest, type ServerResponse } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, newAgent } from '../helpers/http.js';
import { gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { eventually, scrape, type Exposition, accessLogEntry } from '../helpers/telemetry.js';
import { startUpstream, type Upstream, type UpstreamHandler } from '../helpers/upstream.js';

const FLAKY = 'flaky.default.svc.cluster.local';
const FLAKY_CLUSTER = `outbound|80||${FLAKY}`;
const PAIR = 'pair.default.svc.cluster.local';
const DEAD = 'dead.default.svc.cluster.local';
const DEAD_CLUSTER = `outbound|80||${DEAD}`;

/** What an upstream saw of one request (one attempt). */
interface Hit {
  upstream: string;
  key: string;
  /** x-envoy-attempt-count as received. */
  attempt: string | undefined;
  rid: string | undefined;
  at: number;
  bytes: number;
  sha: string;
}

const hits: Hit[] = [];
const hanging = new Set<ServerResponse>();
const timers = new Set<NodeJS.Timeout>();
/** Requests started per key (attempt numbers as the upstream counts them). */
const starts = new Map<string, number>();
/** Called when a request for the key starts at an upstream (before its body is read). */
const onStart = new Map<string, () => void>();
const hitsFor = (key: string) => hits.filter((h) => h.key === key);
/** Bodies an upstream was still reading when its connection went away: key → bytes received. */
const partials: { key: string; bytes: number }[] = [];

/**
 * A scripted upstream. Per `key` (query parameter), the first `fail` requests misbehave as `mode`
 * says, the rest answer 200 with JSON {upstream, n, bytes, sha} once the body is read. Modes:
 *   status  – answer `status` (default 503) with body "fail <n>"   (after reading the body)
 *   early   – answer `status` (default 503) at once, before reading the body
 *   reset   – destroy the socket before any response byte
 *   hang    – never answer
 *   midbody – 200 with content-length 1000, 100 bytes, then destroy the socket
 *   ratelimited – `status` (default 429) with x-envoy-ratelimited: true
 * `always` answers that status to everything (a sick endpoint).
 */
function scripted(name: string, always?: number): UpstreamHandler {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const q = (k: string) => url.searchParams.get(k);
    const key = q('key') ?? '';
    const n = (starts.get(key) ?? 0) + 1;
    starts.set(key, n);
    onStart.get(key)?.();
    const failing = !always && n <= Number(q('fail') ?? 0);
    const mode = failing ? (q('mode') ?? 'status') : 'ok';
    const attemptHeader = req.headers['x-envoy-attempt-count'];
    const ridHeader = req.headers['x-request-id'];
    const record = (bytes: number, sha: string) =>
      hits.push({
        upstream: name,
        key,
        attempt: typeof attemptHeader === 'string' ? attemptHeader : undefined,
        rid: typeof ridHeader === 'string' ? ridHeader : undefined,
        at: Date.now(),
        bytes,
        sha,
      });
    const reply = (status: number, body: string, extra: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'x-upstream': name, ...extra });
      res.end(body);
    };
    if (mode === 'early') {
      record(-1, '');
      reply(Number(q('status') ?? 503), `early ${n}`);
      req.resume();
      return;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
    });
    let ended = false;
    req.on('close', () => {
      if (!ended) partials.push({ key, bytes });
    });
    req.on('end', () => {
      ended = true;
      const sha = hash.digest('hex');
      record(bytes, sha);
      if (always) return reply(always, `sick ${name}`);
      switch (mode) {
        case 'ok':
          return reply(200, JSON.stringify({ upstream: name, n, bytes, sha }));
        case 'reset':
          req.socket.destroy();
          return;
        case 'hang':
          hanging.add(res);
          res.on('close', () => hanging.delete(res));
          return;
        case 'midbody': {
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '1000' });
          res.write('x'.repeat(100));
          const t = setTimeout(() => {
            timers.delete(t);
            req.socket.destroy();
          }, 30);
          timers.add(t);
          return;
        }
        case 'ratelimited':
          return reply(Number(q('status') ?? 429), `limited ${n}`, { 'x-envoy-ratelimited': 'true' });
        default:
          return reply(Number(q('status') ?? 503), `fail ${n}`);
      }
    });
  };
}

let proxy: RunningProxy;
let gw: number;
let deadPort: number;
let flaky: Upstream;
let good: Upstream;
let sick: Upstream;
const agent = newAgent();

const to = (host: string) => [{ destination: { host } }];
const vs = (name: string, spec: Record<string, unknown>, dest = FLAKY) =>
  virtualService(name, { hosts: [`${name}.test`], gateways: ['gw'], http: [{ route: to(dest), ...spec }] });

beforeAll(async () => {
  flaky = await startUpstream(scripted('flaky'), 'flaky');
  good = await startUpstream(scripted('good'), 'good');
  sick = await startUpstream(scripted('sick', 503), 'sick');
  [gw, deadPort] = await freePorts(2);
  const yaml = toYaml(
    gateway({ port: gw }),
    serviceEntry({ name: 'flaky', host: FLAKY, endpoints: [{ port: flaky.port }] }),
    serviceEntry({ name: 'pair', host: PAIR, endpoints: [{ port: good.port }, { port: sick.port }] }),
    serviceEntry({ name: 'dead', host: DEAD, endpoints: [{ port: deadPort }] }),
    vs('r3', { retries: { attempts: 3, retryOn: '5xx' } }),
    vs('r0', { retries: { attempts: 0 } }),
    vs('dflt', {}),
    vs('gwerr', { retries: { attempts: 2, retryOn: 'gateway-error' } }),
    vs('codes', { retries: { attempts: 2, retryOn: '429' } }),
    vs('reset', { retries: { attempts: 2, retryOn: 'reset' } }),
    vs('pertry', { retries: { attempts: 2, perTryTimeout: '100ms', retryOn: '5xx' } }),
    vs('pertryreset', { retries: { attempts: 2, perTryTimeout: '100ms', retryOn: 'reset' } }),
    vs('pertrydefault', { retries: { attempts: 2, perTryTimeout: '100ms' } }),
    vs('capped', { timeout: '250ms', retries: { attempts: 5, perTryTimeout: '100ms', retryOn: '5xx' } }),
    vs('backoff', { retries: { attempts: 2, retryOn: '5xx', backoff: '200ms' } }),
    vs('bigretry', { timeout: '1s', retries: { attempts: 2, retryOn: '5xx' } }),
    vs('dead', {}, DEAD),
    vs('pair', {}, PAIR),
    vs('pairnoprev', { retries: { attempts: 2, retryOn: '503', retryIgnorePreviousHosts: false } }, PAIR),
  );
  proxy = await startProxy({ allStats: true, yaml, args: [...GATEWAY_ARGS, '--access-log', 'json'] });
});

afterAll(async () => {
  for (const t of timers) clearTimeout(t);
  for (const r of hanging) r.destroy();
  await agent.close();
  await stopAllProxies();
  await Promise.all([flaky, good, sick].map((u) => u?.close()));
});

let keyN = 0;
const newKey = () => `k${++keyN}`;

/** GET (or POST with `body`) `<host>.test/?key=…&<query>`; returns status, text, request id. */
async function call(host: string, query: string, body?: Buffer) {
  const key = newKey();
  const rid = `rid-${key}`;
  const res = await httpRequest(gw, {
    method: body ? 'POST' : 'GET',
    path: `/?key=${key}${query ? `&${query}` : ''}`,
    host: `${host}.test`,
    headers: { 'x-request-id': rid },
    body,
    dispatcher: agent,
    timeoutMs: 5_000,
  });
  return { ...res, key, rid };
}

const logFor = (rid: string) => accessLogEntry(proxy, rid);

const stat = (e: Exposition, name: string, cluster = FLAKY_CLUSTER) => e.sum(`envoy_cluster_${name}`, { envoy_cluster_name: cluster });
const istio = (e: Exposition, svc: string, code: string, flags: string) =>
  e.sum('istio_requests_total', { destination_service: svc, response_code: code, response_flags: flags });

/** Scrapes before and after `fn`, returning the difference function. */
async function delta<T>(fn: () => Promise<T>): Promise<{ r: T; d: (get: (e: Exposition) => number) => number }> {
  const before = await scrape(proxy.ports.stats);
  const r = await fn();
  const after = await scrape(proxy.ports.stats);
  return { r, d: (get) => get(after) - get(before) };
}

describe('retries: {attempts: 3, retryOn: 5xx}', () => {
  it('an upstream failing twice with 503: 200 after 3 attempts numbered 1, 2, 3; upstream_rq_retry +2', async () => {
    const { r, d } = await delta(() => call('r3', 'fail=2&status=503'));
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ upstream: 'flaky', n: 3 });
    expect(hitsFor(r.key).map((h) => h.attempt)).toEqual(['1', '2', '3']);
    expect(d((e) => stat(e, 'upstream_rq_retry'))).toBe(2);
    expect(d((e) => stat(e, 'upstream_rq_total'))).toBe(3);
    expect(d((e) => istio(e, FLAKY, '200', '-'))).toBe(1);
    expect(await logFor(r.rid)).toMatchObject({ response_code: 200, response_flags: '-' });
  });

  it('an upstream failing 5 times: the client gets the upstream\'s own 4th 503, flag URX, 4 attempts', async () => {
    const { r, d } = await delta(() => call('r3', 'fail=5&status=503'));
    expect(r.status).toBe(503);
    expect(r.text).toBe('fail 4');
    expect(hitsFor(r.key)).toHaveLength(4);
    expect(d((e) => stat(e, 'upstream_rq_retry'))).toBe(3);
    expect(d((e) => istio(e, FLAKY, '503', 'URX'))).toBe(1);
    expect(await logFor(r.rid)).toMatchObject({ response_code: 503, response_flags: 'URX' });
  });

  it('5xx covers 500 and 504 too', async () => {
    for (const status of [500, 504]) {
      const r = await call('r3', `fail=1&status=${status}`);
      expect(r.status, `status ${status}`).toBe(200);
      expect(hitsFor(r.key)).toHaveLength(2);
    }
  });

  it('a 4xx is not retried', async () => {
    const r = await call('r3', 'fail=1&status=404');
    expect(r.status).toBe(404);
    expect(hitsFor(r.key)).toHaveLength(1);
  });

  it('Envoy charges a retried response to the retry stats only: upstream_rq{503} does not count the 2 retried 503s', async () => {
    const code = (e: Exposition, c: string) => e.sum('envoy_cluster_upstream_rq', { envoy_cluster_name: FLAKY_CLUSTER, envoy_response_code: c });
    const { r, d } = await delta(() => call('r3', 'fail=2&status=503'));
    expect(r.status).toBe(200);
    expect(d((e) => code(e, '200'))).toBe(1);
    expect(d((e) => code(e, '503'))).toBe(0);
  });
});

describe('retries: {attempts: 0}', () => {
  it('disables retries: one attempt, the client sees the 503', async () => {
    const { r, d } = await delta(() => call('r0', 'fail=1&status=503'));
    expect(r.status).toBe(503);
    expect(r.text).toBe('fail 1');
    expect(hitsFor(r.key)).toHaveLength(1);
    expect(d((e) => stat(e, 'upstream_rq_retry'))).toBe(0);
    expect(await logFor(r.rid)).toMatchObject({ response_code: 503, response_flags: '-' });
  });

  it('and a reset before headers is not retried either: 503 UC', async () => {
    const r = await call('r0', 'fail=1&mode=reset');
    expect(r.status).toBe(503);
    expect(hitsFor(r.key)).toHaveLength(1);
    expect(await logFor(r.rid)).toMatchObject({ response_code: 503, response_flags: 'UC' });
  });
});

describe("Istio's default retry policy (no retries field): 2 retries on connect-failure, refused-stream, unavailable, cancelled, 503", () => {
  it('503 is retried twice (3 attempts), then URX', async () => {
    const r = await call('dflt', 'fail=5&status=503');
    expect(r.status).toBe(503);
    expect(hitsFor(r.key).map((h) => h.attempt)).toEqual(['1', '2', '3']);
    expect(await logFor(r.rid)).toMatchObject({ response_code: 503, response_flags: 'URX' });
  });

  it('503 once then 200: the client sees 200', async () => {
    const r = await call('dflt', 'fail=1&status=503');
    expect(r.status).toBe(200);
    expect(hitsFor(r.key)).toHaveLength(2);
  });

  it('500 is not retried', async () => {
    const r = await call('dflt', 'fail=1&status=500');
    expect(r.status).toBe(500);
    expect(hitsFor(r.key)).toHaveLength(1);
  });

  it('a reset before headers is not retried (no "reset" in the default retryOn): 503 UC', async () => {
    const r = await call('dflt', 'fail=1&mode=reset');
    expect(r.status).toBe(503);
    expect(r.text).toMatch(/^upstream connect error or disconnect\/reset before headers\. .*reset reason: connection termination/);
    expect(hitsFor(r.key)).toHaveLength(1);
    expect(await logFor(r.rid)).toMatchObject({ response_code: 503, response_flags: 'UC' });
  });

  it('a connect failure is retried: 3 connection attempts, 503 with flags UF,URX', async () => {
    const { r, d } = await delta(() => call('dead', ''));
    expect(r.status).toBe(503);
    expect(r.text).toMatch(/^upstream connect error or disconnect\/reset before headers\. .*connection failure/);
    expect(d((e) => stat(e, 'upstream_cx_connect_fail', DEAD_CLUSTER))).toBe(3);
    expect(d((e) => stat(e, 'upstream_rq_retry', DEAD_CLUSTER))).toBe(2);
    expect(d((e) => istio(e, DEAD, '503', 'UF,URX'))).toBe(1);
    expect(await logFor(r.rid)).toMatchObject({ response_code: 503, response_flags: 'UF,URX' });
  });
});

describe('retryOn conditions', () => {
  it('gateway-error: 502 (and 503, 504) retried, 500 not', async () => {
    for (const status of [502, 503, 504]) {
      const r = await call('gwerr', `fail=1&status=${status}`);
      expect(r.status, `status ${status}`).toBe(200);
      expect(hitsFor(r.key)).toHaveLength(2);
    }
    const r = await call('gwerr', 'fail=1&status=500');
    expect(r.status).toBe(500);
    expect(hitsFor(r.key)).toHaveLength(1);
  });

  it('retryOn "429" (a bare status code → retriable-status-codes): 429 retried, 503 not', async () => {
    const a = await call('codes', 'fail=1&status=429');
    expect(a.status).toBe(200);
    expect(hitsFor(a.key)).toHaveLength(2);
    const b = await call('codes', 'fail=1&status=503');
    expect(b.status).toBe(503);
    expect(hitsFor(b.key)).toHaveLength(1);
  });

  it('reset: an upstream that destroys the socket before headers is retried', async () => {
    const r = await call('reset', 'fail=1&mode=reset');
    expect(r.status).toBe(200);
    expect(hitsFor(r.key).map((h) => h.attempt)).toEqual(['1', '2']);
  });

  it('Envoy: a response carrying x-envoy-ratelimited is retried only under envoy-ratelimited (not as a retriable status code)', async () => {
    const r = await call('codes', 'fail=1&mode=ratelimited&status=429');
    expect(hitsFor(r.key)).toHaveLength(1);
    expect(r.status).toBe(429);
  });

  it('reset does not retry a 503 response', async () => {
    const r = await call('reset', 'fail=1&status=503');
    expect(r.status).toBe(503);
    expect(hitsFor(r.key)).toHaveLength(1);
  });
});

describe('perTryTimeout', () => {
  it('100 ms per try, first attempt hangs, second answers: 200 after 2 attempts; upstream_rq_per_try_timeout +1', async () => {
    const t0 = Date.now();
    const { r, d } = await delta(() => call('pertry', 'fail=1&mode=hang'));
    const ms = Date.now() - t0;
    expect(r.status).toBe(200);
    expect(hitsFor(r.key).map((h) => h.attempt)).toEqual(['1', '2']);
    expect(ms).toBeGreaterThanOrEqual(95);
    expect(ms).toBeLessThan(1_500);
    expect(d((e) => stat(e, 'upstream_rq_per_try_timeout'))).toBe(1);
    expect(d((e) => stat(e, 'upstream_rq_retry'))).toBe(1);
    // the hung attempt's connection was given up on
    expect(await eventually(() => hanging.size === 0, 2_000)).toBe(true);
  });

  it('every attempt hangs: 504 "upstream request timeout" after 3 tries, flags UT,URX', async () => {
    const r = await call('pertry', 'fail=9&mode=hang');
    expect(r.status).toBe(504);
    expect(r.text).toBe('upstream request timeout');
    expect(hitsFor(r.key)).toHaveLength(3);
    expect(await logFor(r.rid)).toMatchObject({ response_code: 504, response_flags: 'UT,URX' });
  });

  it("Istio's default retryOn does not retry a per-try timeout: 504 UT after 1 attempt", async () => {
    const r = await call('pertrydefault', 'fail=1&mode=hang');
    expect(r.status).toBe(504);
    expect(hitsFor(r.key)).toHaveLength(1);
    expect(await logFor(r.rid)).toMatchObject({ response_code: 504, response_flags: 'UT' });
  });

  it('Envoy: retryOn reset also retries a per-try timeout (the attempt is reset locally)', async () => {
    const r = await call('pertryreset', 'fail=1&mode=hang');
    expect(hitsFor(r.key)).toHaveLength(2);
    expect(r.status).toBe(200);
  });

  it('Envoy starts the per-try timer once the request is complete: a 400 ms upload under perTryTimeout 100ms succeeds in 1 attempt', async () => {
    const key = newKey();
    const res = await slowUpload('pertry.test', `/?key=${key}`, 4, 100);
    expect({ status: res.status, attempts: hitsFor(key).length }).toEqual({ status: 200, attempts: 1 });
  });

  it('the route timeout caps the retries: timeout 250ms, per try 100ms, always hanging → 504 UT at ~250 ms', async () => {
    const t0 = Date.now();
    const r = await call('capped', 'fail=99&mode=hang');
    const ms = Date.now() - t0;
    expect(r.status).toBe(504);
    expect(ms).toBeGreaterThanOrEqual(240);
    expect(ms).toBeLessThan(1_000);
    const n = hitsFor(r.key).length;
    expect(n).toBeGreaterThanOrEqual(2);
    expect(n).toBeLessThanOrEqual(3);
    expect(await logFor(r.rid)).toMatchObject({ response_code: 504, response_flags: 'UT' });
  });
});

describe('a response already forwarded is never retried', () => {
  it('200 headers then the upstream dies mid-body: the client sees a broken response, one attempt', async () => {
    const key = newKey();
    const rid = `rid-${key}`;
    const raw = await rawGet('r3.test', `/?key=${key}&fail=1&mode=midbody`, rid, 3_000);
    expect(raw.data).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw.closed).toBe(true);
    const body = raw.data.slice(raw.data.indexOf('\r\n\r\n') + 4);
    expect(body.length).toBeLessThan(1000);
    expect(hitsFor(key)).toHaveLength(1);
    const log = await logFor(rid);
    expect(log).toMatchObject({ response_code: 200 });
  });

  it('… and the flag is UC (Envoy: an HTTP/1 upstream closing mid-response is a connection termination, not a remote reset)', async () => {
    const key = newKey();
    const rid = `rid-${key}`;
    await rawGet('r3.test', `/?key=${key}&fail=1&mode=midbody`, rid, 3_000);
    expect(await logFor(rid)).toMatchObject({ response_code: 200, response_flags: 'UC' });
  });
});

describe('request body replay', () => {
  it('a 1 MiB POST body is replayed intact to every attempt', async () => {
    const body = randomBytes(1024 * 1024);
    const sha = createHash('sha256').update(body).digest('hex');
    const r = await call('r3', 'fail=2&status=503', body);
    expect(r.status).toBe(200);
    expect(r.json()).toMatchObject({ n: 3, bytes: body.length, sha });
    const seen = hitsFor(r.key);
    expect(seen).toHaveLength(3);
    for (const h of seen) expect({ bytes: h.bytes, sha: h.sha }).toEqual({ bytes: body.length, sha });
  });

  it('a small chunked body (no content-length) is replayed too', async () => {
    const key = newKey();
    const raw = await rawRequest(
      `POST /?key=${key}&fail=1&status=503 HTTP/1.1\r\nhost: r3.test\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
      3_000,
    );
    expect(raw.data).toMatch(/^HTTP\/1\.1 200 /);
    const seen = hitsFor(key);
    expect(seen).toHaveLength(2);
    const sha = createHash('sha256').update('hello world').digest('hex');
    for (const h of seen) expect({ bytes: h.bytes, sha: h.sha }).toEqual({ bytes: 11, sha });
  });

  it('a 2 MiB body is past the retry buffer: one attempt, the client gets the 503', async () => {
    const body = randomBytes(2 * 1024 * 1024);
    const r = await call('r3', 'fail=1&status=503', body);
    expect(r.status).toBe(503);
    expect(r.text).toBe('fail 1');
    expect(hitsFor(r.key)).toHaveLength(1);
    expect(hitsFor(r.key)[0].bytes).toBe(body.length);
  });

  it('… and since Envoy abandoned the retry (retry_or_shadow_abandoned), the response carries no URX flag', async () => {
    const body = randomBytes(2 * 1024 * 1024);
    const r = await call('r3', 'fail=1&status=503', body);
    expect(r.status).toBe(503);
    expect(await logFor(r.rid)).toMatchObject({ response_code: 503, response_flags: '-' });
  });
});

describe('request body past the buffer limit while a retry waits (Envoy: 507 or a retry with the whole body, never a partial one)', () => {
  for (const framing of ['content-length', 'chunked'] as const) {
    it(`${framing}: 1st attempt answers 503 before reading the body, the rest of a 2 MiB body arrives during the backoff`, async () => {
      const total = 2 * 1024 * 1024;
      const body = randomBytes(total);
      const sha = createHash('sha256').update(body).digest('hex');
      const first = 256 * 1024;
      const frame = (b: Buffer) => (framing === 'chunked' ? Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]) : b);
      const outcomes: string[] = [];
      for (let i = 0; i < 5; i++) {
        const key = newKey();
        const started = new Promise<void>((resolve) => onStart.set(key, resolve));
        const res = await new Promise<{ status: number; data: string }>((resolve) => {
          const sock = connect({ host: '127.0.0.1', port: gw });
          let data = '';
          let done = false;
          const finish = () => {
            if (done) return;
            done = true;
            clearTimeout(timer);
            sock.destroy();
            resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0), data });
          };
          const timer = setTimeout(finish, 3_000);
          sock.setEncoding('latin1');
          sock.on('data', (d: string) => (data += d));
          sock.on('close', finish);
          sock.on('error', finish);
          sock.on('connect', () => {
            const length = framing === 'chunked' ? 'transfer-encoding: chunked' : `content-length: ${total}`;
            sock.write(`POST /?key=${key}&fail=1&mode=early HTTP/1.1\r\nhost: bigretry.test\r\n${length}\r\nconnection: close\r\n\r\n`);
            sock.write(frame(body.subarray(0, first)));
            void started.then(() => {
              const t = setTimeout(() => {
                timers.delete(t);
                sock.write(frame(body.subarray(first)));
                if (framing === 'chunked') sock.write('0\r\n\r\n');
              }, 3);
              timers.add(t);
            });
          });
        });
        onStart.delete(key);
        const complete = hitsFor(key).filter((h) => h.bytes >= 0);
        const intact = complete.every((h) => h.bytes === total && h.sha === sha);
        const cut = partials.filter((p) => p.key === key).map((p) => p.bytes);
        outcomes.push(
          `${res.status} attempts=${starts.get(key) ?? 0} upstream-bodies=[${complete.map((h) => h.bytes).join(',')}] cut-off=[${cut.join(',')}] intact=${intact} (of ${total})`,
        );
        // acceptable: 200 with the whole body upstream, 503 (no retry once past the limit), 507 (Envoy, overflow during backoff)
        expect([200, 503, 507], outcomes.join('; ')).toContain(res.status);
        expect(intact, `an upstream attempt got a partial body: ${outcomes.join('; ')}`).toBe(true);
      }
    });
  }
});

describe('retry_host_predicate previous_hosts (two endpoints: one always 503, one 200)', () => {
  it("Istio's default policy retries on the other host: 40 requests all end 200", async () => {
    const results: { status: number; rid: string }[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await call('pair', '');
      results.push({ status: r.status, rid: r.rid });
    }
    const failed = results.filter((r) => r.status !== 200);
    // Envoy's LEAST_REQUEST over 2 idle hosts is a coin flip per pick; with previous_hosts a retry
    // lands on the sick host again only if 6 picks in a row choose it: 1 request in 8192 fails.
    expect(failed.length, JSON.stringify(failed)).toBeLessThanOrEqual(1);
    const sickHits = hits.filter((h) => h.upstream === 'sick' && results.some((r) => r.rid === h.rid));
    // the sick host served some first attempts, but (almost) never a retry
    expect(sickHits.length).toBeGreaterThan(0);
    const sickRetries = sickHits.filter((h) => h.attempt !== '1');
    // (~0.3 expected with Envoy's 6 picks, ~0.6 with 5; ~15 without the predicate)
    expect(sickRetries.length).toBeLessThanOrEqual(4);
  });

  it('retryIgnorePreviousHosts: false drops the predicate: retries may land on the sick host again', async () => {
    const results: { status: number; rid: string }[] = [];
    for (let i = 0; i < 48; i++) {
      const r = await call('pairnoprev', '');
      results.push({ status: r.status, rid: r.rid });
    }
    const rids = new Set(results.map((r) => r.rid));
    const sickRetries = hits.filter((h) => h.upstream === 'sick' && rids.has(h.rid!) && h.attempt !== '1');
    // without the predicate each retry is a coin flip: ~18 of them expected (≥ 4 fails 1 run in 10^5);
    // with it (the bug: the field is ignored) ~0.8 expected
    expect(sickRetries.length).toBeGreaterThanOrEqual(4);
  });
});

describe('backoff', () => {
  it('retries are spaced by the jittered backoff (25 ms base, 250 ms max): gaps ≥ 0, 2 retries well under 2 s even on a loaded machine', async () => {
    const gaps: number[] = [];
    for (let i = 0; i < 8; i++) {
      const t0 = Date.now();
      const r = await call('r3', 'fail=2&status=503');
      expect(r.status).toBe(200);
      const at = hitsFor(r.key).map((h) => h.at);
      expect(at).toHaveLength(3);
      gaps.push(at[1] - at[0], at[2] - at[1]);
      expect(at[2] - at[0]).toBeLessThan(2_000);
      expect(Date.now() - t0).toBeLessThan(2_000);
    }
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(0);
    // retry 1 waits U[0,25] ms, retry 2 U[0,50] ms: the mean of 8 requests' total spacing is ~37 ms
    // (a proxy without backoff would show ~1-2 ms); bounded above by 75 ms + overhead per request
    const total = gaps.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(40);
    expect(total / 8).toBeLessThan(250);
  });

  it('the VirtualService `backoff` field sets the base interval (Istio → retry_back_off.base_interval)', async () => {
    let spacing = 0;
    for (let i = 0; i < 5; i++) {
      const r = await call('backoff', 'fail=2&status=503');
      expect(r.status).toBe(200);
      const at = hitsFor(r.key).map((h) => h.at);
      spacing += at[2] - at[0];
    }
    // base 200 ms: retry 1 U[0,200), retry 2 U[0,400): ~1500 ms expected over 5 requests
    // (below 450 ms fails 1 run in 5000); with the default 25 ms base it is at most ~375 ms
    expect(spacing).toBeGreaterThan(450);
  });
});

describe('after all of the above', () => {
  it('the proxy is alive and nothing is left active', async () => {
    expect(proxy.alive()).toBe(true);
    const e = await eventually(async () => {
      const x = await scrape(proxy.ports.stats);
      return x.one('envoy_http_downstream_rq_active') === 0 && stat(x, 'upstream_rq_active') === 0 ? x : undefined;
    });
    expect(e, 'downstream_rq_active and upstream_rq_active back to 0').toBeDefined();
  });
});

// ------------------------------------------------------------------ raw clients

function rawRequest(bytes: string, timeoutMs: number): Promise<{ data: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port: gw });
    let data = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data, closed });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.setEncoding('latin1');
    sock.on('connect', () => sock.write(bytes));
    sock.on('data', (d: string) => (data += d));
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', () => finish(true));
  });
}

function rawGet(host: string, path: string, rid: string, timeoutMs: number) {
  return rawRequest(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\nx-request-id: ${rid}\r\n\r\n`, timeoutMs);
}

/** POSTs `chunks` × 1 KiB to the gateway, one every `intervalMs` (content-length framed). */
function slowUpload(host: string, path: string, chunks: number, intervalMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const req = nodeRequest(
      { host: '127.0.0.1', port: gw, path, method: 'POST', agent: false, headers: { host, connection: 'close', 'content-length': String(chunks * 1024) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, text });
        });
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error('client timeout')));
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    const next = () => {
      sent++;
      if (sent === chunks) req.end(Buffer.alloc(1024, 0x62));
      else {
        req.write(Buffer.alloc(1024, 0x62));
        timer = setTimeout(next, intervalMs);
      }
    };
    req.flushHeaders();
    timer = setTimeout(next, intervalMs);
  });
}
