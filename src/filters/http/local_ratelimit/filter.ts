/**
 * The per-request filter (Envoy's LocalRateLimitFilter::Filter): on the request headers, the most
 * specific config (the route's or its virtual host's, else the listener's) decides; on the response
 * headers, the x-ratelimit headers of the bucket that decided.
 */
import type { LocalRateLimit } from '../../../config/envoy/local-ratelimit.js';
import {
  FilterStatus, type FilterCallbacks, type FilterHeadersStatus, type HttpFilter, type RequestHeaders, type ResponseHeaders,
} from '../../../http/filter.js';
import { ResponseFlag } from '../../../http/response-flags.js';
import type { CompiledRoute } from '../../../router/route-table.js';
import type { DescriptorSource, RateLimitDescriptor } from '../../../router/rate-limit-descriptors.js';
import type { LocalRateLimitStats } from '../../../telemetry/stats.js';
import type { TokenBucketStores } from './bucket-stores.js';
import type { CompiledLocalRateLimit } from './config.js';
import { requestAllowed } from './limiter.js';
import { RequestDescriptorSource } from './request-context.js';
import type { RateLimitBucket } from './token-bucket.js';

/** Envoy's body and response code details of a limited request. */
export const LOCAL_RATE_LIMITED = 'local_rate_limited';
const RESOURCE_EXHAUSTED = 8;
const NO_DESCRIPTORS: readonly RateLimitDescriptor[] = [];

/** What every stream of one filter (one connection manager's entry, in one Runtime) shares. */
export interface LocalRateLimitShared {
  /** The config on the connection manager: used where the route has none of its own. */
  readonly filterLevel: CompiledLocalRateLimit;
  readonly buckets: TokenBucketStores;
  readonly localServiceCluster: string | undefined;
  /** A number in [0, 1): filter_enabled and filter_enforced roll with it. */
  readonly random: () => number;
  stats(cfg: CompiledLocalRateLimit): LocalRateLimitStats;
}

export class LocalRateLimitFilter implements HttpFilter {
  /** The bucket the x-ratelimit headers describe, when the config asks for them. */
  private reported: RateLimitBucket | undefined;

  constructor(
    private readonly stream: FilterCallbacks,
    private readonly shared: LocalRateLimitShared,
  ) {}

  decodeHeaders(headers: RequestHeaders): FilterHeadersStatus {
    const { stream, shared } = this;
    const cfg = stream.perRouteConfig<CompiledLocalRateLimit>() ?? shared.filterLevel;
    const c = cfg.config;
    if (!roll(c.enabledPercent, shared.random)) return FilterStatus.Continue;
    const stats = shared.stats(cfg);
    stats.enabled++;
    const descriptors = hasDescriptors(cfg) ? routeDescriptors(stream.route, c.stage, new RequestDescriptorSource(headers, stream, shared.localServiceCluster)) : NO_DESCRIPTORS;
    const store = shared.buckets.store(c.scope, stream.connection.downstreamConnection ?? stream.connection);
    const decision = requestAllowed(cfg, descriptors, store);
    if (c.rateLimitHeaders) this.reported = decision.bucket;
    if (decision.allowed) {
      stats.ok++;
      return FilterStatus.Continue;
    }
    stats.rateLimited++;
    if (!roll(c.enforcedPercent, shared.random)) {
      for (const h of c.requestHeadersToAddWhenNotEnforced) {
        if (h.append) headers.add(h.name, h.value);
        else headers.set(h.name, h.value);
      }
      return FilterStatus.Continue;
    }
    stats.enforced++;
    stream.streamInfo.responseCodeDetails = LOCAL_RATE_LIMITED;
    const grpcStatus = c.rateLimitedAsResourceExhausted ? RESOURCE_EXHAUSTED : undefined;
    stream.sendLocalReply(cfg.status, LOCAL_RATE_LIMITED, ResponseFlag.RateLimited, responseHeaders(c), grpcStatus);
    return FilterStatus.StopIteration;
  }

  /** The local reply of a limited request comes through here too (Envoy adds the headers to it as well). */
  encodeHeaders(headers: ResponseHeaders): FilterHeadersStatus {
    const b = this.reported;
    if (b) {
      headers.add('x-ratelimit-limit', String(b.spec.maxTokens));
      headers.add('x-ratelimit-remaining', String(b.remaining()));
      headers.add('x-ratelimit-reset', String(b.resetSeconds()));
    }
    return FilterStatus.Continue;
  }
}

/** 100: always; 0: never; else that percentage of rolls. */
function roll(percent: number, random: () => number): boolean {
  if (percent >= 100) return true;
  if (percent <= 0) return false;
  return random() * 100 < percent;
}

/** Envoy reads the route's rate_limits only for a config with descriptors. */
function hasDescriptors(cfg: CompiledLocalRateLimit): boolean {
  return cfg.exact.size > 0 || cfg.wildcards.length > 0;
}

/**
 * The descriptors of the route's rate_limits of this stage, in order. Envoy's vh_rate_limits
 * OVERRIDE (its default, and the only choice LocalRateLimit carries): the virtual host's apply only
 * when the route has none of its own.
 */
function routeDescriptors(route: CompiledRoute | undefined, stage: number, src: DescriptorSource): readonly RateLimitDescriptor[] {
  const policies = route?.rateLimits ?? route?.virtualHostRateLimits;
  if (!policies) return NO_DESCRIPTORS;
  const out: RateLimitDescriptor[] = [];
  for (const p of policies) {
    if (p.stage !== stage) continue;
    const d = p.descriptor(src);
    if (d) out.push(d);
  }
  return out;
}

/** response_headers_to_add as the local reply's extra headers. */
function responseHeaders(c: LocalRateLimit): string[] | undefined {
  if (!c.responseHeadersToAdd.length) return undefined;
  const out: string[] = [];
  for (const h of c.responseHeadersToAdd) out.push(h.name, h.value);
  return out;
}
