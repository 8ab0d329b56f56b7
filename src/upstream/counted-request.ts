import type { ClusterRuntime } from './cluster.js';
import type { UpstreamError, UpstreamExchange, UpstreamHandler, UpstreamRequest } from './exchange.js';
import type { H1Pool } from './http1/pool.js';
import type { H2Pool } from './http2/pool.js';
import type { UpstreamHost } from './host.js';

/**
 * A request the proxy sends on its own account — a mirrored copy, a tracer's report — counted as a
 * routed attempt is: active on the host, upstream_rq_total/active and the response code in the
 * cluster's stats. The counts are released once, whichever comes first: the end, an error (also one
 * the pool answers inside request()), an abort, or request() throwing.
 */
export function sendCounted(cluster: ClusterRuntime, host: UpstreamHost, pool: H1Pool | H2Pool, req: UpstreamRequest, handler: UpstreamHandler): UpstreamExchange {
  const counted = new CountedExchange(cluster, host, handler);
  host.active++;
  cluster.stats.upstreamRqTotal++;
  cluster.stats.upstreamRqActive++;
  try {
    counted.inner = pool.request(req, counted);
  } catch (e) {
    counted.release();
    throw e;
  }
  return counted;
}

class CountedExchange implements UpstreamHandler, UpstreamExchange {
  inner: UpstreamExchange | undefined;
  private released = false;

  constructor(
    private readonly cluster: ClusterRuntime,
    private readonly host: UpstreamHost,
    private readonly handler: UpstreamHandler,
  ) {}

  onUpstreamHeaders(status: number, headers: string[]): void {
    this.cluster.stats.response(status);
    this.handler.onUpstreamHeaders(status, headers);
  }
  onUpstreamData(chunk: Buffer): boolean {
    return this.handler.onUpstreamData(chunk);
  }
  onUpstreamEnd(trailers: string[] | undefined): void {
    this.release();
    this.handler.onUpstreamEnd(trailers);
  }
  onUpstreamError(err: UpstreamError): void {
    this.release();
    this.handler.onUpstreamError(err);
  }

  pause(): void {
    this.inner?.pause();
  }
  resume(): void {
    this.inner?.resume();
  }
  abort(): void {
    this.inner?.abort();
    this.release();
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.host.active--;
    this.cluster.stats.upstreamRqActive--;
  }
}
