import type { Field } from '../reader.js';
import type { GatewaySpec, ResourceMeta, SidecarPortSpec, SidecarSpec } from './resources.js';
import { describeResource } from './parse.js';
import { KNOWN_PROTOCOLS, resolveProtocol } from './protocol.js';

const SERVER_FIELDS = ['port', 'bind', 'hosts', 'tls', 'defaultEndpoint', 'name'];

export function parseGateway(spec: Field, meta: ResourceMeta, warnings: string[]): GatewaySpec {
  spec.object(['servers', 'selector']);
  const serversField = spec.at('servers');
  const servers = serversField.list().map((s) => {
    s.object(SERVER_FIELDS);
    const port = parsePortField(s.at('port'), ['number', 'protocol', 'name', 'targetPort']);
    const hostsField = s.at('hosts');
    const hosts = hostsField.stringList();
    if (hosts.length === 0) hostsField.fail('at least one host is required');
    hosts.forEach((h, i) => validateNamespacedHost(hostsField.list()[i], h, false));
    const tls = s.at('tls');
    if (tls.present) tls.object();
    return { port, bind: s.at('bind').optString(), hosts, hasTls: tls.present, name: s.at('name').optString() };
  });
  if (servers.length === 0) serversField.fail('at least one server is required');
  if (servers.some((s) => s.hasTls)) warnings.push(`${describeResource(meta)}: server tls settings accepted but not enforced yet (TLS servers are skipped)`);
  return { meta, selector: spec.at('selector').stringMap(), servers };
}

export function parseSidecar(spec: Field, meta: ResourceMeta, warnings: string[]): SidecarSpec {
  spec.object(['workloadSelector', 'ingress', 'egress', 'outboundTrafficPolicy', 'inboundConnectionPool']);
  const ws = spec.at('workloadSelector');
  const ingress = spec.at('ingress').optList().map((l) => {
    l.object(['port', 'bind', 'captureMode', 'defaultEndpoint', 'tls', 'connectionPool']);
    if (!l.at('port').present) l.at('port').fail('port is required');
    if (l.at('tls').present) warnings.push(`${describeResource(meta)}: ingress tls accepted but not enforced yet`);
    return {
      port: parsePortField(l.at('port'), ['number', 'protocol', 'name', 'targetPort']),
      bind: l.at('bind').optString(),
      captureMode: l.at('captureMode').optOneOf(['DEFAULT', 'IPTABLES', 'NONE'] as const),
      defaultEndpoint: parseDefaultEndpoint(l.at('defaultEndpoint')),
    };
  });
  const egressPorts = new Set<string>();
  const egress = spec.at('egress').optList().map((l) => {
    const key = l.at('port').present ? `${l.at('bind').optString() ?? ''}:${l.at('port').at('number').value}` : 'catch-all';
    if (egressPorts.has(key)) l.fail(key === 'catch-all' ? 'only one egress listener may omit the port' : `duplicate egress listener for port ${key.split(':')[1]}`);
    egressPorts.add(key);
    l.object(['port', 'bind', 'captureMode', 'hosts']);
    const hostsField = l.at('hosts');
    const hosts = hostsField.stringList();
    if (hosts.length === 0) hostsField.fail('at least one host is required');
    hosts.forEach((h, i) => validateNamespacedHost(hostsField.list()[i], h, true));
    return {
      port: l.at('port').present ? parsePortField(l.at('port'), ['number', 'protocol', 'name', 'targetPort']) : undefined,
      bind: l.at('bind').optString(),
      captureMode: l.at('captureMode').optOneOf(['DEFAULT', 'IPTABLES', 'NONE'] as const),
      hosts,
    };
  });
  const otp = spec.at('outboundTrafficPolicy');
  return {
    meta,
    workloadSelector: ws.present ? ws.object(['labels']).at('labels').stringMap() : undefined,
    ingress,
    egress,
    outboundTrafficPolicy: otp.present ? otp.object(['mode', 'egressProxy']).at('mode').optOneOf(['REGISTRY_ONLY', 'ALLOW_ANY'] as const) : undefined,
  };
}

function parsePortField(f: Field, known: string[]): SidecarPortSpec {
  f.object(known);
  const number = f.at('number').port();
  const name = f.at('name').optString() ?? '';
  const explicit = f.at('protocol').optString();
  if (explicit && !(KNOWN_PROTOCOLS as readonly string[]).includes(explicit.toUpperCase())) {
    f.at('protocol').fail(`unknown protocol "${explicit}"`);
  }
  return { number, protocol: resolveProtocol(explicit, name), name };
}

/** Gateway/Sidecar hosts are `namespace/dnsName` (Sidecar requires the namespace part). */
function validateNamespacedHost(f: Field, h: string, namespaceRequired: boolean): void {
  const parts = h.split('/');
  if (parts.length > 2 || parts.some((p) => p === '')) f.fail(`invalid host "${h}": expected [namespace/]dnsName`);
  if (namespaceRequired && parts.length !== 2) f.fail(`invalid host "${h}": expected namespace/dnsName (use "*/${h}" for any namespace)`);
  const dns = parts[parts.length - 1];
  if (dns !== '*' && !/^(\*\.)?[a-zA-Z0-9]([-a-zA-Z0-9_.]*[a-zA-Z0-9])?$/.test(dns)) f.fail(`invalid host "${h}"`);
}

/** Istio accepts `127.0.0.1:PORT`, `0.0.0.0:PORT`, `[::1]:PORT`, `[::]:PORT` or `unix:///path`. */
function parseDefaultEndpoint(f: Field): string | undefined {
  const v = f.optString();
  if (v === undefined || v.startsWith('unix://')) return v;
  const m = /^(127\.0\.0\.1|0\.0\.0\.0|\[::1\]|\[::\]):(\d+)$/.exec(v);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
    f.fail(`invalid defaultEndpoint "${v}": expected 127.0.0.1:PORT, 0.0.0.0:PORT, [::1]:PORT, [::]:PORT or unix:///path`);
  }
  return v;
}
