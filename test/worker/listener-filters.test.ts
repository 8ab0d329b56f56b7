// Listener filters as a decoded listener states them, on real sockets: the inspectors run only
// where they are enabled (a ClientHello on a port without tls_inspector is raw_buffer), and
// continue_on_listener_filters_timeout false closes a connection that stays silent.
import { connect, createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAssignment, staticHost } from '../../src/config/endpoints.js';
import type { FilterChain, Listener, Snapshot } from '../../src/config/snapshot.js';
import { tcpProxyFilter } from '../../src/config/envoy/network-filters.js';
import { WorkerStats } from '../../src/telemetry/stats.js';
import { DataPlane } from '../../src/worker/data-plane.js';
import { sidecarNode } from '../config/helpers.js';
import { freePorts } from '../helpers/ports.js';

const servers: Server[] = [];
const sockets = new Set<Socket>();
let dp: DataPlane;
let inspectedPort: number;
let plainPort: number;
let strictPort: number;

/** A TCP server that answers with its name, so the test sees which chain took the connection. */
async function named(name: string, port: number): Promise<void> {
  const s = createTcpServer((c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
    c.end(`${name}\n`);
  });
  servers.push(s);
  await new Promise<void>((r) => s.listen(port, '127.0.0.1', () => r()));
}

const chain = (name: string, match: FilterChain['match']): FilterChain => ({ name, match, filters: [tcpProxyFilter({ statPrefix: name, clusters: [{ name, weight: 1 }], idleTimeoutMs: 10_000 })] });
const chains = [chain('tls', { transportProtocol: 'tls' }), chain('raw', { transportProtocol: 'raw_buffer' })];

beforeAll(async () => {
  const [tlsUp, rawUp, a, b, c] = await freePorts(5);
  [inspectedPort, plainPort, strictPort] = [a, b, c];
  await named('tls', tlsUp);
  await named('raw', rawUp);
  const listener = (name: string, port: number, over: Partial<Listener>): Listener => ({ name, address: '127.0.0.1', port, direction: 'INBOUND', filterChains: chains, ...over });
  const snapshot: Snapshot = {
    version: '1',
    node: sidecarNode(),
    listeners: [
      listener('inspected', inspectedPort, { inspectors: { tls: {} } }),
      // tls_inspector disabled on this listener's port
      listener('plain', plainPort, { inspectors: { tls: { disabledPorts: [{ start: plainPort, end: plainPort + 1 }] } } }),
      listener('strict', strictPort, { inspectors: { tls: {} }, protocolDetectionTimeoutMs: 100, continueOnListenerFiltersTimeout: false }),
    ],
    routeConfigs: [],
    clusters: ['tls', 'raw'].map((name) => ({ name, type: 'STATIC' as const, lbPolicy: 'ROUND_ROBIN' as const, connectTimeoutMs: 1000, idleTimeoutMs: 10_000 })),
    endpoints: [loadAssignment('tls', [staticHost('127.0.0.1', tlsUp)]), loadAssignment('raw', [staticHost('127.0.0.1', rawUp)])],
    secrets: [],
    resourceVersions: { clusters: {}, endpoints: {}, secrets: {} },
  };
  dp = new DataPlane({ stats: new WorkerStats() });
  await dp.apply(snapshot);
});

afterAll(async () => {
  await dp.close();
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

/** A TLS 1.2 ClientHello record (no extensions): what tls_inspector recognises. */
const CLIENT_HELLO = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x2d, 0x01, 0x00, 0x00, 0x29, 0x03, 0x03]), Buffer.alloc(32), Buffer.from([0x00, 0x00, 0x02, 0x00, 0x2f, 0x01, 0x00])]);

/** Sends `bytes` (if any) and resolves with what comes back before the close, and how long it took. */
function exchange(port: number, bytes?: Buffer): Promise<{ got: string; ms: number }> {
  const start = Date.now();
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (c: Buffer) => (got += c));
    s.on('close', () => resolve({ got, ms: Date.now() - start }));
    s.on('error', () => {});
    s.setTimeout(5000, () => s.destroy(new Error('timed out')));
    if (bytes) s.write(bytes);
  });
}

describe('listener filters', () => {
  it('tls_inspector sees a ClientHello as tls', async () => {
    expect((await exchange(inspectedPort, CLIENT_HELLO)).got).toBe('tls\n');
  });

  it('with tls_inspector disabled on the port, the same ClientHello is raw_buffer', async () => {
    expect((await exchange(plainPort, CLIENT_HELLO)).got).toBe('raw\n');
  });

  it('continue_on_listener_filters_timeout false: a silent connection is closed at the timeout, no chain takes it', async () => {
    const r = await exchange(strictPort);
    expect(r.got).toBe('');
    expect(r.ms).toBeGreaterThanOrEqual(90);
    expect(r.ms).toBeLessThan(3000);
  });
});
