// Route timeouts through a real gateway: VirtualService `timeout` (504 "upstream request timeout",
// flag UT), Istio's default of no route timeout, the timer starting once the request body is
// complete (Envoy's semantics), grpc-timeout shortening the route timeout, and a timeout that fires
// after the response started (the stream is reset, flag UT).
import { request as nodeRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { eventually, plainRequest, scrape, type Exposition, accessLogEntry } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const SVC = 'slowpoke.default.svc.cluster.local';
const CLUSTER = `outbound|80||${SVC}`;

let proxy: RunningProxy;
let gw: number;
let up: Upstream;
/** Per `key` query parameter: when the upstream saw the request start, and its body end. */
const seen = new Map<string, { startedAt: number; bodyEndAt?: number; bytes: number; closedEarly?: boolean }>();
const timers = new Set<NodeJS.Timeout>();

/**
 * The upstream: reads the whole body, then answers 200 after `?delay=<ms>`; `?trickle=<ms>` sends
 * the headers and a first chunk at once and the rest of the body after that long.
 */
async function startSlowUpstream(): Promise<Upstream> {
  return startUpstream((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const key = url.searchParams.get('key') ?? '';
    const rec = { startedAt: Date.now(), bytes: 0 } as { startedAt: number; bodyEndAt?: number; bytes: number; closedEarly?: boolean };
    seen.set(key, rec);
    res.on('close', () => {
      if (!res.writableFinished) rec.closedEarly = true;
    });
    req.on('data', (c: Buffer) => (rec.bytes += c.length));
    req.on('end', () => {
      rec.bodyEndAt = Date.now();
      const delay = Math.min(Number(url.searchParams.get('delay') ?? 0), 5_000);
      const trickle = Math.min(Number(url.searchParams.get('trickle') ?? 0), 5_000);
      const later = (ms: number, fn: () => void) => {
        const t = setTimeout(() => {
          timers.delete(t);
          if (!res.destroyed) fn();
        }, ms);
        timers.add(t);
      };
      if (trickle) {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '20' });
        res.write('first-ten!');
        later(trickle, () => res.end('second-ten'));
        return;
      }
      const answer = () => {
        const body = JSON.stringify({ key, bytes: rec.bytes });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      };
      if (delay > 0) later(delay, answer);
      else answer();
    });
  }, 'slowpoke');
}

const route = (timeout?: string) => ({
  route: [{ destination: { host: SVC } }],
  ...(timeout ? { timeout } : {}),
});

beforeAll(async () => {
  up = await startSlowUpstream();
  gw = await freePort();
  const yaml = toYaml(
    gateway({ port: gw }),
    serviceEntry({ name: 'slowpoke', host: SVC, endpoints: [{ port: up.port }] }),
    virtualService('t200', { hosts: ['t200.test'], gateways: ['gw'], http: [route('200ms')] }),
    virtualService('t300', { hosts: ['t300.test'], gateways: ['gw'], http: [route('300ms')] }),
    virtualService('none', { hosts: ['none.test'], gateways: ['gw'], http: [route()] }),
  );
  proxy = await startProxy({ allStats: true, yaml, args: [...GATEWAY_ARGS, '--access-log', 'json'] });
});

afterAll(async () => {
  for (const t of timers) clearTimeout(t);
  await stopAllProxies();
  await up?.close();
});

let keyN = 0;
const newKey = () => `k${++keyN}`;

/** The JSON access-log line for a request id (bounded wait). */
const logFor = (rid: string) => accessLogEntry(proxy, rid);

const istio = (e: Exposition, code: string, flags: string) =>
  e.sum('istio_requests_total', { destination_service: SVC, response_code: code, response_flags: flags });
const cluster = (e: Exposition, stat: string) => e.sum(`envoy_cluster_${stat}`, { envoy_cluster_name: CLUSTER });

async function timed<T>(fn: () => Promise<T>): Promise<{ r: T; ms: number }> {
  const t0 = Date.now();
  const r = await fn();
  return { r, ms: Date.now() - t0 };
}

describe('route timeout (VirtualService timeout)', () => {
  it('a 1 s upstream behind `timeout: 200ms` gets 504 "upstream request timeout" at ~200 ms, flag UT, upstream_rq_timeout counted', async () => {
    const before = await scrape(proxy.ports.stats);
    const key = newKey();
    const rid = `rid-${key}`;
    const { r, ms } = await timed(() => plainRequest(gw, `/?key=${key}&delay=1000`, { host: 't200.test', headers: { 'x-request-id': rid } }));
    expect(r.status).toBe(504);
    expect(r.text).toBe('upstream request timeout');
    expect(ms).toBeGreaterThanOrEqual(190);
    expect(ms).toBeLessThan(900);

    const log = await logFor(rid);
    expect(log, 'access log line').toBeDefined();
    expect(log).toMatchObject({ response_code: 504, response_flags: 'UT', upstream_cluster: CLUSTER });

    const after = await scrape(proxy.ports.stats);
    expect(istio(after, '504', 'UT') - istio(before, '504', 'UT')).toBe(1);
    expect(cluster(after, 'upstream_rq_timeout') - cluster(before, 'upstream_rq_timeout')).toBe(1);
    // a global timeout is never retried (Istio's default policy is in force on this route)
    expect(cluster(after, 'upstream_rq_retry') - cluster(before, 'upstream_rq_retry')).toBe(0);
    expect(cluster(after, 'upstream_rq_total') - cluster(before, 'upstream_rq_total')).toBe(1);
    // the upstream request was abandoned (its connection closed) rather than left to finish
    expect(await eventually(() => seen.get(key)?.closedEarly, 2_000)).toBe(true);
  });

  it('an upstream answering within the timeout is unaffected', async () => {
    const key = newKey();
    const r = await plainRequest(gw, `/?key=${key}&delay=50`, { host: 't200.test' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text)).toMatchObject({ key });
  });

  it('no timeout in the VirtualService: Istio disables the route timeout, a 1 s answer succeeds', async () => {
    const key = newKey();
    const { r, ms } = await timed(() => plainRequest(gw, `/?key=${key}&delay=1000`, { host: 'none.test' }));
    expect(r.status).toBe(200);
    expect(ms).toBeGreaterThanOrEqual(990);
  });

  it('the timer starts when the request body is complete: a 600 ms upload under `timeout: 300ms` still succeeds', async () => {
    const key = newKey();
    const res = await slowUpload('t300.test', `/?key=${key}`, 6, 100);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({ key, bytes: 6 * 1024 });
    expect(res.doneAt - res.startedAt).toBeGreaterThanOrEqual(550);
  });

  it('… and it then runs from the end of the body: upload ~300 ms, upstream answers 600 ms later → 504 ~300 ms after the last byte', async () => {
    const key = newKey();
    const res = await slowUpload('t300.test', `/?key=${key}&delay=600`, 3, 100);
    expect(res.status).toBe(504);
    expect(res.text).toBe('upstream request timeout');
    const sinceLastByte = res.doneAt - res.lastChunkAt;
    expect(sinceLastByte).toBeGreaterThanOrEqual(270);
    expect(sinceLastByte).toBeLessThan(580);
    // the upstream got the whole body before the timeout hit
    expect(seen.get(key)?.bytes).toBe(3 * 1024);
  });

  it('a timeout after the response started resets the stream (client sees a truncated response), flag UT', async () => {
    const key = newKey();
    const rid = `rid-${key}`;
    const raw = await rawGet('t200.test', `/?key=${key}&trickle=800`, rid, 3_000);
    expect(raw.data).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw.data).toContain('first-ten!');
    expect(raw.data).not.toContain('second-ten');
    expect(raw.closed).toBe(true);
    expect(raw.ms).toBeLessThan(700);
    const log = await logFor(rid);
    expect(log).toMatchObject({ response_code: 200, response_flags: 'UT' });
  });
});

describe('grpc-timeout (Istio sets max_grpc_timeout = route timeout, 0 = unbounded)', () => {
  it('`grpc-timeout: 100m` on a gRPC request shortens a route without timeout to 100 ms (DEADLINE_EXCEEDED)', async () => {
    const key = newKey();
    const { r, ms } = await timed(() =>
      plainRequest(gw, `/?key=${key}&delay=1000`, { host: 'none.test', headers: { 'grpc-timeout': '100m', 'content-type': 'application/grpc' } }),
    );
    // a gRPC client gets its local reply as gRPC: HTTP 200, grpc-status 4, the text in grpc-message
    expect(r.status).toBe(200);
    expect(r.headers['grpc-status']).toBe('4');
    expect(r.headers['grpc-message']).toBe('upstream%20request%20timeout');
    expect(ms).toBeGreaterThanOrEqual(90);
    expect(ms).toBeLessThan(700);
  });

  it('grpc-timeout on a request that is not gRPC is ignored, as Envoy ignores it', async () => {
    const key = newKey();
    const r = await plainRequest(gw, `/?key=${key}&delay=300`, { host: 'none.test', headers: { 'grpc-timeout': '100m' } });
    expect(r.status).toBe(200);
  });

  it('a grpc-timeout longer than the route timeout does not extend it', async () => {
    const key = newKey();
    const { r, ms } = await timed(() =>
      plainRequest(gw, `/?key=${key}&delay=1000`, { host: 't200.test', headers: { 'grpc-timeout': '5S' } }),
    );
    expect(r.status).toBe(504);
    expect(ms).toBeLessThan(700);
  });

  it('a malformed grpc-timeout is ignored (no route timeout applies)', async () => {
    const key = newKey();
    const r = await plainRequest(gw, `/?key=${key}&delay=300`, { host: 'none.test', headers: { 'grpc-timeout': 'soon' } });
    expect(r.status).toBe(200);
  });
});

describe('after all of the above', () => {
  it('the proxy is alive and no request is left active', async () => {
    expect(proxy.alive()).toBe(true);
    const e = await eventually(async () => {
      const x = await scrape(proxy.ports.stats);
      return x.one('envoy_http_downstream_rq_active') === 0 ? x : undefined;
    });
    expect(e, 'downstream_rq_active back to 0').toBeDefined();
  });
});

// ------------------------------------------------------------------ clients

interface UploadResult {
  status: number;
  text: string;
  startedAt: number;
  lastChunkAt: number;
  doneAt: number;
}

/** POSTs `chunks` × 1 KiB, one every `intervalMs` (content-length framed), and reads the response. */
function slowUpload(host: string, path: string, chunks: number, intervalMs: number): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const startedAt = Date.now();
    let lastChunkAt = 0;
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
          resolve({ status: res.statusCode ?? 0, text, startedAt, lastChunkAt, doneAt: Date.now() });
        });
      },
    );
    req.setTimeout(5_000, () => req.destroy(new Error('client timeout')));
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    const next = () => {
      if (sent >= chunks) return;
      sent++;
      lastChunkAt = Date.now();
      if (sent === chunks) req.end(Buffer.alloc(1024, 0x61));
      else {
        req.write(Buffer.alloc(1024, 0x61));
        timer = setTimeout(next, intervalMs);
      }
    };
    req.flushHeaders();
    timer = setTimeout(next, intervalMs);
  });
}

/** A raw GET; collects bytes until the server closes the connection or `timeoutMs` passes. */
function rawGet(host: string, path: string, rid: string, timeoutMs: number): Promise<{ data: string; closed: boolean; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = connect({ host: '127.0.0.1', port: gw });
    let data = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data, closed, ms: Date.now() - t0 });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.setEncoding('latin1');
    sock.on('connect', () => sock.write(`GET ${path} HTTP/1.1\r\nhost: ${host}\r\nx-request-id: ${rid}\r\n\r\n`));
    sock.on('data', (d: string) => (data += d));
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', () => finish(true));
  });
}
