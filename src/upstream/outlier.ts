import type { OutlierDetection } from '../config/snapshot.js';

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

/** Gives every endpoint of a cluster with outlier detection a stable row, by cluster and address. */
export class OutlierSlots {
  private readonly byKey = new Map<string, number>();
  constructor(private readonly capacity: number) {}
  slotFor(cluster: string, host: string): number | undefined {
    const key = `${cluster}|${host}`;
    let slot = this.byKey.get(key);
    if (slot === undefined && this.byKey.size < this.capacity) this.byKey.set(key, (slot = this.byKey.size));
    return slot;
  }
}
