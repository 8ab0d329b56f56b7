import { loadSnapshot, type LoadOptions } from '../config/load.js';
import type { Snapshot } from '../config/snapshot.js';

/** A Snapshot and what loading it noticed. */
export interface LoadedConfig {
  snapshot: Snapshot;
  warnings: string[];
}

/** Applies a pushed Snapshot to the workers; rejects when they refuse it (the last good one stays). */
export type ApplySnapshot = (snapshot: Snapshot, reason: string) => Promise<void>;

/**
 * Where the agent's configuration comes from: files it reads (Istio YAML: read again when they
 * change or on SIGHUP) or a control plane that pushes (xDS). The agent starts its workers with the
 * first configuration, then takes the later ones the source's way.
 */
export interface ConfigSource {
  /** What it reads, for logs and /server_info (files, or the bootstrap and control plane). */
  readonly description: readonly string[];
  /** The first configuration; rejects with what kept it from loading. */
  initial(): Promise<LoadedConfig>;
  /** A pulled source: the configuration read again. */
  reload?(): Promise<LoadedConfig>;
  /** A pulled source: files and directories whose changes call for reload(). */
  readonly watchPaths?: readonly string[];
  /**
   * A pushing source: once the workers run, later Snapshots go through `apply`. It counts its own
   * LDS/CDS updates; a pulled source's loads are counted by the agent.
   */
  attach?(apply: ApplySnapshot): void;
  close?(): void;
}

/** Istio YAML files and directories (and the certificate and credential dirs, which rotate). */
export function fileConfigSource(opts: LoadOptions): ConfigSource {
  return {
    description: opts.paths,
    initial: () => loadSnapshot(opts),
    reload: () => loadSnapshot(opts),
    // the cert and credential dirs too: a rotated certificate is applied like a config change (new handshakes use it)
    watchPaths: [...opts.paths, ...(opts.certDir ? [opts.certDir] : []), ...(opts.credentials ? [opts.credentials.dir] : [])],
  };
}
