import type { BodySink, BodySource } from '../codec/body.js';

/** The decoder side of the filter manager, as the filtered body drives it. */
export interface BodyDecoder {
  decodeData(chunk: Buffer, end: boolean): boolean;
  decodeTrailers(trailers: string[]): void;
}

const EMPTY = Buffer.alloc(0);

/**
 * The request body through the decoder filters: the client's body is read as soon as the headers
 * went into the filters (a filter stopped on headers still sees the data, as in Envoy), each chunk
 * through decodeData / decodeTrailers; what comes out the other end is this BodySource, which the
 * router sends. Backpressure both ways: a full router or a filter holding data pauses the client.
 */
export class FilteredRequestBody implements BodySource, BodySink {
  private sink: BodySink | undefined;
  private readonly queue: Buffer[] = [];
  private ended = false;
  private endDelivered = false;
  private trailers: string[] | undefined;
  private error: Error | undefined;
  /** The router asked to pause. */
  private routerPaused = false;
  private detached = false;

  constructor(
    private readonly source: BodySource,
    private readonly decoder: BodyDecoder,
  ) {}

  /** Filters may change the body: its length is known only as it ends (chunked upstream unless content-length stays). */
  get length(): number {
    return -1;
  }

  /** Starts reading the client's body into the filters. */
  open(): void {
    this.source.start(this);
  }

  // ------------------------------------------------------------------ from the client (BodySink)

  onBodyData(chunk: Buffer): boolean {
    return this.decoder.decodeData(chunk, false);
  }

  onBodyEnd(trailers: string[] | undefined): void {
    if (trailers?.length) this.decoder.decodeTrailers(trailers);
    else this.decoder.decodeData(EMPTY, true);
  }

  onBodyError(err: Error): void {
    if (this.sink) this.sink.onBodyError(err);
    else this.error = err;
  }

  // ------------------------------------------------------------------ out of the filters

  /** A chunk past every filter; false: the router (or nobody yet) takes no more now. */
  push(chunk: Buffer, end: boolean): boolean {
    let more = true;
    if (chunk.length) {
      if (this.sink && !this.queue.length) {
        // a sink answering false pauses this source until it calls resume()
        if (!this.sink.onBodyData(chunk)) this.routerPaused = true;
        more = !this.routerPaused;
      } else {
        this.queue.push(chunk);
        more = false;
      }
    }
    if (end) this.finish(undefined);
    return more;
  }

  pushTrailers(trailers: string[]): void {
    this.finish(trailers);
  }

  private finish(trailers: string[] | undefined): void {
    this.ended = true;
    this.trailers = trailers;
    if (this.sink && !this.queue.length) {
      this.endDelivered = true;
      this.sink.onBodyEnd(trailers);
    }
  }

  // ------------------------------------------------------------------ to the router (BodySource)

  start(sink: BodySink): void {
    this.sink = sink;
    this.flush();
  }

  private flush(): void {
    const sink = this.sink!;
    while (this.queue.length && !this.routerPaused) {
      if (!sink.onBodyData(this.queue.shift()!)) this.routerPaused = true;
    }
    if (this.queue.length) return;
    if (this.endDelivered) return;
    if (this.error) return sink.onBodyError(this.error);
    if (this.ended) {
      this.endDelivered = true;
      return sink.onBodyEnd(this.trailers);
    }
    if (!this.routerPaused && !this.detached) this.source.resume();
  }

  pause(): void {
    this.routerPaused = true;
    this.source.pause();
  }

  resume(): void {
    this.routerPaused = false;
    if (this.sink) this.flush();
  }

  /** A filter released held data: the client may send again, if the router is not full. */
  resumeSource(): void {
    if (!this.routerPaused && !this.queue.length && !this.detached) this.source.resume();
  }

  detach(): void {
    this.detached = true;
    this.queue.length = 0;
    this.source.detach();
  }
}
