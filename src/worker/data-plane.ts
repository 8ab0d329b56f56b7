import type { Server, Socket } from 'node:net';
import type { Downstream, DownstreamEvents } from '../codec/downstream.js';
import type { Listener, Snapshot, TrafficDirection } from '../config/snapshot.js';
import { ActiveStream } from '../http/active-stream.js';
import { writeLocalReply } from '../http/local-reply.js';
import type { CompiledChain } from '../listener/filter-chain-match.js';
import { inspect, type InspectResult } from '../listener/inspect.js';
import { chooseChain, inspects } from '../listener/inspectors.js';
import { createListenerServer, listen } from '../listener/listener.js';
import { releaseNothing, type ListenerAdmission } from '../listener/connection-limits.js';
import { plainAddress } from '../common/address.js';
import { originalDestination } from '../listener/original-dst.js';
import { TraceExporters } from '../tracing/exporters.js';
import { LogSinks } from '../telemetry/access-log/sinks.js';
import { TlsStore } from '../security/tls-store.js';
import { TokenBucketStores } from '../filters/http/local_ratelimit/bucket-stores.js';
import type { Address, ConnectionOwner, NetworkConnection, TrackedConnection } from '../network/filter.js';
import { NetworkFilterManager } from '../network/filter-manager.js';
import { terminateTls } from '../network/tls-transport-socket.js';
import { NO_SLOTS, Runtime, type ChainRuntime, type ListenerRuntime, type WorkerServices } from './runtime.js';
import { DRAIN_ALL_NOW, type DrainRequest, type RuntimeSlots } from './messages.js';
import { log } from '../telemetry/log.js';
import type { ListenerStats, StatsSnapshot } from '../telemetry/stats.js';
import { StatsMatcherCache } from '../telemetry/stats-matcher.js';

interface BoundListener {
  key: string;
  name: string;
  direction: TrafficDirection;
  server: Server;
}

/** Which listeners a drain step reaches: none, the INBOUND ones (Envoy's inboundonly), or all. */
type DrainScope = 'none' | 'inbound' | 'all';

function widen(a: DrainScope, b: DrainScope): DrainScope {
  return a === 'all' || b === 'all' ? 'all' : a === 'inbound' || b === 'inbound' ? 'inbound' : 'none';
}

/** One worker's data plane: its listeners, their connections, and the current Runtime. */
export class DataPlane {
  private runtime: Runtime | undefined;
  private readonly statsMatcher = new StatsMatcherCache();
  private readonly bound = new Map<string, BoundListener>();
  /** Connections the chains' filters hold (HTTP codecs, TCP proxy sessions, ext_authz checks), with their listener. */
  private readonly tracked = new Map<TrackedConnection, string>();
  /** Listeners whose connections are told to close (the drain sequence started for them). */
  private drainScope: DrainScope = 'none';
  /** Listeners that stopped accepting. */
  private stopScope: DrainScope = 'none';
  /** Gradual drain timers, cleared on close. */
  private readonly drainTimers = new Set<NodeJS.Timeout>();

  private readonly ejections = new Map<string, Set<string>>();
  private readonly services: WorkerServices;

  constructor(services: WorkerServices) {
    this.services = {
      ...services, ejections: this.ejections, hostFirstSeen: new Map(), tls: new TlsStore(), tracing: services.tracing ?? new TraceExporters((kind) => services.stats.tracer(kind)), logSinks: services.logSinks ?? new LogSinks(),
      // a data plane alone (one worker, tests): its shared buckets are its own
      tokenBuckets: services.tokenBuckets ?? new TokenBucketStores(),
    };
  }

  /** Outlier detection (decided by the agent) ejected these hosts of a cluster; the rest take traffic. */
  setEjections(cluster: string, ejected: string[]): void {
    const set = new Set(ejected);
    this.ejections.set(cluster, set);
    this.runtime?.clusters.ifMade(cluster)?.setEjected(set); // one made later takes the set from services.ejections
  }

  /** Compiles and swaps in a Snapshot (with the agent's shared-table rows); binds new listeners and closes removed ones. */
  async apply(snapshot: Snapshot, slots: RuntimeSlots = NO_SLOTS): Promise<void> {
    const previous = this.runtime;
    const next = new Runtime(snapshot, this.services, previous, slots);
    const wanted = new Map(snapshot.listeners.map((l) => [listenerKey(l), l]));
    {
      const added: string[] = [];
      try {
        for (const [key, l] of wanted) {
          // bind_to_port: false — only reachable by hand-off from a use_original_dst listener
          if (this.bound.has(key) || l.bindToPort === false || this.inScope(this.stopScope, l.direction)) continue;
          const stats = this.services.stats.listener(`${l.address}_${l.port}`);
          const admission = this.services.connectionLimits?.forListener(l.name, slots.listeners[l.name]);
          const server = createListenerServer((socket) => this.onConnection(l.name, admission, socket, stats));
          await listen(server, l);
          this.bound.set(key, { key, name: l.name, direction: l.direction, server });
          added.push(key);
        }
      } catch (err) {
        // all or nothing: listeners bound for a Snapshot that cannot be applied are closed again
        for (const key of added) {
          this.bound.get(key)?.server.close();
          this.bound.delete(key);
        }
        throw err;
      }
    }
    this.runtime = next; // the swap: new requests see the new config from here on
    next.activate();
    for (const [key, b] of this.bound) {
      if (!wanted.has(key)) {
        b.server.close();
        this.bound.delete(key);
      }
    }
    if (previous) for (const c of next.retiredFrom(previous)) void c.close();
  }

  /**
   * A new connection (Envoy's order): its original destination restored (and the connection handed
   * off to the listener there, under use_original_dst), inspected if the chains need its first
   * bytes, its filter chain matched on that destination and what inspection saw, then the chain's
   * transport socket and network filters. The chain is the Runtime's it arrived under.
   */
  private onConnection(listenerName: string, admission: ListenerAdmission | undefined, socket: Socket, stats: ListenerStats): void {
    socket.on('error', () => {}); // 'close' follows; resets from clients are routine
    const release = this.admit(admission, stats);
    if (!release) {
      socket.destroy();
      return;
    }
    const rt = this.runtime;
    const accepted = rt?.listeners.get(listenerName);
    const routed = rt && accepted && !this.inScope(this.stopScope, accepted.config.direction) ? this.restoreDestination(rt, accepted, socket) : undefined;
    // Envoy counts a connection on the listener that takes it: the one it was handed off to
    const counted = routed && routed.lr !== accepted ? this.services.stats.listener(`${routed.lr.config.address}_${routed.lr.config.port}`) : stats;
    counted.downstreamCxTotal++;
    counted.downstreamCxActive++;
    socket.once('close', () => {
      release();
      counted.downstreamCxActive--;
      counted.downstreamCxDestroy++;
    });
    // a listener that stopped (drained) takes nothing, nor hands anything to one that stopped
    if (!routed || this.inScope(this.stopScope, routed.lr.config.direction)) {
      socket.destroy();
      return;
    }
    const { lr, dst, redirected } = routed;
    const candidates = lr.matcher.candidates(dst.address, dst.port);
    const enabled = lr.inspectors(dst.port);
    if (!inspects(candidates, enabled)) {
      this.dispatch(lr, socket, counted, chooseChain(candidates, enabled), dst, redirected);
      return;
    }
    inspect(socket, lr.config.protocolDetectionTimeoutMs ?? 0, (r) => {
      if (!r) return void socket.destroy();
      if (r.timedOut) {
        counted.downstreamPreCxTimeout++;
        if (lr.config.continueOnListenerFiltersTimeout === false) return void socket.destroy();
      }
      this.dispatch(lr, socket, counted, chooseChain(candidates, enabled, r.inspected), dst, redirected, r);
    });
  }

  /**
   * Where a connection is going (Envoy's original_dst listener filter): its original destination
   * when the listener restores it and iptables redirected it, else the listener's own address; and
   * which listener takes it (use_original_dst: the one at that destination, if any; no further hand-off).
   */
  private restoreDestination(rt: Runtime, accepted: ListenerRuntime, socket: Socket): { lr: ListenerRuntime; dst: Address; redirected: boolean } {
    const local = { address: plainAddress(socket.localAddress ?? ''), port: socket.localPort ?? 0 };
    if (!accepted.config.useOriginalDst) return { lr: accepted, dst: local, redirected: false };
    const od = this.services.originalDestination?.(socket) ?? originalDestination(socket);
    if (!od || (od.port === local.port && od.address === local.address)) return { lr: accepted, dst: local, redirected: false };
    const dst = { address: od.address, port: od.port };
    const lr = accepted.config.handOffRestoredDestination ? (rt.listenerForAddress(dst.address, dst.port) ?? accepted) : accepted;
    return { lr, dst, redirected: true };
  }

  /**
   * Envoy's checks at accept, in its order: the global connection limit, the overload manager's
   * reject_incoming_connections, the listener's connection limit. A refused connection is closed
   * at once, before it counts as a connection; admitted, the function releases its place.
   */
  private admit(admission: ListenerAdmission | undefined, stats: ListenerStats): (() => void) | undefined {
    const admitted = admission?.admit() ?? releaseNothing;
    if (admitted === 'global') {
      stats.downstreamGlobalCxOverflow++;
      return undefined;
    }
    if (this.services.overload?.rejectIncomingConnections) {
      if (typeof admitted === 'function') admitted();
      stats.downstreamCxOverloadReject++;
      return undefined;
    }
    if (admitted === 'listener') {
      stats.downstreamCxOverflow++;
      return undefined;
    }
    return admitted;
  }

  /**
   * The matched chain takes the connection: its transport socket (TLS terminated, or the raw socket),
   * then its network filters, the terminal one last.
   */
  private dispatch(lr: ListenerRuntime, socket: Socket, stats: ListenerStats, matched: CompiledChain<ChainRuntime> | undefined, dst: Address, redirected: boolean, inspected?: InspectResult): void {
    const chain = matched?.value ?? lr.defaultChain;
    if (!chain) {
      stats.noFilterChainMatch++;
      socket.destroy();
      return;
    }
    const connection = {
      listenerName: lr.config.name,
      chainName: chain.name,
      sourceAddress: plainAddress(socket.remoteAddress ?? ''),
      destination: dst,
      ...(redirected ? { originalDestination: dst } : {}),
      ...(inspected?.inspected.serverName ? { serverName: inspected.inspected.serverName } : {}),
      stats,
    };
    if (!chain.tls) {
      const readAhead = inspected?.preRead;
      this.runFilters(chain, { ...connection, socket, secure: false, ...(readAhead ? { readAhead } : {}), ended: inspected?.ended ?? false, paused: !!inspected });
      return;
    }
    const readAhead = { readAhead: inspected?.preRead, ended: inspected?.ended ?? false };
    terminateTls(socket, chain.tls, this.services.tls!, stats, readAhead, (secure, peer) => {
      this.runFilters(chain, { ...connection, socket: secure, secure: true, ...(peer ? { peer } : {}), ended: false, paused: false });
    });
  }

  private runFilters(chain: ChainRuntime, connection: NetworkConnection): void {
    new NetworkFilterManager(connection, this.owner, chain.filters).start();
  }

  /** What the chains' filters see of this worker. */
  private readonly owner: ConnectionOwner = {
    track: (c, listenerName) => {
      this.tracked.set(c, listenerName);
      // a connection that raced its listener's stop is drained at once
      if (this.inScope(this.stopScope, this.directionOf(listenerName))) c.drain?.();
      return () => void this.tracked.delete(c);
    },
    onRequest: (listenerName, chainName, ds) => this.onRequest(listenerName, chainName, ds),
  };

  private onRequest(listenerName: string, chainName: string, ds: Downstream): DownstreamEvents | undefined {
    // keep-alive off under overload, and for a connection accepted during its listener's drain period
    if (this.services.overload?.disableHttpKeepalive || this.inScope(this.drainScope, this.directionOf(listenerName))) ds.closeAfterResponse();
    const rt = this.runtime;
    // a connection keeps its socket across config changes; listener and chain names find the current pipeline
    const pipeline = rt?.listeners.get(listenerName)?.chains.get(chainName)?.http;
    if (!pipeline) {
      // the listener or chain was just removed; keep-alive connections learn it here
      ds.closeAfterResponse();
      writeLocalReply(ds, 404, '');
      return undefined;
    }
    const stream = new ActiveStream(pipeline, rt!, ds);
    try {
      stream.start();
    } catch (err) {
      log.error(`request failed on ${listenerName}: ${(err as Error).stack ?? err}`);
      writeLocalReply(ds, 500, 'internal error');
    }
    return stream;
  }

  /**
   * One step of Envoy's drain on the listeners it names (all, or the INBOUND ones): their connections
   * are told to close (idle keep-alive connections close, busy ones finish their response with
   * `connection: close`, HTTP/2 gets GOAWAY; a request on a connection accepted later gets
   * `connection: close` too), now or spread over `spreadMs` (gradual); with `stopListening` they also
   * stop accepting. A repeated step is harmless: what is drained or stopped stays so.
   */
  drain(request: DrainRequest = DRAIN_ALL_NOW): void {
    const scope: DrainScope = request.inboundOnly ? 'inbound' : 'all';
    if (request.stopListening) {
      this.stopScope = widen(this.stopScope, scope);
      for (const [key, b] of this.bound) {
        if (!this.inScope(scope, b.direction)) continue;
        b.server.close();
        this.bound.delete(key);
      }
    }
    const before = this.drainScope;
    this.drainScope = widen(before, scope);
    for (const [c, listenerName] of this.tracked) {
      const direction = this.directionOf(listenerName);
      // connections a previous step already told, unless this one also stops their listener (then they go now)
      if (!this.inScope(scope, direction) || (this.inScope(before, direction) && !request.stopListening)) continue;
      if (request.spreadMs > 0 && !request.stopListening) this.drainLater(c, Math.random() * request.spreadMs);
      else c.drain?.();
    }
  }

  private drainLater(c: TrackedConnection, delayMs: number): void {
    const timer = setTimeout(() => {
      this.drainTimers.delete(timer);
      if (this.tracked.has(c)) c.drain?.();
    }, delayMs);
    timer.unref();
    this.drainTimers.add(timer);
  }

  private inScope(scope: DrainScope, direction: TrafficDirection | undefined): boolean {
    return scope === 'all' || (scope === 'inbound' && direction === 'INBOUND');
  }

  private directionOf(listenerName: string): TrafficDirection | undefined {
    return this.runtime?.listeners.get(listenerName)?.config.direction;
  }

  /**
   * Envoy's disable_http_keepalive overload action: idle keep-alive connections are closed, busy
   * ones close after their response (HTTP/2: GOAWAY); new requests meanwhile get `connection: close`.
   */
  disableKeepalive(): void {
    for (const c of this.tracked.keys()) c.drain?.();
  }

  get activeConnections(): number {
    return this.tracked.size;
  }

  statsSnapshot(): StatsSnapshot {
    return this.services.stats.snapshot(this.statsMatcher.get(this.runtime?.snapshot.statsMatcher));
  }

  async close(): Promise<void> {
    this.drain();
    for (const t of this.drainTimers) clearTimeout(t);
    for (const c of [...this.tracked.keys()]) c.destroy();
    await Promise.all([...this.bound.values()].map((b) => new Promise<void>((r) => b.server.close(() => r()))));
    this.bound.clear();
    this.services.logSinks?.flush();
    this.services.tracing?.close(); // what waits is sent (not awaited: a dead collector does not hold the shutdown)
    if (this.runtime) await Promise.allSettled([...this.runtime.clusters.values()].map((c) => c.close()));
  }
}

function listenerKey(l: Listener): string {
  return `${l.name}@${l.address}:${l.port}`;
}
