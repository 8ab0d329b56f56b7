import { createServer, type Server } from 'node:net';
import type { Listener } from '../config/snapshot.js';
import { H1ServerConnection, type RequestListener } from '../codec/http1/server-connection.js';
import { SERVER_NAME } from '../http/local-reply.js';
import type { ListenerStats } from '../telemetry/stats.js';

/**
 * Binds one HTTP/1.1 listener with SO_REUSEPORT, so every worker binds the same address and the
 * kernel spreads connections. Each connection gets a strict HTTP/1.1 codec.
 */
export function createHttpListener(
  config: Listener,
  onRequest: RequestListener,
  stats?: ListenerStats,
  onConnection?: (conn: H1ServerConnection) => void,
): Server {
  const options = {
    stats,
    maxHeaderBytes: config.http.maxRequestHeadersKb * 1024,
    idleTimeoutMs: config.http.idleTimeoutMs,
    acceptHttp10: config.http.acceptHttp10,
    serverName: SERVER_NAME,
  };
  return createServer({ noDelay: true }, (socket) => {
    const conn = new H1ServerConnection(socket, options, onRequest);
    onConnection?.(conn);
  });
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
