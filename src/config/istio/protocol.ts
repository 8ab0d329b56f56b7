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
  return 'UNSUPPORTED'; // Istio's "auto-detect"; treated as TCP until protocol sniffing exists
}

/** Served by the HTTP connection manager. */
export function isHttpProtocol(protocol: string): boolean {
  return HTTP_LIKE.has(protocol);
}
