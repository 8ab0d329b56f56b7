import type { EnvoyBootstrap } from '../config/envoy/bootstrap.js';
import type { EnvoyMode } from './envoy-args.js';
import type { LogLevel } from '../telemetry/log.js';

/** What serving from a bootstrap takes from Envoy's command line. */
export interface BootstrapServeOptions {
  mode: Exclude<EnvoyMode, 'validate'>;
  /** --concurrency: data-plane worker threads. */
  workers: number;
  /** --drain-time-s in ms: how long a drain (graceful /drain_listeners, SIGTERM) lasts. */
  drainTimeMs: number;
  drainStrategy: 'gradual' | 'immediate';
  logLevel: LogLevel;
  /** What decoding xDS resources does with unknown fields (--reject-/--ignore-unknown-dynamic-fields). */
  unknownDynamicFields: 'warn' | 'reject' | 'ignore';
  localAddressIpVersion: 'v4' | 'v6';
}

/**
 * Serves the data plane a bootstrap describes: the admin API at bootstrap.admin, the static
 * listeners and clusters, and LDS/CDS (then RDS/EDS, SDS) over the ADS stream to
 * bootstrap.grpcTarget(bootstrap.ads.clusterName). Resolves with the exit code.
 *
 * Not built yet: it needs the xDS client (src/xds/) and the resource decoders
 * (src/config/envoy/decode/); the lead wires them here.
 */
export async function runFromBootstrap(bootstrap: EnvoyBootstrap, options: BootstrapServeOptions): Promise<number> {
  void options;
  throw new Error(
    `serving from an Envoy bootstrap (${bootstrap.source}) needs the xDS config source, which is not wired yet; ` +
      '--mode validate checks a bootstrap, and `outrigger run -c <istio yaml>` serves from Istio config',
  );
}
