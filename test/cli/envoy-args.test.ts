import { describe, expect, it } from 'vitest';
import { COMMANDS, HELP } from '../../src/cli/args.js';
import { EnvoyUsageError, isEnvoyCommandLine, parseEnvoyCommandLine } from '../../src/cli/envoy-args.js';

/** pilot-agent's command line (pkg/envoy/proxy.go), with its optional parts. */
const PILOT_AGENT = [
  '-c', './etc/istio/proxy/envoy-rev.json',
  '--drain-time-s', '45',
  '--drain-strategy', 'immediate',
  '--local-address-ip-version', 'v4',
  '--file-flush-interval-msec', '1000',
  '--disable-hot-restart',
  '--allow-unknown-static-fields',
  '-l', 'warning',
  '--component-log-level', 'misc:error',
  '--skip-deprecated-logs',
  '--config-yaml', '{"node":{"id":"x"}}',
  '--concurrency', '2',
];

describe("Envoy's command line", () => {
  it("parses pilot-agent's command line", () => {
    expect(parseEnvoyCommandLine(PILOT_AGENT)).toEqual({
      action: 'run',
      configPath: './etc/istio/proxy/envoy-rev.json',
      configYaml: '{"node":{"id":"x"}}',
      mode: 'serve',
      drainTimeS: 45,
      drainStrategy: 'immediate',
      parentShutdownTimeS: 900,
      localAddressIpVersion: 'v4',
      concurrency: 2,
      logLevel: 'warning',
      componentLogLevels: [{ component: 'misc', level: 'error' }],
      allowUnknownStaticFields: true,
      unknownDynamicFields: 'warn',
      fileFlushIntervalMsec: 1000,
      ignored: [],
    });
  });

  it("Envoy's defaults, --flag=value, warn as warning, -l short, validate and init_only modes", () => {
    const o = parseEnvoyCommandLine(['--config-path=b.yaml', '--mode', 'validate', '-l', 'warn']);
    expect(o).toMatchObject({ configPath: 'b.yaml', mode: 'validate', logLevel: 'warning', drainTimeS: 600, drainStrategy: 'gradual', fileFlushIntervalMsec: 10_000, allowUnknownStaticFields: false });
    expect(o.concurrency).toBeGreaterThanOrEqual(1);
    expect(parseEnvoyCommandLine(['-c', 'b', '--mode', 'init_only']).mode).toBe('init_only');
    expect(parseEnvoyCommandLine(['-c', 'b', '--concurrency', '0']).concurrency).toBe(1);
    expect(parseEnvoyCommandLine(['-c', 'b', '--reject-unknown-dynamic-fields']).unknownDynamicFields).toBe('reject');
    expect(parseEnvoyCommandLine(['-c', 'b', '--service-node', 'n', '--service-cluster', 'c', '--service-zone', 'z'])).toMatchObject({ serviceNode: 'n', serviceCluster: 'c', serviceZone: 'z' });
  });

  it('--help and --version need no config', () => {
    expect(parseEnvoyCommandLine(['--version']).action).toBe('version');
    expect(parseEnvoyCommandLine(['-c', 'b', '--help']).action).toBe('help');
  });

  it('warns about the flags it ignores, one line each', () => {
    const o = parseEnvoyCommandLine(['-c', 'b', '--log-path', '/tmp/x', '--stats-tag', 'a:b', '--stats-tag', 'c:d', '--restart-epoch', '1', '--base-id', '3']);
    expect(o.ignored).toEqual(['--log-path is ignored: the process log goes to stderr', '--stats-tag is ignored: stats carry no extra tags', '--restart-epoch 1 is ignored: Outrigger has no hot restart']);
  });

  it('refuses what Envoy refuses', () => {
    const bad: [string[], RegExp][] = [
      [[], /at least one of --config-path/],
      [['--mode', 'validate'], /at least one of --config-path/],
      [['-c', 'b', '--mode', 'check'], /--mode must be serve or validate or init_only, got "check"/],
      [['-c', 'b', '--drain-strategy', 'slow'], /--drain-strategy must be gradual or immediate/],
      [['-c', 'b', '--local-address-ip-version', 'v5'], /--local-address-ip-version must be v4 or v6/],
      [['-c', 'b', '-l', 'loud'], /invalid log level "loud"/],
      [['-c', 'b', '--component-log-level', 'misc'], /component log level not correctly specified "misc"/],
      [['-c', 'b', '--component-log-level', 'misc:loud'], /invalid log level "loud"/],
      [['-c', 'b', '--drain-time-s', '-1'], /--drain-time-s must be an unsigned integer/],
      [['-c', 'b', '--drain-time-s', '4294967296'], /--drain-time-s must be an unsigned integer/],
      [['-c', 'b', '--frobnicate'], /unknown flag --frobnicate/],
      [['-c', 'b', '-x'], /unknown flag -x/],
      [['-c', 'b', 'extra'], /unexpected argument "extra"/],
      [['-c', 'b', '-c', 'c'], /--config-path is given more than once/],
      [['-c'], /--config-path needs a value/],
      [['-c', 'b', '--disable-hot-restart=1'], /--disable-hot-restart takes no value/],
      [['-c', 'b', '--reject-unknown-dynamic-fields', '--ignore-unknown-dynamic-fields'], /cannot both be given/],
    ];
    for (const [argv, pattern] of bad) {
      expect(() => parseEnvoyCommandLine(argv), argv.join(' ')).toThrow(EnvoyUsageError);
      expect(() => parseEnvoyCommandLine(argv), argv.join(' ')).toThrow(pattern);
    }
  });

  it("tells Envoy's command line from outrigger's commands", () => {
    const envoy = (...argv: string[]) => isEnvoyCommandLine(argv, COMMANDS);
    expect(envoy(...PILOT_AGENT)).toBe(true);
    expect(envoy('--mode', 'validate', '-c', 'b.json')).toBe(true);
    expect(envoy('--version')).toBe(true);
    expect(envoy('-c', 'b', '--help')).toBe(true);
    expect(envoy()).toBe(false);
    expect(envoy('--help')).toBe(false);
    expect(envoy('run', '-c', 'x')).toBe(false);
    expect(envoy('--log-level', 'debug', 'run', '-c', 'x')).toBe(false);
    expect(envoy('--mode', 'gateway', 'validate', '-c', 'x')).toBe(false);
    expect(envoy('frobnicate')).toBe(false);
  });

  it('is in --help', () => {
    for (const flag of ['--config-path', '--config-yaml', '--mode serve|validate|init_only', '--drain-time-s', '--drain-strategy', '--allow-unknown-static-fields', '--component-log-level', '--concurrency']) {
      expect(HELP).toContain(flag);
    }
  });
});
