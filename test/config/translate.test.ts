import { DEFAULT_RETRY_POLICY } from '../../src/config/istio/translate-routes.js';
import { translateIstio, type Translation } from '../../src/config/istio/translate.js';
import { describe, expect, it } from 'vitest';
import type { Route, RouteAction, Snapshot } from '../../src/config/snapshot.js';
import { RequestView } from '../../src/router/request-view.js';
import { RouteTable } from '../../src/router/route-table.js';
import { compilePerRouteConfig } from '../../src/filters/http/registry.js';
import {
  BOOKINFO_SERVICES, parseError, parseYaml, cluster, hostsOf, clusterNames, gatewayNode, hcmOf, chainHcm, tcpProxyOf, listener, routeConfig, sidecarNode, targets, translate, vhost, vhostWithDomain,
} from './helpers.js';
import { hostEndpoints } from '../../src/config/endpoints.js';

const REVIEWS = 'reviews.default.svc.cluster.local';
const RATINGS = 'ratings.default.svc.cluster.local';

const REVIEWS_DR = `
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews }
spec:
  host: reviews
  subsets:
  - { name: v1, labels: { version: v1 } }
  - { name: v2, labels: { version: v2 } }
  - { name: v3, labels: { version: v3 } }
`;

function se(name: string, ns: string, spec: string): string {
  return `\n---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec}\n`;
}
function dr(name: string, ns: string, spec: string): string {
  return `\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec}\n`;
}
function vs(name: string, ns: string, spec: string): string {
  return `\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec}\n`;
}
function sidecar(name: string, ns: string, spec: string): string {
  return `\n---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec}\n`;
}
function gateway(name: string, ns: string, spec: string): string {
  return `\n---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec}\n`;
}

/**
 * What sidecar mode always emits for traffic capture, whatever the config: the inbound capture
 * listener and Istio's three special clusters (pinned in 'sidecar: traffic capture'). The name lists
 * of the other tests leave them out, so that they show what the config made. (virtualOutbound
 * stays in: it has always been there, carrying http_proxy.)
 */
const CAPTURE_LISTENERS = ['virtualInbound'];
const CAPTURE_CLUSTERS = ['BlackHoleCluster', 'InboundPassthroughClusterIpv4', 'PassthroughCluster'];
/** Listener names, sorted, without the capture-only listener (virtualInbound). */
function configuredListenerNames(t: Translation): string[] {
  return t.snapshot.listeners.map((l) => l.name).filter((n) => !CAPTURE_LISTENERS.includes(n)).sort();
}
/** Cluster names, sorted, without the capture clusters (PassthroughCluster, InboundPassthroughClusterIpv4, BlackHoleCluster). */
function configuredClusterNames(t: Translation): string[] {
  return clusterNames(t).filter((n) => !CAPTURE_CLUSTERS.includes(n));
}

/** The 15001 route config's virtual host for host:port. */
function outboundVhost(text: string, host: string, port: number, node = sidecarNode()) {
  return vhost(routeConfig(translate(text, node), 'http_proxy'), `${host}:${port}`);
}
function routeAction(r: Route): RouteAction {
  if (r.action.kind !== 'route') expect.fail(`route ${r.name} is ${r.action.kind}`);
  return r.action;
}

/** reviews on two ports, one endpoint (version v1), with REVIEWS_DR's subsets v1-v3. */
const REVIEWS_TWO_PORTS =
  se('reviews', 'default', `  hosts: [${REVIEWS}]
  resolution: STATIC
  ports: [{ number: 9080, name: http }, { number: 9090, name: grpc }]
  endpoints: [{ address: 10.0.0.1, labels: { version: v1 } }]`) + REVIEWS_DR;

// ------------------------------------------------------------------------------------------------
describe('clusters', () => {
  it('one cluster per service port and per DestinationRule subset, named as istiod names them', () => {
    const t = translate(REVIEWS_TWO_PORTS);
    expect(configuredClusterNames(t)).toEqual(
      [
        `outbound|9080||${REVIEWS}`, `outbound|9080|v1|${REVIEWS}`, `outbound|9080|v2|${REVIEWS}`, `outbound|9080|v3|${REVIEWS}`,
        `outbound|9090||${REVIEWS}`, `outbound|9090|v1|${REVIEWS}`, `outbound|9090|v2|${REVIEWS}`, `outbound|9090|v3|${REVIEWS}`,
      ].sort(),
    );
    expect(cluster(t, `outbound|9090|v2|${REVIEWS}`).service).toEqual({ host: REVIEWS, namespace: 'default', port: 9090, subset: 'v2' });
    expect(cluster(t, `outbound|9080||${REVIEWS}`).service).toEqual({ host: REVIEWS, namespace: 'default', port: 9080 });
  });

  it('endpoint ports map by port name, then targetPort, then the service port; subsets select by labels', () => {
    const t = translate(
      se('reviews', 'default', `  hosts: [${REVIEWS}]
  resolution: STATIC
  ports:
  - { number: 9080, name: http }
  - { number: 80, name: http-web, targetPort: 8080 }
  endpoints:
  - { address: 10.0.0.1, labels: { version: v1 }, ports: { http: 19080 } }
  - { address: 10.0.0.2, labels: { version: v2 }, ports: { http-web: 18080 }, weight: 5 }
  - { address: 10.0.0.3, labels: { version: v3 }, locality: us-east1/us-east1-b }`) + REVIEWS_DR,
    );
    const eps = (name: string) => hostsOf(t, name).map((e) => `${e.address}:${e.port}`);
    expect(eps(`outbound|9080||${REVIEWS}`)).toEqual(['10.0.0.1:19080', '10.0.0.2:9080', '10.0.0.3:9080']);
    expect(eps(`outbound|80||${REVIEWS}`)).toEqual(['10.0.0.1:8080', '10.0.0.2:18080', '10.0.0.3:8080']);
    expect(eps(`outbound|9080|v1|${REVIEWS}`)).toEqual(['10.0.0.1:19080']);
    expect(eps(`outbound|80|v2|${REVIEWS}`)).toEqual(['10.0.0.2:18080']);
    expect(eps(`outbound|9080|v3|${REVIEWS}`)).toEqual(['10.0.0.3:9080']);
    const all = cluster(t, `outbound|9080||${REVIEWS}`);
    expect(all.type).toBe('STATIC');
    const hosts = hostsOf(t, all.name);
    expect(hosts.map((e) => e.weight)).toEqual([1, 5, 1]);
    expect(hosts[2]).toEqual({ address: '10.0.0.3', port: 9080, weight: 1, priority: 0, healthStatus: 'HEALTHY', labels: { version: 'v3' }, locality: { region: 'us-east1', zone: 'us-east1-b', subZone: '' } });
    // Envoy's shape: the endpoints of one locality are grouped, the address is a socket address
    expect(t.snapshot.endpoints.find((a) => a.clusterName === all.name)?.endpoints[1]).toEqual({
      locality: { region: 'us-east1', zone: 'us-east1-b', subZone: '' },
      priority: 0,
      lbEndpoints: [{ endpoint: { address: { socketAddress: { address: '10.0.0.3', portValue: 9080 } } }, healthStatus: 'HEALTHY', loadBalancingWeight: 1, metadata: { labels: { version: 'v3' } } }],
    });
  });

  it("a subset cluster shares its LbEndpoints with the port's default cluster, and the ports keep their own", () => {
    const t = translate(REVIEWS_TWO_PORTS);
    const lbEndpoint = (name: string) => t.snapshot.endpoints.find((a) => a.clusterName === name)?.endpoints[0].lbEndpoints[0];
    expect(lbEndpoint(`outbound|9080|v1|${REVIEWS}`)).toBe(lbEndpoint(`outbound|9080||${REVIEWS}`));
    expect(lbEndpoint(`outbound|9090|v1|${REVIEWS}`)).toBe(lbEndpoint(`outbound|9090||${REVIEWS}`));
    expect(lbEndpoint(`outbound|9090||${REVIEWS}`)).not.toBe(lbEndpoint(`outbound|9080||${REVIEWS}`));
    expect(lbEndpoint(`outbound|9090||${REVIEWS}`)?.endpoint).toEqual({ address: { socketAddress: { address: '10.0.0.1', portValue: 9090 } } });
  });

  it('a subset whose labels match no endpoint has no endpoints (not all of them)', () => {
    const t = translate(
      se('reviews', 'default', `  hosts: [${REVIEWS}]
  resolution: STATIC
  ports: [{ number: 9080, name: http }]
  endpoints: [{ address: 10.0.0.1, labels: { version: v1 } }]`) + REVIEWS_DR,
    );
    expect(hostsOf(t, `outbound|9080|v2|${REVIEWS}`)).toEqual([]);
  });

  it('WorkloadEntries selected by a ServiceEntry workloadSelector in the same namespace become endpoints', () => {
    const we = (name: string, ns: string, spec: string) =>
      `\n---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: { name: ${name}, namespace: ${ns} }\nspec:\n${spec}\n`;
    const t = translate(
      se('vm', 'default', `  hosts: [details.vm.example]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 9080, name: http, targetPort: 8000 }]
  workloadSelector: { labels: { app: details } }`) +
        we('vm1', 'default', '  address: 192.168.1.10\n  labels: { app: details, version: v1 }\n  ports: { http: 9999 }') +
        we('vm2', 'default', '  address: 192.168.1.11\n  labels: { app: details, version: v2 }\n  weight: 3') +
        we('other-app', 'default', '  address: 192.168.1.12\n  labels: { app: ratings }') +
        we('other-ns', 'elsewhere', '  address: 192.168.1.13\n  labels: { app: details }') +
        dr('details', 'default', '  host: details.vm.example\n  subsets: [{ name: v2, labels: { version: v2 } }]'),
    );
    expect(hostsOf(t, 'outbound|9080||details.vm.example')).toMatchObject([
      { address: '192.168.1.10', port: 9999, weight: 1, labels: { app: 'details', version: 'v1' } },
      { address: '192.168.1.11', port: 8000, weight: 3, labels: { app: 'details', version: 'v2' } },
    ]);
    expect(hostsOf(t, 'outbound|9080|v2|details.vm.example').map((e) => e.address)).toEqual(['192.168.1.11']);
  });

  it('DNS resolution without endpoints resolves the host itself (STRICT_DNS)', () => {
    const t = translate(
      se('httpbin', 'default', `  hosts: [httpbin.org]
  resolution: DNS
  ports: [{ number: 80, name: http }, { number: 8080, name: http-alt, targetPort: 80 }]`),
    );
    const c = cluster(t, 'outbound|80||httpbin.org');
    expect(c.type).toBe('STRICT_DNS');
    expect(hostsOf(t, c.name)).toMatchObject([{ address: 'httpbin.org', port: 80, weight: 1, labels: {} }]);
    expect(hostsOf(t, 'outbound|8080||httpbin.org')).toMatchObject([{ address: 'httpbin.org', port: 80, weight: 1, labels: {} }]);
  });

  it('DNS resolution with endpoints resolves the endpoint addresses', () => {
    const t = translate(
      se('db', 'default', `  hosts: [db.example.com]
  resolution: DNS_ROUND_ROBIN
  ports: [{ number: 80, name: http }]
  endpoints: [{ address: Primary.DB.example.com }, { address: 10.1.1.1 }]`),
    );
    const c = cluster(t, 'outbound|80||db.example.com');
    expect(c.type).toBe('STRICT_DNS');
    expect(hostsOf(t, c.name).map((e) => e.address)).toEqual(['primary.db.example.com', '10.1.1.1']);
  });

  it('resolution NONE is an ORIGINAL_DST passthrough cluster without endpoints', () => {
    const t = translate(
      se('ext', 'default', `  hosts: ["*.wikipedia.org"]
  resolution: NONE
  ports: [{ number: 80, name: http }]`) +
        se('with-eps', 'default', `  hosts: [x.example.com]
  resolution: NONE
  ports: [{ number: 80, name: http }]
  endpoints: [{ address: 1.1.1.1 }]`),
    );
    for (const name of ['outbound|80||*.wikipedia.org', 'outbound|80||x.example.com']) {
      const c = cluster(t, name);
      expect(c.type).toBe('ORIGINAL_DST');
      expect(c.lbPolicy).toBe('CLUSTER_PROVIDED');
      expect(t.snapshot.endpoints.some((a) => a.clusterName === name)).toBe(false);
    }
  });

  it('unix socket endpoints become pipe endpoints (path, no port)', () => {
    const t = translate(
      se('mixed', 'default', `  hosts: [mixed.example.com]
  resolution: STATIC
  ports: [{ number: 80, name: http }]
  endpoints: [{ address: "unix:///var/run/a.sock" }, { address: "unix://@abstract" }, { address: "2001:db8::1" }]`),
    );
    expect(hostsOf(t, 'outbound|80||mixed.example.com').map((e) => [e.address, e.port])).toEqual([['/var/run/a.sock', 0], ['@abstract', 0], ['2001:db8::1', 80]]);
    const addresses = t.snapshot.endpoints.find((a) => a.clusterName === 'outbound|80||mixed.example.com')!.endpoints[0].lbEndpoints.map((e) => e.endpoint.address);
    expect(addresses).toEqual([{ pipe: { path: '/var/run/a.sock' } }, { pipe: { path: '@abstract' } }, { socketAddress: { address: '2001:db8::1', portValue: 80 } }]);
  });

  it('maps the load balancer: default LEAST_REQUEST, ROUND_ROBIN, RANDOM, LEAST_CONN, PASSTHROUGH', () => {
    const svc = (n: string) => se(n, 'default', `  hosts: [${n}.example.com]\n  resolution: STATIC\n  ports: [{ number: 80, name: http }]\n  endpoints: [{ address: 1.1.1.1 }]`);
    const lb = (n: string, simple: string) => dr(n, 'default', `  host: ${n}.example.com\n  trafficPolicy: { loadBalancer: { simple: ${simple} } }`);
    const t = translate(
      svc('none') + svc('rr') + lb('rr', 'ROUND_ROBIN') + svc('rnd') + lb('rnd', 'RANDOM') + svc('lc') + lb('lc', 'LEAST_CONN') +
        svc('lr') + lb('lr', 'LEAST_REQUEST') + svc('pt') + lb('pt', 'PASSTHROUGH') + svc('un') + lb('un', 'UNSPECIFIED'),
    );
    const policy = (n: string) => cluster(t, `outbound|80||${n}.example.com`).lbPolicy;
    expect(policy('none')).toBe('LEAST_REQUEST');
    expect(policy('rr')).toBe('ROUND_ROBIN');
    expect(policy('rnd')).toBe('RANDOM');
    expect(policy('lc')).toBe('LEAST_REQUEST');
    expect(policy('lr')).toBe('LEAST_REQUEST');
    expect(policy('un')).toBe('LEAST_REQUEST');
    const pt = cluster(t, 'outbound|80||pt.example.com');
    expect(pt).toMatchObject({ type: 'ORIGINAL_DST', lbPolicy: 'CLUSTER_PROVIDED' });
    expect(hostsOf(t, pt.name)).toEqual([]);
  });

  it('applies subset and port-level policies over the rule-wide policy', () => {
    const t = translate(
      se('reviews', 'default', `  hosts: [${REVIEWS}]
  resolution: STATIC
  ports: [{ number: 9080, name: http }, { number: 9090, name: http-admin }]
  endpoints: [{ address: 10.0.0.1, labels: { version: v1 } }]`) +
        dr('reviews', 'default', `  host: reviews
  trafficPolicy:
    loadBalancer: { simple: RANDOM }
    connectionPool: { tcp: { connectTimeout: 2s }, http: { idleTimeout: 30s } }
    portLevelSettings:
    - port: { number: 9090 }
      loadBalancer: { simple: ROUND_ROBIN }
      connectionPool: { tcp: { connectTimeout: 500ms } }
  subsets:
  - name: v1
    labels: { version: v1 }
    trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } }
  - name: v2
    labels: { version: v2 }`),
    );
    const c = (n: string) => cluster(t, n);
    expect(c(`outbound|9080||${REVIEWS}`)).toMatchObject({ lbPolicy: 'RANDOM', connectTimeoutMs: 2000, idleTimeoutMs: 30_000 });
    expect(c(`outbound|9090||${REVIEWS}`)).toMatchObject({ lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 500, idleTimeoutMs: 30_000 });
    expect(c(`outbound|9080|v1|${REVIEWS}`)).toMatchObject({ lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 2000 });
    expect(c(`outbound|9080|v2|${REVIEWS}`)).toMatchObject({ lbPolicy: 'RANDOM', connectTimeoutMs: 2000 });
    expect(c(`outbound|9090|v2|${REVIEWS}`)).toMatchObject({ lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 500 });
  });

  it('defaults: 10s connect timeout (meshConfig), short upstream idle timeout', () => {
    const t = translate(BOOKINFO_SERVICES);
    expect(cluster(t, `outbound|9080||${REVIEWS}`)).toMatchObject({ connectTimeoutMs: 10_000, idleTimeoutMs: 4_000, lbPolicy: 'LEAST_REQUEST' });
  });
});

// ------------------------------------------------------------------------------------------------
describe('DestinationRule lookup', () => {
  // reviews lives in namespace bookinfo; the proxy is in namespace default
  const HOST = 'reviews.bookinfo.svc.cluster.local';
  const SVC = se('reviews', 'bookinfo', `  hosts: [${HOST}]\n  resolution: STATIC\n  ports: [{ number: 9080, name: http }]\n  endpoints: [{ address: 10.0.0.1 }]`);
  const IN_PROXY_NS = dr('client-side', 'default', `  host: ${HOST}\n  trafficPolicy: { loadBalancer: { simple: RANDOM } }\n  subsets: [{ name: from-default }]`);
  const IN_SERVICE_NS = dr('reviews', 'bookinfo', `  host: reviews\n  trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } }\n  subsets: [{ name: from-bookinfo }]`);
  const IN_ROOT = dr('mesh-wide', 'istio-system', `  host: "*.local"\n  trafficPolicy: { connectionPool: { tcp: { connectTimeout: 3s } } }\n  subsets: [{ name: from-root }]`);
  const ELSEWHERE = dr('stray', 'unrelated', `  host: ${HOST}\n  trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } }\n  subsets: [{ name: from-unrelated }]`);
  const subsets = (text: string) =>
    configuredClusterNames(translate(text)).map((n) => n.split('|')[2]).filter((s) => s !== '');
  const lbOf = (text: string) => cluster(translate(text), `outbound|9080||${HOST}`).lbPolicy;

  it("the proxy's namespace first", () => {
    const text = SVC + IN_SERVICE_NS + IN_ROOT + ELSEWHERE + IN_PROXY_NS;
    expect(subsets(text)).toEqual(['from-default']);
    expect(lbOf(text)).toBe('RANDOM');
  });

  it("then the service's namespace (short host resolved in the rule's namespace)", () => {
    const text = SVC + IN_ROOT + ELSEWHERE + IN_SERVICE_NS;
    expect(subsets(text)).toEqual(['from-bookinfo']);
    expect(lbOf(text)).toBe('ROUND_ROBIN');
  });

  it('then the root namespace istio-system, with wildcard hosts', () => {
    const text = SVC + ELSEWHERE + IN_ROOT;
    expect(subsets(text)).toEqual(['from-root']);
    expect(cluster(translate(text), `outbound|9080||${HOST}`).connectTimeoutMs).toBe(3000);
  });

  it('never a rule from an unrelated namespace', () => {
    expect(subsets(SVC + ELSEWHERE)).toEqual([]);
    expect(lbOf(SVC + ELSEWHERE)).toBe('LEAST_REQUEST');
  });

  it('a short host in another namespace means that namespace, not the service', () => {
    // "reviews" in namespace default is reviews.default.svc.cluster.local
    expect(subsets(SVC + dr('short', 'default', '  host: reviews\n  subsets: [{ name: wrong }]'))).toEqual([]);
  });

  it('skips a rule not exported to the proxy namespace', () => {
    const hidden = IN_SERVICE_NS.replace('  host: reviews\n', '  host: reviews\n  exportTo: ["."]\n');
    expect(subsets(SVC + IN_ROOT + hidden)).toEqual(['from-root']);
    const toDefault = IN_SERVICE_NS.replace('  host: reviews\n', '  host: reviews\n  exportTo: [default]\n');
    expect(subsets(SVC + IN_ROOT + toDefault)).toEqual(['from-bookinfo']);
  });

  it('within a namespace the more specific host wins, then the older rule', () => {
    const wildcard = dr('wild', 'default', '  host: "*.svc.cluster.local"\n  subsets: [{ name: wild }]');
    const exact = dr('exact', 'default', `  host: ${HOST}\n  subsets: [{ name: exact }]`);
    const exact2 = dr('exact2', 'default', `  host: ${HOST}\n  subsets: [{ name: exact-newer }]`);
    expect(subsets(SVC + wildcard + exact)).toEqual(['exact']);
    expect(subsets(SVC + exact + wildcard)).toEqual(['exact']);
    expect(subsets(SVC + exact + exact2)).toEqual(['exact']);
  });

  it('a rule with a workloadSelector applies only to matching proxies of its namespace', () => {
    const selected = dr('for-productpage', 'default', `  host: ${HOST}\n  workloadSelector: { matchLabels: { app: productpage } }\n  subsets: [{ name: selected }]`);
    const plain = dr('plain', 'default', `  host: ${HOST}\n  subsets: [{ name: plain }]`);
    expect(subsets(SVC + plain + selected)).toEqual(['selected']);
    const t = translate(SVC + plain + selected, sidecarNode({ labels: { app: 'ratings' } }));
    expect(configuredClusterNames(t).map((n) => n.split('|')[2]).filter(Boolean)).toEqual(['plain']);
  });
});

// ------------------------------------------------------------------------------------------------
describe('service visibility', () => {
  const svc = (name: string, ns: string, exportTo?: string) =>
    se(name, ns, `  hosts: [${name}.${ns}.svc.cluster.local]\n  resolution: STATIC\n  ports: [{ number: 80, name: http }]\n  endpoints: [{ address: 1.1.1.1 }]${exportTo ? `\n  exportTo: ${exportTo}` : ''}`);
  const hosts = (text: string) =>
    [...new Set(configuredClusterNames(translate(text)).map((n) => n.split('|')[3]))].sort();

  it('honours exportTo: ".", "*", "~" and namespace lists', () => {
    const text =
      svc('everywhere', 'other') +
      svc('star', 'other', '["*"]') +
      svc('local', 'other', '["."]') +
      svc('mine', 'default', '["."]') +
      svc('nowhere', 'default', '["~"]') +
      svc('listed', 'other', '[default, third]') +
      svc('unlisted', 'other', '[third]');
    expect(hosts(text)).toEqual([
      'everywhere.other.svc.cluster.local', 'listed.other.svc.cluster.local', 'mine.default.svc.cluster.local', 'star.other.svc.cluster.local',
    ]);
  });

  it("a host defined in several namespaces resolves to the proxy's namespace definition", () => {
    const other = se('dup', 'other', '  hosts: [shared.example.com]\n  resolution: STATIC\n  ports: [{ number: 80, name: http }]\n  endpoints: [{ address: 2.2.2.2 }]');
    const mine = se('dup', 'default', '  hosts: [shared.example.com]\n  resolution: STATIC\n  ports: [{ number: 80, name: http }]\n  endpoints: [{ address: 1.1.1.1 }]');
    const t = translate(other + mine);
    const c = cluster(t, 'outbound|80||shared.example.com');
    expect(hostsOf(t, c.name).map((e) => e.address)).toEqual(['1.1.1.1']);
    expect(c.service?.namespace).toBe('default');
    expect(t.snapshot.clusters.filter((x) => x.name === 'outbound|80||shared.example.com')).toHaveLength(1);
  });

  it('a VirtualService not exported to the proxy namespace does not apply', () => {
    const route = (exportTo: string) =>
      vs('r', 'default', `  hosts: [${REVIEWS}]\n  exportTo: ${exportTo}\n  http: [{ route: [{ destination: { host: ${REVIEWS}, subset: v2 } }] }]`);
    const other = sidecarNode({ namespace: 'other', labels: {} });
    const v = (text: string, node = sidecarNode()) => vhost(routeConfig(translate(text, node), 'http_proxy'), `${REVIEWS}:9080`);
    expect(v(BOOKINFO_SERVICES + route('["."]')).routes[0].name).toBe('r.0');
    expect(v(BOOKINFO_SERVICES + route('["."]'), other).routes[0].name).toBe('default');
    expect(v(BOOKINFO_SERVICES + route('["other"]'), other).routes[0].name).toBe('r.0');
    expect(v(BOOKINFO_SERVICES + route('["~"]')).routes[0].name).toBe('default');
  });
});

// ------------------------------------------------------------------------------------------------
describe('sidecar: the outbound listener', () => {
  it('is virtualOutbound on the outbound port with route config http_proxy', () => {
    const t = translate(BOOKINFO_SERVICES, sidecarNode(), 16001);
    const l = listener(t, 'virtualOutbound');
    expect(l).toMatchObject({ address: '0.0.0.0', port: 16001, direction: 'OUTBOUND' });
    expect(hcmOf(l).routeConfigName).toBe('http_proxy');
    expect(hcmOf(l).useRemoteAddress).toBe(false);
    expect(hcmOf(l).stripEnvoyHeaders).toBe(false);
    expect(hcmOf(l).statPrefix).toBe('outbound_0.0.0.0_16001');
    // it is the capture listener too: connections made to the port itself get the chain carrying http_proxy
    expect(l.useOriginalDst).toBe(true);
    expect(l.filterChains.find((c) => chainHcm(c)?.routeConfigName === 'http_proxy')).toMatchObject({ name: 'virtualOutbound-http-proxy', match: { destinationPort: 16001 } });
    expect(configuredListenerNames(t)).toEqual(['virtualOutbound']);
    expect(t.snapshot.node).toEqual(sidecarNode());
  });

  it("a service port's routes are one list on http_proxy and on its port's route configuration (built once; a worker compiles them once)", () => {
    const t = translate(BOOKINFO_SERVICES + REVIEWS_DR, sidecarNode());
    const onProxy = vhost(routeConfig(t, 'http_proxy'), `${REVIEWS}:9080`);
    const onPort = vhost(routeConfig(t, '9080'), `${REVIEWS}:9080`);
    expect(onPort.routes).toBe(onProxy.routes);
    expect(onPort.domains).not.toEqual(onProxy.domains);
  });

  it('serves every name a client may use: FQDN, name.ns.svc, name.ns, short name, VIP — with the port', () => {
    const v = outboundVhost(BOOKINFO_SERVICES, REVIEWS, 9080);
    expect([...v.domains].sort()).toEqual(
      [`${REVIEWS}:9080`, 'reviews.default.svc:9080', 'reviews.default:9080', 'reviews:9080', '10.96.0.10:9080'].sort(),
    );
  });

  it('bare names only for port 80', () => {
    const text = se('web', 'default', `  hosts: [web.default.svc.cluster.local]
  addresses: [10.96.0.20, 10.97.0.0/16]
  resolution: STATIC
  ports: [{ number: 80, name: http }, { number: 8080, name: http-alt }]
  endpoints: [{ address: 1.1.1.1 }]`);
    const rc = routeConfig(translate(text), 'http_proxy');
    expect([...vhost(rc, 'web.default.svc.cluster.local:80').domains].sort()).toEqual(
      [
        'web.default.svc.cluster.local', 'web.default.svc.cluster.local:80', 'web.default.svc', 'web.default.svc:80', 'web.default', 'web.default:80',
        'web', 'web:80', '10.96.0.20', '10.96.0.20:80',
      ].sort(),
    );
    const alt = vhost(rc, 'web.default.svc.cluster.local:8080').domains;
    expect(alt).toContain('web:8080');
    expect(alt).not.toContain('web');
    expect(alt).not.toContain('web.default.svc.cluster.local');
    expect(alt.some((d) => d.includes('/'))).toBe(false); // CIDR addresses are not domains
  });

  it('the short name only for services in the proxy namespace', () => {
    const text = se('x', 'other', '  hosts: [api.other.svc.cluster.local]\n  resolution: STATIC\n  ports: [{ number: 80, name: http }]\n  endpoints: [{ address: 1.1.1.1 }]');
    const d = outboundVhost(text, 'api.other.svc.cluster.local', 80).domains;
    expect(d).toContain('api.other');
    expect(d).toContain('api.other:80');
    expect(d).not.toContain('api');
    expect(d).not.toContain('api:80');
    const inOther = outboundVhost(text, 'api.other.svc.cluster.local', 80, sidecarNode({ namespace: 'other' })).domains;
    expect(inOther).toContain('api');
  });

  it('every advertised name resolves to its virtual host through the route table', () => {
    const t = translate(BOOKINFO_SERVICES + se('web', 'default', `  hosts: [web.default.svc.cluster.local]
  addresses: [10.96.0.20]
  resolution: STATIC
  ports: [{ number: 80, name: http }]
  endpoints: [{ address: 1.1.1.1 }]`));
    const table = new RouteTable(routeConfig(t, 'http_proxy'), compilePerRouteConfig);
    const hit = (authority: string) => table.findVirtualHost(authority)?.name;
    for (const a of [`${REVIEWS}:9080`, 'reviews.default.svc:9080', 'reviews.default:9080', 'reviews:9080', '10.96.0.10:9080']) {
      expect(hit(a), a).toBe(`${REVIEWS}:9080`);
    }
    for (const a of ['web', 'web:80', 'web.default', 'web.default.svc.cluster.local', '10.96.0.20', '10.96.0.20:80']) {
      expect(hit(a), a).toBe('web.default.svc.cluster.local:80');
    }
    expect(hit('reviews')).toBeUndefined(); // port 9080 must be named
    expect(hit('reviews:9081')).toBeUndefined();
    expect(hit('unknown.example.com')).toBeUndefined();
  });

  it('a wildcard ServiceEntry host is reachable on its HTTP ports, with or without the port in Host', () => {
    const t = translate(se('wiki', 'default', `  hosts: ["*.wikipedia.org"]
  resolution: NONE
  ports: [{ number: 80, name: http }, { number: 8080, name: http-alt }]`));
    const table = new RouteTable(routeConfig(t, 'http_proxy'), compilePerRouteConfig);
    expect(table.findVirtualHost('en.wikipedia.org')?.name).toBe('*.wikipedia.org:80');
    expect(table.findVirtualHost('en.wikipedia.org:80')?.name).toBe('*.wikipedia.org:80');
    expect(table.findVirtualHost('en.wikipedia.org:8080')?.name).toBe('*.wikipedia.org:8080');
  });

  it('non-Kubernetes hosts have only their own name', () => {
    const text = se('x', 'default', '  hosts: [api.example.com]\n  resolution: DNS\n  ports: [{ number: 80, name: http }]');
    expect(outboundVhost(text, 'api.example.com', 80).domains).toEqual(['api.example.com', 'api.example.com:80']);
  });

  it('non-HTTP ports get no virtual host', () => {
    const text = se('db', 'default', `  hosts: [db.default.svc.cluster.local]
  resolution: STATIC
  ports: [{ number: 3306, name: mysql }, { number: 9000, name: tcp-x }, { number: 8080, name: http2-x }, { number: 9090, protocol: GRPC, name: x }]
  endpoints: [{ address: 1.1.1.1 }]`);
    const names = routeConfig(translate(text), 'http_proxy').virtualHosts.map((v) => v.name).sort();
    expect(names).toEqual(['db.default.svc.cluster.local:8080', 'db.default.svc.cluster.local:9090']);
    // clusters exist for every port anyway (TCP proxying uses them)
    const t = translate(text);
    expect(configuredClusterNames(t)).toHaveLength(4);
    // the TCP ports are proxied through capture to those clusters
    const chains = listener(t, 'virtualOutbound').filterChains;
    for (const port of [3306, 9000]) {
      const c = chains.find((x) => x.match.destinationPort === port);
      expect(chainHcm(c), String(port)).toBeUndefined();
      expect(tcpProxyOf(c)?.clusters, String(port)).toEqual([{ name: `outbound|${port}||db.default.svc.cluster.local`, weight: 1 }]);
    }
  });

  it('a service without VirtualService gets the default route to its cluster', () => {
    const v = outboundVhost(BOOKINFO_SERVICES, RATINGS, 9080);
    expect(v.routes).toEqual([
      {
        name: 'default',
        match: { path: { prefix: '/' }, headers: [], queryParams: [] },
        // Istio's default retry policy applies to every route without `retries`
        action: { kind: 'route', clusters: [{ name: `outbound|9080||${RATINGS}`, weight: 100 }], retryPolicy: DEFAULT_RETRY_POLICY },
        // istiod's trace operation for the service port
        decorator: { operation: `${RATINGS}:9080/*` },
      },
    ]);
  });
});

// ------------------------------------------------------------------------------------------------
describe('sidecar: VirtualService routes', () => {
  const jasonV2 = vs('reviews', 'default', `  hosts: [reviews]
  http:
  - name: jason
    match:
    - headers: { end-user: { exact: jason } }
    - queryParams: { user: { exact: jason } }
    route: [{ destination: { host: reviews, subset: v2 } }]
  - match:
    - uri: { prefix: /v3 }
    route: [{ destination: { host: reviews, subset: v3 } }]
  - route: [{ destination: { host: reviews, subset: v1 } }]`);

  it('one route per match block, in order; short destination hosts resolved in the VirtualService namespace', () => {
    const v = outboundVhost(BOOKINFO_SERVICES + REVIEWS_DR + jasonV2, REVIEWS, 9080);
    expect(v.routes.map((r) => r.name)).toEqual(['jason', 'jason', 'reviews.1', 'reviews.2']);
    expect(v.routes.map((r) => targets(r))).toEqual([
      [[`outbound|9080|v2|${REVIEWS}`, 100]],
      [[`outbound|9080|v2|${REVIEWS}`, 100]],
      [[`outbound|9080|v3|${REVIEWS}`, 100]],
      [[`outbound|9080|v1|${REVIEWS}`, 100]],
    ]);
    expect(v.routes[0].match).toEqual({ path: { prefix: '/' }, headers: [{ name: 'end-user', match: { exact: 'jason' }, invert: false }], queryParams: [] });
    expect(v.routes[1].match).toEqual({ path: { prefix: '/' }, headers: [], queryParams: [{ name: 'user', match: { exact: 'jason' } }] });
    expect(v.routes[2].match.path).toEqual({ prefix: '/v3' });
    expect(v.routes.every((r) => r.source === '/apis/networking.istio.io/v1/namespaces/default/virtual-service/reviews')).toBe(true);
  });

  it('translates every match condition', () => {
    const text = BOOKINFO_SERVICES + vs('m', 'default', `  hosts: [ratings]
  http:
  - match:
    - uri: { exact: /ratings/0 }
      ignoreUriCase: true
      method: { exact: POST }
      scheme: { exact: http }
      authority: { prefix: ratings }
      headers: { x-present: {}, x-re: { regex: "a+" } }
      withoutHeaders: { x-debug: {}, x-env: { exact: prod } }
      queryParams: { q: {} }
    - uri: { regex: "/r/[0-9]+" }
      ignoreUriCase: true
    - uri: { prefix: /Ratings }
      ignoreUriCase: true
    route: [{ destination: { host: ratings } }]`);
    const [a, b, c] = outboundVhost(text, RATINGS, 9080).routes;
    expect(a.match).toEqual({
      path: { exact: '/ratings/0', ignoreCase: true },
      headers: [
        { name: ':authority', match: { prefix: 'ratings' }, invert: false },
        { name: ':method', match: { exact: 'POST' }, invert: false },
        { name: ':scheme', match: { exact: 'http' }, invert: false },
        { name: 'x-present', invert: false },
        { name: 'x-re', match: { regex: 'a+' }, invert: false },
        { name: 'x-debug', invert: true },
        { name: 'x-env', match: { exact: 'prod' }, invert: true },
      ],
      queryParams: [{ name: 'q' }],
    });
    expect(b.match.path).toEqual({ regex: '(?i)/r/[0-9]+' });
    expect(c.match.path).toEqual({ prefix: '/Ratings', ignoreCase: true });
  });

  it('an ignoreUriCase regex that already starts with (?i) still compiles in the data plane', () => {
    const text = vs('ci', 'default', `  hosts: [ci.example.com]
  http:
  - match: [{ uri: { regex: "(?i)/Docs/.*" }, ignoreUriCase: true }]
    directResponse: { status: 200 }`);
    const rc = routeConfig(translate(text), 'http_proxy');
    let table: RouteTable | undefined;
    expect(() => (table = new RouteTable(rc, compilePerRouteConfig))).not.toThrow();
    const v = table!.findVirtualHost('ci.example.com')!;
    expect(RouteTable.findRoute(v, new RequestView('GET', '/DOCS/intro', 'ci.example.com', 'http', []))?.name).toBe('ci.0');
  });

  it('weighted destinations keep their weights; a lone destination weighs 100; unweighted ones share equally', () => {
    const text = BOOKINFO_SERVICES + REVIEWS_DR + vs('w', 'default', `  hosts: [reviews]
  http:
  - match: [{ headers: { x-split: { exact: "1" } } }]
    route:
    - { destination: { host: reviews, subset: v1 }, weight: 80 }
    - { destination: { host: reviews, subset: v2 }, weight: 20 }
  - match: [{ headers: { x-split: { exact: "2" } } }]
    route:
    - { destination: { host: reviews, subset: v1 } }
    - { destination: { host: reviews, subset: v3 } }
  - route:
    - { destination: { host: reviews, subset: v3 }, weight: 0 }`);
    const [a, b, c] = outboundVhost(text, REVIEWS, 9080).routes;
    expect(targets(a)).toEqual([[`outbound|9080|v1|${REVIEWS}`, 80], [`outbound|9080|v2|${REVIEWS}`, 20]]);
    expect(targets(b)).toEqual([[`outbound|9080|v1|${REVIEWS}`, 1], [`outbound|9080|v3|${REVIEWS}`, 1]]);
    const [[, w]] = targets(c);
    expect(w).toBeGreaterThan(0);
  });

  it('route-level and destination-level header operations', () => {
    const text = BOOKINFO_SERVICES + REVIEWS_DR + vs('h', 'default', `  hosts: [reviews]
  http:
  - headers:
      request: { set: { x-route: r }, remove: [x-secret] }
      response: { add: { x-served-by: outrigger } }
    route:
    - destination: { host: reviews, subset: v1 }
      weight: 50
      headers:
        request: { add: { x-dest: v1 } }
        response: { remove: [server] }
    - destination: { host: reviews, subset: v2 }
      weight: 50`);
    const [r] = outboundVhost(text, REVIEWS, 9080).routes;
    expect(r.requestHeaders).toEqual({ set: [['x-route', 'r']], add: [], remove: ['x-secret'] });
    expect(r.responseHeaders).toEqual({ set: [], add: [['x-served-by', 'outrigger']], remove: [] });
    const [d1, d2] = routeAction(r).clusters;
    expect(d1.requestHeaders).toEqual({ set: [], add: [['x-dest', 'v1']], remove: [] });
    expect(d1.responseHeaders).toEqual({ set: [], add: [], remove: ['server'] });
    expect(d2.requestHeaders).toBeUndefined();
    expect(d2.responseHeaders).toBeUndefined();
  });

  it('rewrite, timeout, redirect and directResponse', () => {
    const text = BOOKINFO_SERVICES + vs('a', 'default', `  hosts: [ratings]
  http:
  - match: [{ uri: { prefix: /old } }]
    rewrite: { uri: /new, authority: ratings.internal }
    timeout: 2.5s
    route: [{ destination: { host: ratings } }]
  - match: [{ uri: { prefix: /re } }]
    rewrite: { uriRegexRewrite: { match: "^/re/(.*)$", rewrite: '/\\1' } }
    route: [{ destination: { host: ratings } }]
  - match: [{ uri: { exact: /moved } }]
    redirect: { uri: /here, authority: b.example.com, scheme: https, port: 8443, redirectCode: 302 }
  - match: [{ uri: { exact: /moved-default } }]
    redirect: { uri: /there }
  - match: [{ uri: { exact: /keep-port } }]
    redirect: { authority: c.example.com, derivePort: FROM_REQUEST_PORT }
  - match: [{ uri: { exact: /gone } }]
    directResponse: { status: 410, body: { string: gone } }
  - directResponse: { status: 503 }`);
    const rs = outboundVhost(text, RATINGS, 9080).routes;
    expect(rs[0].action).toEqual({
      kind: 'route', clusters: [{ name: `outbound|9080||${RATINGS}`, weight: 100 }], prefixRewrite: '/new', hostRewrite: 'ratings.internal', timeoutMs: 2500,
      retryPolicy: DEFAULT_RETRY_POLICY,
    });
    expect(rs[1].action).toEqual({
      kind: 'route', clusters: [{ name: `outbound|9080||${RATINGS}`, weight: 100 }], regexRewrite: { pattern: '^/re/(.*)$', substitution: '/\\1' },
      retryPolicy: DEFAULT_RETRY_POLICY,
    });
    expect(rs[2].action).toEqual({ kind: 'redirect', responseCode: 302, path: '/here', host: 'b.example.com', scheme: 'https', port: 8443 });
    expect(rs[3].action).toEqual({ kind: 'redirect', responseCode: 301, path: '/there' });
    expect(rs[4].action).toEqual({ kind: 'redirect', responseCode: 301, host: 'c.example.com', portFromRequest: true });
    expect(rs[5].action).toEqual({ kind: 'direct_response', status: 410, body: 'gone' });
    expect(rs[6].action).toEqual({ kind: 'direct_response', status: 503 });
    expect(rs[6].match.path).toEqual({ prefix: '/' });
  });

  it('destination port: explicit, else the only service port, else the listener port', () => {
    const multi = se('multi', 'default', `  hosts: [multi.default.svc.cluster.local]
  resolution: STATIC
  ports: [{ number: 8000, name: http-a }, { number: 9000, name: http-b }]
  endpoints: [{ address: 1.1.1.1 }]`);
    const text = BOOKINFO_SERVICES + multi + vs('p', 'default', `  hosts: [multi]
  http:
  - match: [{ uri: { prefix: /explicit } }]
    route: [{ destination: { host: multi, port: { number: 9000 } } }]
  - match: [{ uri: { prefix: /single } }]
    route: [{ destination: { host: ratings } }]
  - match: [{ uri: { prefix: /unknown } }]
    route: [{ destination: { host: nowhere.example.com } }]
  - route: [{ destination: { host: multi } }]`);
    const rc = routeConfig(translate(text), 'http_proxy');
    const on8000 = vhost(rc, 'multi.default.svc.cluster.local:8000').routes.map((r) => targets(r)[0][0]);
    const on9000 = vhost(rc, 'multi.default.svc.cluster.local:9000').routes.map((r) => targets(r)[0][0]);
    expect(on8000).toEqual([
      'outbound|9000||multi.default.svc.cluster.local', `outbound|9080||${RATINGS}`, 'outbound|8000||nowhere.example.com', 'outbound|8000||multi.default.svc.cluster.local',
    ]);
    expect(on9000).toEqual([
      'outbound|9000||multi.default.svc.cluster.local', `outbound|9080||${RATINGS}`, 'outbound|9000||nowhere.example.com', 'outbound|9000||multi.default.svc.cluster.local',
    ]);
  });

  it('match port selects the service port the route applies to', () => {
    const multi = se('multi', 'default', `  hosts: [multi.default.svc.cluster.local]
  resolution: STATIC
  ports: [{ number: 8000, name: http-a }, { number: 9000, name: http-b }]
  endpoints: [{ address: 1.1.1.1 }]`);
    const text = multi + vs('p', 'default', `  hosts: [multi]
  http:
  - match: [{ port: 9000, uri: { prefix: /nine } }]
    directResponse: { status: 209 }
  - route: [{ destination: { host: multi } }]`);
    const rc = routeConfig(translate(text), 'http_proxy');
    expect(vhost(rc, 'multi.default.svc.cluster.local:8000').routes.map((r) => r.name)).toEqual(['p.1']);
    expect(vhost(rc, 'multi.default.svc.cluster.local:9000').routes.map((r) => r.name)).toEqual(['p.0', 'p.1']);
  });

  it('sourceLabels and sourceNamespace are decided for this proxy', () => {
    const text = BOOKINFO_SERVICES + vs('src', 'default', `  hosts: [ratings]
  http:
  - match: [{ sourceLabels: { app: productpage, version: v1 } }]
    directResponse: { status: 201 }
  - match: [{ sourceLabels: { app: reviews } }]
    directResponse: { status: 202 }
  - match: [{ sourceNamespace: default }]
    directResponse: { status: 203 }
  - match: [{ sourceNamespace: other }]
    directResponse: { status: 204 }
  - route: [{ destination: { host: ratings } }]`);
    const names = (node = sidecarNode()) => outboundVhost(text, RATINGS, 9080, node).routes.map((r) => r.name);
    expect(names()).toEqual(['src.0', 'src.2', 'src.4']);
    expect(names(sidecarNode({ labels: { app: 'reviews', version: 'v2' } }))).toEqual(['src.1', 'src.2', 'src.4']);
    expect(names(sidecarNode({ namespace: 'other', labels: {} }))).toEqual(['src.3', 'src.4']);
  });

  describe('gateways', () => {
    const bound = (gateways: string) =>
      BOOKINFO_SERVICES + vs('g', 'default', `  hosts: [ratings]\n  gateways: ${gateways}\n  http: [{ directResponse: { status: 299 } }]`);
    const routeNames = (text: string) => outboundVhost(text, RATINGS, 9080).routes.map((r) => r.name);

    it('no gateways means the mesh only', () => {
      expect(routeNames(BOOKINFO_SERVICES + vs('g', 'default', '  hosts: [ratings]\n  http: [{ directResponse: { status: 299 } }]'))).toEqual(['g.0']);
    });
    it('a VirtualService bound only to a gateway does not apply to sidecars', () => {
      expect(routeNames(bound('[bookinfo-gateway]'))).toEqual(['default']);
      expect(routeNames(bound('[istio-system/ingress]'))).toEqual(['default']);
    });
    it('the mesh keyword brings it back', () => {
      expect(routeNames(bound('[bookinfo-gateway, mesh]'))).toEqual(['g.0']);
      expect(routeNames(bound('[mesh]'))).toEqual(['g.0']);
    });
    it('a match restricted to a gateway is dropped for sidecars; one restricted to mesh is kept', () => {
      const text = BOOKINFO_SERVICES + vs('g', 'default', `  hosts: [ratings]
  gateways: [mesh, bookinfo-gateway]
  http:
  - match: [{ gateways: [bookinfo-gateway], uri: { prefix: /gw } }]
    directResponse: { status: 201 }
  - match: [{ gateways: [mesh], uri: { prefix: /mesh } }, { gateways: [default/bookinfo-gateway] }]
    directResponse: { status: 202 }
  - directResponse: { status: 203 }`);
      const rs = outboundVhost(text, RATINGS, 9080).routes;
      expect(rs.map((r) => [r.name, r.match.path])).toEqual([
        ['g.1', { prefix: '/mesh' }],
        ['g.2', { prefix: '/' }],
      ]);
    });
  });

  it('exact VirtualService hosts beat wildcard ones; equal ones go to the first loaded', () => {
    const wild = vs('wild', 'default', '  hosts: ["*.default.svc.cluster.local"]\n  http: [{ directResponse: { status: 201 } }]');
    const exact = vs('exact', 'default', '  hosts: [reviews]\n  http: [{ directResponse: { status: 202 } }]');
    const exact2 = vs('exact2', 'default', '  hosts: [reviews.default.svc.cluster.local]\n  http: [{ directResponse: { status: 203 } }]');
    const names = (text: string, host: string) => outboundVhost(text, host, 9080).routes.map((r) => r.name);
    expect(names(BOOKINFO_SERVICES + wild + exact, REVIEWS)).toEqual(['exact.0']);
    expect(names(BOOKINFO_SERVICES + exact + wild, REVIEWS)).toEqual(['exact.0']);
    expect(names(BOOKINFO_SERVICES + wild + exact, RATINGS)).toEqual(['wild.0']);
    expect(names(BOOKINFO_SERVICES + exact + exact2, REVIEWS)).toEqual(['exact.0']);
    expect(names(BOOKINFO_SERVICES + exact2 + exact, REVIEWS)).toEqual(['exact2.0']);
  });

  it('short VirtualService hosts resolve in the VirtualService namespace', () => {
    // "reviews" in namespace other is reviews.other.svc.cluster.local, not the default one
    const text = BOOKINFO_SERVICES + vs('r', 'other', '  hosts: [reviews]\n  http: [{ directResponse: { status: 299 } }]');
    const rc = routeConfig(translate(text), 'http_proxy');
    expect(vhost(rc, `${REVIEWS}:9080`).routes.map((r) => r.name)).toEqual(['default']);
    const own = vhost(rc, 'reviews.other.svc.cluster.local:80');
    expect(own.domains).toEqual(['reviews.other.svc.cluster.local', 'reviews.other.svc.cluster.local:80']);
    expect(own.routes.map((r) => r.name)).toEqual(['r.0']);
  });

  it('VirtualService hosts that name no service get their own virtual host', () => {
    const text = BOOKINFO_SERVICES + vs('ext', 'default', '  hosts: [api.partner.com, "*.wiki.org"]\n  http: [{ route: [{ destination: { host: api.partner.com } }] }]');
    const rc = routeConfig(translate(text), 'http_proxy');
    expect(vhost(rc, 'api.partner.com:80').domains).toEqual(['api.partner.com', 'api.partner.com:80']);
    expect(targets(vhost(rc, 'api.partner.com:80').routes[0])).toEqual([['outbound|80||api.partner.com', 100]]);
    expect(vhostWithDomain(rc, '*.wiki.org')).toBeDefined();
  });
});

// ------------------------------------------------------------------------------------------------
describe('sidecar: the Sidecar resource', () => {
  const OTHER = se('other', 'other', '  hosts: [api.other.svc.cluster.local]\n  resolution: STATIC\n  ports: [{ number: 9080, name: http }]\n  endpoints: [{ address: 3.3.3.3 }]');
  const ROOT_SVC = se('mon', 'istio-system', '  hosts: [mon.istio-system.svc.cluster.local]\n  resolution: STATIC\n  ports: [{ number: 9080, name: http }]\n  endpoints: [{ address: 4.4.4.4 }]');
  const ALL = BOOKINFO_SERVICES + OTHER + ROOT_SVC;
  // a service of the proxy namespace on two ports: 80 and 9080
  const WEB_HOST = 'web.default.svc.cluster.local';
  const WEB = se('web', 'default', `  hosts: [${WEB_HOST}]\n  resolution: STATIC\n  ports: [{ number: 80, name: http }, { number: 9080, name: http-alt }]\n  endpoints: [{ address: 5.5.5.5 }]`);
  const PRODUCTPAGE = 'productpage.default.svc.cluster.local';
  const API_OTHER = 'api.other.svc.cluster.local';
  const MON = 'mon.istio-system.svc.cluster.local';
  const vhostNames = (t: ReturnType<typeof translate>, rc: string) => routeConfig(t, rc).virtualHosts.map((v) => v.name).sort();
  const listenerNames = configuredListenerNames;
  const routeConfigNames = (t: ReturnType<typeof translate>) => t.snapshot.routeConfigs.map((r) => r.name).sort();

  it('an egress listener with a port and captureMode NONE: 127.0.0.1_<port>, only that port, only admitted hosts, bare names', () => {
    const t = translate(ALL + WEB + sidecar('default', 'default', `  egress:
  - port: { number: 9080, name: http, protocol: HTTP }
    captureMode: NONE
    hosts: ["./*", "istio-system/*"]`));
    expect(listenerNames(t)).toEqual(['127.0.0.1_9080', 'virtualOutbound']);
    const l = listener(t, '127.0.0.1_9080');
    expect(l).toMatchObject({ address: '127.0.0.1', port: 9080, direction: 'OUTBOUND' });
    expect(hcmOf(l).routeConfigName).toBe('127.0.0.1_9080');
    expect(hcmOf(l).statPrefix).toBe('outbound_127.0.0.1_9080');
    // web:80 (another port) and api.other (another namespace) are not on it
    expect(vhostNames(t, '127.0.0.1_9080')).toEqual(
      [`${REVIEWS}:9080`, `${RATINGS}:9080`, `${PRODUCTPAGE}:9080`, `${WEB_HOST}:9080`, `${MON}:9080`].sort(),
    );
    // the port is implied by the listener: bare names are served too
    const d = vhost(routeConfig(t, '127.0.0.1_9080'), `${REVIEWS}:9080`).domains;
    expect(d).toContain('reviews');
    expect(d).toContain('reviews:9080');
    expect(d).toContain(REVIEWS);
    expect(d).toContain('10.96.0.10');
    const table = new RouteTable(routeConfig(t, '127.0.0.1_9080'), compilePerRouteConfig);
    expect(table.findVirtualHost('reviews')?.name).toBe(`${REVIEWS}:9080`);
    expect(table.findVirtualHost('web')?.name).toBe(`${WEB_HOST}:9080`);
    expect(table.findVirtualHost('api.other')).toBeUndefined();
  });

  it('an egress port is bound only with captureMode NONE (127.0.0.1 unless bind is set) or an explicit bind', () => {
    const t = translate(ALL + sidecar('default', 'default', `  egress:
  - port: { number: 9080, name: http }
    captureMode: NONE
    hosts: ["./*"]
  - port: { number: 8080, name: http }
    captureMode: NONE
    bind: 10.1.1.1
    hosts: ["./*"]
  - port: { number: 6060, name: http }
    captureMode: DEFAULT
    bind: 127.0.0.2
    hosts: ["./*"]
  - port: { number: 7070, name: http }
    captureMode: IPTABLES
    hosts: ["./*"]
  - port: { number: 5050, name: http }
    captureMode: DEFAULT
    hosts: ["./*"]
  - port: { number: 4040, name: http }
    hosts: ["./*"]`));
    expect(listener(t, '127.0.0.1_9080')).toMatchObject({ address: '127.0.0.1', port: 9080, direction: 'OUTBOUND' });
    expect(listener(t, '10.1.1.1_8080')).toMatchObject({ address: '10.1.1.1', port: 8080, direction: 'OUTBOUND' });
    expect(listener(t, '127.0.0.2_6060')).toMatchObject({ address: '127.0.0.2', port: 6060, direction: 'OUTBOUND' });
    for (const name of ['127.0.0.1_9080', '10.1.1.1_8080', '127.0.0.2_6060']) expect(hcmOf(listener(t, name)).routeConfigName).toBe(name);
    // IPTABLES, DEFAULT and unset without bind are reached through capture (15001): no listener, no route config of their own
    expect(listenerNames(t)).toEqual(['10.1.1.1_8080', '127.0.0.1_9080', '127.0.0.2_6060', 'virtualOutbound']);
    expect(routeConfigNames(t)).toEqual(['10.1.1.1_8080', '127.0.0.1_9080', '127.0.0.2_6060', 'http_proxy']);
    expect(t.warnings).toEqual([]);
  });

  it('egress hosts: namespace/host filtering', () => {
    const only = (hosts: string) =>
      vhostNames(
        translate(ALL + sidecar('default', 'default', `  egress:\n  - port: { number: 9080, name: http }\n    captureMode: NONE\n    hosts: ${hosts}`)),
        '127.0.0.1_9080',
      );
    expect(only('["other/*"]')).toEqual(['api.other.svc.cluster.local:9080']);
    expect(only(`["*/${REVIEWS}"]`)).toEqual([`${REVIEWS}:9080`]);
    expect(only(`["other/${REVIEWS}"]`)).toEqual([]);
    expect(only('["*/*.other.svc.cluster.local"]')).toEqual(['api.other.svc.cluster.local:9080']);
    expect(only('["~/*"]')).toEqual([]);
    expect(only('["*/*"]')).toHaveLength(5);
  });

  it('an egress listener with a port reached through capture restricts that port only, in http_proxy and in the captured per-port routes', () => {
    const a = ALL + WEB + vs('mine', 'default', '  hosts: [a.example.com]\n  http: [{ directResponse: { status: 200 } }]');
    for (const mode of ['', '\n    captureMode: DEFAULT', '\n    captureMode: IPTABLES']) {
      // port 9080 admits namespace other only; every other port follows the catch-all (the proxy namespace)
      const t = translate(a + sidecar('default', 'default', `  egress:\n  - port: { number: 9080, name: http }${mode}\n    hosts: ["other/*"]\n  - hosts: ["./*"]`));
      expect(listenerNames(t), mode).toEqual(['virtualOutbound']);
      // no route config of its own: captured connections use the per-port route configs (named by port)
      expect(routeConfigNames(t), mode).toEqual(['80', '9080', 'http_proxy']);
      expect(vhostNames(t, 'http_proxy'), mode).toEqual([`${API_OTHER}:9080`, `${WEB_HOST}:80`, 'a.example.com:80'].sort());
      expect(vhostNames(t, '9080'), mode).toEqual([`${API_OTHER}:9080`, 'allow_any:9080'].sort());
      expect(vhostNames(t, '80'), mode).toEqual([`${WEB_HOST}:80`, 'a.example.com:80', 'allow_any:80'].sort());
    }
    // the other way round: port 80 admits namespace other only (nothing there on 80), 9080 follows the catch-all
    const t = translate(a + sidecar('default', 'default', '  egress:\n  - port: { number: 80, name: http }\n    hosts: ["other/*"]\n  - hosts: ["./*"]'));
    expect(listenerNames(t)).toEqual(['virtualOutbound']);
    expect(vhostNames(t, 'http_proxy')).toEqual([`${REVIEWS}:9080`, `${RATINGS}:9080`, `${PRODUCTPAGE}:9080`, `${WEB_HOST}:9080`].sort());
    // a bound (captureMode NONE) egress listener does not restrict http_proxy: its port follows the catch-all
    const bound = translate(a + sidecar('default', 'default', '  egress:\n  - port: { number: 9080, name: http }\n    captureMode: NONE\n    hosts: ["other/*"]\n  - hosts: ["./*"]'));
    expect(vhostNames(bound, 'http_proxy')).toEqual(
      [`${REVIEWS}:9080`, `${RATINGS}:9080`, `${PRODUCTPAGE}:9080`, `${WEB_HOST}:9080`, `${WEB_HOST}:80`, 'a.example.com:80'].sort(),
    );
    expect(vhostNames(bound, '127.0.0.1_9080')).toEqual([`${API_OTHER}:9080`]);
  });

  it('a Sidecar with egress listeners but no catch-all exposes nothing through http_proxy on the ports it does not list', () => {
    const a = ALL + WEB + vs('mine', 'default', '  hosts: [a.example.com]\n  http: [{ directResponse: { status: 200 } }]');
    // without a Sidecar everything visible is exposed
    expect(vhostNames(translate(a), 'http_proxy')).toEqual(
      [`${REVIEWS}:9080`, `${RATINGS}:9080`, `${PRODUCTPAGE}:9080`, `${WEB_HOST}:9080`, `${WEB_HOST}:80`, `${API_OTHER}:9080`, `${MON}:9080`, 'a.example.com:80'].sort(),
    );
    // only port 9080 listed (through capture): port 80 exposes nothing, VirtualService-only hosts (port 80) included
    const t = translate(a + sidecar('default', 'default', '  egress:\n  - port: { number: 9080, name: http }\n    hosts: ["./*"]'));
    expect(vhostNames(t, 'http_proxy')).toEqual([`${REVIEWS}:9080`, `${RATINGS}:9080`, `${PRODUCTPAGE}:9080`, `${WEB_HOST}:9080`].sort());
    // only a bound port listed: it is served on its own listener, nothing through http_proxy
    const bound = translate(a + sidecar('default', 'default', '  egress:\n  - port: { number: 9080, name: http }\n    captureMode: NONE\n    hosts: ["./*"]'));
    expect(routeConfig(bound, 'http_proxy').virtualHosts).toEqual([]);
    expect(vhostNames(bound, '127.0.0.1_9080')).toEqual(
      [`${REVIEWS}:9080`, `${RATINGS}:9080`, `${PRODUCTPAGE}:9080`, `${WEB_HOST}:9080`, 'a.example.com:9080'].sort(),
    );
    expect(hcmOf(listener(bound, 'virtualOutbound')).routeConfigName).toBe('http_proxy');
  });

  it('the catch-all egress listener filters the outbound (15001) routes', () => {
    const t = translate(ALL + sidecar('default', 'default', '  egress:\n  - hosts: ["./*"]'));
    expect(vhostNames(t, 'http_proxy')).toEqual([`${REVIEWS}:9080`, `${RATINGS}:9080`, 'productpage.default.svc.cluster.local:9080'].sort());
    expect(listenerNames(t)).toEqual(['virtualOutbound']);
  });

  it('the egress filter also applies to VirtualService-only hosts by the VirtualService namespace', () => {
    const t = translate(
      ALL + vs('mine', 'default', '  hosts: [a.example.com]\n  http: [{ directResponse: { status: 200 } }]') +
        vs('theirs', 'other', '  hosts: [b.example.com]\n  http: [{ directResponse: { status: 200 } }]') +
        sidecar('default', 'default', '  egress:\n  - hosts: ["./*"]'),
    );
    const names = vhostNames(t, 'http_proxy');
    expect(names).toContain('a.example.com:80');
    expect(names).not.toContain('b.example.com:80');
  });

  it('a non-HTTP egress port: through capture, TCP chains for the admitted services; bound, a TCP proxy listener; UDP skipped with a warning', () => {
    const DB_HOST = 'db.default.svc.cluster.local';
    const dbs =
      se('db', 'default', `  hosts: [${DB_HOST}]\n  addresses: [10.96.1.1]\n  resolution: STATIC\n  ports: [{ number: 3306, name: mysql, protocol: MYSQL }]\n  endpoints: [{ address: 6.6.6.6 }]`) +
      se('db', 'other', '  hosts: [db.other.svc.cluster.local]\n  addresses: [10.96.1.2]\n  resolution: STATIC\n  ports: [{ number: 3306, name: mysql, protocol: MYSQL }]\n  endpoints: [{ address: 7.7.7.7 }]');
    const on3306 = (t: Translation) => listener(t, 'virtualOutbound').filterChains.filter((c) => c.match.destinationPort === 3306);
    // reached through capture: no listener of its own, no warning; only the admitted service's address is proxied
    const captured = translate(ALL + dbs + sidecar('default', 'default', '  egress:\n  - port: { number: 3306, name: mysql, protocol: MYSQL }\n    hosts: ["./*"]'));
    expect(listenerNames(captured)).toEqual(['virtualOutbound']);
    expect(captured.warnings).toEqual([]);
    expect(on3306(captured)).toEqual([{
      name: `${DB_HOST}_3306_tcp`,
      match: { destinationPort: 3306, prefixRanges: ['10.96.1.1'] },
      filters: [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { statPrefix: `outbound|3306||${DB_HOST}`, clusters: [{ name: `outbound|3306||${DB_HOST}`, weight: 1 }], idleTimeoutMs: 3_600_000 } }],
    }]);
    // bound (captureMode NONE): 127.0.0.1_3306 proxies to the one admitted service; no route config; UDP is skipped with a warning
    const bound = translate(ALL + dbs + sidecar('default', 'default', `  egress:
  - port: { number: 3306, name: mysql, protocol: MYSQL }
    captureMode: NONE
    hosts: ["./*"]
  - port: { number: 5353, name: dns, protocol: UDP }
    captureMode: NONE
    hosts: ["./*"]`));
    expect(listenerNames(bound)).toEqual(['127.0.0.1_3306', 'virtualOutbound']);
    const l = listener(bound, '127.0.0.1_3306');
    expect(l).toMatchObject({ address: '127.0.0.1', port: 3306, direction: 'OUTBOUND' });
    expect(l.filterChains).toHaveLength(1);
    expect(chainHcm(l.filterChains[0])).toBeUndefined();
    expect(tcpProxyOf(l.filterChains[0])?.clusters).toEqual([{ name: `outbound|3306||${DB_HOST}`, weight: 1 }]);
    expect(routeConfigNames(bound)).toEqual(['http_proxy']);
    expect(bound.warnings).toHaveLength(1);
    expect(bound.warnings[0]).toMatch(/^Sidecar default\/default: egress\[1\] port 5353: protocol UDP skipped/);
    // a bound TCP listener has no destination to route on: with several admitted services, the first one, with a warning
    const ambiguous = translate(ALL + dbs + sidecar('default', 'default', '  egress:\n  - port: { number: 3306, name: mysql, protocol: MYSQL }\n    captureMode: NONE\n    hosts: ["*/*"]'));
    expect(tcpProxyOf(listener(ambiguous, '127.0.0.1_3306').filterChains[0])?.clusters).toEqual([{ name: `outbound|3306||${DB_HOST}`, weight: 1 }]);
    expect(ambiguous.warnings.filter((w) => w.includes('egress[0] port 3306') && w.includes('2 services'))).toHaveLength(1);
  });

  it('an ingress listener bound by captureMode NONE or bind forwards to its defaultEndpoint through inbound|PORT||', () => {
    const t = translate(BOOKINFO_SERVICES + sidecar('default', 'default', `  ingress:
  - port: { number: 9080, name: http, protocol: HTTP }
    captureMode: NONE
    defaultEndpoint: 127.0.0.1:8080
  - port: { number: 9090, name: http-admin }
    captureMode: NONE
    defaultEndpoint: 0.0.0.0:9091
  - port: { number: 7070, name: http-plain }
    bind: 10.1.1.1
  - port: { number: 6060, name: http-v6 }
    captureMode: NONE
    defaultEndpoint: "[::1]:6061"
  - port: { number: 5432, name: tcp-db }
    captureMode: NONE
    defaultEndpoint: 127.0.0.1:5433
  - port: { number: 5353, name: udp-dns, protocol: UDP }
    captureMode: NONE`));
    const c = cluster(t, 'inbound|9080||');
    expect(c).toMatchObject({ type: 'STATIC' });
    expect(hostsOf(t, c.name)).toMatchObject([{ address: '127.0.0.1', port: 8080, weight: 1, labels: {} }]);
    expect(hostsOf(t, 'inbound|9090||')).toMatchObject([{ address: '10.1.1.1', port: 9091, weight: 1, labels: {} }]); // 0.0.0.0: the instance IP
    expect(hostsOf(t, 'inbound|7070||')).toMatchObject([{ address: '127.0.0.1', port: 7070, weight: 1, labels: {} }]);
    expect(hostsOf(t, 'inbound|6060||')).toMatchObject([{ address: '::1', port: 6061, weight: 1, labels: {} }]);
    const l = listener(t, '0.0.0.0_9080');
    expect(l).toMatchObject({ address: '0.0.0.0', port: 9080, direction: 'INBOUND' });
    const rc = routeConfig(t, hcmOf(l).routeConfigName);
    expect(rc.name).toBe('inbound|9080||');
    expect(rc.virtualHosts).toHaveLength(1);
    expect(rc.virtualHosts[0].domains).toEqual(['*']);
    expect(targets(rc.virtualHosts[0].routes[0])).toEqual([['inbound|9080||', 100]]);
    // captureMode NONE binds 0.0.0.0 unless bind is set; bind alone binds too
    expect(listener(t, '0.0.0.0_9090')).toMatchObject({ address: '0.0.0.0', port: 9090, direction: 'INBOUND' });
    expect(listener(t, '10.1.1.1_7070')).toMatchObject({ address: '10.1.1.1', port: 7070, direction: 'INBOUND' });
    expect(hcmOf(listener(t, '10.1.1.1_7070')).routeConfigName).toBe('inbound|7070||');
    expect(listener(t, '0.0.0.0_6060')).toMatchObject({ address: '0.0.0.0', port: 6060, direction: 'INBOUND' });
    // a TCP port is bound too, as a TCP proxy to its defaultEndpoint (no route config)
    const tcp = listener(t, '0.0.0.0_5432');
    expect(tcp).toMatchObject({ address: '0.0.0.0', port: 5432, direction: 'INBOUND' });
    expect(tcp.filterChains).toHaveLength(1);
    expect(chainHcm(tcp.filterChains[0])).toBeUndefined();
    expect(tcpProxyOf(tcp.filterChains[0])?.clusters).toEqual([{ name: 'inbound|5432||', weight: 1 }]);
    expect(hostsOf(t, 'inbound|5432||')).toMatchObject([{ address: '127.0.0.1', port: 5433, weight: 1, labels: {} }]);
    expect(t.snapshot.routeConfigs.some((r) => r.name === 'inbound|5432||')).toBe(false);
    expect(listenerNames(t)).toEqual(['0.0.0.0_5432', '0.0.0.0_6060', '0.0.0.0_9080', '0.0.0.0_9090', '10.1.1.1_7070', 'virtualOutbound']);
    // UDP is not proxied: skipped with a warning
    expect(t.snapshot.clusters.some((x) => x.name === 'inbound|5353||')).toBe(false);
    expect(t.warnings).toHaveLength(1);
    expect(t.warnings[0]).toMatch(/^Sidecar default\/default: ingress\[5\] port 5353: protocol UDP skipped/);
    // bound ports are not captured as well: virtualInbound has no chain for them
    expect(listener(t, 'virtualInbound').filterChains.filter((c) => [9080, 9090, 7070, 6060, 5432].includes(c.match.destinationPort!))).toEqual([]);
  });

  it('an ingress listener without captureMode NONE or bind is not bound: virtualInbound (15006) serves it, forwarding to its defaultEndpoint', () => {
    const t = translate(BOOKINFO_SERVICES + sidecar('default', 'default', `  ingress:
  - port: { number: 9080, name: http }
    captureMode: DEFAULT
    defaultEndpoint: 127.0.0.1:8080
  - port: { number: 9090, name: http-b }
    defaultEndpoint: 127.0.0.1:8081
  - port: { number: 7070, name: http-c }
    captureMode: IPTABLES
  - port: { number: 5432, name: tcp-db }
    defaultEndpoint: 0.0.0.0:5433`));
    expect(listenerNames(t)).toEqual(['virtualOutbound']);
    const inbound = listener(t, 'virtualInbound');
    expect(inbound).toMatchObject({ address: '0.0.0.0', port: 15006, direction: 'INBOUND', useOriginalDst: true });
    // one chain per port, matched on the original destination port
    for (const port of [9080, 9090, 7070]) {
      const chains = inbound.filterChains.filter((c) => c.match.destinationPort === port);
      expect(chains.map((c) => [c.name, c.match]), String(port)).toEqual([[`0.0.0.0_${port}`, { destinationPort: port }]]);
      expect(chainHcm(chains[0])?.routeConfigName).toBe(`inbound|${port}||`);
      const rc = routeConfig(t, `inbound|${port}||`);
      expect(rc.virtualHosts.map((v) => v.domains)).toEqual([['*']]);
      expect(targets(rc.virtualHosts[0].routes[0])).toEqual([[`inbound|${port}||`, 100]]);
    }
    const tcp = inbound.filterChains.filter((c) => c.match.destinationPort === 5432);
    expect(tcp).toHaveLength(1);
    expect(chainHcm(tcp[0])).toBeUndefined();
    expect(tcpProxyOf(tcp[0])?.clusters).toEqual([{ name: 'inbound|5432||', weight: 1 }]);
    // the defaultEndpoint when set (0.0.0.0: the instance IP, reached from 127.0.0.6); else the original destination
    expect(cluster(t, 'inbound|9080||')).toMatchObject({ type: 'STATIC' });
    expect(hostsOf(t, 'inbound|9080||')).toMatchObject([{ address: '127.0.0.1', port: 8080, weight: 1, labels: {} }]);
    expect(hostsOf(t, 'inbound|9090||')).toMatchObject([{ address: '127.0.0.1', port: 8081, weight: 1, labels: {} }]);
    expect(cluster(t, 'inbound|5432||')).toMatchObject({ type: 'STATIC', upstreamBindAddresses: ['127.0.0.6', '::6'] });
    expect(hostsOf(t, 'inbound|5432||')).toMatchObject([{ address: '10.1.1.1', port: 5433, weight: 1, labels: {} }]);
    expect(cluster(t, 'inbound|7070||')).toMatchObject({ type: 'ORIGINAL_DST', lbPolicy: 'CLUSTER_PROVIDED', upstreamBindAddresses: ['127.0.0.6', '::6'] });
    expect(hostsOf(t, 'inbound|7070||')).toEqual([]);
    expect(routeConfigNames(t)).toEqual(['9080', 'http_proxy', 'inbound|7070||', 'inbound|9080||', 'inbound|9090||']);
    expect(t.warnings).toEqual([]);
  });

  it('ingress and egress listeners on the same port never collide (the Istio docs Sidecar example)', () => {
    const docs = (capture: string) =>
      translate(ALL + sidecar('ratings', 'default', `  workloadSelector: { labels: { app: productpage } }
  ingress:
  - port: { number: 9080, protocol: HTTP, name: somename }${capture}
    defaultEndpoint: 127.0.0.1:8080
  egress:
  - port: { number: 9080, protocol: HTTP, name: egresshttp }${capture}
    hosts: ["other/*"]
  - hosts: ["istio-system/*"]`));
    // both bound
    const t = docs('\n    captureMode: NONE');
    const names = t.snapshot.listeners.map((l) => l.name);
    expect(new Set(names).size, names.join(', ')).toBe(names.length);
    const binds = t.snapshot.listeners.map((l) => `${l.address}:${l.port}`);
    expect(new Set(binds).size, binds.join(', ')).toBe(binds.length);
    const rcs = routeConfigNames(t);
    expect(new Set(rcs).size, rcs.join(', ')).toBe(rcs.length);
    expect(t.snapshot.listeners.filter((l) => l.direction === 'INBOUND').map((l) => l.name).sort()).toEqual(['0.0.0.0_9080', 'virtualInbound']);
    expect(listener(t, 'virtualInbound').filterChains.some((c) => c.match.destinationPort === 9080)).toBe(false);
    expect(t.snapshot.listeners.filter((l) => l.direction === 'OUTBOUND' && l.port === 9080).map((l) => l.name)).toEqual(['127.0.0.1_9080']);
    expect(hcmOf(listener(t, '0.0.0.0_9080')).routeConfigName).toBe('inbound|9080||');
    expect(vhostNames(t, '127.0.0.1_9080')).toEqual([`${API_OTHER}:9080`]);
    // as written in the docs (traffic capture): neither is bound, the egress hosts decide port 9080 of http_proxy
    // (and of the captured route config 9080), virtualInbound serves the ingress port
    const captured = docs('');
    expect(listenerNames(captured)).toEqual(['virtualOutbound']);
    expect(vhostNames(captured, 'http_proxy')).toEqual([`${API_OTHER}:9080`]);
    expect(vhostNames(captured, '9080')).toEqual([`${API_OTHER}:9080`, 'allow_any:9080'].sort());
    const in9080 = listener(captured, 'virtualInbound').filterChains.filter((c) => c.match.destinationPort === 9080);
    expect(in9080.map((c) => chainHcm(c)?.routeConfigName)).toEqual(['inbound|9080||']);
    expect(hostsOf(captured, 'inbound|9080||')).toMatchObject([{ address: '127.0.0.1', port: 8080, weight: 1, labels: {} }]);
    expect(captured.warnings).toEqual([]);
  });

  it('an ingress defaultEndpoint on a unix socket is accepted but skipped with a warning, never a NaN port', () => {
    const text = sidecar('default', 'default', `  ingress:
  - port: { number: 9080, name: http }
    captureMode: NONE
    defaultEndpoint: unix:///var/run/app.sock`);
    expect(parseYaml(text).sidecars[0].ingress[0].defaultEndpoint).toBe('unix:///var/run/app.sock');
    const t = translate(text);
    expect(listenerNames(t)).toEqual(['virtualOutbound']);
    expect(t.snapshot.clusters.some((c) => c.name === 'inbound|9080||')).toBe(false);
    expect(routeConfigNames(t)).toEqual(['http_proxy']);
    const w = t.warnings.filter((x) => x.includes('Sidecar default/default: ingress[0] port 9080'));
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/unix socket/);
    for (const ep of t.snapshot.endpoints.flatMap((a) => hostEndpoints(a))) expect(Number.isInteger(ep.port) && ep.port > 0, JSON.stringify(ep)).toBe(true);
    // captured: virtualInbound does not serve the port (it passes through to the workload), with a warning
    const captured = translate(text.replace('    captureMode: NONE\n', ''));
    expect(captured.snapshot.clusters.some((c) => c.name === 'inbound|9080||')).toBe(false);
    expect(listener(captured, 'virtualInbound').filterChains.some((c) => c.match.destinationPort === 9080)).toBe(false);
    const cw = captured.warnings.filter((x) => x.includes('port 9080'));
    expect(cw, captured.warnings.join('\n')).toHaveLength(1);
    expect(cw[0]).toMatch(/unix socket/);
    for (const ep of captured.snapshot.endpoints.flatMap((a) => hostEndpoints(a))) expect(Number.isInteger(ep.port) && ep.port > 0, JSON.stringify(ep)).toBe(true);
  });

  it('a malformed ingress defaultEndpoint (no port) is rejected when parsed, naming the field', () => {
    const err = parseError(sidecar('default', 'default', '  ingress:\n  - port: { number: 9080, name: http }\n    defaultEndpoint: localhost'));
    expect(err.location.field).toBe('spec.ingress[0].defaultEndpoint');
  });

  it('defaultEndpoint: only 127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT, [::]:PORT or unix:///path', () => {
    const text = (ep: string) => sidecar('default', 'default', `  ingress:\n  - port: { number: 9080, name: http }\n    captureMode: NONE\n    defaultEndpoint: "${ep}"`);
    for (const ep of ['127.0.0.1:8080', '0.0.0.0:8080', '[::1]:8080', '[::]:8080', 'unix:///var/run/app.sock', '127.0.0.1:1', '127.0.0.1:65535']) {
      expect(parseYaml(text(ep)).sidecars[0].ingress[0].defaultEndpoint, ep).toBe(ep);
    }
    for (const ep of [
      'localhost', '127.0.0.1', 'localhost:8080', '10.0.0.1:8080', '127.0.0.2:8080', '[::1]', '::1:8080', '[::2]:8080',
      '127.0.0.1:0', '127.0.0.1:65536', '127.0.0.1:80a', '127.0.0.1:', ':8080', 'http://127.0.0.1:8080', ' 127.0.0.1:8080',
    ]) {
      const err = parseError(text(ep));
      expect(err.location.field, ep).toBe('spec.ingress[0].defaultEndpoint');
      expect(err.reason, ep).toMatch(/invalid defaultEndpoint/);
      expect(err.reason, ep).toContain(ep);
    }
  });

  it('selection: workload selector in the proxy namespace, then the namespace default, then istio-system', () => {
    // each candidate binds its own port (captureMode NONE): the bound port tells which Sidecar applies
    const egress = (port: number) => `  egress:\n  - port: { number: ${port}, name: http }\n    captureMode: NONE\n    hosts: ["./*"]`;
    const sel = sidecar('for-productpage', 'default', '  workloadSelector: { labels: { app: productpage } }\n' + egress(1111));
    const nsDefault = sidecar('ns-default', 'default', egress(2222));
    const root = sidecar('root', 'istio-system', egress(3333));
    const elsewhere = sidecar('elsewhere', 'other', egress(4444));
    const ports = (text: string, node = sidecarNode()) =>
      translate(text, node).snapshot.listeners.filter((l) => !['virtualOutbound', ...CAPTURE_LISTENERS].includes(l.name)).map((l) => l.port);
    expect(ports(ALL + root + elsewhere + nsDefault + sel)).toEqual([1111]);
    expect(ports(ALL + root + elsewhere + nsDefault + sel, sidecarNode({ labels: { app: 'reviews' } }))).toEqual([2222]);
    expect(ports(ALL + root + elsewhere + sel, sidecarNode({ labels: { app: 'reviews' } }))).toEqual([3333]);
    expect(ports(ALL + elsewhere)).toEqual([]);
    // the same through http_proxy: a Sidecar applies (it has no catch-all: nothing exposed) or none does (everything)
    expect(routeConfig(translate(ALL + elsewhere + sel), 'http_proxy').virtualHosts).toEqual([]);
    expect(vhostNames(translate(ALL + elsewhere + sel, sidecarNode({ labels: { app: 'reviews' } })), 'http_proxy')).toHaveLength(5);
  });
});

// ------------------------------------------------------------------------------------------------
describe('sidecar: traffic capture', () => {
  it('always has virtualInbound on the inbound port (default 15006) and the three capture clusters', () => {
    const t = translate('');
    expect(t.snapshot.listeners.map((l) => l.name).sort()).toEqual(['virtualInbound', 'virtualOutbound']);
    const inbound = listener(t, 'virtualInbound');
    expect(inbound).toMatchObject({ address: '0.0.0.0', port: 15006, direction: 'INBOUND', useOriginalDst: true });
    // connections made to 15006 itself would loop: black hole; ports nobody declared pass through to the workload
    expect(inbound.filterChains.map((c) => [c.match, tcpProxyOf(c)?.clusters])).toEqual([[{ destinationPort: 15006 }, [{ name: 'BlackHoleCluster', weight: 1 }]]]);
    expect(tcpProxyOf(inbound.defaultFilterChain)?.clusters).toEqual([{ name: 'InboundPassthroughClusterIpv4', weight: 1 }]);
    expect(clusterNames(t)).toEqual(CAPTURE_CLUSTERS);
    expect(cluster(t, 'PassthroughCluster')).toMatchObject({ type: 'ORIGINAL_DST', lbPolicy: 'CLUSTER_PROVIDED' });
    expect(hostsOf(t, 'PassthroughCluster')).toEqual([]);
    expect(cluster(t, 'PassthroughCluster').upstreamBindAddresses).toBeUndefined();
    // to the workload from 127.0.0.6, so that iptables does not capture the connection again
    expect(cluster(t, 'InboundPassthroughClusterIpv4')).toMatchObject({ type: 'ORIGINAL_DST', lbPolicy: 'CLUSTER_PROVIDED', upstreamBindAddresses: ['127.0.0.6', '::6'] });
    expect(cluster(t, 'BlackHoleCluster')).toMatchObject({ type: 'STATIC' });
    expect(t.snapshot.endpoints).toEqual([]);
    // the port is an option
    const other = translateIstio(parseYaml(''), sidecarNode(), { outboundPort: 15001, inboundPort: 16006 });
    expect(listener(other, 'virtualInbound').port).toBe(16006);
    expect(listener(other, 'virtualInbound').filterChains[0].match).toEqual({ destinationPort: 16006 });
  });

  it('captured HTTP ports get their own route config (bare names too, unknown hosts last); unmatched connections follow outboundTrafficPolicy', () => {
    const t = translate(BOOKINFO_SERVICES);
    const out = listener(t, 'virtualOutbound');
    const chain = out.filterChains.find((c) => c.name === '0.0.0.0_9080');
    expect(chain?.match).toEqual({ destinationPort: 9080 });
    expect(chainHcm(chain)).toMatchObject({ routeConfigName: '9080', statPrefix: 'outbound_0.0.0.0_9080', useRemoteAddress: false });
    const rc = routeConfig(t, '9080');
    expect(rc.virtualHosts.map((v) => v.name)).toEqual([`${REVIEWS}:9080`, `${RATINGS}:9080`, 'productpage.default.svc.cluster.local:9080', 'allow_any:9080']);
    expect(vhost(rc, `${REVIEWS}:9080`).domains).toContain('reviews'); // the port is implied by the destination
    expect(vhost(rc, 'allow_any:9080').domains).toEqual(['*']);
    expect(targets(vhost(rc, 'allow_any:9080').routes[0])).toEqual([['PassthroughCluster', 100]]);
    expect(tcpProxyOf(out.defaultFilterChain)?.clusters).toEqual([{ name: 'PassthroughCluster', weight: 1 }]);
    // REGISTRY_ONLY: unknown hosts get 502, unknown destinations the black hole
    const closed = translate(BOOKINFO_SERVICES + sidecar('default', 'default', '  outboundTrafficPolicy: { mode: REGISTRY_ONLY }'));
    const last = routeConfig(closed, '9080').virtualHosts.at(-1)!;
    expect(last.name).toBe('block_all:9080');
    expect(last.routes[0].action).toEqual({ kind: 'direct_response', status: 502 });
    expect(tcpProxyOf(listener(closed, 'virtualOutbound').defaultFilterChain)?.clusters).toEqual([{ name: 'BlackHoleCluster', weight: 1 }]);
  });

  it("virtualInbound serves the ports of the services this proxy's IP is an endpoint of, by target port", () => {
    const ME = 'me.default.svc.cluster.local';
    const t = translate(BOOKINFO_SERVICES + se('me', 'default', `  hosts: [${ME}]
  resolution: STATIC
  ports: [{ number: 9080, name: http, targetPort: 8080 }, { number: 5432, name: tcp-db }, { number: 7000, name: x }]
  endpoints: [{ address: 10.1.1.1 }, { address: 10.1.1.2 }]`));
    const chains = listener(t, 'virtualInbound').filterChains.filter((c) => c.match.destinationPort !== 15006);
    expect(chains.map((c) => [c.name, c.match, chainHcm(c)?.routeConfigName ?? tcpProxyOf(c)?.clusters[0].name])).toEqual([
      ['0.0.0.0_8080', { destinationPort: 8080 }, 'inbound|8080||'],
      ['0.0.0.0_5432', { destinationPort: 5432 }, 'inbound|5432||'],
      // no declared protocol: HTTP when the first bytes are, else TCP
      ['0.0.0.0_7000_http', { destinationPort: 7000, applicationProtocols: ['http/1.0', 'http/1.1', 'h2c'] }, 'inbound|7000||'],
      ['0.0.0.0_7000', { destinationPort: 7000 }, 'inbound|7000||'],
    ]);
    // the workload is the original destination, reached from 127.0.0.6
    expect(cluster(t, 'inbound|8080||')).toMatchObject({
      type: 'ORIGINAL_DST', lbPolicy: 'CLUSTER_PROVIDED', upstreamBindAddresses: ['127.0.0.6', '::6'], service: { host: ME, namespace: 'default', port: 9080 },
    });
    expect(hostsOf(t, 'inbound|8080||')).toEqual([]);
    expect(targets(routeConfig(t, 'inbound|8080||').virtualHosts[0].routes[0])).toEqual([['inbound|8080||', 100]]);
    expect(t.snapshot.routeConfigs.some((r) => r.name === 'inbound|5432||')).toBe(false);
    // services of other workloads are not served inbound
    expect(clusterNames(t).filter((n) => n.startsWith('inbound|'))).toEqual(['inbound|5432||', 'inbound|7000||', 'inbound|8080||']);
  });

  it('VirtualService tcp routes: weighted clusters, destinationSubnets in a chain of their own, matches for other proxies dropped', () => {
    const DB = 'db.default.svc.cluster.local';
    const t = translate(
      se('db', 'default', `  hosts: [${DB}]
  addresses: [10.96.1.1]
  resolution: STATIC
  ports: [{ number: 3306, name: mysql, protocol: MYSQL }]
  endpoints: [{ address: 6.6.6.6, labels: { version: v1 } }, { address: 6.6.6.7, labels: { version: v2 } }]`) +
        dr('db', 'default', '  host: db\n  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]') +
        vs('db', 'default', `  hosts: [db]
  tcp:
  - match: [{ destinationSubnets: [10.99.0.0/16] }]
    route: [{ destination: { host: db, subset: v2 } }]
  - match: [{ sourceLabels: { app: nobody } }]
    route: [{ destination: { host: db, subset: v2 } }]
  - route:
    - { destination: { host: db, subset: v1 }, weight: 90 }
    - { destination: { host: db, subset: v2 }, weight: 10 }`),
    );
    const chains = listener(t, 'virtualOutbound').filterChains.filter((c) => c.match.destinationPort === 3306);
    expect(chains.map((c) => [c.match.prefixRanges, tcpProxyOf(c)?.clusters])).toEqual([
      [['10.99.0.0/16'], [{ name: `outbound|3306|v2|${DB}`, weight: 100 }]],
      [['10.96.1.1'], [{ name: `outbound|3306|v1|${DB}`, weight: 90 }, { name: `outbound|3306|v2|${DB}`, weight: 10 }]],
    ]);
    expect(chains.every((c) => tcpProxyOf(c)?.statPrefix === `outbound|3306||${DB}`)).toBe(true);
    expect(t.warnings).toEqual([]);
  });

  it('VirtualService tls routes: by SNI on the TLS port, before the hosts of the ServiceEntry', () => {
    const t = translate(
      se('ext', 'default', '  hosts: [api.example.com, "*.wiki.org"]\n  resolution: NONE\n  ports: [{ number: 443, name: tls, protocol: TLS }]') +
        se('mirror', 'default', '  hosts: [mirror.example.com]\n  resolution: DNS\n  ports: [{ number: 443, name: tls, protocol: TLS }]') +
        vs('ext', 'default', `  hosts: [api.example.com]
  tls:
  - match: [{ sniHosts: [api.example.com] }]
    route: [{ destination: { host: mirror.example.com, port: { number: 443 } } }]`),
    );
    const chains = listener(t, 'virtualOutbound').filterChains.filter((c) => c.match.destinationPort === 443);
    const bySni = (sni: string) => chains.find((c) => c.match.serverNames?.includes(sni));
    expect(bySni('api.example.com')?.match).toEqual({ destinationPort: 443, transportProtocol: 'tls', serverNames: ['api.example.com'] });
    expect(tcpProxyOf(bySni('api.example.com'))?.clusters).toEqual([{ name: 'outbound|443||mirror.example.com', weight: 100 }]);
    expect(tcpProxyOf(bySni('*.wiki.org'))?.clusters).toEqual([{ name: 'outbound|443||*.wiki.org', weight: 1 }]);
    expect(tcpProxyOf(bySni('mirror.example.com'))?.clusters).toEqual([{ name: 'outbound|443||mirror.example.com', weight: 1 }]);
  });
});

// ------------------------------------------------------------------------------------------------
describe('gateway mode', () => {
  const GW = gateway('bookinfo-gateway', 'default', `  selector: { istio: ingressgateway }
  servers:
  - port: { number: 8080, name: http, protocol: HTTP }
    hosts: ["*"]`);
  const BOOKINFO_VS = vs('bookinfo', 'default', `  hosts: ["*"]
  gateways: [bookinfo-gateway]
  http:
  - match: [{ uri: { exact: /productpage } }, { uri: { prefix: /static } }]
    route: [{ destination: { host: productpage, port: { number: 9080 } } }]`);

  it('a selected Gateway gets listener 0.0.0.0_<port> with route config http.<port>', () => {
    const t = translate(BOOKINFO_SERVICES + GW + BOOKINFO_VS, gatewayNode());
    expect(t.snapshot.listeners).toHaveLength(1);
    const l = listener(t, '0.0.0.0_8080');
    expect(l).toMatchObject({ address: '0.0.0.0', port: 8080, direction: 'GATEWAY' });
    expect(hcmOf(l).routeConfigName).toBe('http.8080');
    expect(hcmOf(l).useRemoteAddress).toBe(true);
    expect(hcmOf(l).stripEnvoyHeaders).toBe(true);
    const rc = routeConfig(t, 'http.8080');
    expect(rc.virtualHosts).toHaveLength(1);
    expect(rc.virtualHosts[0].domains).toEqual(['*']);
    expect(rc.virtualHosts[0].routes.map((r) => [r.match.path, targets(r)])).toEqual([
      [{ exact: '/productpage' }, [['outbound|9080||productpage.default.svc.cluster.local', 100]]],
      [{ prefix: '/static' }, [['outbound|9080||productpage.default.svc.cluster.local', 100]]],
    ]);
    expect(clusterNames(t)).toContain(`outbound|9080||${REVIEWS}`);
    expect(routeConfig(t, 'http.8080') && t.snapshot.routeConfigs.some((r) => r.name === 'http_proxy')).toBe(false);
    // a gateway captures no traffic: no capture listeners, no capture clusters
    expect(clusterNames(t).filter((n) => CAPTURE_CLUSTERS.includes(n))).toEqual([]);
  });

  it('Gateways are selected by the proxy labels', () => {
    const t = translate(BOOKINFO_SERVICES + GW + BOOKINFO_VS, gatewayNode({ labels: { istio: 'egressgateway' } }));
    expect(t.snapshot.listeners).toEqual([]);
    expect(t.warnings.some((w) => w.includes('no Gateway selects this proxy'))).toBe(true);
    const all = gateway('any', 'default', '  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]');
    expect(translate(all, gatewayNode({ labels: { whatever: 'x' } })).snapshot.listeners.map((l) => l.name)).toEqual(['0.0.0.0_80']);
  });

  it('VirtualService hosts are intersected with server hosts; domains are [host, host:*]', () => {
    const gw = gateway('gw', 'istio-system', `  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["*.example.com", "exact.org"]`);
    const v = vs('v', 'default', `  hosts: [a.example.com, "*.b.example.com", "*", other.net]
  gateways: [istio-system/gw]
  http: [{ directResponse: { status: 200 } }]`);
    const rc = routeConfig(translate(gw + v, gatewayNode()), 'http.80');
    const domains = rc.virtualHosts.map((x) => x.domains);
    expect(domains).toContainEqual(['a.example.com', 'a.example.com:*']);
    expect(domains).toContainEqual(['*.b.example.com', '*.b.example.com:*']);
    expect(domains).toContainEqual(['*.example.com', '*.example.com:*']); // "*" ∩ "*.example.com"
    expect(domains).toContainEqual(['exact.org', 'exact.org:*']); // "*" ∩ "exact.org"
    expect(domains.flat()).not.toContain('other.net');
    expect(rc.virtualHosts).toHaveLength(4);
  });

  it('a server host that is more specific than the VirtualService host wins', () => {
    const gw = gateway('gw', 'istio-system', '  selector: { istio: ingressgateway }\n  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: [shop.example.com] }]');
    const v = vs('v', 'default', '  hosts: ["*.example.com"]\n  gateways: [istio-system/gw]\n  http: [{ directResponse: { status: 200 } }]');
    const rc = routeConfig(translate(gw + v, gatewayNode()), 'http.80');
    expect(rc.virtualHosts.map((x) => x.domains)).toEqual([['shop.example.com', 'shop.example.com:*']]);
  });

  it('ns/host on a server admits VirtualServices of that namespace only ("." is the Gateway namespace)', () => {
    const gw = gateway('gw', 'istio-system', `  selector: { istio: ingressgateway }
  servers:
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: ["team-a/*", "./admin.example.com"]`);
    const a = vs('a', 'team-a', '  hosts: [a.example.com]\n  gateways: [istio-system/gw]\n  http: [{ directResponse: { status: 201 } }]');
    const b = vs('b', 'team-b', '  hosts: [b.example.com]\n  gateways: [istio-system/gw]\n  http: [{ directResponse: { status: 202 } }]');
    const adm = vs('adm', 'istio-system', '  hosts: [admin.example.com, x.example.com]\n  gateways: [gw]\n  http: [{ directResponse: { status: 203 } }]');
    const admB = vs('adm-b', 'team-b', '  hosts: [admin.example.com]\n  gateways: [istio-system/gw]\n  http: [{ directResponse: { status: 204 } }]');
    const rc = routeConfig(translate(gw + a + b + adm + admB, gatewayNode()), 'http.80');
    expect(rc.virtualHosts.map((x) => [x.domains[0], x.routes.map((r) => r.name)]).sort()).toEqual([
      ['a.example.com', ['a.0']],
      ['admin.example.com', ['adm.0']],
    ]);
  });

  it('gateway references: short name in the VirtualService namespace, ns/name, and FQDN forms', () => {
    const gw = gateway('gw', 'istio-system', '  selector: { istio: ingressgateway }\n  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]');
    const mk = (name: string, ns: string, ref: string, host: string) =>
      vs(name, ns, `  hosts: [${host}]\n  gateways: [${ref}]\n  http: [{ directResponse: { status: 200 } }]`);
    const text = gw +
      mk('short-same-ns', 'istio-system', 'gw', 'one.com') +
      mk('short-other-ns', 'default', 'gw', 'two.com') +
      mk('qualified', 'default', 'istio-system/gw', 'three.com') +
      mk('fqdn', 'default', 'gw.istio-system.svc.cluster.local', 'four.com') +
      mk('mesh-only', 'default', 'mesh', 'five.com');
    const rc = routeConfig(translate(text, gatewayNode()), 'http.80');
    expect(rc.virtualHosts.map((x) => x.domains[0]).sort()).toEqual(['four.com', 'one.com', 'three.com']);
  });

  it('VirtualServices for one host are merged in load order', () => {
    const gw = gateway('gw', 'istio-system', '  selector: { istio: ingressgateway }\n  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]');
    const first = vs('first', 'default', '  hosts: [shop.com]\n  gateways: [istio-system/gw]\n  http: [{ match: [{ uri: { prefix: /cart } }], directResponse: { status: 201 } }]');
    const second = vs('second', 'default', '  hosts: [shop.com]\n  gateways: [istio-system/gw]\n  http: [{ match: [{ uri: { prefix: /pay } }], directResponse: { status: 202 } }, { directResponse: { status: 203 } }]');
    const rc = routeConfig(translate(gw + first + second, gatewayNode()), 'http.80');
    expect(rc.virtualHosts).toHaveLength(1);
    expect(rc.virtualHosts[0].routes.map((r) => r.name)).toEqual(['first.0', 'second.0', 'second.1']);
  });

  it('match-level gateways and port are decided per gateway listener', () => {
    const gw = gateway('gw', 'istio-system', `  selector: { istio: ingressgateway }
  servers:
  - { port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }
  - { port: { number: 8080, name: http-alt, protocol: HTTP }, hosts: ["*"] }`);
    const v = vs('v', 'default', `  hosts: [shop.com]
  gateways: [istio-system/gw, mesh]
  http:
  - match: [{ gateways: [mesh] }]
    directResponse: { status: 201 }
  - match: [{ gateways: [istio-system/gw], port: 8080 }]
    directResponse: { status: 202 }
  - directResponse: { status: 203 }`);
    const t = translate(gw + v, gatewayNode());
    expect(routeConfig(t, 'http.80').virtualHosts[0].routes.map((r) => r.name)).toEqual(['v.2']);
    expect(routeConfig(t, 'http.8080').virtualHosts[0].routes.map((r) => r.name)).toEqual(['v.1', 'v.2']);
  });

  it('servers sharing a port share one listener; the bind address names it', () => {
    const gw = gateway('gw', 'istio-system', `  selector: { istio: ingressgateway }
  servers:
  - { port: { number: 80, name: http-a, protocol: HTTP }, hosts: [a.com] }
  - { port: { number: 80, name: http-b, protocol: HTTP }, hosts: [b.com] }
  - { port: { number: 81, name: http-c, protocol: HTTP }, hosts: [c.com], bind: 127.0.0.1 }`);
    const v = vs('v', 'default', '  hosts: [a.com, b.com, c.com]\n  gateways: [istio-system/gw]\n  http: [{ directResponse: { status: 200 } }]');
    const t = translate(gw + v, gatewayNode());
    expect(t.snapshot.listeners.map((l) => [l.name, l.address, l.port])).toEqual([
      ['0.0.0.0_80', '0.0.0.0', 80],
      ['127.0.0.1_81', '127.0.0.1', 81],
    ]);
    expect(routeConfig(t, 'http.80').virtualHosts.map((x) => x.domains[0]).sort()).toEqual(['a.com', 'b.com']);
    expect(routeConfig(t, 'http.81').virtualHosts.map((x) => x.domains[0])).toEqual(['c.com']);
  });

  it('non-HTTP and TLS servers are skipped with a warning', () => {
    const gw = gateway('gw', 'istio-system', `  selector: { istio: ingressgateway }
  servers:
  - { port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }
  - { port: { number: 443, name: https, protocol: HTTPS }, hosts: ["*"], tls: { mode: SIMPLE, credentialName: cert } }
  - { port: { number: 31400, name: tcp, protocol: TCP }, hosts: ["*"] }`);
    const t = translate(gw, gatewayNode());
    expect(t.snapshot.listeners.map((l) => l.name)).toEqual(['0.0.0.0_80']);
    expect(t.warnings.filter((w) => /Gateway istio-system\/gw: server on port (443|31400)/.test(w))).toHaveLength(2);
  });

  it('a VirtualService for the mesh only is not served by the gateway', () => {
    const v = vs('mesh', 'default', '  hosts: [shop.com]\n  http: [{ directResponse: { status: 200 } }]');
    const rc = routeConfig(translate(BOOKINFO_SERVICES + GW + v, gatewayNode()), 'http.8080');
    expect(rc.virtualHosts).toEqual([]);
  });

  it('a VirtualService not exported to the gateway namespace is not served', () => {
    const gw = gateway('gw', 'istio-system', '  selector: { istio: ingressgateway }\n  servers: [{ port: { number: 80, name: http, protocol: HTTP }, hosts: ["*"] }]');
    const mk = (exportTo: string) =>
      vs('v', 'default', `  hosts: [shop.com]\n  gateways: [istio-system/gw]\n  exportTo: ${exportTo}\n  http: [{ directResponse: { status: 200 } }]`);
    expect(routeConfig(translate(gw + mk('["."]'), gatewayNode()), 'http.80').virtualHosts).toEqual([]);
    expect(routeConfig(translate(gw + mk('[istio-system]'), gatewayNode()), 'http.80').virtualHosts.map((x) => x.domains[0])).toEqual(['shop.com']);
  });
});

describe('snapshot', () => {
  it('versions: the same input built again over the previous Snapshot keeps its version; other input, or no previous, gets a new one', () => {
    const node = sidecarNode();
    const build = (text: string, previous?: Snapshot) => translateIstio(parseYaml(text, node.namespace), node, { outboundPort: 15001, previous }).snapshot;
    const a = build(BOOKINFO_SERVICES + REVIEWS_DR);
    const again = build(BOOKINFO_SERVICES + REVIEWS_DR, a);
    expect(again.version).toBe(a.version);
    expect(again.resourceVersions).toEqual(a.resourceVersions);
    const other = build(BOOKINFO_SERVICES, again);
    expect(other.version).not.toBe(a.version);
    // the subset clusters REVIEWS_DR made are gone; the other services' clusters are unchanged
    const others = Object.keys(other.resourceVersions.clusters).filter((n) => !n.includes('reviews'));
    expect(others.length).toBeGreaterThan(2);
    for (const n of others) expect(other.resourceVersions.clusters[n]).toBe(a.resourceVersions.clusters[n]);
    expect(build(BOOKINFO_SERVICES + REVIEWS_DR).version).not.toBe(a.version);
  });

  it('is structured-clone safe', () => {
    const { snapshot } = translate(BOOKINFO_SERVICES + REVIEWS_DR);
    expect(structuredClone(snapshot)).toEqual(snapshot);
  });

  it('carries the parse warnings', () => {
    const t = translate('apiVersion: v1\nkind: ServiceAccount\nmetadata: { name: s }\n---\n' + BOOKINFO_SERVICES);
    expect(t.warnings.some((w) => w.includes('ServiceAccount s ignored'))).toBe(true);
  });
});

describe('the fault and CORS filters (where routes configure them)', () => {
  it('a VirtualService corsPolicy becomes the cors filter\'s per-route config, and the filter goes after fault in the chains that route there', () => {
    const vs = `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: ratings }
spec:
  hosts: [ratings]
  http:
  - fault: { abort: { httpStatus: 503, percentage: { value: 1 } } }
    corsPolicy: { allowOrigins: [{ exact: cors.com }], allowMethods: [POST, GET], allowHeaders: [X-Foo-Bar, X-Foo-Baz], maxAge: 24h, unmatchedPreflights: IGNORE }
    route: [{ destination: { host: ratings } }]
`;
    const t = translate(BOOKINFO_SERVICES + vs);
    const r = vhost(routeConfig(t, 'http_proxy'), `${RATINGS}:9080`).routes[0];
    expect(r.typedPerFilterConfig?.['envoy.filters.http.cors']).toEqual({
      allowOrigins: [{ exact: 'cors.com' }], allowMethods: 'POST,GET', allowHeaders: 'X-Foo-Bar,X-Foo-Baz', maxAge: '86400', forwardNotMatchingPreflights: false,
    });
    const names = hcmOf(listener(t, 'virtualOutbound')).httpFilters.map((f) => f.name);
    expect(names.slice(-2)).toEqual(['envoy.filters.http.fault', 'envoy.filters.http.cors']);
    // no corsPolicy anywhere: no cors filter
    expect(hcmOf(listener(translate(BOOKINFO_SERVICES), 'virtualOutbound')).httpFilters.map((f) => f.name)).not.toContain('envoy.filters.http.cors');
  });
});
