/**
 * node:http2, which the upstream HTTP/2 pools speak. Loaded by the first cluster that can use it,
 * when a Runtime is compiled (config time: no request waits for it), not at startup: a proxy whose
 * upstreams all speak HTTP/1.1 never loads it (1 MiB of V8 heap in each thread, ~9 MiB of RSS).
 */
export function nodeHttp2(): typeof import('node:http2') {
  return process.getBuiltinModule('node:http2');
}
