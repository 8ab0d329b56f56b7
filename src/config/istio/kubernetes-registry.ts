/**
 * Kubernetes Services as istiod's Kubernetes registry builds them (pilot/pkg/serviceregistry/kube):
 * host `<name>.<ns>.svc.<domainSuffix>`, the cluster IPs as VIPs (headless: none, passthrough),
 * endpoints from the EndpointSlices (legacy Endpoints when a Service has no slice) with the labels,
 * service account and locality of their Pod, plus the WorkloadEntries the Service's selector picks.
 * ExternalName Services are aliases: they add names to the Service they point at.
 */
import type { NodeIdentity } from '../snapshot.js';
import { labelsMatch } from './hosts.js';
import type {
  IstioConfig, KubernetesEndpoint, KubernetesEndpointSliceSpec, KubernetesNodeSpec, KubernetesPodSpec, KubernetesServicePort, KubernetesServiceSpec,
  ServicePortSpec, WorkloadSpec,
} from './resources.js';
import type { Service } from './registry.js';

/** Labels istiod adds to every Kubernetes endpoint (AugmentLabels). */
const LABEL_REGION = 'topology.kubernetes.io/region';
const LABEL_ZONE = 'topology.kubernetes.io/zone';
const LABEL_SUBZONE = 'topology.istio.io/subzone';
const LABEL_CLUSTER = 'topology.istio.io/cluster';
const LABEL_HOSTNAME = 'kubernetes.io/hostname';
/** A Pod's own locality, `region.zone.subzone` (istiod reads dots as slashes). */
const LABEL_POD_LOCALITY = 'istio-locality';

interface KubernetesServices {
  /** Concrete services (ExternalName aliases left out), in load order. */
  services: { svc: Service; exportTo: string[]; order: number }[];
  /** Concrete host → the ExternalName hosts that alias it. */
  aliases: Map<string, string[]>;
  /** The ready Pods of a namespace a ServiceEntry's workloadSelector picks, as workloads (selectedPodWorkloads). */
  selectedPods(namespace: string, selector: Record<string, string>): WorkloadSpec[];
}

function serviceHostname(name: string, namespace: string, domainSuffix: string): string {
  return `${name}.${namespace}.svc.${domainSuffix}`.toLowerCase();
}

export function buildKubernetesServices(cfg: IstioConfig, node: NodeIdentity, warnings: string[]): KubernetesServices {
  const k8s = cfg.kubernetes;
  const pods = new PodIndex(k8s.pods, k8s.nodes);
  const slicesByService = groupSlices(k8s.endpointSlices);
  const services: KubernetesServices['services'] = [];
  for (const ks of k8s.services) {
    if (ks.externalName) continue;
    const hostname = serviceHostname(ks.meta.name, ks.meta.namespace, node.domainSuffix);
    const slices = slicesOf(slicesByService.get(`${ks.meta.namespace}/${ks.meta.name}`) ?? []);
    const endpoints = [...endpointsOf(ks, slices, pods, node, warnings), ...selectedWorkloadEntries(cfg, ks)];
    services.push({
      svc: {
        hostname,
        namespace: ks.meta.namespace,
        ports: ks.ports.map((p) => servicePort(p, ks, pods, node, warnings)),
        // headless: istiod listens on each endpoint's IP instead of a VIP
        addresses: ks.headless ? [...new Set(endpoints.map((w) => w.address))] : ks.clusterIPs,
        resolution: ks.headless ? 'NONE' : 'STATIC',
        location: 'MESH_INTERNAL',
        endpoints,
        ...(ks.selector ? { selector: ks.selector } : {}),
        ...(ks.headless ? { podSubdomains: true } : {}),
      },
      exportTo: ks.exportTo,
      order: ks.meta.order,
    });
  }
  return {
    services,
    aliases: resolveAliases(k8s.services, node.domainSuffix),
    selectedPods: (namespace, selector) => selectedPodWorkloads(pods, node, namespace, selector),
  };
}

/**
 * The WorkloadEntries a Service's selector picks (istiod's ENABLE_K8S_SERVICE_SELECT_WORKLOAD_ENTRIES,
 * on by default; not for headless Services). Each service port goes to the entry's port named like
 * a named targetPort (no such port: not served), else to its port named like the service port, else
 * to the targetPort number (the service port when unset, as the API server fills it).
 */
function selectedWorkloadEntries(cfg: IstioConfig, ks: KubernetesServiceSpec): WorkloadSpec[] {
  const selector = ks.selector;
  if (ks.headless || !selector) return [];
  return cfg.workloadEntries
    .filter((we) => we.meta.namespace === ks.meta.namespace && labelsMatch(selector, we.workload.labels))
    .map((we) => {
      const ports: Record<string, number> = {};
      for (const p of ks.ports) {
        const port = typeof p.targetPort === 'string' ? we.workload.ports[p.targetPort] : (we.workload.ports[p.name] ?? p.targetPort ?? p.port);
        if (port !== undefined) ports[p.name] = port;
      }
      return { ...we.workload, ports, listedPortsOnly: true };
    });
}

/** Slices by `namespace/service`; FQDN slices are left out, as istiod leaves them out. */
function groupSlices(all: readonly KubernetesEndpointSliceSpec[]): Map<string, KubernetesEndpointSliceSpec[]> {
  const out = new Map<string, KubernetesEndpointSliceSpec[]>();
  for (const s of all) {
    if (s.addressType === 'FQDN' || !s.serviceName) continue;
    const key = `${s.meta.namespace}/${s.serviceName}`;
    const list = out.get(key);
    if (list) list.push(s);
    else out.set(key, [s]);
  }
  return out;
}

/** The slices of a Service: its EndpointSlices, else (no slice at all) its legacy Endpoints, as Kubernetes mirrors them. */
function slicesOf(mine: readonly KubernetesEndpointSliceSpec[]): readonly KubernetesEndpointSliceSpec[] {
  const slices = mine.filter((s) => !s.legacy);
  return slices.length ? slices : mine;
}

/**
 * One workload per ready address, serving the service ports its slices name. An address whose
 * targetRef names a Pod missing from the config is left out, as istiod leaves it out until it
 * knows the Pod; without any Pod in the config, endpoints keep no Pod labels.
 */
function endpointsOf(ks: KubernetesServiceSpec, slices: readonly KubernetesEndpointSliceSpec[], pods: PodIndex, node: NodeIdentity, warnings: string[]): WorkloadSpec[] {
  const byAddress = new Map<string, WorkloadSpec>();
  const servicePortNames = new Set(ks.ports.map((p) => p.name));
  // internalTrafficPolicy Local: istiod keeps the endpoints whose Pod runs on the proxy's node (its own Pod's node here)
  const proxyNode = pods.byIp(node.ip)?.nodeName ?? '';
  for (const slice of slices) {
    for (const e of slice.endpoints) {
      if (!isServing(e)) continue;
      for (const address of e.addresses) {
        const pod = pods.forEndpoint(address, e, slice.meta.namespace);
        if (!pod && e.targetRef?.kind === 'Pod' && pods.any) {
          warnings.push(`EndpointSlice ${slice.meta.namespace}/${slice.meta.name}: endpoint ${address} left out: its Pod ${e.targetRef.name} is not in the config`);
          continue;
        }
        if (ks.nodeLocal && (pod?.nodeName ?? '') !== proxyNode) continue;
        let w = byAddress.get(address);
        if (!w) {
          w = workloadFor(address, pod, pods, node);
          byAddress.set(address, w);
        }
        for (const p of slice.ports) {
          // the first slice naming (address, port) wins, as istiod's endpoint cache dedupes
          if (servicePortNames.has(p.name) && w.ports[p.name] === undefined) w.ports[p.name] = p.port;
        }
      }
    }
  }
  return [...byAddress.values()].filter((w) => Object.keys(w.ports).length > 0);
}

/**
 * istiod sends healthy endpoints: ready (or unset). Not-ready ones, serving or terminating, are
 * left out (Istio keeps draining endpoints only for persistent sessions, which Outrigger does not have).
 */
function isServing(e: KubernetesEndpoint): boolean {
  return e.ready;
}

function workloadFor(address: string, pod: KubernetesPodSpec | undefined, pods: PodIndex, node: NodeIdentity): WorkloadSpec {
  const locality = pod ? pods.localityOf(pod) : '';
  const [region, zone, subzone] = locality.split('/');
  const labels: Record<string, string> = { ...(pod?.labels ?? {}) };
  if (region) labels[LABEL_REGION] = region;
  if (zone) labels[LABEL_ZONE] = zone;
  if (subzone) labels[LABEL_SUBZONE] = subzone;
  if (node.clusterId) labels[LABEL_CLUSTER] = node.clusterId;
  if (pod?.nodeName) labels[LABEL_HOSTNAME] = pod.nodeName;
  return {
    address,
    ports: {},
    labels,
    ...(locality ? { locality } : {}),
    weight: 1,
    ...(pod ? { serviceAccount: pod.serviceAccount ?? 'default' } : {}),
    listedPortsOnly: true,
  };
}

/**
 * A Service port. A named targetPort is a container port name: it is resolved through this
 * proxy's own Pod (found by --ip), else any Pod the Service selects, as istiod's FindPort does;
 * outbound endpoints carry their own port numbers either way.
 */
function servicePort(p: KubernetesServicePort, ks: KubernetesServiceSpec, pods: PodIndex, node: NodeIdentity, warnings: string[]): ServicePortSpec {
  const out: ServicePortSpec = { number: p.port, name: p.name, protocol: p.protocol };
  if (typeof p.targetPort === 'number') out.targetPort = p.targetPort;
  else if (typeof p.targetPort === 'string') {
    const name = p.targetPort;
    const own = pods.byIp(node.ip);
    const candidates = [...(own ? [own] : []), ...pods.selectedBy(ks)];
    const found = candidates.map((pod) => pod.containerPorts.find((c) => c.name === name)?.containerPort).find((n) => n !== undefined);
    if (found !== undefined) out.targetPort = found;
    else if (ks.selector && labelsMatch(ks.selector, node.labels) && ks.meta.namespace === node.namespace) {
      warnings.push(`Service ${ks.meta.namespace}/${ks.meta.name} port ${p.port}: targetPort "${name}" names no container port of a Pod in the config; inbound traffic is taken on port ${p.port}`);
    }
  }
  return out;
}

/**
 * The ready Pods of a namespace that a ServiceEntry's workloadSelector picks, as workloads: istiod
 * makes them endpoints of the ServiceEntry, reached on the container port named like the service
 * port (TCP ports only), else its targetPort, else the port itself.
 */
function selectedPodWorkloads(pods: PodIndex, node: NodeIdentity, namespace: string, selector: Record<string, string>): WorkloadSpec[] {
  return pods.all
    .filter((p) => p.ready && p.ips.length && p.meta.namespace === namespace && labelsMatch(selector, p.labels))
    .map((p) => {
      const w = workloadFor(p.ips[0], p, pods, node);
      for (const c of p.containerPorts) if (c.name && c.protocol === 'TCP' && w.ports[c.name] === undefined) w.ports[c.name] = c.containerPort;
      delete w.listedPortsOnly;
      return w;
    });
}

/** ExternalName services: alias host → concrete host, followed through several hops; a loop resolves to nothing. */
function resolveAliases(services: readonly KubernetesServiceSpec[], domainSuffix: string): Map<string, string[]> {
  const raw = new Map<string, string>();
  for (const ks of services) if (ks.externalName) raw.set(serviceHostname(ks.meta.name, ks.meta.namespace, domainSuffix), ks.externalName);
  const out = new Map<string, string[]>();
  for (const [alias, first] of raw) {
    let target = first;
    const seen = new Set([alias]);
    while (raw.has(target) && !seen.has(target)) {
      seen.add(target);
      target = raw.get(target)!;
    }
    if (raw.has(target)) continue; // a loop: Kubernetes DNS answers NXDOMAIN
    out.set(target, [...(out.get(target) ?? []), alias].sort());
  }
  return out;
}

/** Pods by name and by IP, with the Nodes that give their locality. */
class PodIndex {
  private readonly byName = new Map<string, KubernetesPodSpec>();
  private readonly byAddress = new Map<string, KubernetesPodSpec>();
  private readonly nodes: Map<string, KubernetesNodeSpec>;

  constructor(private readonly pods: readonly KubernetesPodSpec[], nodes: readonly KubernetesNodeSpec[]) {
    for (const p of pods) {
      this.byName.set(`${p.meta.namespace}/${p.meta.name}`, p);
      for (const ip of p.ips) if (!this.byAddress.has(ip)) this.byAddress.set(ip, p);
    }
    this.nodes = new Map(nodes.map((n) => [n.name, n]));
  }

  get any(): boolean {
    return this.pods.length > 0;
  }

  get all(): readonly KubernetesPodSpec[] {
    return this.pods;
  }

  byIp(ip: string): KubernetesPodSpec | undefined {
    return this.byAddress.get(ip);
  }

  /** istiod's getPod: by targetRef when it names a Pod, else by IP. */
  forEndpoint(address: string, e: KubernetesEndpoint, sliceNamespace: string): KubernetesPodSpec | undefined {
    if (e.targetRef?.kind === 'Pod') return this.byName.get(`${e.targetRef.namespace ?? sliceNamespace}/${e.targetRef.name}`);
    return this.byAddress.get(address);
  }

  selectedBy(ks: KubernetesServiceSpec): KubernetesPodSpec[] {
    if (!ks.selector) return [];
    return this.pods.filter((p) => p.meta.namespace === ks.meta.namespace && labelsMatch(ks.selector!, p.labels));
  }

  /** The Pod's istio-locality label, else its Node's region/zone/subzone labels (istiod's getPodLocality). */
  localityOf(pod: KubernetesPodSpec): string {
    const own = pod.labels[LABEL_POD_LOCALITY];
    if (own) return own.replace(/\./g, '/');
    const n = pod.nodeName ? this.nodes.get(pod.nodeName) : undefined;
    if (!n) return '';
    const region = n.labels[LABEL_REGION] ?? n.labels['failure-domain.beta.kubernetes.io/region'] ?? '';
    const zone = n.labels[LABEL_ZONE] ?? n.labels['failure-domain.beta.kubernetes.io/zone'] ?? '';
    const subzone = n.labels[LABEL_SUBZONE] ?? '';
    return region || zone || subzone ? `${region}/${zone}/${subzone}` : '';
  }
}
