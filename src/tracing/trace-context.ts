/**
 * Trace context in request headers, read and written as Envoy's tracers do: W3C Trace Context
 * (`traceparent`, `tracestate`) for OpenTelemetry; B3 (`x-b3-*`, or the single `b3` header) for
 * Zipkin, optionally with W3C beside it. Header lists are the proxy's flat `[name, value, …]` lists,
 * names lower case.
 */
import { getFromList, removeFromList, setInList } from '../router/headers.js';

/** Where a span sits in its trace: what the next hop needs to make its span a child of this one. */
export interface SpanContext {
  /** 32 hex digits (a 64-bit B3 trace id: 16, as it came). */
  readonly traceId: string;
  readonly spanId: string;
  /** The upstream's decision; undefined: B3 ids without one (the receiver decides). */
  readonly sampled: boolean | undefined;
  /** W3C tracestate, passed on unchanged. */
  readonly traceState?: string;
}

const HEX16 = /^[0-9a-f]{16}$/;
const HEX32 = /^[0-9a-f]{32}$/;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-|$)/;
const ZERO16 = '0000000000000000';
const ZERO32 = ZERO16 + ZERO16;

/**
 * W3C traceparent (version 00, or a later version read as 00 when it starts the same way); an
 * invalid one is no context, as the spec says (a new trace starts).
 */
export function readTraceparent(headers: readonly string[]): SpanContext | undefined {
  const value = getFromList(headers, 'traceparent');
  if (value === undefined) return undefined;
  const m = TRACEPARENT.exec(value);
  if (!m) return undefined;
  const [, version, traceId, spanId, flags, rest] = m;
  if (version === 'ff' || traceId === ZERO32 || spanId === ZERO16) return undefined;
  if (version === '00' && (rest !== '' || value.length !== 55)) return undefined;
  const traceState = getFromList(headers, 'tracestate');
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1, ...(traceState ? { traceState } : {}) };
}

export function writeTraceparent(headers: string[], ctx: SpanContext, sampled: boolean): void {
  setInList(headers, 'traceparent', `00-${ctx.traceId.padStart(32, '0')}-${ctx.spanId}-${sampled ? '01' : '00'}`);
  removeFromList(headers, 'tracestate');
  if (ctx.traceState) headers.push('tracestate', ctx.traceState);
}

/** A B3 sampling decision: `1`/`true`/`d` (debug) traced, `0`/`false` not. */
function b3Sampled(v: string | undefined): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === '1' || v === 'true' || v === 'd') return true;
  if (v === '0' || v === 'false') return false;
  return undefined;
}

/**
 * The B3 context: the single `b3` header (`trace-span[-sampled[-parent]]`, or a lone decision)
 * first, else the `x-b3-*` headers (x-b3-flags 1 is debug: traced). A decision without ids comes
 * back as `{ decisionOnly }`. Malformed ids are no context.
 */
export function readB3(headers: readonly string[]): SpanContext | { decisionOnly: boolean } | undefined {
  const single = getFromList(headers, 'b3');
  if (single !== undefined) {
    const parts = single.split('-');
    if (parts.length === 1) {
      const d = b3Sampled(parts[0]);
      return d === undefined ? undefined : { decisionOnly: d };
    }
    const [traceId, spanId, sampled] = parts;
    if (!validTraceId(traceId) || !HEX16.test(spanId) || spanId === ZERO16) return undefined;
    return { traceId, spanId, sampled: b3Sampled(sampled) };
  }
  const traceId = getFromList(headers, 'x-b3-traceid');
  const spanId = getFromList(headers, 'x-b3-spanid');
  const sampled = getFromList(headers, 'x-b3-flags') === '1' ? true : b3Sampled(getFromList(headers, 'x-b3-sampled'));
  if (traceId === undefined || spanId === undefined) return sampled === undefined ? undefined : { decisionOnly: sampled };
  const lower = traceId.toLowerCase();
  const span = spanId.toLowerCase();
  if (!validTraceId(lower) || !HEX16.test(span) || span === ZERO16) return undefined;
  return { traceId: lower, spanId: span, sampled };
}

function validTraceId(id: string): boolean {
  return (HEX32.test(id) && id !== ZERO32) || (HEX16.test(id) && id !== ZERO16);
}

/** Envoy's Zipkin injection: the x-b3-* headers (any single `b3` header is replaced by them). */
export function writeB3(headers: string[], ctx: SpanContext, parentSpanId: string | undefined, sampled: boolean): void {
  removeFromList(headers, 'b3');
  setInList(headers, 'x-b3-traceid', ctx.traceId);
  setInList(headers, 'x-b3-spanid', ctx.spanId);
  removeFromList(headers, 'x-b3-parentspanid');
  if (parentSpanId) headers.push('x-b3-parentspanid', parentSpanId);
  setInList(headers, 'x-b3-sampled', sampled ? '1' : '0');
  removeFromList(headers, 'x-b3-flags');
}

