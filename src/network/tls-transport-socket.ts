import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { DownstreamTlsContext } from '../config/snapshot.js';
import { peerIdentity, type PeerIdentity } from '../security/peer.js';
import type { TlsStore } from '../security/tls-store.js';
import type { ListenerStats } from '../telemetry/stats.js';

/**
 * The chain's TLS transport socket (Envoy's DownstreamTlsContext): its certificate presented, a
 * client certificate checked against its CA and SANs (required for mesh mTLS, whose peer must have
 * an identity), a bounded handshake. The bytes inspection read (the ClientHello) go back into the
 * socket first. `done` gets the TLS socket and the peer; a failed handshake closes the connection
 * (listener stat ssl.connection_error) and calls nothing.
 */
export function terminateTls(
  socket: Socket,
  tls: DownstreamTlsContext,
  store: TlsStore,
  stats: ListenerStats,
  inspected: { readAhead: Buffer | undefined; ended: boolean },
  done: (secure: TLSSocket, peer: PeerIdentity | undefined) => void,
): void {
  if (inspected.ended) {
    socket.destroy();
    return;
  }
  if (inspected.readAhead) socket.unshift(inspected.readAhead);
  store.terminate(socket, tls, (secure) => {
    const peer = secure && peerIdentity(secure);
    // Istio mTLS needs the peer's identity; a gateway's own TLS may have no client certificate
    if (!secure || (!peer && tls.requireClientCertificate)) {
      stats.sslHandshakeError++;
      secure?.destroy();
      socket.destroy();
      return;
    }
    stats.sslHandshake++;
    done(secure, peer);
  });
}
