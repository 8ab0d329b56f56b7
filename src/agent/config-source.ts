import { loadSnapshot, type LoadOptions } from '../config/load.js';
import type { XdsDump } from '../config/envoy/xds-dump.js';
import type { Snapshot } from '../config/snapshot.js';
import type { ConfigApi, UpdateOutcome } from './config-update-stats.js';

/** A Snapshot and what loading it noticed. */
export interface LoadedConfig {
  snapshot: Snapshot;
  warnings: string[];
}

/** What a source may ask of the agent. */
export interface SourceSink {
  /** Once the workers run: they take this Snapshot, or the promise rejects (the last good one stays). */
  apply(snapshot: Snapshot, reason: string): Promise<void>;
  /** A pushing source counts its LDS/CDS updates (listener_manager.lds.*, cluster_manager.cds.*). */
  recordUpdate(api: ConfigApi, outcome: UpdateOutcome, version?: string): void;
  /** control_plane.connected_state. */
  setControlPlaneConnected(connected: boolean): void;
}

/**
 * Where the agent's configuration comes from: files it reads (Istio YAML: read again when they
 * change or on SIGHUP) or a control plane that pushes (xDS). The agent starts its workers with the
 * first configuration, then takes the later ones the source's way.
 */
export interface ConfigSource {
  /** What it reads, for logs and /server_info (files, or the bootstrap and control plane). */
  readonly description: readonly string[];
  /**
   * The first configuration; rejects with what kept it from loading. A pushing source keeps the
   * sink and sends later Snapshots through it once this has resolved (and counts its own updates).
   */
  initial(sink: SourceSink): Promise<LoadedConfig>;
  /** A pulled source: the configuration read again (the agent counts each load as an LDS and a CDS update). */
  reload?(): Promise<LoadedConfig>;
  /** A pulled source: files and directories whose changes call for reload(). */
  readonly watchPaths?: readonly string[];
  /** Fed over xDS: the resources as the control plane sent them, for /config_dump. */
  dump?(): XdsDump;
  close?(): void;
}

/** Istio YAML files and directories (and the certificate and credential dirs, which rotate). */
export function fileConfigSource(opts: LoadOptions): ConfigSource {
  let previous: Snapshot | undefined;
  const load = async (): Promise<LoadedConfig> => {
    const loaded = await loadSnapshot({ ...opts, previous });
    previous = loaded.snapshot;
    return loaded;
  };
  return {
    description: opts.paths,
    initial: load,
    reload: load,
    // the cert and credential dirs too: a rotated certificate is applied like a config change (new handshakes use it)
    watchPaths: [...opts.paths, ...(opts.certDir ? [opts.certDir] : []), ...(opts.credentials ? [opts.credentials.dir] : [])],
  };
}
