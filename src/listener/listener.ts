import { createServer, type Server, type Socket } from 'node:net';
import type { Listener } from '../config/snapshot.js';

/**
 * A listening socket with SO_REUSEPORT, so every worker binds the same address and the kernel
 * spreads connections. Half-open connections are allowed: the TCP proxy forwards a client's FIN
 * and keeps the other direction open, as Envoy does; the HTTP codec closes after its response.
 */
export function createListenerServer(onSocket: (socket: Socket) => void): Server {
  return createServer({ noDelay: true, allowHalfOpen: true }, onSocket);
}

export function listen(server: Server, config: Listener): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new Error(`listener ${config.name}: cannot bind ${config.address}:${config.port}: ${err.message}`));
    server.once('error', onError);
    server.listen({ host: config.address, port: config.port, reusePort: true, backlog: 1024 }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
