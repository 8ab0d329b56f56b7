// The trusted client address from x-forwarded-for, Envoy's rules (config_http_conn_man_headers,
// "x-forwarded-for": its examples 1-6) and Utility::getLastAddressFromXFF's edge cases.
import { describe, expect, it } from 'vitest';
import { lastXffAddress, xffClientAddress } from '../../src/http/client-address.js';

/** What Envoy's docs call the trusted client address: the XFF-derived one, else the peer. */
const trusted = (xff: string | undefined, peer: string, useRemoteAddress: boolean, hops: number) => xffClientAddress(xff, useRemoteAddress, hops) ?? peer;

describe("Envoy's documented examples", () => {
  const XFF = '203.0.113.128, 203.0.113.10, 203.0.113.1';

  it('1: edge proxy, no trusted proxy in front (use_remote_address, 0 hops): XFF is ignored', () => {
    expect(trusted(XFF, '192.0.2.5', true, 0)).toBe('192.0.2.5');
  });

  it('2: internal proxy behind the edge of example 1 (no use_remote_address, 0 hops): the last XFF address', () => {
    expect(trusted(`${XFF}, 192.0.2.5`, '10.11.12.13', false, 0)).toBe('192.0.2.5');
  });

  it('3: edge proxy behind two trusted proxies (use_remote_address, 2 hops): the 2nd address from the right', () => {
    expect(trusted(XFF, '192.0.2.5', true, 2)).toBe('203.0.113.10');
  });

  it('4: internal proxy behind the edge of example 3 (no use_remote_address, 2 hops): the 3rd from the right', () => {
    expect(trusted(`${XFF}, 192.0.2.5`, '10.11.12.13', false, 2)).toBe('203.0.113.10');
  });

  it('5: internal proxy, no XFF: the connection peer', () => {
    expect(trusted(undefined, '10.20.30.40', false, 0)).toBe('10.20.30.40');
  });

  it('6: internal proxy, XFF with the one client address: that address', () => {
    expect(trusted('10.20.30.40', '10.20.30.50', false, 0)).toBe('10.20.30.40');
  });
});

describe('fallbacks to the connection peer', () => {
  it('fewer XFF addresses than N (use_remote_address) or N+1 (not): the peer', () => {
    expect(xffClientAddress('203.0.113.1', true, 2)).toBeUndefined();
    expect(xffClientAddress('203.0.113.1, 203.0.113.2', true, 2)).toBe('203.0.113.1');
    expect(xffClientAddress('203.0.113.1', false, 1)).toBeUndefined();
    expect(xffClientAddress('203.0.113.1, 203.0.113.2', false, 1)).toBe('203.0.113.1');
  });

  it('a forged XFF changes nothing at an edge without trusted hops', () => {
    expect(xffClientAddress('203.0.113.7', true, 0)).toBeUndefined();
    expect(xffClientAddress(undefined, true, 1)).toBeUndefined();
  });

  it('the chosen entry must be an IP address: not a name, not with a port, not bracketed, not with a zone', () => {
    for (const bad of ['unknown', '203.0.113.1:8080', '[2001:db8::1]', 'fe80::1%eth0', '', '1.2.3', '01.2.3.4']) {
      expect(lastXffAddress(`198.51.100.1, ${bad}`, 0), bad).toBeUndefined();
    }
    // an unparsable entry further left does not matter
    expect(lastXffAddress('garbage, 198.51.100.1', 0)).toBe('198.51.100.1');
  });
});

describe('getLastAddressFromXFF', () => {
  it('entries are trimmed of spaces and tabs; a list without spaces works the same', () => {
    expect(lastXffAddress('1.1.1.1,\t 2.2.2.2 \t', 0)).toBe('2.2.2.2');
    expect(lastXffAddress('1.1.1.1,2.2.2.2,3.3.3.3', 1)).toBe('2.2.2.2');
    expect(lastXffAddress('1.1.1.1,2.2.2.2,3.3.3.3', 2)).toBe('1.1.1.1');
    expect(lastXffAddress('1.1.1.1,2.2.2.2,3.3.3.3', 3)).toBeUndefined();
  });

  it('a trailing comma makes the entry unreadable (Envoy takes the whole remaining text)', () => {
    expect(lastXffAddress('1.1.1.1,', 0)).toBeUndefined();
    expect(lastXffAddress('1.1.1.1,,2.2.2.2', 1)).toBeUndefined();
    expect(lastXffAddress(',2.2.2.2', 1)).toBeUndefined();
  });

  it('IPv6 comes back in one spelling (compressed, lower case), as Envoy prints it', () => {
    expect(lastXffAddress('2001:DB8:0:0:0:0:0:1', 0)).toBe('2001:db8::1');
    expect(lastXffAddress('1.1.1.1, ::FFFF:10.0.0.1', 0)).toBe('::ffff:10.0.0.1');
  });
});
