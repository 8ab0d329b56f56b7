import { ProxyConfigError } from './config-dump.js';
import { healthStatusName, type EndpointFilter } from './eds.js';
import { sortSlice } from './go-sort.js';
import { equalFold, goLess } from './go-strings.js';
import { at, field, isObject, numberOf, objectOf, objectsOf, stringOf, type JsonObject } from './json-values.js';
import { printMessages, type OutputFormat } from './print-messages.js';
import { TABLE, TabWriter } from './tabwriter.js';

/** Envoy's `/clusters?format=json` (envoy.admin.v3.Clusters): `{cluster_statuses: [{name, host_statuses: [...]}]}`. */
export interface ClustersStatus {
  cluster_statuses: JsonObject[];
}

const CLUSTER_STATUS_TYPE = 'envoy.admin.v3.ClusterStatus';

/** The `/clusters?format=json` response in `text`. */
export function parseClustersStatus(text: string): ClustersStatus {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ProxyConfigError(`error unmarshalling config dump response from Envoy: ${(err as Error).message}`);
  }
  return toClustersStatus(value);
}

export function toClustersStatus(value: unknown): ClustersStatus {
  if (!isObject(value)) throw new ProxyConfigError('error unmarshalling config dump response from Envoy: not a JSON object');
  return { cluster_statuses: objectsOf(field(value, 'cluster_statuses')) };
}

interface EndpointRow {
  address: string;
  port: number;
  cluster: string;
  status: string;
  failedOutlierCheck: boolean;
}

/** The table `istioctl proxy-config endpoints` prints from `/clusters?format=json`, sorted by address, port, cluster. */
export function writeEndpointSummary(clusters: ClustersStatus, filter: EndpointFilter = {}): string {
  const rows: EndpointRow[] = [];
  for (const cluster of clusters.cluster_statuses) {
    const name = stringOf(cluster.name);
    for (const host of objectsOf(field(cluster, 'host_statuses'))) {
      if (!hostMatches(filter, host, name)) continue;
      const health = field(host, 'health_status');
      const status = healthStatusName(field(health, 'eds_health_status'));
      rows.push({ address: hostAddress(host), port: hostPort(host), cluster: name, status, failedOutlierCheck: field(health, 'failed_outlier_check') === true });
    }
  }
  sortSlice(rows, (a, b) => {
    if (a.address !== b.address) return goLess(a.address, b.address);
    if (a.port !== b.port) return a.port < b.port;
    return goLess(a.cluster, b.cluster);
  });
  const w = new TabWriter(TABLE);
  w.write('ENDPOINT\tSTATUS\tOUTLIER CHECK\tCLUSTER\n');
  for (const row of rows) {
    const endpoint = row.port !== 0 ? `${row.address}:${row.port}` : row.address;
    w.write(`${endpoint}\t${row.status}\t${row.failedOutlierCheck ? 'FAILED' : 'OK'}\t${row.cluster}\n`);
  }
  return w.flush();
}

/** `istioctl proxy-config endpoints -o json|yaml`: each cluster status (whole) with at least one matching host. */
export function writeEndpointDump(clusters: ClustersStatus, filter: EndpointFilter, format: OutputFormat): string {
  const matching = clusters.cluster_statuses.filter((c) => objectsOf(field(c, 'host_statuses')).some((h) => hostMatches(filter, h, stringOf(c.name))));
  return printMessages(CLUSTER_STATUS_TYPE, matching, format);
}

function hostMatches(filter: EndpointFilter, host: JsonObject, cluster: string): boolean {
  if (filter.address && !equalFold(hostAddress(host), filter.address)) return false;
  if (filter.port && hostPort(host) !== filter.port) return false;
  if (filter.cluster && !equalFold(cluster, filter.cluster)) return false;
  if (filter.status && !equalFold(healthStatusName(at(host, 'health_status', 'eds_health_status')), filter.status)) return false;
  return true;
}

/** The host's IP, `unix://<path>`, `envoy://<listener>/<id>`, or `unknown` (no port). */
function hostAddress(host: JsonObject): string {
  const address = field(host, 'address');
  const socket = objectOf(field(address, 'socket_address'));
  if (socket) return stringOf(socket.address);
  const pipe = objectOf(field(address, 'pipe'));
  if (pipe) return `unix://${stringOf(pipe.path)}`;
  const internal = objectOf(field(address, 'envoy_internal_address'));
  if (internal && field(internal, 'server_listener_name') !== undefined) {
    return `envoy://${stringOf(field(internal, 'server_listener_name'))}/${stringOf(field(internal, 'endpoint_id'))}`;
  }
  return 'unknown';
}

function hostPort(host: JsonObject): number {
  return numberOf(at(host, 'address', 'socket_address', 'port_value'));
}
