// Envoy's access-log filters, compiled once: comparisons, flags, headers, gRPC statuses, and/or, CEL.
import { describe, expect, it } from 'vitest';
import type { AccessLogFilter } from '../../../src/config/snapshot.js';
import { compileLogFilter } from '../../../src/telemetry/access-log/filter.js';
import { fakeContext, type FakeInput } from '../../helpers/log-context.js';

function logContext(over: FakeInput = {}) {
  return fakeContext({ responseCode: 418, ...over, request: { ':method': 'GET', ...over.request } });
}

const on = (f: AccessLogFilter, over: FakeInput = {}) => compileLogFilter(f)(logContext(over));

describe('access-log filters', () => {
  it('status code and duration comparisons (EQ, NE, GE, LE)', () => {
    expect(on({ statusCode: { op: 'GE', value: 400 } }, { responseCode: 418 })).toBe(true);
    expect(on({ statusCode: { op: 'GE', value: 400 } }, { responseCode: 200 })).toBe(false);
    expect(on({ statusCode: { op: 'EQ', value: 0 } }, { responseCode: 0 })).toBe(true);
    expect(on({ statusCode: { op: 'NE', value: 200 } }, { responseCode: 200 })).toBe(false);
    expect(on({ duration: { op: 'LE', value: 4 } }, { durationMs: 4 })).toBe(true);
    expect(on({ duration: { op: 'GE', value: 5 } }, { durationMs: 4 })).toBe(false);
  });

  it('response flags (any, or one of the listed), not_health_check, traceable', () => {
    expect(on({ responseFlags: [] }, { responseFlags: '-' })).toBe(false);
    expect(on({ responseFlags: [] }, { responseFlags: 'UH' })).toBe(true);
    expect(on({ responseFlags: ['UF', 'URX'] }, { responseFlags: 'UF,URX' })).toBe(true);
    expect(on({ responseFlags: ['NR'] }, { responseFlags: 'UH' })).toBe(false);
    expect(on({ notHealthCheck: true }, { healthCheck: true })).toBe(false);
    // Envoy's traceable filter: traced because forced (x-envoy-force-trace), not merely sampled
    expect(on({ traceable: true }, { traced: true, traceForced: true })).toBe(true);
    expect(on({ traceable: true }, { traced: true, traceForced: false })).toBe(false);
  });

  it('header matchers (presence, string match, inverted) on the request', () => {
    expect(on({ header: { name: 'x-foo', invert: false } }, { request: { 'x-foo': 'a' } })).toBe(true);
    expect(on({ header: { name: 'x-foo', invert: false } })).toBe(false);
    expect(on({ header: { name: ':method', match: { exact: 'POST' }, invert: true } })).toBe(true);
  });

  it('gRPC statuses: listed or excluded; a response without one counts as UNKNOWN', () => {
    expect(on({ grpcStatus: { statuses: [14], exclude: false } }, { grpcStatus: 14 })).toBe(true);
    expect(on({ grpcStatus: { statuses: [0], exclude: true } }, { grpcStatus: 0 })).toBe(false);
    expect(on({ grpcStatus: { statuses: [2], exclude: false } })).toBe(true);
  });

  it('and / or combine, CEL evaluates', () => {
    const f: AccessLogFilter = { or: [{ and: [{ statusCode: { op: 'GE', value: 500 } }, { responseFlags: [] }] }, { cel: "request.method == 'DELETE'" }] };
    expect(on(f, { responseCode: 503, responseFlags: 'UH' })).toBe(true);
    expect(on(f, { responseCode: 503 })).toBe(false);
    expect(on(f, { request: { ':method': 'DELETE' } })).toBe(true);
  });
});
