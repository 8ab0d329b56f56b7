import type { Socket } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdleWatch, pipeBytes, relayBytes } from '../../src/common/byte-pipe.js';
import { loopbackPairs } from '../helpers/loopback-pairs.js';

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

// relayBytes on real loopback sockets: `inner` is the relay's end of a connection, `outer` its peer
describe('relayBytes', () => {
  let pairs: Awaited<ReturnType<typeof loopbackPairs>>;
  beforeAll(async () => {
    pairs = await loopbackPairs();
  });
  afterAll(() => pairs.close());

  /** A connection, with what the test's end got and saw. */
  async function pair(): Promise<{ inner: Socket; outer: Socket; got: () => string; ended: () => boolean; closed: () => boolean }> {
    const { inner, outer } = await pairs.pair();
    let data = '';
    let ended = false;
    let closed = false;
    outer.on('data', (b: Buffer) => (data += b.toString()));
    outer.on('end', () => (ended = true));
    outer.on('close', () => (closed = true));
    return { inner, outer, got: () => data, ended: () => ended, closed: () => closed };
  }

  async function until(ok: () => boolean, ms = 2_000, what = ok.toString()): Promise<void> {
    for (let t = 0; !ok() && t < ms; t += 10) await sleep(10);
    expect(ok(), what).toBe(true);
  }

  const counting = () => ({ aToB: { onBytes: () => {} }, bToA: { onBytes: () => {} }, idleTimeoutMs: 0 });

  it('a FIN read before the relay started: what the caller wrote first arrives, then the FIN; the other way stays open', async () => {
    const a = await pair();
    const b = await pair();
    a.outer.end(); // no byte: the 'end' event fires with nobody listening yet
    await until(() => a.inner.readableEnded);
    b.inner.write('read during detection');
    relayBytes(a.inner, b.inner, counting());
    await until(() => b.ended());
    expect(b.got()).toBe('read during detection');
    b.outer.end('reply after the FIN'); // half-close: the reply still reaches a
    await until(() => a.ended() && a.closed() && b.closed());
    expect(a.got()).toBe('reply after the FIN');
  });

  it('a side already closed (reset) before the relay started: the other is closed at once', async () => {
    const a = await pair();
    const b = await pair();
    a.outer.resetAndDestroy();
    await until(() => a.inner.closed);
    relayBytes(a.inner, b.inner, counting());
    await until(() => b.inner.destroyed && (b.ended() || b.closed()));
  });

  it('a reset destroys the other side without waiting for its pending writes; a clean close flushes them first (counted)', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 'z');
    // reset: a's peer does not read, so a holds pending bytes; b's reset must not wait for them
    const a = await pair();
    const b = await pair();
    a.outer.pause();
    a.inner.write(big);
    relayBytes(a.inner, b.inner, counting());
    await sleep(50);
    expect(a.inner.writableLength).toBeGreaterThan(0);
    b.outer.resetAndDestroy();
    await until(() => a.inner.destroyed);
    // clean close: both FINs crossed and c closed while bytes for d's peer (not reading yet) were queued; they still arrive
    const c = await pair();
    const d = await pair();
    let received = 0;
    d.outer.removeAllListeners('data');
    d.outer.on('data', (x: Buffer) => (received += x.length));
    d.outer.pause();
    d.inner.write(big);
    let flushes = 0;
    relayBytes(c.inner, d.inner, { ...counting(), aToB: { onBytes: () => {}, onFlushAfterClose: () => flushes++ } });
    c.outer.end();
    d.outer.end();
    await until(() => c.inner.closed);
    expect(flushes, 'c closed while bytes for d were queued').toBe(1);
    expect(d.inner.destroyed, 'd is flushing').toBe(false);
    d.outer.resume();
    await until(() => received === big.length && d.ended() && d.inner.destroyed, 5_000);
  });

  it('one-way (b not read): a FIN from a ends both of a relay whose b never speaks', async () => {
    const a = await pair();
    const b = await pair();
    relayBytes(a.inner, b.inner, { aToB: { onBytes: () => {} }, idleTimeoutMs: 0 });
    b.outer.write('ignored'); // not read: never reaches a
    a.outer.end('response');
    await until(() => b.ended() && a.ended());
    expect(b.got()).toBe('response');
    expect(a.got()).toBe('');
  });

  it('idle timeout: nothing moved for the idle time, both sides are destroyed', async () => {
    const a = await pair();
    const b = await pair();
    let idle = 0;
    relayBytes(a.inner, b.inner, { ...counting(), idleTimeoutMs: 100, onIdle: () => idle++ });
    await until(() => a.inner.destroyed && b.inner.destroyed);
    expect(idle).toBe(1);
  });
});
