/** Istio's host-name rules: short-name expansion, wildcard matching, namespace-scoped host references. */

/** `reviews` in namespace `default` → `reviews.default.svc.cluster.local`; names with a dot and `*` stay. */
export function resolveHost(host: string, namespace: string, domainSuffix: string): string {
  const h = host.toLowerCase();
  if (h === '*' || h.includes('.')) return h;
  return `${h}.${namespace}.svc.${domainSuffix}`;
}

/** Does `pattern` (exact, `*.suffix` or `*`) cover `host` (which may itself be a wildcard)? */
export function hostMatches(pattern: string, host: string): boolean {
  if (pattern === '*') return true;
  if (pattern === host) return true;
  if (pattern.startsWith('*')) {
    const suffix = pattern.slice(1); // ".example.com"
    if (host.startsWith('*')) return host.slice(1).endsWith(suffix);
    return host.endsWith(suffix);
  }
  return false;
}

/** The more specific of two intersecting hosts, or undefined when they do not intersect. */
export function hostIntersection(a: string, b: string): string | undefined {
  if (hostMatches(a, b)) return b;
  if (hostMatches(b, a)) return a;
  return undefined;
}

/** Sort key so that exact hosts come before wildcards and longer wildcards before shorter ones. */
export function hostSpecificity(h: string): number {
  if (h === '*') return 0;
  if (h.startsWith('*')) return h.length;
  return 1_000_000 + h.length;
}

/** A Gateway/Sidecar host `ns/dnsName`: which namespaces' config it admits and which host. */
export interface NamespacedHost {
  /** `*` any namespace, `~` none, otherwise one namespace (`.` already resolved). */
  namespace: string;
  host: string;
}

export function parseNamespacedHost(value: string, ownNamespace: string): NamespacedHost {
  const slash = value.indexOf('/');
  if (slash < 0) return { namespace: '*', host: value.toLowerCase() };
  const ns = value.slice(0, slash);
  return { namespace: ns === '.' ? ownNamespace : ns, host: value.slice(slash + 1).toLowerCase() };
}

export function namespaceAdmits(rule: string, namespace: string): boolean {
  return rule === '*' || rule === namespace;
}

/** Istio exportTo: empty means everywhere; `.` the resource's own namespace; `~` nowhere. */
export function isExportedTo(exportTo: readonly string[], ownNamespace: string, viewer: string): boolean {
  if (exportTo.length === 0) return true;
  for (const e of exportTo) {
    if (e === '*' || e === viewer || (e === '.' && ownNamespace === viewer)) return true;
  }
  return false;
}

export function labelsMatch(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}
