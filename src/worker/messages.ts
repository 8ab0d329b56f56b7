import type { Snapshot } from '../config/snapshot.js';
import type { AccessLogFormat } from '../telemetry/access-log.js';
import type { LogLevel } from '../telemetry/log.js';
import type { StatsSnapshot } from '../telemetry/stats.js';
import type { ResourceTableInit } from '../upstream/resource-limits.js';

/** Messages between the agent (main thread) and workers. Structured-clone-safe. */
export type ToWorker =
  | { type: 'snapshot'; snapshot: Snapshot }
  | { type: 'log-level'; level: LogLevel }
  | { type: 'stats'; id: number }
  | { type: 'drain' }
  | { type: 'shutdown' };

export type FromWorker =
  | { type: 'ack'; version: string }
  | { type: 'nack'; version: string; error: string }
  | { type: 'stats'; id: number; stats: StatsSnapshot; activeConnections: number };

export interface WorkerInit {
  index: number;
  logLevel: LogLevel;
  accessLog: AccessLogFormat;
  /** Circuit-breaker counters shared by all workers. */
  limits: ResourceTableInit;
}
