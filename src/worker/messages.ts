import type { Snapshot } from '../config/snapshot.js';
import type { LogLevel } from '../telemetry/log.js';

/** Messages between the agent (main thread) and workers. Structured-clone-safe. */
export type ToWorker =
  | { type: 'snapshot'; snapshot: Snapshot }
  | { type: 'log-level'; level: LogLevel }
  | { type: 'shutdown' };

export type FromWorker =
  | { type: 'ack'; version: string }
  | { type: 'nack'; version: string; error: string };

export interface WorkerInit {
  index: number;
  logLevel: LogLevel;
}
