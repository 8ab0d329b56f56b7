import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import type { Downstream } from '../codec/downstream.js';
import { connectUpstream, type UpstreamSource } from '../upstream/connect.js';
import { onceClosed, relayBytes } from '../common/byte-pipe.js';
import { CHUNKED, ChunkedDecoder, parseResponseHead, UNTIL_CLOSE, type ResponseHead } from '../codec/http1/parser.js';

const CRLFCRLF = Buffer.from('\r\n\r\n');
/** A response head larger than this is not an HTTP/1.1 upgrade answer Outrigger will relay. */
const MAX_RESPONSE_HEAD = 64 * 1024;

export interface TunnelResult {
  /** The upstream's status (101 when the tunnel opened), or undefined when it never answered. */
  status: number | undefined;
  /** Why it failed before any answer: connect failure/timeout or a reset. */
  failure?: 'connect_failure' | 'connect_timeout' | 'reset_before_headers' | 'protocol_error';
  bytesFromClient: number;
  bytesToClient: number;
}

/**
 * An HTTP/1.1 Upgrade (WebSocket) through the proxy, as Envoy's upgrade_configs do it: the request
 * goes on its own upstream connection; only a 101 turns the exchange into a byte-transparent tunnel
 * (relayBytes, as the TCP proxy: backpressure both ways, half-close, close and reset propagation,
 * idle timeout). Any other answer is relayed as the response (framed by its content-length or
 * chunked encoding) and the client connection closes after it.
 * `done` is called once, when both sides are closed.
 */
export class UpgradeTunnel {
  private up: Socket | undefined;
  private down: Duplex | undefined;
  private head: Buffer | undefined;
  private status: number | undefined;
  private failure: TunnelResult['failure'];
  private fromClient = 0;
  private toClient = 0;
  private finished = false;

  constructor(
    private readonly ds: Downstream & Required<Pick<Downstream, 'upgrade'>>,
    private readonly requestHead: string,
    private readonly opts: { address: string; port: number; source: UpstreamSource; tls?: ConnectionOptions | Error; connectTimeoutMs: number; idleTimeoutMs: number },
    private readonly done: (r: TunnelResult) => void,
  ) {}

  start(): void {
    const { socket, readyEvent } = connectUpstream(this.opts.address, this.opts.port, {
      ...this.opts.source,
      allowHalfOpen: true,
      ...(this.opts.tls ? { tls: this.opts.tls } : {}),
    });
    this.up = socket;
    const connectTimer = setTimeout(() => {
      this.failure = 'connect_timeout';
      socket.destroy();
    }, this.opts.connectTimeoutMs);
    socket.on('error', () => {});
    socket.once(readyEvent, () => {
      clearTimeout(connectTimer);
      socket.write(this.requestHead, 'latin1');
      socket.on('data', this.onUpstreamHead);
    });
    socket.once('close', () => {
      clearTimeout(connectTimer);
      if (this.status === undefined) {
        this.failure ??= this.head ? 'reset_before_headers' : socket.bytesWritten ? 'reset_before_headers' : 'connect_failure';
        this.finish();
      } else if (this.down?.destroyed) this.finish();
    });
  }

  /** Reads the upstream's response head; 101 opens the tunnel, anything else is relayed as is. */
  private readonly onUpstreamHead = (chunk: Buffer): void => {
    this.head = this.head ? Buffer.concat([this.head, chunk]) : chunk;
    const end = this.head.indexOf(CRLFCRLF);
    if (end < 0) {
      if (this.head.length > MAX_RESPONSE_HEAD) {
        this.failure = 'protocol_error';
        this.up!.destroy();
      }
      return;
    }
    let parsed: ResponseHead;
    try {
      parsed = parseResponseHead(this.head.toString('latin1', 0, end), 'GET');
    } catch {
      this.failure = 'protocol_error';
      this.up!.destroy();
      return;
    }
    this.status = parsed.status;
    const up = this.up!;
    up.off('data', this.onUpstreamHead);
    // from here the connection is the tunnel's (101) or carries one relayed response (other codes)
    const { socket: down, early } = this.ds.upgrade(this.status, this.head.subarray(0, end + 4));
    this.down = down;
    down.on('error', () => {});
    this.countToClient(end + 4);
    const rest = this.head.subarray(end + 4);
    this.head = undefined;
    if (this.status !== 101 && parsed.bodyLength !== UNTIL_CLOSE) return this.relayRefusal(up, down, rest, parsed.bodyLength);
    if (rest.length) {
      this.countToClient(rest.length);
      down.write(rest);
    }
    if (this.status === 101 && early?.length) {
      this.fromClient += early.length;
      up.write(early);
    }
    relayBytes(up, down, {
      aToB: { onBytes: (n) => this.countToClient(n) },
      // a refused upgrade is one response: the client's further bytes are not the upstream's
      ...(this.status === 101 ? { bToA: { onBytes: (n: number) => (this.fromClient += n) } } : {}),
      idleTimeoutMs: this.opts.idleTimeoutMs,
    });
    onceClosed(down, () => {
      if (up.destroyed) this.finish();
    });
  };

  /**
   * A refused upgrade is one framed response (content-length or chunked): its body is relayed, then
   * the client connection is closed and the upstream one dropped. Waiting for the upstream to close
   * would leave a keep-alive client hanging; what the client sends after it never reaches the upstream.
   */
  private relayRefusal(up: Socket, down: Duplex, rest: Buffer, bodyLength: number): void {
    let left = bodyLength; // not used when chunked: the decoder finds the end
    const chunked = bodyLength === CHUNKED ? new ChunkedDecoder(() => {}) : undefined;
    const close = () => {
      up.off('data', onData);
      up.destroy();
      down.end();
      down.once('finish', () => down.destroy());
    };
    const onData = (chunk: Buffer): void => {
      let take = chunk.length;
      let complete: boolean;
      if (chunked) {
        let done: number;
        try {
          done = chunked.push(chunk, 0);
        } catch {
          // malformed chunks: the client gets a short response, never a clean end
          this.failure = 'protocol_error';
          up.destroy();
          down.destroy();
          return;
        }
        complete = done >= 0;
        if (complete) take = done;
      } else {
        take = Math.min(take, left);
        left -= take;
        complete = left === 0;
      }
      if (take > 0) {
        this.countToClient(take);
        down.write(take === chunk.length ? chunk : chunk.subarray(0, take));
      }
      if (complete) close();
    };
    onceClosed(down, () => {
      up.destroy();
      this.finish();
    });
    onceClosed(up, () => {
      if (!down.destroyed) down.destroy(); // the upstream went away mid-body: the client sees a short response
    });
    if (rest.length || (!chunked && left === 0)) onData(rest);
    if (!up.destroyed) up.on('data', onData);
  }

  private countToClient(n: number): void {
    this.toClient += n;
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.done({ status: this.status, ...(this.failure ? { failure: this.failure } : {}), bytesFromClient: this.fromClient, bytesToClient: this.toClient });
  }

  /** The client went away or the stream is torn down. */
  abort(): void {
    this.up?.destroy();
    this.down?.destroy();
    if (this.status === undefined) this.finish();
  }
}
