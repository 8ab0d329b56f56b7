// Each HTTP filter's explain: what it would do with a request, from its parsed config and the
// route's per-filter config, the request's headers edited as the running filter edits them.
import { describe, expect, it } from 'vitest';
import type { ExplainStream, HttpFilterFactory } from '../../src/http/filter.js';
import { RequestHeaderMap } from '../../src/http/header-map.js';
import { corsFilter } from '../../src/filters/http/cors/index.js';
import { faultFilter } from '../../src/filters/http/fault/index.js';
import { headerMutationFilter } from '../../src/filters/http/header_mutation/index.js';
import { localRateLimitFilter } from '../../src/filters/http/local_ratelimit/index.js';
import { rbacFilter } from '../../src/filters/http/rbac/index.js';
import { httpFilterChain } from '../../src/filters/http/registry.js';
import type { HttpFilterConfig } from '../../src/config/snapshot.js';

function stream(method: string, headers: string[], perRoute?: unknown): ExplainStream {
  return {
    request: new RequestHeaderMap(method, '/api', 'shop.example', [...headers]),
    connection: { remoteAddress: '10.0.0.7', remotePort: 40000, scheme: 'http', protocol: 'HTTP/1.1', localAddress: '10.0.0.1', localPort: 8080 },
    streamInfo: { startTimeMs: 0, responseFlags: [], downstreamRemoteAddress: '10.0.0.7' },
    route: undefined,
    metadata: {},
    perRouteConfig: <T>() => perRoute as T | undefined,
  };
}

const explain = <C, R>(f: HttpFilterFactory<C, R>, raw: unknown, s: ExplainStream) => f.explain!(f.parse(raw), s);

describe('filter explain', () => {
  it('cors: an allowed preflight is answered here; another origin goes on', async () => {
    const policy = corsFilter.parsePerRoute!({ allowOrigins: [{ exact: 'https://a.example' }], allowMethods: 'GET,POST', maxAge: '600' });
    const pre = await explain(corsFilter, {}, stream('OPTIONS', ['origin', 'https://a.example', 'access-control-request-method', 'POST'], policy));
    expect(pre.reply).toEqual({ status: 200, percent: 100 });
    expect(pre.notes[0]).toContain('access-control-allow-methods: GET,POST; access-control-max-age: 600');
    const other = await explain(corsFilter, {}, stream('GET', ['origin', 'https://b.example'], policy));
    expect(other).toEqual({ notes: ['origin https://b.example is not allowed: the request goes on without CORS headers'] });
    expect((await explain(corsFilter, {}, stream('GET', [], undefined))).notes).toEqual(['no CORS policy on this route']);
  });

  it('fault: a 50% abort is a reply for half the requests; a delay is a note', async () => {
    const cfg = faultFilter.parsePerRoute!({ delay: { fixedDelayMs: 100, percent: 10 }, abort: { httpStatus: 418, percent: 50 } });
    const e = await explain(faultFilter, {}, stream('GET', [], cfg));
    expect(e.reply).toEqual({ status: 418, flag: 'FI', details: 'fault_filter_abort', percent: 50 });
    expect(e.notes).toEqual(['delay 100 ms for 10% of requests (flag DI)', 'abort with HTTP 418 for 50% of requests (flag FI)']);
  });

  it('header_mutation: the request is edited for the filters after it', async () => {
    const s = stream('GET', ['x-drop', '1']);
    const e = await explain(headerMutationFilter, { mutations: { request_mutations: [{ remove: 'x-drop' }, { append: { header: { key: 'x-added', value: 'v' } } }] } }, s);
    expect(e.notes).toEqual(['request: remove x-drop, add x-added: v']);
    expect((s.request as RequestHeaderMap).list).toEqual(['x-added', 'v']);
  });

  it('local_ratelimit: the limit in force, and that explain takes no token', async () => {
    const e = await explain(localRateLimitFilter, { statPrefix: 'http_local_rate_limiter', tokenBucket: { maxTokens: 4, tokensPerFill: 4, fillIntervalMs: 60000 }, enabledPercent: 100, enforcedPercent: 100 }, stream('GET', []));
    expect(e.notes).toEqual([
      "the listener's limit (stat prefix http_local_rate_limiter, scope shared): 4 tokens, 4 back every 60000 ms",
      'enabled for 100%, enforced for 100%: over the limit, 429 (flag RL); explain takes no token',
    ]);
    expect(e.reply).toBeUndefined();
  });

  it('rbac: every policy evaluated; a DENY match answers 403 with its name', async () => {
    const deny: HttpFilterConfig = {
      name: 'envoy.filters.http.rbac',
      config: { rules: { action: 'DENY', policies: { 'ns[shop]-policy[no-post]-rule[0]': { permissions: [{ header: { name: ':method', stringMatch: { exact: 'POST' } } }], principals: [{ any: true }] } } }, shadowRulesStatPrefix: '' },
    };
    const [group] = httpFilterChain([deny]);
    const post = await explain(rbacFilter, group.filter.config, stream('POST', []));
    expect(post).toEqual({
      notes: ['DENY: 1 policy, matched ns[shop]-policy[no-post]-rule[0]', 'denied by ns[shop]-policy[no-post]-rule[0]'],
      reply: { status: 403, details: 'rbac_access_denied_matched_policy[ns[shop]-policy[no-post]-rule[0]]', percent: 100 },
    });
    expect((await explain(rbacFilter, group.filter.config, stream('GET', []))).notes).toEqual(['DENY: 1 policy, none matched', 'allowed']);
  });
});
