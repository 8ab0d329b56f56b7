// envoy.filters.http.header_mutation through the real data plane: a Snapshot (as xDS will deliver
// it) with the filter on a listener, a real upstream and a real client.
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headerMutationFilter } from '../../src/filters/http/header_mutation/index.js';
import { ConfigError } from '../../src/config/errors.js';
import { DataPlane } from '../../src/worker/data-plane.js';
import { WorkerStats } from '../../src/telemetry/stats.js';
import { freePorts } from '../helpers/ports.js';
import { filterSnapshot } from '../helpers/filter-snapshot.js';

let upstream: Server;
let seen: IncomingHttpHeaders[] = [];
let dp: DataPlane;
let port: number;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'x-internal': 'secret', 'content-length': 2 });
    res.end('ok');
  });
  const [up, lp] = await freePorts(2);
  port = lp;
  await new Promise<void>((r) => upstream.listen(up, '127.0.0.1', () => r()));
  const snapshot = filterSnapshot({
    port: lp,
    upstreamPort: up,
    direction: 'GATEWAY',
    httpFilters: [{
      name: 'envoy.filters.http.header_mutation',
      config: { mutations: {
        request_mutations: [
          { append: { header: { key: 'X-Added', value: 'yes' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' } },
          { remove: 'x-drop-me' },
        ],
        response_mutations: [{ remove: 'x-internal' }, { append: { header: { key: 'x-via-filter', value: '1' } } }],
      } },
    }],
    routes: [{ name: 'default', match: { path: { prefix: '/' }, headers: [], queryParams: [] }, action: { kind: 'route', clusters: [{ name: 'c', weight: 1 }] } }],
  });
  dp = new DataPlane({ stats: new WorkerStats() });
  await dp.apply(snapshot);
});

afterAll(async () => {
  await dp.close();
  await new Promise((r) => upstream.close(r));
});

function get(headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: { host: 'a', ...headers }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('envoy.filters.http.header_mutation', () => {
  it('edits request headers on the way up and response headers on the way down', async () => {
    seen = [];
    const r = await get({ 'x-added': 'client', 'x-drop-me': '1', 'x-keep': 'k' });
    expect(r.status).toBe(200);
    expect(seen[0]['x-added']).toBe('yes'); // overwritten, not appended
    expect(seen[0]['x-drop-me']).toBeUndefined();
    expect(seen[0]['x-keep']).toBe('k');
    expect(r.headers['x-internal']).toBeUndefined();
    expect(r.headers['x-via-filter']).toBe('1');
  });

  it('rejects config it cannot apply, naming the field', () => {
    expect(() => headerMutationFilter.parse({ mutations: { request_mutations: [{ append: { header: { key: 'a', value: 'b' }, append_action: 'ADD_IF_ABSENT' } }] } }))
      .toThrow(/request_mutations\[0\]\.append\.append_action/);
    expect(() => headerMutationFilter.parse({ mutation: {} })).toThrow(ConfigError);
  });
});
