import { Pool } from 'undici';
import type { Cluster, LbEndpoint } from '../config/snapshot.js';

/** Envoy's default max response headers size, for undici (whose own default is 16 KiB). */
const MAX_RESPONSE_HEADER_BYTES = 60 * 1024;

/** An upstream endpoint with its connection pool and the counters the load balancer reads. */
export class UpstreamHost {
  /** Requests in flight to this host (LEAST_REQUEST reads it). */
  active = 0;
  readonly pool: Pool;
  /** `10.0.0.1:9080`, as /clusters and access logs show it. */
  readonly label: string;

  constructor(
    readonly endpoint: LbEndpoint,
    cluster: Pick<Cluster, 'connectTimeoutMs' | 'idleTimeoutMs'>,
  ) {
    const host = endpoint.address.includes(':') ? `[${endpoint.address}]` : endpoint.address;
    this.label = `${host}:${endpoint.port}`;
    this.pool = new Pool(`http://${this.label}`, {
      connections: null,
      pipelining: 1,
      keepAliveTimeout: cluster.idleTimeoutMs,
      keepAliveMaxTimeout: cluster.idleTimeoutMs,
      keepAliveTimeoutThreshold: 0,
      headersTimeout: 0, // route and per-try timeouts are the router's job (Envoy has no default)
      bodyTimeout: 0,
      maxHeaderSize: MAX_RESPONSE_HEADER_BYTES,
      connect: { timeout: cluster.connectTimeoutMs, noDelay: true },
    });
  }

  get weight(): number {
    return this.endpoint.weight;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
