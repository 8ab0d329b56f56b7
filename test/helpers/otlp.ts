// Reading OTLP trace and log exports in tests: the messages of opentelemetry-proto's collector/trace/v1 and
// trace/v1 (the fields a proxy's spans use), decoded with protobufjs; OTLP/HTTP and OTLP/gRPC
// receivers that keep what they were sent.
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import protobuf from 'protobufjs';

const OTLP_PROTO = `
syntax = "proto3";
package otlp;
message ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; string schema_url = 3; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2; }
message InstrumentationScope { string name = 1; string version = 2; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; string trace_state = 3; bytes parent_span_id = 4; string name = 5;
  int32 kind = 6; fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9; Status status = 15;
}
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue { oneof value { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; } }
`;

const Request = protobuf.parse(OTLP_PROTO).root.lookupType('otlp.ExportTraceServiceRequest');

/** A span as the tests read it. */
export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: 'SERVER' | 'CLIENT' | string;
  startNs: bigint;
  endNs: bigint;
  attributes: Record<string, string>;
  statusCode: number;
  resource: Record<string, string>;
}

interface KV { key: string; value?: { stringValue?: string } }

function attrs(list: KV[] | undefined): Record<string, string> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, kv.value?.stringValue ?? '']));
}

export function decodeExport(bytes: Uint8Array): ReceivedSpan[] {
  const msg = Request.toObject(Request.decode(bytes), { longs: String, bytes: Buffer }) as {
    resourceSpans?: { resource?: { attributes?: KV[] }; scopeSpans?: { spans?: Record<string, unknown>[] }[] }[];
  };
  const out: ReceivedSpan[] = [];
  for (const rs of msg.resourceSpans ?? []) {
    const resource = attrs(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const hex = (b: unknown) => (b ? (b as Buffer).toString('hex') : '');
        out.push({
          service: resource['service.name'],
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          name: s.name as string,
          kind: ({ 2: 'SERVER', 3: 'CLIENT' } as Record<number, string>)[s.kind as number] ?? String(s.kind),
          startNs: BigInt((s.startTimeUnixNano as string) ?? 0),
          endNs: BigInt((s.endTimeUnixNano as string) ?? 0),
          attributes: attrs(s.attributes as KV[]),
          statusCode: (s.status as { code?: number } | undefined)?.code ?? 0,
          resource,
        });
      }
    }
  }
  return out;
}

export interface OtlpReceiver {
  readonly port: number;
  readonly spans: ReceivedSpan[];
  /** Request headers of each export (HTTP), or metadata (gRPC). */
  readonly headers: Record<string, string | string[] | undefined>[];
  close(): Promise<void>;
}

/** OTLP/HTTP: POST /v1/traces, application/x-protobuf. */
export async function startOtlpHttpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const headers: OtlpReceiver['headers'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url !== '/v1/traces' || req.headers['content-type'] !== 'application/x-protobuf') {
        res.writeHead(404).end();
        return;
      }
      headers.push(req.headers);
      spans.push(...decodeExport(Buffer.concat(chunks)));
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, spans, headers, close: () => new Promise((r) => server.close(() => r())) };
}

/** A gRPC export service over h2c: each request (one gRPC frame) decoded into `out`, an empty response back. */
async function startGrpcExportReceiver<T>(path: string, decode: (bytes: Uint8Array) => T[], out: T[], headers?: OtlpReceiver['headers']): Promise<{ port: number; close(): Promise<void> }> {
  const server = http2.createServer();
  server.on('stream', (stream, h) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      if (h[':path'] !== path) {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
        return;
      }
      headers?.push(h);
      const body = Buffer.concat(chunks);
      out.push(...decode(body.subarray(5, 5 + body.readUInt32BE(1))));
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

/** OTLP/gRPC: TraceService/Export over h2c, one gRPC frame in, an empty response out. */
export async function startOtlpGrpcReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const headers: OtlpReceiver['headers'] = [];
  const r = await startGrpcExportReceiver('/opentelemetry.proto.collector.trace.v1.TraceService/Export', decodeExport, spans, headers);
  return { ...r, spans, headers };
}

/** Zipkin: POST /api/v2/spans, JSON. */
export async function startZipkinReceiver(): Promise<{ port: number; spans: Record<string, unknown>[]; close(): Promise<void> }> {
  const spans: Record<string, unknown>[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url !== '/api/v2/spans' || req.headers['content-type'] !== 'application/json') {
        res.writeHead(404).end();
        return;
      }
      spans.push(...(JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>[]));
      res.writeHead(202).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, spans, close: () => new Promise((r) => server.close(() => r())) };
}

const LOGS_PROTO = `
syntax = "proto3";
package otlplogs;
message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; }
message InstrumentationScope { string name = 1; }
message LogRecord { fixed64 time_unix_nano = 1; AnyValue body = 5; repeated KeyValue attributes = 6; bytes trace_id = 9; fixed64 observed_time_unix_nano = 11; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue { oneof value { string string_value = 1; } }
`;
const LogsRequest = protobuf.parse(LOGS_PROTO).root.lookupType('otlplogs.ExportLogsServiceRequest');

/** An OTLP log record as the tests read it. */
export interface ReceivedLog {
  timeNs: bigint;
  body: string;
  attributes: Record<string, string>;
  traceId: string;
}

export function decodeLogsExport(bytes: Uint8Array): ReceivedLog[] {
  const msg = LogsRequest.toObject(LogsRequest.decode(bytes), { longs: String, bytes: Buffer }) as {
    resourceLogs?: { scopeLogs?: { logRecords?: { timeUnixNano?: string; body?: { stringValue?: string }; attributes?: KV[]; traceId?: Buffer }[] }[] }[];
  };
  const out: ReceivedLog[] = [];
  for (const rl of msg.resourceLogs ?? []) {
    for (const sl of rl.scopeLogs ?? []) {
      for (const r of sl.logRecords ?? []) out.push({ timeNs: BigInt(r.timeUnixNano ?? '0'), body: r.body?.stringValue ?? '', attributes: attrs(r.attributes), traceId: r.traceId?.toString('hex') ?? '' });
    }
  }
  return out;
}

/** OTLP/gRPC logs: LogsService/Export over h2c (an OpenTelemetry collector as Istio's envoyOtelAls reaches it). */
export async function startOtlpLogsReceiver(): Promise<{ port: number; logs: ReceivedLog[]; close(): Promise<void> }> {
  const logs: ReceivedLog[] = [];
  const r = await startGrpcExportReceiver('/opentelemetry.proto.collector.logs.v1.LogsService/Export', decodeLogsExport, logs);
  return { ...r, logs };
}
