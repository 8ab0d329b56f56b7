import type { Cluster } from '../config/snapshot.js';
import type { HostEndpoint } from '../config/endpoints.js';
import { H1Pool } from './http1/pool.js';
import { H2Pool } from './http2/pool.js';
import type { ClusterStats, HostStats } from '../telemetry/stats.js';
import type { ClusterLimits } from './resource-limits.js';
import type { TlsStore } from '../security/tls-store.js';
import { hostPort } from '../common/address.js';
import { upstreamSourceFor } from './connect.js';

/** Envoy's default max headers size, applied to upstream responses too. */
const MAX_RESPONSE_HEADER_BYTES = 60 * 1024;

/** An upstream endpoint with its connection pool and the counters the load balancer reads. */
export class UpstreamHost {
  /** Requests in flight to this host (LEAST_REQUEST reads it). */
  active = 0;
  readonly pool: H1Pool | H2Pool;
  private readonly h2pool: H2Pool | undefined;

  /** The pool for a request from a client speaking `protocol` (they differ with useClientProtocol only). */
  poolFor(protocol: string): H1Pool | H2Pool {
    return this.h2pool && protocol === 'HTTP/2' ? this.h2pool : this.pool;
  }
  /** `10.0.0.1:9080`, as /clusters and access logs show it. */
  readonly label: string;
  readonly stats: HostStats;

  constructor(
    /**
     * Where it is and how the load balancer weighs it. An EDS update that keeps the host may change
     * its weight, priority, health or labels (never its address or tlsMode: that is another host).
     */
    public endpoint: HostEndpoint,
    cluster: Cluster,
    readonly clusterStats: ClusterStats,
    limits?: ClusterLimits,
    tls?: TlsStore,
    /** Row in the shared outlier counters, when the cluster has outlier detection (assigned by the agent). */
    readonly outlierSlot?: number,
  ) {
    this.label = hostPort(endpoint.address, endpoint.port);
    this.stats = clusterStats.host(this.label);
    const options = {
      connectTimeoutMs: cluster.connectTimeoutMs,
      idleTimeoutMs: cluster.idleTimeoutMs,
      maxHeaderBytes: MAX_RESPONSE_HEADER_BYTES,
      maxRequestsPerConnection: cluster.maxRequestsPerConnection,
      limits,
      source: upstreamSourceFor(cluster, endpoint.address),
      ...(tls && (cluster.transportSocket || cluster.transportSocketMatches) ? { tls: () => tls.clientOptions(cluster, endpoint, 'http') } : {}),
    };
    const stats = { cluster: clusterStats, host: this.stats };
    // Envoy's http2_protocol_options: multiplexed sessions; else keep-alive HTTP/1.1 connections
    const h2 = () => new H2Pool(endpoint.address, endpoint.port, { ...options, ...(cluster.http2?.maxConcurrentStreams ? { maxConcurrentStreams: cluster.http2.maxConcurrentStreams } : {}) }, stats);
    this.pool = cluster.http2 && !cluster.useClientProtocol ? h2() : new H1Pool(endpoint.address, endpoint.port, options, stats);
    // useClientProtocol: HTTP/2 clients get an HTTP/2 pool of their own
    if (cluster.useClientProtocol) this.h2pool = h2();
  }

  /** Slow start (Istio warmup): set while this host is new; its weight ramps up over the window. */
  slowStart: { windowMs: number; aggression: number; minWeightPercent: number; since: number } | undefined;

  /** Envoy's slow-start weight: weight × max(minWeight%, (age / window)^(1 / aggression)). */
  get weight(): number {
    const s = this.slowStart;
    if (!s) return this.endpoint.weight;
    const age = Date.now() - s.since;
    if (age >= s.windowMs) {
      this.slowStart = undefined;
      return this.endpoint.weight;
    }
    return this.endpoint.weight * Math.max(s.minWeightPercent / 100, Math.pow(Math.max(age, 1) / s.windowMs, 1 / s.aggression));
  }

  close(): Promise<void> {
    return Promise.all([this.pool.close(), this.h2pool?.close()]).then(() => undefined);
  }
}
