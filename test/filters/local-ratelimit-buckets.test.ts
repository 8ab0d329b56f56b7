// The local rate limit's token buckets: Envoy's fill rule (start full, tokensPerFill back every
// fillIntervalMs, up to maxTokens) on a fake clock; the table all workers share, as two views of
// one SharedArrayBuffer (two workers in one thread) and as real worker threads consuming one bucket
// at once (never more than its tokens admitted); a full table falling back to per-worker buckets
// with one warning; keys never sharing a bucket even when they start at the same slot; the stores
// by scope (a worker's, one per connection).
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TokenBucket } from '../../src/config/envoy/local-ratelimit.js';
import { SharedBucketStore, TokenBucketStores, WorkerBucketStore } from '../../src/filters/http/local_ratelimit/bucket-stores.js';
import { SharedTokenBuckets } from '../../src/filters/http/local_ratelimit/shared-buckets.js';
import { LocalTokenBucket, type RateLimitBucket } from '../../src/filters/http/local_ratelimit/token-bucket.js';
import { log } from '../../src/telemetry/log.js';

const SPEC: TokenBucket = { maxTokens: 4, tokensPerFill: 2, fillIntervalMs: 1000 };

function clock(start = 1_000_000) {
  const c = { t: start, now: () => c.t };
  return c;
}

function drain(b: RateLimitBucket, limit = 100): number {
  let n = 0;
  while (n < limit && b.consume()) n++;
  return n;
}

afterEach(() => vi.restoreAllMocks());

describe.each([
  ['a worker bucket', (spec: TokenBucket, now: () => number) => new LocalTokenBucket(spec, now)],
  ['a shared bucket', (spec: TokenBucket, now: () => number) => new SharedTokenBuckets(SharedTokenBuckets.create(8), now).bucket('k', spec)!],
])('%s', (_name, make) => {
  it('starts full, refills tokensPerFill at each interval from its start, never past maxTokens', () => {
    const c = clock();
    const b = make(SPEC, c.now);
    expect(b.remaining()).toBe(4);
    expect(drain(b)).toBe(4);
    expect(b.remaining()).toBe(0);
    c.t += 999;
    expect(b.consume()).toBe(false);
    expect(b.resetSeconds()).toBe(1);
    c.t += 1; // the first fill
    expect(b.remaining()).toBe(2);
    expect(drain(b)).toBe(2);
    c.t += 2500; // two more fills, 500 ms into the next interval
    expect(b.remaining()).toBe(4);
    expect(b.resetSeconds()).toBe(1);
    c.t += 10_000; // many fills: still maxTokens
    expect(drain(b)).toBe(4);
  });

  it('x-ratelimit-reset: whole seconds to the next fill, rounded up', () => {
    const c = clock();
    const b = make({ maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 60_000 }, c.now);
    expect(b.resetSeconds()).toBe(60);
    c.t += 10_500;
    expect(b.resetSeconds()).toBe(50);
    c.t += 49_000;
    expect(b.resetSeconds()).toBe(1);
  });

  it('a clock that goes back fills nothing', () => {
    const c = clock();
    const b = make(SPEC, c.now);
    c.t += 1000;
    expect(drain(b)).toBe(4);
    c.t -= 5000;
    expect(b.consume()).toBe(false);
    c.t += 6000;
    expect(b.remaining()).toBe(2);
  });
});

describe('SharedTokenBuckets', () => {
  it('two workers’ views of one table share one bucket exactly: 4 tokens, 4 requests in all, interleaved', () => {
    const c = clock();
    const init = SharedTokenBuckets.create(16);
    const a = new SharedTokenBuckets(init, c.now).bucket('listener/chain/httpFilters[0]|rl', SPEC)!;
    const b = new SharedTokenBuckets(init, c.now).bucket('listener/chain/httpFilters[0]|rl', SPEC)!;
    const results = [a.consume(), b.consume(), b.consume(), a.consume(), a.consume(), b.consume()];
    expect(results).toEqual([true, true, true, true, false, false]);
    expect(a.remaining()).toBe(0);
    expect(b.remaining()).toBe(0);
    // one fill, seen by both; the start time is the first user's
    c.t += 1000;
    expect([b.consume(), a.consume(), b.consume()]).toEqual([true, true, false]);
    expect(new SharedTokenBuckets(init).used()).toBe(1);
  });

  it('the bucket a later worker attaches to keeps the first one’s start and count', () => {
    const c = clock();
    const init = SharedTokenBuckets.create(16);
    const first = new SharedTokenBuckets(init, c.now).bucket('k', SPEC)!;
    expect(drain(first)).toBe(4);
    c.t += 1500; // one fill since the first user's start
    const later = new SharedTokenBuckets(init, c.now).bucket('k', SPEC)!;
    expect(later.remaining()).toBe(2);
    expect(later.resetSeconds()).toBe(1);
  });

  it('real worker threads consuming one bucket at once never admit more than its tokens', async () => {
    const init = SharedTokenBuckets.create(64);
    const tokens = 2000;
    const attemptsEach = 5000;
    const threads = 4;
    const gate = new Int32Array(new SharedArrayBuffer(4));
    const url = new URL('../../src/filters/http/local_ratelimit/shared-buckets.ts', import.meta.url).href;
    // eval'd workers are CommonJS; the TypeScript module comes in through import(), its `.js`
    // specifiers resolved to the `.ts` sources (node strips the types)
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      require('node:module').registerHooks({
        resolve(spec, ctx, next) {
          try { return next(spec, ctx); } catch (e) { if (spec.endsWith('.js')) return next(spec.slice(0, -3) + '.ts', ctx); throw e; }
        },
      });
      import(workerData.url).then((m) => {
        const bucket = new m.SharedTokenBuckets(workerData.init).bucket('hammered', workerData.spec);
        parentPort.postMessage('ready');
        Atomics.wait(workerData.gate, 0, 0, 10000);
        let admitted = 0;
        for (let i = 0; i < workerData.attempts; i++) if (bucket.consume()) admitted++;
        parentPort.postMessage({ admitted });
      }, (e) => parentPort.postMessage({ error: String(e) }));`;
    const spec: TokenBucket = { maxTokens: tokens, tokensPerFill: 1, fillIntervalMs: 3_600_000 };
    const workers = Array.from({ length: threads }, () => new Worker(code, { eval: true, workerData: { url, init, spec, gate, attempts: attemptsEach } }));
    try {
      const ready = workers.map((w) => new Promise<void>((resolve, reject) => {
        w.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(JSON.stringify(m)))));
        w.once('error', reject);
      }));
      await Promise.all(ready);
      const done = workers.map((w) => new Promise<{ admitted: number; error?: string }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      }));
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
      const results = await Promise.all(done);
      expect(results.map((r) => r.error)).toEqual(results.map(() => undefined));
      const admitted = results.reduce((n, r) => n + r.admitted, 0);
      expect(admitted).toBe(tokens);
      expect(new SharedTokenBuckets(init).bucket('hammered', spec)!.remaining()).toBe(0);
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  }, 30_000);

  it('a full table answers undefined; the store falls back to the worker’s own bucket and warns once', () => {
    const c = clock();
    const table = new SharedTokenBuckets(SharedTokenBuckets.create(2), c.now);
    expect(table.bucket('a', SPEC)).toBeDefined();
    expect(table.bucket('b', SPEC)).toBeDefined();
    expect(table.bucket('c', SPEC)).toBeUndefined();
    expect(table.bucket('a', SPEC)).toBeDefined(); // a key already in still finds its slot
    const warn = vi.spyOn(log, 'warn').mockImplementation(() => {});
    const store = new SharedBucketStore(table, c.now);
    const overflow = store.bucket('c', SPEC);
    expect(drain(overflow)).toBe(4);
    expect(store.bucket('c', SPEC)).toBe(overflow); // the same worker bucket, not a new full one
    expect(drain(store.bucket('d', SPEC))).toBe(4);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0][0]).toMatch(/shared token bucket table \(2 slots\)/);
  });

  it('keys that start at the same slot never share a bucket', () => {
    const slots = 8;
    // same home slot (hash modulo 8), different 64-bit identities
    const hashes: Record<string, bigint> = { a: 3n, b: 3n + 8n, c: 3n + 16n };
    const table = new SharedTokenBuckets(SharedTokenBuckets.create(slots), Date.now, (k) => hashes[k]);
    const [a, b, c] = ['a', 'b', 'c'].map((k) => table.bucket(k, SPEC)!);
    expect(drain(a)).toBe(4);
    expect(b.remaining()).toBe(4);
    expect(drain(c, 1)).toBe(1);
    expect(b.remaining()).toBe(4);
    expect(table.bucket('b', SPEC)!.remaining()).toBe(4);
    expect(table.bucket('c', SPEC)!.remaining()).toBe(3);
    expect(table.used()).toBe(3);
  });

  it('many real keys in a small table: each its own bucket (xxHash64)', () => {
    const table = new SharedTokenBuckets(SharedTokenBuckets.create(64));
    const keys = Array.from({ length: 40 }, (_, i) => `l/chain/httpFilters[0]|rl\u0003remote_address\u000110.0.0.${i}\u0002`);
    for (const k of keys) expect(table.bucket(k, SPEC)!.consume()).toBe(true);
    for (const k of keys) expect(table.bucket(k, SPEC)!.remaining()).toBe(3);
    expect(table.used()).toBe(40);
  });
});

describe('bucket stores', () => {
  it('a worker store keeps a bucket per key, the least recently used dropped past its capacity', () => {
    const c = clock();
    const store = new WorkerBucketStore(c.now, 2);
    const a = store.bucket('a', SPEC);
    drain(a);
    store.bucket('b', SPEC);
    expect(store.bucket('a', SPEC)).toBe(a); // a used last now
    store.bucket('c', SPEC); // b dropped
    expect(store.size).toBe(2);
    expect(store.bucket('a', SPEC)).toBe(a);
    expect(store.bucket('b', SPEC).remaining()).toBe(4);
  });

  it('per scope: shared (the table), worker, and one store per connection', () => {
    const c = clock();
    const table = new SharedTokenBuckets(SharedTokenBuckets.create(8), c.now);
    const stores = new TokenBucketStores(table, c.now);
    const conn1 = {};
    const conn2 = {};
    expect(stores.store('shared', conn1)).toBe(stores.shared);
    expect(stores.store('worker', conn1)).toBe(stores.worker);
    expect(stores.store('connection', conn1)).toBe(stores.store('connection', conn1));
    expect(stores.store('connection', conn1)).not.toBe(stores.store('connection', conn2));
    drain(stores.store('connection', conn1).bucket('k', SPEC));
    expect(stores.store('connection', conn2).bucket('k', SPEC).remaining()).toBe(4);
    drain(stores.shared.bucket('k', SPEC));
    expect(table.bucket('k', SPEC)!.remaining()).toBe(0);
    expect(stores.worker.bucket('k', SPEC).remaining()).toBe(4);
    // no table: the shared scope is the worker's
    const alone = new TokenBucketStores(undefined, c.now);
    expect(alone.shared).toBe(alone.worker);
  });
});
