/**
 * Where a worker's token buckets live, by scope (LocalRateLimit.scope): `shared` in the table all
 * workers share, `worker` in this worker, `connection` per downstream connection (Envoy's
 * local_rate_limit_per_downstream_connection). Kept across Runtimes (WorkerServices.tokenBuckets),
 * so a reload that keeps a config keeps its buckets; a bucket is found by its key (config.ts).
 */
import type { TokenBucket, TokenBucketScope } from '../../../config/envoy/local-ratelimit.js';
import { log } from '../../../telemetry/log.js';
import type { SharedTokenBuckets } from './shared-buckets.js';
import { LocalTokenBucket, type Clock, type RateLimitBucket } from './token-bucket.js';

export interface BucketStore {
  bucket(key: string, spec: TokenBucket): RateLimitBucket;
}

/** A worker's buckets by key. */
const WORKER_BUCKETS = 4096;
/** One connection's buckets by key. */
const CONNECTION_BUCKETS = 64;

/**
 * Buckets of this worker alone, by key, the least recently used dropped past `capacity` (it starts
 * full if its key comes back, as Envoy's descriptors beyond max_dynamic_descriptors do).
 */
export class WorkerBucketStore implements BucketStore {
  private readonly buckets = new Map<string, RateLimitBucket>();

  constructor(
    private readonly now: Clock,
    private readonly capacity = WORKER_BUCKETS,
  ) {}

  bucket(key: string, spec: TokenBucket): RateLimitBucket {
    let b = this.buckets.get(key);
    if (b) {
      // most recently used last
      this.buckets.delete(key);
    } else {
      b = new LocalTokenBucket(spec, this.now);
      if (this.buckets.size >= this.capacity) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(key, b);
    return b;
  }

  /** The bucket of `key` if this store has it. */
  peek(key: string): RateLimitBucket | undefined {
    return this.buckets.get(key);
  }

  /** Buckets held (tests). */
  get size(): number {
    return this.buckets.size;
  }
}

/** Buckets in the table all workers share; one of this worker's own when no slot is left for a key. */
export class SharedBucketStore implements BucketStore {
  /** Buckets found in the table: at most one per slot. */
  private readonly claimed = new Map<string, RateLimitBucket>();
  private readonly fallback: WorkerBucketStore;
  private warned = false;

  constructor(
    private readonly table: SharedTokenBuckets,
    now: Clock,
  ) {
    this.fallback = new WorkerBucketStore(now);
  }

  bucket(key: string, spec: TokenBucket): RateLimitBucket {
    const known = this.claimed.get(key);
    if (known) return known;
    // a key that found no slot before finds none now (slots are never given back)
    if (this.fallback.peek(key)) return this.fallback.bucket(key, spec);
    const shared = this.table.bucket(key, spec);
    if (shared) {
      this.claimed.set(key, shared);
      return shared;
    }
    if (!this.warned) {
      this.warned = true;
      log.warn(`local rate limit: the shared token bucket table (${this.table.init.slots} slots) has no room for more buckets; new ones count per worker`);
    }
    return this.fallback.bucket(key, spec);
  }
}

/** A worker's bucket stores of every scope. */
export class TokenBucketStores {
  readonly shared: BucketStore;
  readonly worker: BucketStore;
  private readonly connections = new WeakMap<object, WorkerBucketStore>();

  /** Without a shared table (a single worker, tests) the shared scope is this worker's. */
  constructor(
    table?: SharedTokenBuckets,
    private readonly now: Clock = Date.now,
  ) {
    this.worker = new WorkerBucketStore(now);
    this.shared = table ? new SharedBucketStore(table, now) : this.worker;
  }

  /** The store of `scope`; `connection` is the downstream connection (gone with it). */
  store(scope: TokenBucketScope, connection: object): BucketStore {
    if (scope === 'shared') return this.shared;
    if (scope === 'worker') return this.worker;
    let s = this.connections.get(connection);
    if (!s) this.connections.set(connection, (s = new WorkerBucketStore(this.now, CONNECTION_BUCKETS)));
    return s;
  }
}
