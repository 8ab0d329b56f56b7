/**
 * envoy.filters.http.local_ratelimit's config (extensions.filters.http.local_ratelimit.v3.LocalRateLimit)
 * in the Snapshot's shape: the same type is the filter's config on a connection manager and its
 * per-route config (typed_per_filter_config); both front ends produce it.
 */
import type { HeaderMatcher } from '../snapshot.js';

export const LOCAL_RATELIMIT_FILTER = 'envoy.filters.http.local_ratelimit';

/** Envoy's TokenBucket: `maxTokens` to start with and at most; `tokensPerFill` added every `fillIntervalMs`. */
export interface TokenBucket {
  maxTokens: number;
  tokensPerFill: number;
  fillIntervalMs: number;
}

/** A descriptor with its own bucket: a request whose route's rate_limits produce exactly these entries uses it. */
export interface LocalRateLimitDescriptor {
  /** key/value pairs in order; an empty value matches any value of its key. */
  entries: { key: string; value: string }[];
  tokenBucket: TokenBucket;
}

/** Where the buckets live: one per config shared by every worker (Envoy), one per worker, or one per downstream connection. */
export type TokenBucketScope = 'shared' | 'worker' | 'connection';

export interface LocalRateLimit {
  statPrefix: string;
  /** Absent: no default bucket (only descriptors limit; none: the filter lets everything through). */
  tokenBucket?: TokenBucket;
  /** Percent of requests the filter looks at (filter_enabled; Envoy's default 0). */
  enabledPercent: number;
  /** Percent of those it rejects when over the limit (filter_enforced; Envoy's default 0: only counted). */
  enforcedPercent: number;
  /** Status of a limited request (Envoy's default 429). */
  status: number;
  /** Headers added to limited responses (response_headers_to_add). */
  responseHeadersToAdd: { name: string; value: string; append: boolean }[];
  /** Headers added to requests over the limit that were not enforced (request_headers_to_add_when_not_enforced). */
  requestHeadersToAddWhenNotEnforced: { name: string; value: string; append: boolean }[];
  descriptors: LocalRateLimitDescriptor[];
  /** The route's rate_limits of this stage produce the descriptors (Envoy's stage, default 0). */
  stage: number;
  /** x-ratelimit-limit / -remaining / -reset on responses (enable_x_ratelimit_headers DRAFT_VERSION_03). */
  rateLimitHeaders: boolean;
  /** The default bucket is consumed even when a descriptor matched (Envoy's default true). */
  alwaysConsumeDefaultTokenBucket: boolean;
  /** A limited gRPC request gets RESOURCE_EXHAUSTED instead of UNAVAILABLE. */
  rateLimitedAsResourceExhausted: boolean;
  scope: TokenBucketScope;
}

/** Envoy's RateLimit (a route's or virtual host's rate_limits entry): the actions that make one descriptor. */
export interface RateLimitPolicy {
  stage: number;
  actions: RateLimitAction[];
}

/** Envoy's RateLimit.Action: each adds one entry to the descriptor, or (no value) cancels the descriptor. */
export type RateLimitAction =
  | { requestHeaders: { headerName: string; descriptorKey: string; skipIfAbsent: boolean } }
  /** The trusted client address (`remote_address`). */
  | { remoteAddress: true }
  | { genericKey: { descriptorValue: string; descriptorKey: string } }
  | { headerValueMatch: { descriptorKey: string; descriptorValue: string; expectMatch: boolean; headers: HeaderMatcher[] } }
  | { destinationCluster: true }
  | { sourceCluster: true }
  /** The rate_limit_descriptors.expr extension: a CEL expression's value (skipIfError: the entry is left out instead). */
  | { expression: { descriptorKey: string; text: string; skipIfError: boolean } };
