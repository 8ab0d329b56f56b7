import type { HostEndpoint } from '../config/endpoints.js';
import { hostPort } from '../common/address.js';

/**
 * A host's identity across EDS updates: its address and port (or pipe path), and its tlsMode, which
 * its pooled connections were made with. Weight, priority, health and labels may change under it.
 */
export function hostKey(e: Pick<HostEndpoint, 'address' | 'port' | 'tlsMode'>): string {
  return e.tlsMode ? `${hostPort(e.address, e.port)}|${e.tlsMode}` : hostPort(e.address, e.port);
}

/** How a cluster's host set changes with a new assignment. */
interface HostSetUpdate<H> {
  /** The new set, in the assignment's order: each endpoint with the host that stays for it, if any. */
  next: { endpoint: HostEndpoint; kept: H | undefined }[];
  /** Hosts no endpoint maps to any longer. */
  removed: H[];
}

/**
 * Envoy's EDS host-set update: endpoints are matched to the current hosts by identity (hostKey), so a
 * host that stays keeps its pools, counters and warm-up; the others are added or removed. The same
 * address listed twice is two hosts, matched to the current ones in order.
 */
export function diffHostSet<H extends { readonly endpoint: HostEndpoint }>(current: readonly H[], next: readonly HostEndpoint[]): HostSetUpdate<H> {
  const byKey = new Map<string, H[]>();
  for (const h of current) {
    const key = hostKey(h.endpoint);
    const same = byKey.get(key);
    if (same) same.push(h);
    else byKey.set(key, [h]);
  }
  const out: HostSetUpdate<H> = { next: [], removed: [] };
  for (const endpoint of next) out.next.push({ endpoint, kept: byKey.get(hostKey(endpoint))?.shift() });
  for (const left of byKey.values()) out.removed.push(...left);
  return out;
}
