import { describeLoadError, loadSnapshot } from '../config/load.js';
import { loadWorkloadCerts } from '../security/workload-certs.js';
import { log, setLogLevel } from '../telemetry/log.js';
import { COMMANDS, HELP, parseCommandLine, UsageError, type CaFlags, type RunFlags } from './args.js';
import { isEnvoyCommandLine } from './envoy-args.js';
import { versionText } from './version.js';
import { loadOptionsOf, startAgent, runUntilExit } from './lifecycle.js';

/** Runs one command line (the process's arguments after the script); resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  // pilot-agent runs the proxy binary with Envoy's flags and no command
  // (loaded only then: the xDS client, gRPC and the protobuf API are not what a YAML-fed proxy needs in memory)
  if (isEnvoyCommandLine(argv, COMMANDS)) return (await import('./envoy-main.js')).runEnvoyCommandLine(argv);
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
      process.stdout.write(versionText());
      return 0;
    case 'validate':
      return validate(flags);
    case 'explain':
      return (await import('./explain.js')).explain(flags);
    case 'proxy-config':
      return (await import('./proxy-config-command.js')).proxyConfig(flags);
    case 'inject':
      return (await import('./inject.js')).inject(flags);
    case 'wait':
      return (await import('./wait.js')).wait(flags.wait!);
    case 'webhook':
      return (await import('./webhook.js')).webhook(flags);
    case 'run':
      return run(flags);
    case 'demo':
      return (await import('./demo.js')).runDemo(flags);
    case 'ca':
      return ca(flags.ca!);
  }
}

async function validate(flags: RunFlags): Promise<number> {
  try {
    const { snapshot, warnings } = await loadSnapshot(loadOptionsOf(flags, flags.configs));
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

/** `outrigger ca init|issue`: exit 0, or 1 with the reason (a CertError names the directory and file). */
async function ca(flags: CaFlags): Promise<number> {
  // loaded only for this command: node-forge is not needed by the proxy itself
  const { createRootCa, issueWorkloadCert, readCaDir, writeCaDir, writeWorkloadDir } = await import('../security/ca.js');
  try {
    if (flags.action === 'init') {
      const root = await createRootCa({ trustDomain: flags.trustDomain, days: flags.days });
      for (const path of await writeCaDir(flags.dir, root)) process.stdout.write(`wrote ${path}\n`);
      process.stdout.write(`root CA O=${flags.trustDomain}, valid for ${flags.days} day(s)\n`);
    } else {
      const root = await readCaDir(flags.caDir);
      const { trustDomain, namespace, serviceAccount, days } = flags;
      const issued = await issueWorkloadCert({ caCertPem: root.certPem, caKeyPem: root.keyPem, trustDomain, namespace, serviceAccount, days });
      for (const path of await writeWorkloadDir(flags.out, issued)) process.stdout.write(`wrote ${path}\n`);
      // read back what was written, as the proxy will
      const certs = await loadWorkloadCerts(flags.out);
      process.stdout.write(`identity ${certs.identity.spiffeId}, valid until ${new Date(certs.notAfter).toISOString()}\n`);
    }
    return 0;
  } catch (e) {
    process.stderr.write(`error: ${(e as Error).message}\n`);
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
