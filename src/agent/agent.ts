import type { Server } from 'node:http';
import { loadSnapshot, type LoadOptions } from '../config/load.js';
import type { Snapshot } from '../config/snapshot.js';
import { createHealthServer } from '../admin/health.js';
import { log, type LogLevel } from '../telemetry/log.js';
import { WorkerPool } from './workers.js';

export interface AgentOptions extends LoadOptions {
  workers: number;
  healthPort: number;
  logLevel: LogLevel;
}

/** The main thread: loads config into a Snapshot, runs the workers, serves health. */
export class Agent {
  private readonly pool: WorkerPool;
  private health: Server | undefined;
  private ready = false;
  snapshot: Snapshot | undefined;

  constructor(private readonly opts: AgentOptions) {
    this.pool = new WorkerPool(opts.workers, opts.logLevel);
  }

  async start(): Promise<void> {
    const { snapshot, warnings } = await loadSnapshot(this.opts);
    for (const w of warnings) log.warn(w);
    this.snapshot = snapshot;
    this.health = createHealthServer(() => this.ready);
    await new Promise<void>((resolve, reject) => {
      this.health!.once('error', (e) => reject(new Error(`health server: cannot bind 0.0.0.0:${this.opts.healthPort}: ${e.message}`)));
      this.health!.listen(this.opts.healthPort, '0.0.0.0', () => resolve());
    });
    this.pool.start();
    await this.pool.apply(snapshot);
    this.ready = true;
    const listeners = snapshot.listeners.map((l) => `${l.name} (${l.address}:${l.port})`).join(', ');
    log.info(`ready: config ${snapshot.version}, ${this.opts.workers} worker(s), listeners: ${listeners || 'none'}`);
  }

  async stop(): Promise<void> {
    this.ready = false;
    await this.pool.stop();
    await new Promise<void>((r) => (this.health ? this.health.close(() => r()) : r()));
  }
}
