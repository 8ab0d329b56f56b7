/**
 * An HTTP/2 stream as a byte stream, for a tunnel (RFC 8441 extended CONNECT: WebSocket): what
 * the upgrade path (src/http/upgrade-tunnel.ts) pipes to and from the upstream connection. Reads
 * are the stream's DATA, paced by its flow-control window; writes leave as DATA as the client's
 * window allows; the end is END_STREAM; destroying it cancels the stream.
 */
import { Duplex } from 'node:stream';
import type { H2Stream } from './stream.js';

export class StreamTunnel extends Duplex {
  constructor(private readonly stream: H2Stream) {
    super({ allowHalfOpen: true });
  }

  override _read(): void {
    this.stream.tunnelRead();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.stream.tunnelWrite(chunk, () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.stream.tunnelEnd();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stream.tunnelDestroyed();
    callback(error);
  }
}
