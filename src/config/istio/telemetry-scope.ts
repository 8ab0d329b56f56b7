import type { NodeIdentity } from '../snapshot.js';
import { labelsMatch } from './hosts.js';
import { ROOT_NAMESPACE } from './registry.js';
import type { IstioConfig, TelemetrySpec } from './resources.js';

/**
 * The Telemetry resources that apply to this proxy, in istiod's order (applicableTelemetries):
 * the root namespace's namespace-wide one, its own namespace's, then those of its namespace whose
 * selector matches its labels, oldest first. Later ones override earlier ones.
 */
export function applicableTelemetries(cfg: IstioConfig, node: NodeIdentity): TelemetrySpec[] {
  const byAge = [...cfg.telemetries].sort((a, b) => a.meta.order - b.meta.order);
  const namespaceWide = (ns: string) => byAge.find((t) => t.meta.namespace === ns && !t.selector);
  const applicable: TelemetrySpec[] = [];
  const root = namespaceWide(ROOT_NAMESPACE);
  if (root) applicable.push(root);
  if (node.namespace !== ROOT_NAMESPACE) {
    const ns = namespaceWide(node.namespace);
    if (ns) applicable.push(ns);
  }
  for (const t of byAge) if (t.meta.namespace === node.namespace && t.selector && labelsMatch(t.selector, node.labels)) applicable.push(t);
  return applicable;
}
