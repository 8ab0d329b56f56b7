import { describe, expect, it } from 'vitest';
import type { FilterChain, FilterChainMatch } from '../../src/config/snapshot.js';
import { FilterChainMatcher, type Inspected } from '../../src/listener/filter-chain-match.js';

const chain = (name: string, match: FilterChainMatch): FilterChain => ({ name, match, filters: [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { statPrefix: name, clusters: [], idleTimeoutMs: 0 } }] });

function matcher(...chains: FilterChain[]) {
  return new FilterChainMatcher(chains.map((c) => ({ chain: c, value: c.name })));
}

/** The chain chosen for a destination and what inspection saw (undefined: no inspection). */
function pick(m: FilterChainMatcher<string>, address: string, port: number, seen?: Inspected): string | undefined {
  return FilterChainMatcher.select(m.candidates(address, port), seen)?.value;
}

const tls = (serverName?: string, alpn: string[] = []): Inspected => ({ transportProtocol: 'tls', ...(serverName ? { serverName } : {}), applicationProtocols: alpn });
const raw = (alpn: string[] = []): Inspected => ({ transportProtocol: 'raw_buffer', applicationProtocols: alpn });

describe('FilterChainMatcher (Envoy filter_chain_match order)', () => {
  it('destination port first: chains for the port beat chains for any port, which are used only when none names it', () => {
    const m = matcher(chain('any', {}), chain('p80', { destinationPort: 80 }), chain('p443', { destinationPort: 443 }));
    expect(pick(m, '10.0.0.1', 80)).toBe('p80');
    expect(pick(m, '10.0.0.1', 443)).toBe('p443');
    expect(pick(m, '10.0.0.1', 8080)).toBe('any');
  });

  it('then the destination IP: the longest matching prefix wins, chains without ranges only when none matches', () => {
    const m = matcher(
      chain('wide', { destinationPort: 3306, prefixRanges: ['10.0.0.0/8'] }),
      chain('narrow', { destinationPort: 3306, prefixRanges: ['10.1.0.0/16', '192.168.0.1'] }),
      chain('vip', { destinationPort: 3306, prefixRanges: ['10.1.2.3/32'] }),
      chain('port-only', { destinationPort: 3306 }),
    );
    expect(pick(m, '10.1.2.3', 3306)).toBe('vip');
    expect(pick(m, '10.1.9.9', 3306)).toBe('narrow');
    expect(pick(m, '192.168.0.1', 3306)).toBe('narrow');
    expect(pick(m, '10.9.9.9', 3306)).toBe('wide');
    expect(pick(m, '172.16.0.1', 3306)).toBe('port-only');
  });

  it('no backtracking: when the port matched, chains for any port are not considered again', () => {
    const m = matcher(chain('any', {}), chain('sni', { destinationPort: 443, serverNames: ['a.example.com'], transportProtocol: 'tls' }));
    expect(pick(m, '1.1.1.1', 443, tls('b.example.com'))).toBeUndefined(); // the listener's default chain takes it
    expect(pick(m, '1.1.1.1', 443, tls('a.example.com'))).toBe('sni');
  });

  it('SNI: exact, then the longest wildcard suffix, then chains without server names', () => {
    const m = matcher(
      chain('exact', { destinationPort: 443, serverNames: ['api.example.com'] }),
      chain('wild', { destinationPort: 443, serverNames: ['*.example.com'] }),
      chain('wilder', { destinationPort: 443, serverNames: ['*.b.example.com'] }),
      chain('none', { destinationPort: 443 }),
    );
    expect(pick(m, '1.1.1.1', 443, tls('api.example.com'))).toBe('exact');
    expect(pick(m, '1.1.1.1', 443, tls('x.example.com'))).toBe('wild');
    expect(pick(m, '1.1.1.1', 443, tls('x.b.example.com'))).toBe('wilder');
    expect(pick(m, '1.1.1.1', 443, tls('example.com'))).toBe('none'); // *.example.com needs a label before it
    expect(pick(m, '1.1.1.1', 443, tls())).toBe('none');
    expect(pick(m, '1.1.1.1', 443, raw())).toBe('none');
  });

  it('transport protocol, then application protocol (what the HTTP inspector saw)', () => {
    const m = matcher(
      chain('http', { destinationPort: 8000, applicationProtocols: ['http/1.0', 'http/1.1', 'h2c'] }),
      chain('tls', { destinationPort: 8000, transportProtocol: 'tls' }),
      chain('tcp', { destinationPort: 8000 }),
    );
    expect(pick(m, '1.1.1.1', 8000, raw(['http/1.1']))).toBe('http');
    expect(pick(m, '1.1.1.1', 8000, raw(['h2c']))).toBe('http');
    expect(pick(m, '1.1.1.1', 8000, raw())).toBe('tcp');
    expect(pick(m, '1.1.1.1', 8000, tls(undefined, ['h2']))).toBe('tls');
  });

  it('says when the first bytes are needed, and without them picks only when nothing depends on them', () => {
    const m = matcher(chain('http', { destinationPort: 80, applicationProtocols: ['http/1.1'] }), chain('tcp', { destinationPort: 80 }), chain('plain', { destinationPort: 81 }));
    expect(FilterChainMatcher.needsInspection(m.candidates('1.1.1.1', 80))).toBe(true);
    expect(FilterChainMatcher.needsInspection(m.candidates('1.1.1.1', 81))).toBe(false);
    expect(pick(m, '1.1.1.1', 81)).toBe('plain');
    expect(pick(m, '1.1.1.1', 80)).toBeUndefined();
  });

  it('IPv6 destinations and IPv6 ranges', () => {
    const m = matcher(chain('v6', { destinationPort: 80, prefixRanges: ['2001:db8::/32'] }), chain('v4', { destinationPort: 80, prefixRanges: ['10.0.0.0/8'] }), chain('rest', { destinationPort: 80 }));
    expect(pick(m, '2001:db8::1', 80)).toBe('v6');
    expect(pick(m, '10.2.3.4', 80)).toBe('v4');
    expect(pick(m, '2001:db9::1', 80)).toBe('rest');
  });
});
