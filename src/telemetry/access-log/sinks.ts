import { createWriteStream, type WriteStream } from 'node:fs';
import { log } from '../log.js';

/** Where a worker's access-log lines go: one writer per file path, kept across Runtimes. */
export interface LogSink {
  write(line: string): void;
}

/** Lines waiting longer than this many bytes are dropped (counted) rather than buffered: a stuck file must not grow the heap. */
const MAX_PENDING_BYTES = 4 * 1024 * 1024;

/**
 * Appends lines to one file without blocking the hot path: the lines of one event-loop turn are
 * written in one go. /dev/stdout and /dev/stderr are the process's own descriptors (written straight
 * from the worker, no hop through the main thread); other paths are opened for append, so several
 * workers append whole writes to one file.
 */
class FileSink implements LogSink {
  private pending: string[] = [];
  private pendingBytes = 0;
  private scheduled = false;
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
    if (this.failed || this.pendingBytes > MAX_PENDING_BYTES || this.out.writableLength > MAX_PENDING_BYTES) {
      this.dropped++;
      return;
    }
    this.pending.push(line);
    this.pendingBytes += line.length;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.scheduled = false;
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

/** A worker's access-log files by path. */
export class LogSinks {
  private readonly sinks = new Map<string, FileSink>();

  constructor(private readonly opener: (path: string) => WriteStream = open) {}

  sink(path: string): LogSink {
    let s = this.sinks.get(path);
    if (!s) this.sinks.set(path, (s = new FileSink(path, this.opener(path), STD_FDS[path] !== undefined)));
    return s;
  }

  /** A new Runtime took over: files it does not log to are closed. */
  retain(paths: ReadonlySet<string>): void {
    for (const [path, s] of this.sinks) {
      if (paths.has(path)) continue;
      s.close();
      this.sinks.delete(path);
    }
  }

  /** Lines dropped so far (a file that failed, or a writer too far behind). */
  get dropped(): number {
    let n = 0;
    for (const s of this.sinks.values()) n += s.dropped;
    return n;
  }

  /** Shutdown: what waits is written. */
  flush(): void {
    for (const s of this.sinks.values()) s.flush();
  }
}
