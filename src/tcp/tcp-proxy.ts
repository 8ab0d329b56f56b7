import type { Socket } from 'node:net';
import { connectUpstream, upstreamSourceFor } from '../upstream/connect.js';
import { onceClosed, relayBytes } from '../common/byte-pipe.js';
import type { Listener, TcpProxy } from '../config/snapshot.js';
import { hostPort } from '../common/address.js';
import { formatResponseFlags, ResponseFlag, type ResponseFlagValue } from '../http/response-flags.js';
import type { UpstreamHost } from '../upstream/host.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import { Resource } from '../upstream/resource-limits.js';
import { TcpMetric, type IstioTcpSeries, type TcpProxyStats } from '../telemetry/stats.js';
import type { Runtime } from '../worker/runtime.js';
import type { PeerIdentity } from '../security/peer.js';
import type { AccessLogs } from '../telemetry/access-log/logger.js';
import { tcpLogContext } from '../telemetry/access-log/tcp-context.js';
import type { LogContext } from '../common/log-context.js';
import { DEFAULT_ISTIO_METRICS, variantOf, type IstioMetricsPolicy } from '../telemetry/istio-metrics.js';

/** Where a TCP proxy connection came in, and what it was going to. */
export interface TcpProxyContext {
  runtime: Runtime;
  listener: Listener;
  config: TcpProxy;
  /** The connection's original destination (ORIGINAL_DST clusters connect there). */
  originalDestination?: { address: string; port: number };
  /** TLS SNI seen by protocol detection, for the access log. */
  serverName?: string;
  /** The mTLS peer, when the connection arrived over Istio mTLS. */
  peer?: PeerIdentity;
  /** The TCP proxy's access logs; absent: none configured. */
  accessLogs?: AccessLogs;
  /** The istio_tcp_* metrics as the Telemetry API's overrides say; absent: all, standard labels. */
  metrics?: IstioMetricsPolicy;
}

/**
 * Envoy's tcp_proxy for one downstream connection: picks a cluster (weighted) and a host, connects
 * (connect timeout, circuit breaker on connections), then relays bytes both ways (relayBytes: backpressure,
 * half-close, close and reset propagation, idle timeout). Bytes read during protocol detection go
 * first; a FIN the client sent before the upstream connected follows them. A client that goes away
 * before that cancels the connect (flag DC). Stats: tcp.<prefix>.*, the cluster's upstream_cx_*,
 * istio_tcp_* and one access-log line, once both sides are closed.
 */
export class TcpProxySession {
  private upstream: Socket | undefined;
  private host: UpstreamHost | undefined;
  private cluster: ClusterRuntime | undefined;
  private readonly flags: ResponseFlagValue[] = [];
  private readonly startMs = Date.now();
  private readonly stats: TcpProxyStats;
  /** The connection's istio_tcp_* series (one per group of the Telemetry overrides), once connected. */
  private series: IstioTcpSeries[] | undefined;
  private received = 0;
  private sent = 0;
  private connectTimer: NodeJS.Timeout | undefined;
  private claimedConnection = false;
  private connected = false;
  /** The client left before the upstream connected. */
  private cancelled = false;
  private finished = false;
  /** Set by the owner to learn when the session is over. */
  onClosed: ((s: TcpProxySession) => void) | undefined;

  constructor(
    readonly downstream: Socket,
    private readonly ctx: TcpProxyContext,
    private preRead: Buffer | undefined,
  ) {
    this.stats = ctx.runtime.services.stats.tcpProxy(ctx.config.statPrefix);
    downstream.on('error', () => {}); // 'close' follows
    // a FIN is left for the relay (readableEnded); the client may also be gone already (reset during detection)
    onceClosed(downstream, () => this.onDownstreamClose());
  }

  start(): void {
    this.stats.downstreamCxTotal++;
    const clusterName = pickWeighted(this.ctx.config.clusters);
    const cluster = clusterName === undefined ? undefined : this.ctx.runtime.clusters.get(clusterName);
    if (!cluster) {
      this.stats.downstreamCxNoRoute++;
      return this.fail(ResponseFlag.NoClusterFound);
    }
    this.cluster = cluster;
    const dest = cluster.config.type === 'ORIGINAL_DST' ? this.ctx.originalDestination : undefined;
    const host = this.isSelf(dest) ? undefined : cluster.pick(dest);
    if (!host) {
      cluster.stats.upstreamCxNoneHealthy++;
      return this.fail(ResponseFlag.NoHealthyUpstream);
    }
    const limits = cluster.limits;
    if (limits && !limits.tryClaim(Resource.Connections, limits.thresholds.maxConnections)) {
      cluster.stats.upstreamCxOverflow++;
      return this.fail(ResponseFlag.UpstreamOverflow);
    }
    this.claimedConnection = !!limits;
    this.connect(host);
  }

  /** A passthrough to the proxy's own listener would loop forever. */
  private isSelf(dest: { address: string; port: number } | undefined): boolean {
    return !!dest && dest.port === this.downstream.localPort && dest.address === this.downstream.localAddress;
  }

  private connect(host: UpstreamHost): void {
    this.host = host;
    host.active++;
    const cs = this.cluster!.stats;
    cs.upstreamCxTotal++;
    cs.upstreamCxActive++;
    host.stats.cxTotal++;
    host.stats.cxActive++;
    const { address, port } = host.endpoint;
    const source = upstreamSourceFor(this.cluster!.config, address);
    const tls = this.ctx.runtime.services.tls?.clientOptions(this.cluster!.config, host.endpoint, 'tcp');
    const { socket: up, readyEvent } = connectUpstream(address, port, { ...source, allowHalfOpen: true, tls });
    this.upstream = up;
    this.connectTimer = setTimeout(() => up.destroy(new Error('connect timeout')), this.cluster!.config.connectTimeoutMs);
    up.on('error', () => {}); // 'close' follows
    up.once(readyEvent, () => this.onConnect());
    up.once('close', () => this.onUpstreamClose());
  }

  private onConnect(): void {
    clearTimeout(this.connectTimer);
    this.connected = true;
    const up = this.upstream!;
    this.opened();
    if (this.preRead) {
      this.countReceived(this.preRead.length);
      up.write(this.preRead);
      this.preRead = undefined;
    }
    const stats = this.stats;
    relayBytes(this.downstream, up, {
      aToB: {
        onBytes: (n) => this.countReceived(n),
        flow: { onPause: () => stats.downstreamFlowControlPausedReadingTotal++, onResume: () => stats.downstreamFlowControlResumedReadingTotal++ },
        onFlushAfterClose: () => stats.upstreamFlushTotal++,
      },
      bToA: { onBytes: (n) => this.countSent(n) },
      idleTimeoutMs: this.ctx.config.idleTimeoutMs,
      onIdle: () => stats.idleTimeout++,
    });
  }

  private countReceived(n: number): void {
    this.received += n;
    this.stats.downstreamCxRxBytesTotal += n;
    this.cluster!.stats.upstreamCxTxBytesTotal += n;
    for (const s of this.series!) if (s.metrics & TcpMetric.Received) s.receivedBytes += n;
  }

  private countSent(n: number): void {
    this.sent += n;
    this.stats.downstreamCxTxBytesTotal += n;
    this.cluster!.stats.upstreamCxRxBytesTotal += n;
    for (const s of this.series!) if (s.metrics & TcpMetric.Sent) s.sentBytes += n;
  }

  private opened(): void {
    this.series = this.istioSeries('-');
    for (const s of this.series) if (s.metrics & TcpMetric.Opened) s.opened++;
  }

  /** The series of each metric group with these flags (labels computed now, when overrides compute any). */
  private istioSeries(flags: string): IstioTcpSeries[] {
    const rt = this.ctx.runtime;
    const tpl = rt.istioLabels(this.ctx.listener, this.cluster?.name, 'tcp', this.ctx.peer?.spiffeId);
    const policy = this.ctx.metrics ?? DEFAULT_ISTIO_METRICS;
    const ctx = policy.perRequestLabels ? this.logContext(flags) : undefined;
    return policy.tcp.map((g) => rt.services.stats.istioTcpSeries(tpl, flags, variantOf(g, ctx)));
  }

  private onUpstreamClose(): void {
    clearTimeout(this.connectTimer);
    const host = this.host!;
    const cs = this.cluster!.stats;
    cs.upstreamCxActive--;
    cs.upstreamCxDestroy++;
    host.stats.cxActive--;
    host.active--;
    if (this.claimedConnection) this.cluster!.limits!.add(Resource.Connections, -1);
    if (!this.connected && !this.cancelled) {
      cs.upstreamCxConnectFail++;
      host.stats.cxConnectFail++;
      this.fail(ResponseFlag.UpstreamConnectionFailure);
      return;
    }
    // connected: the relay closes the downstream after it
    this.finish();
  }

  private onDownstreamClose(): void {
    const up = this.upstream;
    if (up && !up.destroyed && !this.connected) {
      // the client left while the upstream was connecting: the attempt is abandoned, not failed
      this.cancelled = true;
      this.flags.push(ResponseFlag.DownstreamConnectionTermination);
      up.destroy();
    }
    // connected: the relay closes the upstream after it
    this.finish();
  }

  /** Refuses the connection: the client sees it close with nothing sent. */
  private fail(flag: ResponseFlagValue): void {
    if (!this.flags.includes(flag)) this.flags.push(flag);
    this.downstream.destroy();
    this.finish();
  }

  /** Once both sides are gone: Istio's closed counter and the access log. */
  private finish(): void {
    if (this.finished) return;
    if (this.upstream && !this.upstream.destroyed) return;
    if (!this.downstream.destroyed) return;
    this.finished = true;
    const flags = formatResponseFlags(this.flags);
    const closing = !this.series || flags !== '-' ? this.istioSeries(flags) : this.series;
    for (const s of closing) {
      // never connected: the attempt is counted under its failure flags
      if (!this.series && s.metrics & TcpMetric.Opened) s.opened++;
      if (s.metrics & TcpMetric.Closed) s.closed++;
    }
    this.log(flags);
    this.onClosed?.(this);
  }

  private log(flags: string): void {
    this.ctx.accessLogs?.log(this.logContext(flags));
  }

  /** The connection as access logs and computed metric labels read it. */
  private logContext(flags: string): LogContext {
    const d = this.downstream;
    const up = this.upstream;
    return tcpLogContext({
        startTimeMs: this.startMs,
        durationMs: Date.now() - this.startMs,
        responseFlags: flags,
        bytesReceived: this.received,
        bytesSent: this.sent,
        upstreamHost: this.host?.label,
        upstreamCluster: this.cluster?.name,
        upstreamLocalAddress: up?.localAddress ? hostPort(up.localAddress, up.localPort ?? 0) : undefined,
        downstreamLocalAddress: this.ctx.originalDestination
          ? hostPort(this.ctx.originalDestination.address, this.ctx.originalDestination.port)
          : hostPort(d.localAddress ?? '', d.localPort),
        downstreamRemoteAddress: hostPort(d.remoteAddress ?? '', d.remotePort),
        requestedServerName: this.ctx.serverName,
        downstreamPeerUriSan: this.ctx.peer?.uris[0],
      });
  }

  /** Shutdown: both sides closed now. */
  destroy(): void {
    this.downstream.destroy();
    this.upstream?.destroy();
  }
}

/** A cluster by weight (one entry: no randomness spent). */
function pickWeighted(clusters: TcpProxy['clusters']): string | undefined {
  if (clusters.length <= 1) return clusters[0]?.name;
  const total = clusters.reduce((s, c) => s + c.weight, 0);
  let r = Math.random() * total;
  for (const c of clusters) {
    r -= c.weight;
    if (r < 0) return c.name;
  }
  return clusters[clusters.length - 1].name;
}
