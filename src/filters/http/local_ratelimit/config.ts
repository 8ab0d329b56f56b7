/**
 * The filter's LocalRateLimit validated (a ConfigError names the bad field) and compiled with the
 * keys of its buckets. A key names where the config sits (the listener's filter, or the route or
 * virtual host of a per-route config), its stat prefix, the descriptor and the bucket's numbers:
 * the same in every worker and across reloads that keep the config, distinct for two filters or
 * two routes, and new when the bucket's numbers change (the bucket starts full again, as Envoy's
 * does when its config changes).
 */
import { LOCAL_RATELIMIT_FILTER, type LocalRateLimit, type LocalRateLimitDescriptor, type TokenBucket } from '../../../config/envoy/local-ratelimit.js';
import { Field } from '../../../config/reader.js';
import type { RateLimitDescriptor } from '../../../router/rate-limit-descriptors.js';

/** A bucket of the config: its key in a store and its numbers. */
export interface BucketRef {
  readonly key: string;
  readonly spec: TokenBucket;
}

/** A descriptor with an empty value: any value of that key matches, each value with its own bucket (Envoy's dynamic descriptors). */
export interface WildcardDescriptor {
  readonly entries: readonly { key: string; value: string }[];
  readonly spec: TokenBucket;
}

export interface CompiledLocalRateLimit {
  readonly config: LocalRateLimit;
  /** The local reply's status (Envoy: a code below 400 is 429). */
  readonly status: number;
  readonly defaultBucket: BucketRef | undefined;
  /** Descriptors without an empty value, by their entries (descriptorSignature). */
  readonly exact: ReadonlyMap<string, BucketRef>;
  readonly wildcards: readonly WildcardDescriptor[];
  /** The start of every bucket key of this config. */
  readonly keyPrefix: string;
}

const MAX_U32 = 0xffff_ffff;
/** Envoy's shortest fill interval. */
const MIN_FILL_INTERVAL_MS = 50;
/** Envoy's RateLimit stage is 0 to 10. */
const MAX_STAGE = 10;

const FIELDS = [
  'statPrefix', 'tokenBucket', 'enabledPercent', 'enforcedPercent', 'status', 'responseHeadersToAdd', 'requestHeadersToAddWhenNotEnforced',
  'descriptors', 'stage', 'rateLimitHeaders', 'alwaysConsumeDefaultTokenBucket', 'rateLimitedAsResourceExhausted', 'scope',
] as const;

/**
 * Validates a LocalRateLimit (the Snapshot's shape); fields the front ends always write default to
 * Envoy's defaults when absent. A per-route config needs a token bucket or descriptors (Envoy
 * requires the bucket, and its front ends refuse a per-route config without one; Outrigger's
 * LocalRateLimit resource limits by descriptors only).
 */
export function parseLocalRateLimit(raw: unknown, perRoute: boolean): LocalRateLimit {
  const f = new Field(raw, [], { kind: LOCAL_RATELIMIT_FILTER }).object(FIELDS);
  const tokenBucket = f.at('tokenBucket').present ? parseTokenBucket(f.at('tokenBucket')) : undefined;
  if (perRoute && !tokenBucket && !f.at('descriptors').optList().length) f.at('tokenBucket').fail('a per-route local rate limit needs a token bucket or descriptors');
  return {
    statPrefix: f.at('statPrefix').nonEmptyString(),
    ...(tokenBucket ? { tokenBucket } : {}),
    enabledPercent: percent(f.at('enabledPercent')),
    enforcedPercent: percent(f.at('enforcedPercent')),
    status: f.at('status').optInt(100, 599) ?? 429,
    responseHeadersToAdd: headersToAdd(f.at('responseHeadersToAdd')),
    requestHeadersToAddWhenNotEnforced: headersToAdd(f.at('requestHeadersToAddWhenNotEnforced')),
    descriptors: parseDescriptors(f.at('descriptors')),
    stage: f.at('stage').optInt(0, MAX_STAGE) ?? 0,
    rateLimitHeaders: f.at('rateLimitHeaders').optBool() ?? false,
    alwaysConsumeDefaultTokenBucket: f.at('alwaysConsumeDefaultTokenBucket').optBool() ?? true,
    rateLimitedAsResourceExhausted: f.at('rateLimitedAsResourceExhausted').optBool() ?? false,
    scope: f.at('scope').optOneOf(['shared', 'worker', 'connection'] as const) ?? 'shared',
  };
}

function parseTokenBucket(f: Field): TokenBucket {
  f.object(['maxTokens', 'tokensPerFill', 'fillIntervalMs']);
  return {
    maxTokens: f.at('maxTokens').int(1, MAX_U32),
    tokensPerFill: f.at('tokensPerFill').optInt(1, MAX_U32) ?? 1,
    fillIntervalMs: f.at('fillIntervalMs').int(MIN_FILL_INTERVAL_MS),
  };
}

/** Absent: 0, Envoy's default for filter_enabled and filter_enforced. */
function percent(f: Field): number {
  if (!f.present) return 0;
  const v = f.number();
  if (v < 0 || v > 100) f.fail(`must be between 0 and 100, got ${v}`);
  return v;
}

function headersToAdd(f: Field): LocalRateLimit['responseHeadersToAdd'] {
  return f.optList().map((h) => {
    h.object(['name', 'value', 'append']);
    return { name: h.at('name').nonEmptyString().toLowerCase(), value: h.at('value').string(), append: h.at('append').optBool() ?? false };
  });
}

function parseDescriptors(f: Field): LocalRateLimitDescriptor[] {
  const seen = new Set<string>();
  return f.optList().map((d) => {
    d.object(['entries', 'tokenBucket']);
    const list = d.at('entries').list();
    if (!list.length) d.at('entries').fail('a descriptor needs at least one entry');
    const entries = list.map((e) => {
      e.object(['key', 'value']);
      return { key: e.at('key').nonEmptyString(), value: e.at('value').optString() ?? '' };
    });
    const signature = descriptorSignature(entries);
    if (seen.has(signature)) d.fail('duplicate descriptor');
    seen.add(signature);
    return { entries, tokenBucket: parseTokenBucket(d.at('tokenBucket')) };
  });
}

/** A descriptor's entries as one string (NUL-free separators: header values hold no control characters). */
export function descriptorSignature(entries: RateLimitDescriptor): string {
  let s = '';
  for (const e of entries) s += `${e.key}\u0001${e.value}\u0002`;
  return s;
}

function specSignature(spec: TokenBucket): string {
  return `${spec.maxTokens}/${spec.tokensPerFill}/${spec.fillIntervalMs}`;
}

/** A bucket's key: the config's prefix, the descriptor ('' for the default bucket), the bucket's numbers. */
export function bucketKey(prefix: string, signature: string, spec: TokenBucket): string {
  return `${prefix}\u0003${signature}\u0003${specSignature(spec)}`;
}

/** Compiles a validated config; `where` names its place (filter or route), unique per config. */
export function compileLocalRateLimit(config: LocalRateLimit, where: string): CompiledLocalRateLimit {
  const keyPrefix = `${where}|${config.statPrefix}`;
  const exact = new Map<string, BucketRef>();
  const wildcards: WildcardDescriptor[] = [];
  for (const d of config.descriptors) {
    if (d.entries.some((e) => e.value === '')) {
      wildcards.push({ entries: d.entries, spec: d.tokenBucket });
      continue;
    }
    const signature = descriptorSignature(d.entries);
    exact.set(signature, { key: bucketKey(keyPrefix, signature, d.tokenBucket), spec: d.tokenBucket });
  }
  const t = config.tokenBucket;
  return {
    config,
    status: config.status < 400 ? 429 : config.status,
    defaultBucket: t ? { key: bucketKey(keyPrefix, '', t), spec: t } : undefined,
    exact,
    wildcards,
    keyPrefix,
  };
}
