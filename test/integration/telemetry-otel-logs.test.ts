// Istio's "Logs with the Telemetry API" task end to end with the OpenTelemetry access-log provider:
// the loki sample's envoyOtelAls provider (its labels from the proxy's environment) and the task's
// mesh-wide Telemetry send every request of a gateway (two workers) to the test's OTLP/gRPC
// collector as a log record, with Istio's text format as the body; then the task's filter shape
// (response.code >= 500) leaves the successful requests out.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_ARGS, gateway, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { startOtlpLogsReceiver } from '../helpers/otlp.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { eventually, plainRequest } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const ISTIO = new URL('../../../shared/conformance/istio/', import.meta.url);
const COLLECTOR = 'opentelemetry-collector.istio-system.svc.cluster.local';
const ECHO = 'echo.default.svc.cluster.local';

let app: Upstream;
let collector: Awaited<ReturnType<typeof startOtlpLogsReceiver>>;
let proxy: RunningProxy;
let gwPort: number;

function config(filter?: string): string {
  const iop = parse(readFileSync(new URL('samples/open-telemetry/loki/iop.yaml', ISTIO), 'utf8')) as { spec: { meshConfig: Record<string, unknown> } };
  const mesh = { apiVersion: 'meshconfig.istio.io/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh' }, ...iop.spec.meshConfig };
  const task = parse(readFileSync(new URL('docs-tasks/observability/logs-telemetry-api/snip_get_started_with_telemetry_api_1.yaml', ISTIO), 'utf8')) as { metadata: Record<string, unknown>; spec: { accessLogging: Record<string, unknown>[] } };
  const telemetry = { ...task, metadata: { ...task.metadata, namespace: 'istio-system' } };
  if (filter) telemetry.spec = { accessLogging: task.spec.accessLogging.map((a) => ({ ...a, filter: { expression: filter } })) };
  return [
    stringify(mesh),
    stringify(telemetry),
    toYaml(
      gateway({ port: gwPort }),
      serviceEntry({ name: 'otel-collector', namespace: 'istio-system', host: COLLECTOR, ports: [{ number: 4317, name: 'grpc', protocol: 'GRPC' }], endpoints: [{ port: 0, ports: { grpc: collector.port } }] }),
      serviceEntry({ name: 'echo', host: ECHO, endpoints: [{ port: app.port }] }),
      virtualService('echo', { hosts: ['echo.test'], gateways: ['gw'], http: [{ match: [{ uri: { prefix: '/fail' } }], fault: { abort: { httpStatus: 503, percentage: { value: 100 } } }, route: [{ destination: { host: ECHO } }] }, { route: [{ destination: { host: ECHO } }] }] }),
    ),
  ].join('---\n');
}

beforeAll(async () => {
  app = await startUpstream(undefined, 'echo');
  collector = await startOtlpLogsReceiver();
  [gwPort] = await freePorts(1);
  proxy = await startProxy({ yaml: config(), args: GATEWAY_ARGS, workers: 2, env: { POD_NAME: 'gw-pod-1', POD_NAMESPACE: 'istio-system', ISTIO_META_CLUSTER_ID: 'Kubernetes', ISTIO_META_MESH_ID: 'mesh1' } });
}, 30_000);

afterAll(async () => {
  await stopAllProxies();
  await app.close();
  await collector.close();
});

const get = (path: string, rid: string) => plainRequest(gwPort, path, { host: 'echo.test', headers: { 'x-request-id': rid, 'user-agent': 'curl/8' } });

describe('access logs to an OpenTelemetry collector (envoyOtelAls)', () => {
  it('every request arrives as a log record: Istio\'s text format as the body, the provider\'s labels from the environment as attributes', async () => {
    for (let i = 0; i < 6; i++) expect((await get('/ok', `otel-${i}`)).status).toBe(200);
    const records = await eventually(() => {
      const mine = collector.logs.filter((l) => l.body.includes('"otel-'));
      return mine.length >= 6 ? mine : undefined;
    }, 5_000);
    expect(records, 'the collector got no records').toBeDefined();
    expect(records!.map((r) => /"(otel-\d)"/.exec(r.body)![1]).sort()).toEqual(['otel-0', 'otel-1', 'otel-2', 'otel-3', 'otel-4', 'otel-5']);
    for (const r of records!) {
      expect(r.body).toMatch(/^\[\d{4}-\d\d-\d\dT[^\]]+\] "GET \/ok HTTP\/1\.1" 200 - via_upstream - "-" 0 \d+ \d+ \d+ "[^"]*" "curl\/8" "otel-\d" "echo\.test" "127\.0\.0\.1:\d+" outbound\|80\|\|echo\.default\.svc\.cluster\.local /);
      expect(r.attributes).toEqual({ pod: 'gw-pod-1', namespace: 'istio-system', cluster: 'Kubernetes', mesh: 'mesh1' });
      expect(r.timeNs).toBeGreaterThan(0n);
    }
  });

  it("the task's filter shape (response.code >= 500): only the failing requests are sent", async () => {
    await writeFile(join(proxy.configDir, 'config.yaml'), config('response.code >= 500'));
    // applied once an OK request is no longer logged while a failing one is
    const applied = await eventually(async () => {
      const n = collector.logs.length;
      await get('/ok', 'probe-ok');
      await get('/fail', 'probe-fail');
      await new Promise((r) => setTimeout(r, 1_300));
      const fresh = collector.logs.slice(n);
      return fresh.some((l) => l.body.includes('probe-fail')) && !fresh.some((l) => l.body.includes('probe-ok')) ? true : undefined;
    }, 15_000, 10);
    expect(applied).toBe(true);
    const n = collector.logs.length;
    expect((await get('/ok', 'after-ok')).status).toBe(200);
    expect((await get('/fail', 'after-fail')).status).toBe(503);
    await eventually(() => collector.logs.slice(n).some((l) => l.body.includes('after-fail')), 5_000);
    const fresh = collector.logs.slice(n).map((l) => l.body);
    expect(fresh.find((b) => b.includes("after-fail"))).toMatch(/" 503 FI fault_filter_abort /);
    expect(fresh.some((b) => b.includes('after-ok'))).toBe(false);
  });
});
