/**
 * Which PeerAuthentication applies to a workload, and the mTLS mode it gives each port: Istio's
 * precedence (pilot/pkg/model/authentication.go getConfigsForWorkload + pilot/pkg/security/authn
 * ComposePeerAuthentication; the "Authentication policies" section of the security concept page):
 *
 * - candidates are the policies of the workload's namespace and of the root namespace;
 * - mesh-wide: root namespace, no (or an empty) selector; namespace-wide: workload namespace, no selector;
 *   workload-specific: a selector whose labels are all on the workload, in a non-root namespace
 *   (a policy with a selector in the root namespace is ignored, even for root-namespace workloads);
 * - several at one level: the oldest wins (creation time; here load order, `meta.order`), the others
 *   are ignored;
 * - the narrowest level sets the mode: workload > namespace > mesh; UNSET inherits from the next wider
 *   level; nothing set → PERMISSIVE;
 * - the workload policy's portLevelMtls overrides the mode for those (container) ports; an UNSET port
 *   inherits the workload's resolved mode.
 */
import type { MtlsMode, PeerAuthenticationSpec } from './parse-peer-authentication.js';

export type EffectiveMtlsMode = Exclude<MtlsMode, 'UNSET'>;

export interface WorkloadRef {
  namespace: string;
  labels: Readonly<Record<string, string>>;
}

export interface ResolvedPeerAuthentication {
  /** The workload-wide mode. */
  mode: EffectiveMtlsMode;
  /** Port (the workload's container port) → mode, from the workload policy's portLevelMtls. */
  perPort: ReadonlyMap<number, EffectiveMtlsMode>;
  /** The policies that were chosen at each level (for diagnostics). */
  mesh?: PeerAuthenticationSpec;
  namespace?: PeerAuthenticationSpec;
  workload?: PeerAuthenticationSpec;
}

export const DEFAULT_ROOT_NAMESPACE = 'istio-system';

export function resolvePeerAuthentication(
  policies: readonly PeerAuthenticationSpec[],
  workload: WorkloadRef,
  rootNamespace = DEFAULT_ROOT_NAMESPACE,
): ResolvedPeerAuthentication {
  let mesh: PeerAuthenticationSpec | undefined;
  let namespace: PeerAuthenticationSpec | undefined;
  let wl: PeerAuthenticationSpec | undefined;
  const older = (a: PeerAuthenticationSpec, b: PeerAuthenticationSpec | undefined) => !b || a.meta.order < b.meta.order;
  for (const p of policies) {
    const ns = p.meta.namespace;
    if (ns !== workload.namespace && ns !== rootNamespace) continue;
    if (!p.selector) {
      if (ns === rootNamespace) {
        if (older(p, mesh)) mesh = p;
      } else if (older(p, namespace)) namespace = p;
    } else if (ns !== rootNamespace && selects(p.selector, workload.labels)) {
      if (older(p, wl)) wl = p;
    }
  }
  let mode: EffectiveMtlsMode = 'PERMISSIVE';
  for (const level of [mesh, namespace, wl]) if (level && level.mode !== 'UNSET') mode = level.mode;
  const perPort = new Map<number, EffectiveMtlsMode>();
  for (const { port, mode: m } of wl?.portLevelMtls ?? []) perPort.set(port, m === 'UNSET' ? mode : m);
  return { mode, perPort, ...(mesh ? { mesh } : {}), ...(namespace ? { namespace } : {}), ...(wl ? { workload: wl } : {}) };
}

/** The effective mTLS mode of `workload` on `port` (its container port), or workload-wide without a port. */
export function selectPeerAuthentication(
  policies: readonly PeerAuthenticationSpec[],
  workload: WorkloadRef,
  rootNamespace = DEFAULT_ROOT_NAMESPACE,
  port?: number,
): EffectiveMtlsMode {
  const r = resolvePeerAuthentication(policies, workload, rootNamespace);
  return (port !== undefined ? r.perPort.get(port) : undefined) ?? r.mode;
}

function selects(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const k of Object.keys(selector)) if (!Object.hasOwn(labels, k) || labels[k] !== selector[k]) return false;
  return true;
}
