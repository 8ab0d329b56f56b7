/**
 * Token buckets every worker shares (Envoy's local rate limit: one bucket per process), lock-free in
 * a SharedArrayBuffer the agent makes at start and hands to each worker (WorkerInit.tokenBuckets).
 *
 * A fixed table of slots, three BigInt64 words each: the key's 64-bit hash (0: free), the bucket's
 * start time + 1 (0: not yet set; the first user sets it), and the state: the fill interval the
 * count was made in (high 32 bits) and the tokens consumed in it (low 32 bits); all zero is a full
 * bucket. A key is found by open addressing from its hash's slot (at most MAX_PROBES slots on), a
 * free slot claimed by compare-and-swap on its key word, and the state only ever changes by
 * compare-and-swap, so no two workers can take the same last token. Slots are never given back:
 * when no slot is free for a key, the caller falls back to a bucket of its own worker.
 *
 * Keys are told apart by their 64-bit xxHash64 (two keys of equal hash would share a bucket: at
 * 4,096 keys a chance of about 1 in 2^41).
 *
 * (Erasable TypeScript only: a test loads this module into worker threads without a compiler.)
 */
import { xxHash64 } from '../../../common/xxhash64.js';
import type { TokenBucket } from '../../../config/envoy/local-ratelimit.js';
import { consumedAfter, intervalAt, secondsToNextFill, type Clock, type RateLimitBucket } from './token-bucket.js';

/** What a worker needs to attach to the table (structured-clone-safe: the buffer is shared). */
export interface SharedTokenBucketsInit {
  buffer: SharedArrayBuffer;
  slots: number;
}

/** Slots the agent makes: 96 KiB. */
export const DEFAULT_TOKEN_BUCKET_SLOTS = 4096;

const WORDS = 3;
const KEY = 0;
const START = 1;
const STATE = 2;
/** A key's slot is within this many of its hash's: a full neighbourhood is a full table, and the probe stays short. */
const MAX_PROBES = 64;
/** Fill intervals are counted modulo 2^31 in the state word (at 50 ms per fill, 3.4 years). */
const INTERVAL_MOD = 2 ** 31;
const LOW_32 = 0xffff_ffffn;

/** One worker's view of the shared table. */
export class SharedTokenBuckets {
  readonly init: SharedTokenBucketsInit;
  private readonly words: BigInt64Array;
  private readonly now: Clock;
  private readonly hash: (key: string) => bigint;

  static create(slots = DEFAULT_TOKEN_BUCKET_SLOTS): SharedTokenBucketsInit {
    return { buffer: new SharedArrayBuffer(slots * WORDS * 8), slots };
  }

  /** `hash`: a key's 64-bit identity (xxHash64; tests force collisions with their own). */
  constructor(init: SharedTokenBucketsInit, now: Clock = Date.now, hash: (key: string) => bigint = xxHash64) {
    this.init = init;
    this.words = new BigInt64Array(init.buffer);
    this.now = now;
    this.hash = hash;
  }

  /** The shared bucket of `key`, its slot claimed on first use by any worker; undefined when no slot is free for it. */
  bucket(key: string, spec: TokenBucket): RateLimitBucket | undefined {
    const at = this.slotOf(key);
    return at === undefined ? undefined : new SharedBucket(this.words, at, spec, this.now);
  }

  /** Slots claimed so far, by any worker. */
  used(): number {
    let n = 0;
    for (let i = 0; i < this.init.slots; i++) if (Atomics.load(this.words, i * WORDS + KEY) !== 0n) n++;
    return n;
  }

  /** The first word of `key`'s slot, claiming a free one; undefined when none is left within reach. */
  private slotOf(key: string): number | undefined {
    // as the table's words hold it (signed), and never 0: a free slot
    const h = BigInt.asIntN(64, this.hash(key)) || 1n;
    const slots = this.init.slots;
    let i = Number(BigInt.asUintN(64, h) % BigInt(slots));
    for (let probe = 0; probe < Math.min(slots, MAX_PROBES); probe++, i = (i + 1) % slots) {
      const at = i * WORDS;
      const k = Atomics.load(this.words, at + KEY);
      if (k === h) return at;
      if (k !== 0n) continue;
      const was = Atomics.compareExchange(this.words, at + KEY, 0n, h);
      // free, or claimed for the same key by another worker in the meantime
      if (was === 0n || was === h) return at;
    }
    return undefined;
  }
}

/** One bucket in the table. */
class SharedBucket implements RateLimitBucket {
  readonly spec: TokenBucket;
  private readonly words: BigInt64Array;
  private readonly at: number;
  private readonly now: Clock;
  private readonly start: number;

  constructor(words: BigInt64Array, at: number, spec: TokenBucket, now: Clock) {
    this.spec = spec;
    this.words = words;
    this.at = at;
    this.now = now;
    this.start = claimStart(words, at, now());
  }

  consume(): boolean {
    const cell = this.at + STATE;
    for (;;) {
      const state = Atomics.load(this.words, cell);
      const { interval, consumed } = this.current(state);
      if (consumed >= this.spec.maxTokens) return false;
      // another worker changed the state since it was read: read it again
      if (Atomics.compareExchange(this.words, cell, state, pack(interval, consumed + 1)) === state) return true;
    }
  }

  remaining(): number {
    return this.spec.maxTokens - this.current(Atomics.load(this.words, this.at + STATE)).consumed;
  }

  resetSeconds(): number {
    return secondsToNextFill(this.start, this.now(), this.spec);
  }

  /** The state brought to now: the fills since it was written applied (a clock gone back fills nothing). */
  private current(state: bigint): { interval: number; consumed: number } {
    const stored = Number(state >> 32n);
    const consumed = Number(state & LOW_32);
    const now = intervalAt(this.start, this.now(), this.spec) % INTERVAL_MOD;
    const fills = (now - stored + INTERVAL_MOD) % INTERVAL_MOD;
    if (fills === 0 || fills >= INTERVAL_MOD / 2) return { interval: stored, consumed };
    return { interval: now, consumed: consumedAfter(consumed, fills, this.spec) };
  }
}

function pack(interval: number, consumed: number): bigint {
  return (BigInt(interval) << 32n) | BigInt(consumed);
}

/** The bucket's start time: set by its first user, read by the others (stored + 1: 0 means not set). */
function claimStart(words: BigInt64Array, at: number, nowMs: number): number {
  const mine = BigInt(Math.floor(nowMs)) + 1n;
  const was = Atomics.compareExchange(words, at + START, 0n, mine);
  return Number((was === 0n ? mine : was) - 1n);
}
