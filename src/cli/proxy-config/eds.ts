import { findSection, resourcesOf, type ConfigDump } from './config-dump.js';
import { sortSlice } from './go-sort.js';
import { equalFold } from './go-strings.js';
import { arrayOf, at, field, numberOf, objectOf, objectsOf, stringOf, type JsonObject } from './json-values.js';
import { printMessages, type OutputFormat } from './print-messages.js';
import { safelyParseSubsetKey, subsetKeyLess } from './subset-key.js';
import { TABLE, TabWriter } from './tabwriter.js';

/** --address --port --cluster --status (istioctl's EndpointFilter). */
export interface EndpointFilter {
  /** An endpoint address as the table shows it (`ip:port`, a pipe path, `envoy://listener/id`), any case. */
  address?: string;
  port?: number;
  cluster?: string;
  /** A health status name (HEALTHY, UNHEALTHY, ...), any case. */
  status?: string;
}

export interface EdsSummaryOptions {
  /** Prefix each address with `endpoint/` (what `proxy-config all` does). */
  includeConfigType?: boolean;
}

const HEALTH_STATUSES = ['UNKNOWN', 'HEALTHY', 'UNHEALTHY', 'DRAINING', 'TIMEOUT', 'DEGRADED'];
const CLA_TYPE = 'envoy.config.endpoint.v3.ClusterLoadAssignment';

/** A core.HealthStatus as Go's String() prints it (absent: UNKNOWN). */
export function healthStatusName(value: unknown): string {
  if (value === undefined || value === null) return 'UNKNOWN';
  if (typeof value === 'number') return HEALTH_STATUSES[value] ?? String(value);
  return String(value);
}

/**
 * The table of the endpoints in the config dump's EndpointsConfigDump (`/config_dump?include_eds`):
 * what `istioctl proxy-config all` (and the hidden `eds` command) prints. No such section: the header only.
 */
export function writeEdsSummary(dump: ConfigDump, filter: EndpointFilter = {}, options: EdsSummaryOptions = {}): string {
  const w = new TabWriter(TABLE);
  w.write('NAME\tSTATUS\tLOCALITY\tCLUSTER\n');
  for (const cla of filteredAssignments(dump, filter)) {
    for (const locality of objectsOf(cla.endpoints)) {
      for (const endpoint of objectsOf(field(locality, 'lb_endpoints'))) {
        const address = endpointAddresses(endpoint).join(',');
        const status = healthStatusName(field(endpoint, 'health_status'));
        const cells = [options.includeConfigType ? `endpoint/${address}` : address, status, localityName(locality.locality), stringOf(field(cla, 'cluster_name'))];
        w.write(`${cells.join('\t')}\n`);
      }
    }
  }
  return w.flush();
}

/** `istioctl proxy-config eds -o json|yaml`: the assignments with a matching endpoint, their endpoint lists filtered. */
export function writeEdsDump(dump: ConfigDump, filter: EndpointFilter, format: OutputFormat): string {
  return printMessages(CLA_TYPE, filteredAssignments(dump, filter), format);
}

/** Each assignment (dynamic, then static) with only its matching endpoints, those left with none dropped, sorted as clusters are. */
function filteredAssignments(dump: ConfigDump, filter: EndpointFilter): JsonObject[] {
  const section = findSection(dump, 'endpoints');
  if (!section) return [];
  const assignments: JsonObject[] = [];
  for (const cla of [...resourcesOf(section, 'dynamic_endpoint_configs', 'endpoint_config'), ...resourcesOf(section, 'static_endpoint_configs', 'endpoint_config')]) {
    let kept = 0;
    const cluster = stringOf(field(cla, 'cluster_name'));
    const endpoints = objectsOf(cla.endpoints).map((locality) => {
      const lbEndpoints = objectsOf(field(locality, 'lb_endpoints')).filter((ep) => endpointMatches(filter, ep, cluster));
      kept += lbEndpoints.length;
      return { ...locality, lb_endpoints: lbEndpoints };
    });
    if (kept > 0) assignments.push({ ...cla, endpoints });
  }
  const keys = new Map(assignments.map((a) => [a, safelyParseSubsetKey(stringOf(field(a, 'cluster_name')))]));
  sortSlice(assignments, (a, b) => subsetKeyLess(keys.get(a)!, keys.get(b)!));
  return assignments;
}

function endpointMatches(filter: EndpointFilter, lbEndpoint: JsonObject, cluster: string): boolean {
  if (filter.address && !endpointAddresses(lbEndpoint).some((a) => equalFold(a, filter.address!))) return false;
  if (filter.port && numberOf(at(lbEndpoint, 'endpoint', 'address', 'socket_address', 'port_value')) !== filter.port) return false;
  if (filter.cluster && !equalFold(cluster, filter.cluster)) return false;
  if (filter.status && !equalFold(healthStatusName(field(lbEndpoint, 'health_status')), filter.status)) return false;
  return true;
}

/** The endpoint's address and additional addresses: `ip:port`, a pipe path, `envoy://<listener>/<id>`, or `unknown`. */
function endpointAddresses(lbEndpoint: JsonObject): string[] {
  const endpoint = objectOf(lbEndpoint.endpoint);
  const addresses = [endpoint?.address, ...arrayOf(field(endpoint, 'additional_addresses')).map((a) => field(a, 'address'))];
  return addresses.map((a) => {
    const address = objectOf(a);
    const socket = objectOf(field(address, 'socket_address'));
    if (socket) return `${stringOf(socket.address)}:${numberOf(field(socket, 'port_value'))}`;
    const pipe = objectOf(address?.pipe);
    if (pipe) return stringOf(pipe.path);
    const internal = objectOf(field(address, 'envoy_internal_address'));
    if (internal && field(internal, 'server_listener_name') !== undefined) {
      return `envoy://${stringOf(field(internal, 'server_listener_name'))}/${stringOf(field(internal, 'endpoint_id'))}`;
    }
    return 'unknown';
  });
}

/** pilot's LocalityToString: region[/zone[/sub_zone]]. */
function localityName(value: unknown): string {
  const locality = objectOf(value);
  if (!locality) return '';
  let out = stringOf(locality.region);
  if (stringOf(locality.zone) === '') return out;
  out += `/${stringOf(locality.zone)}`;
  if (stringOf(field(locality, 'sub_zone')) === '') return out;
  return `${out}/${stringOf(field(locality, 'sub_zone'))}`;
}
