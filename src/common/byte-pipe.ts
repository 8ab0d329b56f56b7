import type { Duplex } from 'node:stream';
import { readSocket } from './read-buffers.js';

/**
 * Copies `from` → `to` with backpressure: `from` pauses while `to` is full and resumes on 'drain'.
 * `onChunk` sees each chunk's size (byte counters, activity); `onPause` / `onResume` report the
 * flow control (Envoy counts it for the downstream). A socket reads into the proxy's buffers
 * (read-buffers.ts): a chunk lent from its own buffer also keeps it paused until the write of it
 * has flushed, so that no read lands on bytes still queued.
 */
export function pipeBytes(
  from: Duplex,
  to: Duplex,
  onChunk: (bytes: number) => void,
  flow?: { onPause(): void; onResume(): void },
): void {
  let full = false; // `to` was over its high-water mark: waiting for 'drain'
  let lentPending = false; // a lent chunk is still queued in `to`
  let paused = false;
  const resumeWhenClear = () => {
    if (!paused || full || lentPending) return;
    paused = false;
    from.resume();
  };
  const lentFlushed = () => {
    lentPending = false;
    resumeWhenClear();
  };
  const relay = (chunk: Buffer, lent: boolean): boolean => {
    onChunk(chunk.length);
    if (!to.write(chunk, lent ? lentFlushed : undefined)) {
      full = true;
      flow?.onPause();
    }
    if (lent && to.writableLength > 0) lentPending = true;
    if (!full && !lentPending) return true;
    paused = true;
    return false;
  };
  readSocket(from, relay, { lend: true });
  to.on('drain', () => {
    if (!full) return;
    full = false;
    flow?.onResume();
    resumeWhenClear();
  });
}

/**
 * An idle timeout over byte traffic: `touch()` on every chunk costs a clock read, and a single
 * timer re-arms itself for the quiet time left, firing `onIdle` once nothing moved for `idleMs`.
 */
export class IdleWatch {
  private last = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly idleMs: number,
    private readonly onIdle: () => void,
  ) {
    if (idleMs > 0) this.timer = setTimeout(this.check, idleMs);
  }

  touch(): void {
    this.last = Date.now();
  }

  private readonly check = (): void => {
    const quiet = Date.now() - this.last;
    if (quiet < this.idleMs) {
      this.timer = setTimeout(this.check, this.idleMs - quiet);
      return;
    }
    this.timer = undefined;
    this.onIdle();
  };

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** One direction of a relay: byte counts (and, for the reading side, its flow control). */
export interface RelayDirection {
  onBytes(n: number): void;
  flow?: { onPause(): void; onResume(): void };
  /** The reading side closed cleanly with bytes still queued for the other: they are flushed first (Envoy's upstream_flush_total). */
  onFlushAfterClose?(): void;
}

export interface RelayOptions {
  /** Bytes read from `a`, written to `b`. */
  aToB: RelayDirection;
  /** Bytes read from `b`, written to `a`; omitted: `b` is not read (a relayed one-way response). */
  bToA?: RelayDirection;
  /** No byte either way for this long closes both sides (0: never). */
  idleTimeoutMs: number;
  onIdle?(): void;
}

/**
 * Two connected byte streams joined as Envoy's tcp_proxy joins them, for the TCP proxy and the
 * upgrade tunnels alike (the one place their close rules live):
 * - bytes both ways with backpressure (`pipeBytes`), an idle timeout over both directions;
 * - a FIN read on one side shuts the other's write side once its pending writes are flushed
 *   (half-close), including a FIN that arrived before the relay started (`readableEnded`);
 * - one side closed: after a clean close (its FIN was read) the other is closed once flushed;
 *   after a reset or an error, or a close without a FIN, the other is destroyed at once.
 *   A side already closed when the relay starts counts the same way.
 * Whatever the caller wrote before (bytes read during protocol detection) goes first.
 */
export function relayBytes(a: Duplex, b: Duplex, opts: RelayOptions): void {
  const idle = new IdleWatch(opts.idleTimeoutMs, () => {
    opts.onIdle?.();
    a.destroy();
    b.destroy();
  });
  let open = 2;
  const closed = () => {
    if (--open === 0) idle.stop();
  };
  const { bToA } = opts;
  pipeBytes(a, b, (n) => (idle.touch(), opts.aToB.onBytes(n)), opts.aToB.flow);
  onceEnded(a, () => {
    b.end();
    if (!bToA) a.end(); // b is not read: nothing will ever go to a either
  });
  if (bToA) {
    pipeBytes(b, a, (n) => (idle.touch(), bToA.onBytes(n)), bToA.flow);
    onceEnded(b, () => a.end());
  }
  onceClosed(a, (hadError) => (closeAfter(a, hadError, b, opts.aToB), closed()));
  onceClosed(b, (hadError) => (closeAfter(b, hadError, a, bToA), closed()));
  a.resume();
  if (bToA) b.resume();
}

/** Calls `fn` once `s` has read its FIN: now, or already before anyone listened. */
function onceEnded(s: Duplex, fn: () => void): void {
  if (s.readableEnded) fn();
  else s.once('end', fn);
}

/** What `closed` going away means for `other`: flushed and closed after a clean close, destroyed after a reset. */
function closeAfter(closed: Duplex, hadError: boolean, other: Duplex, direction: RelayDirection | undefined): void {
  if (other.destroyed) return;
  if (hadError || !closed.readableEnded) {
    other.destroy();
    return;
  }
  if (other.writableLength > 0) direction?.onFlushAfterClose?.();
  if (!other.writableEnded) other.end();
  if (other.writableFinished) other.destroy();
  else other.once('finish', () => other.destroy());
}

/**
 * Calls `fn` once `s` has closed, with whether it closed on an error (a reset); also for a stream
 * that closed before anyone listened, which would otherwise never be heard of.
 */
export function onceClosed(s: Duplex, fn: (hadError: boolean) => void): void {
  if (s.closed) process.nextTick(fn, !!s.errored);
  else s.once('close', (hadError?: boolean) => fn(hadError === true || !!s.errored));
}
