import { getHeapStatistics } from 'node:v8';
import { log } from '../telemetry/log.js';
import { exposedGc } from '../common/gc.js';

/** How often a worker looks (a quiet worker is one with no new connection or request for this long). */
const INTERVAL_MS = 5_000;
/** Growth since the last collection worth a collection once the worker is quiet. */
const HEAP_SLACK_BYTES = 8 * 1024 * 1024;
const RSS_SLACK_BYTES = 16 * 1024 * 1024;

/** What the shrinker reads and calls (the real heap, process and collector; stand-ins in tests). */
export interface HeapProbe {
  /** V8 heap in use plus the off-heap memory JavaScript objects hold (Buffers). */
  usedBytes(): number;
  /** The process's resident memory (all threads). */
  rssBytes(): number;
  /** Connections accepted plus requests started so far (it stands still while the worker is quiet). */
  activity(): number;
  collect(): Promise<void>;
}

/**
 * Gives memory back once traffic stops, as Envoy's shrink_heap gives tcmalloc's free pages back.
 * Under load V8 keeps garbage, the new space it grew, and the native memory of closed connections
 * (nghttp2 sessions, TLS state: freed only when a collection finds their handles dead) until its own
 * limits are reached; RSS levels off (10-minute soak: 137 → 286 MiB, flat after 2 minutes) and stayed
 * there after the load ended. A collection that hands that memory back (V8's 'last-resort': all it
 * can, free pages released; a regular major collection frees the heap but not the RSS) holds the
 * thread for 100-350 ms, which no request should wait for: so it runs only when the worker was quiet
 * for a whole interval, and only when memory grew since the last one. What stays is the new floor.
 */
export class HeapShrinker {
  private floor: number;
  private rssFloor: number;
  private lastActivity: number;
  private timer: NodeJS.Timeout | undefined;
  private collecting = false;
  collections = 0;

  constructor(private readonly probe: HeapProbe) {
    this.floor = probe.usedBytes();
    this.rssFloor = probe.rssBytes();
    this.lastActivity = probe.activity();
  }

  /** Undefined when the thread has no collector to call (common/gc.ts). */
  static forThisThread(activity: () => number): HeapShrinker | undefined {
    const gc = exposedGc();
    if (!gc) return undefined;
    return new HeapShrinker({
      usedBytes: () => {
        const h = getHeapStatistics();
        return h.used_heap_size + h.external_memory;
      },
      rssBytes: () => process.memoryUsage.rss(),
      activity,
      collect: async () => gc({ type: 'major', execution: 'async', flavor: 'last-resort' }),
    });
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One look: after a quiet interval, collect if the heap or the RSS grew past its floor. */
  async check(): Promise<void> {
    if (this.collecting) return;
    const activity = this.probe.activity();
    const busy = activity !== this.lastActivity;
    this.lastActivity = activity;
    const used = this.probe.usedBytes();
    const rss = this.probe.rssBytes();
    // V8's own collections (and other threads giving memory back) lower the floors
    if (used < this.floor) this.floor = used;
    if (rss < this.rssFloor) this.rssFloor = rss;
    if (busy || (used <= this.floor + HEAP_SLACK_BYTES && rss <= this.rssFloor + RSS_SLACK_BYTES)) return;
    await this.collect();
  }

  /**
   * A collection now, whatever the activity: for the first Snapshot, before the worker takes
   * traffic. Building a large Runtime leaves garbage several times its size (the Snapshot's
   * structured clone, the compiling): collected now it costs no request anything, and V8 sizes its
   * next collection on what is live instead of on the garbage, which otherwise brought a full
   * collection of the whole heap into the first seconds of traffic.
   */
  async collectNow(): Promise<void> {
    if (!this.collecting) await this.collect();
  }

  private async collect(): Promise<void> {
    const used = this.probe.usedBytes();
    const rss = this.probe.rssBytes();
    this.collecting = true;
    const started = performance.now();
    try {
      await this.probe.collect();
      this.collections++;
    } finally {
      this.collecting = false;
      this.floor = this.probe.usedBytes();
      this.rssFloor = this.probe.rssBytes();
      log.debug(`heap shrink: used ${mib(used)} → ${mib(this.floor)} MiB, rss ${mib(rss)} → ${mib(this.rssFloor)} MiB, ${(performance.now() - started).toFixed(1)} ms`);
    }
  }
}

function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}
