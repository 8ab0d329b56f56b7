/**
 * `outrigger inject` (istioctl kube-inject for Outrigger): each pod template of the given
 * Kubernetes objects gets the capture init container and the sidecar, Istio's labels and
 * annotations, and the `sidecar.istio.io/status` annotation naming what was added, so injecting
 * again first takes that out (idempotent). Pods that opt out (`sidecar.istio.io/inject: "false"`)
 * or share the node's network are left as they are, as Istio leaves them.
 */
import type { InjectionSettings } from './settings.js';
import { appProbersEnv, mergeAppProbersEnv, restoreAppProbes, rewriteAppProbes, type AppProbers } from './probes.js';
import { INIT_CONTAINER, initContainer, PROXY_CONTAINER, proxyContainer, sidecarVolumes, type SidecarSettings } from './sidecar.js';
import { injectionTemplates, podProxyConfig } from './iptables-args.js';
import { podTemplatesOf, workloadName, type KubeObject, type PodTemplate } from './workloads.js';

export const STATUS_ANNOTATION = 'sidecar.istio.io/status';
const INJECT = 'sidecar.istio.io/inject';
const NATIVE = 'sidecar.istio.io/nativeSidecar';

export interface InjectOptions {
  readonly settings: InjectionSettings;
  readonly sidecar: SidecarSettings;
  /** The proxy runs as a native sidecar (an init container with restartPolicy Always); a pod's nativeSidecar annotation wins. */
  readonly nativeSidecars: boolean;
  readonly openShift?: boolean;
}

/** What was added, as the status annotation records it. */
interface SidecarStatus {
  initContainers: string[] | null;
  containers: string[] | null;
  volumes: string[] | null;
  imagePullSecrets: null;
  revision: string;
}

/** A pod template left as it is, and why; `optedOut`: the pod asked for it (not worth a warning). */
export interface Skipped {
  readonly reason: string;
  readonly optedOut: boolean;
}

/** Why a pod template is left as it is; undefined: it is injected. */
export function skipReason(t: PodTemplate): Skipped | undefined {
  const flag = t.metadata.annotations?.[INJECT] ?? t.metadata.labels?.[INJECT];
  if (flag !== undefined && String(flag).toLowerCase() === 'false') return { reason: `${INJECT}: "false"`, optedOut: true };
  if (t.spec.hostNetwork === true) return { reason: 'hostNetwork: the pod shares the node\'s network', optedOut: true };
  const templates = injectionTemplates((t.metadata.annotations ?? {}) as Record<string, string>);
  // Istio's other templates (gateway, grpc-agent, grpc-simple, custom ones) are not Outrigger's sidecar
  if (templates.some((x) => x !== 'sidecar')) return { reason: `inject.istio.io/templates: ${templates.join(',')}: outrigger inject has the sidecar template only`, optedOut: false };
  return undefined;
}

/** Injects every pod template of `obj` in place; returns the templates left as they were, with why. */
export function injectObject(obj: KubeObject, options: InjectOptions): Skipped[] {
  const skipped: Skipped[] = [];
  for (const t of podTemplatesOf(obj)) {
    const skip = skipReason(t);
    if (skip) {
      skipped.push(skip);
      continue;
    }
    uninject(t, options);
    injectTemplate(t, options);
  }
  return skipped;
}

/**
 * Takes out what an earlier injection added (what its status annotation names). What of the
 * sidecar's containers differs from a fresh injection is the pod's own override: it is kept, so
 * injecting again keeps it (Istio keeps overrides the same way).
 */
export function uninject(t: PodTemplate, options?: InjectOptions): void {
  const raw = t.metadata.annotations?.[STATUS_ANNOTATION];
  if (raw === undefined) return;
  let status: Partial<SidecarStatus> = {};
  try {
    status = JSON.parse(String(raw)) as Partial<SidecarStatus>;
  } catch {
    // a status we cannot read: the containers of ours are known by name
    status = { initContainers: ['istio-init', PROXY_CONTAINER], containers: [PROXY_CONTAINER] };
  }
  const overrides = options ? sidecarOverrides(t, status, options) : [];
  const probers = recordedProbers(t, status);
  if (probers) restoreAppProbes(t, JSON.parse(probers) as AppProbers);
  const drop = (list: KubeObject[] | undefined, names: string[] | null | undefined) => (list ?? []).filter((x) => !(names ?? []).includes(x.name));
  // the overrides wait among the init containers, where the injection that follows takes them
  t.spec.initContainers = [...drop(t.spec.initContainers, status.initContainers), ...overrides];
  t.spec.containers = drop(t.spec.containers, status.containers);
  t.spec.volumes = drop(t.spec.volumes, status.volumes);
  if (!t.spec.initContainers.length) delete t.spec.initContainers;
  if (!t.spec.volumes.length) delete t.spec.volumes;
  delete t.metadata.annotations[STATUS_ANNOTATION];
}

function injectTemplate(t: PodTemplate, o: InjectOptions): void {
  const annotations = (t.metadata.annotations ??= {}) as Record<string, string>;
  const labels = (t.metadata.labels ??= {}) as Record<string, string>;
  const native = annotations[NATIVE] !== undefined ? annotations[NATIVE] !== 'false' : o.nativeSidecars;
  const hold = podProxyConfig(annotations).holdApplicationUntilProxyStarts ?? o.settings.holdApplicationUntilProxyStarts;
  const apps = ((t.spec.containers ?? []) as KubeObject[]).filter((c) => c.name !== PROXY_CONTAINER);
  // Istio's labels: mTLS with this workload, its canonical service and revision
  labels['security.istio.io/tlsMode'] ??= 'istio';
  labels['service.istio.io/canonical-name'] ??= canonicalName(t);
  labels['service.istio.io/canonical-revision'] ??= labels['app.kubernetes.io/version'] ?? labels.version ?? 'latest';
  annotations['istio.io/rev'] ??= 'default';
  if (apps.length) {
    annotations['kubectl.kubernetes.io/default-logs-container'] ??= apps[0].name;
    annotations['kubectl.kubernetes.io/default-container'] ??= apps[0].name;
  }
  const injected = initContainer(t, o.settings, o.sidecar, o.openShift);
  const init = injected && mergeOverrides(injected, t);
  const probers = rewriteAppProbes(t, new Set([PROXY_CONTAINER, INIT_CONTAINER]));
  const env = Object.keys(probers).length ? appProbersEnv(probers) : undefined;
  const proxy = mergeOverrides(proxyContainer(t, o.settings, o.sidecar, native, hold, env), t);
  // the pod's own istio-proxy and istio-init (its overrides) are replaced by the merged ones
  const ours = new Set([PROXY_CONTAINER, ...(init ? [init.name as string] : [])]);
  t.spec.containers = ((t.spec.containers ?? []) as KubeObject[]).filter((c) => !ours.has(c.name));
  const inits = ((t.spec.initContainers ?? []) as KubeObject[]).filter((c) => !ours.has(c.name));
  // the capture rules first, then (native) the proxy, then the pod's own init containers
  t.spec.initContainers = [...(init ? [init] : []), ...(native ? [proxy] : []), ...inits];
  // held: the proxy first, its postStart hook holding the containers after it
  if (!native) t.spec.containers = hold ? [proxy, ...t.spec.containers] : [...t.spec.containers, proxy];
  if (!t.spec.initContainers.length) delete t.spec.initContainers;
  const volumes = sidecarVolumes(t, o.sidecar);
  t.spec.volumes = [...((t.spec.volumes ?? []) as KubeObject[]), ...volumes];
  const status: SidecarStatus = {
    initContainers: [...(init ? [init.name as string] : []), ...(native ? [PROXY_CONTAINER] : [])],
    containers: native ? null : [PROXY_CONTAINER],
    volumes: volumes.map((v) => v.name as string),
    imagePullSecrets: null,
    revision: 'default',
  };
  if (!status.initContainers!.length) status.initContainers = null;
  annotations[STATUS_ANNOTATION] = JSON.stringify(status);
}

/** The fields of the injected containers that differ from a fresh injection: the pod's own overrides, as containers of those names. */
function sidecarOverrides(t: PodTemplate, status: Partial<SidecarStatus>, o: InjectOptions): KubeObject[] {
  const names = new Set([...(status.initContainers ?? []), ...(status.containers ?? [])]);
  const present = [...((t.spec.initContainers ?? []) as KubeObject[]), ...((t.spec.containers ?? []) as KubeObject[])].filter((c) => names.has(c.name));
  const annotations = (t.metadata.annotations ?? {}) as Record<string, string>;
  const native = annotations[NATIVE] !== undefined ? annotations[NATIVE] !== 'false' : o.nativeSidecars;
  const fresh = new Map<string, KubeObject>();
  const init = initContainer(t, o.settings, o.sidecar, o.openShift);
  if (init) fresh.set(init.name, init);
  const hold = podProxyConfig(annotations).holdApplicationUntilProxyStarts ?? o.settings.holdApplicationUntilProxyStarts;
  fresh.set(PROXY_CONTAINER, proxyContainer(t, o.settings, o.sidecar, native, hold, recordedProbers(t, status)));
  const out: KubeObject[] = [];
  for (const c of present) {
    const f = fresh.get(c.name);
    const diff: KubeObject = { name: c.name };
    for (const [k, v] of Object.entries(c)) if (k !== 'name' && JSON.stringify(v) !== JSON.stringify(f?.[k])) diff[k] = v;
    if (Object.keys(diff).length > 1) out.push(diff);
  }
  return out;
}

/** The ISTIO_KUBE_APP_PROBERS an earlier injection gave its sidecar. */
function recordedProbers(t: PodTemplate, status: Partial<SidecarStatus>): string | undefined {
  const names = new Set([...(status.initContainers ?? []), ...(status.containers ?? [])]);
  const proxy = [...((t.spec.initContainers ?? []) as KubeObject[]), ...((t.spec.containers ?? []) as KubeObject[])].find((c) => c.name === PROXY_CONTAINER && names.has(c.name));
  return ((proxy?.env ?? []) as KubeObject[]).find((e) => e.name === 'ISTIO_KUBE_APP_PROBERS')?.value as string | undefined;
}

/** Istio's canonical name: the label, else app.kubernetes.io/name, app, or the workload's name (63 characters, trimmed of -_.). */
function canonicalName(t: PodTemplate): string {
  const l = (t.metadata.labels ?? {}) as Record<string, string>;
  const name = l['app.kubernetes.io/name'] ?? l.app ?? workloadName(t);
  return name.slice(0, 63).replace(/^[-_.]+|[-_.]+$/g, '');
}

/**
 * A pod's own istio-proxy (or istio-init) container overrides the injected one field by field
 * (Istio's reinsertOverrides): its image, args, resources, securityContext and so on replace
 * ours; env and volume mounts are merged by name.
 */
function mergeOverrides(proxy: KubeObject, t: PodTemplate): KubeObject {
  const own = [...((t.spec.containers ?? []) as KubeObject[]), ...((t.spec.initContainers ?? []) as KubeObject[])].find((c) => c.name === proxy.name);
  if (!own) return proxy;
  const out: KubeObject = { ...proxy };
  for (const [k, v] of Object.entries(own)) {
    if (k === 'env') out[k] = mergeEnv(proxy[k] as KubeObject[] | undefined, v as KubeObject[]);
    else if (k === 'volumeMounts') out[k] = mergeByName(proxy[k] as KubeObject[] | undefined, v as KubeObject[], 'mountPath');
    else if (k === 'image' && v === 'auto') continue;
    else if (k === 'securityContext' && v && typeof v === 'object') out[k] = { ...(proxy[k] as KubeObject), ...(v as KubeObject) };
    else out[k] = v;
  }
  return out;
}

function mergeByName(base: KubeObject[] | undefined, own: KubeObject[], key: string): KubeObject[] {
  const out = [...(base ?? [])];
  for (const item of own ?? []) {
    const i = out.findIndex((x) => x[key] === item[key]);
    if (i >= 0) out[i] = item;
    else out.push(item);
  }
  return out;
}

/** The pod's env over ours by name, except the probers its own istio-proxy brings: those join ours (Istio merges them). */
function mergeEnv(base: KubeObject[] | undefined, own: KubeObject[]): KubeObject[] {
  const ours = base?.find((e) => e.name === 'ISTIO_KUBE_APP_PROBERS')?.value as string | undefined;
  return mergeByName(base, own, 'name').map((e) =>
    e.name === 'ISTIO_KUBE_APP_PROBERS' && ours !== undefined && typeof e.value === 'string' && e.value !== ours ? { ...e, value: mergeAppProbersEnv(e.value, ours) } : e,
  );
}
