// Envoy's use_original_dst hand-off on real sockets, with the listeners istiod sends a sidecar
// (decoded from a config dump): a connection captured by virtualOutbound goes to the listener at
// its original destination (exact IP:port first, then 0.0.0.0:port), which never bound a socket
// itself (bind_to_port: false) and matches its own chains; with none there, it stays. The kernel's
// SO_ORIGINAL_DST answer is stood in for (services.originalDestination), as iptables would set it.
import { connect, createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createServer, request, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deepFreeze } from '../../src/common/deep-freeze.js';
import { decodeListener } from '../../src/config/envoy/decode/listener.js';
import { decodeRouteConfiguration } from '../../src/config/envoy/decode/route-configuration.js';
import { fromProtoJson } from '../../src/config/envoy/proto/json.js';
import { messageType } from '../../src/config/envoy/proto/registry.js';
import { loadAssignment, staticHost } from '../../src/config/endpoints.js';
import type { Cluster, Listener, Snapshot } from '../../src/config/snapshot.js';
import type { OriginalDestination } from '../../src/listener/original-dst.js';
import { statKey, WorkerStats } from '../../src/telemetry/stats.js';
import { DataPlane } from '../../src/worker/data-plane.js';
import { sidecarNode } from '../config/helpers.js';
import { dumpListeners } from '../config/envoy/decode/dumps.js';
import { freePorts } from '../helpers/ports.js';

type Json = Record<string, any>;
const ctx = { node: sidecarNode(), warn: () => {} };
const dump = dumpListeners('authz/testdata/configdump.yaml');
const fromDump = (name: string, patch: (l: Json) => void = () => {}): Listener => {
  const message = structuredClone(dump.find((l) => l.name === name)!.message);
  patch(message);
  return decodeListener(message, ctx).listener;
};
const listenerJson = (json: object) => decodeListener(fromProtoJson(messageType('envoy.config.listener.v3.Listener'), json, { location: {} }), ctx).listener;

/** A bind_to_port: false listener whose TCP proxy goes to `cluster`. */
const tcpListener = (address: string, port: number, cluster: string) => listenerJson({
  name: `${address}_${port}`,
  address: { socket_address: { address, port_value: port } },
  filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: cluster, cluster } }] }],
  traffic_direction: 'OUTBOUND',
  bind_to_port: false,
});

const routes9080 = decodeRouteConfiguration(fromProtoJson(messageType('envoy.config.route.v3.RouteConfiguration'), {
  name: '9080',
  virtual_hosts: [{ name: 'reviews', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'outbound|9080||reviews.default.svc.cluster.local', timeout: '0s' } }] }],
}, { location: {} }), ctx);

const servers: (Server | TcpServer)[] = [];
let next: OriginalDestination | undefined;
let outbound: number;
let echoPort: number;
let handedPort: number;
const planes: DataPlane[] = [];

const sockets = new Set<Socket>();

async function listen<T extends Server | TcpServer>(s: T, port: number): Promise<T> {
  servers.push(s);
  s.on('connection', (c: Socket) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
  });
  await new Promise<void>((r) => s.listen(port, '127.0.0.1', () => r()));
  return s;
}

function snapshot(version: string, upstream: number, marker: number, handOff: boolean): Snapshot {
  const cluster = (name: string): Cluster => ({ name, type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 10_000 });
  const clusters = [
    cluster('outbound|9080||reviews.default.svc.cluster.local'),
    cluster('marker'),
    { name: 'PassthroughCluster', type: 'ORIGINAL_DST', lbPolicy: 'CLUSTER_PROVIDED', connectTimeoutMs: 1000, idleTimeoutMs: 10_000 } as Cluster,
  ];
  const virtualOutbound = fromDump('virtualOutbound', (l) => {
    l.address.socket_address.address = '127.0.0.1';
    l.address.socket_address.port_value = outbound;
  });
  return deepFreeze({
    version,
    node: sidecarNode(),
    listeners: [
      handOff ? virtualOutbound : { ...virtualOutbound, handOffRestoredDestination: undefined },
      fromDump('0.0.0.0_9080'),
      // the exact address wins over 0.0.0.0 of the same port
      tcpListener('10.0.0.5', 9080, 'marker'),
      tcpListener('0.0.0.0', handedPort, 'marker'),
    ],
    routeConfigs: [routes9080],
    clusters,
    endpoints: [loadAssignment(clusters[0].name, [staticHost('127.0.0.1', upstream)]), loadAssignment('marker', [staticHost('127.0.0.1', marker)])],
    secrets: [],
    resourceVersions: { clusters: {}, endpoints: {}, secrets: {} },
  });
}

async function plane(handOff: boolean): Promise<DataPlane> {
  const dp = new DataPlane({ stats: new WorkerStats(), originalDestination: () => next });
  planes.push(dp);
  await dp.apply(snapshot(handOff ? 'on' : 'off', upstreamPort, markerPort, handOff));
  return dp;
}

let upstreamPort: number;
let markerPort: number;

beforeAll(async () => {
  [outbound, upstreamPort, markerPort, echoPort, handedPort] = await freePorts(5);
  await listen(createServer((req, res) => res.end(`reviews ${req.url}`)), upstreamPort);
  await listen(createTcpServer((s) => s.end('marker\n')), markerPort);
  await listen(createTcpServer((s) => s.pipe(s)), echoPort);
  // bound on 127.0.0.1: a data plane that tried to bind the bind_to_port: false 0.0.0.0 listener of this port would fail
  await listen(createTcpServer((s) => s.pipe(s)), handedPort);
});

afterAll(async () => {
  for (const dp of planes) await dp.close();
  for (const s of sockets) s.destroy();
  for (const s of servers) if ('closeAllConnections' in s) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

function httpGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: outbound, path, headers: { host: 'reviews:9080' }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timed out')));
    req.end();
  });
}

/** Connects, sends `ping\n` (half-closing), and reads all the far side says. */
function tcpExchange(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(outbound, '127.0.0.1');
    let got = '';
    s.on('data', (c: Buffer) => (got += c));
    s.on('end', () => resolve(got));
    s.on('error', reject);
    s.setTimeout(5000, () => s.destroy(new Error('timed out')));
    s.end('ping\n');
  });
}

describe('use_original_dst hand-off (virtualOutbound)', () => {
  it('goes to 0.0.0.0:port when no listener has the exact address: its HTTP chain, found by inspection, routes over RDS', async () => {
    await plane(true);
    next = { address: '10.0.0.6', port: 9080, family: 4 };
    expect(await httpGet('/reviews/1')).toEqual({ status: 200, body: 'reviews /reviews/1' });
    // counted where Envoy counts it: on the listener that took it
    const counters = planes[0].statsSnapshot().counters;
    expect(counters[statKey('listener', '0.0.0.0_9080', 'downstream_cx_total')]).toBe(1);
    expect(counters[statKey('listener', `127.0.0.1_${outbound}`, 'downstream_cx_total')] ?? 0).toBe(0);
  });

  it('prefers the listener at the exact IP:port', async () => {
    next = { address: '10.0.0.5', port: 9080, family: 4 };
    expect(await tcpExchange()).toBe('marker\n');
  });

  it("stays on virtualOutbound when no listener has the address: its catch-all chain passes through to the original destination", async () => {
    next = { address: '127.0.0.1', port: echoPort, family: 4 };
    expect(await tcpExchange()).toBe('ping\n');
  });

  it('hands off only when the listener says so (without use_original_dst the connection stays)', async () => {
    next = { address: '127.0.0.1', port: handedPort, family: 4 };
    expect(await tcpExchange()).toBe('marker\n');
    for (const dp of planes.splice(0)) await dp.close();
    await plane(false);
    next = { address: '127.0.0.1', port: handedPort, family: 4 };
    expect(await tcpExchange()).toBe('ping\n');
  });
});
