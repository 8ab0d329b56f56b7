import type { NodeMessage } from '../../src/xds/messages.js';
import type { ResourceHandler } from '../../src/xds/xds-client.js';
import type { ResourceUpdate } from '../../src/xds/update.js';
import { unpackAny } from '../../src/config/envoy/proto/any.js';

/** A sidecar's node as istiod's bootstrap names it. */
export const NODE: NodeMessage = {
  id: 'sidecar~10.1.2.3~productpage-v1-7d4b.default~default.svc.cluster.local',
  cluster: 'productpage.default',
  metadata: { fields: { NAMESPACE: { stringValue: 'default', kind: 'stringValue' }, ISTIO_VERSION: { stringValue: '1.24.0', kind: 'stringValue' } } },
};

export function cluster(name: string, extra: Record<string, unknown> = {}): { name: string; message: object } {
  return {
    name,
    message: { name, type: 'EDS', connect_timeout: { seconds: '10' }, eds_cluster_config: { eds_config: { ads: {}, initial_fetch_timeout: {}, resource_api_version: 'V3' }, service_name: name }, ...extra },
  };
}

export function listener(name: string, port: number, routeName?: string): { name: string; message: object } {
  return { name, message: { name, address: { socket_address: { address: '0.0.0.0', port_value: port } }, ...(routeName ? { stat_prefix: routeName } : {}) } };
}

export function routeConfig(name: string, cluster = 'outbound|80||a.default.svc.cluster.local'): { name: string; message: object } {
  return { name, message: { name, virtual_hosts: [{ name: `${name}-vh`, domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] } };
}

export function assignment(clusterName: string, ...ips: string[]): { name: string; message: object } {
  return {
    name: clusterName,
    message: { cluster_name: clusterName, endpoints: [{ lb_endpoints: ips.map((ip) => ({ endpoint: { address: { socket_address: { address: ip, port_value: 8080 } } } })) }] },
  };
}

export function secret(name: string, pem: string): { name: string; message: object } {
  return { name, message: { name, tls_certificate: { certificate_chain: { inline_string: pem }, private_key: { inline_string: 'KEY' } } } };
}

/** A handler that records every update, decodes its resources, and throws when `refuse` says so. */
export class RecordingHandler implements ResourceHandler {
  readonly updates: ResourceUpdate[] = [];
  /** The resources in force (the last good state), decoded: what a consumer would be running. */
  readonly current = new Map<string, Record<string, unknown>>();
  refuse: ((u: ResourceUpdate) => string | undefined) | undefined;
  timeouts = 0;

  onUpdate(update: ResourceUpdate): void {
    this.updates.push(update);
    const reason = this.refuse?.(update);
    if (reason) throw new Error(reason);
    for (const r of update.updated) {
      const u = unpackAny(r.resource);
      if (!u.known) throw new Error(`unknown type ${u.typeName}`);
      this.current.set(r.name, u.message);
    }
    for (const n of update.removed) this.current.delete(n);
  }

  onInitialFetchTimeout(): void {
    this.timeouts++;
  }
}

/** Polls `probe` every 10 ms until it returns something other than undefined/false (bounded). */
export async function until<T>(probe: () => T | undefined | false, timeoutMs = 5000, what = 'a condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
