/**
 * The pod templates of Kubernetes objects, as `istioctl kube-inject` finds them: a Pod itself, the
 * template of a Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job or
 * OpenShift DeploymentConfig, a CronJob's job template's, and those of a List's items.
 */

export type KubeObject = Record<string, any>;

/** A pod template: its metadata and spec, edited in place by injection. */
export interface PodTemplate {
  readonly metadata: KubeObject;
  readonly spec: KubeObject;
  /** The object it belongs to (a Pod is its own). */
  readonly owner: KubeObject;
}

const TEMPLATE_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'ReplicationController', 'Job', 'DeploymentConfig']);

export function podTemplatesOf(obj: KubeObject | null | undefined): PodTemplate[] {
  if (!obj || typeof obj !== 'object') return [];
  if (obj.kind === 'List') return ((obj.items ?? []) as KubeObject[]).flatMap(podTemplatesOf);
  if (obj.kind === 'Pod') return [template(obj, obj)];
  if (obj.kind === 'CronJob') return obj.spec?.jobTemplate?.spec?.template ? [template(obj.spec.jobTemplate.spec.template, obj)] : [];
  if (TEMPLATE_KINDS.has(obj.kind) && obj.spec?.template) return [template(obj.spec.template, obj)];
  return [];
}

function template(t: KubeObject, owner: KubeObject): PodTemplate {
  t.metadata ??= {};
  t.spec ??= {};
  return { metadata: t.metadata, spec: t.spec, owner };
}

/** The istio-proxy container a pod supplies itself (its overrides of the injected one). */
export function userProxyContainer(t: PodTemplate): KubeObject | undefined {
  return [...((t.spec.containers ?? []) as KubeObject[]), ...((t.spec.initContainers ?? []) as KubeObject[])].find((c) => c.name === 'istio-proxy');
}

/**
 * The runAsUser the pod's own istio-proxy container sets, which the capture rules must exempt
 * instead of 1337 (Istio's adjustInitContainerUser). On OpenShift, a uid equal to the (last) app
 * container's is the platform's own assignment to every container, not an override: ignored, as
 * Istio's webhook does (traffic capture would fail with the app's uid exempted).
 */
export function proxyRunAsUserOverride(t: PodTemplate, openShift = false): number | undefined {
  const proxy = userProxyContainer(t);
  const uid = proxy?.securityContext?.runAsUser as number | undefined;
  if (!uid) return undefined;
  if (openShift) {
    let app: number | undefined;
    for (const c of [...((t.spec.containers ?? []) as KubeObject[]), ...((t.spec.initContainers ?? []) as KubeObject[])]) {
      if (c.name === 'istio-proxy' || c.name === 'istio-init' || c.name === 'istio-validation') continue;
      const u = c.securityContext?.runAsUser as number | undefined;
      if (u !== undefined) app = u;
    }
    if ((app ?? 0) === uid) return undefined;
  }
  return uid;
}

/**
 * Istio's workload name: the object's own (a Deployment's), or for a bare Pod its controller's
 * (a ReplicaSet's without its pod-template hash), else the Pod's name or generateName.
 */
export function workloadName(t: PodTemplate): string {
  const o = t.owner;
  if (o.kind !== 'Pod') return (o.metadata?.name as string | undefined) ?? '';
  const controller = ((o.metadata?.ownerReferences ?? []) as KubeObject[]).find((r) => r.controller) ?? (o.metadata?.ownerReferences?.[0] as KubeObject | undefined);
  if (controller?.name) return controller.kind === 'ReplicaSet' ? String(controller.name).replace(/-[^-]+$/, '') : String(controller.name);
  return (o.metadata?.name as string | undefined) ?? String(o.metadata?.generateName ?? '').replace(/-$/, '');
}
