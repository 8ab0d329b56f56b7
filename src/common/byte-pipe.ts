import type { Duplex } from 'node:stream';

/**
 * Copies `from` → `to` with backpressure: `from` pauses while `to` is full and resumes on 'drain'.
 * `onChunk` sees each chunk's size (byte counters, activity); `onPause` / `onResume` report the
 * flow control (Envoy counts it for the downstream).
 */
export function pipeBytes(
  from: Duplex,
  to: Duplex,
  onChunk: (bytes: number) => void,
  flow?: { onPause(): void; onResume(): void },
): void {
  from.on('data', (chunk: Buffer) => {
    onChunk(chunk.length);
    if (!to.write(chunk)) {
      from.pause();
      flow?.onPause();
    }
  });
  to.on('drain', () => {
    if (!from.isPaused()) return;
    from.resume();
    flow?.onResume();
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
