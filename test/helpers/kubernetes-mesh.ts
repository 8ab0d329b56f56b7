/**
 * A Kubernetes mesh as `kubectl get -o yaml` would dump it (Services with cluster IPs, Pods,
 * EndpointSlices), whose pods are HTTP servers on loopback addresses (127.0.1.x) that answer with
 * their name and record what they got. Services and workloads may come from Istio's bookinfo
 * sample (its Services and Deployments, read from ../shared/conformance).
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { parseAllDocuments, stringify } from 'yaml';
import { CONFORMANCE } from '../config/security-helpers.js';

export interface MeshService {
  name: string;
  namespace: string;
  port: number;
  clusterIP: string;
  /** The pods behind it: their labels (the Service selects on `app`). */
  workloads: { name: string; labels: Record<string, string>; serviceAccount: string }[];
}

export interface MeshPod {
  name: string;
  namespace: string;
  ip: string;
  labels: Record<string, string>;
  serviceAccount: string;
  /** Requests it received: method, url, headers. */
  received: { method: string; url: string; headers: IncomingHttpHeaders }[];
}

/** bookinfo's Services (port 9080) and Deployments, from the sample's platform/kube/bookinfo.yaml. */
export function bookinfoServices(): MeshService[] {
  const docs = parseAllDocuments(readFileSync(`${CONFORMANCE}samples/bookinfo/platform/kube/bookinfo.yaml`, 'utf8')).map((d) => d.toJS()).filter(Boolean);
  const deployments = docs.filter((d) => d.kind === 'Deployment');
  return docs.filter((d) => d.kind === 'Service').map((s, i) => ({
    name: s.metadata.name,
    namespace: 'default',
    port: s.spec.ports[0].port,
    clusterIP: `10.96.0.${10 + i}`,
    workloads: deployments
      .filter((d) => d.spec.template.metadata.labels.app === s.spec.selector.app)
      .map((d) => ({ name: d.metadata.name, labels: d.spec.template.metadata.labels, serviceAccount: d.spec.template.spec.serviceAccountName ?? 'default' })),
  }));
}

export class KubernetesMesh {
  readonly pods: MeshPod[] = [];
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();

  /** `podPort`: the port every pod listens on (the Services' target port). */
  constructor(
    readonly services: MeshService[],
    readonly podPort: number,
  ) {
    let n = 10;
    for (const s of services) {
      for (const w of s.workloads) this.pods.push({ name: `${w.name}-5d4f8`, namespace: s.namespace, ip: `127.0.1.${n++}`, labels: w.labels, serviceAccount: w.serviceAccount, received: [] });
    }
  }

  pod(name: string): MeshPod {
    const p = this.pods.find((x) => x.name.startsWith(`${name}-`));
    if (!p) throw new Error(`no pod ${name}`);
    return p;
  }

  service(name: string): MeshService {
    return this.services.find((s) => s.name === name)!;
  }

  /** Every pod listening: it answers 200 with `{"pod": <name>}`. */
  async start(): Promise<void> {
    for (const p of this.pods) {
      const srv = createServer((req, res) => {
        p.received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
        req.resume();
        req.on('end', () => res.end(JSON.stringify({ pod: p.name })));
      });
      srv.on('connection', (s: Socket) => {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
      });
      this.servers.push(srv);
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(this.podPort, p.ip, () => resolve());
      });
    }
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }

  /** The dump: Services, Pods, EndpointSlices. */
  yaml(): string {
    const items: unknown[] = [];
    for (const s of this.services) {
      items.push({
        apiVersion: 'v1', kind: 'Service', metadata: { name: s.name, namespace: s.namespace, labels: { app: s.name } },
        spec: { type: 'ClusterIP', clusterIP: s.clusterIP, selector: { app: s.name }, ports: [{ name: 'http', port: s.port, protocol: 'TCP', targetPort: this.podPort }] },
      });
      const pods = this.pods.filter((p) => p.namespace === s.namespace && p.labels.app === s.name);
      items.push({
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: { name: `${s.name}-x7k2p`, namespace: s.namespace, labels: { 'kubernetes.io/service-name': s.name } },
        addressType: 'IPv4',
        endpoints: pods.map((p) => ({ addresses: [p.ip], conditions: { ready: true }, targetRef: { kind: 'Pod', name: p.name, namespace: p.namespace } })),
        ports: [{ name: 'http', port: this.podPort, protocol: 'TCP' }],
      });
    }
    for (const p of this.pods) {
      items.push({
        apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name, namespace: p.namespace, labels: p.labels },
        spec: { serviceAccountName: p.serviceAccount, containers: [{ name: 'app', image: 'app' }] },
        status: { phase: 'Running', podIP: p.ip, podIPs: [{ ip: p.ip }], conditions: [{ type: 'Ready', status: 'True' }] },
      });
    }
    return stringify({ apiVersion: 'v1', kind: 'List', items });
  }
}
