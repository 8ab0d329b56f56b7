import type { Server } from 'node:http';
import { nodeHttp } from '../common/node-builtins.js';

/** Istio's health port: `/healthz/ready` is 200 once every worker runs the first config, 503 otherwise. */
export function createHealthServer(isReady: () => boolean): Server {
  return nodeHttp.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz/ready') {
      const ready = isReady();
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' });
      res.end(ready ? '' : 'not ready\n');
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });
}
