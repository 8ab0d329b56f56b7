/**
 * A worker's OpenTelemetry access-log exporter for one logger config, as Envoy's gRPC access
 * loggers buffer and send: records wait until 16 KiB of them or the 1 s flush, then go in one
 * LogsService/Export to a host of the collector's cluster over the proxy's own HTTP/2 connections.
 * One export is in flight at a time; at most 1,000 records wait (more are dropped, counted): a
 * dead collector costs requests nothing.
 */
import type { OpenTelemetryAccessLog } from '../../config/snapshot.js';
import type { ClusterRuntime } from '../../upstream/cluster.js';
import { report } from '../../upstream/collector-report.js';
import { exportLogsRequest, type LogRecordData } from './otlp-logs.js';

const LOGS_PATH = '/opentelemetry.proto.collector.logs.v1.LogsService/Export';
const FLUSH_INTERVAL_MS = 1000;
const FLUSH_BYTES = 16 * 1024;
const MAX_WAITING = 1000;

export type ClusterLookup = (name: string) => ClusterRuntime | undefined;

export class OtlpLogExporter {
  private buffer: LogRecordData[] = [];
  private bufferedBytes = 0;
  private inFlight = false;
  private readonly timer: NodeJS.Timeout;
  dropped = 0;
  sent = 0;

  constructor(
    readonly config: OpenTelemetryAccessLog['openTelemetry'],
    private readonly clusters: () => ClusterLookup | undefined,
  ) {
    this.timer = setInterval(() => this.flush(), FLUSH_INTERVAL_MS);
    this.timer.unref();
  }

  add(r: LogRecordData): void {
    if (this.buffer.length >= MAX_WAITING) {
      this.dropped++;
      return;
    }
    this.buffer.push(r);
    this.bufferedBytes += r.body.length + 32;
    if (this.bufferedBytes >= FLUSH_BYTES) this.flush();
  }

  /** Sends what waits, unless an export is in flight (its end sends what waits then). */
  flush(): void {
    if (!this.buffer.length || this.inFlight) return;
    const c = this.config.collector;
    const cluster = this.clusters()?.(c.cluster);
    const host = cluster?.pick();
    const records = this.buffer;
    this.buffer = [];
    this.bufferedBytes = 0;
    if (!cluster || !host) {
      this.dropped += records.length;
      return;
    }
    const body = exportLogsRequest([], records);
    // gRPC: one length-prefixed message (not compressed)
    const framed = Buffer.allocUnsafe(5 + body.length);
    framed[0] = 0;
    framed.writeUInt32BE(body.length, 1);
    body.copy(framed, 5);
    this.inFlight = true;
    report(cluster, host, c, LOGS_PATH, 'application/grpc', framed, true)
      .then(
        (ok) => (ok ? (this.sent += records.length) : (this.dropped += records.length)),
        () => (this.dropped += records.length),
      )
      .finally(() => {
        this.inFlight = false;
        if (this.bufferedBytes >= FLUSH_BYTES) this.flush();
      });
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
