/**
 * An LRU of tokens whose signature already verified, keyed by the token string (Envoy's jwt_cache_config,
 * which Istio does not set, so Envoy verifies every time; here it is on by default because an RS256
 * verification costs ~50 µs of CPU and a hit ~3 µs). An entry remembers which rule and which
 * key-set generation verified it: a JWKS refresh that changes the keys invalidates it. Time constraints,
 * issuer and audiences are re-checked on every hit, so an expired token is never accepted from the cache.
 */
import type { ParsedJwt } from './token.js';

export interface CachedToken {
  parsed: ParsedJwt;
  ruleIndex: number;
  generation: number;
}

export class VerifiedTokenCache {
  private readonly map = new Map<string, CachedToken>();
  hits = 0;
  misses = 0;

  constructor(readonly capacity: number) {}

  get(token: string): CachedToken | undefined {
    const e = this.map.get(token);
    if (!e) {
      this.misses++;
      return undefined;
    }
    this.map.delete(token);
    this.map.set(token, e);
    this.hits++;
    return e;
  }

  set(token: string, entry: CachedToken): void {
    if (this.capacity <= 0) return;
    this.map.delete(token);
    this.map.set(token, entry);
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as string);
  }

  delete(token: string): void {
    this.map.delete(token);
  }

  get size(): number {
    return this.map.size;
  }
}
