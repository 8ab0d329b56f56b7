/**
 * HTTP/2 flow-control accounting (RFC 9113 §5.2, §6.9), pure: the numbers of one connection's or
 * one stream's windows and what breaks them, without sockets or timers. The connection owns a
 * SendWindow and a ReceiveWindow for itself and one of each per stream.
 */
import { H2_FLOW_CONTROL_ERROR } from '../error-codes.js';
import { DEFAULT_INITIAL_WINDOW_SIZE, MAX_WINDOW_SIZE } from './constants.js';
import { Http2ConnectionError, Http2StreamError } from './errors.js';

/** A flow-control error on `streamId`: the connection's own (stream 0) ends the connection. */
function flowControlError(streamId: number, detail: string): Http2ConnectionError | Http2StreamError {
  return streamId === 0 ? new Http2ConnectionError(H2_FLOW_CONTROL_ERROR, detail) : new Http2StreamError(streamId, H2_FLOW_CONTROL_ERROR, detail);
}

/**
 * What this end may still send on a stream (or, streamId 0, the connection). A stream's window
 * can go below zero when the peer lowers SETTINGS_INITIAL_WINDOW_SIZE (§6.9.2): nothing is sent
 * until WINDOW_UPDATEs bring it back above zero.
 */
export class SendWindow {
  constructor(
    readonly streamId: number,
    public size: number = DEFAULT_INITIAL_WINDOW_SIZE,
  ) {}

  /** A WINDOW_UPDATE from the peer: past 2^31-1 is a FLOW_CONTROL_ERROR of this stream or the connection (§6.9.1). */
  increase(increment: number): void {
    const size = this.size + increment;
    if (size > MAX_WINDOW_SIZE) throw flowControlError(this.streamId, `WINDOW_UPDATE of ${increment} takes the window from ${this.size} past 2^31-1`);
    this.size = size;
  }

  /** `n` octets of DATA (padding included) sent; the caller sent no more than sendable() allowed. */
  consume(n: number): void {
    this.size -= n;
  }
}

/**
 * Octets of DATA that may go now on `stream`: its window, the connection's, what is waiting and
 * one frame's worth (what the caller passes as `max`), never below 0.
 */
export function sendable(connection: SendWindow, stream: SendWindow, waiting: number, max: number): number {
  return Math.max(0, Math.min(connection.size, stream.size, waiting, max));
}

/**
 * The peer changed SETTINGS_INITIAL_WINDOW_SIZE: every open stream's send window moves by the
 * difference (§6.9.2), down below zero if need be. One pushed past 2^31-1 is a connection error
 * (§6.9.2). The connection's window does not move.
 */
export function applyInitialWindowSize(streams: Iterable<SendWindow>, oldSize: number, newSize: number): void {
  const delta = newSize - oldSize;
  if (delta === 0) return;
  for (const w of streams) {
    const size = w.size + delta;
    if (size > MAX_WINDOW_SIZE) throw new Http2ConnectionError(H2_FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE ${newSize} takes stream ${w.streamId}'s window past 2^31-1`);
    w.size = size;
  }
}

/**
 * What the peer may still send on a stream (or the connection), and when to give it more: DATA
 * counts against the window as it arrives (receive), and the octets the application has consumed
 * are given back in one WINDOW_UPDATE once they reach half the window (nghttp2's policy, so a busy
 * stream costs one WINDOW_UPDATE per half window, not one per frame).
 */
export class ReceiveWindow {
  /** Octets the peer may still send before it has overrun the window. */
  available: number;
  /** Consumed octets not yet given back in a WINDOW_UPDATE. */
  private unacknowledged = 0;

  constructor(
    readonly streamId: number,
    /** The window this end advertises: SETTINGS_INITIAL_WINDOW_SIZE for a stream, the connection's own size. */
    public size: number = DEFAULT_INITIAL_WINDOW_SIZE,
  ) {
    this.available = size;
  }

  /**
   * A DATA frame of `length` octets arrived (its whole payload, padding included). More than the
   * window allows is a FLOW_CONTROL_ERROR: the stream's (nghttp2 resets the stream) or, on stream
   * 0, the connection's (§6.9.1).
   */
  receive(length: number): void {
    if (length > this.available) throw flowControlError(this.streamId, `${length} octets of DATA with ${this.available} left in the window`);
    this.available -= length;
  }

  /**
   * The application consumed `n` received octets (padding counts as consumed on arrival): the
   * WINDOW_UPDATE increment to send now, or 0 to wait for more.
   */
  consume(n: number): number {
    this.unacknowledged += n;
    if (this.unacknowledged < this.size / 2) return 0;
    return this.acknowledge();
  }

  /**
   * This end changed the window it advertises (a new SETTINGS_INITIAL_WINDOW_SIZE, once the peer
   * acknowledged it, for a stream; a bigger connection window). The peer applies the same difference, so what is
   * left moves by it (below zero when the window shrank under what is in flight, §6.9.2); a
   * growing connection window is announced with a WINDOW_UPDATE (the returned increment, or 0).
   */
  resize(newSize: number): number {
    const delta = newSize - this.size;
    this.size = newSize;
    if (this.streamId !== 0) {
      this.available += delta;
      return 0;
    }
    // the connection window only grows, by WINDOW_UPDATE; a smaller size only changes the policy
    if (delta <= 0) return 0;
    this.available += delta;
    return delta;
  }

  private acknowledge(): number {
    const increment = this.unacknowledged;
    this.unacknowledged = 0;
    this.available += increment;
    return increment;
  }
}
