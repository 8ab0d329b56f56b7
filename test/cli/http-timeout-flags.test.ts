import { describe, expect, it } from 'vitest';
import { HELP, parseCommandLine, UsageError } from '../../src/cli/args.js';

const run = (...flags: string[]) => parseCommandLine(['run', '-c', 'x.yaml', ...flags]);

describe('connection manager timeout flags', () => {
  it('take durations (ms, s, m, h, combined) and 0 for off; absent flags leave the config alone', () => {
    expect(run().httpTimeouts).toEqual({});
    expect(
      run('--stream-idle-timeout', '3s', '--request-timeout', '5m', '--request-headers-timeout', '500ms', '--max-stream-duration', '1h30m').httpTimeouts,
    ).toEqual({ streamIdleTimeoutMs: 3_000, requestTimeoutMs: 300_000, requestHeadersTimeoutMs: 500, maxStreamDurationMs: 5_400_000 });
    expect(run('--stream-idle-timeout', '0').httpTimeouts).toEqual({ streamIdleTimeoutMs: 0 });
    expect(run('--request-timeout', '1.5s').httpTimeouts).toEqual({ requestTimeoutMs: 1_500 });
  });

  it('refuse what is not a duration, naming the flag', () => {
    for (const bad of ['3', '-1s', 'soon', '3 s', '', '30d', '1000h']) {
      expect(() => run('--stream-idle-timeout', bad), bad).toThrow(UsageError);
    }
    expect(() => run('--max-stream-duration', 'x')).toThrow(/--max-stream-duration must be a duration/);
  });

  it('are in --help', () => {
    for (const flag of ['--stream-idle-timeout', '--request-timeout', '--request-headers-timeout', '--max-stream-duration']) expect(HELP).toContain(flag);
  });
});
