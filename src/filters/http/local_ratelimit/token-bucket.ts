/**
 * Envoy's token bucket as the local rate limit uses it: it starts full (maxTokens), and every
 * fillIntervalMs after its start tokensPerFill come back, up to maxTokens. The state is the tokens
 * consumed and the fill interval they were counted in, so "nothing consumed in interval 0" (all
 * zero) is a full bucket. The arithmetic is shared by the per-worker buckets here and the buckets
 * all workers share (shared-buckets.ts).
 *
 * (Erasable TypeScript only: a test loads the shared table into worker threads without a compiler.)
 */
import type { TokenBucket } from '../../../config/envoy/local-ratelimit.js';

/** Milliseconds since the epoch (Date.now); tests pass a fake clock. */
export type Clock = () => number;

/** One bucket as the filter sees it (Envoy's TokenBucketContext, and consume). */
export interface RateLimitBucket {
  readonly spec: TokenBucket;
  /** Takes one token; false when none is left (then nothing was taken). */
  consume(): boolean;
  /** Tokens left now. */
  remaining(): number;
  /** Whole seconds until the next fill (x-ratelimit-reset). */
  resetSeconds(): number;
}

/** Tokens per millisecond: matched descriptors are consumed slowest first (Envoy sorts them so). */
export function fillRate(spec: TokenBucket): number {
  return spec.tokensPerFill / spec.fillIntervalMs;
}

/** The fill interval `nowMs` falls in, counted from the bucket's start (a clock behind the start: 0). */
export function intervalAt(startMs: number, nowMs: number, spec: TokenBucket): number {
  return nowMs <= startMs ? 0 : Math.floor((nowMs - startMs) / spec.fillIntervalMs);
}

/** Tokens still consumed after `fills` fills. */
export function consumedAfter(consumed: number, fills: number, spec: TokenBucket): number {
  return fills <= 0 ? consumed : Math.max(0, consumed - fills * spec.tokensPerFill);
}

/** Whole seconds from `nowMs` to the next fill, rounded up. */
export function secondsToNextFill(startMs: number, nowMs: number, spec: TokenBucket): number {
  const elapsed = Math.max(0, nowMs - startMs);
  const next = (Math.floor(elapsed / spec.fillIntervalMs) + 1) * spec.fillIntervalMs;
  return Math.ceil((next - elapsed) / 1000);
}

/** A bucket of one worker (scope `worker`), or of one downstream connection (`connection`). */
export class LocalTokenBucket implements RateLimitBucket {
  readonly spec: TokenBucket;
  private readonly now: Clock;
  private readonly start: number;
  private interval = 0;
  private consumed = 0;

  constructor(spec: TokenBucket, now: Clock) {
    this.spec = spec;
    this.now = now;
    this.start = now();
  }

  consume(): boolean {
    this.refill();
    if (this.consumed >= this.spec.maxTokens) return false;
    this.consumed++;
    return true;
  }

  remaining(): number {
    this.refill();
    return this.spec.maxTokens - this.consumed;
  }

  resetSeconds(): number {
    return secondsToNextFill(this.start, this.now(), this.spec);
  }

  private refill(): void {
    const current = intervalAt(this.start, this.now(), this.spec);
    if (current <= this.interval) return;
    this.consumed = consumedAfter(this.consumed, current - this.interval, this.spec);
    this.interval = current;
  }
}
