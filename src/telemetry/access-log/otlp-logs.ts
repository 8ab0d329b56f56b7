/**
 * OTLP's ExportLogsServiceRequest (opentelemetry-proto collector/logs/v1, logs/v1) encoded by hand:
 * the few fields an access-log record uses. Batches are small and sent once a second, so plain
 * Buffer concatenation is enough; no protobuf library is loaded for it.
 */
import { varint } from '../../common/protobuf-varint.js';

/** One access-log entry as an OTLP LogRecord. */
export interface LogRecordData {
  /** Wall-clock time of the entry (the request's start), in ms. */
  timeMs: number;
  body: string;
  attributes: readonly (readonly [string, string])[];
  /** 32 hex digits, when the request was traced. */
  traceId?: string;
}

/** A length-delimited field (wire type 2). */
function field(no: number, payload: Buffer): Buffer {
  return Buffer.concat([varint((no << 3) | 2), varint(payload.length), payload]);
}

function stringField(no: number, s: string): Buffer {
  return field(no, Buffer.from(s, 'utf8'));
}

/** A fixed64 field (wire type 1), little-endian. */
function fixed64(no: number, v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64LE(v);
  return Buffer.concat([varint((no << 3) | 1), b]);
}

/** KeyValue { key = 1; AnyValue value = 2 { string_value = 1 } } */
function keyValue(key: string, value: string): Buffer {
  return Buffer.concat([stringField(1, key), field(2, stringField(1, value))]);
}

function logRecord(r: LogRecordData): Buffer {
  const ns = BigInt(Math.round(r.timeMs)) * 1_000_000n;
  const parts = [fixed64(1, ns), field(5, stringField(1, r.body))];
  for (const [k, v] of r.attributes) parts.push(field(6, keyValue(k, v)));
  if (r.traceId && /^[0-9a-f]{32}$/.test(r.traceId)) parts.push(field(9, Buffer.from(r.traceId, 'hex')));
  parts.push(fixed64(11, ns));
  return Buffer.concat(parts);
}

/**
 * ExportLogsServiceRequest { resource_logs = 1 { resource = 1 { attributes = 1 }, scope_logs = 2
 * { scope = 1 { name = 1 }, log_records = 2 } } } with one resource and one scope.
 */
export function exportLogsRequest(resourceAttributes: readonly (readonly [string, string])[], records: readonly LogRecordData[]): Buffer {
  const resource = Buffer.concat(resourceAttributes.map(([k, v]) => field(1, keyValue(k, v))));
  const scope = Buffer.concat([field(1, stringField(1, 'outrigger')), ...records.map((r) => field(2, logRecord(r)))]);
  return field(1, Buffer.concat([field(1, resource), field(2, scope)]));
}
