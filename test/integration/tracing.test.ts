// Tracing end to end: requests through real proxies (a gateway, two sidecars) with Istio's
// Telemetry API and meshConfig extension providers, spans received by an OTLP/HTTP, an OTLP/gRPC and
// a Zipkin collector of the test, checked as one trace per request (parent/child links, kinds,
// names, Envoy's and Istio's tags), and sampling as configured.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { GATEWAY_ARGS, gateway, serviceEntry, sidecar, toYaml, virtualService } from '../helpers/mesh.js';
import { startOtlpGrpcReceiver, startOtlpHttpReceiver, startZipkinReceiver, type OtlpReceiver, type ReceivedSpan } from '../helpers/otlp.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { eventually, plainRequest } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const B = 'b.default.svc.cluster.local';
const COLLECTOR = 'otel-collector.observability.svc.cluster.local';
const ZIPKIN = 'zipkin.istio-system.svc.cluster.local';

/** The mesh config: the collectors as extension providers and services, Telemetry naming `provider` mesh-wide. */
function tracingMesh(opts: { provider: string; sampling: number; otlpHttp: number; otlpGrpc: number; zipkin: number }): string {
  const mesh = {
    apiVersion: 'meshconfig.istio.io/v1alpha1',
    kind: 'MeshConfig',
    metadata: { name: 'mesh' },
    extensionProviders: [
      { name: 'otel-http', opentelemetry: { service: COLLECTOR, port: 4318, http: { path: '/v1/traces', timeout: '5s', headers: [{ name: 'x-tenant', value: 'mesh-a' }] } } },
      { name: 'otel-grpc', opentelemetry: { service: COLLECTOR, port: 4317 } },
      { name: 'zipkin', zipkin: { service: ZIPKIN, port: 9411 } },
    ],
  };
  const telemetry = {
    apiVersion: 'telemetry.istio.io/v1',
    kind: 'Telemetry',
    metadata: { name: 'mesh-default', namespace: 'istio-system' },
    spec: { tracing: [{ providers: [{ name: opts.provider }], randomSamplingPercentage: opts.sampling, customTags: { 'my-attribute': { literal: { value: 'default-value' } } } }] },
  };
  return [
    stringify(mesh),
    stringify(telemetry),
    toYaml(
      serviceEntry({
        name: 'otel-collector',
        namespace: 'observability',
        host: COLLECTOR,
        ports: [{ number: 4318, name: 'http' }, { number: 4317, name: 'grpc', protocol: 'GRPC' }],
        endpoints: [{ port: 0, ports: { http: opts.otlpHttp, grpc: opts.otlpGrpc } }],
      }),
      serviceEntry({ name: 'zipkin', namespace: 'istio-system', host: ZIPKIN, port: 9411, endpoints: [{ port: opts.zipkin }] }),
    ),
  ].join('---\n');
}

let app: Upstream;
let otlpHttp: OtlpReceiver;
let otlpGrpc: OtlpReceiver;
let zipkin: Awaited<ReturnType<typeof startZipkinReceiver>>;

beforeAll(async () => {
  [app, otlpHttp, otlpGrpc, zipkin] = await Promise.all([startUpstream(), startOtlpHttpReceiver(), startOtlpGrpcReceiver(), startZipkinReceiver()]);
});

afterAll(async () => {
  await stopAllProxies();
  await Promise.all([app.close(), otlpHttp.close(), otlpGrpc.close(), zipkin.close()]);
});

/**
 * Sidecar B (workload b, Sidecar ingress listener in front of the app), sidecar A (workload a,
 * its outbound port routing to b), a gateway routing to b; all three with `mesh`.
 */
async function startMesh(provider: string, sampling: number): Promise<{ a: RunningProxy; b: RunningProxy; gw: RunningProxy; bPort: number; gwPort: number }> {
  const [bPort, gwPort] = await freePorts(2);
  const mesh = tracingMesh({ provider, sampling, otlpHttp: otlpHttp.port, otlpGrpc: otlpGrpc.port, zipkin: zipkin.port });
  const service = serviceEntry({ name: 'b', host: B, port: 80, endpoints: [{ port: bPort }] });
  const labels = (app: string) => ['--label', `app=${app}`, '--label', `service.istio.io/canonical-name=${app}`];
  const b = await startProxy({
    yaml: `${mesh}---\n${toYaml(service, sidecar('b', { ingress: [{ port: { number: bPort, name: 'http', protocol: 'HTTP' }, bind: '127.0.0.1', captureMode: 'NONE', defaultEndpoint: `127.0.0.1:${app.port}` }] }))}`,
    args: ['--mode', 'sidecar', '--namespace', 'default', ...labels('b')],
  });
  const a = await startProxy({ yaml: `${mesh}---\n${toYaml(service)}`, args: ['--mode', 'sidecar', '--namespace', 'default', ...labels('a')],
    // the connection manager's and the tracer's stats, as an operator asks for them (pilot-agent's list keeps neither)
    env: { ISTIO_METAJSON_ANNOTATIONS: JSON.stringify({ 'sidecar.istio.io/statsInclusionPrefixes': 'http.,tracing.' }) },
  });
  const gw = await startProxy({
    yaml: `${mesh}---\n${toYaml(service, gateway({ port: gwPort }), virtualService('b', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: B, port: { number: 80 } } }] }] }))}`,
    args: [...GATEWAY_ARGS, '--label', 'app=istio-ingressgateway'],
  });
  return { a, b, gw, bPort, gwPort };
}

/** Five requests: each proxy sends its report once five spans wait. */
const FLUSH_AT = 5;

function byTrace(spans: ReceivedSpan[]): Map<string, ReceivedSpan[]> {
  const out = new Map<string, ReceivedSpan[]>();
  for (const s of spans) out.set(s.traceId, [...(out.get(s.traceId) ?? []), s]);
  return out;
}

describe('OpenTelemetry (OTLP/HTTP) through a sidecar pair and a gateway', () => {
  let a: RunningProxy;
  let gwPort: number;

  beforeAll(async () => {
    otlpHttp.spans.length = 0;
    ({ a, gwPort } = await startMesh('otel-http', 100));
  });

  afterAll(() => stopAllProxies());

  it('sidecar A → sidecar B: one trace, B\'s server span a child of A\'s client span, the app sees the context', async () => {
    const before = app.requests.length;
    for (let i = 0; i < FLUSH_AT; i++) expect((await plainRequest(a.ports.outbound, `/items/${i}`, { host: B })).status).toBe(200);
    const spans = await eventually(() => (otlpHttp.spans.length >= 2 * FLUSH_AT ? otlpHttp.spans : undefined), 10_000);
    const traces = byTrace(spans);
    expect(traces.size).toBe(FLUSH_AT);
    for (const [, trace] of traces) {
      expect(trace).toHaveLength(2);
      const client = trace.find((s) => s.kind === 'CLIENT')!;
      const server = trace.find((s) => s.kind === 'SERVER')!;
      expect(client.parentSpanId).toBe('');
      expect(server.parentSpanId).toBe(client.spanId);
      expect(client.service).toBe('a.default');
      expect(server.service).toBe('b.default');
      // Envoy's OpenTelemetry span keeps its operation name: egress <host>, ingress
      expect(client.name).toBe(`egress ${B}`);
      expect(server.name).toBe('ingress');
      expect(client.attributes).toMatchObject({
        'http.method': 'GET',
        'http.status_code': '200',
        'http.protocol': 'HTTP/1.1',
        upstream_cluster: `outbound|80||${B}`,
        component: 'proxy',
        response_flags: '-',
        'istio.canonical_service': 'a',
        'istio.namespace': 'default',
        'my-attribute': 'default-value',
      });
      expect(client.attributes['http.url']).toMatch(new RegExp(`^http://${B}/items/\\d$`));
      expect(client.attributes['guid:x-request-id']).toBe(server.attributes['guid:x-request-id']);
      expect(server.attributes['istio.canonical_service']).toBe('b');
      expect(client.startNs).toBeLessThan(server.startNs);
      expect(client.endNs).toBeGreaterThan(server.startNs);
      expect(client.statusCode).toBe(0);
    }
    // the application got B's span as its parent, and no decorator header
    for (const r of app.requests.slice(before)) {
      const parent = String(r.headers.traceparent);
      expect(parent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
      const [, traceId, spanId] = parent.split('-');
      expect(traces.get(traceId)!.find((s) => s.kind === 'SERVER')!.spanId).toBe(spanId);
      expect(r.headers['x-envoy-decorator-operation']).toBeUndefined();
      // sampled: the request id carries Envoy's trace mark
      expect(String(r.headers['x-request-id'])[14]).toBe('a');
    }
    // the provider's headers went with the exports
    expect(otlpHttp.headers.every((h) => h['x-tenant'] === 'mesh-a')).toBe(true);
  });

  it('gateway → sidecar B: the gateway\'s server span, one client span per attempt under it, B\'s span under that', async () => {
    otlpHttp.spans.length = 0;
    for (let i = 0; i < FLUSH_AT; i++) expect((await plainRequest(gwPort, '/g', { host: 'shop.example.com' })).status).toBe(200);
    const spans = await eventually(() => (otlpHttp.spans.length >= 3 * FLUSH_AT ? otlpHttp.spans : undefined), 10_000);
    for (const [, trace] of byTrace(spans)) {
      expect(trace).toHaveLength(3);
      const gwServer = trace.find((s) => s.service === 'istio-ingressgateway.default' && s.kind === 'SERVER')!;
      const attempt = trace.find((s) => s.kind === 'CLIENT')!;
      const b = trace.find((s) => s.service === 'b.default')!;
      expect(gwServer.parentSpanId).toBe('');
      expect(attempt.parentSpanId).toBe(gwServer.spanId);
      expect(attempt.name).toBe(`router outbound|80||${B} egress`);
      expect(attempt.attributes).toMatchObject({ 'http.status_code': '200', upstream_cluster: `outbound|80||${B}` });
      expect(b.parentSpanId).toBe(attempt.spanId);
    }
  });
});

describe('a request through a gateway and two sidecars, the application in between propagating the context', () => {
  it('one trace of five spans: the gateway\'s and its attempt\'s, A\'s inbound, A\'s outbound, B\'s inbound', async () => {
    const A = 'a.default.svc.cluster.local';
    const [aPort, gwPort] = await freePorts(2);
    let aOutbound = 0;
    // application a: calls b through its sidecar's outbound port, passing on the trace headers as Istio asks applications to
    const appA = await startUpstream((req, res) => {
      const pass: Record<string, string> = {};
      for (const h of ['traceparent', 'tracestate', 'x-request-id', 'x-b3-traceid', 'x-b3-spanid', 'x-b3-parentspanid', 'x-b3-sampled']) if (req.headers[h]) pass[h] = String(req.headers[h]);
      void plainRequest(aOutbound, '/from-a', { host: B, headers: pass }).then((r) => res.writeHead(r.status).end(r.text), () => res.writeHead(502).end());
    }, 'app-a');
    try {
      const [bPort] = await freePorts(1);
      const mesh = tracingMesh({ provider: 'otel-http', sampling: 100, otlpHttp: otlpHttp.port, otlpGrpc: otlpGrpc.port, zipkin: zipkin.port });
      const services = [serviceEntry({ name: 'a', host: A, port: 80, endpoints: [{ port: aPort }] }), serviceEntry({ name: 'b', host: B, port: 80, endpoints: [{ port: bPort }] })];
      const ingress = (port: number, app: number, name: string) => sidecar(name, { ingress: [{ port: { number: port, name: 'http', protocol: 'HTTP' }, bind: '127.0.0.1', captureMode: 'NONE', defaultEndpoint: `127.0.0.1:${app}` }] });
      const label = (app: string) => ['--label', `app=${app}`, '--label', `service.istio.io/canonical-name=${app}`];
      await startProxy({ yaml: `${mesh}---\n${toYaml(...services, ingress(bPort, app.port, 'b'))}`, args: ['--mode', 'sidecar', '--namespace', 'default', ...label('b')] });
      const a = await startProxy({ yaml: `${mesh}---\n${toYaml(...services, ingress(aPort, appA.port, 'a'))}`, args: ['--mode', 'sidecar', '--namespace', 'default', ...label('a')] });
      aOutbound = a.ports.outbound;
      await startProxy({
        yaml: `${mesh}---\n${toYaml(...services, gateway({ port: gwPort }), virtualService('a', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host: A, port: { number: 80 } } }] }] }))}`,
        args: [...GATEWAY_ARGS, '--label', 'app=istio-ingressgateway'],
      });
      otlpHttp.spans.length = 0;
      for (let i = 0; i < FLUSH_AT; i++) expect((await plainRequest(gwPort, '/chain', { host: 'shop.example.com' })).status).toBe(200);
      const spans = await eventually(() => (otlpHttp.spans.length >= 5 * FLUSH_AT ? otlpHttp.spans : undefined), 10_000);
      const traces = byTrace(spans);
      expect(traces.size).toBe(FLUSH_AT);
      for (const [, t] of traces) {
        const one = (service: string, kind: string) => {
          const found = t.filter((s) => s.service === service && s.kind === kind);
          expect(found, `${service} ${kind}`).toHaveLength(1);
          return found[0];
        };
        const gwServer = one('istio-ingressgateway.default', 'SERVER');
        const gwAttempt = one('istio-ingressgateway.default', 'CLIENT');
        const aIn = one('a.default', 'SERVER');
        const aOut = one('a.default', 'CLIENT');
        const bIn = one('b.default', 'SERVER');
        expect(t).toHaveLength(5);
        expect([gwServer.parentSpanId, gwAttempt.parentSpanId, aIn.parentSpanId, aOut.parentSpanId, bIn.parentSpanId]).toEqual(['', gwServer.spanId, gwAttempt.spanId, aIn.spanId, aOut.spanId]);
        // one request id throughout (an attempt's span carries none, as Envoy's upstream spans)
        expect(new Set(t.filter((s) => s !== gwAttempt).map((s) => s.attributes['guid:x-request-id'])).size).toBe(1);
      }
    } finally {
      await stopAllProxies();
      await appA.close();
    }
  });
});

describe('sampling and propagation', () => {
  it('sampling 0: no span is made or sent and nothing goes upstream; a caller\'s sampled context is honoured; the decision counters say why', async () => {
    const { a } = await startMesh('otel-http', 0);
    otlpHttp.spans.length = 0;
    const before = app.requests.length;
    for (let i = 0; i < 20; i++) expect((await plainRequest(a.ports.outbound, '/z', { host: B })).status).toBe(200);
    // a caller's sampled context is honoured: its trace continues
    const traceId = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    for (let i = 0; i < FLUSH_AT; i++) {
      expect((await plainRequest(a.ports.outbound, '/z', { host: B, headers: { traceparent: `00-${traceId}-bbbbbbbbbbbbbbbb-01` } })).status).toBe(200);
    }
    const spans = await eventually(() => (otlpHttp.spans.length >= 2 * FLUSH_AT ? otlpHttp.spans : undefined), 10_000);
    expect(spans.every((s) => s.traceId === traceId)).toBe(true);
    expect(spans.filter((s) => s.kind === 'CLIENT').every((s) => s.parentSpanId === 'bbbbbbbbbbbbbbbb')).toBe(true);
    const unsampled = app.requests.slice(before, before + 20);
    expect(unsampled.every((r) => r.headers.traceparent === undefined && r.headers['x-envoy-decorator-operation'] === undefined)).toBe(true);
    // a caller's unsampled context goes on as a child, still unsampled
    const seen = app.requests.length;
    expect((await plainRequest(a.ports.outbound, '/z', { host: B, headers: { traceparent: `00-${traceId}-cccccccccccccccc-00` } })).status).toBe(200);
    expect(String(app.requests[seen].headers.traceparent)).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
    const stats = (await plainRequest(a.ports.admin, '/stats')).text;
    // the 20 unsampled ones, and the 6 with a caller's context count as not traceable here too (this proxy's decision)
    expect(stats).toMatch(/^http\.outbound_0\.0\.0\.0_\d+\.tracing\.not_traceable: 26$/m);
    expect(stats).toMatch(/^http\.outbound_0\.0\.0\.0_\d+\.tracing\.random_sampling: 0$/m);
    expect(stats).toMatch(/^tracing\.opentelemetry\.spans_sent: 5$/m);
  });

  it('sampling 50 %: the share of sampled requests holds within bounds over 400 requests', async () => {
    const { a } = await startMesh('otel-http', 50);
    otlpHttp.spans.length = 0;
    const before = app.requests.length;
    for (let i = 0; i < 400; i++) await plainRequest(a.ports.outbound, '/s', { host: B });
    const sampled = app.requests.slice(before).filter((r) => String(r.headers.traceparent).endsWith('-01')).length;
    // binomial(400, 0.5): ±5 standard deviations
    expect(sampled).toBeGreaterThan(150);
    expect(sampled).toBeLessThan(250);
    // B decides as A did from the same x-request-id hash: it never starts a trace of its own
    await eventually(() => otlpHttp.spans.length >= 2 * sampled - 10, 10_000);
    expect(otlpHttp.spans.filter((s) => s.service === 'b.default' && s.parentSpanId === '')).toEqual([]);
  });
});

describe('OTLP/gRPC and Zipkin', () => {
  it('OTLP/gRPC: the same trace, exported with TraceService/Export', async () => {
    const { a } = await startMesh('otel-grpc', 100);
    otlpGrpc.spans.length = 0;
    for (let i = 0; i < FLUSH_AT; i++) expect((await plainRequest(a.ports.outbound, '/grpc-export', { host: B })).status).toBe(200);
    const spans = await eventually(() => (otlpGrpc.spans.length >= 2 * FLUSH_AT ? otlpGrpc.spans : undefined), 10_000);
    for (const [, trace] of byTrace(spans)) {
      expect(trace.map((s) => s.kind).sort()).toEqual(['CLIENT', 'SERVER']);
      expect(trace.find((s) => s.kind === 'SERVER')!.parentSpanId).toBe(trace.find((s) => s.kind === 'CLIENT')!.spanId);
    }
    expect(otlpGrpc.headers[0][':authority']).toBe(COLLECTOR);
  });

  it('Zipkin: B3 headers between the proxies, v2 JSON spans named by the route decorator', async () => {
    const { a } = await startMesh('zipkin', 100);
    zipkin.spans.length = 0;
    const before = app.requests.length;
    for (let i = 0; i < FLUSH_AT; i++) expect((await plainRequest(a.ports.outbound, '/zip', { host: B })).status).toBe(200);
    const spans = await eventually(() => (zipkin.spans.length >= 2 * FLUSH_AT ? zipkin.spans : undefined), 10_000);
    const traces = new Map<string, Record<string, unknown>[]>();
    for (const s of spans) traces.set(s.traceId as string, [...(traces.get(s.traceId as string) ?? []), s]);
    expect(traces.size).toBe(FLUSH_AT);
    for (const [traceId, trace] of traces) {
      expect(traceId).toMatch(/^[0-9a-f]{32}$/);
      const client = trace.find((s) => s.kind === 'CLIENT')!;
      const server = trace.find((s) => s.kind === 'SERVER')!;
      expect(server.parentId).toBe(client.id);
      // the default route's decorator names A's span, and B's through x-envoy-decorator-operation
      expect(client.name).toBe(`${B}:80/*`);
      expect(server.name).toBe(`${B}:80/*`);
      expect(client.localEndpoint).toMatchObject({ serviceName: 'a.default' });
      expect((client.tags as Record<string, string>)['http.status_code']).toBe('200');
    }
    for (const r of app.requests.slice(before)) {
      expect(r.headers['x-b3-sampled']).toBe('1');
      expect(traces.has(String(r.headers['x-b3-traceid']))).toBe(true);
    }
  });
});
