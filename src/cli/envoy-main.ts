import { loadBootstrap } from '../config/envoy/bootstrap.js';
import { log, setLogLevel } from '../telemetry/log.js';
import { HELP } from './args.js';
import { EnvoyUsageError, parseEnvoyCommandLine } from './envoy-args.js';
import { runFromBootstrap } from './envoy-serve.js';
import { versionText } from './version.js';

/**
 * `outrigger` run with Envoy's command line, as pilot-agent runs the proxy binary: parse the flags,
 * load the bootstrap, then validate (`--mode validate`: Envoy's "configuration '<path>' OK", exit 0;
 * exit 1 with the error) or serve (`runFromBootstrap`). Malformed flags exit 1, as Envoy's do.
 */
export async function runEnvoyCommandLine(argv: readonly string[]): Promise<number> {
  let opts;
  try {
    opts = parseEnvoyCommandLine(argv);
  } catch (e) {
    if (!(e instanceof EnvoyUsageError)) throw e;
    process.stderr.write(`outrigger: ${e.message}\nRun "outrigger --help" for usage.\n`);
    return 1;
  }
  if (opts.action === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (opts.action === 'version') {
    process.stdout.write(versionText());
    return 0;
  }
  setLogLevel(opts.logLevel);
  for (const line of opts.ignored) log.warn(line);
  const configName = opts.configPath ?? '--config-yaml';
  let bootstrap;
  try {
    bootstrap = await loadBootstrap({
      ...(opts.configPath ? { configPath: opts.configPath } : {}),
      ...(opts.configYaml ? { configYaml: opts.configYaml } : {}),
      allowUnknownStaticFields: opts.allowUnknownStaticFields,
      ...(opts.serviceCluster ? { serviceCluster: opts.serviceCluster } : {}),
      ...(opts.serviceNode ? { serviceNode: opts.serviceNode } : {}),
      ...(opts.serviceZone ? { serviceZone: opts.serviceZone } : {}),
    });
  } catch (e) {
    const message = (e as Error).message;
    log.error(`error initializing configuration '${configName}': ${message}`);
    // Istio YAML given to Envoy's command line: point at the command that reads it
    if (/field (apiVersion|kind): unknown field/.test(message)) log.error('this looks like Istio config, not an Envoy bootstrap: run it with `outrigger run -c <file-or-dir>`');
    return 1;
  }
  for (const w of bootstrap.warnings) log.warn(w);
  if (opts.mode === 'validate') {
    process.stdout.write(`configuration '${configName}' OK\n`);
    return 0;
  }
  return runFromBootstrap(bootstrap, {
    mode: opts.mode,
    workers: opts.concurrency,
    drainTimeMs: opts.drainTimeS * 1000,
    drainStrategy: opts.drainStrategy,
    logLevel: opts.logLevel,
    unknownDynamicFields: opts.unknownDynamicFields,
    localAddressIpVersion: opts.localAddressIpVersion,
  });
}
