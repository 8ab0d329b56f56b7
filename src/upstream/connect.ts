import { connect, Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

export interface UpstreamSocket {
  socket: Socket;
  /** `connect` for plaintext, `secureConnect` once the TLS handshake is done. */
  readyEvent: 'connect' | 'secureConnect';
}

/**
 * Opens a connection to an upstream host, plaintext or TLS. `tls` as an Error means the connection
 * cannot be made (e.g. ISTIO_MUTUAL without a workload certificate): the socket fails at once,
 * through the same 'error' + 'close' path as a refused connection.
 */
export function connectUpstream(
  host: string,
  port: number,
  opts: { localAddress?: string; allowHalfOpen?: boolean; tls?: ConnectionOptions | Error },
): UpstreamSocket {
  const base = { host, port, noDelay: true, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}), ...(opts.allowHalfOpen ? { allowHalfOpen: true } : {}) };
  const tls = opts.tls;
  if (tls instanceof Error) {
    const socket = new Socket();
    queueMicrotask(() => socket.destroy(tls));
    return { socket, readyEvent: 'connect' };
  }
  if (tls) return { socket: tlsConnect({ ...base, ...tls }), readyEvent: 'secureConnect' };
  return { socket: connect(base), readyEvent: 'connect' };
}
