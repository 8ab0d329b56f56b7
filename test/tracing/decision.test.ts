import { describe, expect, it } from 'vitest';
import type { HcmTracing } from '../../src/config/snapshot.js';
import { traceStatusOf } from '../../src/tracing/decision.js';
import { decideThroughTracer as decideTrace, type DecisionInputs } from '../helpers/trace-decision.js';

const config = (over: Partial<HcmTracing> = {}): HcmTracing => ({
  randomSamplingPercent: 100, clientSamplingPercent: 100, overallSamplingPercent: 100, customTags: [], maxPathTagLength: 256, spawnUpstreamSpan: false, useRequestIdForTraceSampling: true, ...over,
});
/** A UUID whose first 8 hex digits are `hash` (mod 10,000 is what random sampling compares). */
const uuid = (hash: number, status = '4') => `${hash.toString(16).padStart(8, '0')}-0000-${status}000-8000-000000000000`;
const inputs = (requestId: string | undefined, over: Partial<DecisionInputs> = {}) => ({ requestId, clientTraceId: false, forceTrace: false, random: () => 0, ...over });

describe('the tracing decision (Envoy: UUID request-id trace status)', () => {
  it('random sampling by the request id: the first 8 hex digits mod 10,000 against the percentage × 100', () => {
    expect(decideTrace(config({ randomSamplingPercent: 1 }), inputs(uuid(99))).traced).toBe(true);
    expect(decideTrace(config({ randomSamplingPercent: 1 }), inputs(uuid(100))).traced).toBe(false);
    expect(decideTrace(config({ randomSamplingPercent: 1 }), inputs(uuid(10_099))).traced).toBe(true); // 10,099 mod 10,000 = 99
    expect(decideTrace(config({ randomSamplingPercent: 0 }), inputs(uuid(0))).traced).toBe(false);
    expect(decideTrace(config({ randomSamplingPercent: 12.34 }), inputs(uuid(1233))).traced).toBe(true);
    expect(decideTrace(config({ randomSamplingPercent: 12.34 }), inputs(uuid(1234))).traced).toBe(false);
  });

  it('packs the decision into x-request-id (version digit a/b/c), and a later hop keeps it', () => {
    const d = decideTrace(config({ randomSamplingPercent: 100 }), inputs(uuid(5)));
    expect(d).toMatchObject({ traced: true, reason: 'random_sampling', requestId: uuid(5, 'a') });
    expect(traceStatusOf(d.requestId)).toBe('sampled');
    // the next proxy samples nothing at random, but the request was already sampled
    expect(decideTrace(config({ randomSamplingPercent: 0 }), inputs(d.requestId))).toMatchObject({ traced: true, reason: 'random_sampling', requestId: d.requestId });
    // not sampled: the id goes on unchanged
    expect(decideTrace(config({ randomSamplingPercent: 0 }), inputs(uuid(5))).requestId).toBe(uuid(5));
  });

  it('x-client-trace-id (client sampling), then x-envoy-force-trace, before random sampling', () => {
    const cfg = config({ randomSamplingPercent: 0, clientSamplingPercent: 100 });
    expect(decideTrace(cfg, inputs(uuid(9999), { clientTraceId: true }))).toMatchObject({ traced: true, reason: 'client_enabled', requestId: uuid(9999, 'c') });
    expect(decideTrace(cfg, inputs(uuid(9999), { forceTrace: true }))).toMatchObject({ traced: true, reason: 'service_forced', requestId: uuid(9999, 'b') });
    // client sampling at 0 %: the client's id alone does not trace
    expect(decideTrace(config({ randomSamplingPercent: 0, clientSamplingPercent: 0 }), inputs(uuid(1), { clientTraceId: true })).traced).toBe(false);
  });

  it('overall sampling takes back what the others traced, the id marked untraced', () => {
    const d = decideTrace(config({ overallSamplingPercent: 50 }), inputs(uuid(7000, 'a')));
    expect(d).toMatchObject({ traced: false, reason: 'not_traceable', requestId: uuid(7000, '4') });
    expect(decideTrace(config({ overallSamplingPercent: 50 }), inputs(uuid(4999))).traced).toBe(true);
  });

  it('an x-request-id that is no UUID is kept as it is; the draw decides', () => {
    expect(decideTrace(config({ randomSamplingPercent: 50 }), inputs('custom-id', { random: () => 0.4999 }))).toEqual({ traced: true, reason: 'random_sampling', requestId: 'custom-id' });
    expect(decideTrace(config({ randomSamplingPercent: 50 }), inputs('custom-id', { random: () => 0.5 })).traced).toBe(false);
    // hashing off: the draw decides for a UUID too
    expect(decideTrace(config({ randomSamplingPercent: 50, useRequestIdForTraceSampling: false }), inputs(uuid(0), { random: () => 0.9 })).traced).toBe(false);
  });
});
