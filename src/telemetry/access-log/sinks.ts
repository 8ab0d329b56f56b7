import { createWriteStream, type WriteStream } from 'node:fs';
import type { OpenTelemetryAccessLog } from '../../config/snapshot.js';
import { log } from '../log.js';
import { OtlpLogExporter, type ClusterLookup } from './otlp-exporter.js';

/** Where a worker's access-log lines go: one writer per file path, kept across Runtimes. */
export interface LogSink {
  write(line: string): void;
}

/**
 * Lines are written together once this many bytes wait, or FLUSH_INTERVAL_MS after the first of
 * them (Envoy: 64 KiB, or its --file-flush-interval-msec, 10 s by default). One write per event-loop
 * turn cost ~20,500 instructions per logged request on the bench gateway, one per 100 ms ~10,000.
 */
const FLUSH_BYTES = 64 * 1024;
const FLUSH_INTERVAL_MS = 100;

/** Lines waiting longer than this many bytes are dropped (counted) rather than buffered: a stuck file must not grow the heap. */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;

/**
 * Appends lines to one file without blocking the hot path: lines wait (100 ms, 64 KiB) and are
 * written in one go. /dev/stdout and /dev/stderr are the process's own descriptors (written straight
 * from the worker, no hop through the main thread); other paths are opened for append, so several
 * workers append whole writes to one file.
 */
class FileSink implements LogSink {
  private pending: string[] = [];
  private pendingBytes = 0;
  /** The flush armed by the first waiting line, cleared when the lines go sooner (64 KiB). */
  private timer: NodeJS.Timeout | undefined;
  private failed = false;
  dropped = 0;

  constructor(
    readonly path: string,
    private readonly out: WriteStream,
    /** The process's own stdout or stderr: never closed here. */
    private readonly shared: boolean,
  ) {
    out.on('error', (err) => {
      if (!this.failed) log.warn(`access log ${path}: ${err.message}; its lines are dropped`);
      this.failed = true;
    });
  }

  write(line: string): void {
    // what waits here is flushed at 64 KiB: only the stream's own queue can fall behind
    if (this.failed || this.out.writableLength > MAX_PENDING_BYTES) {
      this.dropped++;
      return;
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    else this.timer ??= setTimeout(this.flush, FLUSH_INTERVAL_MS).unref();
  }

  readonly flush = (): void => {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.failed) this.out.write(text);
  };

  close(): void {
    this.flush();
    if (!this.shared) this.out.end();
  }
}

/** The process's own outputs: written through their descriptors, as the file paths may not be openable (containers). */
const STD_FDS: Readonly<Record<string, number>> = { '/dev/stdout': 1, '/dev/stderr': 2 };

function open(path: string): WriteStream {
  const fd = STD_FDS[path];
  if (fd !== undefined) return createWriteStream('', { fd, autoClose: false });
  return createWriteStream(path, { flags: 'a' });
}

/** A worker's access-log files by path, and its OpenTelemetry exporters by config; kept across Runtimes. */
export class LogSinks {
  private readonly sinks = new Map<string, FileSink>();
  private readonly exporters = new Map<string, OtlpLogExporter>();
  private clusters: ClusterLookup | undefined;

  constructor(private readonly opener: (path: string) => WriteStream = open) {}

  sink(path: string): LogSink {
    let s = this.sinks.get(path);
    if (!s) this.sinks.set(path, (s = new FileSink(path, this.opener(path), STD_FDS[path] !== undefined)));
    return s;
  }

  /** The exporter of an OpenTelemetry logger config (the key says which: equal configs share one). */
  exporter(key: string, config: OpenTelemetryAccessLog['openTelemetry']): OtlpLogExporter {
    let e = this.exporters.get(key);
    if (!e) this.exporters.set(key, (e = new OtlpLogExporter(config, () => this.clusters)));
    return e;
  }

  /** A new Runtime took over: files and exporters it does not use are closed; exports go to its clusters' hosts. */
  retain(keys: ReadonlySet<string>, clusters?: ClusterLookup): void {
    if (clusters) this.clusters = clusters;
    for (const [path, s] of this.sinks) {
      if (keys.has(path)) continue;
      s.close();
      this.sinks.delete(path);
    }
    for (const [key, e] of this.exporters) {
      if (keys.has(key)) continue;
      e.close();
      this.exporters.delete(key);
    }
  }

  /** Entries dropped so far (a file that failed or fell behind, a collector that did not take them). */
  get dropped(): number {
    let n = 0;
    for (const s of this.sinks.values()) n += s.dropped;
    for (const e of this.exporters.values()) n += e.dropped;
    return n;
  }

  /** Shutdown: what waits is written or sent. */
  flush(): void {
    for (const s of this.sinks.values()) s.flush();
    for (const e of this.exporters.values()) e.close();
  }
}
