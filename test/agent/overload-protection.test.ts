import { describe, expect, it } from 'vitest';
import { defaultMaxDownstreamConnections, DESCRIPTOR_RESERVE, openFilesSoftLimit, overloadProtection } from '../../src/agent/overload-protection.js';

const LIMITS = (soft: string, hard: string) => `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            ${soft.padEnd(20)} ${hard.padEnd(20)} files
Max locked memory         8388608              8388608              bytes
`;

describe('descriptor limit', () => {
  it('reads the soft RLIMIT_NOFILE from /proc/self/limits text; unlimited is no limit', () => {
    expect(openFilesSoftLimit(LIMITS('1024', '1048576'))).toBe(1024);
    expect(openFilesSoftLimit(LIMITS('unlimited', 'unlimited'))).toBeUndefined();
    expect(openFilesSoftLimit('garbage')).toBeUndefined();
    expect(openFilesSoftLimit()).toBeGreaterThan(0); // this process's own
  });

  it('the default connection limit is half of the descriptors left after the reserve', () => {
    expect(DESCRIPTOR_RESERVE).toBe(96);
    expect(defaultMaxDownstreamConnections(1024)).toBe(464);
    expect(defaultMaxDownstreamConnections(256)).toBe(80);
    expect(defaultMaxDownstreamConnections(10)).toBe(1);
  });

  it('a flag wins over the derived default; without a descriptor limit there is no global limit', () => {
    const flag = overloadProtection({ maxDownstreamConnections: 50, listenerLimits: { '*': 5 } }, 2, 8, 1024);
    expect(flag.protection.connectionLimits).toEqual({ maxDownstreamConnections: 50, listenerLimits: { '*': 5 } });
    expect(flag.source).toBe('50 (--max-downstream-connections)');
    const derived = overloadProtection(undefined, 2, 8, 1024);
    expect(derived.protection.connectionLimits.maxDownstreamConnections).toBe(464);
    expect(derived.source).toBe('464 (RLIMIT_NOFILE 1024: half, after a reserve of 96)');
    const none = overloadProtection(undefined, 2, 8, undefined);
    expect(none.protection.connectionLimits.maxDownstreamConnections).toBeUndefined();
    // one row per (listener slot + the global row) × worker × 4 counters of 4 bytes
    expect(none.protection.connections.buffer.byteLength).toBe((1 + 8) * 2 * 4 * 4);
  });
});
