import type { Server, Socket } from 'node:net';
import type { Downstream, DownstreamEvents } from '../codec/downstream.js';
import { H1ServerConnection } from '../codec/http1/server-connection.js';
import { H2ServerConnection } from '../codec/http2/server-session.js';
import type { Listener, Snapshot } from '../config/snapshot.js';
import { ActiveStream } from '../http/active-stream.js';
import { writeLocalReply } from '../http/local-reply.js';
import { FilterChainMatcher, type CompiledChain } from '../listener/filter-chain-match.js';
import { inspect, type InspectResult } from '../listener/inspect.js';
import { createListenerServer, listen } from '../listener/listener.js';
import { releaseNothing, type ListenerAdmission } from '../listener/connection-limits.js';
import { plainAddress } from '../common/address.js';
import { originalDestination } from '../listener/original-dst.js';
import { TcpProxySession } from '../tcp/tcp-proxy.js';
import { TLSSocket } from 'node:tls';
import { TlsStore } from '../security/tls-store.js';
import { peerIdentity, type PeerIdentity } from '../security/peer.js';
import { NO_SLOTS, Runtime, type ChainRuntime, type ListenerRuntime, type WorkerServices } from './runtime.js';
import type { RuntimeSlots } from './messages.js';
import { log } from '../telemetry/log.js';
import type { AuthzDecision } from '../security/authz/rbac.js';
import { checkConnection } from '../tcp/ext-authz.js';
import type { ListenerStats, StatsSnapshot } from '../telemetry/stats.js';

interface BoundListener {
  key: string;
  server: Server;
}

interface Destination {
  address: string;
  port: number;
}

/** One worker's data plane: its listeners, their connections, and the current Runtime. */
export class DataPlane {
  private runtime: Runtime | undefined;
  private readonly bound = new Map<string, BoundListener>();
  private readonly connections = new Set<H1ServerConnection | H2ServerConnection>();
  private readonly tcpSessions = new Set<TcpProxySession>();
  /** TCP connections waiting for their ext_authz check. */
  private readonly checking = new Set<Socket>();
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
          if (this.bound.has(key)) continue;
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
   * A new connection: its destination (the original one, when captured) and, if the chains need
   * them, its first bytes pick the filter chain; the chain's HTTP codec or TCP proxy takes over.
   * The connection keeps the Runtime it arrived under until its chain is chosen.
   */
  private onConnection(listenerName: string, admission: ListenerAdmission | undefined, socket: Socket, stats: ListenerStats): void {
    socket.on('error', () => {}); // 'close' follows; resets from clients are routine
    const release = this.admit(admission, stats);
    if (!release) {
      socket.destroy();
      return;
    }
    stats.downstreamCxTotal++;
    stats.downstreamCxActive++;
    socket.once('close', () => {
      release();
      stats.downstreamCxActive--;
      stats.downstreamCxDestroy++;
    });
    const rt = this.runtime;
    const lr = rt?.listeners.get(listenerName);
    if (!rt || !lr || this.draining) {
      socket.destroy();
      return;
    }
    const local = { address: plainAddress(socket.localAddress ?? ''), port: socket.localPort ?? 0 };
    let dst: Destination = local;
    let redirected = false;
    if (lr.config.useOriginalDst) {
      const od = originalDestination(socket);
      if (od && (od.port !== local.port || od.address !== local.address)) {
        dst = { address: od.address, port: od.port };
        redirected = true;
      }
    }
    const candidates = lr.matcher.candidates(dst.address, dst.port);
    if (!FilterChainMatcher.needsInspection(candidates)) {
      this.dispatch(rt, lr, socket, stats, FilterChainMatcher.select(candidates, undefined), redirected ? dst : undefined);
      return;
    }
    inspect(socket, lr.config.protocolDetectionTimeoutMs ?? 0, (r) => {
      if (!r) return void socket.destroy();
      if (r.timedOut) stats.downstreamPreCxTimeout++;
      this.dispatch(rt, lr, socket, stats, FilterChainMatcher.select(candidates, r.inspected), redirected ? dst : undefined, r);
    });
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

  private dispatch(
    rt: Runtime,
    lr: ListenerRuntime,
    socket: Socket,
    stats: ListenerStats,
    matched: CompiledChain<ChainRuntime> | undefined,
    originalDst: Destination | undefined,
    inspected?: InspectResult,
  ): void {
    const chain = matched?.value ?? lr.defaultChain;
    if (!chain) {
      stats.noFilterChainMatch++;
      socket.destroy();
      return;
    }
    if (chain.tls) {
      this.terminateTls(rt, lr, socket, stats, chain, originalDst, inspected);
      return;
    }
    this.serve(rt, lr, socket, stats, chain, originalDst, inspected?.preRead, inspected?.ended ?? false, !!inspected, inspected?.inspected.serverName);
  }

  /**
   * The chain's DownstreamTlsContext: its certificate presented, a client certificate checked
   * against its CA and SANs (required for mesh mTLS, whose peer must have an identity), bounded
   * handshake. The chain's filter then runs on the TLS socket.
   */
  private terminateTls(
    rt: Runtime,
    lr: ListenerRuntime,
    socket: Socket,
    stats: ListenerStats,
    chain: ChainRuntime,
    originalDst: Destination | undefined,
    inspected: InspectResult | undefined,
  ): void {
    if (inspected?.ended) {
      socket.destroy();
      return;
    }
    if (inspected?.preRead) socket.unshift(inspected.preRead);
    const tls = chain.tls!;
    this.services.tls!.terminate(socket, tls, (secure) => {
      const peer = secure && peerIdentity(secure);
      // Istio mTLS needs the peer's identity; a gateway's own TLS may have no client certificate
      if (!secure || (!peer && tls.requireClientCertificate)) {
        stats.sslHandshakeError++;
        secure?.destroy();
        socket.destroy();
        return;
      }
      stats.sslHandshake++;
      this.serve(rt, lr, secure, stats, chain, originalDst, undefined, false, false, inspected?.inspected.serverName, peer);
    });
  }

  /** The chain's network filter takes the connection: the HTTP/1.1 codec or the TCP proxy. */
  private serve(
    rt: Runtime,
    lr: ListenerRuntime,
    socket: Socket,
    stats: ListenerStats,
    chain: ChainRuntime,
    originalDst: Destination | undefined,
    preRead: Buffer | undefined,
    ended: boolean,
    paused: boolean,
    serverName: string | undefined,
    peer?: PeerIdentity,
  ): void {
    if (chain.http) {
      const listenerName = lr.config.name;
      const onRequest = (ds: Downstream) => this.onRequest(listenerName, chain.name, ds);
      const context = {
        ...(originalDst ? { originalDestination: originalDst } : {}),
        ...(peer ? { peer } : {}),
        ...(socket instanceof TLSSocket ? { secure: true } : {}),
      };
      const options = chain.http.serverOptions;
      // HTTP/2: negotiated by ALPN over TLS, or its preface seen by detection (h2c prior knowledge)
      const alpn = socket instanceof TLSSocket ? socket.alpnProtocol : false;
      const h2 = alpn === 'h2' || alpn === 'istio-h2' || (preRead !== undefined && preRead.subarray(0, 3).toString('latin1') === 'PRI');
      if (h2) {
        this.track(new H2ServerConnection(socket, options, onRequest, { ...context, ...(preRead ? { preRead } : {}) }));
        return;
      }
      const conn = new H1ServerConnection(socket, options, onRequest, {
        ...context,
        ...(preRead ? { preRead } : {}),
        ...(ended ? { ended: true } : {}),
        // h2c with prior knowledge on a connection nothing inspected: the HTTP/1.1 codec hands it over
        onHttp2Preface: (s, bytes) => this.track(new H2ServerConnection(s, options, onRequest, { ...context, preRead: bytes })),
      });
      this.track(conn);
      if (paused) socket.resume(); // detection paused it
      return;
    }
    const proxy = () => this.startTcpProxy(rt, lr, socket, chain, originalDst, preRead, serverName, peer);
    if (!chain.rbac) return proxy();
    const d = this.tcpDecision(chain, socket, originalDst, peer);
    if (!d.allowed) {
      stats.rbacDenied++;
      socket.destroy();
      return;
    }
    if (!d.extAuthz) return proxy();
    const service = chain.extAuthz!.get(d.extAuthz.config)!;
    const target = {
      service,
      host: rt.clusters.get(service.cluster)?.pick()?.endpoint,
      destination: originalDst ?? { address: plainAddress(socket.localAddress ?? ''), port: socket.localPort ?? 0 },
      peer,
      localPrincipal: this.services.tls?.workloadIdentity,
    };
    this.checking.add(socket);
    void checkConnection(socket, target, this.services.stats.networkExtAuthzStats(service.statPrefix ?? ''), proxy).then(() => this.checking.delete(socket));
  }

  private startTcpProxy(
    rt: Runtime,
    lr: ListenerRuntime,
    socket: Socket,
    chain: ChainRuntime,
    originalDst: Destination | undefined,
    preRead: Buffer | undefined,
    serverName: string | undefined,
    peer: PeerIdentity | undefined,
  ): void {
    const session = new TcpProxySession(
      socket,
      {
        runtime: rt,
        listener: lr.config,
        config: chain.tcpProxy!,
        ...(originalDst ? { originalDestination: originalDst } : {}),
        ...(serverName ? { serverName } : {}),
        ...(peer ? { peer } : {}),
      },
      preRead,
    );
    this.tcpSessions.add(session);
    session.onClosed = (s) => this.tcpSessions.delete(s);
    session.start();
  }

  /** Network RBAC: the connection's addresses, destination and mTLS peer against AuthorizationPolicy. */
  private tcpDecision(chain: ChainRuntime, socket: Socket, dst: Destination | undefined, peer: PeerIdentity | undefined): AuthzDecision {
    const source = plainAddress(socket.remoteAddress ?? '');
    return chain.rbac!.check({
      sourceIp: source,
      remoteIp: source,
      destinationIp: dst?.address ?? plainAddress(socket.localAddress ?? ''),
      destinationPort: dst?.port ?? socket.localPort ?? 0,
      ...(peer?.sni ? { sni: peer.sni } : {}),
      ...(peer?.spiffeId ? { peerPrincipal: peer.spiffeId } : {}),
    });
  }

  private track(conn: H1ServerConnection | H2ServerConnection): void {
    this.connections.add(conn);
    conn.onClosed = (c: H1ServerConnection | H2ServerConnection) => this.connections.delete(c);
    if (this.draining) conn.drain();
  }

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
    for (const c of this.connections) c.drain();
  }

  /**
   * Envoy's disable_http_keepalive overload action: idle keep-alive connections are closed, busy
   * ones close after their response (HTTP/2: GOAWAY); new requests meanwhile get `connection: close`.
   */
  disableKeepalive(): void {
    for (const c of this.connections) c.drain();
  }

  get activeConnections(): number {
    return this.connections.size + this.tcpSessions.size + this.checking.size;
  }

  statsSnapshot(): StatsSnapshot {
    return this.services.stats.snapshot();
  }

  async close(): Promise<void> {
    this.drain();
    for (const c of this.connections) c.socket.destroy();
    for (const t of this.tcpSessions) t.destroy();
    for (const s of this.checking) s.destroy();
    await Promise.all([...this.bound.values()].map((b) => new Promise<void>((r) => b.server.close(() => r()))));
    this.bound.clear();
    this.services.accessLog.flush();
    if (this.runtime) await Promise.allSettled([...this.runtime.clusters.values()].map((c) => c.close()));
  }
}

function listenerKey(l: Listener): string {
  return `${l.name}@${l.address}:${l.port}`;
}
