// envoy.filters.http.local_ratelimit: driven on a fake stream whose route comes from a real
// RouteTable (per-route configs and rate_limits compiled as at load), on a fake clock and an
// injected random: the token bucket (start full, 429 past maxTokens, refill), filter_enabled and
// filter_enforced, request headers when not enforced, the most specific config, descriptors from
// the route's rate_limits (request headers, remote address, generic key, header match, destination
// and source cluster, CEL over the mTLS peer as Istio's telemetry tests write it), the default
// bucket consumed or not, x-ratelimit headers, the gRPC status, stats; config errors naming the
// field; then through the real data plane: local replies on the wire (HTTP and gRPC), headers,
// and the counters as Prometheus shows them with Istio's stats inclusion.
import { request, createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalRateLimit, RateLimitPolicy } from '../../src/config/envoy/local-ratelimit.js';
import { LOCAL_RATELIMIT_FILTER } from '../../src/config/envoy/http-filters.js';
import type { Route, VirtualHost } from '../../src/config/snapshot.js';
import { ConfigError } from '../../src/config/errors.js';
import { TokenBucketStores } from '../../src/filters/http/local_ratelimit/bucket-stores.js';
import { createLocalRateLimitFilter, localRateLimitFilter } from '../../src/filters/http/local_ratelimit/index.js';
import { compilePerRouteConfig, httpFilterFactories } from '../../src/filters/http/registry.js';
import type { FilterCallbacks, StreamInfo } from '../../src/http/filter.js';
import { RequestHeaderMap, ResponseHeaderMap } from '../../src/http/header-map.js';
import { ResponseFlag, type ResponseFlagValue } from '../../src/http/response-flags.js';
import { RequestView } from '../../src/router/request-view.js';
import { RouteTable } from '../../src/router/route-table.js';
import type { PeerIdentity } from '../../src/security/peer.js';
import { renderPrometheus } from '../../src/telemetry/prometheus.js';
import { envoyStatEntries } from '../../src/telemetry/envoy-stats-text.js';
import { compileStatsMatcher } from '../../src/telemetry/stats-matcher.js';
import { WorkerStats } from '../../src/telemetry/stats.js';
import { DataPlane } from '../../src/worker/data-plane.js';
import { freePorts } from '../helpers/ports.js';
import { localRateLimit } from '../helpers/local-ratelimit.js';
import { filterSnapshot } from '../helpers/filter-snapshot.js';

const NAME = LOCAL_RATELIMIT_FILTER;
const MINUTE = 60_000;
const CLUSTER = 'outbound|9080||reviews.default.svc.cluster.local';

function limit(over: Partial<LocalRateLimit> = {}): LocalRateLimit {
  return localRateLimit({ tokenBucket: { maxTokens: 3, tokensPerFill: 1, fillIntervalMs: MINUTE }, ...over });
}

function route(name: string, prefix: string, extra: { rateLimits?: RateLimitPolicy[]; perRoute?: LocalRateLimit } = {}): Route {
  return {
    name,
    match: { path: { prefix }, headers: [], queryParams: [] },
    action: { kind: 'route', clusters: [{ name: CLUSTER, weight: 1 }], ...(extra.rateLimits ? { rateLimits: extra.rateLimits } : {}) },
    ...(extra.perRoute ? { typedPerFilterConfig: { [NAME]: extra.perRoute } } : {}),
  };
}

interface Req {
  path?: string;
  headers?: string[];
  /** The trusted client address (StreamInfo's downstream remote address). */
  client?: string;
  peer?: PeerIdentity;
  connection?: object;
}

interface Reply {
  status: number;
  body: string;
  flag?: ResponseFlagValue;
  headers?: string[];
  grpcStatus?: number;
}

interface Setup {
  filter?: LocalRateLimit;
  routes?: Route[];
  vh?: Partial<VirtualHost>;
  random?: () => number;
}

/** A filter on a connection manager, a route table, a fake clock; `send` runs one request through decodeHeaders and encodeHeaders. */
function setup(s: Setup = {}) {
  const clock = { t: 1_700_000_000_000 };
  const stats = new WorkerStats();
  const factory = createLocalRateLimitFilter(s.random ? { random: s.random } : {});
  const create = factory.create(factory.parse(s.filter ?? limit()), {
    listenerName: 'virtualInbound',
    filterLocation: '0.0.0.0_9080/httpFilters[0]',
    pickHost: () => undefined,
    tokenBuckets: new TokenBucketStores(undefined, () => clock.t),
    localRateLimitStats: (p) => stats.localRateLimit(p),
    localServiceCluster: 'productpage.default',
  });
  const vh: VirtualHost = { name: 'vh', domains: ['*'], routes: s.routes ?? [route('default', '/')], ...s.vh };
  const table = new RouteTable({ name: 'inbound|9080||', virtualHosts: [vh] }, compilePerRouteConfig);
  const sharedConnection = {};
  const send = (req: Req = {}) => {
    const path = req.path ?? '/';
    const list = [...(req.headers ?? [])];
    const found = RouteTable.findRoute(table.findVirtualHost('a')!, new RequestView('GET', path, 'a', 'http', list));
    const info: StreamInfo = {
      startTimeMs: clock.t,
      responseFlags: [],
      downstreamRemoteAddress: req.client ?? '10.0.0.1',
      ...(found ? { routeName: found.name, upstreamCluster: found.pickCluster().name } : {}),
    };
    const replies: Reply[] = [];
    const stream: FilterCallbacks = {
      route: found,
      perRouteConfig: <T>() => found?.typedPerFilterConfig?.get(NAME) as T | undefined,
      continueDecoding() {},
      continueEncoding() {},
      decodingBuffer: () => undefined,
      encodingBuffer: () => undefined,
      setDecoderBufferLimit() {},
      streamInfo: info,
      connection: {
        remoteAddress: '10.0.0.1', remotePort: 40000, scheme: 'http', protocol: 'HTTP/1.1', localAddress: '10.0.0.9', localPort: 9080,
        ...(req.peer ? { peer: req.peer } : {}), downstreamConnection: req.connection ?? sharedConnection,
      },
      metadata: {},
      requestHeaderList: list,
      sendLocalReply(status, body, flag, headers, grpcStatus) {
        replies.push({ status, body, ...(flag ? { flag } : {}), ...(headers ? { headers } : {}), ...(grpcStatus !== undefined ? { grpcStatus } : {}) });
        if (flag) info.responseFlags.push(flag);
      },
    };
    const filter = create(stream);
    const status = filter.decodeHeaders!(new RequestHeaderMap('GET', path, 'a', list), true);
    const reply = replies[0] as Reply | undefined;
    // the response (the local reply included) through the encoder hook
    const response = new ResponseHeaderMap(reply?.status ?? 200, [...(reply?.headers ?? [])]);
    filter.encodeHeaders!(response, true);
    return { status, reply, requestHeaders: list, response: response.list, info };
  };
  /** How many of `n` requests went on. */
  const passed = (n: number, req?: Req) => Array.from({ length: n }, () => send(req).status).filter((st) => st === 'continue').length;
  const counters = () => {
    const r = stats.localRateLimit('http_local_rate_limiter');
    return { enabled: r.enabled, enforced: r.enforced, rate_limited: r.rateLimited, ok: r.ok };
  };
  return { send, passed, clock, stats, counters };
}

const header = (list: readonly string[], name: string) => {
  const i = list.findIndex((v, k) => k % 2 === 0 && v === name);
  return i < 0 ? undefined : list[i + 1];
};

describe('token bucket', () => {
  it('starts full; past maxTokens: 429 local_rate_limited, flag RL, details, response_headers_to_add', () => {
    const t = setup({ filter: limit({ responseHeadersToAdd: [{ name: 'x-local-rate-limit', value: 'true', append: false }] }) });
    expect(t.passed(3)).toBe(3);
    const r = t.send();
    expect(r.status).toBe('stop_iteration');
    expect(r.reply).toEqual({ status: 429, body: 'local_rate_limited', flag: ResponseFlag.RateLimited, headers: ['x-local-rate-limit', 'true'] });
    expect(r.info.responseCodeDetails).toBe('local_rate_limited');
    expect(r.info.responseFlags).toEqual(['RL']);
    expect(t.counters()).toEqual({ enabled: 4, enforced: 1, rate_limited: 1, ok: 3 });
  });

  it('refills tokensPerFill each fill interval (fake clock), up to maxTokens', () => {
    const t = setup({ filter: limit({ tokenBucket: { maxTokens: 3, tokensPerFill: 2, fillIntervalMs: 1000 } }) });
    expect(t.passed(5)).toBe(3);
    t.clock.t += 999;
    expect(t.passed(1)).toBe(0);
    t.clock.t += 1;
    expect(t.passed(5)).toBe(2);
    t.clock.t += 10_000;
    expect(t.passed(5)).toBe(3);
  });

  it('a configured status below 400 is 429 (Envoy); another 4xx/5xx is kept', () => {
    const t = setup({ filter: limit({ tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: MINUTE }, status: 200 }) });
    t.send();
    expect(t.send().reply?.status).toBe(429);
    const u = setup({ filter: limit({ tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: MINUTE }, status: 503 }) });
    u.send();
    expect(u.send().reply?.status).toBe(503);
  });

  it('no token bucket and no descriptor: everything passes (counted ok)', () => {
    const t = setup({ filter: limit({ tokenBucket: undefined }) });
    expect(t.passed(20)).toBe(20);
    expect(t.counters()).toEqual({ enabled: 20, enforced: 0, rate_limited: 0, ok: 20 });
  });

  it('connection scope: one bucket per downstream connection', () => {
    const t = setup({ filter: limit({ scope: 'connection', tokenBucket: { maxTokens: 2, tokensPerFill: 1, fillIntervalMs: MINUTE } }) });
    const c1 = {};
    const c2 = {};
    expect(t.passed(3, { connection: c1 })).toBe(2);
    expect(t.passed(3, { connection: c2 })).toBe(2);
  });
});

describe('filter_enabled and filter_enforced', () => {
  it('enabled 0: the request passes untouched and is not counted', () => {
    const t = setup({ filter: limit({ enabledPercent: 0, tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: MINUTE } }) });
    expect(t.passed(10)).toBe(10);
    expect(t.counters()).toEqual({ enabled: 0, enforced: 0, rate_limited: 0, ok: 0 });
  });

  it('percentages between roll with the injected random: enabled when random × 100 < percent', () => {
    let next = 0;
    const rolls: number[] = [];
    const random = () => rolls[next++];
    const t = setup({ filter: limit({ enabledPercent: 50, enforcedPercent: 30, tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: MINUTE } }), random });
    rolls.push(0.7); // not enabled
    expect(t.send().status).toBe('continue');
    rolls.push(0.49); // enabled, the token taken
    expect(t.send().status).toBe('continue');
    rolls.push(0.1, 0.5); // enabled, limited, not enforced (0.5 ≥ 30 %)
    expect(t.send().status).toBe('continue');
    rolls.push(0.1, 0.29); // enabled, limited, enforced
    expect(t.send().status).toBe('stop_iteration');
    expect(next).toBe(rolls.length);
    expect(t.counters()).toEqual({ enabled: 3, enforced: 1, rate_limited: 2, ok: 1 });
  });

  it('not enforced: request_headers_to_add_when_not_enforced added (append or overwrite), the request goes on', () => {
    const t = setup({
      filter: limit({
        enforcedPercent: 0,
        tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: MINUTE },
        requestHeadersToAddWhenNotEnforced: [{ name: 'x-rate-limited', value: 'yes', append: false }, { name: 'x-note', value: 'over', append: true }],
      }),
    });
    expect(t.send({ headers: ['x-rate-limited', 'client', 'x-note', 'a'] }).requestHeaders).toEqual(['x-rate-limited', 'client', 'x-note', 'a']);
    const r = t.send({ headers: ['x-rate-limited', 'client', 'x-note', 'a'] });
    expect(r.status).toBe('continue');
    expect(r.reply).toBeUndefined();
    const values = (name: string) => r.requestHeaders.filter((_v, i) => i % 2 === 1 && r.requestHeaders[i - 1] === name);
    expect(values('x-rate-limited')).toEqual(['yes']);
    expect(values('x-note')).toEqual(['a', 'over']);
    expect(t.counters()).toEqual({ enabled: 2, enforced: 0, rate_limited: 1, ok: 1 });
  });
});

describe('per-route config', () => {
  it('the route’s (or its virtual host’s) config replaces the connection manager’s, each with its own buckets', () => {
    const t = setup({
      filter: limit({ tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: MINUTE } }),
      routes: [
        route('generous', '/generous', { perRoute: limit({ statPrefix: 'route_rl', tokenBucket: { maxTokens: 4, tokensPerFill: 1, fillIntervalMs: MINUTE } }) }),
        route('open', '/open', { perRoute: limit({ statPrefix: 'route_rl', enabledPercent: 0 }) }),
        route('other', '/other'),
        route('default', '/'),
      ],
      vh: { typedPerFilterConfig: { [NAME]: limit({ statPrefix: 'vh_rl', tokenBucket: { maxTokens: 2, tokensPerFill: 1, fillIntervalMs: MINUTE } }) } },
    });
    expect(t.passed(6, { path: '/generous' })).toBe(4);
    expect(t.passed(6, { path: '/open' })).toBe(6);
    // the virtual host's config: one bucket for all its routes without their own
    expect(t.passed(1, { path: '/other' })).toBe(1);
    expect(t.passed(3, { path: '/' })).toBe(1);
    expect(t.stats.localRateLimit('route_rl').rateLimited).toBe(2);
    expect(t.stats.localRateLimit('vh_rl')).toMatchObject({ ok: 2, rateLimited: 2 });
    expect(t.counters().enabled).toBe(0);
  });

  it('without a virtual host config, a route without its own uses the connection manager’s', () => {
    const t = setup({
      filter: limit({ tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: MINUTE } }),
      routes: [route('own', '/own', { perRoute: limit({ statPrefix: 'route_rl' }) }), route('default', '/')],
    });
    expect(t.passed(4, { path: '/' })).toBe(1);
    expect(t.passed(4, { path: '/own' })).toBe(3);
  });

  it('parsePerRoute: Envoy refuses a per-route config without a token bucket; errors name the route and field', () => {
    expect(() => localRateLimitFilter.parsePerRoute!(limit({ tokenBucket: undefined }))).toThrow(/field tokenBucket: a per-route local rate limit needs a token bucket or descriptors/);
    const bad = () => new RouteTable({ name: 'rc', virtualHosts: [{ name: 'vh', domains: ['*'], routes: [route('r', '/', { perRoute: limit({ enabledPercent: 150 }) })] }] }, compilePerRouteConfig);
    expect(bad).toThrow(ConfigError);
    expect(bad).toThrow(/RouteConfiguration rc, field virtualHosts\[0\]\.routes\[0\]\.typedPerFilterConfig\["envoy\.filters\.http\.local_ratelimit"\]\.enabledPercent: .*between 0 and 100/);
  });
});

describe('descriptors from the route’s rate_limits', () => {
  const descriptorBucket = { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: MINUTE };
  const bigDefault = { maxTokens: 100, tokensPerFill: 1, fillIntervalMs: MINUTE };

  it('request_headers (:path, as Istio’s task): a matching descriptor has its own bucket; others use the default', () => {
    const t = setup({
      filter: limit({ tokenBucket: bigDefault, descriptors: [{ entries: [{ key: 'path', value: '/productpage' }], tokenBucket: descriptorBucket }] }),
      routes: [route('r', '/', { rateLimits: [{ stage: 0, actions: [{ requestHeaders: { headerName: ':path', descriptorKey: 'path', skipIfAbsent: false } }] }] })],
    });
    expect(t.passed(3, { path: '/productpage' })).toBe(1);
    expect(t.passed(3, { path: '/reviews' })).toBe(3);
  });

  it('a header action on an absent header: no descriptor (the default bucket decides), or the entry skipped with skipIfAbsent', () => {
    const actions = (skipIfAbsent: boolean): RateLimitPolicy[] => [{ stage: 0, actions: [
      { genericKey: { descriptorKey: '', descriptorValue: 'api' } },
      { requestHeaders: { headerName: 'x-user', descriptorKey: 'user', skipIfAbsent } },
    ] }];
    const descriptors = [{ entries: [{ key: 'generic_key', value: 'api' }], tokenBucket: descriptorBucket }];
    const strict = setup({ filter: limit({ tokenBucket: bigDefault, descriptors }), routes: [route('r', '/', { rateLimits: actions(false) })] });
    expect(strict.passed(3)).toBe(3);
    const skipping = setup({ filter: limit({ tokenBucket: bigDefault, descriptors }), routes: [route('r', '/', { rateLimits: actions(true) })] });
    expect(skipping.passed(3)).toBe(1);
    // with the header the descriptor has two entries: it matches neither
    expect(skipping.passed(3, { headers: ['x-user', 'u1'] })).toBe(3);
  });

  it('remote_address: the trusted client address; a descriptor with an empty value gives each address its own bucket', () => {
    const t = setup({
      filter: limit({
        tokenBucket: bigDefault,
        descriptors: [
          { entries: [{ key: 'remote_address', value: '10.0.0.66' }], tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: MINUTE } },
          { entries: [{ key: 'remote_address', value: '' }], tokenBucket: { maxTokens: 2, tokensPerFill: 1, fillIntervalMs: MINUTE } },
        ],
      }),
      routes: [route('r', '/', { rateLimits: [{ stage: 0, actions: [{ remoteAddress: true }] }] })],
    });
    expect(t.passed(3, { client: '10.0.0.66' })).toBe(1);
    expect(t.passed(3, { client: '10.0.0.7' })).toBe(2);
    expect(t.passed(3, { client: '10.0.0.8' })).toBe(2);
    expect(t.passed(3, { client: '::ffff:10.0.0.9' })).toBe(2);
    expect(t.passed(1, { client: '10.0.0.9' })).toBe(0);
  });

  it('header_value_match: an entry when the headers match (expect_match), or when they do not', () => {
    const policy = (expectMatch: boolean): RateLimitPolicy[] => [{ stage: 0, actions: [
      { headerValueMatch: { descriptorKey: '', descriptorValue: 'beta', expectMatch, headers: [{ name: 'x-tier', match: { exact: 'beta' }, invert: false }] } },
    ] }];
    const descriptors = [{ entries: [{ key: 'header_match', value: 'beta' }], tokenBucket: descriptorBucket }];
    const t = setup({ filter: limit({ tokenBucket: bigDefault, descriptors }), routes: [route('r', '/', { rateLimits: policy(true) })] });
    expect(t.passed(3, { headers: ['x-tier', 'beta'] })).toBe(1);
    expect(t.passed(3, { headers: ['x-tier', 'gold'] })).toBe(3);
    const u = setup({ filter: limit({ tokenBucket: bigDefault, descriptors }), routes: [route('r', '/', { rateLimits: policy(false) })] });
    expect(u.passed(3, { headers: ['x-tier', 'beta'] })).toBe(3);
    expect(u.passed(3)).toBe(1);
  });

  it('destination_cluster and source_cluster (the proxy’s service cluster)', () => {
    const t = setup({
      filter: limit({
        tokenBucket: bigDefault,
        descriptors: [{ entries: [{ key: 'source_cluster', value: 'productpage.default' }, { key: 'destination_cluster', value: CLUSTER }], tokenBucket: descriptorBucket }],
      }),
      routes: [route('r', '/', { rateLimits: [{ stage: 0, actions: [{ sourceCluster: true }, { destinationCluster: true }] }] })],
    });
    expect(t.passed(3)).toBe(1);
  });

  it('a CEL expression (connection.uri_san_peer_certificate): per mTLS peer; without a peer the entry is skipped or cancels', () => {
    const text = 'connection.uri_san_peer_certificate';
    const peer = (sa: string): PeerIdentity => ({ uris: [`spiffe://cluster.local/ns/default/sa/${sa}`], dns: [], subject: '', sha256: '' });
    const policy = (skipIfError: boolean): RateLimitPolicy[] => [{ stage: 0, actions: [
      { genericKey: { descriptorKey: 'app', descriptorValue: 'reviews' } },
      { expression: { descriptorKey: 'peer', text, skipIfError } },
    ] }];
    const descriptors = [
      { entries: [{ key: 'app', value: 'reviews' }, { key: 'peer', value: 'spiffe://cluster.local/ns/default/sa/sleep' }], tokenBucket: descriptorBucket },
      { entries: [{ key: 'app', value: 'reviews' }], tokenBucket: { maxTokens: 2, tokensPerFill: 1, fillIntervalMs: MINUTE } },
    ];
    const t = setup({ filter: limit({ tokenBucket: bigDefault, descriptors }), routes: [route('r', '/', { rateLimits: policy(true) })] });
    expect(t.passed(3, { peer: peer('sleep') })).toBe(1);
    expect(t.passed(3, { peer: peer('other') })).toBe(3);
    // no peer: the expression fails, its entry is skipped: {app: reviews}
    expect(t.passed(3)).toBe(2);
    const u = setup({ filter: limit({ tokenBucket: bigDefault, descriptors }), routes: [route('r', '/', { rateLimits: policy(false) })] });
    expect(u.passed(3)).toBe(3);
  });

  it('only rate_limits of the config’s stage; the virtual host’s only when the route has none (vh_rate_limits OVERRIDE)', () => {
    const generic = (value: string, stage = 0): RateLimitPolicy => ({ stage, actions: [{ genericKey: { descriptorKey: 'k', descriptorValue: value } }] });
    const descriptors = ['route', 'vh', 'stage1'].map((v) => ({ entries: [{ key: 'k', value: v }], tokenBucket: descriptorBucket }));
    const t = setup({
      filter: limit({ tokenBucket: bigDefault, descriptors }),
      routes: [route('own', '/own', { rateLimits: [generic('route'), generic('stage1', 1)] }), route('bare', '/')],
      vh: { rateLimits: [generic('vh')] },
    });
    expect(t.passed(3, { path: '/own' })).toBe(1);
    expect(t.passed(3, { path: '/' })).toBe(1);
    const stage1 = setup({ filter: limit({ tokenBucket: bigDefault, descriptors, stage: 1 }), routes: [route('own', '/own', { rateLimits: [generic('route'), generic('stage1', 1)] })] });
    expect(stage1.passed(3, { path: '/own' })).toBe(1);
  });

  it('the default bucket: consumed too with always_consume_default_token_bucket, else only when no descriptor matched', () => {
    const rateLimits: RateLimitPolicy[] = [{ stage: 0, actions: [{ requestHeaders: { headerName: 'x-user', descriptorKey: 'user', skipIfAbsent: false } }] }];
    const descriptors = [{ entries: [{ key: 'user', value: 'alice' }], tokenBucket: { maxTokens: 5, tokensPerFill: 1, fillIntervalMs: MINUTE } }];
    const alice = { headers: ['x-user', 'alice'] };
    const always = setup({ filter: limit({ tokenBucket: { maxTokens: 2, tokensPerFill: 1, fillIntervalMs: MINUTE }, descriptors }), routes: [route('r', '/', { rateLimits })] });
    expect(always.passed(5, alice)).toBe(2);
    const only = setup({ filter: limit({ tokenBucket: { maxTokens: 2, tokensPerFill: 1, fillIntervalMs: MINUTE }, descriptors, alwaysConsumeDefaultTokenBucket: false }), routes: [route('r', '/', { rateLimits })] });
    expect(only.passed(6, alice)).toBe(5);
    expect(only.passed(3, { headers: ['x-user', 'bob'] })).toBe(2);
  });

  it('several matching descriptors: all consumed, the slowest fill first; the first empty one limits', () => {
    const rateLimits: RateLimitPolicy[] = [
      { stage: 0, actions: [{ genericKey: { descriptorKey: 'a', descriptorValue: '1' } }] },
      { stage: 0, actions: [{ genericKey: { descriptorKey: 'b', descriptorValue: '1' } }] },
    ];
    const t = setup({
      filter: limit({
        tokenBucket: undefined,
        rateLimitHeaders: true,
        descriptors: [
          { entries: [{ key: 'a', value: '1' }], tokenBucket: { maxTokens: 5, tokensPerFill: 5, fillIntervalMs: 1000 } },
          { entries: [{ key: 'b', value: '1' }], tokenBucket: { maxTokens: 3, tokensPerFill: 1, fillIntervalMs: MINUTE } },
        ],
      }),
      routes: [route('r', '/', { rateLimits })],
    });
    const first = t.send();
    // the headers describe the most restrictive bucket (b: 1 token a minute)
    expect([header(first.response, 'x-ratelimit-limit'), header(first.response, 'x-ratelimit-remaining')]).toEqual(['3', '2']);
    expect(t.passed(4)).toBe(2);
    t.clock.t += 1000;
    const limited = t.send();
    expect(limited.status).toBe('stop_iteration');
    expect(header(limited.response, 'x-ratelimit-limit')).toBe('3');
  });
});

describe('x-ratelimit headers and gRPC', () => {
  it('x-ratelimit-limit, -remaining and -reset (seconds to the next fill) on every response, the limited one too', () => {
    const t = setup({ filter: limit({ rateLimitHeaders: true, tokenBucket: { maxTokens: 2, tokensPerFill: 1, fillIntervalMs: MINUTE } }) });
    const h = (r: { response: string[] }) => ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'].map((n) => header(r.response, n));
    expect(h(t.send())).toEqual(['2', '1', '60']);
    t.clock.t += 20_500;
    expect(h(t.send())).toEqual(['2', '0', '40']);
    const limited = t.send();
    expect(limited.reply?.status).toBe(429);
    expect(h(limited)).toEqual(['2', '0', '40']);
    // off, or the filter not enabled: none
    const off = setup({ filter: limit() });
    expect(header(off.send().response, 'x-ratelimit-limit')).toBeUndefined();
    const disabled = setup({ filter: limit({ rateLimitHeaders: true, enabledPercent: 0 }) });
    expect(header(disabled.send().response, 'x-ratelimit-limit')).toBeUndefined();
  });

  it('the gRPC status of a limited request: UNAVAILABLE by Envoy’s mapping, RESOURCE_EXHAUSTED when asked', () => {
    const one = { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: MINUTE };
    const t = setup({ filter: limit({ tokenBucket: one }) });
    t.send();
    expect(t.send().reply?.grpcStatus).toBeUndefined(); // the stream maps 429 to 14
    const u = setup({ filter: limit({ tokenBucket: one, rateLimitedAsResourceExhausted: true }) });
    u.send();
    expect(u.send().reply?.grpcStatus).toBe(8);
  });
});

describe('config', () => {
  it('is registered under its Envoy name', () => {
    expect(httpFilterFactories.get(NAME)).toBe(localRateLimitFilter);
  });

  it('refuses bad fields, naming them', () => {
    const parse = (over: Record<string, unknown>) => () => localRateLimitFilter.parse({ ...limit(), ...over });
    expect(parse({ tokenBucket: { maxTokens: 0, tokensPerFill: 1, fillIntervalMs: 1000 } })).toThrow(/field tokenBucket\.maxTokens/);
    expect(parse({ tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 10 } })).toThrow(/field tokenBucket\.fillIntervalMs/);
    expect(parse({ enforcedPercent: -1 })).toThrow(/field enforcedPercent/);
    expect(parse({ scope: 'process' })).toThrow(/field scope/);
    expect(parse({ statPrefix: '' })).toThrow(/field statPrefix/);
    expect(parse({ extra: 1 })).toThrow(/unknown field "extra"/);
    const d = { entries: [{ key: 'k', value: 'v' }], tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 1000 } };
    expect(parse({ descriptors: [d, d] })).toThrow(/field descriptors\[1\].*duplicate descriptor/);
    expect(parse({ descriptors: [{ ...d, entries: [] }] })).toThrow(/field descriptors\[0\]\.entries/);
  });

  it('a rate_limits expression CEL refuses is a ConfigError naming the route', () => {
    const rc = { name: 'rc', virtualHosts: [{ name: 'vh', domains: ['*'], routes: [route('r', '/', { rateLimits: [{ stage: 0, actions: [{ expression: { descriptorKey: 'k', text: 'request.headers[', skipIfError: false } }] }] })] }] };
    expect(() => new RouteTable(rc, compilePerRouteConfig)).toThrow(/RouteConfiguration rc, field virtualHosts\[0\]\.routes\[0\]\.action\.rateLimits/);
  });
});

// ------------------------------------------------------------------ through the real data plane

describe('through the data plane', () => {
  let upstream: Server;
  let dp: DataPlane;
  let port: number;
  const stats = new WorkerStats();

  beforeAll(async () => {
    upstream = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': 2 });
      res.end('ok');
    });
    const [up, lp] = await freePorts(2);
    port = lp;
    await new Promise<void>((r) => upstream.listen(up, '127.0.0.1', () => r()));
    const one = { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 3_600_000 };
    const snapshot = filterSnapshot({
      port: lp,
      upstreamPort: up,
      cluster: CLUSTER,
      httpFilters: [{ name: NAME, config: limit({ tokenBucket: one, rateLimitHeaders: true, responseHeadersToAdd: [{ name: 'x-local-rate-limit', value: 'true', append: false }] }) }],
      routes: [
        route('grpc', '/grpc.Service/', { perRoute: limit({ tokenBucket: one, rateLimitedAsResourceExhausted: true }) }),
        route('grpc-default', '/grpc.Default/', { perRoute: limit({ tokenBucket: one }) }),
        route('all', '/'),
      ],
    });
    dp = new DataPlane({ stats });
    await dp.apply(snapshot);
  });

  afterAll(async () => {
    await dp?.close();
    upstream?.closeAllConnections();
    await new Promise((r) => upstream?.close(r));
  });

  function send(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path, headers: { host: 'a', ...headers }, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('HTTP: the first request goes through with x-ratelimit headers, the next gets 429 local_rate_limited', async () => {
    const ok = await send('/api');
    expect(ok.status).toBe(200);
    expect([ok.headers['x-ratelimit-limit'], ok.headers['x-ratelimit-remaining'], ok.headers['x-ratelimit-reset']]).toEqual(['1', '0', '3600']);
    const limited = await send('/api');
    expect(limited.status).toBe(429);
    expect(limited.body).toBe('local_rate_limited');
    expect(limited.headers['x-local-rate-limit']).toBe('true');
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
  });

  it('gRPC: HTTP 200 with grpc-status UNAVAILABLE, or RESOURCE_EXHAUSTED when the route’s config asks', async () => {
    const grpc = { 'content-type': 'application/grpc', te: 'trailers' };
    expect((await send('/grpc.Default/Call', grpc)).status).toBe(200);
    const unavailable = await send('/grpc.Default/Call', grpc);
    expect([unavailable.status, unavailable.headers['grpc-status'], unavailable.headers['grpc-message']]).toEqual([200, '14', 'local_rate_limited']);
    await send('/grpc.Service/Call', grpc);
    const exhausted = await send('/grpc.Service/Call', grpc);
    expect([exhausted.status, exhausted.headers['grpc-status']]).toEqual([200, '8']);
  });

  it('stats: <stat_prefix>.http_local_rate_limit.* in /stats, and for Prometheus with Istio’s inclusion of .*http_local_rate_limit.*', () => {
    const matcher = compileStatsMatcher({ inclusionList: [{ regex: '.*http_local_rate_limit.*' }] });
    const snap = stats.snapshot(matcher);
    const text = renderPrometheus(snap, { live: true, state: 0, uptimeSeconds: 1, concurrency: 1, configReloads: 0, configRejected: 0, workerRestarts: 0, version: 'test' }, [], matcher);
    const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
    expect(value('envoy_http_local_rate_limiter_http_local_rate_limit_enabled')).toBe(6);
    expect(value('envoy_http_local_rate_limiter_http_local_rate_limit_ok')).toBe(3);
    expect(value('envoy_http_local_rate_limiter_http_local_rate_limit_rate_limited')).toBe(3);
    expect(value('envoy_http_local_rate_limiter_http_local_rate_limit_enforced')).toBe(3);
    expect(text).toMatch(/# TYPE envoy_http_local_rate_limiter_http_local_rate_limit_ok counter/);
    // other stats are not included
    expect(text).not.toMatch(/envoy_cluster_upstream_rq_total/);
    const entries = envoyStatEntries(stats.snapshot(), {}, { usedOnly: false }).filter(([n]) => n.includes('rate_limit'));
    expect(entries).toEqual([
      ['http_local_rate_limiter.http_local_rate_limit.enabled', 6],
      ['http_local_rate_limiter.http_local_rate_limit.enforced', 3],
      ['http_local_rate_limiter.http_local_rate_limit.ok', 3],
      ['http_local_rate_limiter.http_local_rate_limit.rate_limited', 3],
    ]);
  });
});
