import type { BodySink, BodySource } from './body.js';

/** What a prefetch read: the bytes, and whether they are the whole body. */
interface Prefetched {
  data: Buffer;
  complete: boolean;
}

/**
 * A request body read ahead before the request goes on (ext_authz's with_request_body): `prefetch`
 * reads until the body ends or `limit` bytes have arrived, leaving the client paused there; the
 * router then gets this object as the body, which hands on the bytes read ahead and continues live.
 */
export class PrefetchedBody implements BodySource, BodySink {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private limit = 0;
  private ended = false;
  private trailers: string[] | undefined;
  private error: Error | undefined;
  private sink: BodySink | undefined;
  private waiter: ((p: Prefetched) => void) | undefined;

  constructor(private readonly source: BodySource) {}

  get length(): number {
    return this.source.length;
  }

  /** Once, before `start`. */
  prefetch(limit: number): Promise<Prefetched> {
    this.limit = limit;
    const done = new Promise<Prefetched>((resolve) => (this.waiter = resolve));
    this.source.start(this);
    return done;
  }

  onBodyData(chunk: Buffer): boolean {
    if (this.sink) return this.sink.onBodyData(chunk);
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes < this.limit) return true;
    this.settle();
    return false; // the source pauses until the router wants the rest
  }

  onBodyEnd(trailers: string[] | undefined): void {
    if (this.sink) return this.sink.onBodyEnd(trailers);
    this.ended = true;
    this.trailers = trailers;
    this.settle();
  }

  onBodyError(err: Error): void {
    if (this.sink) return this.sink.onBodyError(err);
    this.error = err;
    this.settle();
  }

  private settle(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.({ data: this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks), complete: this.ended });
  }

  start(sink: BodySink): void {
    this.sink = sink;
    let full = false;
    for (const c of this.chunks) if (!sink.onBodyData(c)) full = true;
    this.chunks.length = 0;
    if (this.error) return sink.onBodyError(this.error);
    if (this.ended) return sink.onBodyEnd(this.trailers);
    // the prefetch left the source paused at its limit; the new sink decides from here
    if (!full) this.source.resume();
  }

  pause(): void {
    this.source.pause();
  }

  resume(): void {
    this.source.resume();
  }

  detach(): void {
    this.source.detach();
  }
}
