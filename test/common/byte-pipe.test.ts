import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { IdleWatch, pipeBytes } from '../../src/common/byte-pipe.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('IdleWatch', () => {
  it('fires once nothing moved for the idle time; touch() postpones it; stop() cancels it', async () => {
    let fired = 0;
    const w = new IdleWatch(80, () => fired++);
    for (let i = 0; i < 4; i++) {
      await sleep(40);
      w.touch();
    }
    expect(fired).toBe(0); // 160 ms of traffic, never 80 ms quiet
    await sleep(130);
    expect(fired).toBe(1);
    const s = new IdleWatch(30, () => fired++);
    s.stop();
    await sleep(60);
    expect(fired).toBe(1);
  });
});

describe('pipeBytes', () => {
  it('pauses the source while the destination is full and resumes on drain, counting every byte', async () => {
    const from = new PassThrough();
    let release: (() => void) | undefined;
    // a destination that takes one chunk at a time, slowly
    const to = new Writable({
      highWaterMark: 4,
      write(_chunk, _enc, cb) {
        release = cb;
      },
    });
    let bytes = 0;
    let pauses = 0;
    let resumes = 0;
    pipeBytes(from as never, to as never, (n) => (bytes += n), { onPause: () => pauses++, onResume: () => resumes++ });
    from.write(Buffer.alloc(10));
    await sleep(10);
    expect(from.isPaused()).toBe(true);
    expect(pauses).toBe(1);
    release!();
    await sleep(10);
    expect(from.isPaused()).toBe(false);
    expect(resumes).toBe(1);
    expect(bytes).toBe(10);
  });
});
