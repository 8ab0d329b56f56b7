import type { Server } from 'node:http';
import { packageVersion } from '../common/version.js';
import { describeLoadError } from '../config/load.js';
import type { ConfigSource } from './config-source.js';
import type { XdsDump } from '../config/envoy/xds-dump.js';
import type { Snapshot } from '../config/snapshot.js';
import { createHealthServer } from '../admin/health.js';
import { createStatusServer, type AppProber } from '../admin/status.js';
import { createAdminServer, createStatsServer, type AdminBackend } from '../admin/admin.js';
import { capAdminConnections } from '../admin/connection-cap.js';
import { aggregateStats } from '../telemetry/aggregate.js';
import { getLogLevel, log, setLogLevel, type LogLevel } from '../telemetry/log.js';
import type { ServerValues, WrittenStat } from '../telemetry/prometheus.js';
import type { StatsSnapshot } from '../telemetry/stats.js';
import { ConfigWatcher } from './config-watcher.js';
import { WorkerPool, type DataPlaneThread } from './workers.js';
import { ResourceTable } from '../upstream/resource-limits.js';
import { SharedTokenBuckets } from '../filters/http/local_ratelimit/shared-buckets.js';
import { OutlierCounters } from '../upstream/outlier.js';
import { OutlierDetectorHub } from './outlier-detector.js';
import { StatsWriter } from '../telemetry/stats.js';
import { StatsMatcherCache, type StatsMatcher } from '../telemetry/stats-matcher.js';
import { MAX_COUNTED_LISTENERS, MAX_LIMITED_CLUSTERS, MAX_OUTLIER_HOSTS, RuntimeSlotAssigner } from './runtime-slots.js';
import type { RuntimeSlots } from '../worker/messages.js';
import { openFilesSoftLimit, overloadProtection, type OverloadFlags } from './overload-protection.js';
import { ConfigUpdateStats, type ConfigApi, type UpdateOutcome } from './config-update-stats.js';
import { DRAIN_ALL_NOW } from '../worker/messages.js';
import { releaseLoadGarbage } from './release-memory.js';

/** /drain_listeners' query: Envoy's inboundonly, graceful and skip_exit. */
export interface DrainListenersOptions {
  inboundOnly: boolean;
  graceful: boolean;
  /** With graceful: the listeners are not stopped when the drain period ends. */
  skipExit: boolean;
}

export interface AgentOptions {
  /** Where the configuration comes from (config-source.ts). */
  source: ConfigSource;
  workers: number;
  /** Where the data plane runs (workers.ts); absent: on the main thread when there is one worker. */
  dataPlaneThread?: DataPlaneThread;
  logLevel: LogLevel;
  /**
   * Istio's terminationDrainDuration: the longest a drain waits for connections to finish; also the
   * drain period of a graceful /drain_listeners (Envoy's --drain-time-s).
   */
  drainDurationMs: number;
  /** Envoy's --drain-strategy for a graceful drain (default immediate: every connection is told at once). */
  drainStrategy?: 'gradual' | 'immediate';
  /**
   * The admin API (on adminHost, default 127.0.0.1), and Istio's Prometheus and health ports (on
   * 0.0.0.0). Absent stats/health: not served by the agent (under istiod the bootstrap's static
   * listeners serve 15090 and 15021 through the data plane).
   */
  ports: { admin: number; adminHost?: string; stats?: number; health?: number };
  /**
   * pilot-agent's status port (15020, on 0.0.0.0): readiness, /quitquitquit, the app's probes
   * injection sent there (ISTIO_KUBE_APP_PROBERS). Absent: not served (under pilot-agent it is its own).
   */
  status?: { port: number; probers: Readonly<Record<string, AppProber>>; appHost: string };
  /** Reload when the source's files change (SIGHUP always reloads a pulled source). */
  watch: boolean;
  /** Downstream connection limits and the overload manager; absent: the defaults. */
  overload?: OverloadFlags;
}

// stat names made once (the stats matcher remembers its answers by name)
const HIGH_PRIORITY_OPEN = ['cx_open', 'rq_pending_open', 'rq_open', 'rq_retry_open'].map((g) => `circuit_breakers.high.${g}`);
const ENFORCED_STATS = new Map<string, string>();
function enforcedStat(detector: string): string {
  let name = ENFORCED_STATS.get(detector);
  if (!name) ENFORCED_STATS.set(detector, (name = `outlier_detection.ejections_enforced_${detector}`));
  return name;
}

const VERSION = packageVersion();

/**
 * The main thread: loads config into a Snapshot, runs the workers, serves health, admin and stats,
 * reloads config, and drains on shutdown.
 */
export class Agent implements AdminBackend {
  private readonly pool: WorkerPool;
  private readonly servers: Server[] = [];
  private watcher: ConfigWatcher | undefined;
  private ready = false;
  private draining = false;
  private healthCheckFailed = false;
  private reloading: Promise<void> | undefined;
  private reloadAgain = false;
  /** The warnings of the last load, so that a reload that changes nothing still reports new ones. */
  private warned = new Set<string>();
  private readonly startedAt = Date.now();
  private configReloads = 0;
  private configRejected = 0;
  private exitResolve: ((code: number) => void) | undefined;
  /** Resolves with the exit code once the agent has shut down (drain finished or quit). */
  readonly exited: Promise<number>;
  current: Snapshot | undefined;
  private readonly statsMatchers = new StatsMatcherCache();
  /** The current Snapshot's rows in the tables the workers share. */
  private currentSlots: RuntimeSlots | undefined;
  private readonly slotAssigner = new RuntimeSlotAssigner();
  /** The global downstream connection limit and where it came from, for the startup log. */
  private readonly connectionLimitSource: string;
  private readonly outliers: OutlierDetectorHub;
  /** listener_manager.lds.*, cluster_manager.cds.*, workers_started, control_plane.connected_state. */
  private readonly updates = new ConfigUpdateStats();
  /** The graceful drain sequence started (Envoy's drainManager().draining()). */
  private drainSequenceStarted = false;
  private drainPeriodTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: AgentOptions) {
    const outlierTable = OutlierCounters.create(MAX_OUTLIER_HOSTS);
    const { protection, source } = overloadProtection(opts.overload, opts.workers, MAX_COUNTED_LISTENERS, openFilesSoftLimit());
    this.connectionLimitSource = source;
    this.pool = new WorkerPool({
      count: opts.workers,
      thread: opts.dataPlaneThread ?? (opts.workers === 1 ? 'main' : 'workers'),
      logLevel: opts.logLevel,
      limits: ResourceTable.create(MAX_LIMITED_CLUSTERS, opts.workers),
      outliers: outlierTable,
      tokenBuckets: SharedTokenBuckets.create(),
      protection,
    });
    this.outliers = new OutlierDetectorHub(new OutlierCounters(outlierTable), (cluster, ejected) => this.pool.broadcast({ type: 'ejections', cluster, ejected }));
    this.pool.onOutlier = (cluster, host, detector) => this.outliers.report(cluster, host, detector);
    this.pool.currentEjections = () => this.outliers.allEjections();
    this.exited = new Promise((r) => (this.exitResolve = r));
  }

  async start(): Promise<void> {
    const source = this.opts.source;
    // the admin API answers from the start, as Envoy's: PRE_INITIALIZING (/ready 503, server.state 2)
    // while a control plane has not sent the first configuration yet
    const ports = this.opts.ports;
    if (ports.health !== undefined) await this.listen(createHealthServer(() => this.ready && !this.draining && !this.healthCheckFailed), '0.0.0.0', ports.health, 'health');
    await this.listen(createAdminServer(this), ports.adminHost ?? '127.0.0.1', ports.admin, 'admin');
    if (ports.stats !== undefined) await this.listen(createStatsServer(this), '0.0.0.0', ports.stats, 'stats');
    const status = this.opts.status;
    if (status) {
      const backend = { isReady: () => this.ready && !this.draining && !this.healthCheckFailed, quit: () => this.quit(), probers: status.probers, appHost: status.appHost };
      await this.listen(createStatusServer(backend), '0.0.0.0', status.port, 'status');
    }
    let loaded;
    try {
      loaded = await source.initial({
        apply: (s, reason) => this.applyPushed(s, reason),
        recordUpdate: (api, outcome, version) => this.recordConfigUpdate(api, outcome, version),
        setControlPlaneConnected: (connected) => this.setControlPlaneConnected(connected),
      });
    } catch (err) {
      await this.closeServers();
      throw err;
    }
    if (this.shuttingDown) return;
    const { snapshot, warnings } = loaded;
    for (const w of warnings) log.warn(w);
    this.warned = new Set(warnings);
    const slots = this.slotAssigner.assign(snapshot);
    this.current = snapshot;
    this.currentSlots = slots;
    this.pool.start();
    await this.pool.apply(snapshot, slots);
    this.outliers.update(snapshot, slots);
    if (source.reload) this.recordFileUpdate('success', snapshot.version);
    this.updates.setWorkersStarted(true);
    this.ready = true;
    void releaseLoadGarbage();
    if (this.opts.watch && source.watchPaths?.length) {
      this.watcher = new ConfigWatcher(source.watchPaths, () => void this.reload('file change'));
      await this.watcher.start();
    }
    const listeners = snapshot.listeners.map((l) => `${l.name} (${l.address}:${l.port})`).join(', ');
    log.info(`ready: config ${snapshot.version}, ${this.opts.workers} worker(s), listeners: ${listeners || 'none'}`);
    log.info(`downstream connection limit: ${this.connectionLimitSource}`);
    for (const name of Object.keys(this.opts.overload?.listenerLimits ?? {})) {
      if (name !== '*' && !snapshot.listeners.some((l) => l.name === name)) log.warn(`--listener-connection-limit: no listener ${name} (yet); the limit applies once it exists`);
    }
  }

  private listen(server: Server, host: string, port: number, what: string): Promise<void> {
    this.servers.push(capAdminConnections(server, what));
    return new Promise((resolve, reject) => {
      server.once('error', (e) => reject(new Error(`${what} server: cannot bind ${host}:${port}: ${e.message}`)));
      server.listen(port, host, () => resolve());
    });
  }

  /**
   * Reads the config again. A valid, changed config is pushed to every worker; an invalid one is
   * logged and counted, and the last good Snapshot stays. Overlapping calls coalesce.
   */
  reload(reason: string): Promise<void> {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = this.doReload(reason).finally(() => {
      this.reloading = undefined;
      if (this.reloadAgain) {
        this.reloadAgain = false;
        void this.reload(reason);
      } else void releaseLoadGarbage(); // after the last of coalesced reloads
    });
    return this.reloading;
  }

  private async doReload(reason: string): Promise<void> {
    const source = this.opts.source;
    if (this.draining || !source.reload) return;
    let snapshot: Snapshot;
    let slots: RuntimeSlots;
    try {
      const t = await source.reload();
      snapshot = t.snapshot;
      const fresh = t.warnings.filter((w) => !this.warned.has(w));
      this.warned = new Set(t.warnings);
      // an unchanged Snapshot can still come with news (a credential rotation that failed, the last good copy kept)
      if (snapshot.version === this.current?.version) {
        for (const w of fresh) log.warn(w);
        return;
      }
      for (const w of t.warnings) log.warn(w);
      slots = this.slotAssigner.assign(snapshot);
    } catch (err) {
      this.configRejected++;
      this.recordFileUpdate('rejected');
      log.error(`config rejected (${reason}); keeping config ${this.current?.version}:`);
      for (const line of describeLoadError(err)) log.error(`  ${line}`);
      return;
    }
    try {
      await this.install(snapshot, slots);
      this.recordFileUpdate('success', snapshot.version);
      log.info(`config ${snapshot.version} applied (${reason})`);
    } catch (err) {
      this.configRejected++;
      this.recordFileUpdate('rejected');
      log.error(`config ${snapshot.version} rejected by the data plane (${reason}): ${(err as Error).message}`);
    }
  }

  /**
   * Graceful shutdown: stop accepting, finish in-flight requests (responses carry
   * `connection: close`), then exit once no connection is left or the drain duration is over.
   */
  private shuttingDown = false;

  async shutdown(reason: string): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    log.info(`${reason}: draining for up to ${this.opts.drainDurationMs} ms`);
    this.draining = true;
    this.pool.drain(DRAIN_ALL_NOW);
    const deadline = Date.now() + this.opts.drainDurationMs;
    while (Date.now() < deadline) {
      // the connection count alone: at 1,000 services a full stats snapshot took a worker ~60 ms, every 50 ms
      if ((await this.pool.activeConnections()) === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await this.stop();
    const resolve = this.exitResolve;
    this.exitResolve = undefined;
    resolve?.(0);
  }

  /**
   * A Snapshot a pushing source (xDS) sends: the workers take it, or it is refused (the promise
   * rejects; the last good Snapshot stays in force and the source NACKs).
   */
  async applyPushed(snapshot: Snapshot, reason: string): Promise<void> {
    if (snapshot.version === this.current?.version) return;
    await this.install(snapshot, this.slotAssigner.assign(snapshot));
    log.debug(`config ${snapshot.version} applied (${reason})`);
  }

  /** Every worker takes the Snapshot (or the promise rejects and the current one stays). */
  private async install(snapshot: Snapshot, slots: RuntimeSlots): Promise<void> {
    await this.pool.apply(snapshot, slots);
    this.current = snapshot;
    this.currentSlots = slots;
    this.outliers.update(snapshot, slots);
    this.configReloads++;
  }

  async stop(): Promise<void> {
    this.ready = false;
    clearTimeout(this.drainPeriodTimer);
    this.outliers.stop();
    this.watcher?.close();
    this.opts.source.close?.();
    await this.pool.stop();
    await this.closeServers();
  }

  private async closeServers(): Promise<void> {
    await Promise.all(this.servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  /** The data-plane worker pool (diagnostics). */
  get workers(): WorkerPool {
    return this.pool;
  }

  // ------------------------------------------------------------------ AdminBackend

  snapshot(): Snapshot | undefined {
    return this.current;
  }

  xdsDump(): XdsDump | undefined {
    return this.opts.source.dump?.();
  }

  async stats(): Promise<StatsSnapshot> {
    const s = aggregateStats((await this.pool.collectStats()).map((r) => r.stats));
    const w = new StatsWriter(s.counters, s.gauges, this.statsMatcher());
    // circuit breakers are shared by the workers: their state is read from the shared table
    const table = this.pool.resourceTable;
    for (const c of this.current?.clusters ?? []) {
      const slot = this.currentSlots?.clusters[c.name];
      if (!c.circuitBreakers || slot === undefined || !w.scope('cluster', c.name)) continue;
      const t = table.totals(slot);
      const cb = c.circuitBreakers;
      w.gauge('circuit_breakers.default.cx_open', t.connections >= cb.maxConnections ? 1 : 0);
      w.gauge('circuit_breakers.default.rq_pending_open', t.pending >= cb.maxPendingRequests ? 1 : 0);
      w.gauge('circuit_breakers.default.rq_open', t.requests >= cb.maxRequests ? 1 : 0);
      w.gauge('circuit_breakers.default.rq_retry_open', t.retries >= cb.maxRetries ? 1 : 0);
      w.gauge('circuit_breakers.default.remaining_cx', Math.max(0, cb.maxConnections - t.connections));
      w.gauge('circuit_breakers.default.remaining_pending', Math.max(0, cb.maxPendingRequests - t.pending));
      w.gauge('circuit_breakers.default.remaining_rq', Math.max(0, cb.maxRequests - t.requests));
      w.gauge('circuit_breakers.default.remaining_retries', Math.max(0, cb.maxRetries - t.retries));
      // the high priority has no limits of its own here: never open
      for (const g of HIGH_PRIORITY_OPEN) w.gauge(g, 0);
    }
    // outlier detection is decided here, so its stats are the agent's
    for (const cluster of this.outliers.clusterNames()) {
      if (!w.scope('cluster', cluster)) continue;
      const o = this.outliers.clusterStats(cluster)!;
      w.gauge('outlier_detection.ejections_active', o.active);
      w.counter('outlier_detection.ejections_total', o.total);
      w.counter('outlier_detection.ejections_enforced_total', o.total);
      for (const [d, n] of Object.entries(o.enforced)) w.counter(enforcedStat(d), n);
    }
    return s;
  }

  statsMatcher(): StatsMatcher | undefined {
    return this.statsMatchers.get(this.current?.statsMatcher);
  }

  ejectedHosts(cluster: string): string[] {
    return this.outliers.ejected(cluster);
  }

  serverValues(): ServerValues {
    return {
      live: this.ready && !this.draining,
      state: this.draining ? 1 : this.ready ? 0 : 2,
      uptimeSeconds: Math.floor((Date.now() - this.startedAt) / 1000),
      concurrency: this.pool.size,
      configReloads: this.configReloads,
      configRejected: this.configRejected,
      workerRestarts: this.pool.crashes,
      version: VERSION,
    };
  }

  serverInfo(): Record<string, unknown> {
    const uptime = `${Math.floor((Date.now() - this.startedAt) / 1000)}s`;
    return {
      version: `outrigger/${VERSION}/node-${process.version}`,
      state: this.state(),
      command_line_options: {
        concurrency: this.pool.size,
        drain_time: `${this.opts.drainDurationMs / 1000}s`,
        config_paths: this.opts.source.description,
        log_level: getLogLevel(),
      },
      node: this.current?.node,
      uptime_current_epoch: uptime,
      uptime_all_epochs: uptime,
    };
  }

  state(): 'LIVE' | 'DRAINING' | 'PRE_INITIALIZING' {
    return this.draining ? 'DRAINING' : this.ready ? 'LIVE' : 'PRE_INITIALIZING';
  }

  setLogLevel(level: LogLevel): void {
    setLogLevel(level);
    this.pool.broadcast({ type: 'log-level', level });
  }

  logLevel(): LogLevel {
    return getLogLevel();
  }

  /**
   * Envoy's /drain_listeners. Without graceful: the listeners (all, or the INBOUND ones) stop
   * accepting and their connections are told to close now. With graceful: the drain sequence starts
   * (once; a repeated call is a no-op): the listeners keep accepting for the drain period while their
   * connections are told to close (--drain-strategy), then stop accepting, unless skip_exit.
   * Either way the server state is DRAINING from here on (readiness 503). Never exits (SIGTERM and
   * /quitquitquit do).
   */
  drainListeners(opts: DrainListenersOptions = { inboundOnly: false, graceful: false, skipExit: false }): void {
    this.draining = true;
    const { inboundOnly } = opts;
    if (!opts.graceful) {
      this.pool.drain({ inboundOnly, stopListening: true, spreadMs: 0 });
      return;
    }
    if (this.drainSequenceStarted) return;
    this.drainSequenceStarted = true;
    const periodMs = this.opts.drainDurationMs;
    log.info(`drain sequence started (${inboundOnly ? 'inbound listeners' : 'all listeners'}, ${this.opts.drainStrategy ?? 'immediate'}, ${periodMs} ms)`);
    this.pool.drain({ inboundOnly, stopListening: false, spreadMs: this.opts.drainStrategy === 'gradual' ? periodMs : 0 });
    if (opts.skipExit) return;
    this.drainPeriodTimer = setTimeout(() => this.pool.drain({ inboundOnly, stopListening: true, spreadMs: 0 }), periodMs);
    this.drainPeriodTimer.unref();
  }

  /**
   * One LDS or CDS update, as Envoy counts it (update_attempt, update_success|update_rejected|
   * update_failure, version): what the xDS config source calls.
   */
  recordConfigUpdate(api: ConfigApi, outcome: UpdateOutcome, version?: string): void {
    this.updates.record(api, outcome, version);
  }

  /** control_plane.connected_state: the xDS stream is up (1) or down (0). */
  setControlPlaneConnected(connected: boolean): void {
    this.updates.setConnected(connected);
  }

  /**
   * Fed by files, a load carries listeners and clusters at once: each applied one (at start and at
   * every reload) counts as an LDS and a CDS update_success, a rejected one as update_rejected.
   */
  private recordFileUpdate(outcome: 'success' | 'rejected', version?: string): void {
    this.updates.record('lds', outcome, version);
    this.updates.record('cds', outcome, version);
  }

  configUpdateStats(): WrittenStat[] {
    return this.updates.entries();
  }

  quit(): void {
    void this.shutdown('quitquitquit');
  }

  setHealthCheckFailed(failed: boolean): void {
    this.healthCheckFailed = failed;
  }
}
