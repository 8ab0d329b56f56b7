import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { compileStreamTimeouts, DEFAULT_STREAM_IDLE_TIMEOUT_MS, StreamTimeoutSweeper, type StreamTimeoutKind, type TimedStream } from '../../src/http/stream-timeouts.js';
import type { HttpConnectionManager } from '../../src/config/snapshot.js';

function hcm(over: Partial<HttpConnectionManager>): HttpConnectionManager {
  return {
    statPrefix: 'p',
    routeConfigName: 'r',
    useRemoteAddress: false,
    stripEnvoyHeaders: false,
    maxRequestHeadersKb: 60,
    idleTimeoutMs: 3_600_000,
    acceptHttp10: false,
    httpFilters: [],
    ...over,
  };
}

/** A stream whose progress and request state the test moves by hand. */
class FakeStream implements TimedStream {
  progress = 0;
  requestDone = false;
  fired: { kind: StreamTimeoutKind; atMs: number }[] = [];
  constructor(private readonly startMs: number) {}
  streamProgress(): number {
    return this.progress;
  }
  requestTimeoutDisarmed(): boolean {
    return this.requestDone;
  }
  onStreamTimeout(kind: StreamTimeoutKind): void {
    this.fired.push({ kind, atMs: Date.now() - this.startMs });
  }
}

describe('compileStreamTimeouts', () => {
  it("absent stream_idle_timeout is Envoy's 5 min; every timeout off compiles to nothing", () => {
    expect(compileStreamTimeouts(hcm({}))).toMatchObject({ idleMs: DEFAULT_STREAM_IDLE_TIMEOUT_MS, requestMs: 0, maxDurationMs: 0, tickMs: 1_000 });
    expect(compileStreamTimeouts(hcm({ streamIdleTimeoutMs: 0 }))).toBeUndefined();
    expect(compileStreamTimeouts(hcm({ streamIdleTimeoutMs: 0, requestTimeoutMs: 0, maxStreamDurationMs: 0 }))).toBeUndefined();
  });

  it('ticks at an eighth of the shortest timeout, between 10 ms and 1 s', () => {
    expect(compileStreamTimeouts(hcm({ streamIdleTimeoutMs: 0, requestTimeoutMs: 2_000 }))?.tickMs).toBe(250);
    expect(compileStreamTimeouts(hcm({ streamIdleTimeoutMs: 40, maxStreamDurationMs: 10_000 }))?.tickMs).toBe(10);
  });
});

describe('StreamTimeoutSweeper', () => {
  let sweeper: StreamTimeoutSweeper;
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    sweeper = new StreamTimeoutSweeper();
  });
  afterEach(() => vi.useRealTimers());

  const config = (over: { idleMs?: number; requestMs?: number; maxDurationMs?: number }) =>
    compileStreamTimeouts(hcm({ streamIdleTimeoutMs: over.idleMs ?? 0, requestTimeoutMs: over.requestMs ?? 0, maxStreamDurationMs: over.maxDurationMs ?? 0 }))!;

  it('idle: fires after the timeout without progress, never before, at most two ticks late', () => {
    const s = new FakeStream(Date.now());
    sweeper.watch(s, config({ idleMs: 800 }), Date.now());
    vi.advanceTimersByTime(799);
    expect(s.fired).toEqual([]);
    vi.advanceTimersByTime(201);
    expect(s.fired).toHaveLength(1);
    expect(s.fired[0].kind).toBe('idle');
    expect(s.fired[0].atMs).toBeGreaterThanOrEqual(800);
    expect(sweeper.size).toBe(0);
  });

  it('idle: progress in either direction pushes the deadline back', () => {
    const s = new FakeStream(Date.now());
    sweeper.watch(s, config({ idleMs: 800 }), Date.now());
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(400);
      s.progress++;
    }
    expect(s.fired).toEqual([]);
    vi.advanceTimersByTime(1_200);
    expect(s.fired.map((f) => f.kind)).toEqual(['idle']);
    expect(s.fired[0].atMs).toBeGreaterThanOrEqual(4_000 + 800);
  });

  it('request_timeout: fires while the request is incomplete; disarmed once it is', () => {
    const slow = new FakeStream(Date.now());
    const done = new FakeStream(Date.now());
    sweeper.watch(slow, config({ requestMs: 1_000 }), Date.now());
    sweeper.watch(done, config({ requestMs: 1_000 }), Date.now());
    vi.advanceTimersByTime(500);
    done.requestDone = true;
    vi.advanceTimersByTime(1_000);
    expect(slow.fired.map((f) => f.kind)).toEqual(['request']);
    expect(done.fired).toEqual([]);
    expect(sweeper.size).toBe(1);
  });

  it('max_stream_duration: fires however busy the stream is; the earliest deadline wins', () => {
    const s = new FakeStream(Date.now());
    sweeper.watch(s, config({ idleMs: 5_000, requestMs: 3_000, maxDurationMs: 2_000 }), Date.now());
    for (let i = 0; i < 30; i++) {
      vi.advanceTimersByTime(100);
      s.progress++;
    }
    expect(s.fired.map((f) => f.kind)).toEqual(['max_duration']);
    expect(s.fired[0].atMs).toBeGreaterThanOrEqual(2_000);
  });

  it('an unwatched stream never fires, and the timer stops once nothing is watched', () => {
    const s = new FakeStream(Date.now());
    const w = sweeper.watch(s, config({ idleMs: 100 }), Date.now());
    sweeper.unwatch(w);
    vi.advanceTimersByTime(1_000);
    expect(s.fired).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('streams come and go in any order, also from inside a timeout callback; unwatching twice is harmless', () => {
    const start = Date.now();
    const streams = Array.from({ length: 5 }, () => new FakeStream(start));
    const watches = streams.map((s) => sweeper.watch(s, config({ idleMs: 100 }), start));
    // the first stream to time out (the newest) ends two others, as a connection closing would
    let once = false;
    for (const s of streams)
      s.onStreamTimeout = (kind) => {
        s.fired.push({ kind, atMs: Date.now() - start });
        if (once) return;
        once = true;
        sweeper.unwatch(watches[1]);
        sweeper.unwatch(watches[3]);
      };
    sweeper.unwatch(watches[2]);
    sweeper.unwatch(watches[2]);
    expect(sweeper.size).toBe(4);
    vi.advanceTimersByTime(1_000);
    expect(streams.map((s) => s.fired.length)).toEqual([1, 0, 0, 0, 1]);
    expect(sweeper.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a stream turned tunnel keeps its duration limit but not the idle timeout', () => {
    const s = new FakeStream(Date.now());
    const w = sweeper.watch(s, config({ idleMs: 100, maxDurationMs: 1_000 }), Date.now());
    w.idleArmed = false;
    vi.advanceTimersByTime(1_200);
    expect(s.fired.map((f) => f.kind)).toEqual(['max_duration']);
  });
});
