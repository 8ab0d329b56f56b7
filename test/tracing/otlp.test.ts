import { describe, expect, it } from 'vitest';
import { exportTraceRequest } from '../../src/tracing/otlp.js';
import { zipkinSpans } from '../../src/tracing/zipkin.js';
import type { FinishedSpan } from '../../src/tracing/span.js';
import { decodeExport } from '../helpers/otlp.js';

const span = (over: Partial<FinishedSpan> = {}): FinishedSpan => ({
  name: 'egress reviews:9080',
  kind: 'CLIENT',
  context: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', sampled: true },
  parentSpanId: undefined,
  startMs: 1_765_000_000_123.456,
  endMs: 1_765_000_000_125.5,
  tagKeys: ['http.method', 'http.url'],
  tagValues: ['GET', 'http://reviews:9080/reviews/0'],
  error: false,
  ...over,
});

describe('OTLP export request (decoded by protobufjs against opentelemetry-proto\'s messages)', () => {
  it('writes the resource, ids, parent, name, kind, nanosecond times, attributes, trace state and error status', () => {
    const spans = decodeExport(exportTraceRequest({ serviceName: 'productpage.default', attributes: [['k8s.pod.name', 'pp-1']] }, [
      span(),
      span({
        kind: 'SERVER',
        name: 'ingress',
        context: { traceId: 'a3ce929d0e0e4736', spanId: '1111111111111111', sampled: true, traceState: 'congo=t61rcWkgMzE' },
        parentSpanId: '00f067aa0ba902b7',
        tagKeys: ['user_agent', 'error', 'long'],
        tagValues: ['curl/8 ünïcødé 🚀', 'true', 'x'.repeat(300)],
        error: true,
      }),
    ]));
    expect(spans).toHaveLength(2);
    const [a, b] = spans;
    expect(a).toMatchObject({
      service: 'productpage.default',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      parentSpanId: '',
      name: 'egress reviews:9080',
      kind: 'CLIENT',
      attributes: { 'http.method': 'GET', 'http.url': 'http://reviews:9080/reviews/0' },
      statusCode: 0,
    });
    expect(a.resource).toMatchObject({ 'service.name': 'productpage.default', 'telemetry.sdk.name': 'outrigger', 'k8s.pod.name': 'pp-1' });
    // fixed64 nanoseconds: within the float's precision of the milliseconds given
    expect(Number(a.startNs / 1000n)).toBe(1_765_000_000_123_456);
    expect(Number(a.endNs - a.startNs)).toBeCloseTo(2_044_000, -3);
    // a 64-bit B3 trace id is padded to OTLP's 16 bytes; UTF-8 and long (multi-byte length) values
    expect(b).toMatchObject({ traceId: '0000000000000000a3ce929d0e0e4736', parentSpanId: '00f067aa0ba902b7', kind: 'SERVER', statusCode: 2 });
    expect(b.attributes).toEqual({ user_agent: 'curl/8 ünïcødé 🚀', error: 'true', long: 'x'.repeat(300) });
  });

  it('Zipkin v2 JSON: microsecond timestamp and duration, the proxy as localEndpoint, tags as an object', () => {
    const [z] = JSON.parse(zipkinSpans({ serviceName: 'productpage.default', ip: '10.1.1.1' }, [span({ parentSpanId: '05e3ac9a4f6e3b90' })]));
    expect(z).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      parentId: '05e3ac9a4f6e3b90',
      id: '00f067aa0ba902b7',
      kind: 'CLIENT',
      name: 'egress reviews:9080',
      timestamp: 1_765_000_000_123_456,
      duration: 2044,
      localEndpoint: { serviceName: 'productpage.default', ipv4: '10.1.1.1' },
      tags: { 'http.method': 'GET', 'http.url': 'http://reviews:9080/reviews/0' },
    });
  });
});
