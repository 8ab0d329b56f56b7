import { parseAppProbers } from '../admin/status.js';
import { Agent } from '../agent/agent.js';
import { fileConfigSource } from '../agent/config-source.js';
import { buildNodeIdentity } from '../config/node-identity.js';
import { CredentialStore } from '../security/credentials.js';
import { loadWorkloadSecret } from '../security/workload-certs.js';
import { log } from '../telemetry/log.js';
import type { RunFlags } from './args.js';
import type { LoadOptions } from '../config/load.js';

/** What loading the config takes from the command line, for `run` and `validate` alike. */
export function loadOptionsOf(flags: RunFlags, paths: readonly string[]): LoadOptions {
  return {
    paths,
    node: buildNodeIdentity(flags.identity),
    outboundPort: flags.ports.outbound,
    inboundPort: flags.ports.inbound,
    // the config layer reads no files of secrets: the security layer's readers are passed in
    ...(flags.certDir ? { certDir: flags.certDir, workloadSecret: () => loadWorkloadSecret(flags.certDir!) } : {}),
    ...(flags.proxyConfig ? { proxyConfig: flags.proxyConfig } : {}),
    ...(flags.credentialDir ? { credentials: new CredentialStore(flags.credentialDir) } : {}),
    httpTimeouts: flags.httpTimeouts,
    ...(flags.accessLog ? { accessLog: flags.accessLog } : {}),
    ...(flags.exitOnZeroActiveConnections ? { exitOnZeroActiveConnections: true } : {}),
  };
}

/** Builds the identity and starts the agent on the given config paths. */
export async function startAgent(flags: RunFlags, configs: string[]): Promise<Agent> {
  const agent = new Agent({
    source: fileConfigSource(loadOptionsOf(flags, configs)),
    workers: flags.workers,
    ...(flags.workerThreads ? { dataPlaneThread: 'workers' as const } : {}),
    logLevel: flags.logLevel,
    drainDurationMs: flags.drainDurationMs,
    ports: { admin: flags.ports.admin, stats: flags.ports.stats, health: flags.ports.health },
    ...(flags.ports.status ? { status: { port: flags.ports.status, probers: parseAppProbers(process.env.ISTIO_KUBE_APP_PROBERS), appHost: process.env.INSTANCE_IP || flags.identity.ip || '127.0.0.1' } } : {}),
    watch: flags.watch,
    overload: flags.overload,
  });
  await agent.start();
  return agent;
}

/**
 * Runs until the agent exits: SIGTERM/SIGINT drain and exit, SIGHUP reloads the config,
 * POST /quitquitquit drains and exits. Resolves with the exit code after `onStop` ran.
 */
export async function runUntilExit(agent: Agent, onStop?: () => Promise<void>): Promise<number> {
  const onSignal = (sig: NodeJS.Signals) => void agent.shutdown(sig);
  const onHup = () => void agent.reload('SIGHUP');
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', onHup);
  const code = await agent.exited;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  process.off('SIGHUP', onHup);
  await onStop?.();
  log.info(`exited (code ${code})`);
  return code;
}
