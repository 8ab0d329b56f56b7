/**
 * A worker's span exporters, one per distinct provider config, kept across Runtimes (a config
 * reload that keeps the provider keeps its buffer and connections). Reports go to a host of the
 * collector's cluster in the Runtime swapped in last.
 */
import type { NodeIdentity, TracingProvider } from '../config/snapshot.js';
import { SpanExporter, type ExportLimits, type ClusterLookup, DEFAULT_EXPORT_LIMITS } from './exporter.js';
import type { TracerStats } from './tracer-stats.js';

export class TraceExporters {
  private readonly exporters = new Map<string, SpanExporter>();
  private clusters: ClusterLookup | undefined;

  constructor(
    /** tracing.<kind>.* counters of this worker. */
    private readonly statsFor: (kind: TracingProvider['kind']) => TracerStats,
    private readonly limits: ExportLimits = DEFAULT_EXPORT_LIMITS,
  ) {}

  /** The exporter of this provider config, made on first use. */
  exporter(provider: TracingProvider, node: NodeIdentity): SpanExporter {
    const key = JSON.stringify(provider);
    let e = this.exporters.get(key);
    if (!e) {
      const attributes = provider.kind === 'opentelemetry' && provider.environmentResource ? environmentResourceAttributes(process.env.OTEL_RESOURCE_ATTRIBUTES) : [];
      e = new SpanExporter(provider, node.ip, attributes, this.statsFor(provider.kind), () => this.clusters, this.limits);
      this.exporters.set(key, e);
    }
    return e;
  }

  /** The Runtime swapped in: its clusters serve the reports from now on; exporters it does not use are flushed and closed. */
  activate(clusters: ClusterLookup, providers: readonly TracingProvider[]): void {
    this.clusters = clusters;
    const used = new Set(providers.map((p) => JSON.stringify(p)));
    for (const [key, e] of this.exporters) {
      if (used.has(key)) continue;
      e.close();
      this.exporters.delete(key);
    }
  }

  /** The worker stops: what waits is sent. */
  close(): void {
    for (const e of this.exporters.values()) e.close();
    this.exporters.clear();
  }
}

/**
 * OTEL_RESOURCE_ATTRIBUTES (`key=value,key=value`, values percent-encoded), as Envoy's environment
 * resource detector reads it; malformed entries are skipped.
 */
export function environmentResourceAttributes(text: string | undefined): [string, string][] {
  if (!text) return [];
  const out: [string, string][] = [];
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    try {
      out.push([decodeURIComponent(part.slice(0, eq).trim()), decodeURIComponent(part.slice(eq + 1).trim())]);
    } catch {
      // a bad escape: the entry is skipped
    }
  }
  return out;
}
