import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigErrors } from '../../src/config/errors.js';
import { IstioConfigParser, parseIstioConfig } from '../../src/config/istio/parse.js';
import { parseDocuments } from '../../src/config/source.js';
import { parseError, parseErrors, parseYaml } from './helpers.js';

const VS_WEIGHT_X = `# bookinfo reviews split
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
spec:
  host: reviews
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: bookinfo
spec:
  hosts:
  - reviews
  http:
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: 50
    - destination:
        host: reviews
        subset: v2
      weight: "x"
`;

describe('precise errors', () => {
  it('a bad weight names file, line, document, resource and field path', () => {
    const err = parseError(VS_WEIGHT_X, 'default', 'samples/reviews.yaml');
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.location).toEqual({
      file: 'samples/reviews.yaml',
      docIndex: 1,
      line: 26,
      kind: 'VirtualService',
      name: 'reviews',
      namespace: 'bookinfo',
      field: 'spec.http[0].route[1].weight',
    });
    expect(err.message).toBe(
      'samples/reviews.yaml:26, document 1, VirtualService bookinfo/reviews, field spec.http[0].route[1].weight: expected an integer, got string "x"',
    );
  });

  it('the namespace of a resource without one is the default namespace', () => {
    const err = parseError(VS_WEIGHT_X.replace('  namespace: bookinfo\n', ''), 'prod');
    expect(err.message).toContain('VirtualService prod/reviews, field spec.http[0].route[1].weight');
  });

  it('rejects unknown fields with their path and line', () => {
    const err = parseError(`apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: vs, namespace: ns }
spec:
  hosts: [a]
  http:
  - match:
    - uri: { prefix: /a }
      methd: { exact: GET }
    route:
    - destination: { host: a }
`);
    expect(err.location.field).toBe('spec.http[0].match[0].methd');
    expect(err.location.line).toBe(9);
    expect(err.reason).toBe('unknown field "methd"');
  });

  it('rejects unknown fields at every level', () => {
    const cases: [string, string][] = [
      ['spec:\n  hosts: [a]\n  htp: []', 'spec.htp'],
      ['spec:\n  hosts: [a]\n  http:\n  - route: [{ destination: { host: a, subet: v1 } }]', 'spec.http[0].route[0].destination.subet'],
      ['spec:\n  hosts: [a]\n  http:\n  - route: [{ destination: { host: a }, wieght: 1 }]', 'spec.http[0].route[0].wieght'],
      ['spec:\n  hosts: [a]\n  http:\n  - route: [{ destination: { host: a } }]\n    rewrite: { url: /x }', 'spec.http[0].rewrite.url'],
      ['spec:\n  hosts: [a]\n  http:\n  - route: [{ destination: { host: a, port: { num: 80 } } }]', 'spec.http[0].route[0].destination.port.num'],
      ['spec:\n  hosts: [a]\n  http:\n  - match: [{ uri: { prefx: /a } }]\n    route: [{ destination: { host: a } }]', 'spec.http[0].match[0].uri.prefx'],
    ];
    for (const [spec, path] of cases) {
      const err = parseError(`apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: vs }\n${spec}\n`);
      expect(err.location.field, spec).toBe(path);
      expect(err.reason).toMatch(/^unknown field "/);
    }
  });

  it('rejects unknown fields in DestinationRule, ServiceEntry, Gateway, Sidecar and WorkloadEntry', () => {
    const cases: [string, string][] = [
      ['kind: DestinationRule\nspec:\n  host: a\n  trafficPolicy:\n    loadBalancer: { simple: ROUND_ROBIN, smiple: x }', 'spec.trafficPolicy.loadBalancer.smiple'],
      ['kind: DestinationRule\nspec:\n  host: a\n  subsets: [{ name: v1, lables: { a: b } }]', 'spec.subsets[0].lables'],
      ['kind: ServiceEntry\nspec:\n  hosts: [a.com]\n  ports: [{ number: 80, name: http, protocl: HTTP }]', 'spec.ports[0].protocl'],
      ['kind: Gateway\nspec:\n  selector: { istio: ingressgateway }\n  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"], host: x }]', 'spec.servers[0].host'],
      ['kind: Sidecar\nspec:\n  egress: [{ hosts: ["./*"], host: x }]', 'spec.egress[0].host'],
      ['kind: WorkloadEntry\nspec:\n  address: 1.2.3.4\n  lables: {}', 'spec.lables'],
    ];
    for (const [body, path] of cases) {
      const err = parseError(`apiVersion: networking.istio.io/v1\nmetadata: { name: r }\n${body}\n`);
      expect(err.location.field, body).toBe(path);
      expect(err.reason).toMatch(/^unknown field "/);
    }
  });

  it('rejects an invalid regular expression at the regex field', () => {
    const err = parseError(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: vs }
spec:
  hosts: [a]
  http:
  - match:
    - headers:
        x-user:
          regex: "(unclosed"
    route: [{ destination: { host: a } }]
`);
    expect(err.location.field).toBe('spec.http[0].match[0].headers.x-user.regex');
    expect(err.location.line).toBe(10);
    expect(err.reason).toMatch(/^invalid regular expression: /);
  });

  it('rejects an invalid uriRegexRewrite match', () => {
    const err = parseError(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: vs }
spec:
  hosts: [a]
  http:
  - rewrite: { uriRegexRewrite: { match: "^/a(", rewrite: /b } }
    route: [{ destination: { host: a } }]
`);
    expect(err.location.field).toBe('spec.http[0].rewrite.uriRegexRewrite.match');
    expect(err.reason).toMatch(/^invalid regular expression/);
  });

  it('accepts RE2 syntax JavaScript lacks: (?i) and (?P<name>)', () => {
    const cfg = parseYaml(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: vs }
spec:
  hosts: [a]
  http:
  - match:
    - uri: { regex: "(?i)/api/(?P<version>v[0-9]+)/.*" }
    route: [{ destination: { host: a } }]
`);
    expect(cfg.virtualServices[0].http[0].match[0].uri).toEqual({ regex: '(?i)/api/(?P<version>v[0-9]+)/.*' });
  });

  it('a type error in a List item names the item path', () => {
    const err = parseError(`apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata: { name: ok }
  spec: { host: a }
- apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata: { name: bad, namespace: x }
  spec:
    host: b
    subsets:
    - name: v1
      labels: { version: 1 }
`);
    expect(err.location.field).toBe('items[1].spec.subsets[0].labels.version');
    expect(err.location.line).toBe(15);
    expect(err.message).toContain('DestinationRule x/bad');
  });
});

describe('kinds', () => {
  it.each([
    ['WasmPlugin', 'extensions.istio.io/v1alpha1'],
    ['HTTPRoute', 'gateway.networking.k8s.io/v1'],
    ['GRPCRoute', 'gateway.networking.k8s.io/v1'],
    ['WorkloadGroup', 'networking.istio.io/v1'],
  ])('%s is rejected as not supported', (kind, apiVersion) => {
    const err = parseError(`apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata: { name: p, namespace: foo }\nspec: {}\n`);
    expect(err.message).toMatch(new RegExp(`kind ${kind} \\(${apiVersion.replace(/\./g, '\\.')}\\) is not supported`));
    expect(err.location).toMatchObject({ kind, name: 'p', namespace: 'foo', field: 'kind', line: 2 });
  });

  it('the Kubernetes Gateway (gateway.networking.k8s.io) is not mistaken for an Istio Gateway', () => {
    const err = parseError(`apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw }
spec: { gatewayClassName: istio, listeners: [] }
`);
    expect(err.location.field).toBe('apiVersion');
    expect(err.reason).toBe('unsupported resource gateway.networking.k8s.io/v1 Gateway');
  });

  it('ignores platform resources with a warning; Services feed the registry', () => {
    const cfg = parseYaml(`apiVersion: apps/v1
kind: Deployment
metadata: { name: reviews-v1 }
spec: { replicas: 1 }
---
apiVersion: v1
kind: Service
metadata: { name: reviews }
spec: { ports: [{ port: 9080, name: http }] }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: bookinfo-reviews }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec: { host: reviews }
`, 'default', 'bookinfo.yaml');
    expect(cfg.destinationRules.map((d) => d.meta.name)).toEqual(['reviews']);
    expect(cfg.virtualServices).toEqual([]);
    expect(cfg.warnings).toHaveLength(2);
    expect(cfg.warnings[0]).toMatch(/^bookinfo\.yaml document 0: Deployment reviews-v1 ignored/);
    expect(cfg.warnings[1]).toMatch(/^bookinfo\.yaml document 2: ServiceAccount bookinfo-reviews ignored/);
    expect(cfg.kubernetes.services.map((s) => s.meta.name)).toEqual(['reviews']);
  });

  it('rejects unknown networking.istio.io kinds and other API groups', () => {
    expect(parseError('apiVersion: networking.istio.io/v1\nkind: VirtualServce\nmetadata: { name: x }\nspec: {}\n').reason).toBe(
      'unknown networking.istio.io kind VirtualServce',
    );
    expect(parseError('apiVersion: example.com/v1\nkind: Widget\nmetadata: { name: x }\nspec: {}\n').reason).toBe(
      'unsupported resource example.com/v1 Widget',
    );
  });

  it('accepts networking.istio.io v1, v1beta1 and v1alpha3, and no other version', () => {
    for (const v of ['v1', 'v1beta1', 'v1alpha3']) {
      const cfg = parseYaml(`apiVersion: networking.istio.io/${v}\nkind: DestinationRule\nmetadata: { name: x }\nspec: { host: a }\n`);
      expect(cfg.destinationRules).toHaveLength(1);
    }
    const err = parseError('apiVersion: networking.istio.io/v2\nkind: DestinationRule\nmetadata: { name: x }\nspec: { host: a }\n');
    expect(err.location.field).toBe('apiVersion');
    expect(err.reason).toMatch(/^unsupported version networking\.istio\.io\/v2/);
  });

  it('requires kind, apiVersion, metadata.name and spec', () => {
    expect(parseError('apiVersion: networking.istio.io/v1\nmetadata: { name: x }\nspec: {}\n').location.field).toBe('kind');
    expect(parseError('kind: DestinationRule\nmetadata: { name: x }\nspec: {}\n').location.field).toBe('apiVersion');
    const noName = parseError('apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { namespace: x }\nspec: { host: a }\n');
    expect(noName.location.field).toBe('metadata.name');
    expect(noName.message).toContain('DestinationRule (unnamed)');
    const noSpec = parseError('apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: x }\n');
    expect(noSpec.location.field).toBe('spec');
    expect(parseError('- a\n- b\n').reason).toBe('expected an object, got a list');
  });

  it('reads resources inside kind: List (and *List kinds)', () => {
    const cfg = parseYaml(`apiVersion: v1
kind: List
items:
- apiVersion: networking.istio.io/v1
  kind: DestinationRule
  metadata: { name: a }
  spec: { host: a }
- apiVersion: v1
  kind: Service
  metadata: { name: svc }
- apiVersion: networking.istio.io/v1
  kind: VirtualServiceList
  items:
  - apiVersion: networking.istio.io/v1
    kind: VirtualService
    metadata: { name: nested }
    spec:
      hosts: [a]
      http: [{ route: [{ destination: { host: a } }] }]
`);
    expect(cfg.destinationRules.map((d) => d.meta.name)).toEqual(['a']);
    expect(cfg.virtualServices.map((v) => v.meta.name)).toEqual(['nested']);
    expect(cfg.kubernetes.services.map((s) => s.meta.name)).toEqual(['svc']);
    // load order is kept across nesting (Istio's tie-breaker)
    expect(cfg.destinationRules[0].meta.order).toBeLessThan(cfg.virtualServices[0].meta.order);
  });

  it('collects every error of every document before failing', () => {
    const text = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: one }
spec:
  hosts: [a]
  http: [{ route: [{ destination: { host: a }, weight: x }] }]
---
apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: { name: deny }
spec: {}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: fine }
spec: { host: a }
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: three }
spec:
  hosts: [a.com]
  resolution: DNZ
`;
    let thrown: unknown;
    try {
      parseIstioConfig(parseDocuments('all.yaml', text), { defaultNamespace: 'default' });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ConfigErrors);
    const errs = (thrown as ConfigErrors).errors;
    expect(errs.map((e) => [e.location.docIndex, e.location.kind, e.location.field])).toEqual([
      [0, 'VirtualService', 'spec.http[0].route[0].weight'],
      [1, 'WasmPlugin', 'kind'],
      [3, 'ServiceEntry', 'spec.resolution'],
    ]);
    expect((thrown as ConfigErrors).message.split('\n')).toHaveLength(3);
  });

  it('every error of a list is reported too', () => {
    const errs = parseErrors(`apiVersion: v1
kind: List
items:
- { apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: { name: a }, spec: { host: 1 } }
- { apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: { name: b }, spec: { host: "" } }
`);
    expect(errs.map((e) => e.location.field)).toEqual(['items[0].spec.host', 'items[1].spec.host']);
  });
});

describe('VirtualService validation', () => {
  const vs = (http: string, extra = '') =>
    `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: vs }\nspec:\n  hosts: [a]\n${extra}  http:\n${http}\n`;

  it('normalizes a full route', () => {
    const cfg = parseYaml(vs(`  - name: r1
    match:
    - uri: { prefix: /api }
      ignoreUriCase: true
      headers:
        x-a: { exact: "1" }
        x-present: {}
      withoutHeaders:
        x-b: { prefix: no }
      queryParams:
        q: { regex: "[0-9]+" }
      method: { exact: GET }
      port: 9080
      sourceLabels: { app: productpage }
      sourceNamespace: default
      gateways: [mesh]
    route:
    - destination: { host: reviews, subset: v2, port: { number: 9080 } }
      weight: "75"
      headers:
        request: { set: { X-Set: a }, add: { x-add: b }, remove: [X-Remove] }
    - destination: { host: reviews, subset: "" }
      weight: 25
    rewrite: { uri: /v2, authority: b.com }
    timeout: 1.5s
    headers:
      response: { set: { x-r: "1" } }`));
    const r = cfg.virtualServices[0].http[0];
    expect(r.name).toBe('r1');
    expect(r.match[0]).toEqual({
      name: undefined,
      uri: { prefix: '/api' },
      scheme: undefined,
      method: { exact: 'GET' },
      authority: undefined,
      headers: [['x-a', { exact: '1' }], ['x-present', undefined]],
      withoutHeaders: [['x-b', { prefix: 'no' }]],
      queryParams: [['q', { regex: '[0-9]+' }]],
      port: 9080,
      sourceLabels: { app: 'productpage' },
      sourceNamespace: 'default',
      gateways: ['mesh'],
      ignoreUriCase: true,
    });
    expect(r.route).toEqual([
      {
        destination: { host: 'reviews', subset: 'v2', port: 9080 },
        weight: 75,
        headers: { request: { set: [['x-set', 'a']], add: [['x-add', 'b']], remove: ['x-remove'] }, response: undefined },
      },
      { destination: { host: 'reviews', subset: undefined, port: undefined }, weight: 25, headers: undefined },
    ]);
    expect(r.rewrite).toEqual({ uri: '/v2', authority: 'b.com', uriRegexRewrite: undefined });
    expect(r.timeoutMs).toBe(1500);
    expect(r.headers?.response?.set).toEqual([['x-r', '1']]);
  });

  const rejects: [string, string, string, RegExp][] = [
    ['no action', '  - match: [{ uri: { prefix: / } }]', 'spec.http[0]', /one of route, redirect, directResponse or delegate is required/],
    [
      'route + redirect',
      '  - route: [{ destination: { host: a } }]\n    redirect: { uri: /x }',
      'spec.http[0]',
      /mutually exclusive/,
    ],
    ['rewrite with redirect', '  - redirect: { uri: /x }\n    rewrite: { uri: /y }', 'spec.http[0].rewrite', /rewrite requires a route/],
    [
      'uri and uriRegexRewrite',
      '  - route: [{ destination: { host: a } }]\n    rewrite: { uri: /y, uriRegexRewrite: { match: a, rewrite: b } }',
      'spec.http[0].rewrite',
      /mutually exclusive/,
    ],
    ['two string matchers', '  - match: [{ uri: { exact: /a, prefix: /a } }]\n    route: [{ destination: { host: a } }]', 'spec.http[0].match[0].uri', /only one of exact, prefix or regex/],
    ['upper-case header', '  - match: [{ headers: { X-User: { exact: a } } }]\n    route: [{ destination: { host: a } }]', 'spec.http[0].match[0].headers.X-User', /must be lower case/],
    ['destination without host', '  - route: [{ destination: { subset: v1 } }]', 'spec.http[0].route[0].destination.host', /expected a string, got nothing/],
    ['route without destination', '  - route: [{ weight: 100 }]', 'spec.http[0].route[0].destination', /destination is required/],
    ['negative weight', '  - route: [{ destination: { host: a }, weight: -1 }]', 'spec.http[0].route[0].weight', /must be between 0 and/],
    ['bad timeout', '  - route: [{ destination: { host: a } }]\n    timeout: 10', 'spec.http[0].timeout', /expected a string, got number 10/],
    ['bad timeout unit', '  - route: [{ destination: { host: a } }]\n    timeout: 10x', 'spec.http[0].timeout', /expected a duration/],
    ['redirect code', '  - redirect: { uri: /x, redirectCode: 200 }', 'spec.http[0].redirect.redirectCode', /between 300 and 399/],
    ['redirect port + derivePort', '  - redirect: { port: 8080, derivePort: FROM_REQUEST_PORT }', 'spec.http[0].redirect.derivePort', /mutually exclusive/],
    ['directResponse status', '  - directResponse: { status: 99 }', 'spec.http[0].directResponse.status', /between 200 and 599/],
    ['delegate with route', '  - delegate: { name: x }\n    route: [{ destination: { host: a } }]', 'spec.http[0].route', /a route with delegate must not set route/],
    ['delegate with redirect', '  - delegate: { name: x }\n    redirect: { uri: /x }', 'spec.http[0].redirect', /a route with delegate must not set redirect/],
    ['delegate without name', '  - delegate: { namespace: x }', 'spec.http[0].delegate.name', /expected a string/],
    ['match port', '  - match: [{ port: 70000 }]\n    route: [{ destination: { host: a } }]', 'spec.http[0].match[0].port', /between 1 and 65535/],
    ['destination port', '  - route: [{ destination: { host: a, port: { number: 0 } } }]', 'spec.http[0].route[0].destination.port.number', /between 1 and 65535/],
    ['header op name', '  - route: [{ destination: { host: a } }]\n    headers: { request: { set: { "x bad": v } } }', 'spec.http[0].headers.request.set.x bad', /invalid header name/],
    ['fault not an object', '  - route: [{ destination: { host: a } }]\n    fault: yes', 'spec.http[0].fault', /expected an object/],
  ];
  it.each(rejects)('rejects %s', (_name, http, path, reason) => {
    const err = parseError(vs(http));
    expect(err.location.field).toBe(path);
    expect(err.reason).toMatch(reason);
    expect(err.location.kind).toBe('VirtualService');
  });

  it('requires at least one route; without hosts it is a delegate: no gateways, tcp, tls or further delegation', () => {
    const mk = (spec: string) => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: v }\nspec:\n${spec}`;
    expect(parseError(mk('  gateways: [gw]\n  http: [{ route: [{ destination: { host: a } }] }]\n')).location.field).toBe('spec.gateways');
    expect(parseError(mk('  tcp: [{ route: [{ destination: { host: a } }] }]\n')).location.field).toBe('spec.tcp');
    expect(parseError(mk('  http: [{ delegate: { name: other } }]\n')).reason).toMatch(/cannot delegate again/);
    const cfg = parseYaml(mk('  http: [{ route: [{ destination: { host: a } }] }]\n'));
    expect(cfg.virtualServices).toEqual([]); // a delegate stands for nothing on its own
    expect(cfg.warnings).toContainEqual(expect.stringMatching(/VirtualService default\/v: a delegate \(no hosts\) that no root VirtualService names; unused/));
    expect(parseError('apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: v }\nspec:\n  hosts: [a]\n').reason).toMatch(/at least one route/);
    expect(parseError('apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: v }\nspec:\n  hosts: ["a", ""]\n  http: [{ route: [{ destination: { host: a } }] }]\n').location.field).toBe('spec.hosts[1]');
  });

  it('rejects the "*" host for VirtualServices that apply to the mesh (as Istio validation does)', () => {
    const mk = (gateways: string) =>
      `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: all }\nspec:\n  hosts: ["*"]\n${gateways}  http: [{ route: [{ destination: { host: a } }] }]\n`;
    expect(parseYaml(mk('  gateways: [istio-system/gw]\n')).virtualServices).toHaveLength(1);
    for (const g of ['', '  gateways: [mesh]\n', '  gateways: [istio-system/gw, mesh]\n']) {
      const err = parseError(mk(g));
      expect(err.location.field, g).toBe('spec.hosts[0]');
      expect(err.reason).toMatch(/wildcard host \* is not allowed/);
    }
  });

  it('parses tcp and tls routes (no warning: they are enforced)', () => {
    const cfg = parseYaml(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: tcp, namespace: ns }
spec:
  hosts: [a]
  tcp:
  - match: [{ port: 3306, destinationSubnets: [10.0.0.0/8, 192.168.1.1], sourceLabels: { app: x }, sourceNamespace: ns, gateways: [mesh] }]
    route:
    - { destination: { host: a, subset: v1, port: { number: 3306 } }, weight: 80 }
    - { destination: { host: b }, weight: 20 }
  - route: [{ destination: { host: a } }]
  tls:
  - match: [{ port: 443, sniHosts: [A.example.com, "*.b.example.com"] }]
    route: [{ destination: { host: a } }]
`);
    expect(cfg.warnings).toEqual([]);
    const v = cfg.virtualServices[0];
    expect(v.http).toEqual([]);
    expect(v.tcp).toEqual([
      {
        match: [{ destinationSubnets: ['10.0.0.0/8', '192.168.1.1'], port: 3306, sourceLabels: { app: 'x' }, sourceNamespace: 'ns', gateways: ['mesh'] }],
        route: [
          { destination: { host: 'a', subset: 'v1', port: 3306 }, weight: 80 },
          { destination: { host: 'b', subset: undefined, port: undefined }, weight: 20 },
        ],
      },
      { match: [], route: [{ destination: { host: 'a', subset: undefined, port: undefined }, weight: undefined }] },
    ]);
    expect(v.tls).toHaveLength(1);
    expect(v.tls[0].match).toMatchObject([{ port: 443, destinationSubnets: [], gateways: [], sniHosts: ['a.example.com', '*.b.example.com'] }]);
    expect(v.tls[0].route).toEqual([{ destination: { host: 'a', subset: undefined, port: undefined }, weight: undefined }]);
    // a VirtualService with http routes only has empty tcp and tls lists
    const httpOnly = parseYaml(vs('  - route: [{ destination: { host: a } }]')).virtualServices[0];
    expect([httpOnly.tcp, httpOnly.tls]).toEqual([[], []]);
  });

  it('rejects malformed tcp and tls routes, naming the field', () => {
    const mk = (routes: string) => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: l4 }\nspec:\n  hosts: [a]\n${routes}\n`;
    const cases: [string, string, RegExp][] = [
      ['  tls: [{ route: [{ destination: { host: a } }] }]', 'spec.tls[0].match', /at least one match with sniHosts/],
      ['  tls: [{ match: [{ port: 443 }], route: [{ destination: { host: a } }] }]', 'spec.tls[0].match[0].sniHosts', /sniHosts is required/],
      ['  tls: [{ match: [{ sniHosts: ["a.*.com"] }], route: [{ destination: { host: a } }] }]', 'spec.tls[0].match[0].sniHosts[0]', /invalid SNI host/],
      ['  tcp: [{ match: [{ destinationSubnets: [not-a-cidr] }], route: [{ destination: { host: a } }] }]', 'spec.tcp[0].match[0].destinationSubnets[0]', /not an IP address or CIDR/],
      ['  tcp: [{ match: [{ sourceSubnet: 10.0.0.0/8 }], route: [{ destination: { host: a } }] }]', 'spec.tcp[0].match[0].sourceSubnet', /not supported/],
      ['  tcp: [{ match: [{ sniHosts: [a] }], route: [{ destination: { host: a } }] }]', 'spec.tcp[0].match[0].sniHosts', /./],
      ['  tcp: [{ route: [] }]', 'spec.tcp[0].route', /at least one route destination/],
      ['  tcp: [{ route: [{ weight: 100 }] }]', 'spec.tcp[0].route[0].destination', /destination is required/],
      ['  tcp: [{ route: [{ destination: { host: a } }, { destination: { host: b } }] }]', 'spec.tcp[0].route', /weights are required/],
    ];
    for (const [routes, field, reason] of cases) {
      const err = parseError(mk(routes));
      expect(err.location.field, routes).toBe(field);
      expect(err.reason, routes).toMatch(reason);
    }
  });

  it('parses corsPolicy: origin matchers (or the deprecated allowOrigin as exact ones), the lists, maxAge, credentials, unmatchedPreflights', () => {
    const cfg = parseYaml(vs(`  - route: [{ destination: { host: a } }]
    corsPolicy:
      allowOrigins: [{ exact: cors.com }, { prefix: "https://" }, { regex: ".*\\\\.example\\\\.com" }]
      allowMethods: [POST, GET]
      allowHeaders: [X-Foo-Bar]
      exposeHeaders: [X-Trace]
      maxAge: 24h
      allowCredentials: true
      unmatchedPreflights: IGNORE
  - route: [{ destination: { host: a } }]
    corsPolicy: { allowOrigin: [a.com, b.com], allowCredentials: { value: false } }`));
    expect(cfg.warnings).toEqual([]);
    const [first, second] = cfg.virtualServices[0].http;
    expect(first.corsPolicy).toEqual({
      allowOrigins: [{ exact: 'cors.com' }, { prefix: 'https://' }, { regex: '.*\\.example\\.com' }],
      allowMethods: ['POST', 'GET'], allowHeaders: ['X-Foo-Bar'], exposeHeaders: ['X-Trace'], maxAgeSeconds: 86400, allowCredentials: true, unmatchedPreflights: 'IGNORE',
    });
    expect(second.corsPolicy).toMatchObject({ allowOrigins: [{ exact: 'a.com' }, { exact: 'b.com' }], allowCredentials: false, unmatchedPreflights: 'UNSPECIFIED' });
    expect(parseError(vs('  - route: [{ destination: { host: a } }]\n    corsPolicy: { allowOrigins: [{}] }')).message).toMatch(/spec\.http\[0\]\.corsPolicy\.allowOrigins\[0\].*an origin matcher needs exact, prefix or regex/);
    expect(parseError(vs('  - route: [{ destination: { host: a } }]\n    corsPolicy: { allowOrigins: [{ regex: "(a" }] }')).message).toMatch(/invalid regular expression/);
  });

  it('parses mirror with mirrorPercentage, the deprecated mirrorPercent, and mirrors', () => {
    const one = parseYaml(vs('  - route: [{ destination: { host: a } }]\n    mirror: { host: b, subset: v2 }\n    mirrorPercentage: { value: 12.5 }'));
    expect(one.warnings).toEqual([]);
    expect(one.virtualServices[0].http[0]).toMatchObject({ mirror: { host: 'b', subset: 'v2', port: undefined }, mirrorPercent: 12.5, mirrors: [] });
    const old = parseYaml(vs('  - route: [{ destination: { host: a } }]\n    mirror: { host: b }\n    mirrorPercent: 40'));
    expect(old.virtualServices[0].http[0].mirrorPercent).toBe(40);
    expect(parseYaml(vs('  - route: [{ destination: { host: a } }]\n    mirror: { host: b }')).virtualServices[0].http[0].mirrorPercent).toBeUndefined();
    const many = parseYaml(vs('  - route: [{ destination: { host: a } }]\n    mirrors: [{ destination: { host: b } }, { destination: { host: c }, percentage: { value: 5 } }]'));
    expect(many.virtualServices[0].http[0].mirrors.map((m) => [m.destination.host, m.percent])).toEqual([['b', 100], ['c', 5]]);
    expect(parseError(vs('  - route: [{ destination: { host: a } }]\n    mirror: { host: b }\n    mirrors: [{ destination: { host: c } }]')).message).toMatch(/mutually exclusive/);
  });

  it('parses retries and fault (enforced, so no warning)', () => {
    const cfg = parseYaml(vs('  - route: [{ destination: { host: a } }]\n    retries: { attempts: 3, perTryTimeout: 2s, retryOn: "5xx,503,reset" }\n    fault: { delay: { fixedDelay: 1s }, abort: { grpcStatus: UNAVAILABLE, percentage: { value: 10 } } }'));
    expect(cfg.warnings).toEqual([]);
    expect(cfg.virtualServices[0].http[0].retries).toEqual({ attempts: 3, perTryTimeoutMs: 2000, retryOn: '5xx,503,reset', retryRemoteLocalities: undefined });
    // Istio: an unset percentage means no request is delayed
    expect(cfg.virtualServices[0].http[0].fault).toEqual({ delay: { fixedDelayMs: 1000, percent: 0 }, abort: { grpcStatus: 14, percent: 10 } });
  });

  it('rejects unknown retry conditions and an abort with both or neither status', () => {
    expect(parseError(vs('  - route: [{ destination: { host: a } }]\n    retries: { attempts: 1, retryOn: "5xx,sometimes" }')).message).toMatch(/spec\.http\[0\]\.retries\.retryOn: unknown retry condition "sometimes"/);
    expect(parseError(vs('  - route: [{ destination: { host: a } }]\n    fault: { abort: { httpStatus: 500, grpcStatus: INTERNAL } }')).message).toMatch(/exactly one of httpStatus or grpcStatus/);
    expect(parseError(vs('  - route: [{ destination: { host: a } }]\n    fault: { delay: { percentage: { value: 5 } } }')).message).toMatch(/fixedDelay is required/);
  });

  it('decodes a base64 directResponse body', () => {
    const cfg = parseYaml(vs('  - directResponse: { status: 503, body: { bytes: aGVsbG8= } }'));
    expect(cfg.virtualServices[0].http[0].directResponse).toEqual({ status: 503, body: 'hello' });
  });

  it('validates exportTo', () => {
    expect(parseError(vs('  - route: [{ destination: { host: a } }]', '  exportTo: ["~", "."]\n')).location.field).toBe('spec.exportTo');
    expect(parseError(vs('  - route: [{ destination: { host: a } }]', '  exportTo: [""]\n')).location.field).toBe('spec.exportTo[0]');
    expect(parseYaml(vs('  - route: [{ destination: { host: a } }]', '  exportTo: [".", "other"]\n')).virtualServices[0].exportTo).toEqual(['.', 'other']);
  });
});

describe('DestinationRule validation', () => {
  const dr = (spec: string) => `apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: dr }\nspec:\n${spec}\n`;

  it('normalizes traffic policies', () => {
    const cfg = parseYaml(dr(`  host: reviews
  trafficPolicy:
    loadBalancer: { simple: RANDOM }
    connectionPool:
      tcp: { connectTimeout: 250ms, maxConnections: 10 }
      http: { idleTimeout: 30s }
    portLevelSettings:
    - port: { number: 9080 }
      loadBalancer: { simple: ROUND_ROBIN }
  subsets:
  - name: v1
    labels: { version: v1 }
    trafficPolicy: { loadBalancer: { simple: LEAST_CONN } }`));
    const d = cfg.destinationRules[0];
    expect(d.host).toBe('reviews');
    expect(d.trafficPolicy).toEqual({ lbSimple: 'RANDOM', connectTimeoutMs: 250, maxConnections: 10, idleTimeoutMs: 30_000, portLevel: [{ port: 9080, lbSimple: 'ROUND_ROBIN' }] });
    expect(d.subsets).toEqual([{ name: 'v1', labels: { version: 'v1' }, trafficPolicy: { lbSimple: 'LEAST_CONN', portLevel: [] } }]);
  });

  it('warns about unenforced fields of the top-level trafficPolicy, not only of subsets', () => {
    const cfg = parseYaml(dr(`  host: reviews
  trafficPolicy:
    connectionPool:
      tcp: { maxConnections: 1, tcpKeepalive: { time: 10s } }
      http: { http1MaxPendingRequests: 1, useClientProtocol: true, h2UpgradePolicy: UPGRADE }
    tls: { mode: ISTIO_MUTUAL, credentialName: creds }`));
    expect(cfg.warnings).toHaveLength(1);
    expect(cfg.warnings[0]).toMatch(/^DestinationRule default\/dr: /);
    for (const f of ['connectionPool.tcp.tcpKeepalive', 'trafficPolicy.tls.credentialName']) {
      expect(cfg.warnings[0]).toContain(f);
    }
    // circuit breakers and outlier detection are enforced: no warning for them
    expect(cfg.warnings[0]).not.toContain('maxConnections');
    expect(cfg.warnings[0]).not.toContain('http1MaxPendingRequests');
  });

  it('warns about unenforced fields of a subset trafficPolicy', () => {
    const cfg = parseYaml(dr(`  host: reviews
  subsets:
  - name: v1
    labels: { version: v1 }
    trafficPolicy: { connectionPool: { tcp: { maxConnectionDuration: 1s } } }`));
    expect(cfg.warnings).toEqual(['DestinationRule default/dr: connectionPool.tcp.maxConnectionDuration accepted but not enforced yet']);
  });

  it.each([
    ['duplicate subset', '  host: a\n  subsets: [{ name: v1 }, { name: v1 }]', 'spec.subsets[1].name', /duplicate subset name "v1"/],
    ['bad lb', '  host: a\n  trafficPolicy: { loadBalancer: { simple: FASTEST } }', 'spec.trafficPolicy.loadBalancer.simple', /must be one of/],
    ['simple + consistentHash', '  host: a\n  trafficPolicy: { loadBalancer: { simple: RANDOM, consistentHash: { useSourceIp: true } } }', 'spec.trafficPolicy.loadBalancer', /mutually exclusive/],
    ['zero connect timeout', '  host: a\n  trafficPolicy: { connectionPool: { tcp: { connectTimeout: 0s } } }', 'spec.trafficPolicy.connectionPool.tcp.connectTimeout', /greater than 0/],
    ['missing host', '  subsets: []', 'spec.host', /expected a string/],
    ['subset labels', '  host: a\n  subsets: [{ name: v1, labels: [a] }]', 'spec.subsets[0].labels', /expected an object, got a list/],
    ['port level without port', '  host: a\n  trafficPolicy: { portLevelSettings: [{ loadBalancer: { simple: RANDOM } }] }', 'spec.trafficPolicy.portLevelSettings[0].port', /expected an object/],
  ])('rejects %s', (_n, spec, path, reason) => {
    const err = parseError(dr(spec));
    expect(err.location.field).toBe(path);
    expect(err.reason).toMatch(reason);
  });
});

describe('ServiceEntry / WorkloadEntry validation', () => {
  const se = (spec: string) => `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: se }\nspec:\n${spec}\n`;

  it('infers a port protocol from its name and names unnamed ports', () => {
    const cfg = parseYaml(se(`  hosts: [api.example.com]
  resolution: DNS
  ports:
  - { number: 80, name: http-web }
  - { number: 9090, name: grpc }
  - { number: 8443, name: https, protocol: tls }
  - { number: 3306 }
  - { number: 81, protocol: HTTP }`));
    expect(cfg.serviceEntries[0].ports.map((p) => [p.number, p.name, p.protocol])).toEqual([
      [80, 'http-web', 'HTTP'],
      [9090, 'grpc', 'GRPC'],
      [8443, 'https', 'TLS'],
      [3306, 'port-3306', 'UNSUPPORTED'],
      [81, 'http-81', 'HTTP'],
    ]);
    expect(cfg.serviceEntries[0].location).toBe('MESH_EXTERNAL');
  });

  it('endpoints with equal labels share one labels object (and so their LbEndpoints one metadata)', () => {
    const cfg = parseYaml(se(`  hosts: [a.com]
  ports: [{ number: 80, name: http }]
  endpoints:
  - { address: 1.1.1.1, labels: { app: a, version: v1 } }
  - { address: 1.1.1.2, labels: { app: a, version: v2 } }
  - { address: 1.1.1.3, labels: { version: v1, app: a } }
  - { address: 1.1.1.4, labels: { app: a } }`));
    const [v1, v2, v1again, short] = cfg.serviceEntries[0].endpoints.map((e) => e.labels);
    expect(v1again).toBe(v1);
    expect(v2).not.toBe(v1);
    expect(v2).toEqual({ app: 'a', version: 'v2' });
    expect(short).toEqual({ app: 'a' });
  });

  it('defaults resolution to NONE and endpoint weight to 1', () => {
    const cfg = parseYaml(se('  hosts: [a.com]\n  ports: [{ number: 80, name: http }]\n  endpoints: [{ address: 1.1.1.1 }, { address: 1.1.1.2, weight: 3 }]'));
    expect(cfg.serviceEntries[0].resolution).toBe('NONE');
    expect(cfg.serviceEntries[0].endpoints.map((e) => e.weight)).toEqual([1, 3]);
  });

  it.each([
    ['no hosts', '  ports: [{ number: 80, name: http }]', 'spec.hosts', /at least one host/],
    ['"*" host', '  hosts: ["*"]', 'spec.hosts[0]', /must be DNS names/],
    ['namespaced host', '  hosts: [ns/a.com]', 'spec.hosts[0]', /namespace prefix is not allowed/],
    ['duplicate port', '  hosts: [a.com]\n  ports: [{ number: 80, name: a }, { number: 80, name: b }]', 'spec.ports[1].number', /duplicate port 80/],
    ['unknown protocol', '  hosts: [a.com]\n  ports: [{ number: 80, name: a, protocol: SPDY }]', 'spec.ports[0].protocol', /unknown protocol "SPDY"/],
    ['STATIC with a DNS name', '  hosts: [a.com]\n  resolution: STATIC\n  endpoints: [{ address: 1.2.3.4 }, { address: db.example.com }]', 'spec.endpoints[1].address', /resolution STATIC needs IP addresses/],
    ['wildcard with DNS', '  hosts: ["*.a.com"]\n  resolution: DNS', 'spec.resolution', /wildcard hosts cannot use DNS resolution/],
    ['selector + endpoints', '  hosts: [a.com]\n  workloadSelector: { labels: { app: a } }\n  endpoints: [{ address: 1.1.1.1 }]', 'spec.workloadSelector', /mutually exclusive/],
    ['endpoint port', '  hosts: [a.com]\n  endpoints: [{ address: 1.1.1.1, ports: { http: 0 } }]', 'spec.endpoints[0].ports.http', /between 1 and 65535/],
    ['bad location', '  hosts: [a.com]\n  location: INTERNAL', 'spec.location', /must be one of MESH_EXTERNAL, MESH_INTERNAL/],
    // Istio's unix endpoint rules (ValidateUnixAddress, validateWorkloadEntry)
    ['relative unix path', '  hosts: [a.com]\n  ports: [{ number: 80, name: http }]\n  endpoints: [{ address: "unix://run/a.sock" }]', 'spec.endpoints[0].address', /"run\/a\.sock" is not an absolute path to a file/],
    ['unix directory', '  hosts: [a.com]\n  ports: [{ number: 80, name: http }]\n  endpoints: [{ address: "unix:///run/" }]', 'spec.endpoints[0].address', /not an absolute path to a file/],
    ['empty unix address', '  hosts: [a.com]\n  ports: [{ number: 80, name: http }]\n  endpoints: [{ address: "unix://" }]', 'spec.endpoints[0].address', /unix address must not be empty/],
    ['unix endpoint with ports', '  hosts: [a.com]\n  ports: [{ number: 80, name: http }]\n  endpoints: [{ address: "unix:///a.sock", ports: { http: 8080 } }]', 'spec.endpoints[0].ports', /must not include ports/],
    ['unix endpoints with two service ports', '  hosts: [a.com]\n  ports: [{ number: 80, name: http }, { number: 81, name: http-b }]\n  endpoints: [{ address: "unix:///a.sock" }]', 'spec.ports', /exactly 1 service port is required for unix socket endpoints/],
  ])('rejects %s', (_n, spec, path, reason) => {
    const err = parseError(se(spec));
    expect(err.location.field).toBe(path);
    expect(err.reason).toMatch(reason);
  });

  it('a WorkloadEntry needs an address', () => {
    const err = parseError('apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: { name: we }\nspec: { labels: { app: a } }\n');
    expect(err.location.field).toBe('spec.address');
    expect(err.reason).toBe('address is required');
  });
});

describe('Gateway / Sidecar validation', () => {
  const gw = (servers: string) =>
    `apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: gw }\nspec:\n  selector: { istio: ingressgateway }\n  servers:\n${servers}\n`;
  const sc = (spec: string) => `apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: sc }\nspec:\n${spec}\n`;

  it('normalizes servers', () => {
    const cfg = parseYaml(gw('  - port: { number: 8080, name: http-alt }\n    hosts: ["ns1/*.example.com", "./foo.com", "*"]'));
    expect(cfg.gateways[0].servers).toEqual([
      { port: { number: 8080, protocol: 'HTTP', name: 'http-alt' }, bind: undefined, hosts: ['ns1/*.example.com', './foo.com', '*'], hasTls: false, name: undefined },
    ]);
    expect(cfg.gateways[0].selector).toEqual({ istio: 'ingressgateway' });
  });

  it.each([
    ['no servers', '    []', 'spec.servers', /at least one server/],
    ['no hosts', '  - port: { number: 80, name: http, protocol: HTTP }\n    hosts: []', 'spec.servers[0].hosts', /at least one host/],
    ['bad host', '  - port: { number: 80, name: http, protocol: HTTP }\n    hosts: ["a/b/c"]', 'spec.servers[0].hosts[0]', /expected \[namespace\/\]dnsName/],
    ['bad dns name', '  - port: { number: 80, name: http, protocol: HTTP }\n    hosts: ["foo..com!"]', 'spec.servers[0].hosts[0]', /invalid host/],
    ['bad protocol', '  - port: { number: 80, name: http, protocol: HTTPX }\n    hosts: ["*"]', 'spec.servers[0].port.protocol', /unknown protocol/],
    ['no port', '  - hosts: ["*"]', 'spec.servers[0].port', /expected an object/],
  ])('Gateway: rejects %s', (_n, servers, path, reason) => {
    const err = parseError(gw(servers));
    expect(err.location.field).toBe(path);
    expect(err.reason).toMatch(reason);
  });

  it('TLS servers: certificate files are read (a missing one is an error naming the field); credentialName is kept for the loader', () => {
    const cfg = parseYaml(gw('  - port: { number: 443, name: https, protocol: HTTPS }\n    hosts: ["*"]\n    tls: { mode: SIMPLE, credentialName: c }'));
    expect(cfg.gateways[0].servers[0].tls).toMatchObject({ mode: 'SIMPLE', credentialName: 'c' });
    expect(cfg.gateways[0].servers[0].tls?.unsupported).toBeUndefined();
    const both = parseYaml(gw('  - port: { number: 443, name: https, protocol: HTTPS }\n    hosts: ["*"]\n    tls: { mode: SIMPLE, credentialNames: [a, b] }'));
    expect(both.gateways[0].servers[0].tls?.unsupported).toMatch(/credentialNames/);
    // with credentialName, Istio does not read the file fields (a missing file is no error then)
    const named = parseYaml(gw('  - port: { number: 443, name: https, protocol: HTTPS }\n    hosts: ["*"]\n    tls: { mode: SIMPLE, credentialName: c, serverCertificate: /nonexistent/a, privateKey: /b }'));
    expect(named.warnings.join('\n')).toMatch(/serverCertificate, privateKey ignored: credentialName "c" provides the certificates/);
    const err = parseError(gw('  - port: { number: 443, name: https, protocol: HTTPS }\n    hosts: ["*"]\n    tls: { mode: SIMPLE, serverCertificate: /nonexistent/cert.pem, privateKey: /nonexistent/key.pem }'));
    expect(err.message).toMatch(/spec\.servers\[0\]\.tls\.serverCertificate: cannot read \/nonexistent\/cert\.pem: ENOENT/);
    expect(parseError(gw('  - port: { number: 443, name: https, protocol: HTTPS }\n    hosts: ["*"]\n    tls: { mode: MUTUAL, serverCertificate: /a, privateKey: /b }')).message).toMatch(/caCertificates is required when mode is MUTUAL/);
  });

  it('normalizes a Sidecar', () => {
    const cfg = parseYaml(sc(`  workloadSelector: { labels: { app: reviews } }
  ingress:
  - port: { number: 9080, name: http, protocol: HTTP }
    defaultEndpoint: 127.0.0.1:8080
  egress:
  - port: { number: 9080, name: http }
    captureMode: NONE
    hosts: ["./*", "istio-system/*"]
  - hosts: ["*/*"]
  outboundTrafficPolicy: { mode: REGISTRY_ONLY }`));
    const s = cfg.sidecars[0];
    expect(s.workloadSelector).toEqual({ app: 'reviews' });
    expect(s.ingress).toEqual([{ port: { number: 9080, protocol: 'HTTP', name: 'http' }, bind: undefined, captureMode: undefined, defaultEndpoint: '127.0.0.1:8080' }]);
    expect(s.egress).toEqual([
      { port: { number: 9080, protocol: 'HTTP', name: 'http' }, bind: undefined, captureMode: 'NONE', hosts: ['./*', 'istio-system/*'] },
      { port: undefined, bind: undefined, captureMode: undefined, hosts: ['*/*'] },
    ]);
    expect(s.outboundTrafficPolicy).toBe('REGISTRY_ONLY');
  });

  it.each([
    ['egress host without namespace', '  egress: [{ hosts: ["reviews.default.svc.cluster.local"] }]', 'spec.egress[0].hosts[0]', /expected namespace\/dnsName/],
    ['egress without hosts', '  egress: [{ port: { number: 80, name: http } }]', 'spec.egress[0].hosts', /at least one host/],
    ['ingress without port', '  ingress: [{ defaultEndpoint: 127.0.0.1:8080 }]', 'spec.ingress[0].port', /port is required/],
    ['captureMode', '  egress: [{ hosts: ["./*"], captureMode: SOMETIMES }]', 'spec.egress[0].captureMode', /must be one of DEFAULT, IPTABLES, NONE/],
    ['outbound policy', '  outboundTrafficPolicy: { mode: DENY }', 'spec.outboundTrafficPolicy.mode', /must be one of REGISTRY_ONLY, ALLOW_ANY/],
  ])('Sidecar: rejects %s', (_n, spec, path, reason) => {
    const err = parseError(sc(spec));
    expect(err.location.field).toBe(path);
    expect(err.reason).toMatch(reason);
  });
});

describe('IstioConfigParser', () => {
  it('keeps no document: the loader drops each file\'s YAML values once parsed', () => {
    const docs = parseDocuments('mesh.yaml', `${VS_WEIGHT_X.replace('"x"', '50')}---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ext }
spec:
  hosts: [ext.example.com]
  ports: [{ number: 80, name: http }]
  resolution: STATIC
  endpoints: [{ address: 10.0.0.1, labels: { app: ext } }]
`);
    const parser = new IstioConfigParser({ defaultNamespace: 'default' });
    for (const doc of docs) parser.add(doc);
    const cfg = parser.finish();
    expect(cfg.serviceEntries[0].endpoints[0].labels).toEqual({ app: 'ext' });
    // every object the parsed config reaches, against the documents and every object of their values
    const reached = new Set<unknown>();
    const walk = (v: unknown): void => {
      if (typeof v !== 'object' || v === null || reached.has(v)) return;
      reached.add(v);
      for (const x of Object.values(v)) walk(x);
    };
    walk(cfg);
    const raw = new Set<unknown>(docs);
    const collect = (v: unknown): void => {
      if (typeof v !== 'object' || v === null) return;
      raw.add(v);
      for (const x of Object.values(v)) collect(x);
    };
    for (const d of docs) collect(d.value);
    expect([...raw].filter((o) => reached.has(o))).toEqual([]);
  });
});
