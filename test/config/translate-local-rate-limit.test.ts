// Outrigger's LocalRateLimit resource: the local_ratelimit filter first in the connection managers
// of its mode, and on the routes its rules match a per-route config with one descriptor per rule
// and the rate_limits producing them; refused with the field named when malformed.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { LocalRateLimit } from '../../src/config/envoy/local-ratelimit.js';
import { filterChainsOf, httpConnectionManagerOf } from '../../src/config/envoy/network-filters.js';
import { compilePerRouteConfig } from '../../src/filters/http/registry.js';
import { RouteTable } from '../../src/router/route-table.js';
import { gatewayNode, parseError, sidecarNode, translate } from './helpers.js';

const limits = (spec: Record<string, unknown>, namespace = 'default') => stringify({ apiVersion: 'policy.outrigger.io/v1alpha1', kind: 'LocalRateLimit', metadata: { name: 'edge', namespace }, spec });
const SVC = stringify({
  apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name: 'app' },
  spec: { hosts: ['app.default.svc.cluster.local'], location: 'MESH_INTERNAL', resolution: 'STATIC', ports: [{ number: 80, name: 'http' }], endpoints: [{ address: '10.1.1.1', labels: { app: 'app' } }] },
});
const GW = stringify({ apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'gw' }, spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 8080, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] } });
const VS = stringify({
  apiVersion: 'networking.istio.io/v1', kind: 'VirtualService', metadata: { name: 'app' },
  spec: { hosts: ['app.test'], gateways: ['gw'], http: [{ name: 'api', match: [{ uri: { prefix: '/api' } }], route: [{ destination: { host: 'app.default.svc.cluster.local' } }] }, { name: 'web', route: [{ destination: { host: 'app.default.svc.cluster.local' } }] }] },
});

describe('LocalRateLimit (policy.outrigger.io/v1alpha1)', () => {
  it('on a gateway (CLIENT): the filter first; the api route limited per x-user, the web route as a whole; the route tables compile', () => {
    const t = translate([SVC, GW, VS, limits({ mode: 'CLIENT', rules: [{ match: { virtualService: 'app', route: 'api' }, limit: { requests: 2, per: '60s' }, by: { header: 'X-User' } }, { match: { virtualService: 'app', route: 'web' }, limit: { requests: 3, per: '1m', burst: 6 } }] })].join('---\n'), gatewayNode({ namespace: 'default' }));
    const hcm = t.snapshot.listeners.flatMap(filterChainsOf).map(httpConnectionManagerOf).find((h) => h)!;
    expect(hcm.httpFilters[0]).toMatchObject({ name: 'envoy.filters.http.local_ratelimit', config: { statPrefix: 'local_rate_limit', descriptors: [], enabledPercent: 100, enforcedPercent: 100 } });
    const rc = t.snapshot.routeConfigs.find((r) => r.name === hcm.routeConfigName)!;
    const [api, web] = rc.virtualHosts[0].routes;
    const apiLimit = api.typedPerFilterConfig?.['envoy.filters.http.local_ratelimit'] as LocalRateLimit;
    expect(apiLimit.descriptors).toEqual([{ entries: [{ key: 'rule', value: 'default/edge#0' }, { key: 'x-user', value: '' }], tokenBucket: { maxTokens: 2, tokensPerFill: 2, fillIntervalMs: 60_000 } }]);
    expect(api.action.kind === 'route' && api.action.rateLimits).toEqual([{ stage: 0, actions: [{ genericKey: { descriptorKey: 'rule', descriptorValue: 'default/edge#0' } }, { requestHeaders: { headerName: 'x-user', descriptorKey: 'x-user', skipIfAbsent: false } }] }]);
    expect((web.typedPerFilterConfig?.['envoy.filters.http.local_ratelimit'] as LocalRateLimit).descriptors).toEqual([{ entries: [{ key: 'rule', value: 'default/edge#1' }], tokenBucket: { maxTokens: 6, tokensPerFill: 3, fillIntervalMs: 60_000 } }]);
    expect(() => new RouteTable(rc, compilePerRouteConfig)).not.toThrow();
  });

  it('SERVER (the default): inbound connection managers and routes only; by remote address; another workload untouched', () => {
    const spec = { selector: { matchLabels: { app: 'app' } }, rules: [{ match: { port: 80 }, limit: { requests: 10, per: '1s' }, by: { remoteAddress: true } }], scope: 'PER_WORKER' };
    const t = translate([SVC, limits(spec)].join('---\n'), sidecarNode({ labels: { app: 'app' } }));
    const inbound = t.snapshot.listeners.filter((l) => l.direction === 'INBOUND').flatMap(filterChainsOf).map(httpConnectionManagerOf).filter((h) => h);
    expect(inbound.length).toBeGreaterThan(0);
    for (const h of inbound) expect(h!.httpFilters[0].name).toBe('envoy.filters.http.local_ratelimit');
    for (const h of t.snapshot.listeners.filter((l) => l.direction !== 'INBOUND').flatMap(filterChainsOf).map(httpConnectionManagerOf).filter((x) => x)) {
      expect(h!.httpFilters.map((f) => f.name)).not.toContain('envoy.filters.http.local_ratelimit');
    }
    const rc = t.snapshot.routeConfigs.find((r) => r.name === 'inbound|80||')!;
    const cfg = rc.virtualHosts[0].routes[0].typedPerFilterConfig?.['envoy.filters.http.local_ratelimit'] as LocalRateLimit;
    expect(cfg).toMatchObject({ scope: 'worker', descriptors: [{ entries: [{ key: 'rule', value: 'default/edge#0' }, { key: 'remote_address', value: '' }] }] });
    const other = translate([SVC, limits(spec)].join('---\n'), sidecarNode({ labels: { app: 'other' } }));
    expect(other.snapshot.routeConfigs.flatMap((r) => r.virtualHosts).flatMap((v) => v.routes).some((r) => r.typedPerFilterConfig?.['envoy.filters.http.local_ratelimit'])).toBe(false);
  });

  it('refuses what it cannot apply, naming the field', () => {
    expect(parseError(limits({ rules: [] })).message).toMatch(/field spec\.rules: at least one rule is needed/);
    expect(parseError(limits({ rules: [{ limit: { requests: 1, per: '10ms' } }] })).message).toMatch(/spec\.rules\[0\]\.limit\.per: must be at least 50ms/);
    expect(parseError(limits({ rules: [{ limit: { requests: 1, per: '1s' }, by: { header: 'a', remoteAddress: true } }] })).message).toMatch(/spec\.rules\[0\]\.by: by is one of header or remoteAddress/);
    expect(parseError(limits({ rules: [{ match: { route: 'api' }, limit: { requests: 1, per: '1s' } }] })).message).toMatch(/match\.route: a route is named within its virtualService/);
    expect(parseError(limits({ rules: [{ limit: { requests: 1, per: '1s' } }], scope: 'GLOBAL' })).message).toMatch(/spec\.scope/);
  });
});
