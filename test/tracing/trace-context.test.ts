import { describe, expect, it } from 'vitest';
import { readB3, readTraceparent, writeB3, writeTraceparent } from '../../src/tracing/trace-context.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('W3C traceparent', () => {
  it('reads version 00 with its sampled flag and tracestate', () => {
    expect(readTraceparent(['traceparent', `00-${TRACE}-${SPAN}-01`, 'tracestate', 'congo=t61rcWkgMzE'])).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true, traceState: 'congo=t61rcWkgMzE' });
    expect(readTraceparent(['traceparent', `00-${TRACE}-${SPAN}-00`])).toEqual({ traceId: TRACE, spanId: SPAN, sampled: false });
    // a later version is read by its first four fields
    expect(readTraceparent(['traceparent', `01-${TRACE}-${SPAN}-09-whatever`])?.sampled).toBe(true);
  });

  it('refuses what the spec calls invalid: zero ids, version ff, upper case, extra fields in 00', () => {
    for (const v of [`00-${'0'.repeat(32)}-${SPAN}-01`, `00-${TRACE}-${'0'.repeat(16)}-01`, `ff-${TRACE}-${SPAN}-01`, `00-${TRACE.toUpperCase()}-${SPAN}-01`, `00-${TRACE}-${SPAN}-01-x`, `00-${TRACE}-${SPAN}`]) {
      expect(readTraceparent(['traceparent', v])).toBeUndefined();
    }
  });

  it('writes the span as the parent, replacing what was there', () => {
    const h = ['traceparent', 'old', 'tracestate', 'old', 'x', 'y'];
    writeTraceparent(h, { traceId: TRACE, spanId: SPAN, sampled: true, traceState: 'a=b' }, false);
    expect(h).toEqual(['x', 'y', 'traceparent', `00-${TRACE}-${SPAN}-00`, 'tracestate', 'a=b']);
  });
});

describe('B3', () => {
  it('reads multi headers (64- and 128-bit trace ids, x-b3-flags debug) and the single b3 header', () => {
    expect(readB3(['x-b3-traceid', TRACE, 'x-b3-spanid', SPAN, 'x-b3-sampled', '1'])).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
    expect(readB3(['x-b3-traceid', 'A3CE929D0E0E4736', 'x-b3-spanid', SPAN])).toEqual({ traceId: 'a3ce929d0e0e4736', spanId: SPAN, sampled: undefined });
    expect(readB3(['x-b3-traceid', TRACE, 'x-b3-spanid', SPAN, 'x-b3-sampled', '0', 'x-b3-flags', '1'])?.sampled).toBe(true);
    expect(readB3(['b3', `${TRACE}-${SPAN}-1-05e3ac9a4f6e3b90`])).toEqual({ traceId: TRACE, spanId: SPAN, sampled: true });
    expect(readB3(['b3', '0'])).toEqual({ decisionOnly: false });
    expect(readB3(['x-b3-sampled', '1'])).toEqual({ decisionOnly: true });
    expect(readB3(['x-b3-traceid', 'xyz', 'x-b3-spanid', SPAN])).toBeUndefined();
    expect(readB3([])).toBeUndefined();
  });

  it('writes the x-b3-* headers (a single b3 header is replaced)', () => {
    const h = ['b3', '1', 'x-b3-flags', '1'];
    writeB3(h, { traceId: TRACE, spanId: SPAN, sampled: true }, '05e3ac9a4f6e3b90', true);
    expect(h).toEqual(['x-b3-traceid', TRACE, 'x-b3-spanid', SPAN, 'x-b3-parentspanid', '05e3ac9a4f6e3b90', 'x-b3-sampled', '1']);
  });
});
