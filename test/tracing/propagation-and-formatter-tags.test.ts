// Telemetry's disableContextPropagation (spans made, no trace headers upstream) and formatter
// custom tags (a substitution format over the finished request), through HttpTracer as the
// connection manager drives it.
import { describe, expect, it } from 'vitest';
import type { HcmTracing } from '../../src/config/snapshot.js';
import { buildNodeIdentity } from '../../src/config/node-identity.js';
import { HttpTracer, type TracedRequestEnd, type TracingStats } from '../../src/tracing/http-tracer.js';
import type { FinishedSpan } from '../../src/tracing/span.js';
import { fakeContext } from '../helpers/log-context.js';

const NODE = buildNodeIdentity({ mode: 'sidecar', labels: [] }, {});
const config = (over: Partial<HcmTracing> = {}): HcmTracing => ({
  provider: { kind: 'opentelemetry', serviceName: 'a.default', transport: 'http', collector: { cluster: 'c', authority: 'c', timeoutMs: 1000, headers: [] } },
  randomSamplingPercent: 100, clientSamplingPercent: 100, overallSamplingPercent: 100, customTags: [], maxPathTagLength: 256, spawnUpstreamSpan: false, useRequestIdForTraceSampling: false,
  ...over,
});

function traced(cfg: HcmTracing) {
  const spans: FinishedSpan[] = [];
  const stats: TracingStats = { not_traceable: 0, random_sampling: 0, service_forced: 0, client_enabled: 0 };
  const tracer = new HttpTracer(cfg, true, NODE, { add: (s: FinishedSpan) => spans.push(s) }, stats, () => 0);
  const trace = tracer.startSpan(true, [], 'b.default')!;
  const upstream: string[] = [];
  trace.inject(upstream);
  const end = { downstreamHeaders: [], scheme: 'http', authority: 'b', path: '/items/1?x', method: 'GET', protocol: 'HTTP/1.1', requestId: 'r', peerAddress: '127.0.0.1', bytesReceived: 0, bytesSent: 2, responseCode: 200, responseFlags: '-', upstreamCluster: 'outbound|80||b', grpcStatus: undefined, metadata: undefined, logContext: () => fakeContext({ request: { ':path': '/items/1?x' }, responseCode: 200 }) } satisfies TracedRequestEnd;
  trace.finish(end);
  return { upstream, spans };
}

describe('tracing options of the Telemetry API', () => {
  it('context propagation on: traceparent goes upstream; disabled: nothing does, the span is still made', () => {
    expect(traced(config()).upstream).toContain('traceparent');
    const off = traced(config({ disableContextPropagation: true }));
    expect(off.upstream).toEqual([]);
    expect(off.spans).toHaveLength(1);
  });

  it('a formatter tag is the format over the finished request (a missing value prints -, as in access logs)', () => {
    const { spans } = traced(config({ customTags: [{ tag: 'route', formatter: '%REQ_WITHOUT_QUERY(:PATH)% %RESPONSE_CODE%' }, { tag: 'empty', formatter: '%REQ(x-none)%' }] }));
    const tags = Object.fromEntries(spans[0].tagKeys.map((k, i) => [k, spans[0].tagValues[i]]));
    expect(tags.route).toBe('/items/1 200');
    expect(tags.empty).toBe('-');
  });
});
