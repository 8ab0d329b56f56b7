import { Agent } from '../agent/agent.js';
import { buildNodeIdentity } from '../config/node-identity.js';
import { log } from '../telemetry/log.js';
import type { RunFlags } from './args.js';

/** Builds the identity and starts the agent on the given config paths. */
export async function startAgent(flags: RunFlags, configs: string[]): Promise<Agent> {
  const node = buildNodeIdentity(flags.identity);
  const agent = new Agent({
    paths: configs,
    node,
    outboundPort: flags.ports.outbound,
    workers: flags.workers,
    healthPort: flags.ports.health,
    logLevel: flags.logLevel,
  });
  await agent.start();
  return agent;
}

/** Resolves with exit code 0 once SIGTERM/SIGINT stopped the agent (and `onStop` ran). */
export function waitForSignal(agent: Agent, onStop?: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    const stop = (sig: string) => {
      log.info(`${sig}: shutting down`);
      void agent
        .stop()
        .then(() => onStop?.())
        .then(() => resolve(0));
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

