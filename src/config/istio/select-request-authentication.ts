/**
 * Which RequestAuthentication rules apply to a workload (Istio's getConfigsForWorkload with
 * WorkloadPolicyMatcher.ShouldAttachPolicy, for sidecars and selector-based gateways): the policies of
 * the workload's namespace and of the root namespace, when they have no selector or their selector's
 * labels are all on the workload. Unlike PeerAuthentication, a selector in the root namespace is honoured
 * (it selects matching workloads of every namespace), and all matching policies combine: their rules are
 * concatenated, as if they came from a single policy (Istio sorts them by issuer; the order does not change
 * the outcome here).
 */
import type { JwtRuleSpec, RequestAuthenticationSpec } from './parse-request-authentication.js';
import { DEFAULT_ROOT_NAMESPACE, type WorkloadRef } from './select-peer-authentication.js';

export function selectRequestAuthentications(
  policies: readonly RequestAuthenticationSpec[],
  workload: WorkloadRef,
  rootNamespace = DEFAULT_ROOT_NAMESPACE,
): RequestAuthenticationSpec[] {
  return policies
    .filter((p) => {
      if (p.meta.namespace !== workload.namespace && p.meta.namespace !== rootNamespace) return false;
      if (!p.selector) return true;
      return Object.keys(p.selector).every((k) => Object.hasOwn(workload.labels, k) && workload.labels[k] === p.selector![k]);
    })
    .sort((a, b) => a.meta.order - b.meta.order);
}

/** The JWT rules that apply to a workload, ready for `new JwtAuthenticator(rules)`. */
export function jwtRulesForWorkload(
  policies: readonly RequestAuthenticationSpec[],
  workload: WorkloadRef,
  rootNamespace = DEFAULT_ROOT_NAMESPACE,
): JwtRuleSpec[] {
  const rules = selectRequestAuthentications(policies, workload, rootNamespace).flatMap((p) => p.jwtRules);
  return rules.sort((a, b) => (a.issuer < b.issuer ? -1 : a.issuer > b.issuer ? 1 : 0));
}
