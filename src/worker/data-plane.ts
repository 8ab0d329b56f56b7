import type { Server, Socket } from 'node:net';
import type { Downstream, DownstreamEvents } from '../codec/downstream.js';
import type { Listener, Snapshot } from '../config/snapshot.js';
import { ActiveStream } from '../http/active-stream.js';
import { writeLocalReply } from '../http/local-reply.js';
import { FilterChainMatcher, type CompiledChain } from '../listener/filter-chain-match.js';
import { inspect, type InspectResult } from '../listener/inspect.js';
import { reportedBy, UNINSPECTED } from '../listener/inspectors.js';
import { createListenerServer, listen } from '../listener/listener.js';
import { releaseNothing, type ListenerAdmission } from '../listener/connection-limits.js';
import { plainAddress } from '../common/address.js';
import { originalDestination } from '../listener/original-dst.js';
import { TlsStore } from '../security/tls-store.js';
import type { Address, ConnectionOwner, NetworkConnection, TrackedConnection } from '../network/filter.js';
import { NetworkFilterManager } from '../network/filter-manager.js';
import { terminateTls } from '../network/tls-transport-socket.js';
import { NO_SLOTS, Runtime, type ChainRuntime, type ListenerRuntime, type WorkerServices } from './runtime.js';
import type { RuntimeSlots } from './messages.js';
import { log } from '../telemetry/log.js';
import type { ListenerStats, StatsSnapshot } from '../telemetry/stats.js';

interface BoundListener {
  key: string;
  server: Server;
}

/** One worker's data plane: its listeners, their connections, and the current Runtime. */
export class DataPlane {
  private runtime: Runtime | undefined;
  private readonly bound = new Map<string, BoundListener>();
  /** Connections the chains' filters hold: HTTP codecs, TCP proxy sessions, ext_authz checks. */
  private readonly tracked = new Set<TrackedConnection>();
  private draining = false;

  private readonly ejections = new Map<string, Set<string>>();
  private readonly services: WorkerServices;

  constructor(services: WorkerServices) {
    this.services = { ...services, ejections: this.ejections, hostFirstSeen: new Map(), tls: new TlsStore() };
  }

  /** Outlier detection (decided by the agent) ejected these hosts of a cluster; the rest take traffic. */
  setEjections(cluster: string, ejected: string[]): void {
    const set = new Set(ejected);
    this.ejections.set(cluster, set);
    this.runtime?.clusters.get(cluster)?.setEjected(set);
  }

  /** Compiles and swaps in a Snapshot (with the agent's shared-table rows); binds new listeners and closes removed ones. */
  async apply(snapshot: Snapshot, slots: RuntimeSlots = NO_SLOTS): Promise<void> {
    const previous = this.runtime;
    const next = new Runtime(snapshot, this.services, previous, slots);
    const wanted = new Map(snapshot.listeners.map((l) => [listenerKey(l), l]));
    if (!this.draining) {
      const added: string[] = [];
      try {
        for (const [key, l] of wanted) {
          // bind_to_port: false — only reachable by hand-off from a use_original_dst listener
          if (this.bound.has(key) || l.bindToPort === false) continue;
          const stats = this.services.stats.listener(`${l.address}_${l.port}`);
          const admission = this.services.connectionLimits?.forListener(l.name, slots.listeners[l.name]);
          const server = createListenerServer((socket) => this.onConnection(l.name, admission, socket, stats));
          await listen(server, l);
          this.bound.set(key, { key, server });
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
    const routed = rt && accepted && !this.draining ? this.restoreDestination(rt, accepted, socket) : undefined;
    // Envoy counts a connection on the listener that takes it: the one it was handed off to
    const counted = routed && routed.lr !== accepted ? this.services.stats.listener(`${routed.lr.config.address}_${routed.lr.config.port}`) : stats;
    counted.downstreamCxTotal++;
    counted.downstreamCxActive++;
    socket.once('close', () => {
      release();
      counted.downstreamCxActive--;
      counted.downstreamCxDestroy++;
    });
    if (!routed) {
      socket.destroy();
      return;
    }
    const { lr, dst, redirected } = routed;
    const candidates = lr.matcher.candidates(dst.address, dst.port);
    const enabled = lr.inspectors(dst.port);
    if (!FilterChainMatcher.needsInspection(candidates) || (!enabled.tls && !enabled.http)) {
      const seen = FilterChainMatcher.needsInspection(candidates) ? UNINSPECTED : undefined;
      this.dispatch(lr, socket, counted, FilterChainMatcher.select(candidates, seen), dst, redirected);
      return;
    }
    inspect(socket, lr.config.protocolDetectionTimeoutMs ?? 0, (r) => {
      if (!r) return void socket.destroy();
      if (r.timedOut) {
        counted.downstreamPreCxTimeout++;
        if (lr.config.continueOnListenerFiltersTimeout === false) return void socket.destroy();
      }
      this.dispatch(lr, socket, counted, FilterChainMatcher.select(candidates, reportedBy(enabled, r.inspected)), dst, redirected, r);
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
    track: (c) => {
      this.tracked.add(c);
      if (this.draining) c.drain?.();
      return () => void this.tracked.delete(c);
    },
    onRequest: (listenerName, chainName, ds) => this.onRequest(listenerName, chainName, ds),
  };

  private onRequest(listenerName: string, chainName: string, ds: Downstream): DownstreamEvents | undefined {
    if (this.services.overload?.disableHttpKeepalive) ds.closeAfterResponse();
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
   * Envoy's drain: stop accepting, close idle keep-alive connections, and let each busy one finish
   * its response with `connection: close`.
   */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    for (const b of this.bound.values()) b.server.close();
    for (const c of this.tracked) c.drain?.();
  }

  /**
   * Envoy's disable_http_keepalive overload action: idle keep-alive connections are closed, busy
   * ones close after their response (HTTP/2: GOAWAY); new requests meanwhile get `connection: close`.
   */
  disableKeepalive(): void {
    for (const c of this.tracked) c.drain?.();
  }

  get activeConnections(): number {
    return this.tracked.size;
  }

  statsSnapshot(): StatsSnapshot {
    return this.services.stats.snapshot();
  }

  async close(): Promise<void> {
    this.drain();
    for (const c of [...this.tracked]) c.destroy();
    await Promise.all([...this.bound.values()].map((b) => new Promise<void>((r) => b.server.close(() => r()))));
    this.bound.clear();
    this.services.accessLog.flush();
    if (this.runtime) await Promise.allSettled([...this.runtime.clusters.values()].map((c) => c.close()));
  }
}

function listenerKey(l: Listener): string {
  return `${l.name}@${l.address}:${l.port}`;
}
