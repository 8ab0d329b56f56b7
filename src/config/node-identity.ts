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
 * SERVICE_ACCOUNT, INSTANCE_IP, POD_NAME, ISTIO_METAJSON_LABELS, ISTIO_META_*).
 */
export function buildNodeIdentity(flags: IdentityFlags, env: NodeJS.ProcessEnv = process.env): NodeIdentity {
  const namespace = flags.namespace ?? env.POD_NAMESPACE ?? 'default';
  const labels: Record<string, string> = {};
  if (env.ISTIO_METAJSON_LABELS) {
    try {
      Object.assign(labels, JSON.parse(env.ISTIO_METAJSON_LABELS));
    } catch {
      throw new Error('ISTIO_METAJSON_LABELS is not a JSON object of labels');
    }
  }
  for (const kv of flags.labels) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--label expects key=value, got "${kv}"`);
    labels[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const ip = flags.ip ?? env.INSTANCE_IP ?? firstNonLoopbackAddress() ?? '127.0.0.1';
  const domainSuffix = flags.domainSuffix ?? env.ISTIO_META_DNS_DOMAIN ?? 'cluster.local';
  const podName = env.POD_NAME ?? env.HOSTNAME ?? 'outrigger';
  const mode = flags.mode;
  return {
    id: `${mode === 'gateway' ? 'router' : 'sidecar'}~${ip}~${podName}.${namespace}~${namespace}.svc.${domainSuffix}`,
    mode,
    namespace,
    serviceAccount: flags.serviceAccount ?? env.SERVICE_ACCOUNT ?? 'default',
    labels,
    ip,
    trustDomain: flags.trustDomain ?? env.TRUST_DOMAIN ?? 'cluster.local',
    domainSuffix,
    acceptHttp10: env.ISTIO_META_HTTP10 === '1' || env.ISTIO_META_HTTP10 === 'true',
    ...(env.ISTIO_META_WORKLOAD_NAME ? { workloadName: env.ISTIO_META_WORKLOAD_NAME } : {}),
    clusterId: env.ISTIO_META_CLUSTER_ID || 'Kubernetes',
    // flag, env, then the Kubernetes topology labels Istio reads
    locality:
      flags.locality ??
      env.ISTIO_LOCALITY ??
      [labels['topology.kubernetes.io/region'], labels['topology.kubernetes.io/zone'], labels['topology.istio.io/subzone']]
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
