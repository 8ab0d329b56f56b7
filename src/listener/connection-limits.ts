import type { Listener } from '../config/snapshot.js';
import { Resource, ResourceTable, type ResourceTableInit } from '../upstream/resource-limits.js';

/** Row 0 of the shared table counts every data-plane connection of the process; listener rows follow. */
const GLOBAL_SLOT = 0;

/** The downstream connection limits of the process (structured-clone-safe, from the command line). */
export interface ConnectionLimitSettings {
  /**
   * Envoy's global downstream connection limit (the global_downstream_max_connections resource
   * monitor): every data-plane listener of the process together. Absent: no limit.
   */
  maxDownstreamConnections?: number;
  /**
   * Envoy's per-listener limit (runtime `envoy.resource_limits.listener.<name>.connection_limit`),
   * by listener name; `*` applies to every listener without its own.
   */
  listenerLimits: Readonly<Record<string, number>>;
}

/** Why a connection was refused: Envoy counts these as downstream_global_cx_overflow and downstream_cx_overflow. */
export type ConnectionRejection = 'global' | 'listener';

/**
 * Downstream connection limits enforced at accept, across all workers: the counts live in a
 * shared table (one row per worker, as the circuit breakers'), so a limit holds for the process.
 * The admin, stats and health servers are not data-plane listeners and never count.
 */
export class DownstreamConnectionLimits {
  private readonly table: ResourceTable;

  constructor(
    table: ResourceTableInit,
    worker: number,
    private readonly settings: ConnectionLimitSettings,
  ) {
    this.table = new ResourceTable(table, worker);
  }

  /** The table's rows: the global one and one per listener with a slot. */
  static createTable(listenerSlots: number, workers: number): ResourceTableInit {
    return ResourceTable.create(1 + listenerSlots, workers);
  }

  /** The row of a listener's slot (assigned by the agent). */
  static row(listenerSlot: number): number {
    return 1 + listenerSlot;
  }

  /**
   * Claims a connection on `listener`: a function that releases it once the connection closes, or
   * the limit it would exceed (Envoy checks the global limit first, then the listener's).
   */
  admit(listener: Listener): (() => void) | ConnectionRejection {
    const globalMax = this.settings.maxDownstreamConnections;
    const listenerMax = this.settings.listenerLimits[listener.name] ?? this.settings.listenerLimits['*'];
    const slot = listener.connectionSlot;
    const listenerRow = listenerMax !== undefined && slot !== undefined ? DownstreamConnectionLimits.row(slot) : undefined;
    const table = this.table;
    if (globalMax !== undefined && !table.tryClaim(GLOBAL_SLOT, Resource.Connections, globalMax)) return 'global';
    if (listenerRow !== undefined && !table.tryClaim(listenerRow, Resource.Connections, listenerMax!)) {
      if (globalMax !== undefined) table.add(GLOBAL_SLOT, Resource.Connections, -1);
      return 'listener';
    }
    return () => {
      if (globalMax !== undefined) table.add(GLOBAL_SLOT, Resource.Connections, -1);
      if (listenerRow !== undefined) table.add(listenerRow, Resource.Connections, -1);
    };
  }
}
