/** Translation of traffic capture: virtualOutbound and virtualInbound filter chains, tcp/tls routes, MeshConfig. */
import { describe, expect, it } from 'vitest';
import type { FilterChain, Listener } from '../../src/config/snapshot.js';
import { chainHcm, cluster, hostsOf, listener, parseError, parseYaml, routeConfig, sidecarNode, tcpProxyOf, translate } from './helpers.js';

const SERVICES = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: web, namespace: default }
spec:
  hosts: [web.default.svc.cluster.local]
  addresses: [10.96.0.1]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP, targetPort: 8080 }]
  endpoints: [{ address: 10.1.1.1, labels: { app: web } }, { address: 10.0.0.9, labels: { app: web } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: db, namespace: default }
spec:
  hosts: [db.default.svc.cluster.local]
  addresses: [10.96.0.2]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 5432, name: tcp-pg, protocol: TCP }]
  endpoints: [{ address: 10.0.0.5, labels: { app: db, version: v1 } }, { address: 10.0.0.6, labels: { app: db, version: v2 } }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: auto, namespace: default }
spec:
  hosts: [auto.default.svc.cluster.local]
  addresses: [10.96.0.3]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 7000, name: app }]
  endpoints: [{ address: 10.0.0.7 }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: wiki, namespace: default }
spec:
  hosts: ["*.wikipedia.org"]
  location: MESH_EXTERNAL
  resolution: NONE
  ports: [{ number: 443, name: tls, protocol: TLS }]
`;

function chainsOf(l: Listener): FilterChain[] {
  return l.filterChains;
}

function chain(l: Listener, name: string): FilterChain {
  const c = [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])].find((x) => x.name === name);
  if (!c) expect.fail(`no chain ${name} in ${l.name}; have ${l.filterChains.map((x) => x.name).join(', ')}`);
  return c;
}

describe('virtualOutbound (15001)', () => {
  const t = translate(SERVICES, sidecarNode());
  const out = listener(t, 'virtualOutbound');

  it('is a capture listener: original destination, Istio protocol detection timeout, passthrough by default', () => {
    expect(out).toMatchObject({ useOriginalDst: true, protocolDetectionTimeoutMs: 0, direction: 'OUTBOUND' });
    expect(out.defaultFilterChain).toMatchObject({ name: 'PassthroughFilterChain', filters: [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { clusters: [{ name: 'PassthroughCluster', weight: 1 }] } }] });
    expect(cluster(t, 'PassthroughCluster')).toMatchObject({ type: 'ORIGINAL_DST', lbPolicy: 'CLUSTER_PROVIDED' });
    expect(cluster(t, 'BlackHoleCluster')).toMatchObject({ type: 'STATIC' });
    expect([...hostsOf(t, 'PassthroughCluster'), ...hostsOf(t, 'BlackHoleCluster')]).toEqual([]);
  });

  it('connections made to 15001 itself get the explicit HTTP proxy over every service (route config http_proxy)', () => {
    expect(chain(out, 'virtualOutbound-http-proxy')).toMatchObject({ match: { destinationPort: 15001 }, filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: { routeConfigName: 'http_proxy' } }] });
  });

  it('an HTTP port: one chain for the port, routed by Host with the route config named by the port, then allow_any', () => {
    expect(chain(out, '0.0.0.0_80')).toMatchObject({ match: { destinationPort: 80 }, filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: { routeConfigName: '80', statPrefix: 'outbound_0.0.0.0_80' } }] });
    const rc = routeConfig(t, '80');
    const web = rc.virtualHosts.find((v) => v.name === 'web.default.svc.cluster.local:80')!;
    expect(web.domains).toEqual(expect.arrayContaining(['web.default.svc.cluster.local', 'web', '10.96.0.1', '10.96.0.1:80']));
    expect(rc.virtualHosts.at(-1)).toMatchObject({ name: 'allow_any:80', domains: ['*'], routes: [{ name: 'allow_any', action: { kind: 'route', clusters: [{ name: 'PassthroughCluster' }] } }] });
  });

  it('an IPv6 pod: capture listeners on :: (dual stack); IPv6 VIPs are matched in brackets, as Host headers carry them', () => {
    const se = `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: v6, namespace: default }\nspec:\n  hosts: [v6.default.svc.cluster.local]\n  addresses: ["2001:db8::10"]\n  resolution: STATIC\n  ports: [{ number: 80, name: http, protocol: HTTP }]\n  endpoints: [{ address: "2001:db8::20" }]\n`;
    const t6 = translate(se, sidecarNode({ ip: '2001:db8::5' }));
    expect(listener(t6, 'virtualOutbound').address).toBe('::');
    expect(listener(t6, 'virtualInbound').address).toBe('::');
    expect(routeConfig(t6, '80').virtualHosts[0].domains).toEqual(expect.arrayContaining(['[2001:db8::10]', '[2001:db8::10]:80']));
  });

  it('a TCP port: a TCP proxy on the service VIP to the service cluster', () => {
    expect(chain(out, 'db.default.svc.cluster.local_5432_tcp')).toMatchObject({
      match: { destinationPort: 5432, prefixRanges: ['10.96.0.2'] },
      filters: [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { statPrefix: 'outbound|5432||db.default.svc.cluster.local', clusters: [{ name: 'outbound|5432||db.default.svc.cluster.local', weight: 1 }], idleTimeoutMs: 3_600_000 } }],
    });
  });

  it('an auto-detected port (no protocol, unprefixed name): HTTP when the first bytes are HTTP, else TCP', () => {
    expect(chain(out, 'auto.default.svc.cluster.local_7000_http')).toMatchObject({
      match: { destinationPort: 7000, prefixRanges: ['10.96.0.3'], applicationProtocols: ['http/1.0', 'http/1.1', 'h2c'] },
      filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: { routeConfigName: '7000' } }],
    });
    expect(chain(out, 'auto.default.svc.cluster.local_7000_tcp')).toMatchObject({ match: { destinationPort: 7000, prefixRanges: ['10.96.0.3'] } });
  });

  it('a TLS port: routed on SNI to the service (wildcard hosts too)', () => {
    expect(chain(out, '*.wikipedia.org_443_tls')).toMatchObject({
      match: { destinationPort: 443, transportProtocol: 'tls', serverNames: ['*.wikipedia.org'] },
      filters: [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { clusters: [{ name: 'outbound|443||*.wikipedia.org' }] } }],
    });
  });

  it('REGISTRY_ONLY from the mesh config: the default chain and the HTTP catch-all go nowhere (502)', () => {
    const strict = translate(`${SERVICES}\n---\napiVersion: meshconfig.istio.io/v1alpha1\nkind: MeshConfig\noutboundTrafficPolicy: { mode: REGISTRY_ONLY }\nprotocolDetectionTimeout: 100ms\n`);
    const l = listener(strict, 'virtualOutbound');
    expect(l.protocolDetectionTimeoutMs).toBe(100);
    expect(tcpProxyOf(l.defaultFilterChain)?.clusters).toEqual([{ name: 'BlackHoleCluster', weight: 1 }]);
    expect(routeConfig(strict, '80').virtualHosts.at(-1)).toMatchObject({ name: 'block_all:80', routes: [{ action: { kind: 'direct_response', status: 502 } }] });
  });

  it("a Sidecar's outboundTrafficPolicy overrides the mesh's", () => {
    const sidecar = `\n---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: default, namespace: default }\nspec:\n  outboundTrafficPolicy: { mode: REGISTRY_ONLY }\n`;
    expect(tcpProxyOf(listener(translate(SERVICES + sidecar), 'virtualOutbound').defaultFilterChain)?.clusters[0].name).toBe('BlackHoleCluster');
  });

  it('a Sidecar egress restricts the captured ports too: a service it does not admit gets no chain', () => {
    const sidecar = `\n---\napiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: default, namespace: default }\nspec:\n  egress: [{ hosts: ["./web.default.svc.cluster.local"] }]\n`;
    const names = chainsOf(listener(translate(SERVICES + sidecar), 'virtualOutbound')).map((c) => c.name);
    expect(names).toContain('0.0.0.0_80');
    expect(names.some((n) => n.startsWith('db.'))).toBe(false);
  });
});

describe('VirtualService tcp and tls routes', () => {
  const DR = `
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: db }
spec:
  host: db
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
`;

  it('tcp: weighted destinations; a match on destinationSubnets gets a chain of its own; sourceLabels decided at config time', () => {
    const vs = `
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: db }
spec:
  hosts: [db]
  tcp:
  - match: [{ destinationSubnets: [10.50.0.0/16] }]
    route: [{ destination: { host: db, subset: v2 } }]
  - match: [{ sourceLabels: { app: someone-else } }]
    route: [{ destination: { host: db, subset: v2 } }]
  - route:
    - { destination: { host: db, subset: v1 }, weight: 80 }
    - { destination: { host: db, subset: v2 }, weight: 20 }
`;
    const out = listener(translate(SERVICES + DR + vs), 'virtualOutbound');
    const dbChains = out.filterChains.filter((c) => c.name.startsWith('db.'));
    expect(dbChains.map((c) => [c.match.prefixRanges, tcpProxyOf(c)!.clusters])).toEqual([
      [['10.50.0.0/16'], [{ name: 'outbound|5432|v2|db.default.svc.cluster.local', weight: 100 }]],
      [['10.96.0.2'], [{ name: 'outbound|5432|v1|db.default.svc.cluster.local', weight: 80 }, { name: 'outbound|5432|v2|db.default.svc.cluster.local', weight: 20 }]],
    ]);
  });

  it('tls: sniHosts route to their destinations ahead of the service host', () => {
    const vs = `
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: wiki }
spec:
  hosts: ["*.wikipedia.org"]
  tls:
  - match: [{ port: 443, sniHosts: [en.wikipedia.org] }]
    route: [{ destination: { host: "*.wikipedia.org", port: { number: 443 } } }]
`;
    const out = listener(translate(SERVICES + vs), 'virtualOutbound');
    const tls = out.filterChains.filter((c) => c.match.transportProtocol === 'tls');
    expect(tls.map((c) => c.match.serverNames)).toEqual([['en.wikipedia.org'], ['*.wikipedia.org']]);
  });

  it('validation: tls routes need sniHosts, several destinations need weights, subnets must be CIDRs', () => {
    const vs = (body: string) => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: x }\nspec:\n  hosts: [db]\n${body}`;
    expect(parseError(vs('  tls: [{ route: [{ destination: { host: db } }] }]\n')).message).toMatch(/spec\.tls\[0\]\.match: tls routes need at least one match with sniHosts/);
    expect(parseError(vs('  tls: [{ match: [{ port: 443 }], route: [{ destination: { host: db } }] }]\n')).message).toMatch(/sniHosts is required/);
    expect(parseError(vs('  tcp: [{ route: [{ destination: { host: a } }, { destination: { host: b } }] }]\n')).message).toMatch(/weights are required/);
    expect(parseError(vs('  tcp: [{ match: [{ destinationSubnets: [10.0.0.0/40] }], route: [{ destination: { host: a } }] }]\n')).message).toMatch(/destinationSubnets\[0\]: "10.0.0.0\/40" is not an IP address or CIDR/);
  });
});

describe('virtualInbound (15006)', () => {
  it('ports of the services this workload serves (by endpoint IP): HTTP pipeline or TCP proxy to the original destination, from 127.0.0.6', () => {
    const node = sidecarNode({ ip: '10.0.0.5', labels: { app: 'db' } });
    const t = translate(SERVICES, node);
    const inb = listener(t, 'virtualInbound');
    expect(inb).toMatchObject({ port: 15006, useOriginalDst: true, direction: 'INBOUND' });
    expect(chain(inb, '0.0.0.0_5432')).toMatchObject({ match: { destinationPort: 5432 }, filters: [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { clusters: [{ name: 'inbound|5432||' }] } }] });
    expect(cluster(t, 'inbound|5432||')).toMatchObject({ type: 'ORIGINAL_DST', upstreamBindAddresses: ['127.0.0.6', '::6'], service: { host: 'db.default.svc.cluster.local', port: 5432 } });
    expect(chain(inb, 'virtualInbound-blackhole')).toMatchObject({ match: { destinationPort: 15006 }, filters: [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { clusters: [{ name: 'BlackHoleCluster' }] } }] });
    expect(tcpProxyOf(inb.defaultFilterChain)?.clusters).toEqual([{ name: 'InboundPassthroughClusterIpv4', weight: 1 }]);
  });

  it('an HTTP service port is served on its target port with reporter=destination route config inbound|<port>||', () => {
    const t = translate(SERVICES, sidecarNode({ ip: '10.1.1.1' }));
    const inb = listener(t, 'virtualInbound');
    expect(chain(inb, '0.0.0.0_8080')).toMatchObject({ match: { destinationPort: 8080 }, filters: [{ name: 'envoy.filters.network.http_connection_manager', typedConfig: { routeConfigName: 'inbound|8080||', statPrefix: 'inbound_0.0.0.0_8080' } }] });
    expect(routeConfig(t, 'inbound|8080||').virtualHosts[0].routes[0].action).toMatchObject({ kind: 'route', clusters: [{ name: 'inbound|8080||' }] });
  });

  it('a workloadSelector ServiceEntry selects this proxy by labels in its namespace', () => {
    const se = `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: { name: sel, namespace: default }\nspec:\n  hosts: [sel.default.svc.cluster.local]\n  location: MESH_INTERNAL\n  resolution: STATIC\n  ports: [{ number: 9090, name: grpc, protocol: GRPC }]\n  workloadSelector: { labels: { app: productpage } }\n`;
    expect(chainHcm(chain(listener(translate(se), 'virtualInbound'), '0.0.0.0_9090'))).toBeDefined();
    expect(listener(translate(se, sidecarNode({ labels: { app: 'other' } })), 'virtualInbound').filterChains.map((c) => c.name)).toEqual(['virtualInbound-blackhole']);
  });

  it('captured Sidecar ingress ports replace the services ports, with their defaultEndpoint', () => {
    const sc = `apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: default, namespace: default }\nspec:\n  ingress: [{ port: { number: 9080, protocol: HTTP, name: http }, defaultEndpoint: 127.0.0.1:8080 }]\n`;
    const t = translate(`${SERVICES}\n---\n${sc}`, sidecarNode({ ip: '10.1.1.1' }));
    const inb = listener(t, 'virtualInbound');
    expect(inb.filterChains.map((c) => c.name)).toEqual(['virtualInbound-blackhole', '0.0.0.0_9080']);
    expect(cluster(t, 'inbound|9080||')).toMatchObject({ type: 'STATIC' });
    expect(hostsOf(t, 'inbound|9080||')).toMatchObject([{ address: '127.0.0.1', port: 8080 }]);
  });
});

describe('MeshConfig', () => {
  it('as a document, or as Istio\'s mesh ConfigMap; other settings are reported, not refused', () => {
    const doc = parseYaml('apiVersion: meshconfig.istio.io/v1alpha1\nkind: MeshConfig\noutboundTrafficPolicy: { mode: REGISTRY_ONLY }\nconnectTimeout: 2s\nenableTracing: true\naccessLogFile: /dev/stdout\n');
    expect(doc.mesh).toEqual({ outboundTrafficPolicy: 'REGISTRY_ONLY', protocolDetectionTimeoutMs: 0, connectTimeoutMs: 2000, enableTracing: true, accessLogFile: '/dev/stdout' });
    expect(parseYaml('apiVersion: meshconfig.istio.io/v1alpha1\nkind: MeshConfig\nenableAutoMtls: true\n').warnings.join('\n')).toMatch(/mesh settings enableAutoMtls accepted but not applied/);
    const cm = parseYaml('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: istio, namespace: istio-system }\ndata:\n  mesh: |-\n    protocolDetectionTimeout: 250ms\n    outboundTrafficPolicy:\n      mode: ALLOW_ANY\n');
    expect(cm.mesh).toEqual({ outboundTrafficPolicy: 'ALLOW_ANY', protocolDetectionTimeoutMs: 250 });
    expect(parseYaml('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: other }\ndata: { mesh: "x: 1" }\n').mesh.outboundTrafficPolicy).toBe('ALLOW_ANY');
  });

  it('the mesh connectTimeout applies to clusters without a DestinationRule timeout', () => {
    const t = translate(`${SERVICES}\n---\napiVersion: meshconfig.istio.io/v1alpha1\nkind: MeshConfig\nconnectTimeout: 3s\n`);
    expect(cluster(t, 'outbound|5432||db.default.svc.cluster.local').connectTimeoutMs).toBe(3000);
  });

  it('errors name the field: a bad mode, a bad duration, bad YAML in the ConfigMap, two mesh configs', () => {
    const mc = (body: string) => `apiVersion: meshconfig.istio.io/v1alpha1\nkind: MeshConfig\n${body}`;
    expect(parseError(mc('outboundTrafficPolicy: { mode: SOMETIMES }\n')).message).toMatch(/outboundTrafficPolicy\.mode: must be one of ALLOW_ANY, REGISTRY_ONLY/);
    expect(parseError(mc('protocolDetectionTimeout: soon\n')).message).toMatch(/protocolDetectionTimeout: expected a duration/);
    expect(parseError('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: istio }\ndata:\n  mesh: "a: [1"\n').message).toMatch(/data\.mesh: invalid mesh config YAML/);
    expect(parseError(`${mc('connectTimeout: 1s\n')}---\n${mc('connectTimeout: 2s\n')}`).message).toMatch(/a second mesh config/);
  });
});
