import type { Field } from '../reader.js';
import type { GatewaySpec, ResourceMeta, ServerTlsSpec, SidecarPortSpec, SidecarSpec } from './resources.js';
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
    const tls = parseServerTls(s.at('tls'), port.protocol, warnings, meta);
    return { port, bind: s.at('bind').optString(), hosts, hasTls: !!tls, ...(tls ? { tls } : {}), name: s.at('name').optString() };
  });
  if (servers.length === 0) serversField.fail('at least one server is required');
  return { meta, selector: spec.at('selector').stringMap(), servers };
}

const SERVER_TLS_FIELDS = [
  'mode', 'httpsRedirect', 'serverCertificate', 'privateKey', 'caCertificates', 'credentialName', 'credentialNames', 'subjectAltNames',
  'verifyCertificateSpki', 'verifyCertificateHash', 'minProtocolVersion', 'maxProtocolVersion', 'cipherSuites', 'caCrl', 'tlsCertificates',
];

/**
 * ServerTLSSettings. Certificates come from files (read now: an unreadable one is a config error
 * naming its field) or from credentialName, a credential under --credential-dir that the loader
 * resolves after parsing (config/istio/credentials.ts).
 */
function parseServerTls(f: Field, protocol: string, warnings: string[], meta: ResourceMeta): ServerTlsSpec | undefined {
  if (!f.present) return undefined;
  f.object(SERVER_TLS_FIELDS);
  const httpsRedirect = f.at('httpsRedirect').optBool() ?? false;
  const mode = f.at('mode').optOneOf(['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL'] as const) ?? 'PASSTHROUGH';
  const out: ServerTlsSpec = { mode, httpsRedirect };
  // an HTTP server's tls only carries httpsRedirect
  if (protocol === 'HTTP') return out;
  const read = (key: string) => f.at(key).optFileContent();
  if (mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') {
    if (f.at('credentialNames').present) {
      // several credentials (RSA + ECDSA) for one server: not served here
      return { ...out, unsupported: 'credentialNames (several certificates per server) is not supported yet; use credentialName' };
    }
    const credentialName = f.at('credentialName').optString();
    if (credentialName) {
      // Istio fetches a named credential and does not look at the file fields then
      const files = ['serverCertificate', 'privateKey', 'caCertificates'].filter((k) => f.at(k).present);
      if (files.length) warnings.push(`${describeResource(meta)}: server tls ${files.join(', ')} ignored: credentialName "${credentialName}" provides the certificates`);
      return { ...out, credentialName, ...minVersion(f) };
    }
    if (!f.at('serverCertificate').optString()) f.at('serverCertificate').fail(`serverCertificate is required when mode is ${mode} (or credentialName)`);
    if (!f.at('privateKey').optString()) f.at('privateKey').fail(`privateKey is required when mode is ${mode} (or credentialName)`);
    if (mode !== 'SIMPLE' && !f.at('caCertificates').optString()) f.at('caCertificates').fail(`caCertificates is required when mode is ${mode}`);
    const cert = read('serverCertificate');
    const key = read('privateKey');
    const ca = read('caCertificates');
    if (cert) Object.assign(out, { certPem: cert, certFile: f.at('serverCertificate').optString() });
    if (key) Object.assign(out, { keyPem: key, keyFile: f.at('privateKey').optString() });
    if (ca) Object.assign(out, { caPem: ca, caFile: f.at('caCertificates').optString() });
  }
  Object.assign(out, minVersion(f));
  const ignored = ['subjectAltNames', 'verifyCertificateSpki', 'verifyCertificateHash', 'maxProtocolVersion', 'cipherSuites', 'caCrl'].filter((k) => f.at(k).present);
  if (ignored.length) warnings.push(`${describeResource(meta)}: server tls ${ignored.join(', ')} accepted but not enforced yet`);
  return out;
}

function minVersion(f: Field): Pick<ServerTlsSpec, 'minProtocolVersion'> {
  const min = f.at('minProtocolVersion').optOneOf(['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3'] as const);
  return min === 'TLSV1_3' ? { minProtocolVersion: 'TLSv1_3' } : {};
}

export function parseSidecar(spec: Field, meta: ResourceMeta, warnings: string[]): SidecarSpec {
  spec.object(['workloadSelector', 'ingress', 'egress', 'outboundTrafficPolicy', 'inboundConnectionPool']);
  const ws = spec.at('workloadSelector');
  const ingress = spec.at('ingress').optList().map((l) => {
    l.object(['port', 'bind', 'captureMode', 'defaultEndpoint', 'tls', 'connectionPool']);
    if (!l.at('port').present) l.at('port').fail('port is required');
    const tls = parseIngressTls(l.at('tls'), warnings, meta);
    return {
      port: parsePortField(l.at('port'), ['number', 'protocol', 'name', 'targetPort']),
      bind: l.at('bind').optString(),
      captureMode: l.at('captureMode').optOneOf(['DEFAULT', 'IPTABLES', 'NONE'] as const),
      defaultEndpoint: parseDefaultEndpoint(l.at('defaultEndpoint')),
      ...(tls ? { tls } : {}),
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

/**
 * Sidecar ingress tls: the sidecar terminates TLS for clients from outside the mesh with these
 * certificates. Istio supports SIMPLE and MUTUAL only.
 */
function parseIngressTls(f: Field, warnings: string[], meta: ResourceMeta): ServerTlsSpec | undefined {
  if (!f.present) return undefined;
  const mode = f.object().at('mode');
  if (mode.optString() !== 'SIMPLE' && mode.optString() !== 'MUTUAL') mode.fail(`Sidecar ingress tls supports mode SIMPLE or MUTUAL, got ${JSON.stringify(mode.value ?? null)}`);
  // the certificate fields are a Gateway server's (read now; a TLS port always carries them)
  const tls = parseServerTls(f, 'TLS', warnings, meta)!;
  if (tls.unsupported) f.at('credentialName').fail(tls.unsupported);
  return tls;
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
