import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { NodeIdentity, ProxyMode } from './snapshot.js';

export interface IdentityFlags {
  mode: ProxyMode;
  locality?: string;
  namespace?: string;
  serviceAccount?: string;
  labels: string[];
  trustDomain?: string;
  ip?: string;
  domainSuffix?: string;
}

/**
 * Who this proxy is, from flags first and then Istio's injected environment (POD_NAMESPACE,
 * SERVICE_ACCOUNT, INSTANCE_IP, POD_NAME, ISTIO_METAJSON_LABELS, ISTIO_METAJSON_ANNOTATIONS, ISTIO_META_*).
 */
export function buildNodeIdentity(flags: IdentityFlags, env: NodeJS.ProcessEnv = process.env): NodeIdentity {
  const namespace = flags.namespace ?? env.POD_NAMESPACE ?? 'default';
  const labels = metaJson(env, 'ISTIO_METAJSON_LABELS', 'labels') ?? {};
  const annotations = metaJson(env, 'ISTIO_METAJSON_ANNOTATIONS', 'annotations');
  for (const kv of flags.labels) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--label expects key=value, got "${kv}"`);
    labels[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const ip = flags.ip ?? env.INSTANCE_IP ?? firstNonLoopbackAddress() ?? '127.0.0.1';
  const domainSuffix = flags.domainSuffix ?? env.ISTIO_META_DNS_DOMAIN ?? 'cluster.local';
  const podName = env.POD_NAME ?? env.HOSTNAME ?? 'outrigger';
  const mode = flags.mode;
  return assembleNodeIdentity({
    id: `${mode === 'gateway' ? 'router' : 'sidecar'}~${ip}~${podName}.${namespace}~${namespace}.svc.${domainSuffix}`,
    mode,
    namespace,
    serviceAccount: flags.serviceAccount ?? env.SERVICE_ACCOUNT,
    labels,
    ip,
    trustDomain: flags.trustDomain ?? env.TRUST_DOMAIN,
    domainSuffix,
    acceptHttp10: env.ISTIO_META_HTTP10 === '1' || env.ISTIO_META_HTTP10 === 'true',
    workloadName: env.ISTIO_META_WORKLOAD_NAME,
    clusterId: env.ISTIO_META_CLUSTER_ID,
    locality: flags.locality ?? env.ISTIO_LOCALITY,
    ...(annotations ? { annotations } : {}),
  });
}

/** An ISTIO_METAJSON_* variable: a JSON object of strings (the pod's labels, its annotations). */
function metaJson(env: NodeJS.ProcessEnv, name: string, what: string): Record<string, string> | undefined {
  const text = env[name];
  if (!text) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || Object.values(value).some((v) => typeof v !== 'string')) {
    throw new Error(`${name} is not a JSON object of ${what} (strings)`);
  }
  return value as Record<string, string>;
}

/** An Envoy bootstrap's node (envoy.config.core.v3.Node) with its metadata as JS values. */
export interface EnvoyNode {
  id: string;
  cluster: string;
  locality: { region?: string; zone?: string; sub_zone?: string };
  metadata: Record<string, unknown>;
}

/**
 * Who this proxy is, from the node pilot-agent writes into the bootstrap: the id
 * `<type>~<ip>~<pod>.<ns>~<ns>.svc.<suffix>` read as istiod reads it (ParseServiceNodeWithMetadata:
 * type sidecar or router, the IPs of INSTANCE_IPS before the id's, the DNS domain), the metadata
 * pilot-agent sets from the pod (NAMESPACE, LABELS, SERVICE_ACCOUNT, CLUSTER_ID, WORKLOAD_NAME,
 * HTTP10, DNS_DOMAIN) and the node's locality. The trust domain is not in the node: TRUST_DOMAIN,
 * else cluster.local. Throws an Error naming what is wrong with the id.
 */
export function nodeIdentityFromEnvoyNode(node: EnvoyNode, env: NodeJS.ProcessEnv = process.env): NodeIdentity {
  const parts = node.id.split('~');
  if (parts.length !== 4) throw new Error(`"${node.id}" is not an Istio node id <type>~<ip>~<pod>.<namespace>~<namespace>.svc.<domain> (4 parts)`);
  const [type, idIp, podId, dnsDomain] = parts as [string, string, string, string];
  if (type !== 'sidecar' && type !== 'router') throw new Error(`node type "${type}" in "${node.id}": Outrigger runs as a sidecar or a router (gateway)`);
  const meta = node.metadata;
  const text = (key: string): string | undefined => (typeof meta[key] === 'string' && meta[key] !== '' ? (meta[key] as string) : undefined);
  const ip = (text('INSTANCE_IPS') ?? '').split(',').map((s) => s.trim()).find((s) => isIP(s)) ?? (isIP(idIp) ? idIp : undefined);
  if (!ip) throw new Error(`no valid IP address in node metadata INSTANCE_IPS or in the node id "${node.id}"`);
  // istiod: metadata NAMESPACE, else the first label of the DNS domain `<ns>.svc.<suffix>`
  const domainLabels = dnsDomain.split('.');
  const namespace = text('NAMESPACE') ?? (domainLabels.length > 1 ? domainLabels[0]! : undefined) ?? podId.split('.')[1] ?? 'default';
  const svc = domainLabels.indexOf('svc');
  const labels: Record<string, string> = {};
  const rawLabels = meta.LABELS;
  if (rawLabels !== undefined && (typeof rawLabels !== 'object' || rawLabels === null || Array.isArray(rawLabels))) throw new Error('node metadata LABELS is not an object of labels');
  for (const [k, v] of Object.entries((rawLabels ?? {}) as Record<string, unknown>)) labels[k] = String(v);
  const { region, zone, sub_zone: subZone } = node.locality;
  const locality = region || zone || subZone ? [region ?? '', zone ?? '', subZone ?? ''].join('/').replace(/\/+$/, '') : undefined;
  return assembleNodeIdentity({
    id: node.id,
    mode: type === 'router' ? 'gateway' : 'sidecar',
    namespace,
    serviceAccount: text('SERVICE_ACCOUNT'),
    labels,
    ip,
    trustDomain: env.TRUST_DOMAIN,
    domainSuffix: text('DNS_DOMAIN') ?? (svc > 0 && svc < domainLabels.length - 1 ? domainLabels.slice(svc + 1).join('.') : 'cluster.local'),
    acceptHttp10: text('HTTP10') === '1' || text('HTTP10') === 'true',
    workloadName: text('WORKLOAD_NAME'),
    clusterId: text('CLUSTER_ID'),
    locality,
  });
}

/** The parts of a NodeIdentity once each is resolved; what is absent takes Istio's default. */
interface IdentityParts extends Omit<NodeIdentity, 'serviceAccount' | 'trustDomain' | 'workloadName' | 'clusterId' | 'locality'> {
  serviceAccount: string | undefined;
  trustDomain: string | undefined;
  workloadName: string | undefined;
  clusterId: string | undefined;
  locality: string | undefined;
}

function assembleNodeIdentity(p: IdentityParts): NodeIdentity {
  const { workloadName, ...rest } = p;
  return {
    ...rest,
    serviceAccount: p.serviceAccount ?? 'default',
    trustDomain: p.trustDomain ?? 'cluster.local',
    ...(workloadName ? { workloadName } : {}),
    clusterId: p.clusterId || 'Kubernetes',
    // explicit, then the Kubernetes topology labels Istio reads
    locality:
      p.locality ??
      [p.labels['topology.kubernetes.io/region'], p.labels['topology.kubernetes.io/zone'], p.labels['topology.istio.io/subzone']]
        .filter((x) => x !== undefined)
        .join('/'),
  };
}

function firstNonLoopbackAddress(): string | undefined {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (!a.internal && a.family === 'IPv4') return a.address;
  }
  return undefined;
}

/** The proxy's service cluster, as pilot-agent names it (node.cluster) when no bootstrap says it: the span's service name. */
export function serviceClusterOf(node: NodeIdentity): string {
  const name = node.labels['service.istio.io/canonical-name'] ?? node.labels.app ?? node.workloadName ?? 'istio-proxy';
  return `${name}.${node.namespace}`;
}
