import { xxHash64 } from '../common/xxhash64.js';

/**
 * One subscription's counters, under Envoy's names (the caller publishes them as
 * `cluster_manager.cds.*`, `listener_manager.lds.*`, `http.<prefix>.rds.<name>.*`, ...):
 * - update_attempt: subscription started or changed, and every update, failure or timeout
 * - update_success / update_rejected: responses ACKed / NACKed
 * - update_failure: the stream to the control plane failed or closed
 * - update_empty: an accepted update that carried no resource (delta: only removals; state of the
 *   world: an empty set). Envoy counts it in its EDS/RDS consumers, per cluster / route config.
 * - init_fetch_timeout: the initial fetch took longer than initial_fetch_timeout
 * - version: xxHash64 of the last accepted version (version_text: the text itself)
 */
export interface SubscriptionStats {
  update_attempt: number;
  update_success: number;
  update_rejected: number;
  update_failure: number;
  update_empty: number;
  init_fetch_timeout: number;
  version: bigint;
  version_text: string;
}

export function newSubscriptionStats(): SubscriptionStats {
  return { update_attempt: 0, update_success: 0, update_rejected: 0, update_failure: 0, update_empty: 0, init_fetch_timeout: 0, version: 0n, version_text: '' };
}

export function recordAcceptedVersion(stats: SubscriptionStats, version: string): void {
  stats.version = xxHash64(version);
  stats.version_text = version;
}

/** `control_plane.*`: connected_state is 1 while a stream to the control plane is up, else 0. */
export interface ControlPlaneStats {
  connected_state: number;
}
