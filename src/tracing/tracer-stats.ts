/** tracing.<opentelemetry|zipkin>.*: a worker's span exporters' counters (Envoy's, and spans_dropped). */
export interface TracerStats {
  spansSent: number;
  /** Not sent: the buffer was full, or the collector's cluster had no host. */
  spansDropped: number;
  timerFlushed: number;
  reportsSent: number;
  /** Answered with a status other than 2xx (gRPC: other than OK). */
  reportsDropped: number;
  /** No answer: connection refused or reset, timeout. */
  reportsFailed: number;
  /** The collector's cluster had no host to send to. */
  reportsSkippedNoCluster: number;
}

export function newTracerStats(): TracerStats {
  return { spansSent: 0, spansDropped: 0, timerFlushed: 0, reportsSent: 0, reportsDropped: 0, reportsFailed: 0, reportsSkippedNoCluster: 0 };
}
