import type { Socket } from 'node:net';
import { connectionPeers, tcpCheckRequest } from '../security/ext-authz/check-request.js';
import { checkGrpc } from '../security/ext-authz/grpc-client.js';
import type { ExtAuthzResult } from '../security/ext-authz/result.js';
import type { ExtAuthzService } from '../security/ext-authz/service.js';
import type { PeerIdentity } from '../security/peer.js';
import type { NetworkExtAuthzStats } from '../telemetry/stats.js';

export interface TcpCheckTarget {
  service: ExtAuthzService;
  /** An endpoint of the service's cluster, if it has one. */
  host: { address: string; port: number } | undefined;
  /** Where the client was going (original destination), else the socket's local end. */
  destination: { address: string; port: number };
  /** The mTLS peer, and this workload's own identity (the destination principal over TLS). */
  peer: PeerIdentity | undefined;
  localPrincipal: string | undefined;
}

/**
 * Envoy's network ext_authz (CUSTOM on TCP with a gRPC provider): the connection's two ends are
 * checked before the TCP proxy starts, the client's bytes waiting in the unread socket. Calls
 * `allowed` on OK (or on an error with failureModeAllow); denied, or an error without it, closes
 * the connection. A connection that goes away meanwhile abandons the check and decides nothing.
 */
export function checkConnection(socket: Socket, t: TcpCheckTarget, stats: NetworkExtAuthzStats, allowed: () => void): Promise<void> {
  stats.total++;
  stats.active++;
  const ends = { remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0, peer: t.peer, destination: t.destination, localPrincipal: t.localPrincipal };
  const { source, destination } = connectionPeers(ends);
  const pending = t.host ? checkGrpc(t.host, t.service.authority, t.service.timeoutMs, tcpCheckRequest(source, destination)) : undefined;
  const result: Promise<ExtAuthzResult> = pending?.result ?? Promise.resolve({ kind: 'error', message: 'no provider endpoint' });
  const onClose = () => pending?.cancel();
  socket.once('close', onClose);
  return result.then((r) => {
    socket.off('close', onClose);
    stats.active--;
    if (socket.destroyed) return; // the client left while the check ran
    if (r.kind === 'ok') stats.ok++;
    else if (r.kind === 'denied') stats.denied++;
    else stats.error++;
    if (r.kind === 'ok' || (r.kind === 'error' && t.service.failureModeAllow)) {
      if (r.kind === 'error') stats.failureModeAllowed++;
      allowed();
      return;
    }
    stats.cxClosed++;
    socket.destroy();
  });
}
