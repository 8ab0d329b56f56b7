/**
 * A worker's span exporter for one provider, as Envoy's tracers buffer and send: spans are kept
 * until 5 are waiting or the 5 s flush timer fires, then sent in one report to a host of the
 * collector's cluster — OTLP over gRPC or HTTP, or Zipkin v2 JSON over HTTP. One report is in
 * flight at a time: what arrives meanwhile waits and goes in the next, so under load a report
 * carries many spans and its cost (encoding, one request) is shared. Bounded: at most 1,000 spans
 * wait; beyond that spans are dropped and counted (tracing.<provider>.spans_dropped). A dead or
 * slow collector costs a request nothing: reports are sent from the buffer, never on a request's
 * path, and fail on their own timeout.
 */
import type { TracingProvider } from '../config/snapshot.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import { report } from '../upstream/collector-report.js';
import type { UpstreamHost } from '../upstream/host.js';
import type { FinishedSpan, SpanSink } from './span.js';
import type { TracerStats } from './tracer-stats.js';

export interface ExportLimits {
  /** A report is sent once this many spans wait (Envoy's min_flush_spans). */
  minFlushSpans: number;
  flushIntervalMs: number;
  maxBufferedSpans: number;
}

export const DEFAULT_EXPORT_LIMITS: ExportLimits = { minFlushSpans: 5, flushIntervalMs: 5000, maxBufferedSpans: 1000 };

/** The clusters of the Runtime swapped in last: a report goes to a host of the collector's. */
export type ClusterLookup = (name: string) => ClusterRuntime | undefined;

const OTLP_GRPC_PATH = '/opentelemetry.proto.collector.trace.v1.TraceService/Export';

// the encoders load with the first report (a proxy that traces nothing never loads them), once: an
// import() of a loaded module still resolves its specifier each time
let otlpEncoder: Promise<typeof import('./otlp.js')> | undefined;
let zipkinEncoder: Promise<typeof import('./zipkin.js')> | undefined;

export class SpanExporter implements SpanSink {
  private buffer: FinishedSpan[] = [];
  private inFlight = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly provider: TracingProvider,
    /** This proxy's IP: Zipkin's localEndpoint. */
    private readonly localIp: string,
    /** OpenTelemetry resource attributes beyond service.name. */
    private readonly resourceAttributes: readonly [string, string][],
    readonly stats: TracerStats,
    private readonly clusters: () => ClusterLookup | undefined,
    private readonly limits: ExportLimits = DEFAULT_EXPORT_LIMITS,
  ) {
    this.timer = setInterval(() => {
      this.stats.timerFlushed++;
      this.flush();
    }, limits.flushIntervalMs);
    this.timer.unref();
  }

  add(span: FinishedSpan): void {
    if (this.buffer.length >= this.limits.maxBufferedSpans) {
      this.stats.spansDropped++;
      return;
    }
    this.buffer.push(span);
    if (this.buffer.length >= this.limits.minFlushSpans) this.flush();
  }

  /** Sends what waits, unless a report is in flight (its end sends what waits then). */
  flush(): void {
    if (!this.buffer.length || this.inFlight) return;
    const collector = this.provider.collector;
    const cluster = this.clusters()?.(collector.cluster);
    const host = cluster?.pick();
    const spans = this.buffer;
    this.buffer = [];
    if (!cluster || !host) {
      this.stats.reportsSkippedNoCluster++;
      this.stats.spansDropped += spans.length;
      return;
    }
    this.stats.spansSent += spans.length;
    this.inFlight = true;
    this.send(cluster, host, spans)
      .then(
        (ok) => {
          if (ok) this.stats.reportsSent++;
          else this.stats.reportsDropped++;
        },
        () => this.stats.reportsFailed++,
      )
      .finally(() => {
        this.inFlight = false;
        if (this.buffer.length >= this.limits.minFlushSpans) this.flush();
      });
  }

  /** Stops the timer and sends what waits (the worker stops, or the provider is no longer configured). */
  close(): void {
    clearInterval(this.timer);
    this.flush();
  }

  private async send(cluster: ClusterRuntime, host: UpstreamHost, spans: FinishedSpan[]): Promise<boolean> {
    const p = this.provider;
    const c = p.collector;
    if (p.kind === 'zipkin') {
      const { zipkinSpans } = await (zipkinEncoder ??= import('./zipkin.js'));
      return report(cluster, host, c, c.path ?? '/api/v2/spans', 'application/json', Buffer.from(zipkinSpans({ serviceName: p.serviceName, ip: this.localIp }, spans)), false);
    }
    const { exportTraceRequest } = await (otlpEncoder ??= import('./otlp.js'));
    const body = exportTraceRequest({ serviceName: p.serviceName, attributes: this.resourceAttributes }, spans);
    if (p.transport === 'http') return report(cluster, host, c, c.path ?? '/v1/traces', 'application/x-protobuf', body, false);
    // gRPC: one length-prefixed message (not compressed)
    const framed = Buffer.allocUnsafe(5 + body.length);
    framed[0] = 0;
    framed.writeUInt32BE(body.length, 1);
    framed.set(body, 5);
    return report(cluster, host, c, OTLP_GRPC_PATH, 'application/grpc', framed, true);
  }
}
