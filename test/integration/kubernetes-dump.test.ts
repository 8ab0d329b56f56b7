// A `kubectl get -o yaml` dump (kind: List with Deployments, Services, Pods, EndpointSlices, a Node)
// plus Istio resources is enough to run a gateway: the real proxy routes to the Pods behind the
// Service, by subset of Pod labels. The "Pods" are servers on 127.0.0.2 and 127.0.0.3.
import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest, newAgent } from '../helpers/http.js';
import { destinationRule, gateway, GATEWAY_ARGS, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';

const REVIEWS = 'reviews.default.svc.cluster.local';
const PODS = [
  { name: 'reviews-v1-5b8f9c7d4-abcde', version: 'v1', ip: '127.0.0.2' },
  { name: 'reviews-v2-6c9d8e7f5-fghij', version: 'v2', ip: '127.0.0.3' },
];

let proxy: RunningProxy;
let gw: number;
let podPort: number;
const servers: Server[] = [];
const sockets = new Set<Socket>();
const agent = newAgent();

/** What kubectl prints: objects with status, managedFields and the rest the API server adds. */
function dump(): string {
  const meta = (name: string, extra: Record<string, unknown> = {}) => ({
    name, namespace: 'default', uid: `uid-${name}`, resourceVersion: '4711', creationTimestamp: '2026-12-01T10:00:00Z',
    managedFields: [{ manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: '2026-12-01T10:00:00Z' }], ...extra,
  });
  const items = [
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta('reviews-v1'), spec: { replicas: 1, template: { metadata: { labels: { app: 'reviews', version: 'v1' } } } }, status: { readyReplicas: 1 } },
    {
      apiVersion: 'v1', kind: 'Service', metadata: meta('reviews', { labels: { app: 'reviews' } }),
      spec: { type: 'ClusterIP', clusterIP: '10.96.0.13', clusterIPs: ['10.96.0.13'], ipFamilies: ['IPv4'], sessionAffinity: 'None', selector: { app: 'reviews' }, ports: [{ name: 'http', port: 9080, protocol: 'TCP', targetPort: podPort }] },
      status: { loadBalancer: {} },
    },
    ...PODS.map((p) => ({
      apiVersion: 'v1', kind: 'Pod',
      metadata: meta(p.name, { labels: { app: 'reviews', version: p.version, 'security.istio.io/tlsMode': 'disabled' }, ownerReferences: [{ kind: 'ReplicaSet', name: p.name.slice(0, -6) }] }),
      spec: { serviceAccountName: 'bookinfo-reviews', nodeName: 'node-a', containers: [{ name: 'reviews', image: 'reviews', ports: [{ containerPort: podPort, protocol: 'TCP' }] }] },
      status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }], conditions: [{ type: 'Ready', status: 'True' }, { type: 'ContainersReady', status: 'True' }] },
    })),
    {
      apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
      metadata: meta('reviews-x7k2p', { generateName: 'reviews-', labels: { 'kubernetes.io/service-name': 'reviews', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } }),
      addressType: 'IPv4',
      endpoints: PODS.map((p) => ({ addresses: [p.ip], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-a', targetRef: { kind: 'Pod', name: p.name, namespace: 'default', uid: `uid-${p.name}` } })),
      ports: [{ name: 'http', port: podPort, protocol: 'TCP' }],
    },
    { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { 'topology.kubernetes.io/region': 'r1', 'topology.kubernetes.io/zone': 'z1' } }, status: {} },
  ];
  return stringify({ apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items });
}

beforeAll(async () => {
  [gw, podPort] = await freePorts(2);
  for (const p of PODS) {
    const srv = createServer((req, res) => res.end(JSON.stringify({ pod: p.name, version: p.version, url: req.url })));
    srv.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    servers.push(srv);
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(podPort, p.ip, () => resolve());
    });
  }
  const istio = toYaml(
    gateway({ port: gw }),
    virtualService('reviews', {
      hosts: ['reviews.example.com'],
      gateways: ['gw'],
      http: [
        { match: [{ headers: { 'x-version': { exact: 'v2' } } }], route: [{ destination: { host: 'reviews', subset: 'v2' } }] },
        { route: [{ destination: { host: 'reviews', subset: 'v1' } }] },
      ],
    }),
    destinationRule('reviews', { host: 'reviews', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] }),
  );
  proxy = await startProxy({ files: { 'dump.yaml': dump(), 'istio.yaml': istio }, args: GATEWAY_ARGS });
});

afterAll(async () => {
  await stopAllProxies();
  await agent.close();
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

describe('a kubectl dump as the service registry', () => {
  it('routes to the Pod of each subset, on the EndpointSlice port', async () => {
    const v1 = await httpRequest(gw, { host: 'reviews.example.com', path: '/reviews/0', dispatcher: agent });
    expect(v1.status).toBe(200);
    expect(v1.json()).toMatchObject({ version: 'v1', url: '/reviews/0' });
    const v2 = await httpRequest(gw, { host: 'reviews.example.com', headers: { 'x-version': 'v2' }, dispatcher: agent });
    expect(v2.json()).toMatchObject({ version: 'v2' });
  });

  it('lists the Pods as the endpoints of the Service’s clusters on the admin API', async () => {
    const res = await fetch(`http://127.0.0.1:${proxy.ports.admin}/clusters`);
    const text = await res.text();
    expect(text).toContain(`outbound|9080|v1|${REVIEWS}::127.0.0.2:${podPort}::`);
    expect(text).toContain(`outbound|9080|v2|${REVIEWS}::127.0.0.3:${podPort}::`);
    expect(text).toContain(`outbound|9080||${REVIEWS}::127.0.0.3:${podPort}::`);
  });
});
