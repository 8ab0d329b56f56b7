import type { Snapshot } from '../config/snapshot.js';

/**
 * node:tls, loaded by the first Snapshot that terminates or originates TLS (config time: no
 * handshake waits for the import), not at startup. Loading it builds OpenSSL's default context and
 * cipher lists and pulls in all of node:crypto's JavaScript: ~3.3 MiB of anonymous memory and
 * ~3.6 MiB of the node binary's pages in a bare `node -e "require('tls')"` (Node 24), which a plain
 * proxy (no mTLS, no TLS origination) never needs.
 */
export function nodeTls(): typeof import('node:tls') {
  return process.getBuiltinModule('node:tls');
}

/** Loads node:tls now if any listener or cluster of the Snapshot has a TLS transport socket. */
export function loadTlsIfUsed(snapshot: Pick<Snapshot, 'listeners' | 'clusters'>): void {
  const downstream = snapshot.listeners.some((l) => l.defaultFilterChain?.transportSocket || l.filterChains.some((c) => c.transportSocket));
  const upstream = downstream || snapshot.clusters.some((c) => c.transportSocket || c.transportSocketMatches?.length);
  if (upstream) nodeTls();
}
