/**
 * Where a rule's keys come from: inline `jwks`, or `jwksUri` (or, with neither, OpenID discovery from the
 * issuer) fetched with the global `fetch`. Remote key sets follow what Istio does with them (istiod's
 * JwksResolver, which fetches the JWKS and inlines it into the proxy config):
 *
 * - fetched once up front (`start()`), then refreshed every 20 minutes (PILOT_JWT_PUB_KEY_REFRESH_INTERVAL);
 *   requests keep using the current keys while a refresh runs;
 * - each fetch is bounded by the rule's `timeout` (default 5s) and must answer 2xx with a JWKS that has
 *   a usable key;
 * - a failed refresh keeps the last good keys and retries after 1 minute, doubling up to 60 minutes
 *   (JwtPubKeyRefreshIntervalOnFailure, ...ResetThreshold); keys not refreshed for 7 days are dropped
 *   (JwtPubKeyEvictionDuration);
 * - fail closed: with no keys (first fetch failed, still failing, or dropped) every token of the rule is
 *   invalid (Istio inlines a fake JWKS then; here: "Jwks remote fetch is failed"). While there are no
 *   keys, fetches are retried after 1s doubling up to 60s, never once per request;
 * - beyond Istio/Envoy (which never refetch on an unknown `kid`): a token whose kid is not in the set
 *   triggers one refetch, at most once per `unknownKidRefetchIntervalMs` (30s) per source, so a key
 *   rotation is picked up before the next periodic refresh.
 */
import { JwksKeySet } from './keyset.js';
import { JwtStatus, type JwtStatusMessage } from './status.js';

export interface JwksFetchOptions {
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Clock in ms (Date.now by default). */
  now?: () => number;
  refreshIntervalMs?: number;
  /** First retry delay after a failure while keys exist, doubled per failure up to failureRetryMaxMs. */
  failureRetryMs?: number;
  failureRetryMaxMs?: number;
  /** Same while no keys exist (fail closed meanwhile). */
  noKeysRetryMs?: number;
  noKeysRetryMaxMs?: number;
  /** Keys not refreshed successfully for this long are dropped. */
  maxStaleMs?: number;
  unknownKidRefetchIntervalMs?: number;
  /** JWKS documents larger than this are refused. */
  maxBytes?: number;
  /** Called on fetch failures and recoveries (logging, stats). */
  onEvent?: (e: JwksEvent) => void;
}

export type JwksEvent =
  | { type: 'fetched'; uri: string; keys: number; skipped: readonly string[] }
  | { type: 'fetch-failed'; uri: string; error: string; keptPrevious: boolean };

const DEFAULTS = {
  refreshIntervalMs: 20 * 60_000,
  failureRetryMs: 60_000,
  failureRetryMaxMs: 60 * 60_000,
  noKeysRetryMs: 1000,
  noKeysRetryMaxMs: 60_000,
  maxStaleMs: 7 * 24 * 3600_000,
  unknownKidRefetchIntervalMs: 30_000,
  maxBytes: 1 << 20,
};

/** A source of keys for verification. */
export interface JwksSource {
  /** Current keys, waiting (bounded by the fetch timeout) only when none were ever fetched. */
  keys(): Promise<JwksKeySet | undefined> | JwksKeySet | undefined;
  /** Asks for fresh keys because a token named an unknown kid; resolves to the keys to retry with, or undefined. */
  refetchForUnknownKid(): Promise<JwksKeySet | undefined>;
  /** Bumped whenever the key set changes (verified-token cache entries die with it). */
  readonly generation: number;
  /** Why there are no keys (the status reason) when keys() gives none. */
  readonly failureStatus: JwtStatusMessage;
}

export class StaticJwks implements JwksSource {
  readonly generation = 0;
  readonly failureStatus: JwtStatusMessage = JwtStatus.JwksNoValidKeys;
  readonly set: JwksKeySet | undefined;
  readonly error?: string;

  constructor(text: string) {
    const parsed = JwksKeySet.parse(text);
    if (parsed instanceof JwksKeySet) {
      this.set = parsed;
      // in the background, from config time: the first request finds the keys (and jose) loaded
      void parsed.warm();
    } else this.error = parsed.error;
  }

  keys(): JwksKeySet | undefined {
    return this.set;
  }

  async refetchForUnknownKid(): Promise<JwksKeySet | undefined> {
    return undefined;
  }
}

export type RemoteTarget = { jwksUri: string } | { issuer: string };

export class RemoteJwks implements JwksSource {
  private current: JwksKeySet | undefined;
  private fetchedAt = -Infinity;
  private nextAttemptAt = -Infinity;
  private failures = 0;
  private lastUnknownKidFetch = -Infinity;
  private inflight: Promise<void> | undefined;
  private resolvedUri: string | undefined;
  private _generation = 0;
  /** Fetches started (for tests and stats). */
  fetches = 0;
  lastError: string | undefined;
  private readonly o: Required<Omit<JwksFetchOptions, 'fetch' | 'now' | 'onEvent'>>;
  private readonly fetchImpl: typeof fetch;
  private readonly now: () => number;

  constructor(
    readonly target: RemoteTarget,
    readonly timeoutMs: number,
    private readonly opts: JwksFetchOptions = {},
  ) {
    this.o = { ...DEFAULTS, ...stripUndefined(opts) } as Required<Omit<JwksFetchOptions, 'fetch' | 'now' | 'onEvent'>>;
    this.fetchImpl = opts.fetch ?? globalThis.fetch;
    this.now = opts.now ?? Date.now;
    if ('jwksUri' in target) this.resolvedUri = target.jwksUri;
  }

  get generation(): number {
    return this._generation;
  }

  get failureStatus(): JwtStatusMessage {
    return JwtStatus.JwksFetchFail;
  }

  get description(): string {
    return 'jwksUri' in this.target ? this.target.jwksUri : `OpenID discovery of ${this.target.issuer}`;
  }

  /** Starts the first fetch without waiting for it (Envoy's async_fetch, Istio's fetch at push time). */
  start(): void {
    if (!this.current && !this.inflight) void this.refresh();
  }

  keys(): Promise<JwksKeySet | undefined> | JwksKeySet | undefined {
    const now = this.now();
    if (this.current && now - this.fetchedAt > this.o.maxStaleMs) this.current = undefined;
    if (this.current) {
      if (now - this.fetchedAt >= this.o.refreshIntervalMs && !this.inflight && now >= this.nextAttemptAt) void this.refresh();
      return this.current; // stale-while-revalidate: the hot path never waits once keys exist
    }
    if (this.inflight) return this.inflight.then(() => this.current);
    if (now < this.nextAttemptAt) return undefined; // failing: fail closed until the next retry
    return this.refresh().then(() => this.current);
  }

  async refetchForUnknownKid(): Promise<JwksKeySet | undefined> {
    const now = this.now();
    if (this.inflight) {
      await this.inflight;
      return this.current;
    }
    if (now - this.lastUnknownKidFetch < this.o.unknownKidRefetchIntervalMs) return undefined;
    if (!this.current && now < this.nextAttemptAt) return undefined;
    this.lastUnknownKidFetch = now;
    await this.refresh();
    return this.current;
  }

  /** Resolves when no fetch is running (without starting one). */
  idle(): Promise<void> {
    return this.inflight ?? Promise.resolve();
  }

  /** Fetches now (one at a time); resolves when done, never rejects. */
  refresh(): Promise<void> {
    if (!this.inflight) {
      this.inflight = this.fetchOnce().finally(() => {
        this.inflight = undefined;
      });
    }
    return this.inflight;
  }

  private async fetchOnce(): Promise<void> {
    this.fetches++;
    const signal = AbortSignal.timeout(this.timeoutMs);
    let uri = this.resolvedUri ?? '';
    try {
      if (!this.resolvedUri) {
        const issuer = (this.target as { issuer: string }).issuer.replace(/\/$/, '');
        const doc = JSON.parse(await this.get(`${issuer}/.well-known/openid-configuration`, signal)) as Record<string, unknown>;
        if (typeof doc?.jwks_uri !== 'string') throw new Error('OpenID discovery document has no jwks_uri');
        uri = doc.jwks_uri;
      }
      const text = await this.get(uri, signal);
      const parsed = JwksKeySet.parse(text);
      if (!(parsed instanceof JwksKeySet)) throw new Error(parsed.error);
      await parsed.warm();
      if ('issuer' in this.target) this.resolvedUri = uri;
      this.current = parsed;
      this.fetchedAt = this.now();
      this.failures = 0;
      this.nextAttemptAt = -Infinity;
      this.lastError = undefined;
      this._generation++;
      this.opts.onEvent?.({ type: 'fetched', uri, keys: parsed.size, skipped: parsed.skipped });
    } catch (e) {
      const err = e as Error;
      this.lastError = err.name === 'TimeoutError' || err.name === 'AbortError' ? `timed out after ${this.timeoutMs}ms` : err.message;
      this.failures++;
      const [base, max] = this.current ? [this.o.failureRetryMs, this.o.failureRetryMaxMs] : [this.o.noKeysRetryMs, this.o.noKeysRetryMaxMs];
      this.nextAttemptAt = this.now() + Math.min(base * 2 ** (this.failures - 1), max);
      if ('issuer' in this.target) this.resolvedUri = undefined;
      this.opts.onEvent?.({ type: 'fetch-failed', uri: uri || this.description, error: this.lastError, keptPrevious: !!this.current });
    }
  }

  private async get(uri: string, signal: AbortSignal): Promise<string> {
    const res = await this.fetchImpl(uri, { signal, headers: { accept: 'application/json' }, redirect: 'follow' });
    if (res.status < 200 || res.status >= 300) {
      await res.body?.cancel().catch(() => undefined);
      throw new Error(`${uri} answered ${res.status}`);
    }
    const len = Number(res.headers.get('content-length') ?? 0);
    if (len > this.o.maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw new Error(`${uri}: document larger than ${this.o.maxBytes} bytes`);
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of res.body ?? []) {
      size += chunk.byteLength;
      if (size > this.o.maxBytes) {
        await res.body?.cancel().catch(() => undefined);
        throw new Error(`${uri}: document larger than ${this.o.maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }
}

/**
 * Remote key sets shared by URI, so several rules (and successive authenticators across config reloads)
 * fetch a JWKS once. Keyed by the URI (or issuer, for discovery) and the timeout.
 */
export class JwksCache {
  private readonly sources = new Map<string, RemoteJwks>();

  constructor(readonly options: JwksFetchOptions = {}) {}

  get(target: RemoteTarget, timeoutMs: number): RemoteJwks {
    const key = `${'jwksUri' in target ? `uri:${target.jwksUri}` : `iss:${target.issuer}`}|${timeoutMs}`;
    let s = this.sources.get(key);
    if (!s) {
      s = new RemoteJwks(target, timeoutMs, this.options);
      this.sources.set(key, s);
    }
    return s;
  }

  /** Forgets sources not in `keep` (after a config change). */
  retain(keep: Iterable<RemoteJwks>): void {
    const live = new Set(keep);
    for (const [k, s] of this.sources) if (!live.has(s)) this.sources.delete(k);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
