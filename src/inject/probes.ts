/**
 * Istio's app probe rewriting: the app containers' HTTP, TCP (and gRPC) probes and lifecycle
 * hooks go to the sidecar's status port instead (`/app-health/<container>/livez|readyz|startupz`,
 * `/app-lifecycle/<container>/poststartz|prestopz` on 15020), which runs them against the app
 * (the proxy's status server, from ISTIO_KUBE_APP_PROBERS): with mTLS STRICT the kubelet's
 * plaintext probes would not reach the app otherwise. Off with the pod's
 * `sidecar.istio.io/rewriteAppHTTPProbers: "false"`.
 */
import type { KubeObject, PodTemplate } from './workloads.js';

export const STATUS_PORT = 15020;
const REWRITE = 'sidecar.istio.io/rewriteAppHTTPProbers';
const PROBES = { livenessProbe: 'livez', readinessProbe: 'readyz', startupProbe: 'startupz' } as const;
const HOOKS = { postStart: 'poststartz', preStop: 'prestopz' } as const;

/** What the status server runs for a path: the original handler, its named port resolved. */
export type AppProbers = Record<string, KubeObject>;

/**
 * Rewrites the probes and hooks of the app containers in place (unless the pod says not to) and
 * returns the original handlers by status-server path, for ISTIO_KUBE_APP_PROBERS.
 */
export function rewriteAppProbes(t: PodTemplate, skip: ReadonlySet<string>): AppProbers {
  const out: AppProbers = {};
  if (String(t.metadata.annotations?.[REWRITE] ?? 'true').toLowerCase() === 'false') return out;
  // the app containers, and its own native sidecars (init containers that keep running)
  const apps = [...((t.spec.initContainers ?? []) as KubeObject[]).filter((c) => c.restartPolicy === 'Always'), ...((t.spec.containers ?? []) as KubeObject[])];
  for (const c of apps) {
    if (skip.has(c.name)) continue;
    for (const [field, kind] of Object.entries(PROBES)) {
      const probe = c[field] as KubeObject | undefined;
      const path = `/app-health/${c.name}/${kind}`;
      if (probe) redirect(probe, path, c, out);
    }
    for (const [hook, kind] of Object.entries(HOOKS)) {
      const handler = c.lifecycle?.[hook] as KubeObject | undefined;
      if (handler) redirect(handler, `/app-lifecycle/${c.name}/${kind}`, c, out);
    }
  }
  return out;
}

/** Points a probe (or hook) at the status server, recording its original handler; false: not one it runs (exec). */
function redirect(probe: KubeObject, path: string, c: KubeObject, out: AppProbers): boolean {
  const kind = probe.httpGet ? 'httpGet' : probe.tcpSocket ? 'tcpSocket' : probe.grpc ? 'grpc' : undefined;
  if (!kind) return false;
  const original = { ...(probe[kind] as KubeObject) };
  if (typeof original.port === 'string') original.port = namedPort(c, original.port) ?? original.port;
  out[path] = { [kind]: original, ...(probe.timeoutSeconds !== undefined ? { timeoutSeconds: probe.timeoutSeconds } : {}) };
  const scheme = kind === 'httpGet' && original.scheme !== undefined ? { scheme: 'HTTP' } : {};
  delete probe.tcpSocket;
  delete probe.grpc;
  probe.httpGet = { path, port: STATUS_PORT, ...scheme };
  return true;
}

function namedPort(c: KubeObject, name: string): number | undefined {
  return ((c.ports ?? []) as KubeObject[]).find((p) => p.name === name)?.containerPort as number | undefined;
}

/** Two ISTIO_KUBE_APP_PROBERS values as one: `ours` over `theirs` (a pod's own istio-proxy may bring probers). */
export function mergeAppProbersEnv(theirs: string, ours: string): string {
  let parsed: AppProbers = {};
  try {
    parsed = JSON.parse(theirs) as AppProbers;
  } catch {
    // not JSON: ours alone
  }
  return appProbersEnv({ ...parsed, ...(JSON.parse(ours) as AppProbers) });
}

/** ISTIO_KUBE_APP_PROBERS: the handlers by path, keys sorted (as Istio writes them). */
export function appProbersEnv(probers: AppProbers): string {
  return JSON.stringify(Object.fromEntries(Object.entries(probers).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

/** Puts the recorded handlers back (what an earlier injection rewrote), before injecting again. */
export function restoreAppProbes(t: PodTemplate, probers: AppProbers): void {
  for (const [path, original] of Object.entries(probers)) {
    const m = /^\/app-(health|lifecycle)\/([^/]+)\/([a-z]+)$/.exec(path);
    const c = [...((t.spec.containers ?? []) as KubeObject[]), ...((t.spec.initContainers ?? []) as KubeObject[])].find((x) => x.name === m?.[2]);
    if (!m || !c) continue;
    const field = m[1] === 'health' ? Object.entries(PROBES).find(([, k]) => k === m[3])?.[0] : undefined;
    const hook = m[1] === 'lifecycle' ? Object.entries(HOOKS).find(([, k]) => k === m[3])?.[0] : undefined;
    const probe = (field ? c[field] : hook ? c.lifecycle?.[hook] : undefined) as KubeObject | undefined;
    if (!probe) continue;
    delete probe.httpGet;
    const { timeoutSeconds: _, ...handler } = original;
    Object.assign(probe, handler);
  }
}
