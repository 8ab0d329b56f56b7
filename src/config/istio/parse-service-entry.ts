import type { Field } from '../reader.js';
import type { ResourceMeta, ServiceEntrySpec, ServicePortSpec, WorkloadEntrySpec, WorkloadSpec } from './resources.js';
import { parseExportTo } from './parse.js';
import { KNOWN_PROTOCOLS, resolveProtocol } from './protocol.js';
import { isIP } from 'node:net';
import { plainEqual } from '../../common/plain-equal.js';

const UNIX_PREFIX = 'unix://';
const SE_FIELDS = ['hosts', 'addresses', 'ports', 'location', 'resolution', 'endpoints', 'workloadSelector', 'exportTo', 'subjectAltNames'];
const WORKLOAD_FIELDS = ['address', 'ports', 'labels', 'network', 'locality', 'weight', 'serviceAccount'];

export function parseServiceEntry(spec: Field, meta: ResourceMeta): ServiceEntrySpec {
  spec.object(SE_FIELDS);
  const hostsField = spec.at('hosts');
  const hosts = hostsField.stringList();
  if (hosts.length === 0) hostsField.fail('at least one host is required');
  hosts.forEach((h, i) => {
    if (h === '' || h === '*') hostsField.list()[i].fail(`invalid host "${h}": ServiceEntry hosts must be DNS names (a "*." prefix is allowed)`);
    if (h.includes('/')) hostsField.list()[i].fail(`invalid host "${h}": a namespace prefix is not allowed here`);
  });
  const resolution = spec.at('resolution').optOneOf(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN'] as const) ?? 'NONE';
  const location = spec.at('location').optOneOf(['MESH_EXTERNAL', 'MESH_INTERNAL'] as const) ?? 'MESH_EXTERNAL';
  const portsField = spec.at('ports');
  const seen = new Set<number>();
  const ports = portsField.optList().map((p) => {
    const port = parsePort(p);
    if (seen.has(port.number)) p.at('number').fail(`duplicate port ${port.number}`);
    seen.add(port.number);
    return port;
  });
  const ws = spec.at('workloadSelector');
  const workloadSelector = ws.present ? ws.object(['labels']).at('labels').stringMap() : undefined;
  const endpoints = shareEqualLabels(spec.at('endpoints').optList().map((e) => parseWorkload(e)));
  if (endpoints.some((e) => e.address.startsWith(UNIX_PREFIX)) && ports.length !== 1) {
    spec.at('ports').fail('exactly 1 service port is required for unix socket endpoints');
  }
  if (workloadSelector && endpoints.length) spec.at('workloadSelector').fail('workloadSelector and endpoints are mutually exclusive');
  if (resolution === 'STATIC') {
    spec.at('endpoints').optList().forEach((e, i) => {
      const a = endpoints[i].address;
      if (!isIP(a) && !a.startsWith('unix://')) e.at('address').fail(`resolution STATIC needs IP addresses, got "${a}"`);
    });
  }
  if (hosts.some((h) => h.startsWith('*')) && (resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && !endpoints.length) {
    spec.at('resolution').fail('wildcard hosts cannot use DNS resolution without endpoints');
  }
  return {
    meta, hosts, addresses: spec.at('addresses').stringList(), ports, location, resolution, endpoints,
    workloadSelector, exportTo: parseExportTo(spec.at('exportTo')),
  };
}

function parsePort(p: Field): ServicePortSpec {
  p.object(['number', 'protocol', 'name', 'targetPort']);
  const number = p.at('number').port();
  const name = p.at('name').optString() ?? '';
  const explicit = p.at('protocol').optString();
  if (explicit && !(KNOWN_PROTOCOLS as readonly string[]).includes(explicit.toUpperCase())) {
    p.at('protocol').fail(`unknown protocol "${explicit}"; expected one of ${KNOWN_PROTOCOLS.join(', ')}`);
  }
  return {
    number,
    name: name || `${(explicit ?? 'port').toLowerCase()}-${number}`,
    protocol: resolveProtocol(explicit, name),
    targetPort: p.at('targetPort').present ? p.at('targetPort').port() : undefined,
  };
}

/** How many distinct label sets of one ServiceEntry are looked through for an equal one. */
const LABEL_SETS_COMPARED = 8;

/**
 * Endpoints with equal labels (a workload set's: most) share one labels object, and so, in the
 * Snapshot, one LbEndpoint metadata (config/endpoints.ts metadataOf). A ServiceEntry rarely has more
 * than a few label sets; past LABEL_SETS_COMPARED distinct ones, the others keep their own.
 */
function shareEqualLabels(workloads: WorkloadSpec[]): WorkloadSpec[] {
  const distinct: Record<string, string>[] = [];
  for (const w of workloads) {
    const equal = distinct.find((l) => plainEqual(l, w.labels));
    if (equal) w.labels = equal;
    else if (distinct.length < LABEL_SETS_COMPARED) distinct.push(w.labels);
  }
  return workloads;
}

export function parseWorkload(f: Field): WorkloadSpec {
  f.object(WORKLOAD_FIELDS);
  const ports: Record<string, number> = {};
  for (const [k, v] of f.at('ports').entries()) ports[k] = v.port();
  const address = f.at('address').optString() ?? '';
  if (address.startsWith(UNIX_PREFIX)) {
    const path = address.slice(UNIX_PREFIX.length);
    // Istio: an absolute path to a file, or @name in the abstract namespace
    if (path === '') f.at('address').fail('unix address must not be empty');
    if (!path.startsWith('@') && (!path.startsWith('/') || path.endsWith('/'))) f.at('address').fail(`${address}: "${path}" is not an absolute path to a file`);
    if (Object.keys(ports).length) f.at('ports').fail(`unix endpoint ${address} must not include ports`);
  }
  const weight = f.at('weight').optInt(0, 2 ** 32 - 1);
  return {
    address,
    ports,
    labels: f.at('labels').stringMap(),
    network: f.at('network').optString(),
    locality: f.at('locality').optString(),
    weight: weight === undefined || weight === 0 ? 1 : weight,
    serviceAccount: f.at('serviceAccount').optString(),
  };
}

export function parseWorkloadEntry(spec: Field, meta: ResourceMeta): WorkloadEntrySpec {
  const workload = parseWorkload(spec);
  if (!workload.address && !workload.network) spec.at('address').fail('address is required');
  return { meta, workload };
}
