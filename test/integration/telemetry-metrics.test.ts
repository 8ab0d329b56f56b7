// Telemetry API metric overrides end to end on a gateway with two workers (CLIENT mode): a tag
// added with a CEL value and one removed on istio_requests_total, istio_request_bytes dropped, the
// other metrics untouched, counts exact over both workers; then a config change that disables
// ALL_METRICS leaves no new istio_request* series.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_ARGS, gateway, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { eventually, plainRequest, scrape } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const ECHO = 'echo.default.svc.cluster.local';
let echo: Upstream;
let proxy: RunningProxy;
let gwPort: number;

function config(metrics: unknown[]): string {
  const telemetry = stringify({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'mesh-default', namespace: 'istio-system' }, spec: { metrics } });
  const routes = toYaml(
    gateway({ port: gwPort }),
    serviceEntry({ name: 'echo', host: ECHO, endpoints: [{ port: echo.port, labels: { app: 'echo-app' } }] }),
    virtualService('echo', { hosts: ['echo.test', 'other.test'], gateways: ['gw'], http: [{ route: [{ destination: { host: ECHO } }] }] }),
  );
  return [telemetry, routes].join('---\n');
}

const OVERRIDES = [
  {
    providers: [{ name: 'prometheus' }],
    overrides: [
      { match: { metric: 'REQUEST_COUNT', mode: 'CLIENT' }, tagOverrides: { request_host: { value: 'request.host' }, grpc_response_status: { operation: 'REMOVE' }, missing: { value: "request.headers['x-nope']" } } },
      { match: { metric: 'REQUEST_SIZE' }, disabled: true },
    ],
  },
];

beforeAll(async () => {
  echo = await startUpstream(undefined, 'echo');
  [gwPort] = await freePorts(1);
  proxy = await startProxy({ allStats: true, yaml: config(OVERRIDES), args: GATEWAY_ARGS, workers: 2 });
}, 30_000);

afterAll(async () => {
  await stopAllProxies();
  await echo.close();
});

describe('Telemetry metric overrides', () => {
  it('istio_requests_total gets request_host (CEL), loses grpc_response_status, "unknown" for a value that fails; the histograms keep the standard labels; istio_request_bytes is gone', async () => {
    for (let i = 0; i < 6; i++) expect((await plainRequest(gwPort, '/x', { host: i % 3 ? 'echo.test' : 'other.test' })).status).toBe(200);
    const e = await eventually(async () => {
      const s = await scrape(proxy.ports.stats);
      return s.sum('istio_requests_total') === 6 ? s : undefined;
    }, 5_000);
    expect(e).toBeDefined();
    const total = e!.select('istio_requests_total');
    expect(total.map((s) => [s.labels.request_host, s.value]).sort()).toEqual([
      ['echo.test', 4],
      ['other.test', 2],
    ]);
    for (const s of total) {
      expect(s.labels).not.toHaveProperty('grpc_response_status');
      expect(s.labels).toMatchObject({ missing: 'unknown', reporter: 'source', destination_app: 'echo-app', response_code: '200' });
    }
    const duration = e!.select('istio_request_duration_milliseconds_count');
    expect(duration.reduce((n, s) => n + s.value, 0)).toBe(6);
    for (const s of duration) {
      expect(s.labels).toHaveProperty('grpc_response_status');
      expect(s.labels).not.toHaveProperty('request_host');
    }
    expect(e!.select('istio_request_bytes_count')).toEqual([]);
    expect(e!.sum('istio_response_bytes_count')).toBe(6);
  });

  it('ALL_METRICS disabled: the next requests add to no istio_request* series', async () => {
    const before = (await scrape(proxy.ports.stats)).sum('istio_requests_total');
    await writeFile(join(proxy.configDir, 'config.yaml'), config([{ overrides: [{ match: { metric: 'ALL_METRICS' }, disabled: true }] }]));
    // the reload has applied once a request no longer adds to istio_requests_total
    const applied = await eventually(async () => {
      const s1 = (await scrape(proxy.ports.stats)).sum('istio_requests_total');
      await plainRequest(gwPort, '/probe', { host: 'other.test' });
      const s2 = (await scrape(proxy.ports.stats)).sum('istio_requests_total');
      return s2 === s1 ? true : undefined;
    }, 10_000);
    expect(applied).toBe(true);
    const mid = await scrape(proxy.ports.stats);
    for (let i = 0; i < 5; i++) await plainRequest(gwPort, '/y', { host: 'echo.test' });
    const after = await scrape(proxy.ports.stats);
    expect(after.sum('istio_requests_total')).toBe(mid.sum('istio_requests_total'));
    expect(after.sum('istio_request_duration_milliseconds_count')).toBe(mid.sum('istio_request_duration_milliseconds_count'));
    expect(after.sum('istio_requests_total')).toBeGreaterThanOrEqual(before);
    // Envoy's own stats still count them
    expect(after.sum('envoy_cluster_upstream_rq_total')).toBeGreaterThan(mid.sum('envoy_cluster_upstream_rq_total'));
  });
});
