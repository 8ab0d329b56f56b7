import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * Real loopback connections for relay tests: `inner` is the accepted end, as the proxy's listeners
 * get it (half-open allowed, as the proxy's sockets), `outer` the test's peer. `close()` destroys
 * what was accepted and stops the server.
 */
export async function loopbackPairs(): Promise<{ pair(): Promise<{ inner: Socket; outer: Socket }>; close(): Promise<void> }> {
  const accepted: Socket[] = [];
  const server: Server = createServer({ allowHalfOpen: true }, (s) => accepted.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return {
    async pair() {
      const n = accepted.length;
      const outer = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      outer.on('error', () => {});
      await new Promise((r) => outer.once('connect', r));
      for (let t = 0; accepted.length <= n && t < 2_000; t += 5) await new Promise((r) => setTimeout(r, 5));
      const inner = accepted[n];
      if (!inner) throw new Error('loopbackPairs: the connection was not accepted within 2 s');
      inner.on('error', () => {});
      return { inner, outer };
    },
    close() {
      for (const s of accepted) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
