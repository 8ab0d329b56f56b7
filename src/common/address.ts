/** `ip:port`, with IPv6 addresses bracketed: how Envoy labels endpoints and peers (`[::1]:80`). */
export function hostPort(address: string, port: number | undefined): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}
