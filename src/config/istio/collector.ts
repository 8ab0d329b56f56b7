import type { Service } from './registry.js';
import { clusterName } from './translate-clusters.js';

/**
 * An extension provider's service (`host` or `namespace/host`, istiod's LookupCluster) as the
 * outbound cluster that reaches it, with the authority its requests carry; undefined when the
 * registry has no such service with that port.
 */
export function collectorCluster(service: string, port: number, services: ReadonlyMap<string, Service>): { cluster: string; authority: string } | undefined {
  const host = service.includes('/') ? service.slice(service.indexOf('/') + 1) : service;
  const svc = services.get(host);
  if (!svc || !svc.ports.some((p) => p.number === port)) return undefined;
  return { cluster: clusterName('outbound', port, undefined, host), authority: host };
}
