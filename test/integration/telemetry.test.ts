// Telemetry end to end: exact Istio and Envoy-style counts summed over two workers, Istio's label
// set (checked against the metrics Istio's dashboards query), Envoy-style gauges, and access logs.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_ARGS, gateway, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { ROOT, startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { eventually, plainRequest, scrape, type Exposition, type TextResponse } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const ECHO = 'echo.default.svc.cluster.local';
const ECHO_CLUSTER = `outbound|80||${ECHO}`;
const MIXED = 'mixed.default.svc.cluster.local';
const EMPTY = 'empty.default.svc.cluster.local';
const SLOW = 'slow.default.svc.cluster.local';
const SLOW_CLUSTER = `outbound|80||${SLOW}`;
const DEAD = 'dead.default.svc.cluster.local';
const DEAD_CLUSTER = `outbound|80||${DEAD}`;

/** Istio's standard labels on request metrics (istio.io "Istio Standard Metrics"). */
const STANDARD_LABELS = [
  'reporter', 'source_workload', 'source_workload_namespace', 'source_principal', 'source_app', 'source_version', 'source_cluster',
  'destination_workload', 'destination_workload_namespace', 'destination_principal', 'destination_app', 'destination_version',
  'destination_service', 'destination_service_name', 'destination_service_namespace', 'destination_cluster',
  'request_protocol', 'response_code', 'grpc_response_status', 'response_flags', 'connection_security_policy',
];
const REQUEST_HISTOGRAMS = ['istio_request_duration_milliseconds', 'istio_request_duration_seconds', 'istio_request_bytes', 'istio_response_bytes'];

let echo1: Upstream;
let echo2: Upstream;
let slow: Upstream;
/** Releases the slow upstream's held responses. */
let releaseSlow: () => void = () => {};
let slowHeld: Promise<void> = Promise.resolve();

/** Proxy A: two workers, no --access-log flag. */
let pa: RunningProxy;
/** Proxy T: --access-log text. */
let pt: RunningProxy;
/** Proxy J: --access-log json, workload name and cluster id from Istio's env vars. */
let pj: RunningProxy;
let gwA: number;
let gwT: number;
let gwJ: number;
let startedA = 0;
/** A port nothing listens on. */
let deadPort: number;

function mesh(gwPort: number): string {
  return toYaml(
    gateway({ port: gwPort }),
    serviceEntry({
      name: 'echo',
      host: ECHO,
      endpoints: [
        { port: echo1.port, labels: { app: 'echo-app', version: 'v7' } },
        { port: echo2.port, labels: { app: 'echo-app', version: 'v7' } },
      ],
    }),
    // same servers, endpoints that disagree on the version
    serviceEntry({
      name: 'mixed',
      host: MIXED,
      endpoints: [
        { port: echo1.port, labels: { app: 'mixed-app', version: 'v1' } },
        { port: echo2.port, labels: { app: 'mixed-app', version: 'v2' } },
      ],
    }),
    serviceEntry({ name: 'empty', host: EMPTY, endpoints: [] }),
    serviceEntry({ name: 'slow', host: SLOW, endpoints: [{ port: slow.port }] }),
    serviceEntry({ name: 'dead', host: DEAD, endpoints: [{ port: deadPort }] }),
    virtualService('echo', {
      hosts: ['echo.test'],
      gateways: ['gw'],
      http: [
        { name: 'rewrite-route', match: [{ uri: { prefix: '/old/' } }], rewrite: { uri: '/new/' }, route: [{ destination: { host: ECHO } }] },
        { name: 'echo-route', route: [{ destination: { host: ECHO } }] },
      ],
    }),
    virtualService('mixed', { hosts: ['mixed.test'], gateways: ['gw'], http: [{ route: [{ destination: { host: MIXED } }] }] }),
    virtualService('empty', { hosts: ['empty.test'], gateways: ['gw'], http: [{ route: [{ destination: { host: EMPTY } }] }] }),
    virtualService('slow', { hosts: ['slow.test'], gateways: ['gw'], http: [{ route: [{ destination: { host: SLOW } }] }] }),
    virtualService('dead', { hosts: ['dead.test'], gateways: ['gw'], http: [{ route: [{ destination: { host: DEAD } }] }] }),
  );
}

beforeAll(async () => {
  echo1 = await startUpstream(undefined, 'echo1');
  echo2 = await startUpstream(undefined, 'echo2');
  slow = await startUpstream((req, res) => {
    req.resume();
    req.on('end', () => {
      void slowHeld.then(() => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '4' });
        res.end('slow');
      });
    });
  }, 'slow');
  [gwA, gwT, gwJ, deadPort] = await freePorts(4);
  startedA = Date.now();
  [pa, pt, pj] = await Promise.all([
    startProxy({ allStats: true,
      yaml: mesh(gwA),
      args: [...GATEWAY_ARGS, '--label', 'app=gw-app', '--label', 'version=v3'],
      workers: 2,
      env: { ISTIO_META_WORKLOAD_NAME: '' }, // unset: the workload name comes from the app label
    }),
    startProxy({ allStats: true, yaml: mesh(gwT), args: [...GATEWAY_ARGS, '--access-log', 'text'], workers: 1 }),
    startProxy({ allStats: true,
      yaml: mesh(gwJ),
      args: [...GATEWAY_ARGS, '--label', 'app=gw-app', '--access-log', 'json'],
      workers: 1,
      env: { ISTIO_META_WORKLOAD_NAME: 'wl-from-env', ISTIO_META_CLUSTER_ID: 'cluster-z' },
    }),
  ]);
});

afterAll(async () => {
  releaseSlow();
  await stopAllProxies();
  await Promise.all([echo1, echo2, slow].filter(Boolean).map((u) => u.close()));
});

/** `n` requests, each on a fresh connection (so the kernel spreads them over both workers), `par` at a time. */
async function spray(port: number, n: number, par: number, make: (i: number) => { path: string; host: string }): Promise<TextResponse[]> {
  const out: TextResponse[] = [];
  for (let i = 0; i < n; i += par) {
    const batch = Array.from({ length: Math.min(par, n - i) }, (_, j) => {
      const r = make(i + j);
      return plainRequest(port, r.path, { host: r.host });
    });
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

const echoSeries = { destination_service: ECHO, response_code: '200' };

/** Checks one histogram series: cumulative (monotonic) buckets, +Inf equal to _count. */
function expectHistogram(e: Exposition, family: string, match: Record<string, string>, count: number): { le: string; value: number }[] {
  const b = e.buckets(family, match);
  expect(b.length, `${family} buckets`).toBeGreaterThan(1);
  expect(b[b.length - 1].le).toBe('+Inf');
  for (let i = 1; i < b.length; i++) expect(b[i].value, `${family} le=${b[i].le} >= le=${b[i - 1].le}`).toBeGreaterThanOrEqual(b[i - 1].value);
  expect(b[b.length - 1].value).toBe(count);
  expect(e.one(`${family}_count`, match)).toBe(count);
  return b;
}

describe('exact counts across two workers', () => {
  const N = 300;
  let responseBodyBytes = 0;

  it(`${N} requests over fresh connections: every Istio and Envoy counter says exactly ${N}`, async () => {
    const rs = await spray(gwA, N, 20, (i) => ({ path: `/p/${i}?u=${i}`, host: 'echo.test' }));
    expect(rs.filter((r) => r.status !== 200).map((r) => r.status)).toEqual([]);
    responseBodyBytes = rs.reduce((n, r) => n + Buffer.byteLength(r.text), 0);
    // the upstream endpoints saw exactly N between them
    expect(echo1.requests.length + echo2.requests.length).toBe(N);

    const e = await scrape(pa.ports.stats);
    expect(e.select('istio_requests_total', { response_code: '200' })).toHaveLength(1);
    expect(e.one('istio_requests_total', echoSeries)).toBe(N);
    expect(e.one('envoy_cluster_upstream_rq_total', { envoy_cluster_name: ECHO_CLUSTER })).toBe(N);
    expect(e.one('envoy_cluster_upstream_rq_xx', { envoy_cluster_name: ECHO_CLUSTER, envoy_response_code_class: '2' })).toBe(N);
    expect(e.one('envoy_cluster_upstream_rq', { envoy_cluster_name: ECHO_CLUSTER, envoy_response_code: '200' })).toBe(N);
    expect(e.sum('envoy_cluster_upstream_rq_xx', { envoy_cluster_name: ECHO_CLUSTER })).toBe(N);
    expect(e.one('envoy_http_downstream_rq_total')).toBe(N);
    expect(e.one('envoy_http_downstream_rq_xx', { envoy_response_code_class: '2' })).toBe(N);
    expect(e.one('envoy_http_downstream_rq_http1_total')).toBe(N);
    expect(e.one('envoy_listener_downstream_cx_total', { envoy_listener_address: `0.0.0.0_${gwA}` })).toBe(N);
    // nothing in flight any more
    expect(e.one('envoy_cluster_upstream_rq_active', { envoy_cluster_name: ECHO_CLUSTER })).toBe(0);
    expect(e.one('envoy_http_downstream_rq_active')).toBe(0);
  });

  it('histograms: _count is N, buckets are cumulative with +Inf = _count, sizes and durations are plausible', async () => {
    const e = await scrape(pa.ports.stats);
    for (const f of REQUEST_HISTOGRAMS) expectHistogram(e, f, echoSeries, N);
    // a request head is longer than 10 bytes and shorter than 1000: le=10 holds none, le=1000 all
    const rq = e.buckets('istio_request_bytes', echoSeries);
    expect(rq.find((b) => b.le === '10')!.value).toBe(0);
    expect(rq.find((b) => b.le === '1000')!.value).toBe(N);
    expect(e.one('istio_request_bytes_sum', echoSeries)).toBeGreaterThan(N * 'GET /p/0?u=0 HTTP/1.1\r\n'.length - 1);
    expect(e.one('istio_response_bytes_sum', echoSeries)).toBeGreaterThanOrEqual(responseBodyBytes);
    // the seconds histogram holds the same observations as the milliseconds one
    const ms = e.buckets('istio_request_duration_milliseconds', echoSeries);
    const s = e.buckets('istio_request_duration_seconds', echoSeries);
    expect(s.map((b) => b.value)).toEqual(ms.map((b) => b.value));
    expect(s.map((b) => (b.le === '+Inf' ? Infinity : Number(b.le) * 1000))).toEqual(ms.map((b) => (b.le === '+Inf' ? Infinity : Number(b.le))));
    expect(e.one('istio_request_duration_seconds_sum', echoSeries)).toBeCloseTo(e.one('istio_request_duration_milliseconds_sum', echoSeries) / 1000, 6);
    // local echo upstreams: everything within 10 s
    expect(ms.find((b) => b.le === '10000')!.value).toBe(N);
  });

  it('a 404 (no route) is counted with response_flags NR, a 503 (no endpoints) with UH', async () => {
    const nr = await plainRequest(gwA, '/nowhere', { host: 'nope.test' });
    expect(nr.status).toBe(404);
    const uh = await plainRequest(gwA, '/x', { host: 'empty.test' });
    expect(uh.status).toBe(503);
    const e = await scrape(pa.ports.stats);
    expect(e.one('istio_requests_total', { response_code: '404' })).toBe(1);
    expect(e.one('istio_requests_total', { response_code: '404', response_flags: 'NR', destination_service: 'unknown' })).toBe(1);
    expect(e.one('istio_requests_total', { response_code: '503' })).toBe(1);
    expect(e.one('istio_requests_total', { response_code: '503', response_flags: 'UH', destination_service: EMPTY, destination_service_name: 'empty' })).toBe(1);
    expect(e.one('istio_requests_total', echoSeries)).toBe(N);
    expect(e.one('envoy_http_downstream_rq_total')).toBe(N + 2);
    expect(e.one('envoy_http_downstream_rq_xx', { envoy_response_code_class: '4' })).toBe(1);
    expect(e.one('envoy_http_downstream_rq_xx', { envoy_response_code_class: '5' })).toBe(1);
    // the 503 came from the proxy, not from an upstream
    expect(e.sum('envoy_cluster_upstream_rq_xx', { envoy_response_code_class: '5' })).toBe(0);
    expectHistogram(e, 'istio_request_duration_milliseconds', { response_code: '404' }, 1);
    expectHistogram(e, 'istio_response_bytes', { response_code: '503' }, 1);
  });

  it('no request path or query ever becomes a label value (bounded cardinality)', async () => {
    const e = await scrape(pa.ports.stats);
    const bad = e.samples.filter((s) => Object.values(s.labels).some((v) => v.startsWith('/') || v.includes('/p/') || v.includes('u=') || v.includes('nowhere')));
    expect(bad.map((s) => `${s.name}${JSON.stringify(s.labels)}`)).toEqual([]);
    // 200 echo, 404 NR, 503 UH
    expect(e.select('istio_requests_total')).toHaveLength(3);
  });

  it('the default (no --access-log) writes no access-log lines', async () => {
    await new Promise((r) => setTimeout(r, 200));
    expect(pa.stdout()).toBe('');
  });
});

describe('Istio label set', () => {
  function dashboardFile(): { metrics: string[]; labels: string[] } {
    const text = readFileSync(resolve(ROOT, '../shared/conformance/metrics-used-by-istio-dashboards.txt'), 'utf8');
    const sections = new Map<string, string[]>();
    let cur: string[] | undefined;
    for (const line of text.split('\n')) {
      const h = /^\[([^\]]+)\]/.exec(line);
      if (h) {
        sections.set(h[1], (cur = []));
        continue;
      }
      const m = /^\d+\t(\S+)$/.exec(line);
      if (m && cur) cur.push(m[1]);
    }
    return { metrics: sections.get('metrics') ?? [], labels: sections.get('labels') ?? [] };
  }

  /** Labels of the dashboards' queries that belong on Istio request metrics. */
  const REQUEST_LABELS = ['reporter', 'source_workload', 'source_workload_namespace', 'destination_service', 'connection_security_policy', 'destination_workload', 'destination_workload_namespace', 'response_code', 'destination_cluster', 'destination_principal', 'source_cluster'];
  /** On istio_build. */
  const BUILD_LABELS = ['component', 'tag'];
  /** Added by Prometheus' Kubernetes discovery or belonging to other components' metrics (pilot, cAdvisor...). */
  const NOT_PROXY_LABELS = ['pod', 'container', 'app', 'type', 'namespace', 'event', 'cluster_name', 'url'];

  it('reads the dashboards\' metric and label lists', () => {
    const f = dashboardFile();
    expect(f.metrics).toContain('istio_requests_total');
    expect(f.labels).toContain('reporter');
    // every label is classified here, so a new one in the file makes this test look at it
    const unclassified = f.labels.filter((l) => l !== 'le' && !REQUEST_LABELS.includes(l) && !BUILD_LABELS.includes(l) && !NOT_PROXY_LABELS.includes(l));
    expect(unclassified).toEqual([]);
  });

  it('every istio_* metric the dashboards query is exposed (request metrics with samples)', async () => {
    const e = await scrape(pa.ports.stats);
    const names = e.names();
    const missing: string[] = [];
    for (const m of dashboardFile().metrics.filter((n) => n.startsWith('istio_'))) {
      if (names.has(m)) continue;
      // TCP, DNS and xDS families without traffic: declared (# TYPE) with no series yet
      const family = m.replace(/_(bucket|sum|count)$/, '');
      const declared = e.types.get(m) ?? e.types.get(family);
      if (declared && !/^istio_(requests_total|request_|response_|build)/.test(m)) continue;
      missing.push(m);
    }
    expect(missing).toEqual([]);
    expect(e.one('istio_build', { component: 'proxy' })).toBe(1);
    expect(e.select('istio_build')[0].labels.tag).toMatch(/\S/);
  });

  it('every dashboard label and every standard Istio label is on every request-metric sample; le on buckets', async () => {
    const f = dashboardFile();
    const e = await scrape(pa.ports.stats);
    const wanted = [...new Set([...STANDARD_LABELS, ...REQUEST_LABELS.filter((l) => f.labels.includes(l))])];
    const families = ['istio_requests_total', ...REQUEST_HISTOGRAMS.flatMap((h) => [`${h}_bucket`, `${h}_sum`, `${h}_count`])];
    for (const name of families) {
      const samples = e.select(name);
      expect(samples.length, name).toBeGreaterThan(0);
      for (const s of samples) {
        const missing = wanted.filter((l) => !(l in s.labels));
        expect(missing, `${name} ${JSON.stringify(s.labels)}`).toEqual([]);
        if (name.endsWith('_bucket')) expect(s.labels.le, name).toMatch(/^(\+Inf|[0-9.e+-]+)$/);
        else expect(s.labels).not.toHaveProperty('le');
      }
    }
    if (f.labels.includes('le')) expect(e.select('istio_request_duration_milliseconds_bucket').every((s) => 'le' in s.labels)).toBe(true);
  });

  it('values at a gateway: reporter source, this workload as source, the service and its endpoint labels as destination', async () => {
    const e = await scrape(pa.ports.stats);
    const [s] = e.select('istio_requests_total', echoSeries);
    expect(s.labels).toEqual({
      reporter: 'source',
      source_workload: 'gw-app', // no ISTIO_META_WORKLOAD_NAME: the app label
      source_workload_namespace: 'default',
      source_principal: 'unknown',
      source_app: 'gw-app',
      source_version: 'v3',
      source_cluster: 'Kubernetes',
      destination_workload: 'echo-app',
      destination_workload_namespace: 'default',
      destination_principal: 'unknown',
      destination_app: 'echo-app',
      destination_version: 'v7',
      destination_service: ECHO,
      destination_service_name: 'echo',
      destination_service_namespace: 'default',
      destination_cluster: 'Kubernetes',
      request_protocol: 'http',
      response_code: '200',
      grpc_response_status: '',
      response_flags: '-',
      connection_security_policy: 'unknown',
    });
  });

  it('unknown values are "unknown": a 404 NR has no destination', async () => {
    const e = await scrape(pa.ports.stats);
    const [s] = e.select('istio_requests_total', { response_code: '404' });
    for (const l of STANDARD_LABELS.filter((x) => x.startsWith('destination_'))) expect(s.labels[l], l).toBe('unknown');
    expect(s.labels.source_workload).toBe('gw-app');
  });

  it('endpoints that disagree on a label: destination_version unknown, the shared app kept', async () => {
    const rs = await spray(gwA, 4, 4, (i) => ({ path: `/m/${i}`, host: 'mixed.test' }));
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const e = await scrape(pa.ports.stats);
    const s = e.select('istio_requests_total', { destination_service: MIXED });
    expect(s).toHaveLength(1);
    expect(s[0].value).toBe(4);
    expect(s[0].labels).toMatchObject({ destination_app: 'mixed-app', destination_version: 'unknown', destination_service_name: 'mixed', destination_workload: 'mixed-app' });
  });

  it('source_workload comes from ISTIO_META_WORKLOAD_NAME, source_cluster from ISTIO_META_CLUSTER_ID', async () => {
    expect((await plainRequest(gwJ, '/wl', { host: 'echo.test' })).status).toBe(200);
    const e = await scrape(pj.ports.stats);
    const [s] = e.select('istio_requests_total', echoSeries);
    expect(s.labels).toMatchObject({ source_workload: 'wl-from-env', source_app: 'gw-app', source_cluster: 'cluster-z', destination_cluster: 'cluster-z', reporter: 'source' });
  });
});

describe('Envoy-style stats', () => {
  it('server gauges, listener counter with envoy_listener_address, outrigger_config_rejected_total', async () => {
    const e = await scrape(pa.ports.stats);
    expect(e.types.get('envoy_server_live')).toBe('gauge');
    expect(e.one('envoy_server_live')).toBe(1);
    expect(e.types.get('envoy_server_uptime')).toBe('gauge');
    const uptime = e.one('envoy_server_uptime');
    expect(Number.isInteger(uptime)).toBe(true);
    expect(uptime).toBeGreaterThanOrEqual(0);
    expect(uptime).toBeLessThanOrEqual(Math.ceil((Date.now() - startedA) / 1000) + 1);
    expect(e.one('envoy_server_concurrency')).toBe(2);
    expect(e.types.get('envoy_listener_downstream_cx_total')).toBe('counter');
    expect(e.one('envoy_listener_downstream_cx_total', { envoy_listener_address: `0.0.0.0_${gwA}` })).toBeGreaterThanOrEqual(300);
    expect(e.types.get('outrigger_config_rejected_total')).toBe('counter');
    expect(e.one('outrigger_config_rejected_total')).toBe(0);
    expect(e.types.get('envoy_cluster_upstream_cx_active')).toBe('gauge');
    expect(e.types.get('envoy_cluster_upstream_rq_active')).toBe('gauge');
    expect(e.types.get('envoy_cluster_upstream_rq_total')).toBe('counter');
  });

  it('the stats port serves the same exposition on /stats', async () => {
    const e = await scrape(pa.ports.stats, '/stats');
    expect(e.one('istio_requests_total', echoSeries)).toBe(300);
  });

  it('in-flight gauges: a held request shows rq_active 1 and an upstream connection; they fall back after', async () => {
    let release!: () => void;
    slowHeld = new Promise<void>((r) => (release = r));
    releaseSlow = release;
    const t0 = Date.now();
    const pending = plainRequest(gwA, '/hold', { host: 'slow.test' });
    // once the upstream holds the request, the upstream connection is established
    await eventually(() => slow.requests.length === 1);
    expect(slow.requests.length).toBe(1);
    const inFlight = await eventually(async () => {
      const e = await scrape(pa.ports.stats);
      return e.one('envoy_cluster_upstream_rq_active', { envoy_cluster_name: SLOW_CLUSTER }) === 1 ? e : undefined;
    });
    expect(inFlight, 'upstream_rq_active never reached 1').toBeDefined();
    const e = inFlight!;
    expect(e.one('envoy_cluster_upstream_cx_active', { envoy_cluster_name: SLOW_CLUSTER })).toBe(1);
    expect(e.one('envoy_http_downstream_rq_active')).toBe(1);
    expect(e.one('envoy_listener_downstream_cx_active', { envoy_listener_address: `0.0.0.0_${gwA}` })).toBeGreaterThanOrEqual(1);
    expect(e.one('istio_tcp_sockets_open')).toBeGreaterThanOrEqual(1);
    expect(e.select('istio_requests_total', { destination_service: SLOW })).toEqual([]); // counted when done

    // hold it at least 300 ms, then let it finish
    await new Promise((r) => setTimeout(r, Math.max(0, 300 - (Date.now() - t0))));
    release();
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.text).toBe('slow');
    const after = await eventually(async () => {
      const x = await scrape(pa.ports.stats);
      return x.one('envoy_cluster_upstream_rq_active', { envoy_cluster_name: SLOW_CLUSTER }) === 0 ? x : undefined;
    });
    expect(after, 'upstream_rq_active did not go back to 0').toBeDefined();
    expect(after!.one('envoy_http_downstream_rq_active')).toBe(0);
    const slowSeries = { destination_service: SLOW, response_code: '200' };
    expect(after!.one('istio_requests_total', slowSeries)).toBe(1);
    expect(after!.one('istio_request_duration_milliseconds_sum', slowSeries)).toBeGreaterThanOrEqual(290);
    expect(after!.buckets('istio_request_duration_milliseconds', slowSeries).find((b) => b.le === '250')!.value).toBe(0);

    // the pooled upstream connection is still counted, and matches what the upstream sees
    const upstreamConns = await new Promise<number>((r) => slow.server.getConnections((_e, n) => r(n)));
    expect(after!.one('envoy_cluster_upstream_cx_active', { envoy_cluster_name: SLOW_CLUSTER })).toBe(upstreamConns);
    // the upstream drops its connections: the gauge falls to 0
    await slow.close();
    const closed = await eventually(async () => {
      const x = await scrape(pa.ports.stats);
      return x.one('envoy_cluster_upstream_cx_active', { envoy_cluster_name: SLOW_CLUSTER }) === 0 ? x : undefined;
    });
    expect(closed, 'upstream_cx_active did not fall to 0 after the upstream closed').toBeDefined();
    expect(closed!.one('envoy_cluster_upstream_cx_total', { envoy_cluster_name: SLOW_CLUSTER })).toBeGreaterThanOrEqual(1);
  });

  it('a failed upstream connect is a connection attempt: cx_connect_fail counted within cx_total (Envoy counts at creation)', async () => {
    const r = await plainRequest(gwA, '/dead', { host: 'dead.test' });
    expect(r.status).toBe(503);
    const e = await scrape(pa.ports.stats);
    // Istio's default retry policy retries connect failures twice: UF, then URX once they are used up
    expect(e.one('istio_requests_total', { destination_service: DEAD, response_code: '503', response_flags: 'UF,URX' })).toBe(1);
    const fail = e.one('envoy_cluster_upstream_cx_connect_fail', { envoy_cluster_name: DEAD_CLUSTER });
    expect(fail).toBeGreaterThanOrEqual(1);
    expect(e.one('envoy_cluster_upstream_cx_active', { envoy_cluster_name: DEAD_CLUSTER })).toBe(0);
    // Envoy: upstream_cx_total (and cx_active) count a connection when it is created, before it connects
    expect(e.one('envoy_cluster_upstream_cx_total', { envoy_cluster_name: DEAD_CLUSTER })).toBeGreaterThanOrEqual(fail);
  });
});

describe('access log', () => {
  interface Sent {
    res: TextResponse;
    method: string;
    path: string;
    host: string;
    rid: string;
    body?: string;
  }

  /** The same four requests to a gateway: proxied, rewritten, no route, POST with a body. */
  async function traffic(port: number, prefix: string): Promise<Sent[]> {
    const reqs: { method: string; path: string; host: string; rid: string; headers: Record<string, string>; body?: string }[] = [
      { method: 'GET', path: '/a/b?x=1', host: 'echo.test', rid: `${prefix}-1`, headers: { 'user-agent': `ua-${prefix}`, 'x-forwarded-for': '1.2.3.4' } },
      { method: 'GET', path: '/old/thing', host: 'echo.test', rid: `${prefix}-2`, headers: { 'user-agent': `ua-${prefix}` } },
      { method: 'GET', path: '/zzz', host: 'nope.test', rid: `${prefix}-3`, headers: { 'user-agent': `ua-${prefix}` } },
      { method: 'POST', path: '/post', host: 'echo.test', rid: `${prefix}-4`, headers: { 'user-agent': `ua-${prefix}` }, body: 'hello' },
    ];
    const out: Sent[] = [];
    for (const r of reqs) {
      const res = await plainRequest(port, r.path, { method: r.method, host: r.host, headers: { ...r.headers, 'x-request-id': r.rid }, body: r.body });
      out.push({ res, ...r });
    }
    return out;
  }

  function upstreamOf(res: TextResponse): string {
    const name = JSON.parse(res.text).name as string;
    const port = name === 'echo1' ? echo1.port : name === 'echo2' ? echo2.port : -1;
    return `127.0.0.1:${port}`;
  }

  async function lines(p: RunningProxy, n: number): Promise<string[]> {
    const get = () => p.stdout().split('\n').filter((l) => l !== '');
    await eventually(() => get().length >= n, 3_000);
    await new Promise((r) => setTimeout(r, 100)); // no extra lines trickling in
    return get();
  }

  // Istio's text format (istiod's EnvoyTextLogFormat), as --access-log text sets meshConfig's accessLogFile
  const TEXT =
    /^\[(\S+)\] "(\S+) (\S+) (\S+)" (\d{3}) (\S+) (\S+) (\S+) "([^"]*)" (\d+) (\d+) (\d+) (\d+|-) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" (\S+) (\S+) (\S+) (\S+) (\S+) (\S+)$/;

  describe('--access-log text', () => {
    let sent: Sent[];
    let log: string[];
    let t0: number;
    let t1: number;
    beforeAll(async () => {
      t0 = Date.now();
      sent = await traffic(gwT, 'rid-text');
      t1 = Date.now();
      log = await lines(pt, sent.length);
    });

    it('one line per request, in Istio\'s text format', () => {
      expect(log).toHaveLength(sent.length);
      for (const l of log) expect(l).toMatch(TEXT);
      expect(sent.map((s) => s.res.status)).toEqual([200, 200, 404, 200]);
    });

    it('a proxied request: method, path with query, protocol, code, bytes, times, headers, upstream host', () => {
      const m = TEXT.exec(log[0])!;
      const [, start, method, path, proto, code, flags, details, , , rx, tx, dur, ust, xff, ua, rid, authority, upstream, cluster, , local, remote, , route] = m;
      const ms = Date.parse(start);
      expect(start).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(ms).toBeGreaterThanOrEqual(t0 - 5);
      expect(ms).toBeLessThanOrEqual(t1 + 5);
      expect([method, path, proto, code, flags, details]).toEqual(['GET', '/a/b?x=1', 'HTTP/1.1', '200', '-', 'via_upstream']);
      expect([cluster, route]).toEqual([`outbound|80||${ECHO}`, 'echo-route']);
      expect(local).toBe(`127.0.0.1:${gwT}`);
      expect(remote).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(Number(rx)).toBe(0);
      expect(Number(tx)).toBe(Buffer.byteLength(sent[0].res.text));
      expect(ust).toMatch(/^\d+$/);
      expect(Number(ust)).toBeLessThanOrEqual(Number(dur));
      expect(xff.split(',').map((s) => s.trim())).toEqual(['1.2.3.4', '127.0.0.1']);
      expect([ua, rid, authority]).toEqual(['ua-rid-text', 'rid-text-1', 'echo.test']);
      expect(upstream).toBe(upstreamOf(sent[0].res));
    });

    it('a rewritten route logs the original path', () => {
      const m = TEXT.exec(log[1])!;
      expect(m[3]).toBe('/old/thing');
      expect(JSON.parse(sent[1].res.text).url).toBe('/new/thing');
      expect(m[16]).toBe('rid-text-2');
      expect(m[24]).toBe('rewrite-route');
    });

    it('a 404 without a route: NR and "-" upstream host and service time', () => {
      const m = TEXT.exec(log[2])!;
      expect([m[5], m[6], m[7], m[13], m[18], m[19]]).toEqual(['404', 'NR', 'route_not_found', '-', '-', '-']);
      expect(Number(m[11])).toBe(Buffer.byteLength(sent[2].res.text));
      expect(m[16]).toBe('rid-text-3');
      expect(m[17]).toBe('nope.test');
    });

    it('a POST counts the request body in bytes received', () => {
      const m = TEXT.exec(log[3])!;
      expect([m[2], m[3], m[5]]).toEqual(['POST', '/post', '200']);
      expect(Number(m[10])).toBe(5);
      expect(Number(m[11])).toBe(Buffer.byteLength(sent[3].res.text));
    });

    it('no access-log text goes to stderr', () => {
      expect(pt.stderr()).not.toContain('rid-text-1');
    });
  });

  describe('--access-log json', () => {
    let sent: Sent[];
    let log: Record<string, unknown>[];
    beforeAll(async () => {
      const before = (await lines(pj, 0)).length;
      sent = await traffic(gwJ, 'rid-json');
      log = (await lines(pj, before + sent.length)).slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    });

    const FIELDS = ['start_time', 'method', 'path', 'protocol', 'response_code', 'response_flags', 'bytes_received', 'bytes_sent', 'duration', 'upstream_host', 'upstream_cluster', 'x_forwarded_for', 'user_agent', 'request_id', 'authority', 'downstream_remote_address', 'downstream_local_address', 'route_name'];

    it('one JSON object per line per request, with Istio\'s fields', () => {
      expect(log).toHaveLength(sent.length);
      for (const j of log) for (const f of FIELDS) expect(j, f).toHaveProperty(f);
      expect(log.map((j) => j.request_id)).toEqual(['rid-json-1', 'rid-json-2', 'rid-json-3', 'rid-json-4']);
    });

    it('field values of a proxied request', () => {
      const j = log[0];
      expect(j).toMatchObject({
        method: 'GET',
        path: '/a/b?x=1',
        protocol: 'HTTP/1.1',
        response_code: 200,
        response_flags: '-',
        bytes_received: 0,
        bytes_sent: Buffer.byteLength(sent[0].res.text),
        upstream_host: upstreamOf(sent[0].res),
        upstream_cluster: ECHO_CLUSTER,
        user_agent: 'ua-rid-json',
        request_id: 'rid-json-1',
        authority: 'echo.test',
        route_name: 'echo-route',
      });
      expect(String(j.start_time)).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(typeof j.duration).toBe('number');
      expect(String(j.x_forwarded_for).split(',').map((s) => s.trim())).toEqual(['1.2.3.4', '127.0.0.1']);
    });

    it('the rewritten route logs the original path and its route name; the 404 has NR and nulls', () => {
      expect(log[1]).toMatchObject({ path: '/old/thing', route_name: 'rewrite-route', response_code: 200 });
      expect(log[2]).toMatchObject({ path: '/zzz', response_code: 404, response_flags: 'NR', upstream_host: null, upstream_cluster: null, route_name: null, authority: 'nope.test' });
      expect(log[3]).toMatchObject({ method: 'POST', path: '/post', bytes_received: 5, response_code: 200 });
    });

    it('downstream addresses are ip:port, as Envoy\'s %DOWNSTREAM_LOCAL_ADDRESS% / %DOWNSTREAM_REMOTE_ADDRESS%', () => {
      for (const j of log) {
        expect(j.downstream_local_address).toBe(`127.0.0.1:${gwJ}`);
        expect(String(j.downstream_remote_address)).toMatch(/^127\.0\.0\.1:\d+$/);
      }
    });
  });
});
