// prepareRequestHeaders: the connection manager's request header rules as a pure function —
// hop-by-hop and Connection-listed headers, te, x-forwarded-for / x-envoy-external-address with
// use_remote_address and xff_num_trusted_hops, x-forwarded-proto, XFCC per
// forward_client_cert_details, x-request-id, x-envoy-* stripping, upgrades; and absolute-form targets.
import { describe, expect, it } from 'vitest';
import { absoluteFormTarget, prepareRequestHeaders, xfccElement, type ProxiedRequest, type ProxyHeaderConfig } from '../../src/http/proxy-headers.js';
import type { PeerIdentity } from '../../src/security/peer.js';

const sidecar: ProxyHeaderConfig = { useRemoteAddress: false, stripEnvoyHeaders: false, forwardClientCertDetails: 'APPEND_FORWARD' };
const edge: ProxyHeaderConfig = { useRemoteAddress: true, stripEnvoyHeaders: true, forwardClientCertDetails: 'SANITIZE_SET' };
const peer: PeerIdentity = { sha256: 'abc', subject: 'CN="x"', uris: ['spiffe://cluster.local/ns/a/sa/b'], dns: ['b.a'] } as PeerIdentity;

function run(headers: string[], hcm: ProxyHeaderConfig, over: Partial<ProxiedRequest> = {}, identity?: string) {
  const out: string[] = [];
  const ds: ProxiedRequest = { headers, scheme: 'http', remoteAddress: '10.1.1.1', ...over };
  const r = prepareRequestHeaders(ds, hcm, identity, out);
  return { out, r };
}

const value = (list: string[], name: string) => {
  const all: string[] = [];
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) all.push(list[i + 1]);
  return all;
};

describe('prepareRequestHeaders', () => {
  it('drops hop-by-hop headers and those the Connection header names, keeps te only as trailers', () => {
    const { out } = run(
      ['host', 'Svc:80', 'connection', 'keep-alive, X-Private', 'keep-alive', '5', 'x-private', '1', 'transfer-encoding', 'chunked', 'expect', '100-continue', 'te', 'gzip, trailers', 'x-ok', '1', 'x-request-id', 'id1'],
      sidecar,
    );
    expect(out).toEqual(['host', 'Svc:80', 'te', 'trailers', 'x-ok', '1', 'x-request-id', 'id1', 'x-forwarded-proto', 'http']);
    expect(run(['te', 'gzip'], sidecar).out).not.toContain('te');
  });

  it('reports the authority (lower case) and the request id, generating one when absent', () => {
    expect(run(['host', 'A.Example'], sidecar).r).toMatchObject({ authority: 'a.example' });
    const { r, out } = run([], sidecar);
    expect(r.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(value(out, 'x-request-id')).toEqual([r.requestId]);
    expect(r.authority).toBe('');
  });

  it('sidecar (use_remote_address false): XFF kept as one header, the client is its last entry', () => {
    const { out, r } = run(['x-forwarded-for', '1.1.1.1', 'x-forwarded-for', '2.2.2.2'], sidecar);
    expect(value(out, 'x-forwarded-for')).toEqual(['1.1.1.1,2.2.2.2']);
    expect(r.clientAddress).toBe('2.2.2.2');
    expect(value(out, 'x-envoy-external-address')).toEqual([]);
  });

  it('edge (use_remote_address): the peer appended to XFF and set as x-envoy-external-address; the client-sent ones dropped', () => {
    const { out, r } = run(['x-forwarded-for', '1.1.1.1', 'x-envoy-external-address', 'forged', 'x-forwarded-proto', 'https', 'x-envoy-debug', 'y'], edge);
    expect(value(out, 'x-forwarded-for')).toEqual(['1.1.1.1,10.1.1.1']);
    expect(value(out, 'x-envoy-external-address')).toEqual(['10.1.1.1']);
    expect(value(out, 'x-forwarded-proto')).toEqual(['http']);
    expect(value(out, 'x-envoy-debug')).toEqual([]);
    expect(r.clientAddress).toBeUndefined();
  });

  it('edge with xff_num_trusted_hops 1: the trusted client is the last XFF entry, and x-forwarded-proto is kept', () => {
    const { out, r } = run(['x-forwarded-for', '1.1.1.1, 2.2.2.2', 'x-forwarded-proto', 'https'], { ...edge, xffNumTrustedHops: 1 });
    expect(r.clientAddress).toBe('2.2.2.2');
    expect(value(out, 'x-envoy-external-address')).toEqual(['2.2.2.2']);
    expect(value(out, 'x-forwarded-proto')).toEqual(['https']);
  });

  it('XFCC: APPEND_FORWARD appends this hop for an mTLS peer; SANITIZE_SET replaces; without a peer the client value is dropped', () => {
    const by = 'spiffe://cluster.local/ns/me/sa/me';
    const element = xfccElement(peer, by);
    expect(element).toBe(`By=${by};Hash=abc;Subject="CN=\\"x\\"";URI=spiffe://cluster.local/ns/a/sa/b;DNS=b.a`);
    expect(value(run(['x-forwarded-client-cert', 'prev'], sidecar, { peer }, by).out, 'x-forwarded-client-cert')).toEqual([`prev,${element}`]);
    expect(value(run(['x-forwarded-client-cert', 'prev'], edge, { peer }, by).out, 'x-forwarded-client-cert')).toEqual([element]);
    expect(value(run(['x-forwarded-client-cert', 'prev'], sidecar).out, 'x-forwarded-client-cert')).toEqual([]);
    expect(value(run(['x-forwarded-client-cert', 'prev'], { ...sidecar, forwardClientCertDetails: 'ALWAYS_FORWARD_ONLY' }).out, 'x-forwarded-client-cert')).toEqual(['prev']);
    expect(value(run(['x-forwarded-client-cert', 'prev'], { ...sidecar, forwardClientCertDetails: 'FORWARD_ONLY' }, { peer }).out, 'x-forwarded-client-cert')).toEqual(['prev']);
  });

  it("XFCC: a connection's element is made once, and made again for a new identity of this proxy (a rotated certificate)", () => {
    const conn = { ...peer };
    const first = value(run([], sidecar, { peer: conn }, 'spiffe://cluster.local/ns/me/sa/old').out, 'x-forwarded-client-cert')[0];
    expect(value(run([], sidecar, { peer: conn }, 'spiffe://cluster.local/ns/me/sa/old').out, 'x-forwarded-client-cert')).toEqual([first]);
    const rotated = value(run([], sidecar, { peer: conn }, 'spiffe://cluster.local/ns/me/sa/new').out, 'x-forwarded-client-cert');
    expect(rotated).toEqual([xfccElement(conn, 'spiffe://cluster.local/ns/me/sa/new')]);
    expect(value(run([], sidecar, { peer: conn }, undefined).out, 'x-forwarded-client-cert')).toEqual([xfccElement(conn, undefined)]);
  });

  it('upgrades: Upgrade with Connection: upgrade (not h2c), or an extended CONNECT, which gets a websocket key', () => {
    expect(run(['connection', 'Upgrade', 'upgrade', 'WebSocket'], sidecar).r.upgrade).toBe('websocket');
    expect(run(['upgrade', 'websocket'], sidecar).r.upgrade).toBeUndefined();
    expect(run(['connection', 'upgrade, HTTP2-Settings', 'upgrade', 'h2c', 'http2-settings', 'x'], sidecar).r.upgrade).toBeUndefined();
    const h2 = run([], sidecar, { connectProtocol: 'websocket', upgrade: (() => ({})) as never });
    expect(h2.r.upgrade).toBe('websocket');
    expect(value(h2.out, 'sec-websocket-key')[0]).toMatch(/^[A-Za-z0-9+/]{22}==$/);
  });
});

describe('absoluteFormTarget', () => {
  it('takes authority and path from http:// URLs only', () => {
    expect(absoluteFormTarget('http://Example.com:8080/a?b')).toEqual({ authority: 'example.com:8080', host: 'Example.com:8080', path: '/a?b' });
    expect(absoluteFormTarget('http://h')).toEqual({ authority: 'h', host: 'h', path: '/' });
    expect(absoluteFormTarget('*')).toBeUndefined();
    expect(absoluteFormTarget('https://h/')).toBeUndefined();
  });
});
