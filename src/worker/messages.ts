import type { Snapshot } from '../config/snapshot.js';
import type { LogLevel } from '../telemetry/log.js';
import type { StatsSnapshot } from '../telemetry/stats.js';
import type { ResourceTableInit } from '../upstream/resource-limits.js';
import type { OutlierDetector, OutlierTableInit } from '../upstream/outlier.js';
import type { ConnectionLimitSettings } from '../listener/connection-limits.js';
import type { OverloadSettings } from './overload-manager.js';
import type { SharedTokenBucketsInit } from '../filters/http/local_ratelimit/shared-buckets.js';

/**
 * Rows in the tables the workers share, assigned by the agent (stable by name across Snapshots) and
 * sent beside each Snapshot, never written into it. A name without a row is counted per worker.
 */
export interface RuntimeSlots {
  /** Listener name → row of its connection count. */
  listeners: Record<string, number>;
  /** Cluster name → row of its circuit-breaker counters (clusters with circuit breakers). */
  clusters: Record<string, number>;
  /**
   * Cluster name → the rows of its hosts' outlier counters, in its assignment's endpoint order
   * (config/endpoints.ts endpointLabels; -1: no row), for clusters with outlier detection. A list of
   * numbers, not a record by label: a mesh's 22,000 hosts would be as many keys in every copy.
   */
  outlierHosts: Record<string, readonly number[]>;
}

/**
 * One step of Envoy's listener drain (admin /drain_listeners, SIGTERM), as a worker carries it out on
 * the listeners it names.
 */
export interface DrainRequest {
  /** Envoy's inboundonly: only the listeners whose traffic direction is INBOUND; else all. */
  inboundOnly: boolean;
  /**
   * Stop accepting on those listeners (Envoy's stopListeners). Without it they keep accepting while
   * their connections are told to close (the graceful drain period).
   */
  stopListening: boolean;
  /**
   * Envoy's drain strategy: 0 (immediate) tells every connection to close now; gradual spreads
   * that over this many ms, each connection at a random moment.
   */
  spreadMs: number;
}

/** Stop accepting everywhere and tell every connection to close now (SIGTERM, /drain_listeners without graceful). */
export const DRAIN_ALL_NOW: DrainRequest = { inboundOnly: false, stopListening: true, spreadMs: 0 };

/** Messages between the agent (main thread) and workers. Structured-clone-safe. */
export type ToWorker =
  | { type: 'snapshot'; snapshot: Snapshot; slots: RuntimeSlots }
  | { type: 'log-level'; level: LogLevel }
  | { type: 'stats'; id: number }
  /** Only the downstream connection count (a drain polls it). */
  | { type: 'connections'; id: number }
  | { type: 'drain'; drain: DrainRequest }
  /** The hosts of a cluster outlier detection has ejected right now. */
  | { type: 'ejections'; cluster: string; ejected: string[] }
  | { type: 'shutdown' };

export type FromWorker =
  | { type: 'ack'; version: string }
  | { type: 'nack'; version: string; error: string }
  | { type: 'stats'; id: number; stats: StatsSnapshot; activeConnections: number }
  | { type: 'connections'; id: number; activeConnections: number }
  /** A host reached a consecutive-error threshold (the agent decides the ejection). */
  | { type: 'outlier'; cluster: string; host: string; detector: OutlierDetector };

export interface WorkerInit {
  index: number;
  logLevel: LogLevel;
  /** Circuit-breaker counters shared by all workers. */
  limits: ResourceTableInit;
  /** Outlier-detection counters shared by all workers. */
  outliers: OutlierTableInit;
  /** The local rate limit token buckets shared by all workers (scope `shared`). */
  tokenBuckets: SharedTokenBucketsInit;
  /** Downstream connection counts shared by all workers, and their limits. */
  connections: ResourceTableInit;
  connectionLimits: ConnectionLimitSettings;
  overload: OverloadSettings;
}
