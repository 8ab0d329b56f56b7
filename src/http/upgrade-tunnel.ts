import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import type { Downstream } from '../codec/downstream.js';
import { connectUpstream } from '../upstream/connect.js';
import { onceClosed, relayBytes } from '../common/byte-pipe.js';

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
 * idle timeout). Any other answer is relayed as the response and the connection closes after it.
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
    private readonly opts: { address: string; port: number; localAddress?: string; tls?: ConnectionOptions | Error; connectTimeoutMs: number; idleTimeoutMs: number },
    private readonly done: (r: TunnelResult) => void,
  ) {}

  start(): void {
    const { socket, readyEvent } = connectUpstream(this.opts.address, this.opts.port, {
      ...(this.opts.localAddress ? { localAddress: this.opts.localAddress } : {}),
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
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(this.head.toString('latin1', 0, Math.min(end, 32)));
    if (!m) {
      this.failure = 'protocol_error';
      this.up!.destroy();
      return;
    }
    this.status = Number(m[1]);
    const up = this.up!;
    up.off('data', this.onUpstreamHead);
    // from here the connection is the tunnel's (101) or carries one relayed response (other codes)
    const { socket: down, early } = this.ds.upgrade(this.status, this.head.subarray(0, end + 4));
    this.down = down;
    down.on('error', () => {});
    this.countToClient(end + 4);
    const rest = this.head.subarray(end + 4);
    this.head = undefined;
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
