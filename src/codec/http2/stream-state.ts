/**
 * The states of one HTTP/2 stream on the server side (RFC 9113 §5.1; no push, so never reserved),
 * pure: what a frame received in each state means — taken, ignored, a stream error or a connection
 * error — and where each frame leaves the stream. The connection (./connection.ts) holds the state
 * of the streams it knows and asks here; a stream it has forgotten is `closed`, one past the highest
 * id it has seen is `idle`.
 *
 * Where the RFC leaves room, this follows nghttp2 (Envoy's codec): after this end reset a stream, or
 * forgot it, frames the client sent before it knew are ignored (§5.1 "closed": frames in flight), so
 * only a stream known to be half-closed (remote) turns a late HEADERS into a connection error.
 */
import { H2_PROTOCOL_ERROR, H2_STREAM_CLOSED } from './error-codes.js';

export type StreamState = 'idle' | 'open' | 'half-closed-local' | 'half-closed-remote' | 'closed';

/** The frames whose meaning depends on the stream's state. */
export type StreamFrame = 'HEADERS' | 'DATA' | 'RST_STREAM' | 'WINDOW_UPDATE' | 'PRIORITY';

export type Verdict =
  | { readonly kind: 'accept' }
  | { readonly kind: 'ignore' }
  | { readonly kind: 'stream-error'; readonly code: number }
  | { readonly kind: 'connection-error'; readonly code: number };

const ACCEPT: Verdict = { kind: 'accept' };
const IGNORE: Verdict = { kind: 'ignore' };
const streamError = (code: number): Verdict => ({ kind: 'stream-error', code });
const connectionError = (code: number): Verdict => ({ kind: 'connection-error', code });

/** A client-initiated stream id: odd (§5.1.1). */
export function isClientStreamId(id: number): boolean {
  return (id & 1) === 1;
}

/**
 * What `frame` received on a stream in `state` means. `endStream`: the frame carried END_STREAM
 * (a HEADERS on an open stream is the request's trailers, which must end the stream, §8.1).
 */
export function onReceive(state: StreamState, frame: StreamFrame, endStream: boolean): Verdict {
  if (frame === 'PRIORITY') return ACCEPT; // allowed in every state (§5.1), and deprecated (§5.3.2)
  switch (state) {
    case 'idle':
      // only HEADERS opens a stream; anything else on an idle stream is a connection error (§5.1)
      return frame === 'HEADERS' ? ACCEPT : connectionError(H2_PROTOCOL_ERROR);
    case 'open':
    case 'half-closed-local':
      // a second HEADERS is the trailers: without END_STREAM it is malformed (§8.1)
      if (frame === 'HEADERS' && !endStream) return streamError(H2_PROTOCOL_ERROR);
      return ACCEPT;
    case 'half-closed-remote':
      // the client ended its side: only WINDOW_UPDATE and RST_STREAM may follow (§5.1); a late
      // HEADERS is a connection error (nghttp2), DATA a stream error
      if (frame === 'WINDOW_UPDATE' || frame === 'RST_STREAM') return ACCEPT;
      return frame === 'HEADERS' ? connectionError(H2_STREAM_CLOSED) : streamError(H2_STREAM_CLOSED);
    case 'closed':
      // frames in flight when this end closed or reset it (§5.1 "closed")
      return IGNORE;
  }
}

/** The state after a HEADERS or DATA frame was received (`endStream`: it carried END_STREAM). */
export function afterReceive(state: StreamState, endStream: boolean): StreamState {
  if (state === 'idle') return endStream ? 'half-closed-remote' : 'open';
  if (!endStream) return state;
  if (state === 'open') return 'half-closed-remote';
  if (state === 'half-closed-local') return 'closed';
  return state;
}

/** The state after this end sent a frame ending its side (END_STREAM). */
export function afterSendEnd(state: StreamState): StreamState {
  if (state === 'open') return 'half-closed-local';
  if (state === 'half-closed-remote') return 'closed';
  return state;
}

/** The client's side of the stream is over: no more request frames may come. */
export function remoteClosed(state: StreamState): boolean {
  return state === 'half-closed-remote' || state === 'closed';
}

/** This end's side is over: no more response frames may leave. */
export function localClosed(state: StreamState): boolean {
  return state === 'half-closed-local' || state === 'closed';
}
