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
  /** `10.0.0.1:9080`, as /clusters and access logs show it. */
  readonly label: string;
  private hostStats: HostStats | undefined;
  /**
   * Made on the first request: most hosts of a large mesh are never called by this proxy, and a
   * pool with its options, TLS getter and connection sets costs ~250 bytes a host.
   */
  private mainPool: H1Pool | H2Pool | undefined;
  private h2pool: H2Pool | undefined;

  constructor(
    /**
     * Where it is and how the load balancer weighs it. An EDS update that keeps the host may change
     * its weight, priority, health or labels (never its address or tlsMode: that is another host).
     */
    public endpoint: HostEndpoint,
    private readonly cluster: Cluster,
    readonly clusterStats: ClusterStats,
    private readonly limits?: ClusterLimits,
    private readonly tls?: TlsStore,
    /** Row in the shared outlier counters, when the cluster has outlier detection (assigned by the agent). */
    readonly outlierSlot?: number,
  ) {
    this.label = hostPort(endpoint.address, endpoint.port);
  }

  /**
   * Its counters in the cluster's stats, made on first use: a host no request or connection ever
   * reached has none (/clusters shows it with zeros, as Envoy does), and a large mesh's sidecar calls
   * few of its 20,000 hosts.
   */
  get stats(): HostStats {
    return (this.hostStats ??= this.clusterStats.host(this.label));
  }

  /** The pool the cluster's protocol options call for (Envoy's http2_protocol_options: HTTP/2, else HTTP/1.1). */
  get pool(): H1Pool | H2Pool {
    return (this.mainPool ??= this.cluster.http2 && !this.cluster.useClientProtocol ? this.newH2Pool() : new H1Pool(this.endpoint.address, this.endpoint.port, this.poolOptions(), this.poolStats()));
  }

  /** The pool for a request from a client speaking `protocol` (they differ with useClientProtocol only: HTTP/2 clients get an HTTP/2 pool of their own). */
  poolFor(protocol: string): H1Pool | H2Pool {
    if (this.cluster.useClientProtocol && protocol === 'HTTP/2') return (this.h2pool ??= this.newH2Pool());
    return this.pool;
  }

  private newH2Pool(): H2Pool {
    const streams = this.cluster.http2?.maxConcurrentStreams;
    return new H2Pool(this.endpoint.address, this.endpoint.port, { ...this.poolOptions(), ...(streams ? { maxConcurrentStreams: streams } : {}) }, this.poolStats());
  }

  private poolOptions() {
    const { cluster, endpoint, tls } = this;
    return {
      connectTimeoutMs: cluster.connectTimeoutMs,
      idleTimeoutMs: cluster.idleTimeoutMs,
      maxHeaderBytes: MAX_RESPONSE_HEADER_BYTES,
      maxRequestsPerConnection: cluster.maxRequestsPerConnection,
      limits: this.limits,
      source: upstreamSourceFor(cluster, endpoint.address),
      ...(tls && (cluster.transportSocket || cluster.transportSocketMatches) ? { tls: () => tls.clientOptions(cluster, endpoint, 'http') } : {}),
    };
  }

  private poolStats() {
    return { cluster: this.clusterStats, host: this.stats };
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
    return Promise.all([this.mainPool?.close(), this.h2pool?.close()]).then(() => undefined);
  }
}
