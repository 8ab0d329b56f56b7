import { describe, expect, it } from 'vitest';
import { certificatePrincipal, httpCheckRequest, tcpCheckRequest, type HttpCheckInput } from '../../../src/security/ext-authz/check-request.js';
import { toResult } from '../../../src/security/ext-authz/grpc-client.js';

const base: HttpCheckInput = {
  source: { address: '10.0.0.1', port: 40000, principal: 'spiffe://cluster.local/ns/a/sa/client', service: 'client-cluster' },
  destination: { address: '10.0.0.2', port: 8080, principal: 'spiffe://cluster.local/ns/b/sa/server' },
  startTimeMs: 1_700_000_000_123,
  id: '42',
  method: 'POST',
  path: '/orders?id=7',
  host: 'shop.example.com',
  scheme: 'https',
  protocol: 'HTTP/2',
  headers: ['host', 'shop.example.com', 'content-length', '5', 'x-dup', 'a', 'x-dup', 'b', 'x-request-id', 'rid'],
};

describe('httpCheckRequest (Envoy CheckRequestUtils::createHttpCheck)', () => {
  it('fills both peers, the request time and request.http', () => {
    const m = httpCheckRequest(base);
    expect(m.attributes.source).toEqual({
      address: { socketAddress: { address: '10.0.0.1', portValue: 40000 } },
      principal: 'spiffe://cluster.local/ns/a/sa/client',
      service: 'client-cluster',
    });
    expect(m.attributes.destination).toEqual({ address: { socketAddress: { address: '10.0.0.2', portValue: 8080 } }, principal: 'spiffe://cluster.local/ns/b/sa/server' });
    expect(m.attributes.request?.time).toEqual({ seconds: '1700000000', nanos: 123_000_000 });
    expect(m.attributes.request?.http).toMatchObject({ id: '42', method: 'POST', path: '/orders?id=7', host: 'shop.example.com', scheme: 'https', protocol: 'HTTP/2', size: '5' });
  });

  it('headers: pseudo-headers, Host as :authority, repeated ones joined with a comma', () => {
    const headers = httpCheckRequest(base).attributes.request?.http.headers;
    expect(headers).toEqual({
      ':authority': 'shop.example.com',
      ':method': 'POST',
      ':path': '/orders?id=7',
      ':scheme': 'https',
      'content-length': '5',
      'x-dup': 'a,b',
      'x-request-id': 'rid',
    });
  });

  it('size is -1 without a content-length; no principal, service or body when there is none', () => {
    const m = httpCheckRequest({ ...base, headers: [], source: { address: '::1', port: 1 }, destination: { address: '::1', port: 2 } });
    expect(m.attributes.request?.http.size).toBe('-1');
    expect(m.attributes.source).toEqual({ address: { socketAddress: { address: '::1', portValue: 1 } } });
    expect(m.attributes.request?.http).not.toHaveProperty('body');
    expect(m.attributes.request?.http).not.toHaveProperty('rawBody');
  });

  it('a body: as a string or as bytes, with x-envoy-auth-partial-body', () => {
    const text = httpCheckRequest({ ...base, body: { data: Buffer.from('héllo'), partial: true, packAsBytes: false } }).attributes.request!.http;
    expect(text.body).toBe('héllo');
    expect((text.headers as Record<string, string>)['x-envoy-auth-partial-body']).toBe('true');
    const bytes = httpCheckRequest({ ...base, body: { data: Buffer.from([0xff, 0x00]), partial: false, packAsBytes: true } }).attributes.request!.http;
    expect(bytes.rawBody).toEqual(Buffer.from([0xff, 0x00]));
    expect(bytes).not.toHaveProperty('body');
    expect((bytes.headers as Record<string, string>)['x-envoy-auth-partial-body']).toBe('false');
  });
});

describe('tcpCheckRequest (the network filter)', () => {
  it('only the two ends of the connection', () => {
    expect(tcpCheckRequest({ address: '10.0.0.1', port: 5 }, { address: '10.0.0.2', port: 6, principal: 'spiffe://td/ns/b/sa/s' })).toEqual({
      attributes: {
        source: { address: { socketAddress: { address: '10.0.0.1', portValue: 5 } } },
        destination: { address: { socketAddress: { address: '10.0.0.2', portValue: 6 } }, principal: 'spiffe://td/ns/b/sa/s' },
      },
    });
  });
});

describe('certificatePrincipal', () => {
  it('the first URI SAN, else the first DNS SAN', () => {
    expect(certificatePrincipal({ uris: ['spiffe://td/ns/a/sa/x', 'urn:other'], dns: ['a.example'] })).toBe('spiffe://td/ns/a/sa/x');
    expect(certificatePrincipal({ uris: [], dns: ['a.example'] })).toBe('a.example');
    expect(certificatePrincipal(undefined)).toBeUndefined();
  });
});

describe('toResult (Envoy GrpcClientImpl::onSuccess)', () => {
  it('status OK (or none): allowed; append decides set or append; pseudo-headers and Host are never removed', () => {
    expect(toResult({})).toEqual({ kind: 'ok', setHeaders: [], appendHeaders: [], removeHeaders: [], responseHeaders: [] });
    expect(
      toResult({
        status: { code: 0 },
        okResponse: {
          headers: [{ header: { key: 'X-Set', value: '1' } }, { header: { key: 'x-add', value: '2' }, append: { value: true } }, { header: { key: 'x-f', value: '3' }, append: { value: false } }],
          headersToRemove: ['X-Secret', ':path', 'host'],
          responseHeadersToAdd: [{ header: { key: 'x-resp', value: 'r' } }],
        },
      }),
    ).toEqual({ kind: 'ok', setHeaders: [['x-set', '1'], ['x-f', '3']], appendHeaders: [['x-add', '2']], removeHeaders: ['x-secret'], responseHeaders: [['x-resp', 'r']] });
  });

  it('any other status denies: denied_response status (403 when unset), headers, body', () => {
    expect(toResult({ status: { code: 7 } })).toEqual({ kind: 'denied', status: 403, body: '', headers: [] });
    expect(toResult({ status: { code: 16 }, deniedResponse: { status: { code: 401 }, headers: [{ header: { key: 'WWW-Authenticate', value: 'Bearer' } }], body: 'no' } })).toEqual({
      kind: 'denied',
      status: 401,
      body: 'no',
      headers: ['www-authenticate', 'Bearer'],
    });
    expect(toResult({ status: { code: 7 }, deniedResponse: { body: 'x' } })).toMatchObject({ status: 403, body: 'x' });
  });
});
