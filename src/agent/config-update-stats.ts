import { createHash } from 'node:crypto';
import type { WrittenStat } from '../telemetry/prometheus.js';

/** The xDS APIs whose updates Envoy counts under a manager's name (listener_manager.lds.*, cluster_manager.cds.*). */
export type ConfigApi = 'lds' | 'cds';
/** success: applied; rejected: refused (a NACK); failure: the fetch itself failed (a broken stream). */
export type UpdateOutcome = 'success' | 'rejected' | 'failure';

const PREFIX: Record<ConfigApi, string> = { lds: 'listener_manager.lds', cds: 'cluster_manager.cds' };
const GAUGE = /\.(version|update_time|workers_started|connected_state)$/;

/**
 * Envoy's subscription stats for LDS and CDS (`<prefix>.update_attempt|update_success|
 * update_rejected|update_failure` counters, `version` and `update_time` gauges),
 * `listener_manager.workers_started` and `control_plane.connected_state`: what pilot-agent's
 * readiness reads. Only the stats written at least once are listed (Envoy's `usedonly` shows
 * those, zero values included: `server.state: 0`, `control_plane.connected_state: 0`).
 */
export class ConfigUpdateStats {
  private readonly values = new Map<string, number>();

  /** One update of `api`; `version` is the version_info applied (Envoy's `version` gauge is a hash of it). */
  record(api: ConfigApi, outcome: UpdateOutcome, version?: string): void {
    const p = PREFIX[api];
    this.add(`${p}.update_attempt`);
    this.add(`${p}.update_${outcome}`);
    if (outcome !== 'success') return;
    this.values.set(`${p}.update_time`, Date.now());
    if (version !== undefined) this.values.set(`${p}.version`, versionHash(version));
  }

  /** Whether the xDS stream to the control plane is up (0 until an xDS source says so). */
  setConnected(connected: boolean): void {
    this.values.set('control_plane.connected_state', connected ? 1 : 0);
  }

  setWorkersStarted(started: boolean): void {
    this.values.set('listener_manager.workers_started', started ? 1 : 0);
  }

  /** Every stat written so far, by Envoy name, with its kind (the version, time and state ones are gauges). */
  entries(): WrittenStat[] {
    return [...this.values].map(([name, value]) => ({ name, value, type: GAUGE.test(name) ? 'gauge' : 'counter' }));
  }

  private add(name: string): void {
    this.values.set(name, (this.values.get(name) ?? 0) + 1);
  }
}

/** A version string as a number a gauge can hold: the first 48 bits of its SHA-256 (Envoy: a 64-bit hash). */
function versionHash(version: string): number {
  return createHash('sha256').update(version).digest().readUIntBE(0, 6);
}
