import { readFileSync } from 'node:fs';
import { describeLoadError, loadSnapshot } from '../config/load.js';
import { buildNodeIdentity } from '../config/node-identity.js';
import { log, setLogLevel } from '../telemetry/log.js';
import { HELP, parseCommandLine, UsageError, type RunFlags } from './args.js';
import { runDemo } from './demo.js';
import { startAgent, runUntilExit } from './lifecycle.js';

async function main(argv: string[]): Promise<number> {
  let flags: RunFlags;
  try {
    flags = parseCommandLine(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`outrigger: ${e.message}\nRun "outrigger --help" for usage.\n`);
      return 2;
    }
    throw e;
  }
  setLogLevel(flags.logLevel);
  switch (flags.command) {
    case 'help':
      process.stdout.write(HELP);
      return 0;
    case 'version':
      process.stdout.write(`${version()}\n`);
      return 0;
    case 'validate':
      return validate(flags);
    case 'run':
      return run(flags);
    case 'demo':
      return runDemo(flags);
  }
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `outrigger ${pkg.version} (node ${process.version})`;
}

async function validate(flags: RunFlags): Promise<number> {
  try {
    const node = buildNodeIdentity(flags.identity);
    const { snapshot, warnings } = await loadSnapshot({ paths: flags.configs, node, outboundPort: flags.ports.outbound, inboundPort: flags.ports.inbound });
    for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
    process.stdout.write(
      `config OK: ${snapshot.listeners.length} listener(s), ${snapshot.routeConfigs.length} route configuration(s), ${snapshot.clusters.length} cluster(s)\n`,
    );
    return 0;
  } catch (e) {
    for (const line of describeLoadError(e)) process.stderr.write(`error: ${line}\n`);
    return 1;
  }
}

async function run(flags: RunFlags): Promise<number> {
  let agent;
  try {
    agent = await startAgent(flags, flags.configs);
  } catch (e) {
    for (const line of describeLoadError(e)) log.error(line);
    return 1;
  }
  return runUntilExit(agent);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    log.error(`fatal: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
