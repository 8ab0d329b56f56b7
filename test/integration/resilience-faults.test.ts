// Fault injection through a real gateway, as Istio's bookinfo samples use it
// (virtual-service-ratings-test-abort.yaml / -delay.yaml): abort (HTTP and gRPC), fixed delay, both,
// percentages, Istio's "no percentage = no fault", and a client leaving during the delay.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, newAgent } from '../helpers/http.js';
import { gateway, GATEWAY_ARGS, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { eventually, scrape, type Exposition, accessLogEntry } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const SVC = 'ratings.default.svc.cluster.local';

let proxy: RunningProxy;
let gw: number;
let up: Upstream;
const agent = newAgent();

/** Requests the upstream saw, by x-request-id. */
const seenRids: string[] = [];

const pct = (value: number) => ({ percentage: { value } });
const faultRoute = (name: string, fault: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  virtualService(name, { hosts: [`${name}.test`], gateways: ['gw'], http: [{ fault, route: [{ destination: { host: SVC } }], ...extra }] });

beforeAll(async () => {
  up = await startUpstream((req, res) => {
    const rid = req.headers['x-request-id'];
    if (typeof rid === 'string') seenRids.push(rid);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '7' });
      res.end('ratings');
    });
  }, 'ratings');
  gw = await freePort();
  const yaml = toYaml(
    gateway({ port: gw }),
    serviceEntry({ name: 'ratings', host: SVC, endpoints: [{ port: up.port }] }),
    // bookinfo's ratings-test-abort: only requests from end-user jason are aborted
    virtualService('ratings', {
      hosts: ['ratings.test'],
      gateways: ['gw'],
      http: [
        { match: [{ headers: { 'end-user': { exact: 'jason' } } }], fault: { abort: { httpStatus: 500, ...pct(100) } }, route: [{ destination: { host: SVC } }] },
        { route: [{ destination: { host: SVC } }] },
      ],
    }),
    faultRoute('abort0', { abort: { httpStatus: 500, ...pct(0) } }),
    faultRoute('abort50', { abort: { httpStatus: 503, ...pct(50) } }),
    faultRoute('abortnopct', { abort: { httpStatus: 418 } }),
    faultRoute('delay', { delay: { fixedDelay: '300ms', ...pct(100) } }),
    faultRoute('delaypercent', { delay: { fixedDelay: '300ms', percent: 100 } }),
    faultRoute('delaynopct', { delay: { fixedDelay: '300ms' } }),
    faultRoute('both', { delay: { fixedDelay: '200ms', ...pct(100) }, abort: { httpStatus: 503, ...pct(100) } }),
    faultRoute('grpc', { abort: { grpcStatus: 'UNAVAILABLE', ...pct(100) } }),
    faultRoute('delaytimeout', { delay: { fixedDelay: '300ms', ...pct(100) } }, { timeout: '200ms' }),
  );
  proxy = await startProxy({ allStats: true, yaml, args: [...GATEWAY_ARGS, '--access-log', 'json'] });
});

afterAll(async () => {
  await agent.close();
  await stopAllProxies();
  await up?.close();
});

let n = 0;
async function call(host: string, headers: Record<string, string> = {}) {
  const rid = `rid-${++n}`;
  const t0 = Date.now();
  const res = await httpRequest(gw, { host: `${host}.test`, headers: { 'x-request-id': rid, ...headers }, dispatcher: agent, timeoutMs: 5_000 });
  return { ...res, rid, ms: Date.now() - t0 };
}

const logFor = (rid: string) => accessLogEntry(proxy, rid);

/** istio_requests_total for a code and flags, whatever the destination labels say. */
const istio = (e: Exposition, code: string, flags: string) => e.sum('istio_requests_total', { response_code: code, response_flags: flags });

describe('abort', () => {
  it('httpStatus 500, percentage 100 (bookinfo ratings-test-abort, end-user jason): 500 "fault filter abort", flag FI, upstream untouched', async () => {
    const before = await scrape(proxy.ports.stats);
    const r = await call('ratings', { 'end-user': 'jason' });
    expect(r.status).toBe(500);
    expect(r.text).toBe('fault filter abort');
    expect(r.headers['content-type']).toBe('text/plain');
    expect(seenRids).not.toContain(r.rid);
    expect(await logFor(r.rid)).toMatchObject({ response_code: 500, response_flags: 'FI' });
    const after = await scrape(proxy.ports.stats);
    expect(istio(after, '500', 'FI') - istio(before, '500', 'FI')).toBe(1);
    // an injected abort never reaches the router: nothing is sent or retried upstream
    const rq = (e: Exposition) => e.sum('envoy_cluster_upstream_rq_total', { envoy_cluster_name: `outbound|80||${SVC}` });
    expect(rq(after) - rq(before)).toBe(0);
  });

  it('the aborted request is still labelled with the route\'s destination (Envoy resolves the cluster with the route): destination_service, upstream_cluster', async () => {
    const before = await scrape(proxy.ports.stats);
    const r = await call('ratings', { 'end-user': 'jason' });
    expect(r.status).toBe(500);
    const after = await scrape(proxy.ports.stats);
    const labelled = (e: Exposition) => e.sum('istio_requests_total', { destination_service: SVC, response_code: '500', response_flags: 'FI' });
    expect(labelled(after) - labelled(before)).toBe(1);
    expect(await logFor(r.rid)).toMatchObject({ response_flags: 'FI', upstream_cluster: `outbound|80||${SVC}` });
  });

  it('other users on the same VirtualService are not aborted', async () => {
    const r = await call('ratings', { 'end-user': 'someone' });
    expect(r.status).toBe(200);
    expect(r.text).toBe('ratings');
    expect(seenRids).toContain(r.rid);
  });

  it('percentage 0: never aborted', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await call('abort0');
      expect(r.status).toBe(200);
    }
  });

  it('percentage 50 over 200 requests: roughly half aborted (503 FI), the rest reach the upstream', async () => {
    let aborted = 0;
    let ok = 0;
    const rids: string[] = [];
    for (let i = 0; i < 200; i++) {
      const r = await call('abort50');
      if (r.status === 503 && r.text === 'fault filter abort') aborted++;
      else if (r.status === 200) {
        ok++;
        rids.push(r.rid);
      }
    }
    expect(aborted + ok).toBe(200);
    // Binomial(200, 0.5): 60..140 is beyond 5.6 sigma
    expect(aborted).toBeGreaterThan(60);
    expect(aborted).toBeLessThan(140);
    for (const rid of rids) expect(seenRids).toContain(rid);
  });

  it('grpcStatus UNAVAILABLE: HTTP 200, content-type application/grpc, grpc-status 14', async () => {
    const r = await call('grpc', { 'content-type': 'application/grpc', te: 'trailers' });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('application/grpc');
    expect(r.headers['grpc-status']).toBe('14');
    expect(seenRids).not.toContain(r.rid);
    expect(await logFor(r.rid)).toMatchObject({ response_code: 200, response_flags: 'FI' });
  });

  it('Istio: an abort without percentage injects nothing (istio/istio#36303: percentage unset = 0%)', async () => {
    const r = await call('abortnopct');
    expect(r.status).toBe(200);
  });
});

describe('delay', () => {
  it('fixedDelay 300ms, percentage 100: the response takes ≥ 300 ms, flag DI, then the upstream answers', async () => {
    const r = await call('delay');
    expect(r.status).toBe(200);
    expect(r.text).toBe('ratings');
    expect(r.ms).toBeGreaterThanOrEqual(295);
    expect(r.ms).toBeLessThan(1_500);
    expect(await logFor(r.rid)).toMatchObject({ response_code: 200, response_flags: 'DI' });
  });

  it('the deprecated integer `percent: 100` works too', async () => {
    const r = await call('delaypercent');
    expect(r.status).toBe(200);
    expect(r.ms).toBeGreaterThanOrEqual(295);
  });

  it('Istio: a delay without percentage (or percent) injects nothing (translated as 0%)', async () => {
    const r = await call('delaynopct');
    expect(r.status).toBe(200);
    expect(r.ms).toBeLessThan(250);
  });

  it('the injected delay does not count toward the route timeout (fault filter runs before the router)', async () => {
    const r = await call('delaytimeout');
    expect(r.status).toBe(200);
    expect(r.ms).toBeGreaterThanOrEqual(295);
  });

  it('delay + abort: delayed, then aborted; flags DI,FI in Envoy order', async () => {
    const r = await call('both');
    expect(r.status).toBe(503);
    expect(r.text).toBe('fault filter abort');
    expect(r.ms).toBeGreaterThanOrEqual(195);
    expect(seenRids).not.toContain(r.rid);
    expect(await logFor(r.rid)).toMatchObject({ response_code: 503, response_flags: 'DI,FI' });
    const e = await scrape(proxy.ports.stats);
    expect(istio(e, '503', 'DI,FI')).toBe(1);
  });

  it('a client that disconnects during the delay: nothing crashes, the upstream never sees it, flags DI,DC', async () => {
    const rid = `rid-dc-${++n}`;
    await new Promise<void>((resolve) => {
      const sock = connect({ host: '127.0.0.1', port: gw });
      const t = setTimeout(() => {
        sock.destroy();
        resolve();
      }, 80);
      sock.on('connect', () => sock.write(`GET / HTTP/1.1\r\nhost: delay.test\r\nx-request-id: ${rid}\r\n\r\n`));
      sock.on('error', () => {
        clearTimeout(t);
        resolve();
      });
    });
    const log = await logFor(rid);
    expect(log).toMatchObject({ response_code: 0, response_flags: 'DI,DC' });
    // wait past the injected delay: the request must not be forwarded afterwards
    await new Promise((r) => setTimeout(r, 350));
    expect(seenRids).not.toContain(rid);
    expect(proxy.alive()).toBe(true);
    const r = await call('delay');
    expect(r.status).toBe(200);
    const e = await eventually(async () => {
      const x = await scrape(proxy.ports.stats);
      return x.one('envoy_http_downstream_rq_active') === 0 ? x : undefined;
    });
    expect(e, 'downstream_rq_active back to 0').toBeDefined();
    expect(istio(e!, '0', 'DI,DC')).toBe(1);
  });
});
