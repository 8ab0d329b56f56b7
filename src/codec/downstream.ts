import type { Duplex } from 'node:stream';
import type { PeerIdentity } from '../security/peer.js';
import type { BodySource } from './body.js';

/**
 * One request from a client, as any downstream codec (HTTP/1.1 today, HTTP/2 later) presents it
 * to the connection manager, and the way back for the response.
 */
export interface Downstream {
  readonly method: string;
  /** The request target as sent: origin-form `/path?q`, absolute-form, or `*`. */
  readonly target: string;
  /** Flat [name, value, ...] with lower-case names, as received. */
  readonly headers: string[];
  readonly scheme: 'http' | 'https';
  readonly remoteAddress: string;
  /** The request body, or null when the request has none. */
  readonly body: BodySource | null;
  readonly headersSent: boolean;
  /** The whole request has arrived: its last body byte (or END_STREAM) was read. */
  readonly requestComplete: boolean;
  /** `HTTP/1.1`, `HTTP/1.0`, `HTTP/2`: the access log's %PROTOCOL%. */
  readonly protocol: string;
  readonly localAddress: string;
  readonly localPort: number;
  /** `ip:port` of each end, as Envoy's %DOWNSTREAM_LOCAL_ADDRESS% and %DOWNSTREAM_REMOTE_ADDRESS%. */
  readonly localEndpoint: string;
  readonly remoteEndpoint: string;
  readonly remotePort: number;
  /** Where the client was going when iptables redirected its connection (ORIGINAL_DST clusters connect there). */
  readonly originalDestination?: { address: string; port: number };
  /** The mTLS peer of the connection, when TLS was terminated with a client certificate. */
  readonly peer?: PeerIdentity;
  /** The connection this request came on: one object for all its requests (per-connection state is keyed on it). */
  readonly downstreamConnection?: object;
  /** Size of the request head on the wire (request line and headers). */
  readonly headBytes: number;
  /** Request body bytes received so far (Envoy's %BYTES_RECEIVED%). */
  readonly bytesReceived: number;
  /** Response body bytes sent so far (Envoy's %BYTES_SENT%). */
  readonly bytesSent: number;

  /** Starts the response. `headers` are flat, lower-case; framing headers are the codec's job. */
  respond(status: number, headers: string[]): void;
  /** Returns false when the client is slow: wait for `onDrain`. */
  write(chunk: Buffer): boolean;
  /** Ends the response; HTTP/2 sends `trailers` (flat, lower-case) after the body, HTTP/1.1 drops them. */
  end(trailers?: string[]): void;
  /** Abandons the response abruptly (the client sees the connection close). */
  reset(): void;
  /** Asks the codec to close the connection after this response (drain, Connection: close). */
  closeAfterResponse(): void;
  /**
   * An upgrade the upstream answered (`upstreamHead` is its raw HTTP/1.1 response head): the
   * codec answers the client in its own terms (HTTP/1.1: that head as is; HTTP/2 extended
   * CONNECT: :status 200 for a 101) and hands over the byte stream, with any bytes the client
   * already sent past its request. Absent: the codec cannot tunnel.
   */
  upgrade?(status: number, upstreamHead: Buffer): { socket: Duplex; early: Buffer | undefined };
  /** HTTP/2 extended CONNECT (RFC 8441): the :protocol the client asked for (`websocket`). */
  readonly connectProtocol?: string;
}

/** What the codec tells the stream handling a request. */
export interface DownstreamEvents {
  /** The client is ready for more response bytes. */
  onDownstreamDrain(): void;
  /** The client went away before the response completed. */
  onDownstreamClose(): void;
}
