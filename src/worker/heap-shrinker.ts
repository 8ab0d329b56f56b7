import { getHeapStatistics } from 'node:v8';
import { log } from '../telemetry/log.js';
import { exposedGc } from '../common/gc.js';

/** How often a worker looks (a quiet worker is one with no new connection or request for this long). */
const INTERVAL_MS = 5_000;
/** Looks in a row that found the worker quiet before it gives memory back: five minutes. */
export const QUIET_LOOKS = 60;
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
 * (upstream nghttp2 sessions, TLS state: freed only when a collection finds their handles dead)
 * until its own limits are reached; RSS levels off (10-minute soak: 137 → 286 MiB, flat after 2
 * minutes) and stayed there after the load ended. A collection that hands that memory back (V8's
 * 'last-resort': all it can, free pages released; a regular major collection frees the heap but not
 * the RSS) holds the thread for 100-350 ms, which no request should wait for: so it runs only when
 * memory grew since the last one, and only once the worker was quiet for QUIET_LOOKS looks in a row
 * (five minutes). What stays is the new floor.
 *
 * Why five minutes, not one quiet look: a last-resort collection also drops every hidden class no
 * live object uses (V8 keeps the ones compiled code relies on for two ordinary collections, not in
 * this one), and all optimised code that relied on them is thrown away ("embedded weak objects
 * cleared": ~75 functions of the request path after a quiet spell). Traffic that came back after
 * 5-10 s of quiet ran interpreted and recompiled. Measured (sidecar, one worker on one core; 3 s of
 * 16 KiB responses, 12 s quiet, then 8 s at 1000 req/s, 1 KiB, 16 connections; 2 × 4 rounds each):
 * a collection after one quiet look: compiler threads 8-9 ticks and p99 3.4-5.6 ms in the rounds it
 * ran, main thread 46-61 ticks; none: compiler 0-3 ticks in all 8 rounds, p99 1.8-3.7 ms and main
 * thread 41-50 ticks in 7 (the eighth fell in one of the box's slow minutes: 8.4 ms, 125 ticks).
 * Memory it gives back after such a load: ~10 MiB of RSS (93-101 → 83-88 MiB).
 */
export class HeapShrinker {
  private floor: number;
  private rssFloor: number;
  private lastActivity: number;
  /** Looks in a row that found no new connection or request. */
  private quietLooks = 0;
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

  /** One look: once quiet for QUIET_LOOKS looks, collect if the heap or the RSS grew past its floor. */
  async check(): Promise<void> {
    if (this.collecting) return;
    const activity = this.probe.activity();
    this.quietLooks = activity === this.lastActivity ? this.quietLooks + 1 : 0;
    this.lastActivity = activity;
    const used = this.probe.usedBytes();
    const rss = this.probe.rssBytes();
    // V8's own collections (and other threads giving memory back) lower the floors
    if (used < this.floor) this.floor = used;
    if (rss < this.rssFloor) this.rssFloor = rss;
    if (this.quietLooks < QUIET_LOOKS || (used <= this.floor + HEAP_SLACK_BYTES && rss <= this.rssFloor + RSS_SLACK_BYTES)) return;
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
