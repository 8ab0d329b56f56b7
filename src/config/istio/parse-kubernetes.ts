/**
 * The Kubernetes objects istiod's Kubernetes registry reads (Service, EndpointSlice, legacy
 * Endpoints, Pod, Node), as `kubectl get -o yaml` prints them. Only the fields istiod reads are
 * looked at, and checked for their type; the rest of a dumped object (status, managedFields, …) is
 * the API server's business and is left alone.
 */
import { isIP } from 'node:net';
import type { Field } from '../reader.js';
import { kubernetesPortProtocol } from './protocol.js';
import type {
  KubernetesEndpoint, KubernetesEndpointSliceSpec, KubernetesNodeSpec, KubernetesPodSpec, KubernetesRegistrySpec, KubernetesServiceSpec, ResourceMeta,
} from './resources.js';
import { parseExportTo } from './parse.js';

/** kind → the apiVersions it is read from. */
export const KUBERNETES_REGISTRY_KINDS: Record<string, readonly string[]> = {
  Service: ['v1'],
  Endpoints: ['v1'],
  EndpointSlice: ['discovery.k8s.io/v1'],
  Pod: ['v1'],
  Node: ['v1'],
};

/** Label naming an EndpointSlice's Service. */
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
const EXPORT_TO_ANNOTATION = 'networking.istio.io/exportTo';

/** Parses one Kubernetes registry object (root is the whole document) into reg. */
export function parseKubernetesObject(root: Field, kind: string, meta: ResourceMeta, reg: KubernetesRegistrySpec): void {
  const metadata = root.at('metadata');
  switch (kind) {
    case 'Service':
      reg.services.push(parseService(root.at('spec'), metadata, meta));
      break;
    case 'EndpointSlice':
      reg.endpointSlices.push(parseEndpointSlice(root, metadata, meta));
      break;
    case 'Endpoints':
      reg.endpointSlices.push(...parseEndpoints(root, meta));
      break;
    case 'Pod': {
      const pod = parsePod(root, metadata, meta);
      if (pod) reg.pods.push(pod);
      break;
    }
    case 'Node':
      reg.nodes.push(parseNode(metadata, meta));
      break;
  }
}

function parseService(spec: Field, metadata: Field, meta: ResourceMeta): KubernetesServiceSpec {
  if (spec.present) spec.object();
  const type = spec.at('type').optString() ?? 'ClusterIP';
  const clusterIP = spec.at('clusterIP').optString() ?? '';
  const headless = clusterIP === 'None';
  let clusterIPs = spec.at('clusterIPs').present ? spec.at('clusterIPs').stringList() : clusterIP ? [clusterIP] : [];
  if (headless) clusterIPs = [];
  clusterIPs.forEach((ip, i) => {
    if (!isIP(ip)) (spec.at('clusterIPs').present ? spec.at('clusterIPs').list()[i] : spec.at('clusterIP')).fail(`"${ip}" is not an IP address`);
  });
  const externalName = type === 'ExternalName' ? spec.at('externalName').optString() || undefined : undefined;
  const seen = new Set<string>();
  const ports = spec.at('ports').optList().map((p) => {
    p.object();
    const port = p.at('port').port();
    const name = p.at('name').optString() ?? '';
    if (seen.has(name)) p.at('name').fail(name ? `duplicate port name "${name}"` : 'ports must be named when there is more than one');
    seen.add(name);
    const transport = p.at('protocol').optOneOf(['TCP', 'UDP', 'SCTP'] as const) ?? 'TCP';
    const target = p.at('targetPort');
    const targetPort = !target.present ? undefined : typeof target.value === 'string' && !/^\d+$/.test(target.value) ? target.nonEmptyString() : target.port();
    return { name, port, protocol: kubernetesPortProtocol(port, name, transport, p.at('appProtocol').optString()), ...(targetPort !== undefined ? { targetPort } : {}) };
  });
  const selectorField = spec.at('selector');
  const selector = selectorField.present ? selectorField.stringMap() : undefined;
  const exportTo = annotation(metadata, EXPORT_TO_ANNOTATION);
  return {
    meta,
    clusterIPs,
    headless,
    ...(externalName ? { externalName: externalName.toLowerCase() } : {}),
    ports,
    ...(selector && Object.keys(selector).length ? { selector } : {}),
    exportTo: exportTo ? parseExportTo(exportTo.field, exportTo.value.split(',').map((s) => s.trim())) : [],
    nodeLocal: spec.at('internalTrafficPolicy').optOneOf(['Cluster', 'Local'] as const) === 'Local',
  };
}

function parseEndpointSlice(root: Field, metadata: Field, meta: ResourceMeta): KubernetesEndpointSliceSpec {
  const labels = metadata.at('labels').present ? metadata.at('labels').stringMap() : {};
  const addressType = root.at('addressType').oneOf(['IPv4', 'IPv6', 'FQDN'] as const);
  const endpoints = root.at('endpoints').optList().map((e): KubernetesEndpoint => {
    e.object();
    const conditions = e.at('conditions');
    const ready = conditions.present ? conditions.object().at('ready').optBool() ?? true : true;
    const addresses = e.at('addresses').stringList();
    if (addressType !== 'FQDN') addresses.forEach((a, i) => isIP(a) || e.at('addresses').list()[i].fail(`"${a}" is not an IP address`));
    return { addresses, ready, ...targetRefOf(e), ...(e.at('nodeName').optString() ? { nodeName: e.at('nodeName').string() } : {}) };
  });
  return { meta, serviceName: labels[SERVICE_NAME_LABEL] ?? '', legacy: false, addressType, endpoints, ports: portsOf(root.at('ports')) };
}

/** A core/v1 Endpoints: each subset becomes a slice (addresses ready, notReadyAddresses not). */
function parseEndpoints(root: Field, meta: ResourceMeta): KubernetesEndpointSliceSpec[] {
  return root.at('subsets').optList().map((subset) => {
    subset.object();
    const endpoints: KubernetesEndpoint[] = [];
    for (const [key, ready] of [['addresses', true], ['notReadyAddresses', false]] as const) {
      for (const a of subset.at(key).optList()) {
        a.object();
        const ip = a.at('ip').string();
        if (!isIP(ip)) a.at('ip').fail(`"${ip}" is not an IP address`);
        endpoints.push({ addresses: [ip], ready, ...targetRefOf(a), ...(a.at('nodeName').optString() ? { nodeName: a.at('nodeName').string() } : {}) });
      }
    }
    const addressType = endpoints.some((e) => isIP(e.addresses[0]) === 6) ? 'IPv6' : 'IPv4';
    return { meta, serviceName: meta.name, legacy: true, addressType, endpoints, ports: portsOf(subset.at('ports')) };
  });
}

function parsePod(root: Field, metadata: Field, meta: ResourceMeta): KubernetesPodSpec | undefined {
  const spec = root.at('spec');
  if (spec.present) spec.object();
  const status = root.at('status');
  // istiod's pod cache leaves out pods that have finished
  const phase = status.present ? status.object().at('phase').optString() : undefined;
  if (phase === 'Succeeded' || phase === 'Failed') return undefined;
  const podIPs = status.at('podIPs').optList().map((p) => p.object().at('ip').string());
  const podIP = status.at('podIP').optString();
  const ips = podIPs.length ? podIPs : podIP ? [podIP] : [];
  const containerPorts = spec.at('containers').optList().flatMap((c) =>
    c.object().at('ports').optList().map((p) => {
      p.object();
      const name = p.at('name').optString();
      return { ...(name ? { name } : {}), containerPort: p.at('containerPort').port(), protocol: p.at('protocol').optString() ?? 'TCP' };
    }),
  );
  const conditions = status.at('conditions').optList().map((c) => c.object());
  const readyCondition = conditions.find((c) => c.at('type').optString() === 'Ready');
  const ready = !metadata.at('deletionTimestamp').present && (conditions.length === 0 || readyCondition?.at('status').optString() === 'True');
  const serviceAccount = spec.at('serviceAccountName').optString() || spec.at('serviceAccount').optString() || undefined;
  const nodeName = spec.at('nodeName').optString() || undefined;
  return {
    meta,
    labels: metadata.at('labels').present ? metadata.at('labels').stringMap() : {},
    ips,
    ...(serviceAccount ? { serviceAccount } : {}),
    ...(nodeName ? { nodeName } : {}),
    containerPorts,
    ready,
  };
}

function parseNode(metadata: Field, meta: ResourceMeta): KubernetesNodeSpec {
  return { name: meta.name, labels: metadata.at('labels').present ? metadata.at('labels').stringMap() : {} };
}

function targetRefOf(f: Field): Pick<KubernetesEndpoint, 'targetRef'> {
  const t = f.at('targetRef');
  if (!t.present) return {};
  t.object();
  const namespace = t.at('namespace').optString();
  return { targetRef: { kind: t.at('kind').optString() ?? '', name: t.at('name').optString() ?? '', ...(namespace ? { namespace } : {}) } };
}

function portsOf(f: Field): { name: string; port: number }[] {
  return f.optList().map((p) => {
    p.object();
    return { name: p.at('name').optString() ?? '', port: p.at('port').port() };
  });
}

function annotation(metadata: Field, key: string): { field: Field; value: string } | undefined {
  const f = metadata.at('annotations').at(key);
  return f.present ? { field: f, value: f.string() } : undefined;
}
