import { LOCAL_RATELIMIT_FILTER } from '../../../config/envoy/http-filters.js';
import type { LocalRateLimit, TokenBucket } from '../../../config/envoy/local-ratelimit.js';
import type { HttpFilterFactory } from '../../../http/filter.js';
import { LocalRateLimitStats } from '../../../telemetry/stats.js';
import { TokenBucketStores } from './bucket-stores.js';
import { compileLocalRateLimit, parseLocalRateLimit, type CompiledLocalRateLimit } from './config.js';
import { LocalRateLimitFilter, type LocalRateLimitShared } from './filter.js';

export const LOCAL_RATELIMIT_FILTER_NAME = LOCAL_RATELIMIT_FILTER;
export type { CompiledLocalRateLimit } from './config.js';

export interface LocalRateLimitOptions {
  /** filter_enabled / filter_enforced roll with it: a number in [0, 1) (Math.random). */
  random?: () => number;
}

/**
 * envoy.filters.http.local_ratelimit: token buckets per config (the connection manager's, or the
 * route's or virtual host's typed_per_filter_config, the most specific replacing the others),
 * descriptors from the route's rate_limits, 429 `local_rate_limited` (flag RL) when a bucket is
 * empty and the request is enforced, x-ratelimit headers, `<stat_prefix>.http_local_rate_limit.*`.
 * A config without a token bucket and without a descriptor the request matches lets it through.
 */
export function createLocalRateLimitFilter(options: LocalRateLimitOptions = {}): HttpFilterFactory<LocalRateLimit, CompiledLocalRateLimit> {
  const random = options.random ?? Math.random;
  return {
    name: LOCAL_RATELIMIT_FILTER_NAME,
    parse: (raw) => parseLocalRateLimit(raw, false),
    // without a place (a direct call), configs of equal stat prefix share buckets
    parsePerRoute: (raw, where) => compileLocalRateLimit(parseLocalRateLimit(raw, true), where ?? 'route'),
    create(cfg, ctx) {
      const byConfig = new WeakMap<CompiledLocalRateLimit, LocalRateLimitStats>();
      const shared: LocalRateLimitShared = {
        filterLevel: compileLocalRateLimit(cfg, `${ctx.listenerName}/${ctx.filterLocation ?? ''}`),
        // without the worker's stores (tests), this filter's own: they last as long as it
        buckets: ctx.tokenBuckets ?? new TokenBucketStores(),
        localServiceCluster: ctx.localServiceCluster,
        random,
        stats(c) {
          let s = byConfig.get(c);
          if (!s) byConfig.set(c, (s = ctx.localRateLimitStats?.(c.config.statPrefix) ?? new LocalRateLimitStats()));
          return s;
        },
      };
      shared.stats(shared.filterLevel); // its counters exist from the config's load, as Envoy's
      return (stream) => new LocalRateLimitFilter(stream, shared);
    },
    explain(cfg, stream) {
      const route = stream.perRouteConfig<CompiledLocalRateLimit>();
      const c = route?.config ?? cfg;
      const bucket = (b: TokenBucket) => `${b.maxTokens} tokens, ${b.tokensPerFill} back every ${b.fillIntervalMs} ms`;
      const notes = [
        `${route ? "the route's" : "the listener's"} limit (stat prefix ${c.statPrefix}, scope ${c.scope}): ${c.tokenBucket ? bucket(c.tokenBucket) : 'no default bucket'}`,
        ...c.descriptors.map((d) => `descriptor ${d.entries.map((e) => `${e.key}=${e.value || '*'}`).join(',')}: ${bucket(d.tokenBucket)}`),
        `enabled for ${c.enabledPercent}%, enforced for ${c.enforcedPercent}%: over the limit, ${c.enforcedPercent > 0 ? `${route?.status ?? c.status} (flag RL)` : 'only counted'}; explain takes no token`,
      ];
      return { notes };
    },
  };
}

export const localRateLimitFilter = createLocalRateLimitFilter();
