import type { Downstream } from '../codec/downstream.js';
import type { UpstreamError, UpstreamExchange, UpstreamHandler, UpstreamRequest } from '../upstream/exchange.js';
import type { UpstreamHost } from '../upstream/host.js';
import type { ClusterRuntime } from '../upstream/cluster.js';
import type { OutlierCounters, OutlierDetector } from '../upstream/outlier.js';

import { UpgradeTunnel, type TunnelResult } from '../http/upgrade-tunnel.js';

/** What an attempt tells the router that started it, while the router still wants to hear. */
export interface AttemptCallbacks {
  onAttemptHeaders(status: number, headers: string[]): void;
  /** Return false to stop reading until the attempt's `resume()`. */
  onAttemptData(chunk: Buffer): boolean;
  onAttemptEnd(trailers: string[] | undefined): void;
  onAttemptError(err: UpstreamError): void;
  /** The try's own timer ran out; the attempt has counted it and reported it to outlier detection. */
  onAttemptPerTryTimeout(): void;
  /** The upgrade request ended: `status` is the upstream's answer (101: the tunnel ran), undefined when it never answered. */
  onTunnelEnd(result: TunnelResult): void;
}

/** Where an attempt reports its host's outcomes (the worker's shared outlier counters). */
export interface OutlierReporting {
  readonly outliers?: OutlierCounters;
  readonly reportOutlier?: (cluster: string, host: string, detector: OutlierDetector) => void;
}

/**
 * One try of a request to one upstream host (Envoy's UpstreamRequest): its exchange on the host's
 * pool or its upgrade tunnel, its per-try timer, the host's accounting (active requests, rq stats)
 * and the outlier report of its outcome.
 *
 * When the router gives up on it (`abandon`, `cancel`) the attempt forgets the router: whatever the
 * exchange or the tunnel still reports goes nowhere, so a late event of an abandoned try can never
 * reach the router or the stream.
 */
export class UpstreamAttempt implements UpstreamHandler {
  private router: AttemptCallbacks | undefined;
  private exchange: UpstreamExchange | undefined;
  private tunnel: UpgradeTunnel | undefined;
  /** Set while the host counts this request as active. */
  private counted = false;
  private perTryTimer: NodeJS.Timeout | undefined;
  private gotHeaders = false;
  /** The exchange ended, or the router stopped it: anything it still reports is ignored. */
  private over = false;
  /** When the request went upstream, for x-envoy-upstream-service-time. */
  readonly startMs = Date.now();

  constructor(
    router: AttemptCallbacks,
    readonly host: UpstreamHost,
    private readonly cluster: ClusterRuntime,
    private readonly outliers: OutlierReporting,
  ) {
    this.router = router;
  }

  /** The router still listens to this attempt. */
  get attached(): boolean {
    return this.router !== undefined;
  }

  /** Sends the request on the host's pool for a client speaking `protocol`. */
  send(protocol: string, request: UpstreamRequest): void {
    this.count();
    this.exchange = this.host.poolFor(protocol).request(request, this);
  }

  /** The upgrade request on its own upstream connection; a 101 makes it a tunnel until either side closes. */
  openTunnel(ds: Downstream & Required<Pick<Downstream, 'upgrade'>>, head: string, opts: ConstructorParameters<typeof UpgradeTunnel>[2]): void {
    this.count();
    const tunnel = new UpgradeTunnel(ds, head, opts, (r) => this.onTunnelDone(r));
    this.tunnel = tunnel;
    tunnel.start();
  }

  /** Starts the per-try timer (Envoy starts it once the whole request was sent), unless the try is already over. */
  armPerTryTimeout(ms: number): void {
    if (this.router && this.exchange && !this.perTryTimer) this.perTryTimer = setTimeout(() => this.onPerTryTimeout(), ms);
  }

  /** Backpressure from the client: the response is read again. */
  resume(): void {
    this.exchange?.resume();
  }

  /** The router gives up on this try (retry, timeout): the exchange is aborted and counted as an error. */
  abandon(): void {
    if (this.exchange) this.host.stats.rqError++;
    this.cancel();
  }

  /** The request is over (answered, reset, client gone): the exchange or tunnel is stopped. */
  cancel(): void {
    this.router = undefined;
    this.over = true;
    if (this.perTryTimer) clearTimeout(this.perTryTimer);
    // a tunnel's accounting happens when it reports its end
    this.tunnel?.abort();
    if (!this.exchange) return;
    this.exchange.abort();
    this.exchange = undefined;
    this.release();
  }

  onUpstreamHeaders(status: number, headers: string[]): void {
    if (!this.router) return;
    this.gotHeaders = true;
    this.recordOutlier(status);
    this.router.onAttemptHeaders(status, headers);
  }

  onUpstreamData(chunk: Buffer): boolean {
    return this.router ? this.router.onAttemptData(chunk) : true;
  }

  onUpstreamEnd(trailers: string[] | undefined): void {
    if (this.over) return;
    this.host.stats.rqSuccess++;
    this.finish();
    const router = this.router;
    this.router = undefined;
    router?.onAttemptEnd(trailers);
  }

  onUpstreamError(err: UpstreamError): void {
    if (this.over) return;
    this.host.stats.rqError++;
    this.finish();
    const router = this.router;
    this.router = undefined;
    if (!router) return;
    // a local-origin failure before any response (not the breaker's, nor the client body's)
    if (!this.gotHeaders && err.kind !== 'overflow' && err.kind !== 'request_body_overflow' && err.kind !== 'downstream_body_error') this.recordOutlier(undefined);
    router.onAttemptError(err);
  }

  private onPerTryTimeout(): void {
    this.perTryTimer = undefined;
    const router = this.router;
    if (!router || !this.exchange) return;
    this.cluster.stats.upstreamRqPerTryTimeout++;
    this.recordOutlier(undefined);
    router.onAttemptPerTryTimeout();
  }

  private onTunnelDone(r: TunnelResult): void {
    this.tunnel = undefined;
    if (r.status === undefined) this.host.stats.rqError++;
    else {
      this.host.stats.rqSuccess++;
      this.host.clusterStats.response(r.status);
    }
    this.release();
    const router = this.router;
    this.router = undefined;
    router?.onTunnelEnd(r);
  }

  private finish(): void {
    this.over = true;
    if (this.perTryTimer) clearTimeout(this.perTryTimer);
    this.exchange = undefined;
    this.release();
  }

  private count(): void {
    const host = this.host;
    host.active++;
    const cs = this.cluster.stats;
    cs.upstreamRqTotal++;
    cs.upstreamRqActive++;
    host.stats.rqTotal++;
    host.stats.rqActive++;
    this.counted = true;
  }

  private release(): void {
    if (!this.counted) return;
    this.counted = false;
    const host = this.host;
    host.active--;
    host.stats.rqActive--;
    host.clusterStats.upstreamRqActive--;
  }

  /**
   * Feeds outlier detection: a response status, or (status undefined) a local-origin failure —
   * connect failure, reset, timeout. A counter reaching its threshold is reported to the agent.
   */
  private recordOutlier(status: number | undefined): void {
    const od = this.cluster.config.outlierDetection;
    const slot = this.host.outlierSlot;
    const counters = this.outliers.outliers;
    if (!od || slot === undefined || !counters) return;
    const hit = status === undefined ? counters.localFailure(slot, od) : counters.response(slot, od, status);
    if (hit) this.outliers.reportOutlier?.(this.cluster.name, this.host.label, hit);
  }
}
