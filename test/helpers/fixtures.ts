import { serviceEntry, type Resource } from './mesh.js';
import { startUpstream, type Upstream } from './upstream.js';

/** Service host for a named fixture upstream: `<name>.default.svc.cluster.local`. */
export function svcHost(name: string, namespace = 'default'): string {
  return `${name}.${namespace}.svc.cluster.local`;
}

/**
 * One echo upstream per name, each behind its own ServiceEntry `<name>.default.svc.cluster.local:80`,
 * so a test can tell which route matched from the echo's `name`.
 */
export async function namedUpstreams(names: readonly string[]): Promise<{ upstreams: Map<string, Upstream>; entries: Resource[]; closeAll(): Promise<void> }> {
  const upstreams = new Map<string, Upstream>();
  for (const n of names) upstreams.set(n, await startUpstream(undefined, n));
  const entries = names.map((n) => serviceEntry({ name: n, host: svcHost(n), endpoints: [{ port: upstreams.get(n)!.port }] }));
  return {
    upstreams,
    entries,
    closeAll: async () => {
      await Promise.all([...upstreams.values()].map((u) => u.close()));
    },
  };
}
