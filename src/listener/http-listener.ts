import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Listener } from '../config/snapshot.js';
import { SERVER_NAME } from '../http/local-reply.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Binds one HTTP/1.1 listener with SO_REUSEPORT, so every worker binds the same address and the
 * kernel spreads connections. Malformed requests (llhttp, strict mode) get 400, oversized headers
 * 431, and the connection is closed.
 */
export function createHttpListener(config: Listener, onRequest: RequestHandler): Server {
  const server = createServer(
    {
      maxHeaderSize: config.http.maxRequestHeadersKb * 1024,
      requireHostHeader: true,
      insecureHTTPParser: false,
      joinDuplicateHeaders: false,
      keepAliveTimeout: config.http.idleTimeoutMs,
      headersTimeout: 60_000,
      requestTimeout: 0, // no whole-request deadline: long uploads are legitimate (Envoy's default too)
      noDelay: true,
    },
    onRequest,
  );
  server.on('clientError', onClientError);
  return server;
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

/** Envoy answers codec errors with a short text reply and closes; so do we. */
function onClientError(err: Error & { code?: string }, socket: Socket): void {
  const pending = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || (pending && pending.headersSent)) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const body = STATUS_CODES[status] ?? 'Bad Request';
  socket.end(
    `HTTP/1.1 ${status} ${body}\r\ncontent-length: ${body.length}\r\ncontent-type: text/plain\r\nserver: ${SERVER_NAME}\r\nconnection: close\r\n\r\n${body}`,
  );
  socket.destroySoon();
}
