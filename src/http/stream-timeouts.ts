import type { HttpConnectionManager } from '../config/snapshot.js';

/** Envoy's stream_idle_timeout when the connection manager does not set one (istiod sets 0: off). */
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000;

/** Which of the connection manager's per-stream timeouts fired. */
export type StreamTimeoutKind = 'idle' | 'request' | 'max_duration';

/** A connection manager's per-stream timeouts in milliseconds (0: off), compiled once per config. */
export interface StreamTimeoutConfig {
  readonly idleMs: number;
  readonly requestMs: number;
  readonly maxDurationMs: number;
  /** How often the sweeper looks at a stream under this config: an eighth of the shortest timeout, 10 ms to 1 s. */
  readonly tickMs: number;
}

/** The timeouts a stream of this connection manager gets, or undefined when all of them are off. */
export function compileStreamTimeouts(hcm: HttpConnectionManager): StreamTimeoutConfig | undefined {
  const idleMs = hcm.streamIdleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS;
  const requestMs = hcm.requestTimeoutMs ?? 0;
  const maxDurationMs = hcm.maxStreamDurationMs ?? 0;
  const shortest = Math.min(...[idleMs, requestMs, maxDurationMs].filter((ms) => ms > 0));
  if (shortest === Infinity) return undefined;
  return { idleMs, requestMs, maxDurationMs, tickMs: Math.min(1_000, Math.max(10, Math.floor(shortest / 8))) };
}

/** What the sweeper reads from a stream it watches. */
export interface TimedStream {
  /** Changes whenever the stream moved either way: request or response bytes, response headers. */
  streamProgress(): number;
  /** The whole request has arrived or the response has started: request_timeout no longer applies. */
  requestTimeoutDisarmed(): boolean;
  onStreamTimeout(kind: StreamTimeoutKind): void;
}

/** One watched stream: when it started, when it was last seen moving. */
export class StreamWatch {
  progress: number;
  lastActiveMs: number;
  requestArmed: boolean;
  /** Off once the stream became a tunnel (the byte relay has its own idle timeout). */
  idleArmed = true;
  /** The sweeper's list links (undefined: not on the list). */
  prev: StreamWatch | undefined;
  next: StreamWatch | undefined;
  watched = false;

  constructor(
    readonly stream: TimedStream,
    readonly config: StreamTimeoutConfig,
    readonly startMs: number,
  ) {
    this.progress = stream.streamProgress();
    this.lastActiveMs = startMs;
    this.requestArmed = config.requestMs > 0;
  }

  /** The timeout that is due at `now`, if any (the earliest due when several are). */
  due(now: number): StreamTimeoutKind | undefined {
    const c = this.config;
    const p = this.stream.streamProgress();
    if (p !== this.progress) {
      this.progress = p;
      this.lastActiveMs = now;
    }
    if (this.requestArmed && this.stream.requestTimeoutDisarmed()) this.requestArmed = false;
    let kind: StreamTimeoutKind | undefined;
    let at = now;
    if (c.maxDurationMs && this.startMs + c.maxDurationMs <= at) {
      kind = 'max_duration';
      at = this.startMs + c.maxDurationMs;
    }
    if (this.requestArmed && this.startMs + c.requestMs <= at) {
      kind = 'request';
      at = this.startMs + c.requestMs;
    }
    if (c.idleMs && this.idleArmed && this.lastActiveMs + c.idleMs <= at) kind = 'idle';
    return kind;
  }
}

/**
 * The per-worker clock of every stream's timeouts: one timer for all streams, looking at each
 * watched stream every tick instead of arming a timer per stream or per chunk. Watching a stream
 * costs linking it into a list and out again; activity costs nothing on the data path (the sweeper
 * compares the stream's byte counts with the last tick's), so a timeout fires between its deadline
 * and two ticks after it, never before. The timer runs only while streams are watched.
 *
 * An intrusive list rather than a Set: measured under load, a long-lived Set holding each request's
 * stream for its lifetime tripled the worker's garbage-collection time (≈8 µs per request).
 */
export class StreamTimeoutSweeper {
  private head: StreamWatch | undefined;
  private count = 0;
  private timer: NodeJS.Timeout | undefined;
  private tickMs = Infinity;

  watch(stream: TimedStream, config: StreamTimeoutConfig, startMs: number): StreamWatch {
    const w = new StreamWatch(stream, config, startMs);
    w.watched = true;
    w.next = this.head;
    if (this.head) this.head.prev = w;
    this.head = w;
    this.count++;
    if (config.tickMs < this.tickMs) {
      this.tickMs = config.tickMs;
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(this.sweep, this.tickMs).unref();
    }
    return w;
  }

  unwatch(w: StreamWatch): void {
    if (!w.watched) return;
    w.watched = false;
    if (w.prev) w.prev.next = w.next;
    else this.head = w.next;
    if (w.next) w.next.prev = w.prev;
    w.prev = w.next = undefined;
    this.count--;
  }

  /** Streams watched now (tests and stats). */
  get size(): number {
    return this.count;
  }

  private readonly sweep = (): void => {
    const now = Date.now();
    try {
      // the list is walked first, the callbacks run after: one may end other streams (unwatched
      // then, they do not fire) or start new ones (looked at from the next tick)
      let due: [StreamWatch, StreamTimeoutKind][] | undefined;
      for (let w = this.head; w; w = w.next) {
        const kind = w.due(now);
        if (kind !== undefined) (due ??= []).push([w, kind]);
      }
      if (due) {
        for (const [w, kind] of due) {
          if (!w.watched) continue;
          this.unwatch(w);
          w.stream.onStreamTimeout(kind);
        }
      }
    } finally {
      if (this.count === 0) {
        this.timer = undefined;
        this.tickMs = Infinity;
      } else {
        this.timer = setTimeout(this.sweep, this.tickMs).unref();
      }
    }
  };
}

/** The worker's sweeper (each worker thread has its own module instance). */
export const streamTimeouts = new StreamTimeoutSweeper();
