// Hash keys (Envoy hash_policy: header, cookie, source IP, query parameter), generated cookies,
// and the route timeout with a gRPC client's grpc-timeout.
import { describe, expect, it } from 'vitest';
import { cookieValue, generatedCookie, newCookieKey, requestHashKey } from '../../src/router/hash-key.js';
import { RequestView } from '../../src/router/request-view.js';
import { effectiveTimeout, parseGrpcTimeout } from '../../src/router/timeout.js';

const headers = ['host', 'h', 'x-user', 'alice', 'cookie', 'a=1; sticky="q1"', 'cookie', 'b=2'];
const view = new RequestView('GET', '/p?user=bob&x=1', 'h', 'http', headers);

describe('requestHashKey', () => {
  it('header, cookie (quotes removed, across Cookie headers), source IP, query parameter', () => {
    expect(requestHashKey({ header: 'x-user' }, headers, '10.0.0.1', view)).toBe('alice');
    expect(requestHashKey({ cookie: { name: 'sticky' } }, headers, '10.0.0.1', view)).toBe('q1');
    expect(requestHashKey({ cookie: { name: 'b' } }, headers, '10.0.0.1', view)).toBe('2');
    expect(requestHashKey({ sourceIp: true }, headers, '10.0.0.1', view)).toBe('10.0.0.1');
    expect(requestHashKey({ queryParameter: 'user' }, headers, '10.0.0.1', view)).toBe('bob');
  });

  it('absent: undefined (the load balancer picks at random)', () => {
    expect(requestHashKey({ header: 'x-none' }, headers, '10.0.0.1', view)).toBeUndefined();
    expect(requestHashKey({ cookie: { name: 'none' } }, headers, '10.0.0.1', view)).toBeUndefined();
    expect(requestHashKey({ queryParameter: 'none' }, headers, '10.0.0.1', view)).toBeUndefined();
  });
});

describe('cookies', () => {
  it('cookieValue matches the whole name, not a suffix', () => {
    expect(cookieValue(['cookie', 'xsticky=1; sticky=2'], 'sticky')).toBe('2');
    expect(cookieValue(['cookie', 'x'], 'x')).toBeUndefined();
  });

  it('a generated cookie: 16 hex digits, Max-Age in seconds, Path when set, HttpOnly', () => {
    expect(newCookieKey()).toMatch(/^[0-9a-f]{16}$/);
    expect(generatedCookie({ name: 's', ttlMs: 90_500, path: '/x' }, 'k')).toBe('s="k"; Max-Age=90; Path=/x; HttpOnly');
    expect(generatedCookie({ name: 's', ttlMs: 1000 }, 'k')).toBe('s="k"; Max-Age=1; HttpOnly');
  });
});

describe('grpc-timeout', () => {
  it.each([
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['3S', 3000],
    ['250m', 250],
    ['1500u', 2],
    ['1n', 1],
    ['99999999m', 99_999_999],
  ])('%s → %i ms', (v, ms) => expect(parseGrpcTimeout(v)).toBe(ms));

  it.each(['', '1', 'm', '123456789m', '1.5S', '-1S', '1s'])('%j is malformed', (v) => expect(parseGrpcTimeout(v)).toBeUndefined());

  it('shortens the route timeout, applies without one, and a malformed one changes nothing', () => {
    expect(effectiveTimeout(1000, '100m')).toBe(100);
    expect(effectiveTimeout(100, '5S')).toBe(100);
    expect(effectiveTimeout(0, '5S')).toBe(5000);
    expect(effectiveTimeout(1000, 'soon')).toBe(1000);
    expect(effectiveTimeout(0, undefined)).toBe(0);
  });
});
