import type { NodeIdentity } from '../snapshot.js';
import { buildKubernetesServices } from './kubernetes-registry.js';
import { hostMatches, hostSpecificity, isExportedTo, labelsMatch, resolveHost } from './hosts.js';
import type {
  DestinationRuleSpec, IstioConfig, PolicyLayer, Resolution, ServicePortSpec, TrafficPolicySpec, VirtualServiceSpec, WorkloadSpec,
} from './resources.js';

/** A service as the proxy sees it: a Kubernetes Service or one host of a ServiceEntry, with its workloads. */
export interface Service {
  hostname: string;
  namespace: string;
  ports: ServicePortSpec[];
  addresses: string[];
  resolution: Resolution;
  location: 'MESH_EXTERNAL' | 'MESH_INTERNAL';
  endpoints: WorkloadSpec[];
  /** The ServiceEntry's workloadSelector: pods with these labels (in its namespace) are its endpoints. */
  selector?: Record<string, string>;
  /** Kubernetes ExternalName Services that alias this one: more names for its virtual hosts. */
  aliases?: string[];
  /** A headless Kubernetes Service: `<pod>.<host>` names reach its Pods (passthrough). */
  podSubdomains?: boolean;
}

/** The port a workload listens on for a service port: its own named port, else the targetPort, else the port. */
export function workloadPort(w: WorkloadSpec | undefined, p: ServicePortSpec): number {
  return w?.ports[p.name] ?? p.targetPort ?? p.number;
}

/** Istio's root configuration namespace: DestinationRules there apply mesh-wide. */
export const ROOT_NAMESPACE = 'istio-system';

/**
 * Services visible to this proxy (Kubernetes Services, ServiceEntry + WorkloadEntry), keyed by
 * host name. A host defined twice: the proxy's own namespace wins, then Kubernetes over
 * ServiceEntry, then the older resource.
 */
export function buildServices(cfg: IstioConfig, node: NodeIdentity, warnings: string[] = []): Map<string, Service> {
  const k8s = buildKubernetesServices(cfg, node, warnings);
  const candidates: { svc: Service; exportTo: string[]; rank: number; order: number }[] = [];
  const rank = (ns: string, registry: number) => (ns === node.namespace ? 0 : 2) + registry;
  for (const k of k8s.services) candidates.push({ ...k, rank: rank(k.svc.namespace, 0) });
  for (const se of cfg.serviceEntries) {
    // a workloadSelector picks WorkloadEntries and Pods of the ServiceEntry's namespace
    const endpoints = se.workloadSelector
      ? [
          ...cfg.workloadEntries.filter((we) => we.meta.namespace === se.meta.namespace && labelsMatch(se.workloadSelector!, we.workload.labels)).map((we) => we.workload),
          ...k8s.selectedPods(se.meta.namespace, se.workloadSelector),
        ]
      : se.endpoints;
    for (const host of se.hosts) {
      const svc: Service = {
        hostname: host.toLowerCase(),
        namespace: se.meta.namespace,
        ports: se.ports,
        addresses: se.addresses,
        resolution: se.resolution,
        location: se.location,
        endpoints,
        ...(se.workloadSelector ? { selector: se.workloadSelector } : {}),
      };
      candidates.push({ svc, exportTo: se.exportTo, rank: rank(se.meta.namespace, 1), order: se.meta.order });
    }
  }
  candidates.sort((a, b) => a.rank - b.rank || a.order - b.order);
  const out = new Map<string, Service>();
  for (const { svc, exportTo } of candidates) {
    if (out.has(svc.hostname) || !isExportedTo(exportTo, svc.namespace, node.namespace)) continue;
    const aliases = k8s.aliases.get(svc.hostname);
    out.set(svc.hostname, aliases ? { ...svc, aliases } : svc);
  }
  return out;
}

/** Finds the DestinationRule for a service host the way istiod does: proxy ns, service ns, root ns. */
export class DestinationRuleIndex {
  /** Per namespace: the rules of each exact host, and the wildcard ones (a lookup per service must not scan them all). */
  private readonly byNamespace = new Map<string, { exact: Map<string, Rule[]>; wildcards: Rule[] }>();

  constructor(cfg: IstioConfig, private readonly node: NodeIdentity) {
    for (const dr of cfg.destinationRules) {
      if (!isExportedTo(dr.exportTo, dr.meta.namespace, node.namespace)) continue;
      if (dr.workloadSelector && !(dr.meta.namespace === node.namespace && labelsMatch(dr.workloadSelector, node.labels))) continue;
      const rule = { dr, host: resolveHost(dr.host, dr.meta.namespace, node.domainSuffix) };
      let ns = this.byNamespace.get(dr.meta.namespace);
      if (!ns) this.byNamespace.set(dr.meta.namespace, (ns = { exact: new Map(), wildcards: [] }));
      if (rule.host.startsWith('*')) ns.wildcards.push(rule);
      else if (ns.exact.get(rule.host)?.push(rule) === undefined) ns.exact.set(rule.host, [rule]);
    }
  }

  lookup(hostname: string, serviceNamespace: string): DestinationRuleSpec | undefined {
    for (const ns of [this.node.namespace, serviceNamespace, ROOT_NAMESPACE]) {
      const rules = this.byNamespace.get(ns);
      if (!rules) continue;
      let best: Rule | undefined;
      for (const r of [...(rules.exact.get(hostname) ?? []), ...rules.wildcards]) {
        if (!hostMatches(r.host, hostname)) continue;
        if (!best || morePreferred(r, best)) best = r;
      }
      if (best) return best.dr;
    }
    return undefined;
  }
}

type Rule = { dr: DestinationRuleSpec; host: string };

function morePreferred(a: Rule, b: Rule): boolean {
  // a workload-specific rule beats a namespace-wide one; then the more specific host; then the older rule
  const sa = a.dr.workloadSelector ? 1 : 0;
  const sb = b.dr.workloadSelector ? 1 : 0;
  if (sa !== sb) return sa > sb;
  const ha = hostSpecificity(a.host);
  const hb = hostSpecificity(b.host);
  if (ha !== hb) return ha > hb;
  return a.dr.meta.order < b.dr.meta.order;
}

/** The effective policy for one port of one subset: subset over DR, port-level over each. */
export type EffectivePolicy = PolicyLayer;

const POLICY_KEYS: (keyof PolicyLayer)[] = [
  'lbSimple', 'connectTimeoutMs', 'idleTimeoutMs', 'maxConnections', 'http1MaxPendingRequests', 'http2MaxRequests', 'maxRequestsPerConnection', 'maxRetries',
  'outlier', 'consistentHash', 'locality', 'warmup', 'tls', 'h2Upgrade', 'maxConcurrentStreams', 'useClientProtocol',
];

export function effectivePolicy(dr: DestinationRuleSpec | undefined, port: number, subset?: string): EffectivePolicy {
  const out: EffectivePolicy = {};
  const apply = (p: TrafficPolicySpec | undefined) => {
    if (!p) return;
    for (const layer of [p, p.portLevel.find((l) => l.port === port)]) {
      if (!layer) continue;
      for (const k of POLICY_KEYS) if (layer[k] !== undefined) (out as Record<string, unknown>)[k] = layer[k];
      // simple and consistentHash exclude each other: the more specific layer's choice wins
      if (layer.lbSimple !== undefined) delete out.consistentHash;
      if (layer.consistentHash !== undefined) delete out.lbSimple;
    }
  };
  apply(dr?.trafficPolicy);
  if (subset) apply(dr?.subsets.find((s) => s.name === subset)?.trafficPolicy);
  return out;
}

/** VirtualServices visible to the proxy, and the one that applies to a host (exact before wildcard). */
export class VirtualServiceIndex {
  readonly visible: { vs: VirtualServiceSpec; hosts: string[] }[];
  /** Each exact host's VirtualServices, and every wildcard host, in load order (a lookup per service must not scan them all). */
  private readonly exact = new Map<string, VirtualServiceSpec[]>();
  private readonly wildcards: { vs: VirtualServiceSpec; host: string }[] = [];

  constructor(cfg: IstioConfig, node: NodeIdentity) {
    this.visible = cfg.virtualServices
      .filter((vs) => isExportedTo(vs.exportTo, vs.meta.namespace, node.namespace))
      .sort((a, b) => a.meta.order - b.meta.order)
      .map((vs) => ({ vs, hosts: vs.hosts.map((h) => resolveHost(h, vs.meta.namespace, node.domainSuffix)) }));
    for (const { vs, hosts } of this.visible) {
      for (const host of hosts) {
        if (host.startsWith('*')) this.wildcards.push({ vs, host });
        else if (this.exact.get(host)?.push(vs) === undefined) this.exact.set(host, [vs]);
      }
    }
  }

  /**
   * The VirtualService for `hostname` among those `accept` takes: the most specific of their hosts
   * covering it (exact, then the longest wildcard; the first loaded on a tie), and whether one of
   * them names the host itself.
   */
  lookup(hostname: string, accept: (vs: VirtualServiceSpec) => boolean): { vs: VirtualServiceSpec | undefined; named: boolean } {
    let best: VirtualServiceSpec | undefined = this.exact.get(hostname)?.find(accept);
    let named = best !== undefined;
    let spec = best ? hostSpecificity(hostname) : -1;
    for (const w of this.wildcards) {
      if (!hostMatches(w.host, hostname) || !accept(w.vs)) continue;
      if (w.host === hostname) named = true;
      const s = hostSpecificity(w.host);
      if (s > spec) [best, spec] = [w.vs, s];
    }
    return { vs: best, named };
  }
}
