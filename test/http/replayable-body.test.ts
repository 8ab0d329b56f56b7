// ReplayableBody: the request body as retries see it. Each attempt gets what arrived so far, then
// the live rest; past the limit the body stops being replayable but keeps streaming to the attempt
// that has it; flow control (pause/resume) belongs to the current attempt only; end, trailers and
// errors reach whichever attempt is current, and later attempts on replay.
import { describe, expect, it, vi } from 'vitest';
import type { BodySink, BodySource } from '../../src/codec/body.js';
import { ReplayableBody } from '../../src/http/replayable-body.js';

/** The downstream body: records what the replay buffer asks of it; the test pushes data through `sink`. */
class FakeSource implements BodySource {
  sink: BodySink | undefined;
  starts = 0;
  pauses = 0;
  resumes = 0;
  paused = false;
  detached = false;
  constructor(readonly length = -1) {}
  start(sink: BodySink): void {
    this.starts++;
    this.sink = sink;
  }
  pause(): void {
    this.pauses++;
    this.paused = true;
  }
  resume(): void {
    this.resumes++;
    this.paused = false;
  }
  detach(): void {
    this.detached = true;
  }
  /** Delivers a chunk as the codec would; returns what the sink said. */
  push(s: string | Buffer): boolean {
    return this.sink!.onBodyData(typeof s === 'string' ? Buffer.from(s) : s);
  }
}

/** An upstream connection consuming one attempt's body. */
class RecordingSink implements BodySink {
  chunks: Buffer[] = [];
  ended = false;
  trailers: string[] | undefined;
  error: Error | undefined;
  /** What onBodyData answers (false = "I am full"). */
  accept = true;
  onBodyData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return this.accept;
  }
  onBodyEnd(trailers: string[] | undefined): void {
    this.ended = true;
    this.trailers = trailers;
  }
  onBodyError(err: Error): void {
    this.error = err;
  }
  get text(): string {
    return Buffer.concat(this.chunks).toString();
  }
  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
}

function setup(limit = 1024, onComplete?: () => void) {
  const source = new FakeSource(11);
  const body = new ReplayableBody(source, limit, onComplete);
  return { source, body };
}

describe('ReplayableBody', () => {
  it('the first attempt streams the body live; the downstream source is started once, by the first attempt', () => {
    const { source, body } = setup();
    const a1 = body.forAttempt();
    expect(source.starts).toBe(0); // nothing happens until the attempt's connection wants the body
    const s1 = new RecordingSink();
    a1.start(s1);
    expect(source.starts).toBe(1);
    source.push('hello ');
    source.push('world');
    expect(s1.text).toBe('hello world');
    source.sink!.onBodyEnd(undefined);
    expect(s1.ended).toBe(true);
  });

  it('length is the downstream body length (content-length or -1)', () => {
    const { body } = setup();
    expect(body.length).toBe(11);
    expect(body.forAttempt().length).toBe(11);
  });

  it('a second attempt after the body ended gets the whole body replayed, then the end, without restarting the source', () => {
    const { source, body } = setup();
    const s1 = new RecordingSink();
    body.forAttempt().start(s1);
    source.push('hello ');
    source.push('world');
    source.sink!.onBodyEnd(['x-trailer', 'v']);
    const s2 = new RecordingSink();
    body.forAttempt().start(s2);
    expect(s2.text).toBe('hello world');
    expect(s2.ended).toBe(true);
    expect(s2.trailers).toEqual(['x-trailer', 'v']);
    expect(source.starts).toBe(1);
    // and a third one too
    const s3 = new RecordingSink();
    body.forAttempt().start(s3);
    expect(s3.text).toBe('hello world');
    expect(s3.ended).toBe(true);
  });

  it('a retry in the middle of the body: the new attempt gets what arrived so far, then the live rest; the old one gets nothing more', () => {
    const { source, body } = setup();
    const s1 = new RecordingSink();
    body.forAttempt().start(s1);
    source.push('hel');
    const a2 = body.forAttempt();
    source.push('lo '); // arrives before the retry's connection is ready: buffered for it
    const s2 = new RecordingSink();
    a2.start(s2);
    source.push('world');
    source.sink!.onBodyEnd(undefined);
    expect(s1.text).toBe('hel');
    expect(s1.ended).toBe(false);
    expect(s2.text).toBe('hello world');
    expect(s2.ended).toBe(true);
  });

  it('a retired attempt cannot start later (its connection came too late)', () => {
    const { source, body } = setup();
    const a1 = body.forAttempt();
    const a2 = body.forAttempt();
    const late = new RecordingSink();
    a1.start(late);
    expect(source.starts).toBe(0);
    const s2 = new RecordingSink();
    a2.start(s2);
    source.push('abc');
    expect(late.bytes).toBe(0);
    expect(s2.text).toBe('abc');
  });

  it('an attempt whose connection let go of the body (detach) receives no more, but the body is still kept for a retry', () => {
    const { source, body } = setup();
    const a1 = body.forAttempt();
    const s1 = new RecordingSink();
    a1.start(s1);
    source.push('abc');
    a1.detach();
    source.push('def');
    expect(s1.text).toBe('abc');
    const s2 = new RecordingSink();
    body.forAttempt().start(s2);
    expect(s2.text).toBe('abcdef');
  });

  it('onComplete runs once, when the downstream body ends (not per attempt)', () => {
    const done = vi.fn();
    const { source, body } = setup(1024, done);
    body.forAttempt().start(new RecordingSink());
    source.push('abc');
    expect(done).not.toHaveBeenCalled();
    source.sink!.onBodyEnd(undefined);
    expect(done).toHaveBeenCalledTimes(1);
    body.forAttempt().start(new RecordingSink());
    expect(done).toHaveBeenCalledTimes(1);
  });

  describe('the limit', () => {
    it('exactly the limit is still replayable', () => {
      const { source, body } = setup(10);
      body.forAttempt().start(new RecordingSink());
      source.push('12345');
      source.push('67890');
      expect(body.replayable).toBe(true);
      source.sink!.onBodyEnd(undefined);
      const s2 = new RecordingSink();
      body.forAttempt().start(s2);
      expect(s2.text).toBe('1234567890');
    });

    it('one byte past it: no longer replayable, but the current attempt still gets every byte', () => {
      const { source, body } = setup(10);
      const s1 = new RecordingSink();
      body.forAttempt().start(s1);
      source.push('12345');
      source.push('67890');
      source.push('X');
      expect(body.replayable).toBe(false);
      source.push('more');
      source.sink!.onBodyEnd(undefined);
      expect(s1.text).toBe('1234567890Xmore');
      expect(s1.ended).toBe(true);
    });

    it('an attempt started after the body outgrew the limit is never handed a silently truncated body', () => {
      // the router checks `replayable` when it decides to retry, but the body can grow past the
      // limit during the backoff, before the retry's connection asks for it (Envoy answers 507 then)
      const { source, body } = setup(10);
      const s1 = new RecordingSink();
      body.forAttempt().start(s1);
      source.push('12345');
      const a2 = body.forAttempt(); // retry scheduled while still replayable
      source.push('67890XY'); // past the limit during the backoff
      source.sink!.onBodyEnd(undefined);
      const s2 = new RecordingSink();
      a2.start(s2);
      const full = '1234567890XY';
      // either the whole body, or an error — never an "ended" body missing its start
      if (s2.ended) expect(s2.text).toBe(full);
      else expect(s2.error, `attempt got ${JSON.stringify(s2.text)} and no end/error`).toBeDefined();
    });
  });

  describe('flow control belongs to the current attempt', () => {
    it("the current attempt's pause/resume reach the source", () => {
      const { source, body } = setup();
      const a1 = body.forAttempt();
      a1.start(new RecordingSink());
      const p = source.pauses;
      a1.pause();
      expect(source.pauses).toBe(p + 1);
      a1.resume();
      expect(source.paused).toBe(false);
    });

    it("a retired attempt's pause/resume are ignored", () => {
      const { source, body } = setup();
      const a1 = body.forAttempt();
      a1.start(new RecordingSink());
      const a2 = body.forAttempt();
      a2.start(new RecordingSink());
      const { pauses, resumes } = source;
      a1.pause();
      a1.resume();
      expect({ pauses: source.pauses, resumes: source.resumes }).toEqual({ pauses, resumes });
      a2.pause();
      expect(source.pauses).toBe(pauses + 1);
    });

    it('a live chunk the current sink cannot take returns false to the source (backpressure)', () => {
      const { source, body } = setup();
      const s1 = new RecordingSink();
      body.forAttempt().start(s1);
      expect(source.push('a')).toBe(true);
      s1.accept = false;
      expect(source.push('b')).toBe(false);
    });

    it('a new attempt that fills up while being replayed to leaves the source paused; one that keeps up resumes it', () => {
      const { source, body } = setup();
      const s1 = new RecordingSink();
      const a1 = body.forAttempt();
      a1.start(s1);
      source.push('abc');
      a1.pause(); // the first attempt's connection was slow
      expect(source.paused).toBe(true);
      const slow = new RecordingSink();
      slow.accept = false;
      body.forAttempt().start(slow);
      expect(slow.text).toBe('abc');
      expect(source.paused).toBe(true);
      const fast = new RecordingSink();
      body.forAttempt().start(fast);
      expect(fast.text).toBe('abc');
      expect(source.paused).toBe(false);
    });

    it('while no attempt holds the body (between attempts), data is accepted and kept', () => {
      const { source, body } = setup();
      const a1 = body.forAttempt();
      a1.start(new RecordingSink());
      a1.detach();
      expect(source.push('xyz')).toBe(true);
      const s2 = new RecordingSink();
      body.forAttempt().start(s2);
      expect(s2.text).toBe('xyz');
    });
  });

  describe('errors and the end of the request', () => {
    it('a body error reaches the current attempt, and any later attempt when it starts', () => {
      const { source, body } = setup();
      const s1 = new RecordingSink();
      body.forAttempt().start(s1);
      source.push('abc');
      const err = new Error('client closed the connection');
      source.sink!.onBodyError(err);
      expect(s1.error).toBe(err);
      const s2 = new RecordingSink();
      body.forAttempt().start(s2);
      expect(s2.text).toBe('abc');
      expect(s2.error).toBe(err);
      expect(s2.ended).toBe(false);
    });

    it('detach (the request is over) detaches the downstream body and stops delivery', () => {
      const { source, body } = setup();
      const s1 = new RecordingSink();
      body.forAttempt().start(s1);
      source.push('abc');
      body.detach();
      expect(source.detached).toBe(true);
      source.push('def');
      source.sink!.onBodyEnd(undefined);
      expect(s1.text).toBe('abc');
      expect(s1.ended).toBe(false);
    });

    it('a 1 MiB body in 64 KiB chunks replays byte for byte', () => {
      const { source, body } = setup(1024 * 1024);
      const data = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < data.length; i++) data[i] = (i * 31 + 7) & 0xff;
      const s1 = new RecordingSink();
      body.forAttempt().start(s1);
      for (let off = 0; off < data.length; off += 65536) source.push(data.subarray(off, off + 65536));
      source.sink!.onBodyEnd(undefined);
      const s2 = new RecordingSink();
      body.forAttempt().start(s2);
      expect(Buffer.concat(s1.chunks).equals(data)).toBe(true);
      expect(Buffer.concat(s2.chunks).equals(data)).toBe(true);
      expect(body.replayable).toBe(true);
    });
  });
});
