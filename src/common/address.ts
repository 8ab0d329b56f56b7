import { isIPv4, isIPv6, SocketAddress } from 'node:net';
/**
 * `ip:port`, with IPv6 addresses bracketed: how Envoy labels endpoints and peers (`[::1]:80`); a
 * unix socket is labelled by its path alone, as Envoy prints a pipe.
 */
export function hostPort(address: string, port: number | undefined): string {
  if (isPipeAddress(address)) return address;
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * A unix domain socket (Envoy's pipe): an absolute path, or `@name` in the abstract namespace. No IP
 * address or DNS name starts with either, so an endpoint address says by itself what it is.
 */
export function isPipeAddress(address: string): boolean {
  return address.startsWith('/') || address.startsWith('@');
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) → `10.0.0.1`, so IPv4 ranges match it. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/**
 * node's isIPv6, asked only of text with a colon: it is one large regex, compiled on first use (6 ms
 * of a cold config load) and slow on every call (16 ms for 1,800 IPv4 VIPs), and no IPv6 address
 * lacks a colon.
 */
export function isIPv6Address(text: string): boolean {
  return text.includes(':') && isIPv6(text);
}

/** An IP address in one spelling: IPv4 dotted as is, IPv6 compressed and lower-case (inet_ntop); not an IP (or with a zone): undefined. */
export function compressIp(text: string): string | undefined {
  if (isIPv4(text)) return text;
  if (!isIPv6(text) || text.includes('%')) return undefined;
  return new SocketAddress({ address: text, family: 'ipv6' }).address;
}
