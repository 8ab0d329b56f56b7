import { describe, expect, it } from 'vitest';
import { describeRouteDomains } from '../../../src/cli/proxy-config/routes.js';
import { ProxyConfigError, writeRouteDump, writeRouteSummary, type ConfigDump } from '../../../src/cli/proxy-config/index.js';
import { istioctlDump } from './fixtures.js';

const routeConfig = (name: string, virtual_hosts: object[]) => ({ route_config: { '@type': 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration', name, virtual_hosts } });
const vs = (name: string) => ({ filter_metadata: { istio: { config: `/apis/networking.istio.io/v1/namespaces/default/virtual-service/${name}` } } });

const DUMP: ConfigDump = {
  configs: [
    {
      '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
      dynamic_route_configs: [
        routeConfig('9080', [{ name: 'example.com:9080', domains: ['example.com'], routes: [{ match: { path: '/exact' }, direct_response: { status: 200 } }] }]),
        routeConfig('80', [
          { name: 'allow_any', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'PassthroughCluster' } }] },
          {
            name: 'reviews.default.svc.cluster.local:80',
            domains: ['reviews.default.svc.cluster.local', 'reviews.default.svc.cluster.local:80', 'reviews', 'reviews:80', 'reviews.default.svc', 'reviews.default.svc:80', 'reviews.default', 'reviews.default:80', '10.96.1.1', '10.96.1.1:80'],
            routes: [
              { match: { prefix: '/api', headers: [{ name: 'x-canary', exact_match: 'true' }] }, route: { weighted_clusters: { clusters: [] } }, metadata: vs('reviews') },
              { match: { prefix: '/' }, route: { cluster: 'outbound|80||reviews.default.svc.cluster.local' }, metadata: vs('reviews') },
            ],
          },
          { name: 'block_all', domains: ['*'] },
        ]),
      ],
      static_route_configs: [routeConfig('15010', [{ name: 'x', domains: ['*'], routes: [{ match: { safe_regex: { regex: '.*' } }, route: { cluster: 'x' } }] }])],
    },
  ],
};

describe('proxy-config routes', () => {
  it("istioctl's route test dump: unnamed static configs keep their place", () => {
    expect(writeRouteSummary(istioctlDump('writer/envoy/configdump/testdata/routes/istio-gateway-http-route-prefix/configdump.json'))).toBe(
      [
        'NAME          VHOST NAME                 DOMAINS                 MATCH                  VIRTUAL SERVICE',
        'http.8080     httpbin.example.com:80     httpbin.example.com     /get*                  httpbin.default',
        '              backend                    *                       /stats/prometheus*     ',
        '              backend                    *                       /healthz/ready*        ',
        '',
      ].join('\n'),
    );
  });

  it('the describe test dumps: one row per route with its VirtualService', () => {
    expect(writeRouteSummary(istioctlDump('describe/testdata/describe/http_config.json'))).toBe(
      [
        'NAME          VHOST NAME     DOMAINS     MATCH                 VIRTUAL SERVICE',
        'http.8080     *:80           *           /productpage          bookinfo.default',
        'http.8080     *:80           *           /static*              bookinfo.default',
        'http.8080     *:80           *           /login                bookinfo.default',
        'http.8080     *:80           *           /logout               bookinfo.default',
        'http.8080     *:80           *           /api/v1/products*     bookinfo.default',
        '',
      ].join('\n'),
    );
    expect(writeRouteSummary(istioctlDump('describe/testdata/describe/tls_config.json')).split('\n')[1]).toBe(
      'https.443.https.bookinfo-gateway.default     *:443          *           /productpage          bookinfo.default',
    );
  });

  it('numeric names sorted, PassthroughCluster routes left out, a virtual host without routes is a 404, domains shortened', () => {
    expect(writeRouteSummary(DUMP)).toBe(
      [
        'NAME      VHOST NAME                               DOMAINS                                  MATCH        VIRTUAL SERVICE',
        '80        reviews.default.svc.cluster.local:80     reviews, reviews.default + 1 more...     /api*        reviews.default',
        '80        reviews.default.svc.cluster.local:80     reviews, reviews.default + 1 more...     /*           reviews.default',
        '80        block_all                                *                                        /*           404',
        '9080      example.com:9080                         example.com                              /exact       ',
        '15010     x                                        *                                        regex .*     ',
        '',
      ].join('\n'),
    );
  });

  it('istioctl leaves names that are not numbers where they are', () => {
    const names = (...list: string[]) =>
      writeRouteSummary({ configs: [{ '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump', dynamic_route_configs: list.map((n) => routeConfig(n, [])) }] }, { verbose: false })
        .split('\n')
        .slice(1, -1)
        .map((l) => l.split(' ')[0]);
    expect(names('9080', '80', '15010')).toEqual(['80', '9080', '15010']);
    expect(names('9080', 'x', '80', '15010')).toEqual(['9080', 'x', '80', '15010']);
  });

  it('not verbose: the number of virtual hosts; --name selects one configuration; NAME prefixed in `all`', () => {
    expect(writeRouteSummary(DUMP, { verbose: false })).toBe(['NAME      VIRTUAL HOSTS', '80        3', '9080      1', '15010     1', ''].join('\n'));
    expect(writeRouteSummary(DUMP, { name: '9080' })).toBe(
      ['NAME     VHOST NAME           DOMAINS         MATCH      VIRTUAL SERVICE', '9080     example.com:9080     example.com     /exact     ', ''].join('\n'),
    );
    expect(writeRouteSummary(DUMP, { name: '9080', verbose: false }, { includeConfigType: true })).toBe(['NAME           VIRTUAL HOSTS', 'route/9080     1', ''].join('\n'));
  });

  it('DOMAINS: one as is; else the port-less ones (IPv6 in brackets kept), FQDN forms folded, two at most', () => {
    expect(describeRouteDomains([])).toBe('');
    expect(describeRouteDomains(['example.com:8080'])).toBe('example.com:8080');
    expect(describeRouteDomains(['example.com', 'example.com:8080', '1.2.3.4', '1.2.3.4:8080'])).toBe('example.com, 1.2.3.4');
    expect(describeRouteDomains(['example.com', 'example.com:8080', '[fd00:10:96::7fc7]', '[fd00:10:96::7fc7]:8080'])).toBe('example.com, [fd00:10:96::7fc7]');
    expect(describeRouteDomains(['example.com', 'www.example.com', 'www.example.com:8080', '[fd00:10:96::7fc7]'])).toBe('example.com, www.example.com + 1 more...');
    expect(describeRouteDomains(['a.ns.svc.cluster.local', 'a.ns.svc', 'a.ns'])).toBe('a.ns');
  });

  it('the errors istioctl reports', () => {
    expect(() => writeRouteSummary({ configs: [{ '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump' }] })).toThrow(new ProxyConfigError('no routes found'));
    expect(() => writeRouteSummary({ configs: [] })).toThrow('config dump has no configuration type type.googleapis.com/envoy.admin.v3.RoutesConfigDump');
  });

  it('-o json / -o yaml: the matching configurations in that order', () => {
    expect(writeRouteDump(DUMP, { name: '9080' }, 'json')).toBe(
      [
        '[',
        '    {',
        '        "name": "9080",',
        '        "virtualHosts": [',
        '            {',
        '                "name": "example.com:9080",',
        '                "domains": [',
        '                    "example.com"',
        '                ],',
        '                "routes": [',
        '                    {',
        '                        "match": {',
        '                            "path": "/exact"',
        '                        },',
        '                        "directResponse": {',
        '                            "status": 200',
        '                        }',
        '                    }',
        '                ]',
        '            }',
        '        ]',
        '    }',
        ']',
        '',
      ].join('\n'),
    );
    expect(writeRouteDump(DUMP, { name: '9080' }, 'yaml')).toBe(
      ['- name: "9080"', '  virtualHosts:', '  - domains:', '    - example.com', '    name: example.com:9080', '    routes:', '    - directResponse:', '        status: 200', '      match:', '        path: /exact', '', ''].join('\n'),
    );
  });
});
