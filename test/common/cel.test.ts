// CEL over Envoy's attributes: the expressions of Istio's telemetry tasks evaluate as Envoy
// evaluates them, matches() is RE2 (linear, POSIX classes), errors are refused at load.
import { describe, expect, it } from 'vitest';
import { CelError, checkCel, compileCelPredicate, compileCelValue } from '../../src/common/cel.js';
import { fakeContext, type FakeInput } from '../helpers/log-context.js';

/** httpbin's GET /status/418?x=1 answered 418, `request` headers over these. */
function logContext(over: FakeInput = {}) {
  const request: Record<string, string> = { ':method': 'GET', ':path': '/status/418?x=1', ':authority': 'httpbin:8000', ':scheme': 'http', 'user-agent': 'curl/8', 'x-request-id': 'rid-1', ...over.request };
  for (const [k, v] of Object.entries(request)) if (v === undefined) delete request[k];
  return fakeContext({ responseCode: 418, ...over, request });
}

describe('CEL access-log filters (Istio telemetry task expressions)', () => {
  it('response.code and xds.cluster_name (the default-exception-logging filter)', () => {
    const f = compileCelPredicate("response.code >= 400 || xds.cluster_name == 'BlackHoleCluster' ||  xds.cluster_name == 'PassthroughCluster' ");
    expect(f(logContext({ responseCode: 418 }))).toBe(true);
    expect(f(logContext({ responseCode: 200 }))).toBe(false);
    expect(f(logContext({ responseCode: 200, upstreamCluster: 'PassthroughCluster' }))).toBe(true);
  });

  it('has() and string functions on request.useragent (the health-check filter)', () => {
    const f = compileCelPredicate('!has(request.useragent) || !(request.useragent.startsWith("Amazon-Route53-Health-Check-Service"))');
    expect(f(logContext())).toBe(true);
    expect(f(logContext({ request: { 'user-agent': 'Amazon-Route53-Health-Check-Service (ref 1)' } }))).toBe(false);
    expect(f(logContext({ request: { 'user-agent': undefined as unknown as string } }))).toBe(true);
  });

  it('request attributes: path, url_path, query, method, headers, host; connection and addresses', () => {
    const ctx = logContext({ request: { 'x-foo': 'bar' }, downstreamPeerUriSan: 'spiffe://cluster.local/ns/foo/sa/sleep' });
    const yes = [
      "request.path == '/status/418?x=1'",
      "request.url_path == '/status/418' && request.query == 'x=1'",
      "request.method == 'GET' && request.host == 'httpbin:8000'",
      "request.headers['x-foo'] == 'bar'",
      'connection.mtls',
      "source.address == '10.44.1.23' && source.port == 46520",
      'destination.port == 8000',
      "upstream.address == '10.44.1.27'",
      "xds.route_name == 'default'",
      'response.size == 135',
    ];
    for (const e of yes) expect(compileCelPredicate(e)(ctx), e).toBe(true);
    // a missing key is an error, and an error does not log (Envoy's CEL filter)
    expect(compileCelPredicate("request.headers['nope'] == 'x'")(ctx)).toBe(false);
  });

  it('matches() is RE2: POSIX classes (the classify-metrics condition), linear time on a hostile path', () => {
    const f = compileCelPredicate("request.url_path.matches('^/reviews/[[:alnum:]]*$') && request.method == 'GET'");
    expect(f(logContext({ request: { ':path': '/reviews/abc1' } }))).toBe(true);
    expect(f(logContext({ request: { ':path': '/reviews/a-b' } }))).toBe(false);
    const evil = compileCelPredicate("request.path.matches('^(a+)+$')");
    const started = process.hrtime.bigint();
    expect(evil(logContext({ request: { ':path': 'a'.repeat(40) + '!' } }))).toBe(false);
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(500);
  });

  it('values for metric tags: strings, numbers as text, ternaries; failures are undefined', () => {
    expect(compileCelValue('string(destination.port)')(logContext())).toBe('8000');
    expect(compileCelValue('has(request.host) ? request.host : "unknown"')(logContext())).toBe('httpbin:8000');
    expect(compileCelValue('request.headers["missing"]')(logContext())).toBeUndefined();
  });

  it('peers: filter_state.upstream_peer.labels[...] and the older upstream_peer.labels[...].value', () => {
    const peer = { name: 'reviews-v1', namespace: 'default', labels: { app: 'reviews', 'custom-label': 'x' } };
    const ctx = logContext({ state: { upstream_peer: peer } });
    expect(compileCelValue("filter_state.upstream_peer.labels['custom-label']")(ctx)).toBe('x');
    expect(compileCelValue("upstream_peer.labels['app'].value")(ctx)).toBe('reviews');
    expect(compileCelValue("downstream_peer.labels['app'].value")(ctx)).toBeUndefined();
  });

  it('refuses what is not CEL, and patterns RE2 refuses, at load', () => {
    expect(() => checkCel('response.code >=')).toThrow(CelError);
    expect(() => checkCel("request.path.matches('(a)\\\\1')")).toThrow(/not RE2/);
    expect(() => checkCel('response.code >= 400')).not.toThrow();
  });
});
