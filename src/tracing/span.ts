/**
 * A span as the exporters see it: plain data, made only for a sampled request (an unsampled one
 * carries its ids for propagation and nothing else). Times are epoch milliseconds with a fraction
 * (a bigint of nanoseconds would cost an allocation each); the exporters convert them.
 */
import type { SpanContext } from './trace-context.js';

export type SpanKind = 'SERVER' | 'CLIENT';

export interface FinishedSpan {
  readonly name: string;
  readonly kind: SpanKind;
  readonly context: SpanContext;
  readonly parentSpanId: string | undefined;
  /** Epoch milliseconds (fractional). */
  readonly startMs: number;
  readonly endMs: number;
  /** Tag names and values, index for index, in the order first set (a later value of a name replaced the earlier). */
  readonly tagKeys: readonly string[];
  readonly tagValues: readonly string[];
  /** The span failed (Envoy's `error: true` tag): OTLP status ERROR. */
  readonly error: boolean;
}

/** Where a worker's finished spans go (the provider's exporter). */
export interface SpanSink {
  add(span: FinishedSpan): void;
}

/** Epoch milliseconds with microsecond precision (Date.now() is whole milliseconds). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** A sampled span being recorded: its name may change (a route decorator), tags accumulate. */
export class RecordingSpan {
  // two arrays rather than a Map: ~20 tags, set once each, read in order by the exporter (no entry allocated per tag)
  private readonly keys: string[] = [];
  private readonly values: string[] = [];
  private ended = false;

  constructor(
    public name: string,
    readonly kind: SpanKind,
    readonly context: SpanContext,
    readonly parentSpanId: string | undefined,
    readonly startMs: number,
    private readonly sink: SpanSink,
  ) {}

  setTag(key: string, value: string): void {
    const i = this.keys.indexOf(key);
    if (i >= 0) this.values[i] = value;
    else {
      this.keys.push(key);
      this.values.push(value);
    }
  }

  tag(key: string): string | undefined {
    const i = this.keys.indexOf(key);
    return i >= 0 ? this.values[i] : undefined;
  }

  /** Ends the span once (later calls do nothing) and hands it to the exporter. */
  finish(): void {
    if (this.ended) return;
    this.ended = true;
    const { name, kind, context, parentSpanId, startMs, keys, values } = this;
    this.sink.add({ name, kind, context, parentSpanId, startMs, endMs: nowMs(), tagKeys: keys, tagValues: values, error: this.tag('error') === 'true' });
  }
}
