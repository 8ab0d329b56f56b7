import type { Server } from 'node:http';
import { log } from '../telemetry/log.js';

/**
 * Connections one of the admin, stats or health servers holds at most. These ports do not count
 * against the data plane's connection limit (they must answer while it is full), so they are capped
 * on their own, inside the descriptor reserve: a flood of them cannot take the descriptors the data
 * plane and its upstreams need. Probes, scrapes and pilot-agent use a few connections at a time.
 */
export const ADMIN_MAX_CONNECTIONS = 8;

/** A held connection that has not sent its request headers in this time is closed (frees its place). */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const DROP_LOG_INTERVAL_MS = 60_000;

/** Caps `server`'s connections; the excess is closed at once and logged at most once a minute. */
export function capAdminConnections(server: Server, what: string, max = ADMIN_MAX_CONNECTIONS): Server {
  server.maxConnections = max;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  let dropped = 0;
  let lastLog = 0;
  server.on('drop', () => {
    dropped++;
    const now = Date.now();
    if (now - lastLog < DROP_LOG_INTERVAL_MS) return;
    lastLog = now;
    log.warn(`${what} server: ${max} connections open, ${dropped} more closed at once since the last warning`);
    dropped = 0;
  });
  return server;
}
