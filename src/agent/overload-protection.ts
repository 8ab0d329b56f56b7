import { readFileSync } from 'node:fs';
import { DownstreamConnectionLimits } from '../listener/connection-limits.js';
import type { OverloadProtection } from './workers.js';

/**
 * Descriptors kept out of the data plane's share: the process itself (about 50 with two workers:
 * event loops, their pipes and wakeups, stdio, config and certificate watches) and the admin, stats
 * and health servers with the connections they may hold (3 × 8, admin/connection-cap.ts).
 */
export const DESCRIPTOR_RESERVE = 96;

/** The soft RLIMIT_NOFILE of this process (Linux /proc/self/limits); undefined when unlimited or unreadable. */
export function openFilesSoftLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return undefined;
    }
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  return m && m[1] !== 'unlimited' ? Number(m[1]) : undefined;
}

/**
 * The default global downstream connection limit for a descriptor limit: Envoy's advice, less
 * than half of it (the other half is for upstream connections), after the reserve.
 */
export function defaultMaxDownstreamConnections(softLimit: number): number {
  return Math.max(1, Math.floor((softLimit - DESCRIPTOR_RESERVE) / 2));
}

/** The command line's overload settings (`--max-downstream-connections`, `--listener-connection-limit`, `--max-heap-size`, ...). */
export interface OverloadFlags {
  maxDownstreamConnections?: number;
  /** By listener name; `*` for every listener. */
  listenerLimits: Record<string, number>;
  maxHeapBytes?: number;
  injectedResourceFile?: string;
}

/**
 * The settings the workers get: the global limit from the flag, else derived from the descriptor
 * limit `softLimit` (none when that is unlimited); `source` says which, for the startup log.
 */
export function overloadProtection(
  flags: OverloadFlags | undefined,
  workers: number,
  listenerSlots: number,
  softLimit: number | undefined,
): { protection: OverloadProtection; source: string } {
  let max = flags?.maxDownstreamConnections;
  let source = '--max-downstream-connections';
  if (max === undefined && softLimit !== undefined) {
    max = defaultMaxDownstreamConnections(softLimit);
    source = `RLIMIT_NOFILE ${softLimit}: half, after a reserve of ${DESCRIPTOR_RESERVE}`;
  }
  return {
    protection: {
      connections: DownstreamConnectionLimits.createTable(listenerSlots, workers),
      connectionLimits: { ...(max !== undefined ? { maxDownstreamConnections: max } : {}), listenerLimits: { ...flags?.listenerLimits } },
      overload: {
        ...(flags?.maxHeapBytes !== undefined ? { maxHeapBytes: flags.maxHeapBytes } : {}),
        ...(flags?.injectedResourceFile ? { injectedResourceFile: flags.injectedResourceFile } : {}),
      },
    },
    source: max === undefined ? 'no limit: the descriptor limit is unlimited' : `${max} (${source})`,
  };
}
