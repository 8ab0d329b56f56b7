import type { BodySink, BodySource } from '../codec/body.js';

/** A retry's connection asked for a body that outgrew the replay buffer after the retry was decided. */
export class ReplayOverflowError extends Error {
  override readonly name = 'ReplayOverflowError';
  constructor() {
    super('request body exceeded the replay buffer');
  }
}

/**
 * A request body that can be sent again on a retry: it keeps what it has seen, up to a limit,
 * while streaming it to the current attempt. Past the limit the body is no longer replayable
 * (Envoy then stops retrying the request) but keeps streaming to the attempt that has it.
 */
export class ReplayableBody implements BodySink {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private ended = false;
  private trailers: string[] | undefined;
  private error: Error | undefined;
  private current: AttemptBody | undefined;
  private started = false;
  /** False once the body grew past the limit. */
  replayable = true;

  /** The whole request body has arrived. */
  get complete(): boolean {
    return this.ended;
  }

  constructor(
    private readonly source: BodySource,
    private readonly limitBytes: number,
    /** Called when the whole request body has arrived (route timeouts start then, as Envoy's). */
    private readonly onComplete?: () => void,
  ) {}

  /** Something else to do when the body has arrived (mirrors). */
  whenComplete(fn: () => void): void {
    if (this.ended) fn();
    else (this.extraOnComplete ??= []).push(fn);
  }

  private extraOnComplete: (() => void)[] | undefined;

  get length(): number {
    return this.source.length;
  }

  /** A body for one attempt: replays what arrived so far, then continues live. */
  forAttempt(): BodySource {
    this.current?.retire();
    const attempt = new AttemptBody(this);
    this.current = attempt;
    return attempt;
  }

  /** Called by an attempt when its upstream connection wants the body. */
  attach(attempt: AttemptBody, sink: BodySink): void {
    if (attempt !== this.current) return;
    if (this.started && !this.replayable) {
      // what arrived before is gone: never hand an attempt a body missing its start
      sink.onBodyError(new ReplayOverflowError());
      return;
    }
    let full = false;
    for (const c of this.chunks) if (!sink.onBodyData(c)) full = true;
    if (this.error) return sink.onBodyError(this.error);
    if (this.ended) return sink.onBodyEnd(this.trailers);
    if (!this.started) {
      this.started = true;
      this.source.start(this);
    }
    // a previous attempt may have left the client paused; this attempt decides now
    if (full) this.source.pause();
    else this.source.resume();
  }

  pause(attempt: AttemptBody): void {
    if (attempt === this.current) this.source.pause();
  }

  resume(attempt: AttemptBody): void {
    if (attempt === this.current) this.source.resume();
  }

  /** The whole body, once it arrived and fit the buffer (mirrors send this copy). */
  copy(): { chunks: Buffer[]; length: number } | undefined {
    if (!this.ended || !this.replayable || this.error) return undefined;
    return { chunks: [...this.chunks], length: this.bytes };
  }

  /** The request is over: nothing more will be sent anywhere. */
  detach(): void {
    this.current = undefined;
    this.chunks.length = 0;
    this.source.detach();
  }

  onBodyData(chunk: Buffer): boolean {
    if (this.replayable) {
      this.bytes += chunk.length;
      if (this.bytes > this.limitBytes) {
        this.replayable = false;
        this.chunks.length = 0;
      } else {
        this.chunks.push(chunk);
      }
    }
    return this.current?.deliver(chunk) ?? true;
  }

  onBodyEnd(trailers: string[] | undefined): void {
    this.ended = true;
    this.trailers = trailers;
    this.current?.sink?.onBodyEnd(trailers);
    this.onComplete?.();
    if (this.extraOnComplete) for (const fn of this.extraOnComplete) fn();
  }

  onBodyError(err: Error): void {
    this.error = err;
    this.current?.sink?.onBodyError(err);
  }
}

/** The body as one upstream attempt sees it. */
class AttemptBody implements BodySource {
  sink: BodySink | undefined;
  private retired = false;

  constructor(private readonly parent: ReplayableBody) {}

  get length(): number {
    return this.parent.length;
  }

  start(sink: BodySink): void {
    if (this.retired) return;
    this.sink = sink;
    this.parent.attach(this, sink);
  }

  deliver(chunk: Buffer): boolean {
    return this.sink ? this.sink.onBodyData(chunk) : true;
  }

  pause(): void {
    this.parent.pause(this);
  }

  resume(): void {
    this.parent.resume(this);
  }

  /** The attempt's connection is done with the body; the request may still retry. */
  detach(): void {
    this.sink = undefined;
  }

  retire(): void {
    this.retired = true;
    this.sink = undefined;
  }
}
