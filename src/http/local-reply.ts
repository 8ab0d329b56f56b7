import type { Downstream } from '../codec/downstream.js';

export const SERVER_NAME = 'outrigger';

/** Writes a locally generated response, as Envoy's local replies look (text/plain, length, server). */
export function writeLocalReply(ds: Downstream, status: number, body: string, extra?: string[]): void {
  if (ds.headersSent) {
    ds.reset();
    return;
  }
  const bytes = Buffer.from(body);
  const headers = ['content-length', String(bytes.length)];
  if (bytes.length) headers.push('content-type', 'text/plain');
  headers.push('date', httpDate(), 'server', SERVER_NAME);
  if (extra) headers.push(...extra);
  ds.respond(status, headers);
  if (bytes.length) ds.write(bytes);
  ds.end();
}

let cachedDate = '';
let cachedSecond = 0;

/** The Date header value, rebuilt at most once a second. */
export function httpDate(): string {
  const now = Date.now();
  const second = (now / 1000) | 0;
  if (second !== cachedSecond) {
    cachedSecond = second;
    cachedDate = new Date(now).toUTCString();
  }
  return cachedDate;
}
