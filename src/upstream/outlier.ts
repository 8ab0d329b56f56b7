import type { ClusterLoadAssignment, OutlierDetection } from '../config/snapshot.js';
import { endpointLabels } from '../config/endpoints.js';

/** Which of Envoy's detectors a result tripped. */
export type OutlierDetector = 'consecutive_5xx' | 'consecutive_gateway_failure' | 'consecutive_local_origin_failure';

const FIELDS = 3; // consecutive 5xx, consecutive gateway failures, consecutive local-origin failures

export interface OutlierTableInit {
  buffer: SharedArrayBuffer;
  slots: number;
}

/**
 * Per-endpoint consecutive-error counters shared by every worker, so "5 consecutive 5xx" counts
 * responses from all workers, as Envoy's host counters do. A worker that takes a counter to its
 * threshold reports it; the agent decides the ejection.
 */
export class OutlierCounters {
  private readonly a: Int32Array;

  constructor(readonly init: OutlierTableInit) {
    this.a = new Int32Array(init.buffer);
  }

  static create(slots: number): OutlierTableInit {
    return { buffer: new SharedArrayBuffer(slots * FIELDS * 4), slots };
  }

  /** An HTTP response from the endpoint. Returns the detector whose threshold this response reached. */
  response(slot: number, od: OutlierDetection, status: number): OutlierDetector | undefined {
    const i = slot * FIELDS;
    if (status < 500) {
      Atomics.store(this.a, i, 0);
      Atomics.store(this.a, i + 1, 0);
      if (od.splitExternalLocalOriginErrors) Atomics.store(this.a, i + 2, 0);
      return undefined;
    }
    let hit: OutlierDetector | undefined;
    // Envoy checks gateway failures first; any other 5xx breaks a run of gateway failures
    if (status >= 502 && status <= 504) {
      if (od.consecutiveGatewayFailure > 0 && Atomics.add(this.a, i + 1, 1) + 1 === od.consecutiveGatewayFailure) hit = 'consecutive_gateway_failure';
    } else {
      Atomics.store(this.a, i + 1, 0);
    }
    if (od.consecutive5xx > 0 && Atomics.add(this.a, i, 1) + 1 === od.consecutive5xx) hit ??= 'consecutive_5xx';
    return hit;
  }

  /** No response at all (connect failure, reset, timeout): its own detector when split, else a 503. */
  localFailure(slot: number, od: OutlierDetection): OutlierDetector | undefined {
    if (!od.splitExternalLocalOriginErrors) return this.response(slot, od, 503);
    const i = slot * FIELDS + 2;
    return od.consecutiveLocalOriginFailure > 0 && Atomics.add(this.a, i, 1) + 1 === od.consecutiveLocalOriginFailure
      ? 'consecutive_local_origin_failure'
      : undefined;
  }

  reset(slot: number): void {
    for (let f = 0; f < FIELDS; f++) Atomics.store(this.a, slot * FIELDS + f, 0);
  }
}

/** A host without a row (the table is full): it is not counted, so never ejected. */
export const NO_OUTLIER_ROW = -1;

/** Gives every endpoint of a cluster with outlier detection a stable row, by cluster and address. */
export class OutlierSlots {
  /** Cluster → host label → row (no key per pair: a mesh has tens of thousands of them). */
  private readonly byCluster = new Map<string, Map<string, number>>();
  private used = 0;
  constructor(private readonly capacity: number) {}

  slotFor(cluster: string, host: string): number | undefined {
    let hosts = this.byCluster.get(cluster);
    if (!hosts) this.byCluster.set(cluster, (hosts = new Map()));
    let slot = hosts.get(host);
    if (slot === undefined && this.used < this.capacity) hosts.set(host, (slot = this.used++));
    return slot;
  }

  /** The rows of a cluster's hosts, in the order of `labels` (NO_OUTLIER_ROW past the capacity). */
  rowsFor(cluster: string, labels: readonly string[]): number[] {
    return labels.map((l) => this.slotFor(cluster, l) ?? NO_OUTLIER_ROW);
  }
}

/**
 * A cluster's rows by host label, from the rows the agent sent in its assignment's endpoint order
 * (endpointLabels): made when a worker makes or updates the cluster's hosts, then dropped.
 */
export function outlierRowsByLabel(assignment: ClusterLoadAssignment | undefined, rows: readonly number[] | undefined): ReadonlyMap<string, number> | undefined {
  if (!rows) return undefined;
  const labels = endpointLabels(assignment);
  const out = new Map<string, number>();
  for (let i = 0; i < labels.length; i++) if (rows[i] !== NO_OUTLIER_ROW && !out.has(labels[i])) out.set(labels[i], rows[i]);
  return out;
}
