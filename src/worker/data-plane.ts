import type { Server } from 'node:net';
import type { Downstream, DownstreamEvents } from '../codec/downstream.js';
import type { H1ServerConnection } from '../codec/http1/server-connection.js';
import type { Listener, Snapshot } from '../config/snapshot.js';
import { ActiveStream } from '../http/active-stream.js';
import { writeLocalReply } from '../http/local-reply.js';
import { createHttpListener, listen } from '../listener/http-listener.js';
import { Runtime, type WorkerServices } from './runtime.js';
import { log } from '../telemetry/log.js';
import type { StatsSnapshot } from '../telemetry/stats.js';

interface BoundListener {
  key: string;
  server: Server;
}

/** One worker's data plane: its listeners, their connections, and the current Runtime. */
export class DataPlane {
  private runtime: Runtime | undefined;
  private readonly bound = new Map<string, BoundListener>();
  private readonly connections = new Set<H1ServerConnection>();
  private draining = false;

  private readonly ejections = new Map<string, Set<string>>();
  private readonly services: WorkerServices;

  constructor(services: WorkerServices) {
    this.services = { ...services, ejections: this.ejections, hostFirstSeen: new Map() };
  }

  /** Outlier detection (decided by the agent) ejected these hosts of a cluster; the rest take traffic. */
  setEjections(cluster: string, ejected: string[]): void {
    const set = new Set(ejected);
    this.ejections.set(cluster, set);
    this.runtime?.clusters.get(cluster)?.setEjected(set);
  }

  /** Compiles and swaps in a Snapshot; binds new listeners and closes removed ones. */
  async apply(snapshot: Snapshot): Promise<void> {
    const previous = this.runtime;
    const next = new Runtime(snapshot, this.services, previous);
    const wanted = new Map(snapshot.listeners.map((l) => [listenerKey(l), l]));
    if (!this.draining) {
      const added: string[] = [];
      try {
        for (const [key, l] of wanted) {
          if (this.bound.has(key)) continue;
          const stats = this.services.stats.listener(`${l.address}_${l.port}`);
          const server = createHttpListener(l, (ds) => this.onRequest(l.name, ds), stats, (conn) => this.track(conn));
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
    for (const [key, b] of this.bound) {
      if (!wanted.has(key)) {
        b.server.close();
        this.bound.delete(key);
      }
    }
    if (previous) for (const c of next.retiredFrom(previous)) void c.close();
  }

  private track(conn: H1ServerConnection): void {
    this.connections.add(conn);
    conn.onClosed = (c) => this.connections.delete(c);
    if (this.draining) conn.drain();
  }

  private onRequest(listenerName: string, ds: Downstream): DownstreamEvents | undefined {
    const rt = this.runtime;
    // a listener keeps its socket across config changes; its name finds the current pipeline
    const listener = rt?.listeners.get(listenerName);
    if (!listener) {
      // the listener was just removed; its socket closes, keep-alive connections learn it here
      ds.closeAfterResponse();
      writeLocalReply(ds, 404, '');
      return undefined;
    }
    const stream = new ActiveStream(listener, rt!, ds);
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

  get activeConnections(): number {
    return this.connections.size;
  }

  statsSnapshot(): StatsSnapshot {
    return this.services.stats.snapshot();
  }

  async close(): Promise<void> {
    this.drain();
    for (const c of this.connections) c.socket.destroy();
    await Promise.all([...this.bound.values()].map((b) => new Promise<void>((r) => b.server.close(() => r()))));
    this.bound.clear();
    this.services.accessLog.flush();
    if (this.runtime) await Promise.allSettled([...this.runtime.clusters.values()].map((c) => c.close()));
  }
}

function listenerKey(l: Listener): string {
  return `${l.name}@${l.address}:${l.port}`;
}
