import type { ServerResponse } from 'node:http';

/** Writes a locally generated response, as Envoy's local replies look (text/plain, length, server). */
export function writeLocalReply(res: ServerResponse, status: number, body: string, extra?: Record<string, string>): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const headers: Record<string, string> = {
    'content-length': String(Buffer.byteLength(body)),
    ...(body ? { 'content-type': 'text/plain' } : {}),
    server: SERVER_NAME,
    ...extra,
  };
  res.writeHead(status, headers);
  res.end(body);
}

export const SERVER_NAME = 'outrigger';
