/**
 * Kubernetes Services, EndpointSlices, Endpoints, Pods and Nodes as the service registry, the way
 * istiod's Kubernetes registry builds it. Bookinfo's own manifests are read in place; the Pods and
 * EndpointSlices a `kubectl get -o yaml` dump of the running app would hold are written here.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { Listener } from '../../src/config/snapshot.js';
import { RouteTable } from '../../src/router/route-table.js';
import { compilePerRouteConfig } from '../../src/filters/http/registry.js';
import { autoMtlsTls, chainHcm, cluster, exactSans, hostsOf, listener, parseError, parseYaml, routeConfig, sidecarNode, targets, translate, vhostWithDomain, yaml } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const BOOKINFO = resolve(here, '../../../shared/conformance/istio/samples/bookinfo');
const read = (rel: string) => readFileSync(resolve(BOOKINFO, rel), 'utf8');

const REVIEWS = 'reviews.default.svc.cluster.local';
const PRODUCTPAGE = 'productpage.default.svc.cluster.local';

interface Deployment {
  metadata: { name: string };
  spec: { template: { metadata: { labels: Record<string, string> }; spec: { serviceAccountName: string; containers: { name: string; ports?: { containerPort: number }[] }[] } } };
}
interface ServiceDoc {
  metadata: { name: string };
  spec: { selector: Record<string, string>; ports: { name: string; port: number }[] };
}

/** Pod IPs: productpage-v1 is this proxy (sidecarNode's 10.1.1.1). */
const POD_IPS: Record<string, string> = {
  'productpage-v1': '10.1.1.1', 'details-v1': '10.1.0.11', 'ratings-v1': '10.1.0.21',
  'reviews-v1': '10.1.0.31', 'reviews-v2': '10.1.0.32', 'reviews-v3': '10.1.0.33',
};
const CLUSTER_IPS: Record<string, string> = { productpage: '10.96.0.10', details: '10.96.0.11', ratings: '10.96.0.12', reviews: '10.96.0.13' };

/**
 * What `kubectl get svc,pods,endpointslices -o yaml` adds to bookinfo.yaml once it runs: the
 * Services' cluster IPs, one injected Pod per Deployment and one EndpointSlice per Service.
 */
function bookinfoDump(): string {
  const docs = parseAllDocuments(read('platform/kube/bookinfo.yaml')).map((d) => d.toJS() as { kind: string } | null).filter((d) => d !== null);
  const deployments = docs.filter((d) => d.kind === 'Deployment') as unknown as Deployment[];
  const services = docs.filter((d) => d.kind === 'Service') as unknown as ServiceDoc[];
  const pods = deployments.map((d) => {
    const t = d.spec.template;
    const name = `${d.metadata.name}-7d9c8f6b5-x2x4z`;
    const labels: Record<string, string> = { ...t.metadata.labels, 'pod-template-hash': '7d9c8f6b5', 'security.istio.io/tlsMode': 'istio' };
    return { name, labels, ip: POD_IPS[d.metadata.name], text: yaml`
apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: default
  labels: ${JSON.stringify(labels)}
  annotations: { sidecar.istio.io/status: '{"containers":["istio-proxy"]}' }
  ownerReferences: [{ apiVersion: apps/v1, kind: ReplicaSet, name: ${d.metadata.name}-7d9c8f6b5, uid: 1b2c }]
spec:
  serviceAccountName: ${t.spec.serviceAccountName}
  nodeName: node-a
  containers:
  - name: ${t.spec.containers[0].name}
    image: docker.io/istio/examples-bookinfo
    ports: [{ containerPort: 9080, protocol: TCP }]
status:
  phase: Running
  podIP: ${POD_IPS[d.metadata.name]}
  podIPs: [{ ip: ${POD_IPS[d.metadata.name]} }]
` };
  });
  const slices = services.map((s) => {
    const selected = pods.filter((p) => Object.entries(s.spec.selector).every(([k, v]) => p.labels[k] === v));
    return yaml`
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${s.metadata.name}-abcde
  namespace: default
  labels: { kubernetes.io/service-name: ${s.metadata.name}, endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io }
  generateName: ${s.metadata.name}-
addressType: IPv4
endpoints:
${selected.map((p) => `- addresses: [${p.ip}]
  conditions: { ready: true, serving: true, terminating: false }
  nodeName: node-a
  targetRef: { kind: Pod, name: ${p.name}, namespace: default, uid: 9f8e }`).join('\n')}
ports:
- { name: http, port: 9080, protocol: TCP }
`;
  });
  // a dump prints each Service with the cluster IP it was given
  const withIps = read('platform/kube/bookinfo.yaml').replace(/^spec:\n  ports:\n  - port: 9080\n    name: http\n  selector:\n    app: (\w+)$/gm, (m, app: string) => m.replace('spec:\n', `spec:\n  clusterIP: ${CLUSTER_IPS[app]}\n`));
  const node = yaml`
apiVersion: v1
kind: Node
metadata: { name: node-a, labels: { topology.kubernetes.io/region: us-east1, topology.kubernetes.io/zone: us-east1-b } }
`;
  return [withIps, ...pods.map((p) => p.text), ...slices, node].join('\n---\n');
}

const DUMP = bookinfoDump();

describe('bookinfo from a kubectl dump', () => {
  const config = [DUMP, read('networking/destination-rule-all.yaml'), read('networking/virtual-service-reviews-80-20.yaml')].join('\n---\n');
  const t = translate(config);

  it('gives each Service port a cluster with the ready Pods as endpoints, and subsets by Pod labels', () => {
    expect(cluster(t, `outbound|9080||${REVIEWS}`)).toMatchObject({
      type: 'STATIC',
      lbPolicy: 'LEAST_REQUEST',
      service: { host: REVIEWS, namespace: 'default', port: 9080 },
    });
    // auto mTLS as istiod sends it (istioctl's describe testdata, a bookinfo cluster's transport_socket_matches)
    expect(cluster(translate(config, undefined, undefined, true), `outbound|9080|v1|${REVIEWS}`).transportSocketMatches).toEqual([
      {
        name: 'tlsMode-istio',
        match: { tlsMode: 'istio' },
        transportSocket: {
          name: 'envoy.transport_sockets.tls',
          typedConfig: {
            commonTlsContext: {
              tlsParams: { tlsMinimumProtocolVersion: 'TLSv1_2', tlsMaximumProtocolVersion: 'TLSv1_3' },
              alpnProtocols: ['istio-peer-exchange', 'istio'],
              tlsCertificateSdsSecretConfigs: [{ name: 'default' }],
              combinedValidationContext: {
                defaultValidationContext: { matchSubjectAltNames: [{ exact: 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews' }] },
                validationContextSdsSecretConfig: { name: 'ROOTCA' },
              },
            },
            sni: `outbound_.9080_.v1_.${REVIEWS}`,
          },
        },
      },
      { name: 'tlsMode-disabled', match: {}, transportSocket: { name: 'envoy.transport_sockets.raw_buffer' } },
    ]);
    expect(hostsOf(t, `outbound|9080||${REVIEWS}`).map((e) => `${e.address}:${e.port}`)).toEqual(['10.1.0.31:9080', '10.1.0.32:9080', '10.1.0.33:9080']);
    for (const [subset, ip] of [['v1', '10.1.0.31'], ['v2', '10.1.0.32'], ['v3', '10.1.0.33']]) {
      const endpoints = hostsOf(t, `outbound|9080|${subset}|${REVIEWS}`);
      expect(endpoints).toHaveLength(1);
      expect(endpoints[0]).toMatchObject({
        address: ip,
        port: 9080,
        locality: { region: 'us-east1', zone: 'us-east1-b', subZone: '' },
        tlsMode: 'istio',
        labels: {
          app: 'reviews', version: subset, 'security.istio.io/tlsMode': 'istio',
          // the topology labels istiod adds to every Kubernetes endpoint
          'topology.kubernetes.io/region': 'us-east1', 'topology.kubernetes.io/zone': 'us-east1-b', 'topology.istio.io/cluster': 'Kubernetes', 'kubernetes.io/hostname': 'node-a',
        },
      });
    }
    expect(hostsOf(t, 'outbound|9080|v1|ratings.default.svc.cluster.local').map((e) => e.address)).toEqual(['10.1.0.21']);
    expect(hostsOf(t, 'outbound|9080|v2|ratings.default.svc.cluster.local')).toEqual([]);
  });

  it('routes by the VirtualService: 80/20 between the reviews subsets, on the service names and VIP', () => {
    const rc = routeConfig(t, '9080');
    for (const domain of [REVIEWS, `${REVIEWS}:9080`, 'reviews', 'reviews:9080', 'reviews.default', '10.96.0.13:9080']) {
      const vh = vhostWithDomain(rc, domain);
      expect(vh?.name, domain).toBe(`${REVIEWS}:9080`);
    }
    expect(targets(vhostWithDomain(rc, 'reviews:9080')!.routes[0])).toEqual([[`outbound|9080|v1|${REVIEWS}`, 80], [`outbound|9080|v2|${REVIEWS}`, 20]]);
    expect(targets(vhostWithDomain(rc, 'details:9080')!.routes[0])).toEqual([['outbound|9080||details.default.svc.cluster.local', 100]]);
  });

  it('takes the proxy’s own Service port inbound (its Pod IP is an endpoint of productpage)', () => {
    const inb = listener(t, 'virtualInbound');
    expect(chainHcm(chains(inb).find((c) => c.match.destinationPort === 9080 && chainHcm(c)))?.routeConfigName).toBe('inbound|9080||');
    expect(cluster(t, 'inbound|9080||')).toMatchObject({ type: 'ORIGINAL_DST', service: { host: PRODUCTPAGE, port: 9080 } });
  });

  it('a reviews-v2 sidecar serves reviews inbound and is not its own productpage', () => {
    const t2 = translate(config, sidecarNode({ ip: '10.1.0.32', labels: { app: 'reviews', version: 'v2' }, serviceAccount: 'bookinfo-reviews' }));
    expect(cluster(t2, 'inbound|9080||').service).toMatchObject({ host: REVIEWS });
  });

  it('keeps skipping Deployments and ServiceAccounts with a warning (istiod does not read them)', () => {
    expect(t.warnings.filter((w) => / Deployment \S+ ignored/.test(w))).toHaveLength(6);
    expect(t.warnings.filter((w) => / ServiceAccount \S+ ignored/.test(w))).toHaveLength(4);
  });

  it('Services without EndpointSlices still get their VIP, virtual host and a cluster without endpoints', () => {
    const bare = translate(DUMP.split('\n---\n').filter((d) => !/^kind: EndpointSlice$/m.test(d)).join('\n---\n'));
    expect(cluster(bare, `outbound|9080||${REVIEWS}`)).toMatchObject({ type: 'STATIC' });
    expect(hostsOf(bare, `outbound|9080||${REVIEWS}`)).toEqual([]);
    expect(vhostWithDomain(routeConfig(bare, '9080'), '10.96.0.13:9080')?.name).toBe(`${REVIEWS}:9080`);
    // the manifest alone (no cluster IP yet) is enough for the clusters too
    expect(hostsOf(translate(read('platform/kube/bookinfo.yaml')), `outbound|9080||${REVIEWS}`)).toEqual([]);
  });
});

function chains(l: Listener) {
  return l.defaultFilterChain ? [...l.filterChains, l.defaultFilterChain] : l.filterChains;
}

function svc(name: string, spec: string, annotations = '{}', ns = 'default'): string {
  return `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: ${ns}, annotations: ${annotations} }\nspec:\n${spec}\n---\n`;
}

function slice(name: string, service: string, body: string, ns = 'default'): string {
  return `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: { name: ${name}, namespace: ${ns}, labels: { kubernetes.io/service-name: ${service} } }\naddressType: IPv4\n${body}\n---\n`;
}

describe('Kubernetes Service fields', () => {
  it('picks each port protocol as Istio does: appProtocol, then the name prefix, UDP, well-known TCP ports', () => {
    const cfg = parseYaml(svc('s', `  clusterIP: 10.96.1.1
  ports:
  - { name: web, port: 80, appProtocol: http }
  - { name: http2-x, port: 81, appProtocol: kubernetes.io/h2c }
  - { name: grpc-web-ui, port: 82 }
  - { name: tcp-db, port: 83 }
  - { name: dns, port: 53, protocol: UDP }
  - { name: mysql-main, port: 3306 }
  - { name: db, port: 3307 }
  - { name: db2, port: 27017 }
  - { name: https-x, port: 443, appProtocol: kubernetes.io/wss }
  - { name: x, port: 84, appProtocol: grpc }`));
    expect(cfg.kubernetes.services[0].ports.map((p) => [p.port, p.protocol])).toEqual([
      [80, 'HTTP'], [81, 'HTTP2'], [82, 'GRPC-WEB'], [83, 'TCP'], [53, 'UDP'], [3306, 'MYSQL'], [3307, 'UNSUPPORTED'], [27017, 'TCP'], [443, 'HTTPS'], [84, 'GRPC'],
    ]);
  });

  it('uses only ready endpoints (ready unset counts as ready); serving-but-terminating ones are left out', () => {
    const t = translate(svc('s', '  clusterIP: 10.96.1.1\n  ports: [{ name: http, port: 80, targetPort: 8080 }]') + slice('s-1', 's', `endpoints:
- { addresses: [10.2.0.1], conditions: { ready: true } }
- { addresses: [10.2.0.2] }
- { addresses: [10.2.0.3], conditions: { ready: false, serving: true, terminating: true } }
- { addresses: [10.2.0.4], conditions: { ready: false } }
ports: [{ name: http, port: 8080 }]`));
    expect(hostsOf(t, 'outbound|80||s.default.svc.cluster.local').map((e) => `${e.address}:${e.port}`)).toEqual(['10.2.0.1:8080', '10.2.0.2:8080']);
  });

  it('gives an endpoint only the ports its slices list, merges slices and drops duplicates', () => {
    const t = translate(svc('s', '  clusterIP: 10.96.1.1\n  ports: [{ name: http, port: 80 }, { name: tcp-admin, port: 9000 }]') +
      slice('s-1', 's', 'endpoints: [{ addresses: [10.2.0.1] }, { addresses: [10.2.0.2] }]\nports: [{ name: http, port: 8080 }]') +
      slice('s-2', 's', 'endpoints: [{ addresses: [10.2.0.1] }]\nports: [{ name: tcp-admin, port: 9090 }, { name: http, port: 7070 }, { name: other, port: 1 }]'));
    expect(hostsOf(t, 'outbound|80||s.default.svc.cluster.local').map((e) => `${e.address}:${e.port}`)).toEqual(['10.2.0.1:8080', '10.2.0.2:8080']);
    expect(hostsOf(t, 'outbound|9000||s.default.svc.cluster.local').map((e) => `${e.address}:${e.port}`)).toEqual(['10.2.0.1:9090']);
  });

  it('reads legacy Endpoints when a Service has no EndpointSlice, and ignores them when it has (they are mirrored)', () => {
    const endpoints = `apiVersion: v1
kind: Endpoints
metadata: { name: s, namespace: default }
subsets:
- addresses: [{ ip: 10.3.0.1, nodeName: n1 }]
  notReadyAddresses: [{ ip: 10.3.0.2 }]
  ports: [{ name: http, port: 8080 }]
---
`;
    const base = svc('s', '  clusterIP: 10.96.1.1\n  ports: [{ name: http, port: 80 }]') + endpoints;
    expect(hostsOf(translate(base), 'outbound|80||s.default.svc.cluster.local').map((e) => `${e.address}:${e.port}`)).toEqual(['10.3.0.1:8080']);
    const both = base + slice('s-1', 's', 'endpoints: [{ addresses: [10.3.0.9] }]\nports: [{ name: http, port: 8081 }]');
    expect(hostsOf(translate(both), 'outbound|80||s.default.svc.cluster.local').map((e) => `${e.address}:${e.port}`)).toEqual(['10.3.0.9:8081']);
  });

  it('leaves out an endpoint whose Pod is missing from a dump that has Pods, as istiod waits for the Pod', () => {
    const pod = 'apiVersion: v1\nkind: Pod\nmetadata: { name: p1, namespace: default, labels: { app: s } }\nspec: { serviceAccountName: sa1 }\nstatus: { podIP: 10.2.0.1 }\n---\n';
    const slices = slice('s-1', 's', `endpoints:
- { addresses: [10.2.0.1], targetRef: { kind: Pod, name: p1, namespace: default } }
- { addresses: [10.2.0.2], targetRef: { kind: Pod, name: gone, namespace: default } }
ports: [{ name: http, port: 80 }]`);
    const service = svc('s', '  clusterIP: 10.96.1.1\n  selector: { app: s }\n  ports: [{ name: http, port: 80 }]');
    const t = translate(service + pod + slices, undefined, undefined, true);
    const c = cluster(t, 'outbound|80||s.default.svc.cluster.local');
    expect(hostsOf(t, c.name).map((e) => e.address)).toEqual(['10.2.0.1']);
    expect(hostsOf(t, c.name)[0].labels).toMatchObject({ app: 's' });
    expect(exactSans(autoMtlsTls(c))).toEqual(['spiffe://cluster.local/ns/default/sa/sa1']);
    expect(t.warnings).toContainEqual(expect.stringMatching(/EndpointSlice default\/s-1: endpoint 10\.2\.0\.2 left out: its Pod gone is not in the config/));
    // without any Pod in the config, both endpoints stay (without Pod labels)
    expect(hostsOf(translate(service + slices), 'outbound|80||s.default.svc.cluster.local').map((e) => e.address)).toEqual(['10.2.0.1', '10.2.0.2']);
  });

  it('headless: no VIP, a passthrough cluster, the endpoint IPs as the addresses it listens on', () => {
    const t = translate(svc('db', '  clusterIP: None\n  ports: [{ name: tcp, port: 5432 }]') + slice('db-1', 'db', 'endpoints: [{ addresses: [10.4.0.1] }, { addresses: [10.4.0.2] }]\nports: [{ name: tcp, port: 5432 }]'));
    expect(cluster(t, 'outbound|5432||db.default.svc.cluster.local')).toMatchObject({ type: 'ORIGINAL_DST', lbPolicy: 'CLUSTER_PROVIDED' });
    expect(hostsOf(t, 'outbound|5432||db.default.svc.cluster.local')).toEqual([]);
    const out = listener(t, 'virtualOutbound');
    const c = chains(out).find((x) => x.match.destinationPort === 5432);
    expect([...(c?.match.prefixRanges ?? [])].sort()).toEqual(['10.4.0.1', '10.4.0.2']);
  });

  it('headless HTTP: a StatefulSet Pod name (<pod>.<service>) reaches the service’s virtual host', () => {
    const t = translate(svc('web', '  clusterIP: None\n  ports: [{ name: http, port: 8080 }]') + slice('web-1', 'web', 'endpoints: [{ addresses: [10.4.0.1] }]\nports: [{ name: http, port: 8080 }]'));
    const rc = routeConfig(t, '8080');
    for (const d of ['web-0.web.default.svc.cluster.local:8080', 'web-0.web:8080', 'web.default.svc.cluster.local:8080']) {
      expect(new RouteTable(rc, compilePerRouteConfig).findVirtualHost(d)?.name, d).toBe('web.default.svc.cluster.local:8080');
    }
    expect(cluster(t, 'outbound|8080||web.default.svc.cluster.local').type).toBe('ORIGINAL_DST');
  });

  it('ExternalName: no cluster of its own; its name answers on the virtual host of the Service it aliases', () => {
    const t = translate(svc('reviews', '  clusterIP: 10.96.1.1\n  ports: [{ name: http, port: 9080 }]') +
      svc('reviews-alias', '  type: ExternalName\n  externalName: reviews.default.svc.cluster.local') +
      svc('alias2', '  type: ExternalName\n  externalName: reviews-alias.default.svc.cluster.local') +
      svc('loop-a', '  type: ExternalName\n  externalName: loop-b.default.svc.cluster.local') +
      svc('loop-b', '  type: ExternalName\n  externalName: loop-a.default.svc.cluster.local'));
    expect(t.snapshot.clusters.map((c) => c.name).filter((n) => n.startsWith('outbound|'))).toEqual([`outbound|9080||${REVIEWS}`]);
    const rc = routeConfig(t, '9080');
    for (const d of ['reviews-alias:9080', 'reviews-alias.default.svc.cluster.local:9080', 'alias2:9080']) expect(vhostWithDomain(rc, d)?.name, d).toBe(`${REVIEWS}:9080`);
    expect(vhostWithDomain(rc, 'loop-a:9080')).toBeUndefined();
  });

  it('honours the networking.istio.io/exportTo annotation', () => {
    const text = svc('private', '  clusterIP: 10.96.1.2\n  ports: [{ name: http, port: 80 }]', '{ networking.istio.io/exportTo: "." }', 'team-a') +
      svc('shared', '  clusterIP: 10.96.1.3\n  ports: [{ name: http, port: 80 }]', '{ networking.istio.io/exportTo: "team-a, default" }', 'team-a');
    const names = (ns: string) => translate(text, sidecarNode({ namespace: ns })).snapshot.clusters.map((c) => c.name).filter((n) => n.startsWith('outbound|'));
    expect(names('team-a')).toEqual(['outbound|80||private.team-a.svc.cluster.local', 'outbound|80||shared.team-a.svc.cluster.local']);
    expect(names('default')).toEqual(['outbound|80||shared.team-a.svc.cluster.local']);
    expect(names('other')).toEqual([]);
  });

  it('resolves a named targetPort through the proxy’s Pod container ports for inbound traffic', () => {
    const text = svc('api', '  clusterIP: 10.96.1.4\n  selector: { app: api }\n  ports: [{ name: http, port: 80, targetPort: web }]') +
      'apiVersion: v1\nkind: Pod\nmetadata: { name: api-1, namespace: default, labels: { app: api } }\nspec:\n  containers: [{ name: c, ports: [{ name: web, containerPort: 8081 }] }]\nstatus: { podIP: 10.5.0.1 }\n';
    const t = translate(text, sidecarNode({ ip: '10.5.0.1', labels: { app: 'api' } }));
    expect(chains(listener(t, 'virtualInbound')).some((c) => c.match.destinationPort === 8081 && chainHcm(c))).toBe(true);
  });

  it('adds the WorkloadEntries its selector picks (istiod: Kubernetes Services select WorkloadEntries)', () => {
    const we = (name: string, ip: string, ports: string) => `apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: { name: ${name}, namespace: default }\nspec: { address: ${ip}, labels: { app: s }, ports: ${ports} }\n---\n`;
    const t = translate(svc('s', '  clusterIP: 10.96.1.1\n  selector: { app: s }\n  ports: [{ name: http, port: 80, targetPort: 8080 }, { name: grpc, port: 90, targetPort: api }, { name: tcp-x, port: 100 }]') +
      we('vm1', '10.6.0.1', '{}') + we('vm2', '10.6.0.2', '{ http: 8181, api: 9191, tcp-x: 1001 }'));
    const eps = (port: number) => hostsOf(t, `outbound|${port}||s.default.svc.cluster.local`).map((e) => `${e.address}:${e.port}`);
    expect(eps(80)).toEqual(['10.6.0.1:8080', '10.6.0.2:8181']);
    expect(eps(90)).toEqual(['10.6.0.2:9191']); // a named targetPort the entry does not name: not served there
    expect(eps(100)).toEqual(['10.6.0.1:100', '10.6.0.2:1001']);
  });

  it('a ServiceEntry workloadSelector picks ready Pods, on the container port named like the service port', () => {
    const pod = (name: string, ip: string, ready: string, extra = '') => `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default, labels: { app: vm-like }${extra} }
spec:
  serviceAccountName: sa-${name}
  containers: [{ name: c, ports: [{ name: http, containerPort: 8181 }, { name: metrics, containerPort: 9090 }] }]
status: { podIP: ${ip}, conditions: [{ type: Ready, status: "${ready}" }] }
---
`;
    const se = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: se, namespace: default }
spec:
  hosts: [api.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: http, protocol: HTTP }, { number: 81, name: admin, protocol: HTTP, targetPort: 7070 }]
  workloadSelector: { labels: { app: vm-like } }
`;
    const t = translate(pod('a', '10.7.0.1', 'True') + pod('b', '10.7.0.2', 'False') + pod('c', '10.7.0.3', 'True', ', deletionTimestamp: "2026-01-01T00:00:00Z"') + se, undefined, undefined, true);
    expect(hostsOf(t, 'outbound|80||api.internal').map((e) => `${e.address}:${e.port}`)).toEqual(['10.7.0.1:8181']);
    expect(hostsOf(t, 'outbound|81||api.internal').map((e) => `${e.address}:${e.port}`)).toEqual(['10.7.0.1:7070']);
    expect(exactSans(autoMtlsTls(cluster(t, 'outbound|80||api.internal')))).toEqual(['spiffe://cluster.local/ns/default/sa/sa-a']);
  });

  it('internalTrafficPolicy Local keeps only the endpoints on the proxy’s node (its own Pod’s node)', () => {
    const pod = (name: string, ip: string, nodeName: string) => `apiVersion: v1\nkind: Pod\nmetadata: { name: ${name}, namespace: default, labels: { app: s } }\nspec: { nodeName: ${nodeName} }\nstatus: { podIP: ${ip} }\n---\n`;
    const text = svc('s', '  clusterIP: 10.96.1.1\n  internalTrafficPolicy: Local\n  ports: [{ name: http, port: 80 }]') +
      pod('me', '10.8.0.1', 'node-a') + pod('near', '10.8.0.2', 'node-a') + pod('far', '10.8.0.3', 'node-b') +
      slice('s-1', 's', 'endpoints: [{ addresses: [10.8.0.2] }, { addresses: [10.8.0.3] }]\nports: [{ name: http, port: 80 }]');
    const t = translate(text, sidecarNode({ ip: '10.8.0.1' }));
    expect(hostsOf(t, 'outbound|80||s.default.svc.cluster.local').map((e) => e.address)).toEqual(['10.8.0.2']);
    const cluster2 = translate(text.replace('internalTrafficPolicy: Local', 'internalTrafficPolicy: Cluster'), sidecarNode({ ip: '10.8.0.1' }));
    expect(hostsOf(cluster2, 'outbound|80||s.default.svc.cluster.local').map((e) => e.address)).toEqual(['10.8.0.2', '10.8.0.3']);
  });

  it('refuses other API versions of the registry kinds and malformed addresses, naming the field', () => {
    const v1beta1 = parseError('apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: { name: x }\naddressType: IPv4\n');
    expect(v1beta1.location.field).toBe('apiVersion');
    expect(v1beta1.reason).toMatch(/accepted: discovery\.k8s\.io\/v1/);
    const badIp = parseError(slice('s-1', 's', 'endpoints: [{ addresses: [not-an-ip] }]'));
    expect(badIp.location.field).toBe('endpoints[0].addresses[0]');
    const dupPort = parseError(svc('s', '  ports: [{ name: a, port: 1 }, { name: a, port: 2 }]'));
    expect(dupPort.location.field).toBe('spec.ports[1].name');
  });
});
