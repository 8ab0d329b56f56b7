// The router, the terminal filter, against a fake stream and a fake cluster whose pools the test
// answers by hand: retries (5xx, resets, per-try timeout, exhausted, overflow of max_retries),
// the route timeout, previous_hosts, other priorities, the hash key and its cookie, ORIGINAL_DST,
// mirrors, upgrades refused, local replies from the error table, and late events after the end.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Downstream } from '../../src/codec/downstream.js';
import type { RouteAction, RetryPolicy, WeightedCluster } from '../../src/config/snapshot.js';
import { DEFAULT_RETRY_POLICY } from '../../src/config/istio/translate-routes.js';
import type { RouterCallbacks, StreamInfo } from '../../src/http/filter.js';
import { RequestHeaderMap } from '../../src/http/header-map.js';
import { ResponseFlag, type ResponseFlagValue } from '../../src/http/response-flags.js';
import { RequestView } from '../../src/router/request-view.js';
import { RetryPolicyRuntime } from '../../src/router/retry-state.js';
import type { CompiledRoute } from '../../src/router/route-table.js';
import { authorityAddress, redirectLocation, Router } from '../../src/router/router.js';
import { UpstreamError } from '../../src/upstream/exchange.js';
import { hash32 } from '../../src/upstream/hash-lb.js';
import type { ClusterRuntime } from '../../src/upstream/cluster.js';
import { fakeCluster, type FakeCluster } from './fake-upstream.js';

interface Recorded {
  headers?: { status: number; headers: string[] };
  data: string[];
  ended?: { trailers: string[] | undefined };
  local?: { status: number; body: string; flag?: ResponseFlagValue; headers?: string[]; grpcStatus?: number };
  reset: boolean;
  endedElsewhere: boolean;
}

interface StreamOptions {
  action?: Partial<RouteAction>;
  retry?: Partial<RetryPolicy>;
  timeoutMs?: number;
  headers?: string[];
  authority?: string;
  path?: string;
  originalDestination?: { address: string; port: number };
  upgrade?: string;
  routeResponseHeaders?: RouteAction extends never ? never : { set: [string, string][]; add: [string, string][]; remove: string[] };
}

/** A stream as the connection manager presents it to the router; records what the router asks of it. */
function fakeStream(opts: StreamOptions = {}) {
  const rec: Recorded = { data: [], reset: false, endedElsewhere: false };
  const wc: WeightedCluster = { name: 'outbound|80||svc', weight: 100 };
  const action: RouteAction = { kind: 'route', clusters: [wc], ...opts.action };
  const route = {
    name: 'r',
    action,
    timeoutMs: opts.timeoutMs ?? 0,
    retry: opts.retry ? new RetryPolicyRuntime({ ...DEFAULT_RETRY_POLICY, retriableStatusCodes: [], ...opts.retry }) : undefined,
    ...(opts.routeResponseHeaders ? { responseHeaders: opts.routeResponseHeaders } : {}),
    pickCluster: () => wc,
  } as unknown as CompiledRoute;
  const raw = opts.headers ?? ['host', opts.authority ?? 'svc'];
  const ds = {
    method: 'GET',
    target: opts.path ?? '/p',
    headers: raw,
    scheme: 'http',
    protocol: 'HTTP/1.1',
    remoteAddress: '192.0.2.7',
    body: null,
    headersSent: false,
    requestComplete: true,
    ...(opts.originalDestination ? { originalDestination: opts.originalDestination } : {}),
  } as unknown as Downstream & { headersSent: boolean };
  const info: StreamInfo = { startTimeMs: Date.now(), responseFlags: [], downstreamRemoteAddress: '192.0.2.7' };
  const request = new RequestHeaderMap('GET', opts.path ?? '/p', opts.authority ?? 'svc', ['host', opts.authority ?? 'svc']);
  const stream: RouterCallbacks = {
    route,
    streamInfo: info,
    connection: ds,
    downstream: ds,
    request,
    requestHeaderList: request.list,
    requestBody: null,
    metadata: {},
    weightedCluster: wc,
    requestView: new RequestView('GET', opts.path ?? '/p', opts.authority ?? 'svc', 'http', raw),
    requestedUpgrade: opts.upgrade,
    encodeHeaders(status, headers) {
      rec.headers = { status, headers };
      ds.headersSent = true;
    },
    encodeData(chunk) {
      rec.data.push(chunk.toString());
      return true;
    },
    encodeEnd(trailers) {
      rec.ended = { trailers };
      router.onDestroy();
    },
    sendLocalReply(status, body, flag, headers, grpcStatus) {
      if (flag && !info.responseFlags.includes(flag)) info.responseFlags.push(flag);
      rec.local = { status, body, ...(flag ? { flag } : {}), ...(headers ? { headers } : {}), ...(grpcStatus !== undefined ? { grpcStatus } : {}) };
      router.onDestroy();
    },
    resetStream() {
      rec.reset = true;
      router.onDestroy();
    },
    endStream() {
      rec.endedElsewhere = true;
      router.onDestroy();
    },
    disarmIdleTimeout() {},
  };
  let router!: Router;
  return {
    stream,
    rec,
    info,
    ds,
    start(f: FakeCluster, extra: Record<string, ClusterRuntime> = {}) {
      const clusters = new Map<string, ClusterRuntime>([[f.cluster.name, f.cluster], ...Object.entries(extra)]);
      router = new Router(stream, { clusters, services: {} }, { hcm: { idleTimeoutMs: 3_600_000 } });
      expect(router.decodeHeaders()).toBe('stop_iteration');
      return router;
    },
  };
}

const ok = (f: FakeCluster, i: number, status = 200) => {
  f.sent[i].handler.onUpstreamHeaders(status, ['content-type', 'text/plain']);
};
const fail = (f: FakeCluster, i: number, kind: ConstructorParameters<typeof UpstreamError>[0], code?: string) =>
  f.sent[i].handler.onUpstreamError(new UpstreamError(kind, kind, code));

beforeEach(() => {
  vi.useFakeTimers();
  vi.spyOn(Math, 'random').mockReturnValue(0); // backoff 0 ms, mirrors always chosen
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('router: one try', () => {
  it('sends the request with x-envoy-attempt-count 1, forwards the response and counts the host', () => {
    const f = fakeCluster();
    const s = fakeStream();
    s.start(f);
    expect(f.sent).toHaveLength(1);
    expect(f.sent[0].request).toMatchObject({ method: 'GET', path: '/p' });
    expect(f.sent[0].attemptCount).toBe('1');
    expect(s.info.upstreamHost).toBe('10.0.0.1:80');
    const host = f.hosts[0];
    expect(host.active).toBe(1);
    expect(f.stats.upstreamRqActive).toBe(1);
    vi.advanceTimersByTime(7);
    f.sent[0].handler.onUpstreamHeaders(200, ['connection', 'keep-alive', 'x-envoy-upstream-service-time', '99', 'a', 'b']);
    expect(s.rec.headers!.status).toBe(200);
    expect(s.rec.headers!.headers).toEqual(['a', 'b', 'x-envoy-upstream-service-time', '7']);
    expect(s.info.upstreamServiceTimeMs).toBe(7);
    expect(f.sent[0].handler.onUpstreamData(Buffer.from('hi'))).toBe(true);
    f.sent[0].handler.onUpstreamEnd(['grpc-status', '0']);
    expect(s.rec.data).toEqual(['hi']);
    expect(s.rec.ended).toEqual({ trailers: ['grpc-status', '0'] });
    expect(host.active).toBe(0);
    expect(host.stats).toMatchObject({ rqTotal: 1, rqActive: 0, rqSuccess: 1, rqError: 0 });
    expect(f.stats.upstreamRqActive).toBe(0);
    expect(f.stats.rqCode.get(200)).toBe(1);
  });

  it('drops hop-by-hop response fields wherever they stand, keeping the others in order', () => {
    const f = fakeCluster();
    const s = fakeStream();
    s.start(f);
    vi.advanceTimersByTime(3);
    const list = ['a', '1', 'connection', 'close', 'b', '2', 'b', '3', 'transfer-encoding', 'chunked', 'upgrade', 'h2c', 'c', '4', 'x-envoy-upstream-service-time', '9'];
    f.sent[0].handler.onUpstreamHeaders(200, list);
    expect(s.rec.headers!.headers).toEqual(['a', '1', 'b', '2', 'b', '3', 'c', '4', 'x-envoy-upstream-service-time', '3']);
  });

  it('applies the rewrite (x-envoy-original-path), host rewrite and the weighted cluster then route header edits', () => {
    const f = fakeCluster();
    const s = fakeStream({ action: { hostRewrite: 'new.host' }, path: '/old/x' });
    (s.stream.route as { rewritePath?: (p: string) => string }).rewritePath = (p) => p.replace('/old', '/new');
    (s.stream.weightedCluster as WeightedCluster).requestHeaders = { set: [['x-a', 'cluster']], add: [], remove: [] };
    (s.stream.route as { requestHeaders?: unknown }).requestHeaders = { set: [['x-a', 'route']], add: [], remove: [] };
    s.start(f);
    expect(f.sent[0].request.path).toBe('/new/x');
    const h = f.sent[0].request.headers;
    expect(h).toEqual(['x-envoy-original-path', '/old/x', 'host', 'new.host', 'x-a', 'route', 'x-envoy-attempt-count', '1']);
  });

  it('an unknown cluster is 503 NC; a cluster with no host is 503 UH "no healthy upstream"', () => {
    const s1 = fakeStream();
    s1.start(fakeCluster({ name: 'other' }));
    expect(s1.rec.local).toMatchObject({ status: 503, body: '', flag: ResponseFlag.NoClusterFound });
    const s2 = fakeStream();
    s2.start(fakeCluster({ empty: true }));
    expect(s2.rec.local).toMatchObject({ status: 503, body: 'no healthy upstream', flag: ResponseFlag.NoHealthyUpstream });
  });

  it('redirects and direct responses are local replies', () => {
    const f = fakeCluster();
    const s = fakeStream({ authority: 'a.example:8080', path: '/x?q=1' });
    (s.stream.route as { action: unknown }).action = { kind: 'redirect', responseCode: 301, path: '/y' };
    s.start(f);
    expect(s.rec.local).toEqual({ status: 301, body: '', headers: ['location', 'http://a.example:8080/y?q=1'] });
    const d = fakeStream();
    (d.stream.route as { action: unknown }).action = { kind: 'direct_response', status: 418, body: 'teapot' };
    d.start(f);
    expect(d.rec.local).toEqual({ status: 418, body: 'teapot' });
    expect(f.sent).toHaveLength(0);
  });

  it('an upgrade no config enables is 403 upgrade_failed', () => {
    const s = fakeStream({ upgrade: 'spdy/3' });
    s.start(fakeCluster());
    expect(s.rec.local).toMatchObject({ status: 403 });
    expect(s.info.responseCodeDetails).toBe('upgrade_failed');
  });

  it('client backpressure: onDownstreamDrain resumes the try in flight', () => {
    const f = fakeCluster();
    const s = fakeStream();
    const router = s.start(f);
    router.onDownstreamDrain();
    expect(f.sent[0].resumed).toBe(1);
  });
});

describe('router: retries', () => {
  it('retries a 5xx on another try with x-envoy-attempt-count 2, counting the abandoned try as an error', () => {
    const f = fakeCluster();
    const s = fakeStream({ retry: { retryOn: ['5xx'], numRetries: 2 } });
    s.start(f);
    ok(f, 0, 503);
    expect(f.sent[0].aborted).toBe(true);
    expect(f.hosts[0].stats.rqError).toBe(1);
    expect(f.hosts[0].active).toBe(0);
    expect(s.rec.headers).toBeUndefined();
    vi.runOnlyPendingTimers();
    expect(f.sent).toHaveLength(2);
    expect(f.sent[1].attemptCount).toBe('2');
    expect(f.stats.upstreamRqRetry).toBe(1);
    ok(f, 1, 200);
    expect(s.rec.headers!.status).toBe(200);
    // only the forwarded response counts as upstream_rq_<code>
    expect(f.stats.rqCode.get(503)).toBeUndefined();
    expect(f.stats.rqCode.get(200)).toBe(1);
  });

  it('retries exhausted: the last 5xx is forwarded, flagged URX', () => {
    const f = fakeCluster();
    const s = fakeStream({ retry: { retryOn: ['5xx'], numRetries: 1 } });
    s.start(f);
    ok(f, 0, 500);
    vi.runOnlyPendingTimers();
    ok(f, 1, 500);
    expect(s.rec.headers!.status).toBe(500);
    expect(s.info.responseFlags).toEqual([ResponseFlag.UpstreamRetryLimitExceeded]);
  });

  it('max_retries open: the response is returned as it is, flagged UO, upstream_rq_retry_overflow counted', () => {
    const f = fakeCluster({ maxRetries: 0 });
    const s = fakeStream({ retry: { retryOn: ['5xx'], numRetries: 3 } });
    s.start(f);
    ok(f, 0, 503);
    expect(s.rec.headers!.status).toBe(503);
    expect(f.stats.upstreamRqRetryOverflow).toBe(1);
    expect(s.info.responseFlags).toEqual([ResponseFlag.UpstreamOverflow]);
  });

  it('holds one max_retries slot for the request and returns it when the request ends', () => {
    const f = fakeCluster({ maxRetries: 5 });
    const s = fakeStream({ retry: { retryOn: ['5xx'], numRetries: 3 } });
    s.start(f);
    ok(f, 0, 503);
    vi.runOnlyPendingTimers();
    ok(f, 1, 503);
    vi.runOnlyPendingTimers();
    expect(f.retriesInUse).toBe(1);
    ok(f, 2, 200);
    f.sent[2].handler.onUpstreamEnd(undefined);
    expect(f.retriesInUse).toBe(0);
  });

  it('connect failure retried under connect-failure; not retried, it is the table reply 503 UF with the transport failure', () => {
    const f = fakeCluster();
    const s = fakeStream({ retry: { retryOn: ['connect-failure'], numRetries: 1 } });
    s.start(f);
    fail(f, 0, 'connect_failure', 'ECONNREFUSED');
    vi.runOnlyPendingTimers();
    expect(f.sent).toHaveLength(2);
    fail(f, 1, 'connect_failure', 'ECONNREFUSED');
    expect(s.rec.local).toEqual({
      status: 503,
      body: 'upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: delayed connect error: ECONNREFUSED',
      flag: ResponseFlag.UpstreamConnectionFailure,
      grpcStatus: 14,
    });
    expect(s.info.responseFlags).toEqual([ResponseFlag.UpstreamRetryLimitExceeded, ResponseFlag.UpstreamConnectionFailure]);
  });

  it('a pool overflow is 503 UO at once, never retried', () => {
    const f = fakeCluster();
    const s = fakeStream({ retry: { retryOn: ['5xx'], numRetries: 3 } });
    s.start(f);
    fail(f, 0, 'overflow');
    expect(s.rec.local).toMatchObject({ status: 503, flag: ResponseFlag.UpstreamOverflow });
    expect(f.stats.upstreamRqPendingOverflow).toBe(1);
    vi.runOnlyPendingTimers();
    expect(f.sent).toHaveLength(1);
  });

  it('previous_hosts: a retry re-picks until it finds a host not tried yet', () => {
    const f = fakeCluster();
    f.picks.push(0, 0, 0, 1);
    const s = fakeStream({ retry: { retryOn: ['5xx'], numRetries: 1, retryPreviousHosts: true, hostSelectionRetryMaxAttempts: 5 } });
    s.start(f);
    ok(f, 0, 503);
    vi.runOnlyPendingTimers();
    expect(f.sent.map((r) => r.host)).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
  });

  it('previous_hosts gives up after hostSelectionRetryMaxAttempts re-picks', () => {
    const f = fakeCluster();
    f.picks.push(0, 0, 0, 0, 1);
    const s = fakeStream({ retry: { retryOn: ['5xx'], numRetries: 1, retryPreviousHosts: true, hostSelectionRetryMaxAttempts: 2 } });
    s.start(f);
    ok(f, 0, 503);
    vi.runOnlyPendingTimers();
    expect(f.sent.map((r) => r.host)).toEqual(['10.0.0.1:80', '10.0.0.1:80']);
  });

  it('other priorities: a retry goes to a priority not tried yet', () => {
    const f = fakeCluster({ priorities: [0, 0, 1] });
    f.picks.push(0, 1);
    const s = fakeStream({ retry: { retryOn: ['5xx'], numRetries: 1, retryOtherPriorities: true } });
    s.start(f);
    ok(f, 0, 503);
    vi.runOnlyPendingTimers();
    expect(f.sent.map((r) => r.host)).toEqual(['10.0.0.1:80', '10.0.0.3:80']);
  });
});

describe('router: timeouts', () => {
  it('per-try timeout: the try is abandoned and retried (retry_on 5xx); the second one times out too: 504 UT, URX', async () => {
    const f = fakeCluster();
    const s = fakeStream({ retry: { retryOn: ['5xx'], numRetries: 1, perTryTimeoutMs: 100 } });
    s.start(f);
    await vi.advanceTimersByTimeAsync(100);
    expect(f.sent[0].aborted).toBe(true);
    expect(f.stats.upstreamRqPerTryTimeout).toBe(1);
    expect(f.hosts[0].stats.rqError).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(f.sent).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(100);
    expect(s.rec.local).toEqual({ status: 504, body: 'upstream request timeout', flag: ResponseFlag.UpstreamRequestTimeout, grpcStatus: 4 });
    expect(s.info.responseFlags).toEqual([ResponseFlag.UpstreamRetryLimitExceeded, ResponseFlag.UpstreamRequestTimeout]);
  });

  it('route timeout: 504 UT, the try aborted, no retry started afterwards', () => {
    const f = fakeCluster();
    const s = fakeStream({ timeoutMs: 50, retry: { retryOn: ['5xx'], numRetries: 3 } });
    s.start(f);
    vi.advanceTimersByTime(50);
    expect(f.sent[0].aborted).toBe(true);
    expect(f.stats.upstreamRqTimeout).toBe(1);
    expect(s.rec.local).toMatchObject({ status: 504, flag: ResponseFlag.UpstreamRequestTimeout });
    vi.runAllTimers();
    expect(f.sent).toHaveLength(1);
  });

  it('route timeout after the response started: the stream is reset, flagged UT', () => {
    const f = fakeCluster();
    const s = fakeStream({ timeoutMs: 50 });
    s.start(f);
    ok(f, 0, 200);
    vi.advanceTimersByTime(50);
    expect(s.rec.reset).toBe(true);
    expect(s.info.responseFlags).toEqual([ResponseFlag.UpstreamRequestTimeout]);
  });

  it('a gRPC client deadline (grpc-timeout) shortens the route timeout', () => {
    const f = fakeCluster();
    const s = fakeStream({ timeoutMs: 1000, headers: ['host', 'svc', 'content-type', 'application/grpc', 'grpc-timeout', '20m'] });
    s.start(f);
    vi.advanceTimersByTime(20);
    expect(s.rec.local).toMatchObject({ status: 504, grpcStatus: 4 });
  });
});

describe('router: failures after the response started', () => {
  it.each([
    ['reset_after_headers', undefined, ResponseFlag.UpstreamConnectionTermination, 'connection_termination'],
    ['reset_after_headers', 'CANCEL', ResponseFlag.UpstreamRemoteReset, 'remote_reset'],
    ['protocol_error', undefined, ResponseFlag.UpstreamProtocolError, 'protocol_error'],
  ] as const)('%s (%s): the stream is reset, flag %s', (kind, code, flag, reason) => {
    const f = fakeCluster();
    const s = fakeStream();
    s.start(f);
    ok(f, 0, 200);
    fail(f, 0, kind, code);
    expect(s.rec.reset).toBe(true);
    expect(s.info.responseFlags).toEqual([flag]);
    expect(s.info.responseCodeDetails).toBe(`upstream_reset_after_response_started{${reason}}`);
  });

  it("a broken client body: flagged DPE, the codec's answer (400) ends the stream", () => {
    const f = fakeCluster();
    const s = fakeStream();
    s.start(f);
    fail(f, 0, 'downstream_body_error');
    expect(s.rec.endedElsewhere).toBe(true);
    expect(s.info.responseCode).toBe(400);
    expect(s.info.responseFlags).toEqual([ResponseFlag.DownstreamProtocolError]);
  });
});

describe('router: host choice', () => {
  it('hash policy on a header: the load balancer gets hash32 of the value', () => {
    const f = fakeCluster();
    const s = fakeStream({ action: { hashPolicy: { header: 'x-user' } }, headers: ['host', 'svc', 'x-user', 'alice'] });
    s.start(f);
    expect(f.hashes).toEqual([hash32('alice')]);
  });

  it('cookie policy with a ttl and no cookie: a generated key hashes, and the response sets the cookie', () => {
    const f = fakeCluster();
    const s = fakeStream({ action: { hashPolicy: { cookie: { name: 'sticky', ttlMs: 60_000, path: '/' } } } });
    s.start(f);
    expect(f.hashes[0]).toEqual(expect.any(Number));
    ok(f, 0, 200);
    const h = s.rec.headers!.headers;
    const cookie = h[h.indexOf('set-cookie') + 1];
    expect(cookie).toMatch(/^sticky="[0-9a-f]{16}"; Max-Age=60; Path=\/; HttpOnly$/);
    expect(hash32(/"([0-9a-f]+)"/.exec(cookie)![1])).toBe(f.hashes[0]);
  });

  it('ORIGINAL_DST: the captured destination, else the authority asked for', () => {
    const f = fakeCluster({ type: 'ORIGINAL_DST' });
    fakeStream({ originalDestination: { address: '10.9.9.9', port: 8080 } }).start(f);
    fakeStream({ authority: 'example.com:81' }).start(f);
    expect(f.destinations).toEqual([
      { address: '10.9.9.9', port: 8080 },
      { address: 'example.com', port: 81 },
    ]);
  });

  it('mirrors: a copy to the mirror cluster with a -shadow host, the primary untouched', () => {
    const f = fakeCluster();
    const m = fakeCluster({ name: 'mirror' });
    const s = fakeStream({ action: { mirrors: [{ cluster: 'mirror', percent: 50 }] } });
    s.start(f, { mirror: m.cluster });
    expect(m.sent).toHaveLength(1);
    expect(m.sent[0].request.headers).toEqual(['host', 'svc-shadow', 'x-envoy-attempt-count', '1']);
    expect(f.sent[0].request.headers).toEqual(['host', 'svc', 'x-envoy-attempt-count', '1']);
  });

  it('mirrors: a percentage not rolled sends no copy', () => {
    vi.spyOn(Math, 'random').mockReturnValue(0.9);
    const f = fakeCluster();
    const m = fakeCluster({ name: 'mirror' });
    fakeStream({ action: { mirrors: [{ cluster: 'mirror', percent: 50 }] } }).start(f, { mirror: m.cluster });
    expect(m.sent).toHaveLength(0);
  });
});

describe('router: the end of the stream', () => {
  it('onDestroy cancels the try without counting an error, and a retry waiting never starts', () => {
    const f = fakeCluster();
    const s = fakeStream({ retry: { retryOn: ['5xx'], numRetries: 2 } });
    const router = s.start(f);
    ok(f, 0, 503);
    router.onDestroy();
    vi.runAllTimers();
    expect(f.sent).toHaveLength(1);
    const g = fakeCluster();
    const t = fakeStream();
    const r2 = t.start(g);
    r2.onDestroy();
    expect(g.sent[0].aborted).toBe(true);
    expect(g.hosts[0].stats.rqError).toBe(0);
    expect(g.hosts[0].active).toBe(0);
  });

  it('late events of an abandoned try reach neither the router nor the stream', () => {
    const f = fakeCluster();
    const s = fakeStream({ retry: { retryOn: ['5xx'], numRetries: 1 } });
    s.start(f);
    ok(f, 0, 503);
    vi.runOnlyPendingTimers();
    // the first try's exchange reports after it was abandoned
    f.sent[0].handler.onUpstreamHeaders(200, []);
    f.sent[0].handler.onUpstreamData(Buffer.from('late'));
    f.sent[0].handler.onUpstreamEnd(undefined);
    expect(s.rec.headers).toBeUndefined();
    expect(s.rec.data).toEqual([]);
    expect(s.rec.ended).toBeUndefined();
    ok(f, 1, 200);
    expect(s.rec.headers!.status).toBe(200);
  });
});

describe('redirectLocation and authorityAddress', () => {
  it('redirect: scheme change drops the default port; portFromRequest keeps the request port', () => {
    expect(redirectLocation({ kind: 'redirect', responseCode: 301, scheme: 'https' }, 'a:443', '/p')).toBe('https://a/p');
    expect(redirectLocation({ kind: 'redirect', responseCode: 301, host: 'b', portFromRequest: true, scheme: 'http' }, 'a:8080', '/p')).toBe('http://b:8080/p');
    expect(redirectLocation({ kind: 'redirect', responseCode: 302, path: '/n?x=1' }, 'a', '/p?q')).toBe('http://a/n?x=1');
  });

  it('authority as an address: port 80 by default, IPv6 brackets removed, empty is none', () => {
    expect(authorityAddress('h')).toEqual({ address: 'h', port: 80 });
    expect(authorityAddress('[::1]:9')).toEqual({ address: '::1', port: 9 });
    expect(authorityAddress('')).toBeUndefined();
  });
});
