/**
 * A message body flowing through the proxy, independent of the codec that reads it: the
 * downstream request body feeding an upstream request, with backpressure.
 */
export interface BodySink {
  /** Return false to ask the source to pause until `resume()`. */
  onBodyData(chunk: Buffer): boolean;
  onBodyEnd(trailers: string[] | undefined): void;
  onBodyError(err: Error): void;
}

export interface BodySource {
  /** Content length, or -1 when unknown (chunked). */
  readonly length: number;
  /** Starts delivery; data buffered before this call is delivered first. Once only. */
  start(sink: BodySink): void;
  pause(): void;
  resume(): void;
  /** The sink goes away: the rest of the body is discarded (and the connection may not be reused). */
  detach(): void;
}
