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

  /** A listener's admission, compiled once when the listener is bound (its limits do not change). */
  forListener(name: string, slot: number | undefined): ListenerAdmission {
    const listenerMax = this.settings.listenerLimits[name] ?? this.settings.listenerLimits['*'];
    return new ListenerAdmission(
      this.table,
      this.settings.maxDownstreamConnections,
      listenerMax !== undefined && slot !== undefined ? { row: DownstreamConnectionLimits.row(slot), max: listenerMax } : undefined,
    );
  }
}

/** The connection limits of one listener, as one worker applies them. */
export class ListenerAdmission {
  constructor(
    private readonly table: ResourceTable,
    private readonly globalMax: number | undefined,
    private readonly listenerLimit: { row: number; max: number } | undefined,
  ) {}

  /**
   * Claims a place for a new connection: a function that releases it once the connection closes,
   * or the limit it would exceed (Envoy checks the global limit first, then the listener's).
   */
  admit(): (() => void) | ConnectionRejection {
    const { table, globalMax, listenerLimit } = this;
    if (globalMax !== undefined && !table.tryClaim(GLOBAL_SLOT, Resource.Connections, globalMax)) return 'global';
    if (listenerLimit && !table.tryClaim(listenerLimit.row, Resource.Connections, listenerLimit.max)) {
      if (globalMax !== undefined) table.add(GLOBAL_SLOT, Resource.Connections, -1);
      return 'listener';
    }
    if (globalMax === undefined && !listenerLimit) return releaseNothing;
    return () => {
      if (globalMax !== undefined) table.add(GLOBAL_SLOT, Resource.Connections, -1);
      if (listenerLimit) table.add(listenerLimit.row, Resource.Connections, -1);
    };
  }
}

/** The release of a connection no limit counted. */
export function releaseNothing(): void {}
