import type { CircuitBreakers } from '../config/snapshot.js';

/** Counters Envoy's circuit breakers track per cluster. */
export const Resource = { Connections: 0, PendingRequests: 1, Requests: 2, Retries: 3 } as const;
export type Resource = (typeof Resource)[keyof typeof Resource];
const RESOURCES = 4;

/** What a worker needs to attach to the shared table (structured-clone-safe: the buffer is shared). */
export interface ResourceTableInit {
  buffer: SharedArrayBuffer;
  slots: number;
  workers: number;
}

/**
 * Circuit-breaker counters shared by every worker: one row per (cluster slot, worker), so a limit
 * applies to the cluster across all workers (as Envoy's do) and a crashed worker's row can be
 * zeroed without touching the others.
 */
export class ResourceTable {
  private readonly counts: Int32Array;

  constructor(
    readonly init: ResourceTableInit,
    /** This thread's row; the agent uses -1 (it only reads and zeroes). */
    readonly worker: number,
  ) {
    this.counts = new Int32Array(init.buffer);
  }

  static create(slots: number, workers: number): ResourceTableInit {
    return { buffer: new SharedArrayBuffer(slots * workers * RESOURCES * 4), slots, workers };
  }

  private index(slot: number, worker: number, r: Resource): number {
    return (slot * this.init.workers + worker) * RESOURCES + r;
  }

  add(slot: number, r: Resource, delta: number): void {
    Atomics.add(this.counts, this.index(slot, this.worker, r), delta);
  }

  /**
   * Claims one unit of `r` in `slot` if the total stays within `max`: claim first, then check, and
   * undo on overflow, so two workers deciding at the same instant cannot both pass a limit of one.
   */
  tryClaim(slot: number, r: Resource, max: number): boolean {
    this.add(slot, r, 1);
    if (this.total(slot, r) <= max) return true;
    this.add(slot, r, -1);
    return false;
  }

  total(slot: number, r: Resource): number {
    let n = 0;
    for (let w = 0; w < this.init.workers; w++) n += Atomics.load(this.counts, this.index(slot, w, r));
    return n;
  }

  /** Current totals of every counter of a slot (the agent's view for stats). */
  totals(slot: number): { connections: number; pending: number; requests: number; retries: number } {
    return {
      connections: this.total(slot, Resource.Connections),
      pending: this.total(slot, Resource.PendingRequests),
      requests: this.total(slot, Resource.Requests),
      retries: this.total(slot, Resource.Retries),
    };
  }

  /** Forgets everything a (crashed) worker held. */
  zeroWorker(worker: number): void {
    for (let slot = 0; slot < this.init.slots; slot++) {
      for (let r = 0; r < RESOURCES; r++) Atomics.store(this.counts, this.index(slot, worker, r as Resource), 0);
    }
  }
}

/** One cluster's circuit breakers, as seen from one worker. */
export class ClusterLimits {
  constructor(
    private readonly table: ResourceTable,
    private readonly slot: number,
    readonly thresholds: CircuitBreakers,
  ) {}

  canCreateConnection(): boolean {
    return this.table.total(this.slot, Resource.Connections) < this.thresholds.maxConnections;
  }

  canQueue(): boolean {
    return this.table.total(this.slot, Resource.PendingRequests) < this.thresholds.maxPendingRequests;
  }

  canSendRequest(): boolean {
    return this.table.total(this.slot, Resource.Requests) < this.thresholds.maxRequests;
  }

  /** Claims one unit of `r` if the cluster stays within `max` (ResourceTable.tryClaim). */
  tryClaim(r: Resource, max: number): boolean {
    return this.table.tryClaim(this.slot, r, max);
  }

  /** Takes a retry slot if the cluster has one free. */
  tryRetry(): boolean {
    if (this.table.total(this.slot, Resource.Retries) >= this.thresholds.maxRetries) return false;
    this.table.add(this.slot, Resource.Retries, 1);
    return true;
  }

  add(r: Resource, delta: number): void {
    this.table.add(this.slot, r, delta);
  }
}

/** Gives every cluster with circuit breakers a slot in the shared table, stable by name. */
export class ResourceSlots {
  private readonly byName = new Map<string, number>();

  constructor(private readonly capacity: number) {}

  slotFor(cluster: string): number | undefined {
    let slot = this.byName.get(cluster);
    if (slot === undefined && this.byName.size < this.capacity) this.byName.set(cluster, (slot = this.byName.size));
    return slot;
  }
}
