// EnvoyFilter as Istio users write it for local rate limiting: Istio's rate-limit task and
// telemetry policy tests (read from ../shared/conformance) insert envoy.filters.http.local_ratelimit
// into the right connection managers and merge its per-route config and rate_limits into the
// right routes; anything else an EnvoyFilter could patch is refused, naming what.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { HttpConnectionManager, RouteConfiguration } from '../../src/config/snapshot.js';
import type { Translation } from '../../src/config/istio/translate.js';
import { filterChainsOf, httpConnectionManagerOf } from '../../src/config/envoy/network-filters.js';
import type { LocalRateLimit } from '../../src/config/envoy/local-ratelimit.js';
import { gatewayNode, parseError, sidecarNode, translate } from './helpers.js';
import { ISTIO_TASK_LIMIT } from '../helpers/local-ratelimit.js';

const CONFORMANCE = new URL('../../../shared/conformance/istio/', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, CONFORMANCE), 'utf8');
const TASK = 'docs-tasks/policy-enforcement/rate-limit/';
const POLICY = 'tests/integration/telemetry/policy/testdata/';
/** A Go-templated test file with its placeholders filled. */
const filled = (path: string) => read(path).replace(/\{\{\s*\.EchoNamespace\s*\}\}/g, 'echo');

const svc = (name: string, ns: string, port: number, address: string) =>
  stringify({
    apiVersion: 'networking.istio.io/v1', kind: 'ServiceEntry', metadata: { name, namespace: ns },
    spec: { hosts: [`${name}.${ns}.svc.cluster.local`], location: 'MESH_INTERNAL', resolution: 'STATIC', ports: [{ number: port, name: 'http' }], endpoints: [{ address, labels: { app: name } }] },
  });
const PRODUCTPAGE = svc('productpage', 'default', 9080, '10.1.1.1');

const TASK_CONFIG = ISTIO_TASK_LIMIT;

function hcms(t: Translation, inbound: boolean): HttpConnectionManager[] {
  return [...new Set(t.snapshot.listeners.filter((l) => (l.direction === 'INBOUND') === inbound).flatMap((l) => filterChainsOf(l).map(httpConnectionManagerOf).filter((h) => h !== undefined)))];
}
const routeConfig = (t: Translation, name: string): RouteConfiguration => t.snapshot.routeConfigs.find((r) => r.name === name)!;

describe("Istio's local rate limit task", () => {
  it('snip_local_rate_limit_2: the filter first in productpage\'s inbound connection managers, none outbound, none on other workloads', () => {
    const ef = read(`${TASK}snip_local_rate_limit_2.yaml`);
    const t = translate([PRODUCTPAGE, ef].join('---\n'), sidecarNode({ labels: { app: 'productpage' } }));
    const inbound = hcms(t, true);
    expect(inbound.length).toBeGreaterThan(0);
    for (const h of inbound) expect(h.httpFilters[0]).toEqual({ name: 'envoy.filters.http.local_ratelimit', config: TASK_CONFIG });
    for (const h of hcms(t, false)) expect(h.httpFilters.map((f) => f.name)).not.toContain('envoy.filters.http.local_ratelimit');
    const other = translate([PRODUCTPAGE, ef].join('---\n'), sidecarNode({ labels: { app: 'reviews' } }));
    for (const h of hcms(other, true)) expect(h.httpFilters.map((f) => f.name)).not.toContain('envoy.filters.http.local_ratelimit');
  });

  it('snip_local_rate_limit_3: the filter without a bucket, the bucket per route on vhost inbound|http|9080', () => {
    const t = translate([PRODUCTPAGE, read(`${TASK}snip_local_rate_limit_3.yaml`)].join('---\n'), sidecarNode({ labels: { app: 'productpage' } }));
    const { tokenBucket: _bucket, responseHeadersToAdd: _h, enabledPercent: _e, enforcedPercent: _f, ...bare } = TASK_CONFIG;
    for (const h of hcms(t, true)) expect(h.httpFilters[0]).toEqual({ name: 'envoy.filters.http.local_ratelimit', config: { ...bare, responseHeadersToAdd: [], enabledPercent: 0, enforcedPercent: 0 } });
    const rc = routeConfig(t, 'inbound|9080||');
    const vh = rc.virtualHosts.find((v) => v.name === 'inbound|http|9080')!;
    for (const r of vh.routes) expect(r.typedPerFilterConfig?.['envoy.filters.http.local_ratelimit']).toEqual(TASK_CONFIG);
  });
});

describe("Istio's telemetry policy tests", () => {
  it('enable_envoy_local_ratelimit_per_route: the outbound routes of srv.echo:80 on clt, the filter on every connection manager (no context)', () => {
    const t = translate([svc('srv', 'echo', 80, '10.2.2.2'), filled(`${POLICY}enable_envoy_local_ratelimit_per_route.yaml`)].join('---\n'), sidecarNode({ namespace: 'echo', labels: { app: 'clt' } }));
    for (const h of [...hcms(t, true), ...hcms(t, false)]) expect(h.httpFilters[0].name).toBe('envoy.filters.http.local_ratelimit');
    const vhosts = t.snapshot.routeConfigs.flatMap((rc) => rc.virtualHosts).filter((v) => v.name === 'srv.echo.svc.cluster.local:80');
    expect(vhosts.length).toBeGreaterThan(0);
    for (const vh of vhosts) for (const r of vh.routes) expect((r.typedPerFilterConfig?.['envoy.filters.http.local_ratelimit'] as LocalRateLimit).tokenBucket).toEqual({ maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 600_000 });
  });

  it('enable_envoy_local_ratelimit_sa: a descriptor keyed by client_id, and the route rate_limits that compute it with CEL', () => {
    const t = translate([svc('srv', 'echo', 80, '10.1.1.1'), filled(`${POLICY}enable_envoy_local_ratelimit_sa.yaml`)].join('---\n'), sidecarNode({ namespace: 'echo', labels: { app: 'srv' } }));
    const f = hcms(t, true)[0].httpFilters[0].config as LocalRateLimit;
    expect(f.descriptors).toEqual([{ entries: [{ key: 'client_id', value: 'spiffe://cluster.local/ns/echo/sa/clt' }], tokenBucket: { maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 600_000 } }]);
    const vh = routeConfig(t, 'inbound|80||').virtualHosts.find((v) => v.name === 'inbound|http|80')!;
    for (const r of vh.routes) {
      expect(r.action.kind === 'route' && r.action.rateLimits).toEqual([{ stage: 0, actions: [{ expression: { descriptorKey: 'client_id', text: 'connection.uri_san_peer_certificate', skipIfError: false } }] }]);
    }
  });

  it('a gateway gets GATEWAY and ANY patches only', () => {
    const ef = (context: string) =>
      stringify({
        apiVersion: 'networking.istio.io/v1alpha3', kind: 'EnvoyFilter', metadata: { name: `rl-${context.toLowerCase()}`, namespace: 'istio-system' },
        spec: { configPatches: [{ applyTo: 'HTTP_FILTER', match: { context }, patch: { operation: 'INSERT_FIRST', value: { name: 'envoy.filters.http.local_ratelimit', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit', stat_prefix: context } } } }] },
      });
    const gw = stringify({ apiVersion: 'networking.istio.io/v1', kind: 'Gateway', metadata: { name: 'gw' }, spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 8080, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }] } });
    const t = translate([PRODUCTPAGE, gw, ef('GATEWAY'), ef('SIDECAR_INBOUND')].join('---\n'), gatewayNode());
    const names = t.snapshot.listeners.flatMap((l) => filterChainsOf(l).map(httpConnectionManagerOf)).filter((h) => h).flatMap((h) => h!.httpFilters.map((f) => (f.config as LocalRateLimit).statPrefix));
    expect(names).toContain('GATEWAY');
    expect(names).not.toContain('SIDECAR_INBOUND');
  });
});

describe('refused, naming what the EnvoyFilter patches', () => {
  const envoyFilter = (patch: Record<string, unknown>) =>
    stringify({ apiVersion: 'networking.istio.io/v1alpha3', kind: 'EnvoyFilter', metadata: { name: 'x', namespace: 'istio-system' }, spec: { configPatches: [patch] } });

  it('another HTTP filter, a cluster patch, a network filter, a REMOVE', () => {
    expect(parseError(envoyFilter({ applyTo: 'HTTP_FILTER', patch: { operation: 'INSERT_BEFORE', value: { name: 'envoy.filters.http.lua', typed_config: {} } } })).message).toMatch(/configPatches\[0\]\.patch\.value\.name: inserting the HTTP filter envoy\.filters\.http\.lua is not supported/);
    expect(parseError(envoyFilter({ applyTo: 'CLUSTER', patch: { operation: 'MERGE', value: {} } })).message).toMatch(/configPatches\[0\]\.applyTo: applyTo CLUSTER with operation MERGE is not supported/);
    expect(parseError(envoyFilter({ applyTo: 'NETWORK_FILTER', patch: { operation: 'INSERT_BEFORE', value: {} } })).message).toMatch(/applyTo NETWORK_FILTER/);
    expect(parseError(envoyFilter({ applyTo: 'HTTP_FILTER', patch: { operation: 'REMOVE' } })).message).toMatch(/applyTo HTTP_FILTER with operation REMOVE is not supported/);
  });

  it('a route MERGE of anything but the rate limit config; a bad token bucket, with the decoder\'s field', () => {
    expect(parseError(envoyFilter({ applyTo: 'HTTP_ROUTE', patch: { operation: 'MERGE', value: { route: { timeout: '1s' } } } })).message).toMatch(/patch\.value\.route\.timeout: unknown field "timeout"/);
    const bad = { name: 'envoy.filters.http.local_ratelimit', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit', stat_prefix: 'x', token_bucket: { max_tokens: 0, fill_interval: '1s' } } };
    expect(parseError(envoyFilter({ applyTo: 'HTTP_FILTER', patch: { operation: 'INSERT_FIRST', value: bad } })).message).toMatch(/typed_config\.token_bucket\.max_tokens: max_tokens must be at least 1/);
  });
});
