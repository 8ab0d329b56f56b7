import { describe, expect, it } from 'vitest';
import { explainOptionsOf, explainQuery, ExplainUsageError, parseExplainRequest } from '../../src/explain/request.js';

describe('parseExplainRequest', () => {
  it('method and URL, headers, the Host header as authority, defaults', () => {
    const r = parseExplainRequest({ request: 'post http://reviews:9080/api/x?y=1', headers: ['End-User: jason', 'host: other.example'] }, 'outbound');
    expect(r).toEqual({
      method: 'POST', scheme: 'http', authority: 'other.example', host: 'reviews', port: 9080, path: '/api/x?y=1',
      headers: [['end-user', 'jason']], direction: 'outbound', protocol: 'HTTP/1.1', sourceIp: '10.0.0.1',
    });
    expect(parseExplainRequest({ request: 'https://[::1]/' }, 'gateway')).toMatchObject({ method: 'GET', scheme: 'https', host: '::1', port: 443, direction: 'gateway' });
  });

  it('a source principal in either spelling, a destination', () => {
    const r = parseExplainRequest({ request: 'GET http://a/', sourcePrincipal: 'cluster.local/ns/foo/sa/bar', destination: '10.1.2.3:8080', direction: 'inbound' }, 'outbound');
    expect(r).toMatchObject({ sourcePrincipal: 'spiffe://cluster.local/ns/foo/sa/bar', destination: { address: '10.1.2.3', port: 8080 }, direction: 'inbound' });
  });

  it.each([
    [{ request: 'GET /x' }, /not an absolute URL/],
    [{ request: 'GET http://a/ extra' }, /must be "<METHOD> <URL>"/],
    [{ request: 'G(T http://a/' }, /not an HTTP method/],
    [{ request: 'ftp://a/' }, /scheme must be http or https/],
    [{ request: 'http://a/', headers: ['nocolon'] }, /a header must be "name: value"/],
    [{ request: 'http://a/', sourcePrincipal: 'nobody' }, /--source-principal must be a SPIFFE id/],
    [{ request: 'http://a/', destination: 'host:80' }, /--destination must be <ip>:<port>/],
    [{ request: 'http://a/', protocol: 'HTTP/3' }, /--protocol must be HTTP\/1.1 or HTTP\/2/],
    [{ request: 'http://a/', sourceIp: '300.1.1.1' }, /--source-ip must be an IP address/],
  ])('%j is refused with the reason', (o, reason) => {
    expect(() => parseExplainRequest(o, 'outbound')).toThrow(ExplainUsageError);
    expect(() => parseExplainRequest(o, 'outbound')).toThrow(reason);
  });

  it('the admin query string carries the same options both ways', () => {
    const o = { request: 'GET http://a/', headers: ['x: 1', 'y: 2'], direction: 'inbound', sourcePrincipal: 'td/ns/a/sa/b', destination: '10.0.0.9:80' };
    expect(explainOptionsOf(explainQuery(o))).toEqual(o);
    expect(explainOptionsOf(new URLSearchParams())).toBeUndefined();
  });
});
