import type { LocalRateLimit } from '../../src/config/envoy/local-ratelimit.js';

/** A LocalRateLimit as the decoders write one: Envoy's defaults, enabled and enforced for every request, no bucket. */
export function localRateLimit(over: Partial<LocalRateLimit> = {}): LocalRateLimit {
  return {
    statPrefix: 'http_local_rate_limiter',
    enabledPercent: 100,
    enforcedPercent: 100,
    status: 429,
    responseHeadersToAdd: [],
    requestHeadersToAddWhenNotEnforced: [],
    descriptors: [],
    stage: 0,
    rateLimitHeaders: false,
    alwaysConsumeDefaultTokenBucket: true,
    rateLimitedAsResourceExhausted: false,
    scope: 'shared',
    ...over,
  };
}

/** The config of Istio's local rate limit task (snip_local_rate_limit_2): 4 requests a minute, x-local-rate-limit on 429s. */
export const ISTIO_TASK_LIMIT: LocalRateLimit = localRateLimit({
  tokenBucket: { maxTokens: 4, tokensPerFill: 4, fillIntervalMs: 60_000 },
  responseHeadersToAdd: [{ name: 'x-local-rate-limit', value: 'true', append: false }],
});
