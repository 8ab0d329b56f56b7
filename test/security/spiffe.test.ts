import { describe, expect, it } from 'vitest';
import { isValidTrustDomain, parseSpiffeId, principalOf, spiffeId, spiffeIdentity } from '../../src/security/spiffe.js';

describe('parseSpiffeId', () => {
  it("splits Istio's shape", () => {
    expect(parseSpiffeId('spiffe://cluster.local/ns/default/sa/web')).toEqual({ trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'web' });
    expect(parseSpiffeId('spiffe://td_1.example-x/ns/Shop.v2/sa/bookinfo-productpage_SA')).toEqual({
      trustDomain: 'td_1.example-x',
      namespace: 'Shop.v2',
      serviceAccount: 'bookinfo-productpage_SA',
    });
  });

  it('refuses anything else', () => {
    for (const bad of [
      '',
      'cluster.local/ns/default/sa/web', // principal form, no scheme
      'SPIFFE://cluster.local/ns/default/sa/web',
      'https://cluster.local/ns/default/sa/web',
      'spiffe://cluster.local',
      'spiffe://cluster.local/',
      'spiffe://cluster.local/ns/default',
      'spiffe://cluster.local/ns/default/sa',
      'spiffe://cluster.local/ns/default/sa/',
      'spiffe:///ns/default/sa/web',
      'spiffe://cluster.local/ns//sa/web',
      'spiffe://cluster.local/ns/default/sa/web/',
      'spiffe://cluster.local/ns/default/sa/web/extra',
      'spiffe://cluster.local/sa/web/ns/default',
      'spiffe://cluster.local/NS/default/SA/web',
      'spiffe://Cluster.Local/ns/default/sa/web',
      'spiffe://cluster.local:8080/ns/default/sa/web',
      'spiffe://user@cluster.local/ns/default/sa/web',
      'spiffe://cluster.local/ns/default/sa/web?x=1',
      'spiffe://cluster.local/ns/default/sa/web#frag',
      'spiffe://cluster.local/ns/de%2Ffault/sa/web',
      'spiffe://cluster.local/ns/./sa/web',
      'spiffe://cluster.local/ns/default/sa/..',
      'spiffe://cluster.local/ns/default/sa/w b',
      `spiffe://cluster.local/ns/default/sa/${'a'.repeat(2100)}`,
    ]) {
      expect(parseSpiffeId(bad), bad).toBeUndefined();
    }
  });
});

describe('spiffeId, principalOf, spiffeIdentity', () => {
  it('format and parse back', () => {
    const id = spiffeId('cluster.local', 'default', 'web');
    expect(id).toBe('spiffe://cluster.local/ns/default/sa/web');
    expect(parseSpiffeId(id)).toEqual({ trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'web' });
  });

  it('refuse parts that would not parse back', () => {
    expect(() => spiffeId('cluster.local', 'a/b', 'web')).toThrow(/not a valid SPIFFE ID/);
    expect(() => spiffeId('', 'default', 'web')).toThrow();
    expect(() => spiffeId('cluster.local', 'default', '')).toThrow();
    expect(() => spiffeId('Cluster.Local', 'default', 'web')).toThrow();
  });

  it("principal is Istio's form without the scheme", () => {
    expect(principalOf('spiffe://cluster.local/ns/default/sa/web')).toBe('cluster.local/ns/default/sa/web');
    expect(principalOf('cluster.local/ns/default/sa/web')).toBe('cluster.local/ns/default/sa/web');
  });

  it('spiffeIdentity carries both forms', () => {
    expect(spiffeIdentity('spiffe://td/ns/a/sa/b')).toEqual({
      trustDomain: 'td',
      namespace: 'a',
      serviceAccount: 'b',
      spiffeId: 'spiffe://td/ns/a/sa/b',
      principal: 'td/ns/a/sa/b',
    });
    expect(spiffeIdentity('spiffe://td/a/b')).toBeUndefined();
  });

  it('trust domains', () => {
    expect(isValidTrustDomain('cluster.local')).toBe(true);
    for (const bad of ['', 'Cluster.local', 'a/b', 'a:1', 'x'.repeat(256)]) expect(isValidTrustDomain(bad), bad).toBe(false);
  });
});
