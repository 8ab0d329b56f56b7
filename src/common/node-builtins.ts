/**
 * Node built-ins the proxy takes with `process.getBuiltinModule` instead of an ESM import, for the
 * memory an idle proxy would otherwise pay. Types come from `import type` of the module itself.
 */

/**
 * node:http as its CommonJS exports. An ESM import of it (`import { createServer } from 'node:http'`)
 * builds the module's namespace, which reads every export, and three of them (WebSocket, CloseEvent,
 * MessageEvent) are lazy getters that load node's bundled undici: +2.1 MiB of V8 heap in each thread
 * that imports it and ~12 MiB of RSS for the process.
 */
export const nodeHttp = process.getBuiltinModule('node:http');

let http2: typeof import('node:http2') | undefined;

/**
 * node:http2, which the upstream HTTP/2 pools speak. Loaded by the first cluster that can use it,
 * when a Runtime is compiled (worker/runtime.ts; config time: no request waits for it), not at
 * startup: a proxy whose upstreams all speak HTTP/1.1 never loads it (1 MiB of V8 heap in each
 * thread, ~9 MiB of RSS).
 */
export function nodeHttp2(): typeof import('node:http2') {
  return (http2 ??= process.getBuiltinModule('node:http2'));
}

let tls: typeof import('node:tls') | undefined;

/**
 * node:tls, loaded by the first Snapshot that terminates or originates TLS (at config time, by
 * worker/runtime.ts: no handshake waits for the import), not at startup. Loading it builds OpenSSL's
 * default context and cipher lists and pulls in all of node:crypto's JavaScript: ~3.3 MiB of
 * anonymous memory and ~3.6 MiB of the node binary's pages in a bare `node -e "require('tls')"`
 * (Node 24), which a plain proxy (no mTLS, no TLS origination) never needs.
 */
export function nodeTls(): typeof import('node:tls') {
  return (tls ??= process.getBuiltinModule('node:tls'));
}
