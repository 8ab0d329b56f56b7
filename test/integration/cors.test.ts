// VirtualService corsPolicy end to end: Istio's own "cors" traffic test case (its VirtualService
// and expectations, from ../shared/conformance), through a sidecar's outbound listener to a real
// upstream.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceEntry, toYaml } from '../helpers/mesh.js';
import { ROOT, startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { plainRequest } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const CASE = `${ROOT}/../shared/conformance/istio/tests/integration/pilot/common/cors`;
const B = 'b.default.svc.cluster.local';

interface Expectation {
  name: string;
  expect_status: number;
  expect_headers: Record<string, string>;
}

let app: Upstream;
let proxy: RunningProxy;
const expectations = (JSON.parse(readFileSync(`${CASE}/expectations.json`, 'utf8')) as { expectations: Expectation[] }).expectations;

beforeAll(async () => {
  app = await startUpstream();
  // the test case's VirtualService, its Go template rendered for a destination service `b`
  const vs = readFileSync(`${CASE}/vs-cors.derived.yaml`, 'utf8').replaceAll('{{ .dstSvc }}', 'b');
  proxy = await startProxy({ yaml: `${vs}---\n${toYaml(serviceEntry({ name: 'b', host: B, port: 80, endpoints: [{ port: app.port }] }))}`, args: ['--mode', 'sidecar', '--namespace', 'default'] });
});

afterAll(async () => {
  await stopAllProxies();
  await app.close();
});

/** The requests the Go test case sends, by expectation name. */
const REQUESTS: Record<string, { method: string; headers: Record<string, string> }> = {
  preflight: { method: 'OPTIONS', headers: { origin: 'cors.com', 'access-control-request-method': 'DELETE' } },
  get: { method: 'GET', headers: { origin: 'cors.com' } },
  'get no origin match': { method: 'GET', headers: {} },
};

describe("Istio's cors traffic test case", () => {
  it.each(expectations.map((e) => [e.name, e] as const))('%s', async (name, e) => {
    const before = app.requests.length;
    const r = await plainRequest(proxy.ports.outbound, '/', { host: 'b', method: REQUESTS[name].method, headers: REQUESTS[name].headers });
    expect(r.status).toBe(e.expect_status);
    for (const [header, value] of Object.entries(e.expect_headers)) expect(r.headers[header.toLowerCase()] ?? '', header).toBe(value);
    // the preflight is answered by the proxy; the others reach the application
    expect(app.requests.length - before).toBe(name === 'preflight' ? 0 : 1);
  });
});
