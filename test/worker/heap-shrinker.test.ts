import { describe, expect, it } from 'vitest';
import { HeapShrinker, QUIET_LOOKS } from '../../src/worker/heap-shrinker.js';

const MiB = 1024 * 1024;

/** A worker whose heap, RSS and activity the test sets; a collection drops heap and RSS to `live` / `liveRss`. */
function fakeWorker(used = 20 * MiB, rss = 140 * MiB) {
  const w = {
    used,
    live: used,
    rss,
    liveRss: rss,
    activity: 0,
    collections: 0,
    probe: {
      usedBytes: () => w.used,
      rssBytes: () => w.rss,
      activity: () => w.activity,
      collect: async () => {
        w.collections++;
        w.used = w.live;
        w.rss = w.liveRss;
      },
    },
  };
  return w;
}

/** Looks at `s` until it has seen the worker quiet for the whole QUIET_LOOKS. */
async function quietSpell(s: HeapShrinker): Promise<void> {
  for (let i = 0; i < QUIET_LOOKS; i++) await s.check();
}

describe('HeapShrinker', () => {
  it('never collects while the worker is busy, however much memory grew', async () => {
    const w = fakeWorker();
    const s = new HeapShrinker(w.probe);
    for (let i = 1; i <= 5; i++) {
      w.activity += 100;
      w.used += 50 * MiB;
      w.rss += 50 * MiB;
      await s.check();
    }
    expect(w.collections).toBe(0);
  });

  it('collects once after a whole quiet spell when the RSS grew, then not again until memory grows anew', async () => {
    const w = fakeWorker(20 * MiB, 140 * MiB);
    const s = new HeapShrinker(w.probe);
    w.activity = 500;
    w.rss = 280 * MiB;
    await s.check(); // busy in the last interval
    expect(w.collections).toBe(0);
    w.liveRss = 150 * MiB;
    await quietSpell(s); // quiet: 280 > 140 + 16
    expect(w.collections).toBe(1);
    expect(w.rss).toBe(150 * MiB);
    await quietSpell(s);
    expect(w.collections).toBe(1);
    w.rss = 160 * MiB; // under the new floor (150) + 16 MiB
    await s.check();
    expect(w.collections).toBe(1);
    w.rss = 170 * MiB;
    await s.check(); // still quiet since the last collection
    expect(w.collections).toBe(2);
  });

  it('a quiet spell shorter than QUIET_LOOKS between bursts collects nothing: the code the traffic made stays compiled', async () => {
    const w = fakeWorker(20 * MiB, 140 * MiB);
    const s = new HeapShrinker(w.probe);
    w.used = 200 * MiB;
    w.rss = 400 * MiB;
    for (let burst = 0; burst < 5; burst++) {
      w.activity += 1_000;
      await s.check(); // the burst
      for (let i = 1; i < QUIET_LOOKS; i++) await s.check(); // then quiet for one look short of the spell
    }
    expect(w.collections).toBe(0);
    await s.check();
    expect(w.collections).toBe(1);
  });

  it('collectNow collects whatever the activity, and its result is the new floor', async () => {
    const w = fakeWorker(20 * MiB, 140 * MiB);
    const s = new HeapShrinker(w.probe);
    w.activity = 500;
    w.used = 90 * MiB;
    w.rss = 300 * MiB;
    w.live = 60 * MiB;
    w.liveRss = 200 * MiB;
    await s.collectNow();
    expect(w.collections).toBe(1);
    await s.check(); // quiet now, and nothing grew past the floors collectNow left
    expect(w.collections).toBe(1);
  });

  it('collects after a quiet spell when the heap grew, though the RSS did not', async () => {
    const w = fakeWorker(20 * MiB);
    const s = new HeapShrinker(w.probe);
    w.used = 27 * MiB;
    await quietSpell(s);
    expect(w.collections).toBe(0);
    w.used = 29 * MiB;
    await s.check();
    expect(w.collections).toBe(1);
  });

  it('floors follow V8 down: memory freed by V8 itself is not growth', async () => {
    const w = fakeWorker(60 * MiB, 300 * MiB);
    const s = new HeapShrinker(w.probe);
    w.used = 20 * MiB;
    w.rss = 150 * MiB;
    await s.check();
    w.used = 27 * MiB;
    w.rss = 160 * MiB;
    await quietSpell(s);
    expect(w.collections).toBe(0);
  });

  it('never asks for a second collection while one runs', async () => {
    let finish!: () => void;
    const w = fakeWorker(10 * MiB);
    w.probe.collect = () => {
      w.collections++;
      return new Promise<void>((r) => (finish = r));
    };
    const s = new HeapShrinker(w.probe);
    w.used = 200 * MiB;
    for (let i = 1; i < QUIET_LOOKS; i++) await s.check();
    const first = s.check();
    await s.check();
    expect(w.collections).toBe(1);
    finish();
    await first;
    expect(s.collections).toBe(1);
  });
});
