import type { Duplex } from 'node:stream';

/**
 * Where a relayed socket's reads land.
 *
 * Node reads a socket into a fresh 64 KiB buffer per read, off V8's heap. V8 counts that memory
 * towards its collection limits, so bulk traffic makes it run a full mark-compact every ~16-32 MiB
 * relayed, and marking a 13 MiB heap that often took half the proxy's CPU. Node's `onread` hook (a
 * public option of `net.connect` only; accepted sockets have the same hook inside) lets a socket read
 * into a buffer the proxy gives instead:
 * - a quiet socket reads into one buffer shared by the thread (a read is delivered synchronously, so
 *   only one read uses it at a time) and each read is copied out before the next can land there,
 *   from Node's 8 KiB pool when small;
 * - a read over COPY_LIMIT makes the socket hot: it gets a buffer of its own and its reads are lent
 *   to the consumer without a copy; while the consumer still needs the bytes (a write not yet
 *   flushed) it keeps the socket paused, so no read lands on them;
 * - COOL_AFTER reads in a row that fit COPY_LIMIT make it quiet again and drop its own buffer.
 * So an idle connection holds no buffer, and a bulk one allocates one per burst, not one per read.
 * Measured (sidecar, TCP, iperf3 -n 1G through one worker, 2 interleaved rounds): 419-452 →
 * 1,340-1,373 MB/s; CPU 2.1-2.6 → 0.7 s per GiB; 54-64 → 4-5 mark-compacts; peak RSS 102 → 87 MiB.
 */

/** The largest read delivered as a copy; a bigger one makes its socket hot. */
export const COPY_LIMIT = 4 * 1024;
/** A hot socket's own buffer, and the shared one: Node's own read size. */
export const READ_BUFFER_SIZE = 64 * 1024;
/** Reads of at most COPY_LIMIT in a row after which a hot socket goes quiet. */
export const COOL_AFTER = 16;

/**
 * Gets each read of `socket`: `chunk`, and whether it is `lent`. A lent chunk is a view of the
 * socket's own buffer: return false when its bytes are still needed after the call (they are being
 * written): the socket stops reading, and the consumer calls `socket.resume()` once they are not.
 * Returning false also pauses the socket for any other reason (backpressure).
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

/**
 * Switches `socket` (a net.Socket or tls.TLSSocket) to the proxy's read buffers: its further reads
 * go to `onRead` instead of 'data' (what it had already read stays in its readable buffer and flows
 * as 'data' on resume, before any read here). False when it cannot: not a socket with a libuv or
 * TLS handle, closed, or a Node without the hooks (its 'data' events are then the way).
 */
export function readIntoProxyBuffers(socket: Duplex, onRead: OnRead): boolean {
  const s = socket as HookedSocket;
  const handle = s._handle;
  if (!handle || typeof handle.useUserBuffer !== 'function' || socket.destroyed || socket.readableEnded) return false;
  const k = readHooks(socket);
  if (!k || s[k.buffer] !== null || !(k.callback in s) || !(k.generator in s)) return false;

  shared ??= Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
  let own: Buffer | undefined;
  let small = 0;
  s[k.callback] = (n: number, buf: Buffer): boolean => {
    if (buf === own) {
      small = n <= COPY_LIMIT ? small + 1 : 0;
      return onRead(buf.subarray(0, n), true);
    }
    // the shared buffer: the next read of any socket lands there
    const chunk = Buffer.allocUnsafe(n);
    buf.copy(chunk, 0, 0, n);
    if (n > COPY_LIMIT) {
      own = Buffer.allocUnsafeSlow(READ_BUFFER_SIZE);
      small = 0;
    }
    return onRead(chunk, false);
  };
  // called after each read: the buffer the next one lands in
  s[k.generator] = (): Buffer => {
    if (own && small >= COOL_AFTER) own = undefined;
    return own ?? shared!;
  };
  s[k.buffer] = shared;
  handle.useUserBuffer(shared);
  return true;
}
