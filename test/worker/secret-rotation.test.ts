// A Snapshot whose only change is a secret (the workload certificate rotated, as SDS would push it):
// the listener stays bound, the clusters are carried over, connections already up keep going, and new
// handshakes present the new certificate.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FilterChain, Snapshot } from '../../src/config/snapshot.js';
import { workloadSecrets, type WorkloadCertificate } from '../../src/config/secrets.js';
import { resourceVersions } from '../../src/config/resource-versions.js';
import { loadAssignment, staticHost } from '../../src/config/endpoints.js';
import { deepFreeze } from '../../src/common/deep-freeze.js';
import { MESH_DOWNSTREAM_ALPN_TCP, meshDownstreamTls } from '../../src/config/istio/downstream-tls.js';
import { createRootCa, issueWorkloadCert, type RootCa } from '../../src/security/ca.js';
import { DataPlane } from '../../src/worker/data-plane.js';
import type { Runtime } from '../../src/worker/runtime.js';
import { WorkerStats } from '../../src/telemetry/stats.js';
import { freePorts } from '../helpers/ports.js';
import { sidecarNode } from '../config/helpers.js';

let ca: RootCa;
let echo: Server;
let dp: DataPlane;
let port: number;
const sockets = new Set<Socket>();

const issue = (sa: string): Promise<WorkloadCertificate> =>
  issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'ns', serviceAccount: sa });

/** Mesh mTLS terminated, then the bytes to the echo cluster. */
const MESH_CHAIN: FilterChain = {
  name: 'mtls',
  match: {},
  transportSocket: meshDownstreamTls('cluster.local', MESH_DOWNSTREAM_ALPN_TCP),
  filters: [{ name: 'envoy.filters.network.tcp_proxy', typedConfig: { statPrefix: 'c', clusters: [{ name: 'c', weight: 1 }], idleTimeoutMs: 60_000 } }],
};

function snapshot(version: string, cert: WorkloadCertificate, echoPort: number, previous?: Snapshot): Snapshot {
  const clusters: Snapshot['clusters'] = [{ name: 'c', type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1000, idleTimeoutMs: 60_000 }];
  const endpoints = [loadAssignment('c', [staticHost('127.0.0.1', echoPort)])];
  const secrets = workloadSecrets(cert);
  return deepFreeze({
    version,
    node: sidecarNode(),
    listeners: [{ name: 'l', address: '127.0.0.1', port, direction: 'INBOUND', filterChains: [MESH_CHAIN] }],
    routeConfigs: [],
    clusters,
    endpoints,
    secrets,
    resourceVersions: resourceVersions(clusters, endpoints, secrets, previous),
  });
}

function dial(client: WorkloadCertificate): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', ca: ca.certPem, cert: client.certChainPem, key: client.keyPem, checkServerIdentity: () => undefined, ALPNProtocols: ['istio'] });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

function roundTrip(s: TLSSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    s.once('data', (b) => resolve(String(b)));
    s.once('close', () => reject(new Error('closed')));
    s.write(text);
  });
}

const runtimeOf = (d: DataPlane) => (d as unknown as { runtime: Runtime }).runtime;

beforeAll(async () => {
  ca = await createRootCa({ trustDomain: 'cluster.local' });
  echo = createServer((s) => {
    sockets.add(s);
    s.on('data', (b) => s.write(b));
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  [port] = await freePorts(1);
  dp = new DataPlane({ stats: new WorkerStats() });
});

afterAll(async () => {
  await dp.close();
  for (const s of sockets) s.destroy();
  await new Promise((r) => echo.close(r));
});

describe('workload certificate rotation', () => {
  it('rebuilds only the TLS contexts: listener and clusters untouched, new handshakes get the new certificate, old connections stay', async () => {
    const echoPort = (echo.address() as AddressInfo).port;
    const first = snapshot('a', await issue('server-a'), echoPort);
    await dp.apply(first);
    const client = await issue('client');
    const before = await dial(client);
    expect(before.getPeerCertificate().subjectaltname).toBe('URI:spiffe://cluster.local/ns/ns/sa/server-a');
    expect(await roundTrip(before, 'one')).toBe('one');
    const clusterBefore = runtimeOf(dp).clusters.get('c');

    const second = snapshot('b', await issue('server-b'), echoPort, first);
    expect(second.resourceVersions.clusters).toEqual(first.resourceVersions.clusters);
    expect(second.resourceVersions.secrets.default).not.toBe(first.resourceVersions.secrets.default);
    await dp.apply(second);

    expect(runtimeOf(dp).clusters.get('c')).toBe(clusterBefore);
    const after = await dial(client);
    expect(after.getPeerCertificate().subjectaltname).toBe('URI:spiffe://cluster.local/ns/ns/sa/server-b');
    expect(await roundTrip(after, 'two')).toBe('two');
    // the connection from before the rotation keeps its session and its path to the cluster
    expect(await roundTrip(before, 'still here')).toBe('still here');
    before.destroy();
    after.destroy();
  });
});
