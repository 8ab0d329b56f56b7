/**
 * The containers and volumes injection adds to a pod, for Outrigger: the capture init container
 * (Istio's istio-iptables arguments, run by the image's init-iptables) and the istio-proxy
 * sidecar (`outrigger run` on the mounted mesh config, its identity from the downward API, its
 * workload certificate from a Secret in Istio's file-mounted layout), with Istio's names, ports,
 * probes, resources and security contexts so Kubernetes tooling and Istio's conventions hold.
 */
import { capturesTraffic, interceptionModeOf, istioIptablesArgs } from './iptables-args.js';
import { STATUS_PORT } from './probes.js';
import type { InjectionSettings } from './settings.js';
import { proxyRunAsUserOverride, workloadName, type KubeObject, type PodTemplate } from './workloads.js';

/** Where and what Outrigger's sidecar runs (the `outrigger inject` flags). */
export interface SidecarSettings {
  /** The Outrigger image (it has `outrigger` and `init-iptables`). */
  readonly image: string;
  /** The ConfigMap with the mesh's Istio YAML, mounted as the sidecar's config directory. */
  readonly configMap: string;
  /** The Secret with a workload's certificate (cert-chain.pem, key.pem, root-cert.pem); `{sa}` is the pod's service account. */
  readonly certSecret: string;
  readonly clusterId: string;
  readonly trustDomain: string;
  readonly meshId: string;
  /** Istio's global proxy resources (absent: none set unless the pod's annotations ask). */
  readonly resources?: KubeObject;
}

export const DEFAULT_SIDECAR: SidecarSettings = Object.freeze({
  image: 'outrigger:latest',
  configMap: 'outrigger-mesh',
  certSecret: 'outrigger-certs-{sa}',
  clusterId: 'Kubernetes',
  trustDomain: 'cluster.local',
  meshId: 'cluster.local',
  resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } },
});

export const PROXY_CONTAINER = 'istio-proxy';
export const INIT_CONTAINER = 'istio-init';
/** The sidecar's mount points. */
export const CONFIG_DIR = '/etc/outrigger/config';
export const CERT_DIR = '/etc/certs';
const CONFIG_VOLUME = 'outrigger-config';
const CERT_VOLUME = 'outrigger-certs';

const A = {
  proxyCPU: 'sidecar.istio.io/proxyCPU',
  proxyMemory: 'sidecar.istio.io/proxyMemory',
  proxyCPULimit: 'sidecar.istio.io/proxyCPULimit',
  proxyMemoryLimit: 'sidecar.istio.io/proxyMemoryLimit',
  proxyImage: 'sidecar.istio.io/proxyImage',
  logLevel: 'sidecar.istio.io/logLevel',
  proxyConfig: 'proxy.istio.io/config',
} as const;

/** The sidecar's resources: the pod's `sidecar.istio.io/proxyCPU|Memory[Limit]` annotations, else the global ones (Istio's template). */
export function proxyResources(annotations: Record<string, string>, global: KubeObject | undefined): KubeObject {
  const asked = [A.proxyCPU, A.proxyMemory, A.proxyCPULimit, A.proxyMemoryLimit].some((k) => k in annotations);
  if (!asked) return global ? structuredClone(global) : {};
  const pick = (cpu: string, memory: string) => ({ ...(cpu in annotations ? { cpu: annotations[cpu] } : {}), ...(memory in annotations ? { memory: annotations[memory] } : {}) });
  const requests = pick(A.proxyCPU, A.proxyMemory);
  const limits = pick(A.proxyCPULimit, A.proxyMemoryLimit);
  return { ...(Object.keys(requests).length ? { requests } : {}), ...(Object.keys(limits).length ? { limits } : {}) };
}

/** The capture init container, or undefined when the pod gets none (another template, NONE). */
export function initContainer(t: PodTemplate, s: InjectionSettings, sidecar: SidecarSettings, openShift = false): KubeObject | undefined {
  const annotations = (t.metadata.annotations ?? {}) as Record<string, string>;
  if (!capturesTraffic(annotations, s)) return undefined;
  return {
    name: INIT_CONTAINER,
    image: annotations[A.proxyImage] ?? sidecar.image,
    command: ['init-iptables'],
    args: istioIptablesArgs(annotations, s, proxyRunAsUserOverride(t, openShift)),
    resources: proxyResources(annotations, sidecar.resources),
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: false,
      runAsGroup: 0,
      runAsNonRoot: false,
      runAsUser: 0,
    },
  };
}

/** Where the image has the CLI (its WORKDIR, the Dockerfile's /app). */
const CLI = '/app/bin/outrigger.js';

/**
 * The sidecar: `outrigger run` with its identity from the downward API and Istio's probes, ports
 * and security context. `hold`: a postStart hook waits for the proxy's readiness, so the app
 * containers after it start once it serves (pilot-agent wait; a native sidecar's startup probe
 * does this instead).
 */
export function proxyContainer(t: PodTemplate, s: InjectionSettings, sidecar: SidecarSettings, native: boolean, hold = false, appProbers?: string): KubeObject {
  const annotations = (t.metadata.annotations ?? {}) as Record<string, string>;
  const labels = (t.metadata.labels ?? {}) as Record<string, string>;
  const mode = interceptionModeOf(annotations, s);
  const tproxy = mode === 'TPROXY';
  const appContainers = ((t.spec.containers ?? []) as KubeObject[]).map((c) => c.name as string).filter((n) => n !== PROXY_CONTAINER && n !== INIT_CONTAINER);
  const field = (fieldPath: string) => ({ valueFrom: { fieldRef: { fieldPath } } });
  const env: KubeObject[] = [
    { name: 'POD_NAME', ...field('metadata.name') },
    { name: 'POD_NAMESPACE', ...field('metadata.namespace') },
    { name: 'INSTANCE_IP', ...field('status.podIP') },
    { name: 'SERVICE_ACCOUNT', ...field('spec.serviceAccountName') },
    { name: 'HOST_IP', ...field('status.hostIP') },
    { name: 'ISTIO_METAJSON_LABELS', value: JSON.stringify(labels) },
    ...(annotations[A.proxyConfig] ? [{ name: 'PROXY_CONFIG', value: annotations[A.proxyConfig] }] : []),
    { name: 'ISTIO_META_APP_CONTAINERS', value: appContainers.join(',') },
    { name: 'ISTIO_META_CLUSTER_ID', value: sidecar.clusterId },
    { name: 'ISTIO_META_NODE_NAME', ...field('spec.nodeName') },
    { name: 'ISTIO_META_INTERCEPTION_MODE', value: mode },
    { name: 'ISTIO_META_WORKLOAD_NAME', value: workloadName(t) },
    { name: 'ISTIO_META_MESH_ID', value: sidecar.meshId },
    { name: 'TRUST_DOMAIN', value: sidecar.trustDomain },
    { name: 'OUTPUT_CERTS', value: CERT_DIR },
    // the app's own probes, which the status server (15020) runs for the kubelet
    ...(appProbers ? [{ name: 'ISTIO_KUBE_APP_PROBERS', value: appProbers }] : []),
  ];
  const ready = { httpGet: { path: '/healthz/ready', port: 15021 } };
  return {
    name: PROXY_CONTAINER,
    image: annotations[A.proxyImage] ?? sidecar.image,
    args: ['run', '-c', CONFIG_DIR, '--status-port', String(STATUS_PORT), '--log-level', annotations[A.logLevel] ?? 'warning'],
    env,
    ports: [{ containerPort: 15090, name: 'http-envoy-prom', protocol: 'TCP' }],
    readinessProbe: { ...ready, failureThreshold: 4, periodSeconds: 15, timeoutSeconds: 3 },
    ...(native ? { restartPolicy: 'Always', startupProbe: { ...ready, failureThreshold: 600, periodSeconds: 1, timeoutSeconds: 3 } } : {}),
    ...(hold && !native ? { lifecycle: { postStart: { exec: { command: ['node', CLI, 'wait'] } } } } : {}),
    resources: proxyResources(annotations, sidecar.resources),
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { ...(tproxy ? { add: ['NET_ADMIN'] } : {}), drop: ['ALL'] },
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsGroup: 1337,
      runAsNonRoot: !tproxy,
      runAsUser: tproxy ? 0 : 1337,
    },
    volumeMounts: [
      { mountPath: CONFIG_DIR, name: CONFIG_VOLUME, readOnly: true },
      { mountPath: CERT_DIR, name: CERT_VOLUME, readOnly: true },
    ],
  };
}

/** The mesh config (ConfigMap) and the workload certificate (Secret of the pod's service account). */
export function sidecarVolumes(t: PodTemplate, sidecar: SidecarSettings): KubeObject[] {
  const sa = (t.spec.serviceAccountName as string | undefined) ?? 'default';
  return [
    { name: CONFIG_VOLUME, configMap: { name: sidecar.configMap } },
    { name: CERT_VOLUME, secret: { secretName: sidecar.certSecret.replace('{sa}', sa) } },
  ];
}
