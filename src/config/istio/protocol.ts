/** Istio's port protocols, and how a port's protocol is decided (explicit, else by name prefix). */
export const KNOWN_PROTOCOLS = [
  'HTTP', 'HTTPS', 'GRPC', 'GRPC-WEB', 'HTTP2', 'MONGO', 'TCP', 'TLS', 'REDIS', 'MYSQL', 'UDP', 'UNSUPPORTED',
] as const;

const HTTP_LIKE = new Set(['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB']);

/** Upper-cases an explicit protocol, or infers one from the port name (`http-web`, `grpc`, ...). */
export function resolveProtocol(explicit: string | undefined, name: string): string {
  if (explicit) return explicit.toUpperCase();
  const prefix = name.split('-')[0].toUpperCase();
  if ((KNOWN_PROTOCOLS as readonly string[]).includes(prefix)) return prefix;
  return 'UNSUPPORTED'; // Istio's "auto-detect": the first bytes decide (HTTP or TCP)
}

/** How a captured connection to a port of this protocol is served. */
export type PortKind = 'http' | 'tls' | 'tcp' | 'auto' | 'udp';

export function portKind(protocol: string): PortKind {
  if (HTTP_LIKE.has(protocol)) return 'http';
  if (protocol === 'TLS' || protocol === 'HTTPS') return 'tls';
  if (protocol === 'UNSUPPORTED') return 'auto';
  if (protocol === 'UDP') return 'udp';
  return 'tcp'; // TCP, MONGO, MYSQL, REDIS
}

/** Ports whose HTTP requests are routed by Host: HTTP ones, and auto-detected ones that turn out to be HTTP. */
export function servesHttp(protocol: string): boolean {
  const k = portKind(protocol);
  return k === 'http' || k === 'auto';
}

/** Served by the HTTP connection manager. */
export function isHttpProtocol(protocol: string): boolean {
  return HTTP_LIKE.has(protocol);
}

/** Ports Istio never sniffs: an unnamed port there is TCP (SMTP, DNS, MySQL, MongoDB). */
const WELL_KNOWN_TCP_PORTS = new Set([25, 53, 3306, 27017]);

/** Kubernetes' standard appProtocol names (Istio maps them before the prefix rule). */
const KUBERNETES_APP_PROTOCOLS: Record<string, string> = { 'kubernetes.io/h2c': 'HTTP2', 'kubernetes.io/ws': 'HTTP', 'kubernetes.io/wss': 'HTTPS' };

/**
 * Istio's protocol for a Kubernetes Service port: UDP stays UDP; `appProtocol` if set, else the port
 * name, read up to its first `-` (`grpc-web` whole); an unknown one on a well-known port is TCP,
 * elsewhere auto-detected.
 */
export function kubernetesPortProtocol(port: number, name: string, transport: string, appProtocol: string | undefined): string {
  if (transport === 'UDP') return 'UDP';
  const label = appProtocol ?? name;
  if (appProtocol !== undefined && KUBERNETES_APP_PROTOCOLS[appProtocol]) return KUBERNETES_APP_PROTOCOLS[appProtocol];
  if (label.toLowerCase().startsWith('grpc-web')) return 'GRPC-WEB';
  const prefix = label.split('-')[0].toUpperCase();
  if (prefix !== 'UNSUPPORTED' && (KNOWN_PROTOCOLS as readonly string[]).includes(prefix)) return prefix;
  return WELL_KNOWN_TCP_PORTS.has(port) ? 'TCP' : 'UNSUPPORTED';
}
