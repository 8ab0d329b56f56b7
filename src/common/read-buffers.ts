import type { Duplex } from 'node:stream';
import { paceReadBuffers } from './gc.js';

/**
 * Where the proxy's socket reads land (relays, HTTP/1.1 and HTTP/2 codecs).
 *
 * Node reads a socket into a fresh 64 KiB buffer per read, off V8's heap, and shrinks it to the
 * bytes read. That costs a malloc, a realloc and a V8 backing store per read, and V8 counts the
 * memory towards its collection limits: bulk traffic made it run a full mark-compact every 16-32 MiB
 * relayed, and marking a 13 MiB heap that often took half the proxy's CPU. Node's `onread` hook (a
 * public option of `net.connect` only; accepted and TLS sockets have the same fields inside) lets a
 * socket read into a buffer the proxy gives instead:
 * - a socket reads into one buffer shared by the thread (a read is delivered synchronously, so only
 *   one read uses it at a time) and each read is copied out before the next can land there, from
 *   Node's 8 KiB pool when small: what the consumer keeps is its own;
 * - for a consumer that borrows (a relay), a read over COPY_LIMIT makes the socket hot: it gets a
 *   buffer of its own and its reads are lent without a copy; while the consumer still needs the
 *   bytes (a write not yet flushed) it keeps the socket paused, so no read lands on them;
 * - COOL_AFTER reads in a row that fit COPY_LIMIT make it quiet again and drop its own buffer.
 * So an idle connection holds no buffer, and a bulk one allocates one per burst, not one per read.
 * Measured (sidecar, one worker on one core): TCP with iperf3 -n 1G 419-452 → 1,080-1,373 MB/s, CPU
 * 2.1-2.6 → 0.7-1.0 s per GiB, 54-64 → 4-5 mark-compacts, peak RSS 102 → 87 MiB; see the commits
 * for the codecs' figures.
 */

/** The largest read delivered as a copy; a bigger one makes its socket hot. */
export const COPY_LIMIT = 4 * 1024;
/** A hot socket's own buffer, and the shared one: Node's own read size. */
export const READ_BUFFER_SIZE = 64 * 1024;
/** Reads of at most COPY_LIMIT in a row after which a hot socket goes quiet. */
export const COOL_AFTER = 16;

/**
 * Gets each read of a socket: `chunk`, and whether it is `lent`. A lent chunk is a view of the
 * socket's own buffer: return false when its bytes are still needed after the call (they are being
 * written): the socket stops reading, and the consumer calls `socket.resume()` once they are not.
 * Returning false also pauses the socket for any other reason (backpressure). Chunks are only lent
 * to a consumer that asked for them; others get copies they may keep.
 */
export type OnRead = (chunk: Buffer, lent: boolean) => boolean;

/** Node's socket fields behind the `onread` option (net.js, stream_base_commons.js). */
interface ReadHooks {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}
let hooks: ReadHooks | null | undefined;

function readHooks(socket: object): ReadHooks | null {
  if (hooks !== undefined) return hooks;
  const own = Object.getOwnPropertySymbols(socket);
  const find = (name: string) => own.find((s) => s.description === name);
  const buffer = find('kBuffer');
  const callback = find('kBufferCb');
  const generator = find('kBufferGen');
  hooks = buffer && callback && generator ? { buffer, callback, generator } : null;
  return hooks;
}

type HookedSocket = Duplex &
  Record<symbol, unknown> & { _handle?: { useUserBuffer?: (buf: Uint8Array) => void } | null };

let shared: Buffer | undefined;

/** One switched socket: its consumer, and its own buffer while it is hot. */
class ProxyReads {
  private own: Buffer | undefined;
  private small = 0;

  constructor(
    public onRead: OnRead,
    public lend: boolean,
  ) {}

  readonly read = (n: number, buf: Buffer): boolean => {
    if (buf === this.own && this.lend) {
      this.small = n <= COPY_LIMIT ? this.small + 1 : 0;
      return this.onRead(buf.subarray(0, n), true);
    }
    // the shared buffer (or an own one given to a consumer that does not borrow): copied out
    const chunk = Buffer.allocUnsafe(n);
    buf.copy(chunk, 0, 0, n);
    if (this.lend && n > COPY_LIMIT) {
      this.own = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
      this.small = 0;
    }
    return this.onRead(chunk, false);
  };

  /** Called by node after each read: the buffer the next one lands in. */
  readonly next = (): Buffer => {
    if (this.own && (this.small >= COOL_AFTER || !this.lend)) this.own = undefined;
    return this.own ?? shared!;
  };
}
const switched = new WeakMap<Duplex, ProxyReads>();

/**
 * Makes `onRead` the consumer of `socket`'s reads (a net.Socket or tls.TLSSocket), reading into the
 * proxy's buffers; `lend`: the consumer takes lent chunks. A socket already switched just changes
 * consumer (a codec hands its connection to the next: HTTP/2 after a preface, a tunnel after an
 * upgrade). What a socket had read before its switch stays in its readable buffer and flows as
 * 'data' on resume, before any read here (readSocket listens for it). False when it
 * cannot switch: not a socket with a libuv or TLS handle, closed, or a Node without the hooks; the
 * 'data' listener then gets every read.
 */
export function readIntoProxyBuffers(socket: Duplex, onRead: OnRead, opts: { lend: boolean } = { lend: false }): boolean {
  const current = switched.get(socket);
  if (current) {
    current.onRead = onRead;
    current.lend = opts.lend;
    return true;
  }
  const s = socket as HookedSocket;
  const handle = s._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function' || socket.destroyed || socket.readableEnded) return false;
  const k = readHooks(socket);
  if (!k || s[k.buffer] !== null || !(k.callback in s) || !(k.generator in s)) return false;
  const reads = new ProxyReads(onRead, opts.lend);
  shared ??= Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
  s[k.callback] = reads.read;
  s[k.generator] = reads.next;
  s[k.buffer] = shared;
  handle.useUserBuffer(shared);
  switched.set(socket, reads);
  return true;
}

/**
 * Delivers every read of `socket` to `onRead`, the one way the proxy's consumers read a socket: into
 * the proxy's buffers when it can switch (readIntoProxyBuffers), and through 'data' for what it read
 * before the switch, or for every read when it cannot (node's buffers then, paced by gc.ts). A false
 * from `onRead` on the 'data' path pauses the socket. Returns the 'data' listener, for a consumer
 * that lets the socket go to remove.
 */
export function readSocket(socket: Duplex, onRead: OnRead, opts?: { lend: boolean }): (chunk: Buffer) => void {
  const switched = readIntoProxyBuffers(socket, onRead, opts);
  const onData = (chunk: Buffer): void => {
    if (!switched) paceReadBuffers(chunk.length);
    if (!onRead(chunk, false)) socket.pause();
  };
  socket.on('data', onData);
  return onData;
}
