/**
 * OTLP trace export requests (opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest),
 * protobuf-encoded: one ResourceSpans (service.name and the SDK attributes Envoy's tracer sends),
 * one ScopeSpans, a Span per finished span with string attributes, kind, and status ERROR where the
 * span failed. The same bytes go over gRPC (TraceService/Export) and OTLP/HTTP (POST,
 * application/x-protobuf).
 *
 * Written in two passes (sizes, then bytes into one buffer), strings measured and (ASCII) written
 * here: protobufjs's Writer, which forks a state per nested message, took 9-22 µs per span of 21
 * attributes, and so did a first version of this one calling Buffer.byteLength and buf.write per
 * string.
 */
import { packageVersion } from '../common/version.js';
import type { FinishedSpan } from './span.js';

/** opentelemetry.proto.trace.v1.Span.SpanKind */
const KIND = { SERVER: 2, CLIENT: 3 } as const;
/** opentelemetry.proto.trace.v1.Status.StatusCode */
const STATUS_ERROR = 2;

// field tags (field number << 3 | wire type): 2 length-delimited, 1 fixed64, 0 varint
const LEN = 2;
const tagOf = (field: number, wire: number) => (field << 3) | wire;

export interface OtlpResource {
  serviceName: string;
  /** More resource attributes (OTEL_RESOURCE_ATTRIBUTES with the environment detector). */
  attributes?: readonly [string, string][];
}

/** The resource's attributes as Envoy's OpenTelemetry tracer sets them, then the configured ones. */
export function resourceAttributes(r: OtlpResource): [string, string][] {
  return [
    ['service.name', r.serviceName],
    ['telemetry.sdk.language', 'nodejs'],
    ['telemetry.sdk.name', 'outrigger'],
    ['telemetry.sdk.version', packageVersion()],
    ...(r.attributes ?? []),
  ];
}

/**
 * UTF-8 length, counted here: the strings are short, and a call into Buffer.byteLength per string
 * (seven per attribute over both passes) cost more than the whole encoding otherwise.
 */
function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 2; // a surrogate pair: 4 bytes for its two UTF-16 units
      i++;
    } else n += 2;
  }
  return n;
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** A length-delimited field's size: tag, length, body. */
const fieldSize = (bodySize: number) => 1 + varintSize(bodySize) + bodySize;

/** KeyValue { key, value: AnyValue { string_value } }'s body size, from the two strings' UTF-8 lengths. */
const keyValueSize = (keyLength: number, valueLength: number) => fieldSize(keyLength) + fieldSize(fieldSize(valueLength));

/**
 * The UTF-8 lengths of every string of a request, measured once in the sizing pass and read back in
 * order by the writing pass: per span its name, its trace state if any, then each tag's key and value.
 */
class Lengths {
  private readonly list: number[] = [];
  private next = 0;
  measure(s: string): number {
    const n = utf8Length(s);
    this.list.push(n);
    return n;
  }
  take(): number {
    return this.list[this.next++];
  }
}

function spanSize(s: FinishedSpan, lengths: Lengths): number {
  let n = fieldSize(16) + fieldSize(8); // trace_id, span_id
  if (s.context.traceState) n += fieldSize(lengths.measure(s.context.traceState));
  if (s.parentSpanId) n += fieldSize(8);
  n += fieldSize(lengths.measure(s.name));
  n += 2; // kind
  n += 18; // start and end times
  const keys = s.tagKeys;
  const values = s.tagValues;
  for (let i = 0; i < keys.length; i++) n += fieldSize(keyValueSize(lengths.measure(keys[i]), lengths.measure(values[i])));
  if (s.error) n += 4; // status { code: ERROR }
  return n;
}

/** A lower-case hex digit's value (the ids are made and checked lower case). */
function hexValue(c: number): number {
  return c <= 57 ? c - 48 : c - 87;
}

class ByteWriter {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(n: number): void {
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  /** A length-delimited field's tag and length (its body follows). */
  open(field: number, bodySize: number): void {
    this.buf[this.pos++] = tagOf(field, LEN);
    this.varint(bodySize);
  }

  /** A string field of UTF-8 length `len`. */
  string(field: number, s: string, len: number): void {
    this.open(field, len);
    if (len === s.length) {
      // ASCII: a byte per character, written here
      const buf = this.buf;
      let p = this.pos;
      for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i);
      this.pos = p;
    } else {
      this.pos += this.buf.write(s, this.pos, len, 'utf8');
    }
  }

  hex(field: number, hex: string, bytes: number): void {
    this.open(field, bytes);
    const digits = hex.padStart(bytes * 2, '0');
    for (let i = 0; i < bytes; i++) this.buf[this.pos++] = (hexValue(digits.charCodeAt(2 * i)) << 4) | hexValue(digits.charCodeAt(2 * i + 1));
  }

  /** Epoch milliseconds (fractional) as fixed64 nanoseconds. */
  nanos(field: number, ms: number): void {
    const ns = ms * 1e6;
    const hi = Math.floor(ns / 4294967296);
    this.buf[this.pos++] = tagOf(field, 1);
    this.buf.writeUInt32LE(Math.max(0, Math.floor(ns - hi * 4294967296)) >>> 0, this.pos);
    this.buf.writeUInt32LE(hi >>> 0, this.pos + 4);
    this.pos += 8;
  }

  keyValue(field: number, key: string, value: string, keyLength: number, valueLength: number): void {
    this.open(field, keyValueSize(keyLength, valueLength));
    this.string(1, key, keyLength);
    this.open(2, fieldSize(valueLength));
    this.string(1, value, valueLength);
  }
}

/** An ExportTraceServiceRequest with these spans, protobuf-encoded. */
export function exportTraceRequest(resource: OtlpResource, spans: readonly FinishedSpan[]): Uint8Array {
  const attrs = resourceAttributes(resource);
  const lengths = new Lengths();
  let resourceBody = 0;
  for (const [k, v] of attrs) resourceBody += fieldSize(keyValueSize(lengths.measure(k), lengths.measure(v)));
  const version = packageVersion();
  const scopeBody = fieldSize(lengths.measure('outrigger')) + fieldSize(lengths.measure(version));
  const sizes = spans.map((s) => spanSize(s, lengths));
  let scopeSpansBody = fieldSize(scopeBody);
  for (const n of sizes) scopeSpansBody += fieldSize(n);
  const resourceSpansBody = fieldSize(resourceBody) + fieldSize(scopeSpansBody);
  const w = new ByteWriter(Buffer.allocUnsafe(fieldSize(resourceSpansBody)));
  w.open(1, resourceSpansBody); // resource_spans
  w.open(1, resourceBody); // resource
  for (const [k, v] of attrs) {
    const kl = lengths.take();
    w.keyValue(1, k, v, kl, lengths.take());
  }
  w.open(2, scopeSpansBody); // scope_spans
  w.open(1, scopeBody); // scope
  w.string(1, 'outrigger', lengths.take());
  w.string(2, version, lengths.take());
  for (let i = 0; i < spans.length; i++) {
    const s = spans[i];
    w.open(2, sizes[i]); // spans
    w.hex(1, s.context.traceId, 16);
    w.hex(2, s.context.spanId, 8);
    if (s.context.traceState) w.string(3, s.context.traceState, lengths.take());
    if (s.parentSpanId) w.hex(4, s.parentSpanId, 8);
    w.string(5, s.name, lengths.take());
    w.buf[w.pos++] = tagOf(6, 0);
    w.buf[w.pos++] = KIND[s.kind];
    w.nanos(7, s.startMs);
    w.nanos(8, s.endMs);
    const keys = s.tagKeys;
    const values = s.tagValues;
    for (let t = 0; t < keys.length; t++) {
      const kl = lengths.take();
      w.keyValue(9, keys[t], values[t], kl, lengths.take());
    }
    if (s.error) {
      w.open(15, 2);
      w.buf[w.pos++] = tagOf(3, 0);
      w.buf[w.pos++] = STATUS_ERROR;
    }
  }
  if (w.pos !== w.buf.length) throw new Error(`OTLP encoding wrote ${w.pos} of ${w.buf.length} bytes`);
  return w.buf;
}
