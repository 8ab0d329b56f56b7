// Which stats a sidecar keeps, end to end: by default pilot-agent's inclusion list (Istio's metrics, the
// server and manager stats, no per-cluster, listener or connection manager stats, as a sidecar of a
// large mesh needs); the pod's sidecar.istio.io/statsInclusion* annotations and ProxyConfig's
// proxyStatsMatcher add to it. /clusters keeps its per-host counts whatever the matcher says.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_ARGS, gateway, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { plainRequest, scrape, type Exposition } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const ECHO = 'echo.default.svc.cluster.local';
const ECHO_CLUSTER = `outbound|80||${ECHO}`;
const OTHER = 'other.default.svc.cluster.local';
const N = 5;

let echo: Upstream;
/** Pilot-agent's defaults. */
let plain: RunningProxy;
/** The echo cluster's stats by annotation, connection manager totals by ProxyConfig. */
let asked: RunningProxy;
let plainPort: number;
let askedPort: number;

function mesh(port: number): string {
  return toYaml(
    gateway({ port }),
    serviceEntry({ name: 'echo', host: ECHO, endpoints: [{ port: echo.port }] }),
    serviceEntry({ name: 'other', host: OTHER, endpoints: [{ port: echo.port }] }),
    virtualService('echo', { hosts: ['echo.test'], gateways: ['gw'], http: [{ route: [{ destination: { host: ECHO } }] }] }),
    virtualService('other', { hosts: ['other.test'], gateways: ['gw'], http: [{ route: [{ destination: { host: OTHER } }] }] }),
  );
}

async function send(port: number): Promise<void> {
  for (let i = 0; i < N; i++) expect((await plainRequest(port, `/r/${i}`, { host: 'echo.test' })).status).toBe(200);
  expect((await plainRequest(port, '/o', { host: 'other.test' })).status).toBe(200);
}

const names = (e: Exposition, prefix: string) => [...e.names()].filter((n) => n.startsWith(prefix));

async function adminText(p: RunningProxy, path: string): Promise<string> {
  const res = await plainRequest(p.ports.admin, path);
  expect(res.status).toBe(200);
  return res.text;
}

beforeAll(async () => {
  echo = await startUpstream(undefined, 'echo');
  [plainPort, askedPort] = await freePorts(2);
  [plain, asked] = await Promise.all([
    startProxy({ yaml: mesh(plainPort), args: GATEWAY_ARGS }),
    startProxy({
      yaml: mesh(askedPort),
      args: [...GATEWAY_ARGS, '--proxy-config', 'proxyStatsMatcher: { inclusionSuffixes: [downstream_rq_total], inclusionPrefixes: [ignored-the-annotation-wins] }'],
      env: { ISTIO_METAJSON_ANNOTATIONS: JSON.stringify({ 'sidecar.istio.io/statsInclusionPrefixes': `cluster.${ECHO_CLUSTER}.` }) },
    }),
  ]);
  await Promise.all([send(plainPort), send(askedPort)]);
});

afterAll(async () => {
  await stopAllProxies();
  await echo?.close();
});

describe("pilot-agent's inclusion list", () => {
  it("Prometheus: Istio's metrics and the server and manager stats; no cluster, listener or connection manager stats", async () => {
    const e = await scrape(plain.ports.stats);
    expect(e.one('istio_requests_total', { destination_service: ECHO, response_code: '200' })).toBe(N);
    expect(e.one('envoy_server_live')).toBe(1);
    expect(e.one('envoy_cluster_manager_cds_update_success')).toBe(1);
    expect(e.one('envoy_listener_manager_lds_update_success')).toBe(1);
    expect(names(e, 'envoy_cluster_upstream')).toEqual([]);
    expect(names(e, 'envoy_listener_downstream')).toEqual([]);
    expect(names(e, 'envoy_http_')).toEqual([]);
    expect(e.one('outrigger_config_rejected_total')).toBe(0);
  });

  it('/stats lists what exists; /clusters still counts per host', async () => {
    const stats = await adminText(plain, '/stats');
    expect(stats).toMatch(/^server\.state: 0$/m);
    expect(stats).toMatch(/^cluster_manager\.cds\.update_success: 1$/m);
    expect(stats).not.toMatch(/^cluster\.outbound/m);
    expect(stats).not.toMatch(/^http\./m);
    // a listener's only stat left is its RBAC denials (the rbac.denied suffix of the list)
    expect(stats.match(/^listener\.[^:]*/gm)).toEqual([`listener.0.0.0.0_${plainPort}.rbac.denied`]);
    const clusters = await adminText(plain, '/clusters');
    expect(clusters).toContain(`${ECHO_CLUSTER}::127.0.0.1:${echo.port}::rq_total::${N}`);
  });
});

describe('what the pod and its ProxyConfig add', () => {
  it("the annotation's prefix keeps one cluster's stats (and replaces ProxyConfig's prefixes); ProxyConfig's suffix keeps the connection manager totals", async () => {
    const e = await scrape(asked.ports.stats);
    expect(e.one('envoy_cluster_upstream_rq_total', { envoy_cluster_name: ECHO_CLUSTER })).toBe(N);
    expect(e.one('envoy_cluster_upstream_rq_xx', { envoy_cluster_name: ECHO_CLUSTER, envoy_response_code_class: '2' })).toBe(N);
    expect(e.select('envoy_cluster_upstream_rq_total', { envoy_cluster_name: `outbound|80||${OTHER}` })).toEqual([]);
    expect(e.one('envoy_http_downstream_rq_total')).toBe(N + 1);
    expect(names(e, 'envoy_http_').sort()).toEqual(['envoy_http_downstream_rq_total']);
    expect(names(e, 'envoy_listener_downstream')).toEqual([]);
    expect(e.one('istio_requests_total', { destination_service: ECHO, response_code: '200' })).toBe(N);
  });
});
