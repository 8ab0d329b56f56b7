/** One resource the control plane sent, as /config_dump shows it. */
export interface XdsDumpEntry {
  name: string;
  /** The version the control plane gave it (delta: the resource's; state of the world: the response's). */
  version: string;
  /** When it was accepted (ISO 8601). */
  lastUpdated: string;
  /** The resource in Envoy's JSON form (proto/to-json.ts). */
  resource: Record<string, unknown>;
  /** Accepted but not in service yet (waiting for its endpoints, routes or secrets). */
  warming?: boolean;
}

/** What an xDS-fed proxy holds, for /config_dump. */
export interface XdsDump {
  bootstrap: Record<string, unknown>;
  startedAt: string;
  /** The last accepted version of each wildcard type (ListenersConfigDump / ClustersConfigDump version_info). */
  versions: { listeners: string; clusters: string };
  staticListeners: Record<string, unknown>[];
  staticClusters: Record<string, unknown>[];
  listeners: XdsDumpEntry[];
  routes: XdsDumpEntry[];
  clusters: XdsDumpEntry[];
  endpoints: XdsDumpEntry[];
  secrets: XdsDumpEntry[];
}
