import { describe, expect, it } from 'vitest';
import type { Route, RouteAction, RouteConfiguration, VirtualHost, WeightedCluster } from '../../src/config/snapshot.js';
import { RouteTable } from '../../src/router/route-table.js';
import { RequestView } from '../../src/router/request-view.js';

function vh(name: string, domains: string[], routes: Route[] = [route('default', { prefix: '/' })]): VirtualHost {
  return { name, domains, routes };
}

function route(name: string, path: Route['match']['path'], action: Partial<RouteAction> | Route['action'] = {}): Route {
  const a = 'kind' in action && action.kind !== 'route' ? action : ({ kind: 'route', clusters: [{ name: `c-${name}`, weight: 100 }], ...action } as RouteAction);
  return { name, match: { path, headers: [], queryParams: [] }, action: a as Route['action'] };
}

function table(...virtualHosts: VirtualHost[]): RouteTable {
  const cfg: RouteConfiguration = { name: 'rc', virtualHosts };
  return new RouteTable(cfg);
}

function req(path: string, headers: Record<string, string> = {}): RequestView {
  return new RequestView('GET', path, 'h', 'http', Object.entries(headers).flat());
}

describe('virtual host lookup', () => {
  const t = table(
    vh('exact', ['api.example.com']),
    vh('exact-port', ['api.example.com:8080']),
    vh('any-port', ['api.example.com:*', 'other.example.com:*']),
    vh('suffix-short', ['*.example.com']),
    vh('suffix-long', ['*.eu.example.com']),
    vh('suffix-any-port', ['*.svc.local:*']),
    vh('prefix', ['static.*']),
    vh('prefix-longer', ['static.cdn.*']),
    vh('star', ['*']),
  );
  const find = (a: string) => t.findVirtualHost(a)?.name;

  it('exact domain first, with the port as part of the name', () => {
    expect(find('api.example.com')).toBe('exact');
    expect(find('api.example.com:8080')).toBe('exact-port');
  });

  it('host:* matches a Host with any port, never a Host without one', () => {
    expect(find('api.example.com:9090')).toBe('any-port');
    expect(find('other.example.com:1')).toBe('any-port');
    // other.example.com without a port: host:* does not apply; the suffix wildcard does
    expect(find('other.example.com')).toBe('suffix-short');
  });

  it('the longest suffix wildcard wins; a wildcard never matches the empty label', () => {
    expect(find('shop.example.com')).toBe('suffix-short');
    expect(find('shop.eu.example.com')).toBe('suffix-long');
    expect(find('a.b.eu.example.com')).toBe('suffix-long');
    expect(find('.example.com')).toBe('star');
    expect(find('eu.example.com')).toBe('suffix-short');
  });

  it('a suffix wildcard without :* does not match a Host with a port; with :* it needs one', () => {
    expect(find('shop.example.com:8080')).toBe('star');
    expect(find('db.svc.local:5432')).toBe('suffix-any-port');
    expect(find('db.svc.local')).toBe('star');
  });

  it('prefix wildcards after suffixes, longest first', () => {
    expect(find('static.org')).toBe('prefix');
    expect(find('static.cdn.net')).toBe('prefix-longer');
  });

  it('"*" catches the rest; without it, nothing', () => {
    expect(find('unknown.org')).toBe('star');
    expect(find('unknown.org:81')).toBe('star');
    expect(table(vh('only', ['a.com'])).findVirtualHost('b.com')).toBeUndefined();
  });

  it('domains are case-insensitive (configured upper case, looked up lower case)', () => {
    const u = table(vh('upper', ['API.Example.COM', '*.Wild.ORG']));
    expect(u.findVirtualHost('api.example.com')?.name).toBe('upper');
    expect(u.findVirtualHost('x.wild.org')?.name).toBe('upper');
  });

  it('IPv6 literals: the port is split after the bracket', () => {
    const v6 = table(vh('v6', ['[::1]', '[::1]:*']), vh('v6-port', ['[fd00::1]:8080']));
    expect(v6.findVirtualHost('[::1]')?.name).toBe('v6');
    expect(v6.findVirtualHost('[::1]:9000')?.name).toBe('v6');
    expect(v6.findVirtualHost('[fd00::1]:8080')?.name).toBe('v6-port');
    expect(v6.findVirtualHost('[fd00::1]')).toBeUndefined();
  });

  it('the first virtual host to claim a domain keeps it', () => {
    const d = table(vh('first', ['dup.com', '*']), vh('second', ['dup.com', '*']));
    expect(d.findVirtualHost('dup.com')?.name).toBe('first');
    expect(d.findVirtualHost('zzz')?.name).toBe('first');
  });
});

describe('route selection', () => {
  it('first matching route in order', () => {
    const v = table(
      vh('v', ['*'], [
        route('exact', { exact: '/a' }),
        route('prefix-a', { prefix: '/a' }),
        route('catch-all', { prefix: '/' }),
      ]),
    ).findVirtualHost('x')!;
    expect(RouteTable.findRoute(v, req('/a'))?.name).toBe('exact');
    expect(RouteTable.findRoute(v, req('/a?x'))?.name).toBe('exact');
    expect(RouteTable.findRoute(v, req('/ab'))?.name).toBe('prefix-a');
    expect(RouteTable.findRoute(v, req('/b'))?.name).toBe('catch-all');
  });

  it('no matching route → undefined (404 NR)', () => {
    const v = table(vh('v', ['*'], [route('only', { prefix: '/api' })])).findVirtualHost('x')!;
    expect(RouteTable.findRoute(v, req('/web'))).toBeUndefined();
  });

  it('compiled routes carry the action and header mutations', () => {
    const r: Route = {
      ...route('r', { prefix: '/' }),
      requestHeaders: { set: [['x-a', '1']], add: [], remove: [] },
      responseHeaders: { set: [], add: [['x-b', '2']], remove: [] },
    };
    const c = table(vh('v', ['*'], [r])).findVirtualHost('x')!.routes[0];
    expect(c.requestHeaders).toEqual(r.requestHeaders);
    expect(c.responseHeaders).toEqual(r.responseHeaders);
    expect(c.action).toEqual(r.action);
  });

  it('redirect and direct_response routes have no cluster to pick and no rewrite', () => {
    const v = table(
      vh('v', ['*'], [
        route('redir', { prefix: '/old' }, { kind: 'redirect', responseCode: 301, path: '/new' }),
        route('direct', { prefix: '/' }, { kind: 'direct_response', status: 503 }),
      ]),
    ).findVirtualHost('x')!;
    expect(v.routes[0].rewritePath).toBeUndefined();
    expect(() => v.routes[0].pickCluster()).toThrow();
    expect(v.routes[1].action).toEqual({ kind: 'direct_response', status: 503 });
  });
});

describe('weighted cluster pick', () => {
  const pickRoute = (clusters: WeightedCluster[]) => table(vh('v', ['*'], [route('w', { prefix: '/' }, { clusters })])).findVirtualHost('x')!.routes[0];

  it('a single cluster is always picked', () => {
    const r = pickRoute([{ name: 'only', weight: 1 }]);
    for (let i = 0; i < 100; i++) expect(r.pickCluster().name).toBe('only');
  });

  it('follows the weights (80/20 over 20 000 picks, ±2.5 %)', () => {
    const r = pickRoute([
      { name: 'v1', weight: 80 },
      { name: 'v2', weight: 20 },
    ]);
    const n = 20_000;
    const counts: Record<string, number> = { v1: 0, v2: 0 };
    for (let i = 0; i < n; i++) counts[r.pickCluster().name]++;
    expect(counts.v1 + counts.v2).toBe(n);
    expect(Math.abs(counts.v1 / n - 0.8)).toBeLessThan(0.025);
    expect(Math.abs(counts.v2 / n - 0.2)).toBeLessThan(0.025);
  });

  it('three-way 50/30/20 split and a zero-weight cluster never picked', () => {
    const r = pickRoute([
      { name: 'a', weight: 50 },
      { name: 'zero', weight: 0 },
      { name: 'b', weight: 30 },
      { name: 'c', weight: 20 },
    ]);
    const n = 30_000;
    const counts: Record<string, number> = { a: 0, zero: 0, b: 0, c: 0 };
    for (let i = 0; i < n; i++) counts[r.pickCluster().name]++;
    expect(counts.zero).toBe(0);
    expect(Math.abs(counts.a / n - 0.5)).toBeLessThan(0.025);
    expect(Math.abs(counts.b / n - 0.3)).toBeLessThan(0.025);
    expect(Math.abs(counts.c / n - 0.2)).toBeLessThan(0.025);
  });

  it('returns the configured object, destination header ops included', () => {
    const v1: WeightedCluster = { name: 'v1', weight: 1, requestHeaders: { set: [['x-v', '1']], add: [], remove: [] } };
    const r = pickRoute([v1, { name: 'v2', weight: 1 }]);
    let seen: WeightedCluster | undefined;
    for (let i = 0; i < 200 && !seen; i++) {
      const c = r.pickCluster();
      if (c.name === 'v1') seen = c;
    }
    expect(seen).toBe(v1);
  });
});

describe('path rewrite', () => {
  const rw = (path: Route['match']['path'], action: Partial<RouteAction>) =>
    table(vh('v', ['*'], [route('r', path, action)])).findVirtualHost('x')!.routes[0].rewritePath;

  it('no rewrite configured → no rewriter', () => {
    expect(rw({ prefix: '/a' }, {})).toBeUndefined();
  });

  it('prefix rewrite replaces the matched prefix and keeps the rest, query included', () => {
    const f = rw({ prefix: '/reviews' }, { prefixRewrite: '/api/reviews' })!;
    expect(f('/reviews/1')).toBe('/api/reviews/1');
    expect(f('/reviews?x=1')).toBe('/api/reviews?x=1');
    expect(f('/reviews')).toBe('/api/reviews');
    const g = rw({ prefix: '/v1/' }, { prefixRewrite: '/' })!;
    expect(g('/v1/items?sort=asc')).toBe('/items?sort=asc');
  });

  it('prefix rewrite with an ignoreCase prefix replaces the request text of that length', () => {
    const f = rw({ prefix: '/old', ignoreCase: true }, { prefixRewrite: '/new' })!;
    expect(f('/OLD/x')).toBe('/new/x');
  });

  it('with the catch-all prefix "/", only the leading slash is replaced (Envoy semantics)', () => {
    const f = rw({ prefix: '/' }, { prefixRewrite: '/app/' })!;
    expect(f('/index.html?v=1')).toBe('/app/index.html?v=1');
  });

  it('an exact match rewrites the whole path and keeps the query', () => {
    const f = rw({ exact: '/login' }, { prefixRewrite: '/auth/signin' })!;
    expect(f('/login')).toBe('/auth/signin');
    expect(f('/login?next=%2Fhome')).toBe('/auth/signin?next=%2Fhome');
  });

  it('a regex match rewrites the whole path and keeps the query', () => {
    const f = rw({ regex: '/items/[0-9]+' }, { prefixRewrite: '/item' })!;
    expect(f('/items/42?full=1')).toBe('/item?full=1');
  });

  it('regex rewrite: "$" in the substitution is literal (RE2 writes groups as \\N)', () => {
    const f = rw({ prefix: '/' }, { regexRewrite: { pattern: '^/(price)$', substitution: '/$1/\\1' } })!;
    expect(f('/price')).toBe('/$1/price');
  });

  it('regex rewrite substitutes every match in the path, with \\N groups, and keeps the query', () => {
    const f = rw({ prefix: '/' }, { regexRewrite: { pattern: '^/service/([^/]+)(/.*)$', substitution: '\\2/instance/\\1' } })!;
    expect(f('/service/foo/v1/api?x=1')).toBe('/v1/api/instance/foo?x=1');
    const g = rw({ prefix: '/' }, { regexRewrite: { pattern: 'one', substitution: 'two' } })!;
    expect(g('/one/two/one?one=1')).toBe('/two/two/two?one=1');
    const h = rw({ prefix: '/' }, { regexRewrite: { pattern: '(?i)/API/', substitution: '/api/' } })!;
    expect(h('/Api/x')).toBe('/api/x');
    const n = rw({ prefix: '/' }, { regexRewrite: { pattern: '^/(?P<v>v[0-9])/(.*)$', substitution: '/\\2?version=\\1' } })!;
    expect(n('/v3/items')).toBe('/items?version=v3');
  });
});

describe('routes shared between virtual hosts', () => {
  const routes = [route('api', { prefix: '/api' }), route('default', { prefix: '/' })];
  const config = (name: string, v: VirtualHost): RouteConfiguration => ({ name, virtualHosts: [v] });

  it('one list is compiled once for every table of a Snapshot that has it', () => {
    const shared = new WeakMap();
    const a = new RouteTable(config('http_proxy', vh('svc:80', ['svc:80'], routes)), undefined, shared);
    const b = new RouteTable(config('80', vh('svc:80', ['svc'], routes)), undefined, shared);
    expect(b.findVirtualHost('svc')!.routes).toBe(a.findVirtualHost('svc:80')!.routes);
    expect(RouteTable.findRoute(b.findVirtualHost('svc')!, req('/api/x'))?.name).toBe('api');
  });

  it("not when the virtual host has per-filter configs of its own (they are merged into its routes), nor without a shared map", () => {
    const shared = new WeakMap();
    const a = new RouteTable(config('a', vh('svc', ['svc'], routes)), undefined, shared);
    const withOwn = { ...vh('svc', ['svc'], routes), typedPerFilterConfig: { 'envoy.filters.http.fault': {} } };
    const b = new RouteTable(config('b', withOwn), () => ({ compiled: true }), shared);
    expect(b.findVirtualHost('svc')!.routes).not.toBe(a.findVirtualHost('svc')!.routes);
    expect(b.findVirtualHost('svc')!.routes[0].typedPerFilterConfig?.get('envoy.filters.http.fault')).toEqual({ compiled: true });
    expect(table(vh('svc', ['svc'], routes)).findVirtualHost('svc')!.routes).not.toBe(a.findVirtualHost('svc')!.routes);
  });
});

describe('rate_limits on compiled routes', () => {
  const generic = (value: string) => ({ stage: 0, actions: [{ genericKey: { descriptorKey: 'k', descriptorValue: value } }] });
  const src = { header: () => undefined, joinedHeader: () => undefined, remoteAddress: '10.0.0.1', destinationCluster: undefined, localServiceCluster: undefined, logContext: () => { throw new Error('no CEL here'); } };

  it('a route action’s own and its virtual host’s, compiled apart (redirects and direct responses have none)', () => {
    const v: VirtualHost = {
      ...vh('svc', ['svc'], [
        route('own', { prefix: '/own' }, { rateLimits: [generic('route')] }),
        route('direct', { prefix: '/direct' }, { kind: 'direct_response', status: 200 }),
        route('bare', { prefix: '/' }),
      ]),
      rateLimits: [generic('vh')],
    };
    const [own, direct, bare] = table(v).findVirtualHost('svc')!.routes;
    expect(own.rateLimits?.map((p) => p.descriptor(src))).toEqual([[{ key: 'k', value: 'route' }]]);
    expect(own.virtualHostRateLimits?.map((p) => p.descriptor(src))).toEqual([[{ key: 'k', value: 'vh' }]]);
    expect(bare.rateLimits).toBeUndefined();
    expect(bare.virtualHostRateLimits).toBe(own.virtualHostRateLimits);
    expect(direct.rateLimits).toBeUndefined();
    expect(direct.virtualHostRateLimits).toBeUndefined();
  });

  it('a virtual host with rate_limits of its own does not share its routes with other tables', () => {
    const routes = [route('default', { prefix: '/' })];
    const shared = new WeakMap();
    const a = new RouteTable({ name: 'a', virtualHosts: [vh('svc', ['svc'], routes)] }, undefined, shared);
    const b = new RouteTable({ name: 'b', virtualHosts: [{ ...vh('svc', ['svc'], routes), rateLimits: [generic('vh')] }] }, undefined, shared);
    expect(b.findVirtualHost('svc')!.routes).not.toBe(a.findVirtualHost('svc')!.routes);
    expect(a.findVirtualHost('svc')!.routes[0].virtualHostRateLimits).toBeUndefined();
  });

  it('per-filter compilers hear where the entry is: the route, or the virtual host', () => {
    const seen: string[] = [];
    const v: VirtualHost = { ...vh('svc', ['svc'], [{ ...route('r', { prefix: '/' }), typedPerFilterConfig: { f: {} } }]), typedPerFilterConfig: { f: {} } };
    new RouteTable({ name: 'rc', virtualHosts: [vh('other', ['other']), v] }, (_name, _raw, where) => seen.push(where));
    expect(seen).toEqual(['rc/virtualHosts[1]', 'rc/virtualHosts[1].routes[0]']);
  });
});
