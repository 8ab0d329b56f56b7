// Hostile trace context: traceparent, tracestate, B3, x-request-id and decorator headers a client
// controls. Parsing stays linear and never throws; a malformed context starts a new trace (W3C) or
// is ignored; nothing a client sends can break the span export, inject a second traceparent, or
// reach the application as a decorator; end to end through a traced gateway the requests succeed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { HcmTracing } from '../../src/config/snapshot.js';
import { readB3, readTraceparent } from '../../src/tracing/trace-context.js';
import { GATEWAY_ARGS, gateway, serviceEntry, toYaml, virtualService } from '../helpers/mesh.js';
import { startOtlpHttpReceiver, type OtlpReceiver } from '../helpers/otlp.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies } from '../helpers/proxy.js';
import { eventually, plainRequest } from '../helpers/telemetry.js';
import { decideThroughTracer } from '../helpers/trace-decision.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('parsers', () => {
  it('60 KiB of garbage in every trace header: no context, fast, never a throw', () => {
    const junk = ['-'.repeat(60 * 1024), `00-${'f'.repeat(60 * 1024)}`, `${TRACE}-${SPAN}-1-${'a'.repeat(60 * 1024)}`, '\0\r\n', '💥'.repeat(1000), ''];
    const t0 = performance.now();
    for (const v of junk) {
      expect(() => readTraceparent(['traceparent', v])).not.toThrow();
      expect(readTraceparent(['traceparent', v]), JSON.stringify(v.slice(0, 20))).toBeUndefined();
      expect(() => readB3(['b3', v])).not.toThrow();
      expect(() => readB3(['x-b3-traceid', v, 'x-b3-spanid', v, 'x-b3-sampled', v])).not.toThrow();
    }
    expect(performance.now() - t0).toBeLessThan(200);
  });

  it('x-request-id of any shape: the decision never throws and packs only a UUID-shaped id', () => {
    const config: HcmTracing = { randomSamplingPercent: 100, clientSamplingPercent: 100, overallSamplingPercent: 100, customTags: [], maxPathTagLength: 256, spawnUpstreamSpan: false, useRequestIdForTraceSampling: true };
    for (const rid of ['', 'x'.repeat(65_536), 'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz', '--------------------------------------------------'.slice(0, 36), '💥'.repeat(18)]) {
      const d = decideThroughTracer(config, { requestId: rid, clientTraceId: false, forceTrace: false, random: Math.random });
      expect(d.traced).toBe(true);
      // a UUID-shaped id (dashes where a UUID has them) is packed even with odd digits, as Envoy's does; nothing else changes
      if (rid.length !== 36 || rid[8] !== '-') expect(d.requestId).toBe(rid);
    }
  });
});

describe('through a traced gateway', () => {
  let app: Upstream;
  let collector: OtlpReceiver;
  let gwPort: number;

  beforeAll(async () => {
    [app, collector] = await Promise.all([startUpstream(), startOtlpHttpReceiver()]);
    [gwPort] = await freePorts(1);
    const COLLECTOR = 'collector.observability.svc.cluster.local';
    const mesh = stringify({
      apiVersion: 'meshconfig.istio.io/v1alpha1', kind: 'MeshConfig', metadata: { name: 'mesh' },
      extensionProviders: [{ name: 'otel', opentelemetry: { service: COLLECTOR, port: 4318, http: { path: '/v1/traces' } } }],
      defaultProviders: { tracing: ['otel'] },
    });
    const telemetry = stringify({ apiVersion: 'telemetry.istio.io/v1', kind: 'Telemetry', metadata: { name: 'mesh-default', namespace: 'istio-system' }, spec: { tracing: [{ randomSamplingPercentage: 100 }] } });
    const host = 'app.default.svc.cluster.local';
    const config = toYaml(
      serviceEntry({ name: 'app', host, port: 80, endpoints: [{ port: app.port }] }),
      serviceEntry({ name: 'collector', namespace: 'observability', host: COLLECTOR, port: 4318, endpoints: [{ port: collector.port }] }),
      gateway({ port: gwPort }),
      virtualService('app', { hosts: ['*'], gateways: ['gw'], http: [{ route: [{ destination: { host, port: { number: 80 } } }] }] }),
    );
    await startProxy({ yaml: [mesh, telemetry, config].join('---\n'), args: GATEWAY_ARGS });
  });

  afterAll(async () => {
    await stopAllProxies();
    await Promise.all([app.close(), collector.close()]);
  });

  it('hostile trace headers: every request answered, one traceparent upstream, the spans well-formed, the decorator header never reaches the app', async () => {
    const hostile: Record<string, string>[] = [
      { traceparent: `00-${TRACE}-${SPAN}-01`, tracestate: 'x'.repeat(8_000) },
      { traceparent: `ff-${TRACE}-${SPAN}-01` },
      { traceparent: `00-${'0'.repeat(32)}-${SPAN}-01` },
      { traceparent: 'garbage', 'x-b3-traceid': 'nothex', b3: '1-2-3-4-5' },
      { 'x-request-id': 'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz' },
      { 'x-request-id': 'y'.repeat(4_000) },
      { 'x-envoy-decorator-operation': 'spoofed' },
      { 'x-client-trace-id': '\u00ff'.repeat(10) },
      { 'user-agent': '\u00e9\u00e8'.repeat(2_000) },
    ];
    const before = app.requests.length;
    for (const headers of hostile) expect((await plainRequest(gwPort, '/h', { host: 'shop.example.com', headers })).status, JSON.stringify(Object.keys(headers))).toBe(200);
    const seen = app.requests.slice(before);
    expect(seen).toHaveLength(hostile.length);
    for (const r of seen) {
      const raw = r.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
      expect(raw.filter((n) => n === 'traceparent')).toHaveLength(1);
      expect(String(r.headers.traceparent)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    }
    // the gateway's own decorator goes upstream in place of the client's (an egress span names the next hop's)
    expect(seen.every((r) => r.headers['x-envoy-decorator-operation'] !== 'spoofed')).toBe(true);
    // the caller's valid context is continued; the invalid ones start new traces
    expect(String(seen[0].headers.traceparent).split('-')[1]).toBe(TRACE);
    expect(String(seen[1].headers.traceparent).split('-')[1]).not.toBe(TRACE);
    // every span, the last ones with the 5 s flush timer
    const spans = await eventually(() => (collector.spans.length >= 2 * hostile.length ? collector.spans : undefined), 12_000);
    for (const s of spans) {
      expect(s.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(s.spanId).toMatch(/^[0-9a-f]{16}$/);
    }
    expect(spans.find((s) => s.attributes.user_agent?.startsWith('éè'))?.attributes.user_agent).toBe('éè'.repeat(2_000));
  });
});
