/**
 * node:tls, loaded by the first Snapshot that terminates or originates TLS (at config time, by
 * worker/runtime.ts: no handshake waits for the import), not at startup. Loading it builds OpenSSL's
 * default context and cipher lists and pulls in all of node:crypto's JavaScript: ~3.3 MiB of
 * anonymous memory and ~3.6 MiB of the node binary's pages in a bare `node -e "require('tls')"`
 * (Node 24), which a plain proxy (no mTLS, no TLS origination) never needs.
 */
export function nodeTls(): typeof import('node:tls') {
  return process.getBuiltinModule('node:tls');
}
