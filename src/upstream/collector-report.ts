import type { TracingCollector } from '../config/snapshot.js';
import { BufferedBody } from '../http/mirror.js';
import { getFromList } from '../router/headers.js';
import type { ClusterRuntime } from './cluster.js';
import { sendCounted } from './counted-request.js';
import type { UpstreamExchange, UpstreamHandler } from './exchange.js';
import type { UpstreamHost } from './host.js';

/**
 * One report, POSTed on the collector host's pool — the proxy's own upstream connections, as
 * Envoy's async client uses the cluster's (HTTP/2 for gRPC, the cluster's TLS) — and counted in the
 * cluster's stats. Resolves true on a 2xx (gRPC: grpc-status 0), false on another answer; rejects
 * when none came within the collector's timeout.
 */
export function report(cluster: ClusterRuntime, host: UpstreamHost, c: TracingCollector, path: string, contentType: string, body: Buffer | Uint8Array, grpc: boolean): Promise<boolean> {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const headers = ['host', c.authority, 'content-type', contentType, 'content-length', String(bytes.length), ...(grpc ? ['te', 'trailers'] : [])];
  for (const [k, v] of c.headers) headers.push(k, v);
  const pool = grpc ? host.poolFor('HTTP/2') : host.pool;
  return new Promise((resolve, reject) => {
    let status = 0;
    let grpcStatus: string | undefined;
    let done = false;
    let exchange: UpstreamExchange | undefined;
    // armed first: a pool may answer (an overflow, a closed pool) before request() returns
    const timer = setTimeout(() => {
      exchange?.abort();
      finish(new Error('timeout'));
    }, c.timeoutMs);
    timer.unref();
    const finish = (err: Error | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) return reject(err);
      resolve(grpc ? status === 200 && grpcStatus === '0' : status >= 200 && status < 300);
    };
    const handler: UpstreamHandler = {
      onUpstreamHeaders(code, h) {
        status = code;
        grpcStatus = getFromList(h, 'grpc-status');
      },
      onUpstreamData: () => true,
      onUpstreamEnd(trailers) {
        if (trailers) grpcStatus = getFromList(trailers, 'grpc-status') ?? grpcStatus;
        finish(undefined);
      },
      onUpstreamError: (err) => finish(new Error(err.kind)),
    };
    try {
      exchange = sendCounted(cluster, host, pool, { method: 'POST', path, headers, body: new BufferedBody([bytes], bytes.length) }, handler);
    } catch (e) {
      finish(e as Error);
    }
  });
}
