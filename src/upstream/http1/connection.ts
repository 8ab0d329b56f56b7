import type { Socket } from 'node:net';
import { connectUpstream } from '../connect.js';
import type { BodySink, BodySource } from '../../codec/body.js';
import { ChunkedDecoder, CHUNKED, findHeadEnd, parseResponseHead, ProtocolError, UNTIL_CLOSE } from '../../codec/http1/parser.js';
import { UpstreamError, type UpstreamExchange, type UpstreamHandler, type UpstreamRequest } from '../exchange.js';
import { ActiveClient } from '../pool-base.js';
import type { H1Pool } from './pool.js';
import { readSocket } from '../../common/read-buffers.js';

/** Where the connection's current exchange is (the pool's ClientState says whether it is connecting, ready, closed). */
const enum Phase {
  /** No exchange (connecting, or kept alive between requests). */
  Idle,
  AwaitingHead,
  Body,
  Closed,
}

/** One upstream HTTP/1.1 connection and the exchange it carries; it is that exchange's handle too. */
export class H1Connection extends ActiveClient implements UpstreamExchange, BodySink {
  private readonly socket: Socket;
  private phase = Phase.Idle;
  /** An exchange holds the connection's one stream (from newStream until the pool hears streamDone). */
  private inExchange = false;
  private handler: UpstreamHandler | undefined;
  private method = 'GET';
  private head: Buffer | undefined;
  private bodyMode = 0;
  private remaining = 0;
  private decoder: ChunkedDecoder | undefined;
  /** Body chunks decoded along with the head, held until the head has been passed on. */
  private early: Buffer[] | undefined;
  private keepAlive = false;
  private requestBody: BodySource | null = null;
  private requestBodyChunked = false;
  private requestBodyDone = true;

  constructor(private readonly pool: H1Pool) {
    super();
    const up = connectUpstream(pool.address, pool.port, { ...pool.options.source, tls: pool.options.tls?.() });
    this.socket = up.socket;
    this.socket.once(up.readyEvent, () => {
      // connected: nothing was read before (common/read-buffers.ts)
      readSocket(this.socket, (buf) => (this.onData(buf), true));
      pool.clientReady(this, 1);
    });
    this.socket.on('end', () => this.onEnd());
    this.socket.on('error', (err) => (this.error = err));
    this.socket.on('close', () => this.onClose());
    this.socket.on('drain', () => this.requestBody?.resume());
  }

  override newStream(req: UpstreamRequest, handler: UpstreamHandler): UpstreamExchange | undefined {
    if (this.socket.destroyed || this.phase !== Phase.Idle) return undefined;
    this.inExchange = true;
    this.handler = handler;
    this.method = req.method;
    let head = `${req.method} ${req.path} HTTP/1.1\r\n`;
    const h = req.headers;
    let hasLength = false;
    for (let i = 0; i < h.length; i += 2) {
      if (h[i] === 'content-length') hasLength = true;
      head += `${h[i]}: ${h[i + 1]}\r\n`;
    }
    this.requestBody = req.body;
    this.requestBodyChunked = req.body !== null && !hasLength;
    this.requestBodyDone = req.body === null;
    if (this.requestBodyChunked) head += 'transfer-encoding: chunked\r\n';
    head += '\r\n';
    this.phase = Phase.AwaitingHead;
    this.socket.write(head, 'latin1');
    this.requestBody?.start(this);
    return this;
  }

  // ------------------------------------------------------------------ request body (BodySink)

  onBodyData(chunk: Buffer): boolean {
    if (this.phase === Phase.Closed || chunk.length === 0) return true; // an empty chunk would read as the last one
    let ok: boolean;
    if (this.requestBodyChunked) {
      this.socket.cork();
      this.socket.write(`${chunk.length.toString(16)}\r\n`);
      this.socket.write(chunk);
      ok = this.socket.write('\r\n');
      this.socket.uncork();
    } else {
      ok = this.socket.write(chunk);
    }
    return ok;
  }

  onBodyEnd(): void {
    if (this.requestBodyChunked && this.phase !== Phase.Closed) this.socket.write('0\r\n\r\n');
    this.requestBodyDone = true;
    this.requestBody = null;
  }

  onBodyError(err: Error): void {
    // the client's body broke off: the upstream request cannot be completed
    this.requestBody = null;
    this.fail(new UpstreamError(err.name === 'ReplayOverflowError' ? 'request_body_overflow' : 'downstream_body_error', err.message));
  }

  // ------------------------------------------------------------------ response

  private onData(buf: Buffer): void {
    let offset = 0;
    if (this.phase === Phase.AwaitingHead) {
      const scanned = this.head?.length ?? 0;
      const data = this.head ? Buffer.concat([this.head, buf]) : buf;
      this.head = undefined;
      let end: number;
      let chunkedEnd = -1;
      try {
        end = findHeadEnd(data, 0, this.pool.options.maxHeaderBytes, scanned);
        if (end < 0) {
          this.head = data;
          return;
        }
        let parsed = parseResponseHead(data.toString('latin1', 0, end - 4), this.method);
        // 1xx interim responses (100 Continue, 103 Early Hints) are not forwarded; the final one follows
        while (parsed.status < 200) {
          const next = findHeadEnd(data, end, this.pool.options.maxHeaderBytes);
          if (next < 0) {
            this.head = data.subarray(end);
            return;
          }
          parsed = parseResponseHead(data.toString('latin1', end, next - 4), this.method);
          end = next;
        }
        this.keepAlive = parsed.keepAlive;
        this.bodyMode = parsed.bodyLength;
        this.remaining = parsed.bodyLength;
        if (parsed.bodyLength === CHUNKED) {
          this.decoder = new ChunkedDecoder((c) => this.deliver(c));
          // the chunked bytes that came with the head are decoded before the head is passed on: a
          // framing error among them is answered 502 rather than cutting a started response short
          if (end < data.length) {
            this.early = [];
            chunkedEnd = this.decoder.push(data, end);
          }
        }
        this.phase = Phase.Body;
        this.handler?.onUpstreamHeaders(parsed.status, parsed.headers);
      } catch (err) {
        this.early = undefined;
        this.fail(err instanceof ProtocolError ? new UpstreamError('protocol_error', err.message) : (err as UpstreamError));
        return;
      }
      if (this.bodyMode === CHUNKED) {
        const early = this.early;
        this.early = undefined;
        if (early) for (const c of early) this.deliver(c);
        if (chunkedEnd >= 0 && this.phase === Phase.Body) this.complete(chunkedEnd < data.length);
        return;
      }
      offset = end;
      buf = data;
      if (this.bodyMode === 0) {
        this.complete(offset < buf.length);
        return;
      }
    }
    if (this.phase !== Phase.Body) {
      // bytes while idle or after the exchange: the server is not speaking HTTP/1.1 properly
      this.destroy();
      return;
    }
    if (offset >= buf.length) return;
    if (this.bodyMode === CHUNKED) {
      let end: number;
      try {
        end = this.decoder!.push(buf, offset);
      } catch (err) {
        // a framing error after the headers went out: still a protocol error (Envoy's UPE); the
        // router cuts the downstream response short, and this connection is never reused
        this.fail(new UpstreamError('protocol_error', (err as Error).message));
        return;
      }
      if (end >= 0) this.complete(end < buf.length);
    } else if (this.bodyMode === UNTIL_CLOSE) {
      this.deliver(offset === 0 ? buf : buf.subarray(offset));
    } else {
      const avail = buf.length - offset;
      const take = avail < this.remaining ? avail : this.remaining;
      this.remaining -= take;
      this.deliver(take === buf.length ? buf : buf.subarray(offset, offset + take));
      if (this.remaining === 0) this.complete(take < avail);
    }
  }

  private deliver(chunk: Buffer): void {
    if (this.early) {
      this.early.push(chunk);
      return;
    }
    if (this.handler && !this.handler.onUpstreamData(chunk)) this.socket.pause();
  }

  /** The response is complete; `extraBytes`: the server sent more than the framing allows. */
  private complete(extraBytes: boolean): void {
    const handler = this.handler;
    const trailers = this.decoder?.trailers.length ? this.decoder.trailers : undefined;
    this.handler = undefined;
    this.decoder = undefined;
    // reusable only if the server keeps it alive and our request was fully sent (the pool applies maxRequestsPerConnection)
    const reusable = this.keepAlive && !extraBytes && this.requestBodyDone;
    this.detachBody();
    this.phase = Phase.Idle;
    if (this.socket.isPaused()) this.socket.resume();
    this.endExchange(reusable); // the pool may start the next exchange on this connection right away
    handler?.onUpstreamEnd(trailers);
  }

  /** Gives the connection's stream back to the pool, once per exchange. */
  private endExchange(reusable: boolean): void {
    if (!this.inExchange) return;
    this.inExchange = false;
    this.pool.streamDone(this, reusable);
  }

  private onEnd(): void {
    if (this.phase === Phase.Body && this.bodyMode === UNTIL_CLOSE) {
      this.keepAlive = false;
      this.complete(false);
    } else if (this.phase === Phase.Idle && !this.inExchange) {
      // the server closed a kept-alive connection: never hand it out again
      this.destroy();
    }
  }

  private onClose(): void {
    const was = this.phase;
    const handler = this.handler;
    this.handler = undefined;
    this.destroy();
    if (!handler) return; // a connect failure reaches the waiting requests through the pool
    const err = this.error;
    if (was === Phase.AwaitingHead) {
      handler.onUpstreamError(new UpstreamError('reset_before_headers', err?.message ?? 'connection closed before response headers', err?.code));
    } else if (was === Phase.Body) {
      handler.onUpstreamError(new UpstreamError('reset_after_headers', err?.message ?? 'connection closed before the response ended', err?.code));
    }
  }

  private fail(err: UpstreamError): void {
    const handler = this.handler;
    this.handler = undefined;
    this.destroy();
    handler?.onUpstreamError(err);
  }

  private detachBody(): void {
    const body = this.requestBody;
    if (!body) return;
    this.requestBody = null;
    body.detach(); // the upstream no longer takes it: the downstream codec discards the rest
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  abort(): void {
    this.handler = undefined;
    this.destroy();
  }

  override close(): void {
    this.destroy();
  }

  /** Closes the socket now; the pool forgets the connection and its exchange's slot at once. */
  override destroy(): void {
    if (this.phase === Phase.Closed) return;
    this.phase = Phase.Closed;
    this.detachBody();
    this.socket.destroy();
    this.pool.clientClosed(this);
    this.endExchange(false);
  }
}
