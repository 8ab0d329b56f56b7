import { availableParallelism } from 'node:os';
import { LOG_LEVELS, type LogLevel } from '../telemetry/log.js';

/**
 * Envoy's command line (source/server/options_impl.cc), as pilot-agent builds it
 * (pkg/envoy/proxy.go): `-c envoy-rev.json --drain-time-s 45 --drain-strategy immediate
 * --local-address-ip-version v4 --file-flush-interval-msec 1000 --disable-hot-restart
 * --allow-unknown-static-fields -l warning --component-log-level misc:error ...`.
 *
 * Each flag is applied, accepted (meaningful to Envoy, nothing to do in Outrigger: hot restart,
 * the access-log file flush), or warned about and ignored. A flag Envoy does not know is an error,
 * as in Envoy (TCLAP), and so is a flag given twice.
 */

export type EnvoyMode = 'serve' | 'validate' | 'init_only';

export interface EnvoyOptions {
  /** What the command line asks for: run in `mode`, or print the usage or the version. */
  action: 'run' | 'help' | 'version';
  /** -c/--config-path: the bootstrap file (JSON, YAML by extension, binary proto for .pb). */
  configPath?: string;
  /** --config-yaml: a bootstrap in YAML or JSON merged over the file (proto MergeFrom). */
  configYaml?: string;
  mode: EnvoyMode;
  /** --drain-time-s (Envoy default 600): how long a drain lasts. */
  drainTimeS: number;
  /** --drain-strategy (default gradual): immediate tells every connection to close when the drain starts. */
  drainStrategy: 'gradual' | 'immediate';
  /** --parent-shutdown-time-s (default 900): hot restart only; accepted. */
  parentShutdownTimeS: number;
  /** --local-address-ip-version (default v4): the address family of this node's local address. */
  localAddressIpVersion: 'v4' | 'v6';
  /** --concurrency (default: the number of cores): data-plane worker threads. */
  concurrency: number;
  /** -l/--log-level (Envoy default info; `warn` is Envoy's alias of warning). */
  logLevel: LogLevel;
  /**
   * --component-log-level `name:level,...`: validated. Outrigger has one process logger, which -l
   * sets; a component's level does not change it (pilot-agent always passes `misc:error`, which
   * would otherwise silence the warnings -l asked for).
   */
  componentLogLevels: { component: string; level: LogLevel }[];
  /** --service-cluster / --service-node / --service-zone: override the bootstrap's node cluster, id and locality zone (Envoy's LocalInfo). */
  serviceCluster?: string;
  serviceNode?: string;
  serviceZone?: string;
  /** --allow-unknown-static-fields: unknown bootstrap fields are warnings instead of errors. */
  allowUnknownStaticFields: boolean;
  /** --reject-unknown-dynamic-fields / --ignore-unknown-dynamic-fields: what xDS decoding does with unknown fields (Envoy default: warn). */
  unknownDynamicFields: 'warn' | 'reject' | 'ignore';
  /** --file-flush-interval-msec (default 10000): accepted; Outrigger's access log is written every event-loop turn. */
  fileFlushIntervalMsec: number;
  /** Flags accepted without effect that an operator should know about, one warning each. */
  ignored: string[];
}

export class EnvoyUsageError extends Error {
  override readonly name = 'EnvoyUsageError';
}

type Parsed = Partial<Record<string, string | true | string[]>>;

/** A flag of Envoy's command line: whether it takes a value, its short name, and what Outrigger does with it. */
interface FlagSpec {
  value: boolean;
  short?: string;
  multiple?: boolean;
  /** Accepted and ignored, with this warning (undefined: applied, or accepted without one). */
  ignoredBecause?: string;
}

const HOT_RESTART = 'Outrigger has no hot restart';
const FLAGS: Record<string, FlagSpec> = {
  'config-path': { value: true, short: 'c' },
  'config-yaml': { value: true },
  mode: { value: true },
  'drain-time-s': { value: true },
  'drain-strategy': { value: true },
  'parent-shutdown-time-s': { value: true },
  'local-address-ip-version': { value: true },
  concurrency: { value: true },
  'log-level': { value: true, short: 'l' },
  'component-log-level': { value: true },
  'service-cluster': { value: true },
  'service-node': { value: true },
  'service-zone': { value: true },
  'allow-unknown-static-fields': { value: false },
  'reject-unknown-dynamic-fields': { value: false },
  'ignore-unknown-dynamic-fields': { value: false },
  'file-flush-interval-msec': { value: true },
  'file-flush-min-size-kb': { value: true },
  'skip-deprecated-logs': { value: false },
  'disable-hot-restart': { value: false },
  'base-id': { value: true },
  'restart-epoch': { value: true },
  'use-dynamic-base-id': { value: false, ignoredBecause: HOT_RESTART },
  'base-id-path': { value: true, ignoredBecause: HOT_RESTART },
  'hot-restart-version': { value: false, ignoredBecause: HOT_RESTART },
  'socket-path': { value: true, ignoredBecause: HOT_RESTART },
  'socket-mode': { value: true, ignoredBecause: HOT_RESTART },
  'log-format': { value: true, ignoredBecause: 'the process log has one format: time, level, thread, message' },
  'log-format-escaped': { value: false, ignoredBecause: 'the process log has one format' },
  'log-path': { value: true, ignoredBecause: 'the process log goes to stderr' },
  'enable-fine-grain-logging': { value: false, ignoredBecause: 'there is one process logger' },
  'admin-address-path': { value: true, ignoredBecause: 'the admin address is not written to a file' },
  'enable-core-dump': { value: false, ignoredBecause: 'core dumps are the Node.js runtime\'s' },
  'enable-mutex-tracing': { value: false, ignoredBecause: 'there are no mutexes to trace' },
  'cpuset-threads': { value: false, ignoredBecause: 'use --concurrency' },
  'disable-extensions': { value: true, ignoredBecause: 'extensions are not loadable' },
  'stats-tag': { value: true, multiple: true, ignoredBecause: 'stats carry no extra tags' },
  help: { value: false, short: 'h' },
  version: { value: false, short: 'v' },
};

const SHORT = new Map(Object.entries(FLAGS).flatMap(([name, spec]) => (spec.short ? [[spec.short, name] as const] : [])));

/** Tokens to flags: `--name value`, `--name=value`, `-c value`; no positionals (Envoy takes none). */
function tokenize(argv: readonly string[]): Parsed {
  const out: Parsed = {};
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    let name: string | undefined;
    let inline: string | undefined;
    if (token.startsWith('--')) {
      const eq = token.indexOf('=');
      name = eq < 0 ? token.slice(2) : token.slice(2, eq);
      if (eq >= 0) inline = token.slice(eq + 1);
    } else if (token.startsWith('-') && token.length === 2) {
      name = SHORT.get(token[1]!);
      if (!name) throw new EnvoyUsageError(`unknown flag ${token}`);
    } else {
      throw new EnvoyUsageError(`unexpected argument "${token}" (Envoy's command line takes flags only)`);
    }
    const spec = FLAGS[name];
    if (!spec) throw new EnvoyUsageError(`unknown flag --${name}`);
    let value: string | true = true;
    if (spec.value) {
      if (inline !== undefined) value = inline;
      else if (i + 1 < argv.length) value = argv[++i]!;
      else throw new EnvoyUsageError(`--${name} needs a value`);
    } else if (inline !== undefined) {
      throw new EnvoyUsageError(`--${name} takes no value`);
    }
    if (spec.multiple) {
      out[name] = [...((out[name] as string[] | undefined) ?? []), value as string];
    } else {
      if (out[name] !== undefined) throw new EnvoyUsageError(`--${name} is given more than once`);
      out[name] = value;
    }
  }
  return out;
}

/**
 * Whether argv is Envoy's command line rather than `outrigger <command>`: it starts with a flag and
 * no argument names a command (the value of an Envoy flag, as in `--mode validate`, is not one).
 */
export function isEnvoyCommandLine(argv: readonly string[], commands: readonly string[]): boolean {
  if (argv.length === 0 || !argv[0]!.startsWith('-')) return false;
  if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) return false;
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (!token.startsWith('-')) {
      if (commands.includes(token)) return false;
      continue;
    }
    const name = token.startsWith('--') ? token.slice(2) : SHORT.get(token.slice(1));
    if (name !== undefined && FLAGS[name]?.value) i++;
  }
  return true;
}

export function parseEnvoyCommandLine(argv: readonly string[]): EnvoyOptions {
  const v = tokenize(argv);
  const str = (name: string) => v[name] as string | undefined;
  const action = v.help ? 'help' : v.version ? 'version' : 'run';
  const mode = oneOf('mode', str('mode') ?? 'serve', ['serve', 'validate', 'init_only'] as const);
  if (action === 'run' && !str('config-path') && !str('config-yaml')) {
    throw new EnvoyUsageError('at least one of --config-path (-c) or --config-yaml must be given');
  }
  if (v['reject-unknown-dynamic-fields'] && v['ignore-unknown-dynamic-fields']) {
    throw new EnvoyUsageError('--reject-unknown-dynamic-fields and --ignore-unknown-dynamic-fields cannot both be given');
  }
  const ignored = Object.keys(v).flatMap((name) => {
    const why = FLAGS[name]!.ignoredBecause;
    return why ? [`--${name} is ignored: ${why}`] : [];
  });
  const restartEpoch = uint('restart-epoch', str('restart-epoch'), 0);
  if (restartEpoch !== 0) ignored.push(`--restart-epoch ${restartEpoch} is ignored: ${HOT_RESTART}`);
  uint('base-id', str('base-id'), 0);
  uint('file-flush-min-size-kb', str('file-flush-min-size-kb'), 0);
  return {
    action,
    ...(str('config-path') ? { configPath: str('config-path') } : {}),
    ...(str('config-yaml') ? { configYaml: str('config-yaml') } : {}),
    mode,
    drainTimeS: uint('drain-time-s', str('drain-time-s'), 600),
    drainStrategy: oneOf('drain-strategy', str('drain-strategy') ?? 'gradual', ['gradual', 'immediate'] as const),
    parentShutdownTimeS: uint('parent-shutdown-time-s', str('parent-shutdown-time-s'), 900),
    localAddressIpVersion: oneOf('local-address-ip-version', str('local-address-ip-version') ?? 'v4', ['v4', 'v6'] as const),
    // Envoy runs at least one worker (concurrency 0 is 1); Outrigger's pool takes at most 256
    concurrency: Math.min(256, Math.max(1, uint('concurrency', str('concurrency'), availableParallelism()))),
    logLevel: logLevel('log-level', str('log-level') ?? 'info'),
    componentLogLevels: componentLogLevels(str('component-log-level')),
    ...(str('service-cluster') ? { serviceCluster: str('service-cluster') } : {}),
    ...(str('service-node') ? { serviceNode: str('service-node') } : {}),
    ...(str('service-zone') ? { serviceZone: str('service-zone') } : {}),
    allowUnknownStaticFields: v['allow-unknown-static-fields'] === true,
    unknownDynamicFields: v['reject-unknown-dynamic-fields'] ? 'reject' : v['ignore-unknown-dynamic-fields'] ? 'ignore' : 'warn',
    fileFlushIntervalMsec: uint('file-flush-interval-msec', str('file-flush-interval-msec'), 10_000),
    ignored,
  };
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new EnvoyUsageError(`--${flag} must be ${allowed.join(' or ')}, got "${value}"`);
  return value as T;
}

/** Envoy's uint32_t flags. */
function uint(flag: string, text: string | undefined, dflt: number): number {
  if (text === undefined) return dflt;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n > 0xffff_ffff) throw new EnvoyUsageError(`--${flag} must be an unsigned integer, got "${text}"`);
  return n;
}

/** Envoy's level names (spdlog's, and `warn`). */
function logLevel(flag: string, text: string): LogLevel {
  const level = text === 'warn' ? 'warning' : text;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new EnvoyUsageError(`--${flag}: invalid log level "${text}" (${LOG_LEVELS.join(', ')}, warn)`);
  return level as LogLevel;
}

/** `upstream:debug,config:trace` (Envoy's component names are not checked: Outrigger has none of them). */
function componentLogLevels(text: string | undefined): EnvoyOptions['componentLogLevels'] {
  if (!text) return [];
  return text.split(',').map((part) => {
    const pieces = part.split(':');
    if (pieces.length !== 2 || !pieces[0]) throw new EnvoyUsageError(`--component-log-level: component log level not correctly specified "${part}"`);
    return { component: pieces[0], level: logLevel('component-log-level', pieces[1]!) };
  });
}
