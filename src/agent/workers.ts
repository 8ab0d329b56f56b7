import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { Snapshot } from '../config/snapshot.js';
import type { DrainRequest, FromWorker, RuntimeSlots, ToWorker, WorkerInit } from '../worker/messages.js';
import type { StatsSnapshot } from '../telemetry/stats.js';
import { log, type LogLevel } from '../telemetry/log.js';
import { ResourceTable, type ResourceTableInit } from '../upstream/resource-limits.js';
import type { OutlierDetector, OutlierTableInit } from '../upstream/outlier.js';
import type { ConnectionLimitSettings } from '../listener/connection-limits.js';
import type { OverloadSettings } from '../worker/overload-manager.js';
import type { SharedTokenBucketsInit } from '../filters/http/local_ratelimit/shared-buckets.js';
import { InThreadWorker } from './in-thread-worker.js';
import { workerEntry } from './worker-entry.js';

/**
 * A worker's young generation (V8's new space: two semi-spaces of a third each), capped at 12 MiB.
 * Left to itself V8 grows it with the allocation rate, to 128 MiB under a proxy's load, and keeps it:
 * that was most of a worker's ~300 MiB peak RSS. Its live part is small (the objects of the requests
 * in flight), so a small young generation costs no CPU. Measured (1 worker, interleaved): after
 * 150,000 h2c requests and 8 s of HTTP/1.1 (h2load -c16 -m10, wrk -c64) peak RSS 297 and 307 MiB
 * uncapped, 192 and 191 capped; bench/instructions.mjs (the same 4 MiB semi-spaces set by flag) h1
 * 161,861 vs 165,290 and h2c 287,359 vs 306,157 instructions/request.
 */
const WORKER_YOUNG_GENERATION_MB = 12;

/** What protects the workers from overload: shared downstream connection counts, their limits, the overload manager's settings. */
export interface OverloadProtection {
  connections: ResourceTableInit;
  connectionLimits: ConnectionLimitSettings;
  overload: OverloadSettings;
}

/** A worker that does not answer a stats request in this time is left out of that scrape. */
const STATS_TIMEOUT_MS = 2_000;

/**
 * Where the data plane runs: `main`, the single worker on the agent's thread (in-thread-worker.ts);
 * `workers`, each worker on its own thread (respawned if it dies).
 */
export type DataPlaneThread = 'main' | 'workers';

export interface WorkerPoolOptions {
  count: number;
  thread: DataPlaneThread;
  logLevel: LogLevel;
  limits: ResourceTableInit;
  outliers: OutlierTableInit;
  /** The local rate limit token buckets all workers share (kept across respawns: a bucket is not a worker's). */
  tokenBuckets: SharedTokenBucketsInit;
  protection: OverloadProtection;
}

/** What the pool needs of a worker: a Worker, or the one worker on the agent's thread. */
type WorkerHandle = Worker | InThreadWorker;

interface Slot {
  index: number;
  worker: WorkerHandle;
  pending: Map<string, { resolve: () => void; reject: (e: Error) => void }>;
}

/** A worker's answer to a request of the agent's. */
type WorkerReply = Extract<FromWorker, { type: 'stats' | 'connections' }>;

export interface WorkerStatsReply {
  stats: StatsSnapshot;
  activeConnections: number;
}

/** Starts N data-plane workers, pushes Snapshots to them, collects their stats, respawns crashes. */
export class WorkerPool {
  private readonly slots: Slot[] = [];
  /** The last Snapshot every worker accepted, with its shared-table rows. */
  private applied: { snapshot: Snapshot; slots: RuntimeSlots } | undefined;
  private stopping = false;
  /** The drain steps so far, replayed to a respawned worker. */
  private readonly drains: DrainRequest[] = [];
  private requestId = 0;
  private readonly replyWaiters = new Map<number, (r: WorkerReply) => void>();
  /** Workers that exited unexpectedly (and were respawned). */
  crashes = 0;

  private readonly limits: ResourceTable;
  private readonly connections: ResourceTable;

  constructor(private readonly opts: WorkerPoolOptions) {
    if (opts.thread === 'main' && opts.count !== 1) throw new Error(`the data plane runs on the main thread only with one worker (not ${opts.count})`);
    this.limits = new ResourceTable(opts.limits, -1);
    this.connections = new ResourceTable(opts.protection.connections, -1);
    // workers get a collector to call (heap-shrinker.ts); a V8 flag is per process, read when a worker's context is made
    setFlagsFromString('--expose-gc');
  }

  /** Set by the agent: a worker reported a host at a consecutive-error threshold. */
  onOutlier: ((cluster: string, host: string, detector: OutlierDetector) => void) | undefined;
  /** Set by the agent: what a respawned worker must know about current ejections. */
  currentEjections: (() => [string, string[]][]) | undefined;

  get size(): number {
    return this.opts.count;
  }

  /** The circuit-breaker counters all workers share (read-only here). */
  get resourceTable(): ResourceTable {
    return this.limits;
  }

  /** The live worker threads (diagnostics: their thread ids, resource usage). */
  threads(): readonly WorkerHandle[] {
    return this.slots.map((s) => s.worker);
  }

  start(): void {
    for (let i = 0; i < this.opts.count; i++) this.slots.push(this.spawn(i));
  }

  /**
   * Sends a Snapshot to every worker; resolves when all acked it. On a NACK the last good Snapshot
   * is sent again (so every worker runs the same config) and the error is thrown. Only an accepted
   * Snapshot is what a respawned worker gets.
   */
  async apply(snapshot: Snapshot, slots: RuntimeSlots): Promise<void> {
    const results = await Promise.allSettled(this.slots.map((s) => this.send(s, snapshot, slots)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed) {
      this.applied = { snapshot, slots };
      return;
    }
    const good = this.applied;
    if (good) await Promise.allSettled(this.slots.map((s) => this.send(s, good.snapshot, good.slots)));
    throw failed.reason;
  }

  broadcast(msg: ToWorker): void {
    for (const s of this.slots) s.worker.postMessage(msg);
  }

  /** Every worker's stats; a worker that does not answer in time is skipped. */
  collectStats(): Promise<WorkerStatsReply[]> {
    return this.ask((id) => ({ type: 'stats', id }), (r) => (r.type === 'stats' ? { stats: r.stats, activeConnections: r.activeConnections } : undefined));
  }

  /**
   * The downstream connections the workers still hold (a worker that does not answer in time
   * counts none): what a drain polls, without the stats of every cluster and host each time.
   */
  async activeConnections(): Promise<number> {
    const counts = await this.ask((id) => ({ type: 'connections', id }), (r) => (r.type === 'connections' ? r.activeConnections : undefined));
    return counts.reduce((a, b) => a + b, 0);
  }

  /** One request to every worker and its reply, read by `read`; a worker that does not answer in time is skipped. */
  private async ask<R>(request: (id: number) => ToWorker, read: (reply: WorkerReply) => R | undefined): Promise<R[]> {
    const replies = await Promise.all(
      this.slots.map(
        (s) =>
          new Promise<R | undefined>((resolve) => {
            const id = ++this.requestId;
            const timer = setTimeout(() => {
              this.replyWaiters.delete(id);
              resolve(undefined);
            }, STATS_TIMEOUT_MS);
            this.replyWaiters.set(id, (r) => {
              clearTimeout(timer);
              resolve(read(r));
            });
            s.worker.postMessage(request(id));
          }),
      ),
    );
    const answered: R[] = [];
    for (const r of replies) if (r !== undefined) answered.push(r as R);
    return answered;
  }

  /** One step of a drain, to every worker (and, again, to any worker respawned later). */
  drain(request: DrainRequest): void {
    this.drains.push(request);
    this.broadcast({ type: 'drain', drain: request });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.slots.map(
        (s) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => void s.worker.terminate().then(() => resolve()), 5_000);
            s.worker.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            s.worker.postMessage({ type: 'shutdown' } satisfies ToWorker);
          }),
      ),
    );
  }

  private send(slot: Slot, snapshot: Snapshot, slots: RuntimeSlots): Promise<void> {
    return new Promise((resolve, reject) => {
      slot.pending.get(snapshot.version)?.reject(new Error('superseded'));
      slot.pending.set(snapshot.version, { resolve, reject });
      slot.worker.postMessage({ type: 'snapshot', snapshot, slots } satisfies ToWorker);
    });
  }

  private spawn(index: number): Slot {
    const { logLevel, outliers, tokenBuckets, protection } = this.opts;
    const init: WorkerInit = { index, logLevel, limits: this.limits.init, outliers, tokenBuckets, ...protection };
    const worker =
      this.opts.thread === 'main'
        ? new InThreadWorker(init)
        : new Worker(workerEntry(), { workerData: init, name: `worker-${index}`, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } });
    const slot: Slot = { index, worker, pending: new Map() };
    worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'stats' || msg.type === 'connections') {
        this.replyWaiters.get(msg.id)?.(msg);
        this.replyWaiters.delete(msg.id);
        return;
      }
      if (msg.type === 'outlier') {
        this.onOutlier?.(msg.cluster, msg.host, msg.detector);
        return;
      }
      const p = slot.pending.get(msg.version);
      if (!p) return;
      slot.pending.delete(msg.version);
      if (msg.type === 'ack') p.resolve();
      else p.reject(new Error(`worker ${index}: ${msg.error}`));
    });
    worker.on('error', (err) => log.error(`worker ${index} crashed: ${err.stack ?? err}`));
    worker.on('exit', (code) => {
      for (const p of slot.pending.values()) p.reject(new Error(`worker ${index} exited with code ${code}`));
      slot.pending.clear();
      // the main-thread worker only exits when told to: its crash is the process's
      if (this.stopping || this.opts.thread === 'main') return;
      this.crashes++;
      log.error(`worker ${index} exited with code ${code}; respawning`);
      // what the dead worker held is released
      this.limits.zeroWorker(index);
      this.connections.zeroWorker(index);
      const replacement = this.spawn(index);
      this.slots[this.slots.indexOf(slot)] = replacement;
      if (this.applied) this.send(replacement, this.applied.snapshot, this.applied.slots).catch((e) => log.error(String(e)));
      for (const [cluster, ejected] of this.currentEjections?.() ?? []) {
        replacement.worker.postMessage({ type: 'ejections', cluster, ejected } satisfies ToWorker);
      }
      for (const drain of this.drains) replacement.worker.postMessage({ type: 'drain', drain } satisfies ToWorker);
    });
    return slot;
  }
}
