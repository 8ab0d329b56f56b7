/**
 * Envoy's LocalRateLimiterImpl::requestAllowed over a compiled config: the request's descriptors
 * find their config descriptors' buckets, which are consumed slowest fill first; the first one
 * empty limits the request (those consumed before it stay consumed, as in Envoy). The default
 * bucket is consumed after them when no descriptor matched, or always with
 * alwaysConsumeDefaultTokenBucket. The bucket that decided (or the most restrictive matched one)
 * is what the x-ratelimit headers report.
 */
import type { RateLimitDescriptor } from '../../../router/rate-limit-descriptors.js';
import type { BucketStore } from './bucket-stores.js';
import { bucketKey, descriptorSignature, type CompiledLocalRateLimit, type WildcardDescriptor } from './config.js';
import { fillRate, type RateLimitBucket } from './token-bucket.js';

export interface LimitDecision {
  readonly allowed: boolean;
  /** The bucket the x-ratelimit headers describe; undefined when none applied (nothing to limit). */
  readonly bucket: RateLimitBucket | undefined;
}

/** Decides one request; consumes its tokens. */
export function requestAllowed(cfg: CompiledLocalRateLimit, descriptors: readonly RateLimitDescriptor[], store: BucketStore): LimitDecision {
  const matched = matchedBuckets(cfg, descriptors, store);
  for (const b of matched) if (!b.consume()) return { allowed: false, bucket: b };
  const first = matched[0];
  if (first && !cfg.config.alwaysConsumeDefaultTokenBucket) return { allowed: true, bucket: first };
  const d = cfg.defaultBucket;
  if (!d) return { allowed: true, bucket: first };
  const bucket = store.bucket(d.key, d.spec);
  if (!bucket.consume()) return { allowed: false, bucket };
  return { allowed: true, bucket: first ?? bucket };
}

/** One bucket per request descriptor that matches a config descriptor, slowest fill first. */
function matchedBuckets(cfg: CompiledLocalRateLimit, descriptors: readonly RateLimitDescriptor[], store: BucketStore): RateLimitBucket[] {
  const out: RateLimitBucket[] = [];
  if (cfg.exact.size === 0 && cfg.wildcards.length === 0) return out;
  for (const d of descriptors) {
    if (d.length === 0) continue;
    const signature = descriptorSignature(d);
    const exact = cfg.exact.get(signature);
    if (exact) {
      out.push(store.bucket(exact.key, exact.spec));
      continue;
    }
    const wildcard = cfg.wildcards.find((w) => wildcardMatches(w, d));
    // one bucket per distinct request descriptor the wildcard matches
    if (wildcard) out.push(store.bucket(bucketKey(cfg.keyPrefix, signature, wildcard.spec), wildcard.spec));
  }
  if (out.length > 1) out.sort((a, b) => fillRate(a.spec) - fillRate(b.spec));
  return out;
}

/** Same keys in the same order; each value equal, or empty in the config (any value). */
function wildcardMatches(w: WildcardDescriptor, d: RateLimitDescriptor): boolean {
  if (w.entries.length !== d.length) return false;
  for (let i = 0; i < d.length; i++) {
    const want = w.entries[i];
    if (want.key !== d[i].key || (want.value !== '' && want.value !== d[i].value)) return false;
  }
  return true;
}
