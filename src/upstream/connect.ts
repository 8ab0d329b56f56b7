import { connect, Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { isPipeAddress } from '../common/address.js';

export interface UpstreamSocket {
  socket: Socket;
  /** `connect` for plaintext, `secureConnect` once the TLS handshake is done. */
  readyEvent: 'connect' | 'secureConnect';
}

/**
 * Opens a connection to an upstream host, plaintext or TLS: `host` is an IP or DNS name with its
 * port, or a unix socket path (`/run/app.sock`, or `@name` in Linux's abstract namespace; the port
 * is then unused). `tls` as an Error means the connection cannot be made (e.g. ISTIO_MUTUAL without a
 * workload certificate): the socket fails at once, through the same 'error' + 'close' path as a
 * refused connection.
 */
export function connectUpstream(
  host: string,
  port: number,
  opts: { localAddress?: string; allowHalfOpen?: boolean; tls?: ConnectionOptions | Error },
): UpstreamSocket {
  const target = isPipeAddress(host)
    ? { path: host.startsWith('@') ? `\0${host.slice(1)}` : host }
    : { host, port, noDelay: true, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) };
  const base = { ...target, ...(opts.allowHalfOpen ? { allowHalfOpen: true } : {}) };
  const tls = opts.tls;
  if (tls instanceof Error) {
    const socket = new Socket();
    queueMicrotask(() => socket.destroy(tls));
    return { socket, readyEvent: 'connect' };
  }
  if (tls) return { socket: tlsConnect({ ...base, ...tls }), readyEvent: 'secureConnect' };
  return { socket: connect(base), readyEvent: 'connect' };
}
