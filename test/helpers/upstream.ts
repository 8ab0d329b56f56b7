import { createServer, type ServerOptions, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What an upstream saw of one request. */
export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  /** Body bytes received (filled in by the default echo handler; custom handlers may set it). */
  bodyBytes: number;
}

/** The JSON body the default echo handler answers with. */
export interface Echo {
  name: string;
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  bodyBytes: number;
}

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => void;

export interface Upstream {
  readonly port: number;
  readonly name: string;
  readonly requests: SeenRequest[];
  readonly server: Server;
  close(): Promise<void>;
}

/** Answers 200 with JSON {name, method, url, headers, rawHeaders, bodyBytes} once the body is read. */
export function echoHandler(name: string): UpstreamHandler {
  return (req, res, seen) => {
    req.on('data', (c: Buffer) => (seen.bodyBytes += c.length));
    req.on('end', () => {
      const body: Echo = { name, method: seen.method, url: seen.url, headers: seen.headers, rawHeaders: seen.rawHeaders, bodyBytes: seen.bodyBytes };
      const text = JSON.stringify(body);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-upstream': name });
      res.end(text);
    });
  };
}

/**
 * A real node:http server on 127.0.0.1:0. Default handler: echo (see `echoHandler`).
 * `serverOptions` go to node:http createServer (e.g. a larger maxHeaderSize).
 */
export async function startUpstream(handler?: UpstreamHandler, name = 'upstream', serverOptions: ServerOptions = {}): Promise<Upstream> {
  const requests: SeenRequest[] = [];
  const h = handler ?? echoHandler(name);
  const sockets = new Set<Socket>();
  const server = createServer({ keepAliveTimeout: 5_000, ...serverOptions }, (req, res) => {
    const seen: SeenRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0 };
    requests.push(seen);
    h(req, res, seen);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    name,
    requests,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
