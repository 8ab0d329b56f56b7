import { describe, expect, it } from 'vitest';
import type { BodySink, BodySource } from '../../src/codec/body.js';
import { PrefetchedBody } from '../../src/codec/prefetched-body.js';

/** A body source driven by the test, recording pauses as a real codec would honour them. */
function fakeSource() {
  let sink: BodySink | undefined;
  const src = {
    paused: false,
    length: -1,
    start(s: BodySink) {
      sink = s;
    },
    pause() {
      src.paused = true;
    },
    resume() {
      src.paused = false;
    },
    detach() {},
    push(b: string) {
      if (!sink!.onBodyData(Buffer.from(b))) src.paused = true;
    },
    end() {
      sink!.onBodyEnd(undefined);
    },
  };
  return src as typeof src & BodySource;
}

function collector(): BodySink & { got: string; ended: boolean } {
  const c = {
    got: '',
    ended: false,
    onBodyData(b: Buffer) {
      c.got += b.toString();
      return true;
    },
    onBodyEnd() {
      c.ended = true;
    },
    onBodyError() {},
  };
  return c;
}

describe('PrefetchedBody', () => {
  it('a body that ends before the limit: complete; the router gets all of it', async () => {
    const src = fakeSource();
    const p = new PrefetchedBody(src);
    const ahead = p.prefetch(10);
    src.push('abc');
    src.push('de');
    src.end();
    expect(await ahead).toEqual({ data: Buffer.from('abcde'), complete: true });
    const c = collector();
    p.start(c);
    expect(c).toMatchObject({ got: 'abcde', ended: true });
  });

  it('the limit reached: the source stays paused until the router starts, then the rest flows live', async () => {
    const src = fakeSource();
    const p = new PrefetchedBody(src);
    const ahead = p.prefetch(4);
    src.push('ab');
    src.push('cdef');
    expect(await ahead).toEqual({ data: Buffer.from('abcdef'), complete: false });
    expect(src.paused).toBe(true);
    const c = collector();
    p.start(c);
    expect(src.paused).toBe(false);
    src.push('gh');
    src.end();
    expect(c).toMatchObject({ got: 'abcdefgh', ended: true });
  });
});
