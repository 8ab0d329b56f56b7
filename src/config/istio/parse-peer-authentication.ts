/**
 * PeerAuthentication (security.istio.io v1 / v1beta1): the mTLS mode a workload's inbound side accepts.
 *
 * Validation follows Istio's (pkg/config/validation ValidatePeerAuthentication and the CRD's CEL rules):
 * - `portLevelMtls` requires a non-empty `selector` ("portLevelMtls requires selector"): a port only means
 *   something for a known set of workloads; mesh- and namespace-wide policies cannot have one;
 * - `portLevelMtls`, when present, has at least one entry, and every key is a port 1..65535 (the
 *   workload's container port, not the Service port);
 * - `mtls.mode` is one of UNSET, DISABLE, PERMISSIVE, STRICT (absent `mtls` or `mode` = UNSET, inherit);
 * - selector labels: non-empty keys, no `*` wildcard in keys or values (validateWorkloadSelector).
 */
import type { Field } from '../reader.js';
import type { ResourceMeta } from './resources.js';
import { describeResource } from './parse.js';

export type MtlsMode = 'UNSET' | 'DISABLE' | 'PERMISSIVE' | 'STRICT';
export const MTLS_MODES: readonly MtlsMode[] = ['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'];

export interface PeerAuthenticationSpec {
  meta: ResourceMeta;
  /**
   * `selector.matchLabels`; undefined when the policy has no selector or an empty one, which makes it
   * namespace-wide (or mesh-wide in the root namespace), as Istio treats an empty selector.
   */
  selector?: Record<string, string>;
  /** `mtls.mode`; UNSET (inherit from the parent scope) when `mtls` or `mode` is absent. */
  mode: MtlsMode;
  /** `portLevelMtls`, sorted by port; only on policies with a selector. */
  portLevelMtls: { port: number; mode: MtlsMode }[];
}

export function parsePeerAuthentication(spec: Field, meta: ResourceMeta, warnings: string[]): PeerAuthenticationSpec {
  spec.object(['selector', 'mtls', 'portLevelMtls']);
  const selector = parseWorkloadSelector(spec.at('selector'));
  if (selector && meta.namespace === 'istio-system') {
    warnings.push(`${describeResource(meta)}: a PeerAuthentication with a workload selector is ignored in the root namespace (istio-system by default); put it in the workload's namespace`);
  }
  const mtls = spec.at('mtls').optObject(['mode']);
  const mode = mtls?.at('mode').optOneOf(MTLS_MODES) ?? 'UNSET';

  const portLevelMtls: { port: number; mode: MtlsMode }[] = [];
  const plm = spec.at('portLevelMtls');
  if (plm.present) {
    const entries = plm.object().entries();
    if (!selector) {
      plm.fail('portLevelMtls requires selector: a mesh- or namespace-wide PeerAuthentication cannot have port level mTLS');
    }
    if (entries.length === 0) plm.fail('portLevelMtls, if defined, must have at least one element');
    for (const [key, f] of entries) {
      const port = /^\d+$/.test(key) ? Number(key) : NaN;
      if (!(port >= 1 && port <= 65535)) f.fail(`port must be between 1 and 65535, got "${key}"`);
      const m = f.object(['mode']);
      portLevelMtls.push({ port, mode: m.at('mode').optOneOf(MTLS_MODES) ?? 'UNSET' });
    }
    portLevelMtls.sort((a, b) => a.port - b.port);
  }
  return { meta, ...(selector ? { selector } : {}), mode, portLevelMtls };
}

/**
 * A `WorkloadSelector` (`{matchLabels}`), shared by PeerAuthentication and RequestAuthentication.
 * Returns undefined for an absent or empty selector (Istio: applies to the whole namespace).
 */
export function parseWorkloadSelector(f: Field): Record<string, string> | undefined {
  if (!f.present) return undefined;
  const labels = f.object(['matchLabels']).at('matchLabels').stringMap();
  for (const [k, v] of Object.entries(labels)) {
    const lf = f.at('matchLabels').at(k);
    if (k === '') lf.fail('empty key is not supported in selector');
    if (k.includes('*') || v.includes('*')) lf.fail('wildcard is not supported in selector');
  }
  return Object.keys(labels).length ? labels : undefined;
}
