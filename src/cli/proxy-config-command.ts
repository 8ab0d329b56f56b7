/**
 * `outrigger proxy-config <type>`: a proxy's config in istioctl proxy-config's layouts, read from
 * its admin API (`/config_dump?include_eds`, `/clusters?format=json` for endpoints, `/logging`) or
 * from a saved dump (--file). Exit 0 with the table or dump, 1 when the proxy or the dump fails.
 */
import { readFile } from 'node:fs/promises';
import {
  parseClustersStatus, parseConfigDump, ProxyConfigError, writeAllDump, writeAllSummary, writeBootstrapDump, writeBootstrapSummary, writeClusterDump,
  writeClusterSummary, writeEndpointDump, writeEndpointSummary, writeListenerDump, writeListenerSummary, writeRouteDump, writeRouteSummary,
  writeSecretDump, writeSecretSummary, type ClusterFilter, type EndpointFilter, type ListenerFilter, type RouteFilter,
} from './proxy-config/index.js';
import type { ProxyConfigFlags, RunFlags } from './args.js';

export async function proxyConfig(flags: RunFlags): Promise<number> {
  const f = flags.configView!;
  try {
    process.stdout.write(await render(f));
    return 0;
  } catch (e) {
    if (e instanceof ProxyConfigError) {
      // `all` prints what it wrote before the section that failed, as istioctl does
      process.stdout.write(e.output);
      process.stderr.write(`Error: ${e.message}\n`);
      return 1;
    }
    if (e instanceof FetchError) {
      process.stderr.write(`error: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

class FetchError extends Error {}

/** A path of the admin API (GET, or POST to change), or the saved file. */
async function read(f: ProxyConfigFlags, path: string, method: 'GET' | 'POST' = 'GET'): Promise<string> {
  if (f.file) {
    try {
      return await readFile(f.file, 'utf8');
    } catch (e) {
      throw new FetchError(`cannot read ${f.file}: ${(e as Error).message}`);
    }
  }
  const url = `${f.admin.replace(/\/$/, '')}${path}`;
  let res: Response;
  try {
    res = await fetch(url, { method, signal: AbortSignal.timeout(30_000) });
  } catch (e) {
    throw new FetchError(`cannot reach the admin API at ${f.admin}: ${(e as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) throw new FetchError(`${url} answered ${res.status}: ${text.trim()}`);
  return text;
}

async function render(f: ProxyConfigFlags): Promise<string> {
  const format = f.output === 'short' ? undefined : f.output;
  const cluster: ClusterFilter = { ...(f.fqdn ? { fqdn: f.fqdn } : {}), ...(f.port ? { port: f.port } : {}), ...(f.subset ? { subset: f.subset } : {}), ...(f.direction ? { direction: f.direction } : {}) };
  const listener: ListenerFilter = { ...(f.address ? { address: f.address } : {}), ...(f.port ? { port: f.port } : {}), ...(f.listenerType ? { type: f.listenerType } : {}) };
  const route: RouteFilter = f.name ? { name: f.name } : {};
  const endpoint: EndpointFilter = { ...(f.address ? { address: f.address } : {}), ...(f.port ? { port: f.port } : {}), ...(f.cluster ? { cluster: f.cluster } : {}), ...(f.status ? { status: f.status } : {}) };
  if (f.type === 'log') {
    if (f.level) await read(f, `/logging?level=${encodeURIComponent(f.level)}`, 'POST');
    return read(f, '/logging');
  }
  if (f.type === 'endpoints') {
    const clusters = parseClustersStatus(await read(f, '/clusters?format=json'));
    return format ? writeEndpointDump(clusters, endpoint, format) : writeEndpointSummary(clusters, endpoint);
  }
  const text = await read(f, '/config_dump?include_eds');
  if (f.type === 'all' && format) return writeAllDump(text, format);
  const dump = parseConfigDump(text);
  switch (f.type) {
    case 'clusters':
      return format ? writeClusterDump(dump, cluster, format) : writeClusterSummary(dump, cluster);
    case 'listeners':
      return format ? writeListenerDump(dump, listener, format) : writeListenerSummary(dump, listener);
    case 'routes':
      return format ? writeRouteDump(dump, route, format) : writeRouteSummary(dump, route);
    case 'secrets':
      return format ? writeSecretDump(dump, format) : writeSecretSummary(dump);
    case 'bootstrap':
      return format ? writeBootstrapDump(dump, format) : writeBootstrapSummary(dump);
    case 'all':
      return writeAllSummary(dump, { cluster, listener, route, endpoint });
  }
}
