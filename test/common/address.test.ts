import { describe, expect, it } from 'vitest';
import { compressIp, hostPort, isIPv6Address, isPipeAddress, plainAddress } from '../../src/common/address.js';

describe('addresses', () => {
  it('isIPv6Address: IPv6 addresses only (IPv4, names, CIDRs, garbage with a colon are not)', () => {
    for (const a of ['::', '::1', '2001:db8::10', '::ffff:10.0.0.1', 'fe80::1%eth0']) expect(isIPv6Address(a)).toBe(true);
    for (const a of ['10.0.0.1', '240.240.0.3', 'svc.ns.svc.cluster.local', '', '2001:db8::/64', 'a:b', ':::']) expect(isIPv6Address(a)).toBe(false);
  });

  it('hostPort brackets IPv6 and names a pipe by its path', () => {
    expect(hostPort('10.0.0.1', 80)).toBe('10.0.0.1:80');
    expect(hostPort('::1', 80)).toBe('[::1]:80');
    expect(hostPort('/run/app.sock', 0)).toBe('/run/app.sock');
    expect(isPipeAddress('@abstract')).toBe(true);
  });

  it('compressIp spells an IP one way; plainAddress unwraps IPv4-mapped peers', () => {
    expect(compressIp('2001:DB8:0:0:0:0:0:10')).toBe('2001:db8::10');
    expect(compressIp('10.0.0.1')).toBe('10.0.0.1');
    expect(compressIp('fe80::1%eth0')).toBeUndefined();
    expect(compressIp('example.com')).toBeUndefined();
    expect(plainAddress('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(plainAddress('::1')).toBe('::1');
  });
});
