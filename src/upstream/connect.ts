import { connect, isIP, Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { nodeTls } from '../common/node-builtins.js';
import { isPipeAddress } from '../common/address.js';
import type { Cluster } from '../config/snapshot.js';

/**
 * Where a cluster's connection to a host comes from and how a DNS name is resolved: Envoy's
 * upstream_bind_config (the bind address of the destination's family: 127.0.0.6 cannot reach an
 * IPv6 host), dns_lookup_family (V4_ONLY, V6_ONLY), and LOGICAL_DNS's rule: the first address the
 * resolver gives, without trying the others (STRICT_DNS names may fall back across addresses).
 */
export interface UpstreamSource {
  localAddress?: string;
  family?: 4 | 6;
  autoSelectFamily?: false;
}

export function upstreamSourceFor(cluster: Pick<Cluster, 'type' | 'upstreamBindAddresses' | 'dnsLookupFamily'>, destination: string): UpstreamSource {
  const family = isIP(destination);
  const bind = family ? cluster.upstreamBindAddresses?.find((b) => isIP(b) === family) : undefined;
  if (family || isPipeAddress(destination)) return bind ? { localAddress: bind } : {};
  return {
    ...(cluster.dnsLookupFamily === 'V4_ONLY' ? { family: 4 as const } : cluster.dnsLookupFamily === 'V6_ONLY' ? { family: 6 as const } : {}),
    ...(cluster.type === 'LOGICAL_DNS' ? { autoSelectFamily: false as const } : {}),
  };
}

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
  opts: UpstreamSource & { allowHalfOpen?: boolean; tls?: ConnectionOptions | Error },
): UpstreamSocket {
  const target = isPipeAddress(host)
    ? { path: host.startsWith('@') ? `\0${host.slice(1)}` : host }
    : {
        host,
        port,
        noDelay: true,
        ...(opts.localAddress ? { localAddress: opts.localAddress } : {}),
        ...(opts.family ? { family: opts.family } : {}),
        ...(opts.autoSelectFamily === false ? { autoSelectFamily: false } : {}),
      };
  const base = { ...target, ...(opts.allowHalfOpen ? { allowHalfOpen: true } : {}) };
  const tls = opts.tls;
  if (tls instanceof Error) {
    const socket = new Socket();
    queueMicrotask(() => socket.destroy(tls));
    return { socket, readyEvent: 'connect' };
  }
  if (tls) return { socket: nodeTls().connect({ ...base, ...tls }), readyEvent: 'secureConnect' };
  return { socket: connect(base), readyEvent: 'connect' };
}
