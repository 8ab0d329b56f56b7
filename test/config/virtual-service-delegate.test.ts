/**
 * VirtualService delegation. The merge cases are istiod's own (pilot/pkg/model/virtualservice_test.go:
 * TestMergeHttpRoutes, TestMergeHTTPMatchRequests, TestHasConflict), transcribed as YAML data.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Field } from '../../src/config/reader.js';
import { parseVirtualService } from '../../src/config/istio/parse-virtual-service.js';
import type { HttpMatchSpec, HttpRouteSpec } from '../../src/config/istio/resources.js';
import { hasConflict, mergeHttpMatchRequests, mergeHttpRoutes } from '../../src/config/istio/virtual-service-delegate.js';
import { gatewayNode, routeConfig, sidecarNode, targets, translate, vhostWithDomain } from './helpers.js';

/** HTTP routes in Istio YAML (flow style) → parsed routes, as they are before any merge. */
function routes(list: string): HttpRouteSpec[] {
  const meta = { kind: 'VirtualService', name: 'r', namespace: 'default', order: 0 };
  const spec = new Field(parse(`{ hosts: [x], http: ${list} }`), ['spec'], meta);
  return parseVirtualService(spec, meta, []).http;
}

/** Match requests in Istio YAML → parsed matches. */
function matches(list: string): HttpMatchSpec[] {
  return routes(`[{ match: ${list}, route: [{ destination: { host: x } }] }]`)[0].match;
}

const V1 = '{ host: productpage.org, port: { number: 80 }, subset: v1 }';
const V2 = '{ host: productpage.org, port: { number: 80 }, subset: v2 }';
const V3 = '{ host: productpage.org, port: { number: 80 }, subset: v3 }';
const M1 = '{ host: productpage-mirror.org, port: { number: 80 }, subset: v1 }';
const M2 = '{ host: productpage-mirror.org, port: { number: 80 }, subset: v2 }';
const M3 = '{ host: productpage-mirror.org, port: { number: 80 }, subset: v3 }';

/** TestMergeHttpRoutes: root route, delegate routes, expected merged routes. */
const MERGE_HTTP_ROUTES: { name: string; root: string; delegate: string; expected: string }[] = [
  {
    name: 'root catch all',
    root: `[{ timeout: 10s, headers: { request: { add: { istio: test }, remove: [trace-id] } }, delegate: { name: delegate, namespace: default } }]`,
    delegate: `[
      { match: [{ uri: { prefix: /productpage/v1 }, headers: { version: { exact: v1 } } }], route: [{ destination: ${V1} }] },
      { match: [{ uri: { prefix: /productpage/v2 }, headers: { version: { exact: v2 } } }, { headers: { version: { exact: v2 } }, queryParams: { version: { exact: v2 } } }], route: [{ destination: ${V2} }] }]`,
    expected: `[
      { match: [{ uri: { prefix: /productpage/v1 }, headers: { version: { exact: v1 } } }], route: [{ destination: ${V1} }],
        timeout: 10s, headers: { request: { add: { istio: test }, remove: [trace-id] } } },
      { match: [{ uri: { prefix: /productpage/v2 }, headers: { version: { exact: v2 } } }, { headers: { version: { exact: v2 } }, queryParams: { version: { exact: v2 } } }], route: [{ destination: ${V2} }],
        timeout: 10s, headers: { request: { add: { istio: test }, remove: [trace-id] } } }]`,
  },
  {
    name: 'delegate with empty match',
    root: `[{ match: [{ uri: { prefix: /productpage }, port: 8080 }], delegate: { name: delegate, namespace: default } }]`,
    delegate: `[
      { match: [{ uri: { prefix: /productpage/v1 }, headers: { version: { exact: v1 } } }], route: [{ destination: ${V1} }] },
      { match: [{ uri: { prefix: /productpage/v2 }, headers: { version: { exact: v2 } } }, { headers: { version: { exact: v2 } }, queryParams: { version: { exact: v2 } } }], route: [{ destination: ${V2} }] },
      { route: [{ destination: ${V3} }] }]`,
    expected: `[
      { match: [{ uri: { prefix: /productpage/v1 }, headers: { version: { exact: v1 } }, port: 8080 }], route: [{ destination: ${V1} }] },
      { match: [{ uri: { prefix: /productpage/v2 }, headers: { version: { exact: v2 } }, port: 8080 },
                { uri: { prefix: /productpage }, headers: { version: { exact: v2 } }, queryParams: { version: { exact: v2 } }, port: 8080 }], route: [{ destination: ${V2} }] },
      { match: [{ uri: { prefix: /productpage }, port: 8080 }], route: [{ destination: ${V3} }] }]`,
  },
  {
    name: 'delegate with mirrors',
    root: `[{ mirrors: [{ destination: ${M3} }], delegate: { name: delegate, namespace: default } }]`,
    delegate: `[
      { match: [{ uri: { prefix: /productpage/v1 } }], mirrors: [{ destination: ${M1} }], route: [{ destination: ${V1} }] },
      { match: [{ uri: { prefix: /productpage/v2 } }], mirrors: [{ destination: ${M2} }], route: [{ destination: ${V2} }] },
      { route: [{ destination: ${V3} }] }]`,
    expected: `[
      { match: [{ uri: { prefix: /productpage/v1 } }], mirrors: [{ destination: ${M1} }], route: [{ destination: ${V1} }] },
      { match: [{ uri: { prefix: /productpage/v2 } }], mirrors: [{ destination: ${M2} }], route: [{ destination: ${V2} }] },
      { mirrors: [{ destination: ${M3} }], route: [{ destination: ${V3} }] }]`,
  },
  {
    // not one of istiod's cases: mirror, its percentage and mirrors are inherited one by one (mergeHTTPRoute)
    name: 'mirror percentage inherited without the mirror',
    root: `[{ mirror: ${M3}, mirrorPercentage: { value: 25 }, delegate: { name: delegate, namespace: default } }]`,
    delegate: `[{ match: [{ uri: { prefix: /a } }], mirror: ${M1}, route: [{ destination: ${V1} }] }, { route: [{ destination: ${V2} }] }]`,
    expected: `[{ match: [{ uri: { prefix: /a } }], mirror: ${M1}, mirrorPercentage: { value: 25 }, route: [{ destination: ${V1} }] },
      { mirror: ${M3}, mirrorPercentage: { value: 25 }, route: [{ destination: ${V2} }] }]`,
  },
  {
    // istiod's delegate route has no action here; Outrigger's parser requires one, so both sides route to v1
    name: 'multiple header merge',
    root: `[{ match: [{ headers: { header1: { regex: regex } } }, { headers: { header2: { exact: exact } } }], delegate: { name: delegate, namespace: default } }]`,
    delegate: `[{ match: [{ uri: { prefix: / } }], route: [{ destination: ${V1} }] }]`,
    expected: `[{ match: [{ uri: { prefix: / }, headers: { header1: { regex: regex } } }, { uri: { prefix: / }, headers: { header2: { exact: exact } } }], route: [{ destination: ${V1} }] }]`,
  },
];

/** TestMergeHTTPMatchRequests: root matches, delegate matches, expected (null: the route conflicts). */
const MERGE_MATCHES: { name: string; root: string; delegate: string; expected: string | null }[] = [
  { name: 'url match', root: '[{ uri: { prefix: /productpage } }]', delegate: '[{ uri: { exact: /productpage/v1 } }]', expected: '[{ uri: { exact: /productpage/v1 } }]' },
  { name: 'url regex noconflict', root: '[{ uri: { regex: ^/productpage } }]', delegate: '[{}]', expected: '[{ uri: { regex: ^/productpage } }]' },
  { name: 'url regex conflict', root: '[{ uri: { regex: ^/productpage } }]', delegate: '[{ uri: { prefix: /productpage } }]', expected: null },
  {
    name: 'multi url match',
    root: '[{ uri: { prefix: /productpage } }, { uri: { prefix: /reviews } }]',
    delegate: '[{ uri: { exact: /productpage/v1 } }, { uri: { exact: /reviews/v1 } }]',
    expected: '[{ uri: { exact: /productpage/v1 } }, { uri: { exact: /reviews/v1 } }]',
  },
  { name: 'url mismatch', root: '[{ uri: { prefix: /productpage } }]', delegate: '[{ uri: { exact: /reviews } }]', expected: null },
  { name: 'url match, one delegate match conflicts', root: '[{ uri: { prefix: /productpage } }]', delegate: '[{ uri: { exact: /productpage/v1 } }, { uri: { exact: /reviews } }]', expected: null },
  { name: 'headers', root: '[{ headers: { header: { exact: h1 } } }]', delegate: '[]', expected: '[{ headers: { header: { exact: h1 } } }]' },
  { name: 'headers conflict', root: '[{ headers: { header: { exact: h1 } } }]', delegate: '[{ headers: { header: { exact: h2 } } }]', expected: null },
  { name: 'headers merged', root: '[{ headers: { header: { exact: h1 } } }]', delegate: '[{ headers: { header-2: { exact: h2 } } }]', expected: '[{ headers: { header: { exact: h1 }, header-2: { exact: h2 } } }]' },
  {
    name: 'complicated merge',
    root: '[{ uri: { prefix: /productpage }, headers: { header: { exact: h1 } }, port: 8080, authority: { exact: productpage.com } }]',
    delegate: '[{ uri: { exact: /productpage/v1 } }, { uri: { exact: /productpage/v2 } }]',
    expected: `[{ uri: { exact: /productpage/v1 }, headers: { header: { exact: h1 } }, port: 8080, authority: { exact: productpage.com } },
                { uri: { exact: /productpage/v2 }, headers: { header: { exact: h1 } }, port: 8080, authority: { exact: productpage.com } }]`,
  },
  {
    name: 'conflicted merge',
    root: '[{ uri: { prefix: /productpage }, headers: { header: { exact: h1 } }, port: 8080, authority: { exact: productpage.com } }]',
    delegate: '[{ uri: { exact: /productpage/v1 } }, { uri: { exact: /productpage/v2 }, port: 9090 }]',
    expected: null,
  },
  {
    name: 'gateway merge',
    root: '[{ uri: { prefix: /productpage }, gateways: [ingress-gateway, mesh] }]',
    delegate: '[{ uri: { exact: /productpage/v1 }, gateways: [ingress-gateway] }, { uri: { exact: /productpage/v2 }, gateways: [mesh] }]',
    expected: '[{ uri: { exact: /productpage/v1 }, gateways: [ingress-gateway] }, { uri: { exact: /productpage/v2 }, gateways: [mesh] }]',
  },
  {
    name: 'gateway conflicted merge',
    root: '[{ uri: { prefix: /productpage }, gateways: [ingress-gateway] }]',
    delegate: '[{ uri: { exact: /productpage/v1 }, gateways: [ingress-gateway] }, { uri: { exact: /productpage/v2 }, gateways: [mesh] }]',
    expected: null,
  },
  { name: 'source labels merge', root: '[{ sourceLabels: { app: test } }]', delegate: '[{ sourceLabels: { version: v1 } }]', expected: '[{ sourceLabels: { app: test, version: v1 } }]' },
];

/** TestHasConflict: root match, delegate match, conflict? */
const HAS_CONFLICT: [string, string, string, boolean][] = [
  ['regex uri', '{ uri: { regex: ^/productpage } }', '{ uri: { prefix: /productpage/v2 } }', true],
  ['regex uri in root and delegate does not have uri', '{ uri: { regex: ^/productpage } }', '{}', false],
  ['regex uri in delegate and root does not have uri', '{}', '{ uri: { regex: ^/productpage } }', false],
  ['regex uri in root and delegate has conflicting uri match', '{ uri: { regex: ^/productpage } }', '{ uri: { prefix: /productpage } }', true],
  ['regex uri in delegate and root has conflicting uri match', '{ uri: { prefix: /productpage } }', '{ uri: { regex: ^/productpage } }', true],
  ['match uri', '{ uri: { prefix: /productpage } }', '{ uri: { prefix: /productpage/v2 } }', false],
  ['mismatch uri', '{ uri: { prefix: /productpage/v2 } }', '{ uri: { prefix: /productpage } }', true],
  ['match uri exact under prefix', '{ uri: { prefix: /productpage/v2 } }', '{ uri: { exact: /productpage/v2 } }', false],
  ['headers not equal', '{ headers: { header: { exact: h1 } } }', '{ headers: { header: { exact: h2 } } }', true],
  ['headers equal', '{ headers: { header: { exact: h1 } } }', '{ headers: { header: { exact: h1 } } }', false],
  ['headers match', '{ headers: { header: { prefix: h1 } } }', '{ headers: { header: { exact: h1-v1 } } }', false],
  ['headers mismatch', '{ headers: { header: { prefix: h1 } } }', '{ headers: { header: { exact: h2 } } }', true],
  ['headers prefix mismatch', '{ headers: { header: { prefix: h1 } } }', '{ headers: { header: { prefix: h2 } } }', true],
  ['diff headers', '{ headers: { header: { exact: h1 } } }', '{ headers: { header-2: { exact: h2 } } }', false],
  ['withoutHeaders mismatch', '{ withoutHeaders: { header: { prefix: h1 } } }', '{ withoutHeaders: { header: { exact: h2 } } }', true],
  ['port unset in root', '{}', '{ port: 8080 }', false],
  ['port unset in delegate', '{ port: 8080 }', '{}', false],
  ['port differs', '{ port: 8080 }', '{ port: 8090 }', true],
  ['sourceLabels mismatch', '{ sourceLabels: { a: b } }', '{ sourceLabels: { a: c } }', true],
  ['sourceNamespace mismatch', '{ sourceNamespace: test1 }', '{ sourceNamespace: test2 }', true],
  ['root has less gateways than delegate', '{ gateways: [ingress-gateway] }', '{ gateways: [ingress-gateway, mesh] }', true],
];

describe("istiod's merge cases", () => {
  it.each(MERGE_HTTP_ROUTES)('MergeHTTPRoutes: $name', ({ root, delegate, expected }) => {
    const [r] = routes(root);
    const merged = mergeHttpRoutes(r, routes(delegate), 'default');
    expect(merged).toEqual(routes(expected));
  });

  it.each(MERGE_MATCHES)('mergeHTTPMatchRequests: $name', ({ root, delegate, expected }) => {
    expect(mergeHttpMatchRequests(matches(root), matches(delegate)) ?? null).toEqual(expected === null ? null : matches(expected));
  });

  it.each(HAS_CONFLICT)('hasConflict: %s', (_name, root, leaf, conflict) => {
    expect(hasConflict(matches(`[${root}]`)[0], matches(`[${leaf}]`)[0])).toBe(conflict);
  });
});

const ROOT = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: root, namespace: default }
spec:
  hosts: [bookinfo.default.svc.cluster.local]
  http:
  - name: pp
    match: [{ uri: { prefix: /productpage } }]
    timeout: 3s
    delegate: { name: productpage, namespace: team }
  - match: [{ uri: { prefix: /reviews } }]
    delegate: { name: reviews }
  - route: [{ destination: { host: fallback } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: productpage, namespace: team }
spec:
  http:
  - name: v2
    match: [{ uri: { prefix: /productpage/v2 } }]
    route: [{ destination: { host: productpage, subset: v2, port: { number: 9080 } } }]
    timeout: 1s
  - name: other
    match: [{ uri: { prefix: /details } }]
    route: [{ destination: { host: details } }]
  - route: [{ destination: { host: productpage, port: { number: 9080 } } }]
`;

const SERVICES = ['bookinfo.default', 'fallback.default', 'productpage.team', 'details.team'].map((h) => {
  const [name, ns] = h.split('.');
  return `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: ${ns} }\nspec: { clusterIP: 10.96.3.${h.length}, ports: [{ name: http, port: 9080 }] }\n---\n`;
}).join('');

describe('delegation in a translated config', () => {
  it('merges the delegate under the root route: match conjunction, own namespace for hosts, root fields inherited', () => {
    const t = translate(SERVICES + ROOT);
    const vh = vhostWithDomain(routeConfig(t, '9080'), 'bookinfo.default.svc.cluster.local:9080')!;
    expect(vh.routes.map((r) => [r.name, r.match.path, r.action.kind === 'route' ? r.action.timeoutMs : undefined])).toEqual([
      ['pp-v2', { prefix: '/productpage/v2' }, 1000],
      // the delegate's catch-all takes the root's match; the /details route conflicts with /productpage and is dropped
      ['pp', { prefix: '/productpage' }, 3000],
      ['root.2', { prefix: '/' }, undefined],
    ]);
    expect(targets(vh.routes[0])).toEqual([['outbound|9080|v2|productpage.team.svc.cluster.local', 100]]);
    expect(targets(vh.routes[1])).toEqual([['outbound|9080||productpage.team.svc.cluster.local', 100]]);
    expect(targets(vh.routes[2])).toEqual([['outbound|9080||fallback.default.svc.cluster.local', 100]]);
    expect(t.warnings).toContainEqual(expect.stringMatching(/VirtualService default\/root: delegate VirtualService default\/reviews not found; its route is skipped/));
  });

  it('a gateway’s root VirtualService delegates too; delegate match gateways are named in the delegate’s namespace', () => {
    const text = `${SERVICES}apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: istio-system }
spec:
  selector: { istio: ingressgateway }
  servers: [{ port: { number: 8080, name: http, protocol: HTTP }, hosts: ["*/bookinfo.example.com"] }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: edge, namespace: default }
spec:
  hosts: [bookinfo.example.com]
  gateways: [istio-system/gw]
  http:
  - match: [{ uri: { prefix: /api }, gateways: [istio-system/gw] }]
    delegate: { name: api, namespace: team }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: api, namespace: team }
spec:
  http:
  - match: [{ uri: { prefix: /api/v1 } }]
    route: [{ destination: { host: productpage } }]
  - match: [{ uri: { prefix: /api/v2 }, gateways: [gw] }]
    route: [{ destination: { host: details } }]
`;
    const t = translate(text, gatewayNode());
    const vh = vhostWithDomain(routeConfig(t, 'http.8080'), 'bookinfo.example.com')!;
    expect(vh.routes.map((r) => [r.match.path, targets(r)[0][0]])).toEqual([
      [{ prefix: '/api/v1' }, 'outbound|9080||productpage.team.svc.cluster.local'],
    ]);
    // team/gw is not among the root's gateways (istio-system/gw): the /api/v2 route conflicts and is dropped
  });

  it('skips a delegate not exported to the root’s namespace', () => {
    const hidden = ROOT.replace('metadata: { name: productpage, namespace: team }\nspec:\n', 'metadata: { name: productpage, namespace: team }\nspec:\n  exportTo: ["."]\n');
    const t = translate(SERVICES + hidden, sidecarNode());
    const vh = vhostWithDomain(routeConfig(t, '9080'), 'bookinfo.default.svc.cluster.local:9080')!;
    expect(vh.routes.map((r) => r.name)).toEqual(['root.0']);
    expect(t.warnings).toContainEqual(expect.stringMatching(/delegate VirtualService team\/productpage is not exported to default/));
  });
});
