import { Agent } from '../agent/agent.js';
import { XdsConfigSource } from '../agent/xds-source.js';
import type { EnvoyBootstrap } from '../config/envoy/bootstrap.js';
import { describeLoadError } from '../config/load.js';
import { log } from '../telemetry/log.js';
import { runUntilExit } from './lifecycle.js';
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
 * listeners and clusters, and LDS/CDS (then RDS/EDS, SDS) over the ADS stream to the bootstrap's
 * ads cluster (agent/xds-source.ts). Resolves with the exit code; 1 when it cannot start.
 */
export async function runFromBootstrap(bootstrap: EnvoyBootstrap, options: BootstrapServeOptions): Promise<number> {
  const admin = bootstrap.admin;
  if (!admin) {
    log.error(`${bootstrap.source}: the bootstrap has no admin address (admin.address): pilot-agent needs the admin API`);
    return 1;
  }
  if (admin.kind !== 'socket') {
    log.error(`${bootstrap.source}: an admin API on a pipe is not supported yet (admin.address.pipe ${admin.path})`);
    return 1;
  }
  let agent: Agent;
  try {
    const maxConnections = bootstrap.runtime['overload.global_downstream_max_connections'];
    agent = new Agent({
      source: new XdsConfigSource(bootstrap),
      workers: options.workers,
      logLevel: options.logLevel,
      drainDurationMs: options.drainTimeMs,
      drainStrategy: options.drainStrategy,
      ports: { admin: admin.port, adminHost: admin.host },
      watch: false,
      overload: { listenerLimits: {}, ...(typeof maxConnections === 'number' ? { maxDownstreamConnections: maxConnections } : {}) },
    });
    if (options.mode === 'init_only') {
      log.info('init_only: the bootstrap loads; exiting');
      return 0;
    }
  } catch (e) {
    for (const line of describeLoadError(e)) log.error(line);
    return 1;
  }
  // signals and /quitquitquit are honoured while the control plane has not answered yet
  const exited = runUntilExit(agent);
  try {
    await agent.start();
  } catch (e) {
    for (const line of describeLoadError(e)) log.error(line);
    return 1;
  }
  return exited;
}
