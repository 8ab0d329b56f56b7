import { describe, expect, it } from 'vitest';
import { CidrSet, parseCidr } from '../../src/common/cidr.js';

describe('parseCidr', () => {
  it('reads CIDRs and bare addresses of both families', () => {
    expect(parseCidr('10.0.0.0/8')).toEqual({ address: '10.0.0.0', prefixLength: 8, family: 4 });
    expect(parseCidr('10.1.2.3')).toEqual({ address: '10.1.2.3', prefixLength: 32, family: 4 });
    expect(parseCidr('2001:db8::/32')).toEqual({ address: '2001:db8::', prefixLength: 32, family: 6 });
    expect(parseCidr('::1')).toEqual({ address: '::1', prefixLength: 128, family: 6 });
  });

  it('refuses what is not one', () => {
    for (const bad of ['', 'example.com', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/x', '10.0.0.0/8/1', '::/129', '1.2.3/8']) expect(parseCidr(bad), bad).toBeUndefined();
  });
});

describe('CidrSet', () => {
  it('answers the longest matching prefix, or -1', () => {
    const set = new CidrSet(['10.0.0.0/8', '10.1.0.0/16', '10.1.2.3', '2001:db8::/32'].map((c) => parseCidr(c)!));
    expect(set.longestMatch('10.1.2.3')).toBe(32);
    expect(set.longestMatch('10.1.9.9')).toBe(16);
    expect(set.longestMatch('10.200.0.1')).toBe(8);
    expect(set.longestMatch('11.0.0.1')).toBe(-1);
    expect(set.longestMatch('2001:db8:1::5')).toBe(32);
    expect(set.longestMatch('not an ip')).toBe(-1);
  });
});
