// The data plane runs what the xDS decoders produce: a Snapshot assembled from decoded Clusters,
// ClusterLoadAssignments, Secrets and TLS contexts, on real sockets. An EDS cluster with istiod's
// auto mTLS reaches its endpoint over mesh mTLS (SDS-decoded certificates, SNI, SAN check, ALPN
// without istio-peer-exchange), follows an EDS-only update without being rebuilt; LOGICAL_DNS
// resolves a name as its dns_lookup_family says; a listener's tls_params decide the handshake.
import { createServer as createHttpServer, request } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCluster, type ClusterMessage } from '../../src/config/envoy/decode/cluster.js';
import { decodeClusterLoadAssignment, type ClusterLoadAssignmentMessage } from '../../src/config/envoy/decode/endpoint.js';
import { decodeSecret, type SecretMessage } from '../../src/config/envoy/decode/secret.js';
import { decodeDownstreamTransportSocket, type TransportSocketMessage } from '../../src/config/envoy/decode/tls-context.js';
import { httpConnectionManagerFilter, tcpProxyFilter } from '../../src/config/envoy/network-filters.js';
import { httpConnectionManager } from '../../src/config/istio/translate.js';
import type { FilterChain, Listener, RouteConfiguration, Secret } from '../../src/config/snapshot.js';
import { createRootCa, issueWorkloadCert, type RootCa } from '../../src/security/ca.js';
import type { DataPlane } from '../../src/worker/data-plane.js';
import type { Runtime } from '../../src/worker/runtime.js';
import { collectingContext, findTyped, plain, readDump } from '../config/envoy/decode/dumps.js';
import { snapshotOf, startDataPlane, type DecodedPieces } from '../helpers/decoded-snapshot.js';
import { freePorts } from '../helpers/ports.js';

const PRODUCTPAGE = 'outbound|9080|v1|productpage.default.svc.cluster.local';
const SNI = 'outbound_.9080_.v1_.productpage.default.svc.cluster.local';

let ca: RootCa;
let dp: DataPlane;
let proxyPort: number;
let tlsProxyPort: number;
let httpProxyPort: number;
let secrets: Secret[];
const servers: Server[] = [];
const sockets = new Set<Socket>();
/** What each mesh upstream saw of the proxy's handshakes. */
const seen: { upstream: string; alpnOffered: string[]; servername: string | false | null; peer: string | undefined }[] = [];

const ctx = () => collectingContext();
const b64 = (s: string) => Buffer.from(s).toString('base64');
const runtimeOf = (d: DataPlane) => (d as unknown as { runtime: Runtime }).runtime;

/** A mesh workload: mTLS with its certificate (productpage's identity), echoing with its tag. */
async function meshUpstream(tag: string): Promise<number> {
  const cert = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'bookinfo-productpage' });
  let offered: string[] = [];
  const server = createTlsServer({
    cert: cert.certChainPem,
    key: cert.keyPem,
    ca: ca.certPem,
    requestCert: true,
    rejectUnauthorized: true,
    ALPNCallback: ({ protocols }) => {
      offered = protocols;
      return protocols.includes('istio') ? 'istio' : undefined;
    },
  }, (s: TLSSocket) => {
    sockets.add(s);
    seen.push({ upstream: tag, alpnOffered: offered, servername: s.servername, peer: s.getPeerCertificate().subjectaltname });
    s.on('data', (b) => s.write(`${tag}:${b}`));
  });
  return listenOn(server);
}

async function listenOn(server: Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

const tcpChain = (cluster: string, extra: Partial<FilterChain> = {}): FilterChain => ({
  name: `to-${cluster}`,
  match: {},
  filters: [tcpProxyFilter({ statPrefix: cluster, clusters: [{ name: cluster, weight: 1 }], idleTimeoutMs: 60_000 })],
  ...extra,
});

const listener = (name: string, port: number, chain: FilterChain): Listener => ({ name, address: '127.0.0.1', port, direction: 'OUTBOUND', filterChains: [chain] });

/** Sends `text` through a plaintext connection to the proxy; resolves with what comes back, or '' when the proxy closes. */
function through(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const c = connect(port, '127.0.0.1', () => c.write(text));
    let got = '';
    c.on('data', (b) => {
      got += String(b);
      if (got.length >= text.length) c.destroy();
    });
    c.on('close', () => resolve(got));
    c.on('error', () => {});
  });
}

const productpageEds = (port: number) =>
  decodeClusterLoadAssignment(plain<ClusterLoadAssignmentMessage>('envoy.config.endpoint.v3.ClusterLoadAssignment', {
    cluster_name: PRODUCTPAGE,
    endpoints: [{ lb_endpoints: [{
      endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } },
      health_status: 'HEALTHY',
      metadata: { filter_metadata: { istio: { workload: 'productpage-v1;default;productpage;v1;Kubernetes' }, 'envoy.transport_socket_match': { tlsMode: 'istio' } } },
    }] }],
    policy: { overprovisioning_factor: 140 },
  }), { kind: 'ClusterLoadAssignment', name: PRODUCTPAGE }, '', ctx());

/** istiod's outbound cluster from a sidecar's config dump, its SAN matchers naming productpage's identity. */
const productpageCluster = () => decodeCluster(plain<ClusterMessage>('envoy.config.cluster.v3.Cluster', findTyped(readDump('describe/testdata/describe/http_config.json'), 'envoy.config.cluster.v3.Cluster')[0]), ctx());

beforeAll(async () => {
  ca = await createRootCa({ trustDomain: 'cluster.local' });
  const workload = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'sleep' });
  // pilot-agent's SDS secrets, as it sends them
  const sds = (json: object) => decodeSecret(plain<SecretMessage>('envoy.extensions.transport_sockets.tls.v3.Secret', json), ctx());
  secrets = [
    sds({ name: 'default', tls_certificate: { certificate_chain: { inline_bytes: b64(workload.certChainPem) }, private_key: { inline_bytes: b64(workload.keyPem) } } }),
    sds({ name: 'ROOTCA', validation_context: { trusted_ca: { inline_bytes: b64(ca.certPem) } } }),
  ];
  [proxyPort, tlsProxyPort, httpProxyPort] = await freePorts(3);
  dp = startDataPlane();
});

afterAll(async () => {
  await dp.close();
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

function meshPieces(edsPort: number): DecodedPieces {
  return { listeners: [listener('outbound', proxyPort, tcpChain(PRODUCTPAGE))], clusters: [productpageCluster()], endpoints: [productpageEds(edsPort)], secrets };
}

describe('a Snapshot of decoded xDS resources', () => {
  it('EDS + auto mTLS: the endpoint is reached over mesh mTLS with the SDS certificate, istiod\'s SNI and ALPN istio alone', async () => {
    const a = await meshUpstream('A');
    await dp.apply(snapshotOf(meshPieces(a)));
    expect(await through(proxyPort, 'hello')).toBe('A:hello');
    expect(seen.at(-1)).toEqual({ upstream: 'A', alpnOffered: ['istio'], servername: SNI, peer: 'URI:spiffe://cluster.local/ns/default/sa/sleep' });
  });

  it('an EDS-only update moves traffic to the new endpoint, the cluster carried over', async () => {
    const b = await meshUpstream('B');
    const before = runtimeOf(dp).clusters.get(PRODUCTPAGE);
    await dp.apply(snapshotOf(meshPieces(b), runtimeOf(dp).snapshot));
    expect(runtimeOf(dp).clusters.get(PRODUCTPAGE)).toBe(before);
    expect(await through(proxyPort, 'again')).toBe('B:again');
  });

  it('a SAN matcher the endpoint\'s certificate does not satisfy: no bytes get through', async () => {
    const impostorCert = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'impostor' });
    const impostor = createTlsServer({ cert: impostorCert.certChainPem, key: impostorCert.keyPem }, (s) => s.on('data', (b) => s.write(`X:${b}`)));
    const port = await listenOn(impostor);
    await dp.apply(snapshotOf(meshPieces(port)));
    expect(await through(proxyPort, 'secret')).toBe('');
  });

  it('LOGICAL_DNS: a name resolved as dns_lookup_family says (localhost is IPv4 only here)', async () => {
    const echo = createServer((s) => {
      sockets.add(s);
      s.on('data', (b) => s.write(`E:${b}`));
    });
    const port = await listenOn(echo);
    const logical = (family: string) => decodeCluster(plain<ClusterMessage>('envoy.config.cluster.v3.Cluster', {
      name: 'outbound|80||echo.local',
      type: 'LOGICAL_DNS',
      dns_lookup_family: family,
      connect_timeout: '1s',
      load_assignment: { cluster_name: 'outbound|80||echo.local', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'localhost', port_value: port } } } }] }] },
    }), ctx());
    const pieces = (family: string): DecodedPieces => ({ listeners: [listener('outbound', proxyPort, tcpChain('outbound|80||echo.local'))], clusters: [logical(family)] });
    await dp.apply(snapshotOf(pieces('V4_ONLY')));
    expect(await through(proxyPort, 'dns')).toBe('E:dns');
    await dp.apply(snapshotOf(pieces('V6_ONLY')));
    expect(await through(proxyPort, 'dns')).toBe('');
  });

  it('a listener\'s decoded DownstreamTlsContext: its cipher suites and maximum version decide the handshake; istio-peer-exchange is never selected', async () => {
    const echo = createServer((s) => {
      sockets.add(s);
      s.on('data', (b) => s.write(`T:${b}`));
    });
    const port = await listenOn(echo);
    const transportSocket = decodeDownstreamTransportSocket(plain<TransportSocketMessage>('envoy.config.core.v3.TransportSocket', {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
        common_tls_context: {
          tls_params: { tls_maximum_protocol_version: 'TLSv1_2', cipher_suites: ['ECDHE-RSA-AES256-GCM-SHA384'] },
          alpn_protocols: ['istio-peer-exchange', 'h2', 'http/1.1'],
          tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: { ads: {} } }],
        },
      },
    }), { kind: 'Listener', name: 'tls' }, 'filter_chains[0].transport_socket', ctx())!;
    const echoCluster = decodeCluster(plain<ClusterMessage>('envoy.config.cluster.v3.Cluster', { name: 'echo', type: 'STATIC', load_assignment: { cluster_name: 'echo', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] } }), ctx());
    await dp.apply(snapshotOf({ listeners: [listener('tls', tlsProxyPort, tcpChain('echo', { transportSocket }))], clusters: [echoCluster], secrets }));

    const dial = (options: ConnectionOptions) => new Promise<TLSSocket | Error>((resolve) => {
      const s = tlsConnect({ port: tlsProxyPort, host: '127.0.0.1', ca: ca.certPem, checkServerIdentity: () => undefined, ...options });
      s.once('secureConnect', () => resolve(s));
      s.once('error', (e) => resolve(e));
    });
    expect(await dial({ ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' })).toBeInstanceOf(Error);
    const ok = (await dial({ ciphers: 'ECDHE-RSA-AES256-GCM-SHA384', ALPNProtocols: ['istio-peer-exchange', 'istio'] })) as TLSSocket;
    expect(ok.getProtocol()).toBe('TLSv1.2');
    expect(ok.alpnProtocol).toBe('istio');
    const reply = await new Promise<string>((r) => {
      ok.once('data', (b) => r(String(b)));
      ok.write('tls');
    });
    expect(reply).toBe('T:tls');
    ok.destroy();
  });
});

/** An HTTP listener whose one route sends everything to `cluster` (the connection manager and routes as istiod's outbound HTTP chains have them). */
function httpPieces(cluster: string): { listeners: Listener[]; routeConfigs: RouteConfiguration[] } {
  const hcm = httpConnectionManager('r', 'OUTBOUND', 'outbound_http', { acceptHttp10: false } as Parameters<typeof httpConnectionManager>[3]);
  const chain: FilterChain = { name: 'http', match: {}, filters: [httpConnectionManagerFilter(hcm)] };
  const route = { name: 'default', match: { path: { prefix: '/' }, headers: [], queryParams: [] }, action: { kind: 'route' as const, clusters: [{ name: cluster, weight: 1 }] } };
  return { listeners: [listener('http', httpProxyPort, chain)], routeConfigs: [{ name: 'r', virtualHosts: [{ name: 'all', domains: ['*'], routes: [route] }] }] };
}

function get(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: httpProxyPort, path, agent: false, headers: { host: 'svc' } }, (res) => {
      let body = '';
      res.on('data', (b) => (body += String(b)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('HTTP through decoded clusters (the connection pools)', () => {
  it('EDS + auto mTLS: the request goes over mesh mTLS offering Istio\'s HTTP ALPN', async () => {
    const cert = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'bookinfo-productpage' });
    let offered: string[] = [];
    const alpn = ({ protocols }: { protocols: string[] }) => {
      offered = protocols;
      return protocols.includes('istio-http/1.1') ? 'istio-http/1.1' : undefined;
    };
    const server = createHttpsServer({ cert: cert.certChainPem, key: cert.keyPem, ca: ca.certPem, requestCert: true, rejectUnauthorized: true, ALPNCallback: alpn }, (req, res) => {
      res.end(`mtls ${req.url} from ${(req.socket as TLSSocket).getPeerCertificate().subjectaltname}`);
    });
    const port = await listenOn(server);
    await dp.apply(snapshotOf({ ...httpPieces(PRODUCTPAGE), clusters: [productpageCluster()], endpoints: [productpageEds(port)], secrets }));
    expect(await get('/reviews')).toEqual({ status: 200, body: 'mtls /reviews from URI:spiffe://cluster.local/ns/default/sa/sleep' });
    expect(offered).toEqual(['istio-http/1.1', 'istio']);
  });

  it('LOGICAL_DNS: V4_ONLY reaches the IPv4-only name; V6_ONLY cannot connect (503 UF)', async () => {
    const server = createHttpServer((_req, res) => res.end('dns'));
    const port = await listenOn(server);
    const logical = (family: string) => decodeCluster(plain<ClusterMessage>('envoy.config.cluster.v3.Cluster', {
      name: 'dns',
      type: 'LOGICAL_DNS',
      dns_lookup_family: family,
      connect_timeout: '1s',
      load_assignment: { cluster_name: 'dns', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'localhost', port_value: port } } } }] }] },
    }), ctx());
    await dp.apply(snapshotOf({ ...httpPieces('dns'), clusters: [logical('V4_ONLY')] }));
    expect(await get('/')).toEqual({ status: 200, body: 'dns' });
    await dp.apply(snapshotOf({ ...httpPieces('dns'), clusters: [logical('V6_ONLY')] }));
    const failed = await get('/');
    expect(failed.status).toBe(503);
    expect(failed.body).toMatch(/^upstream connect error or disconnect\/reset before headers/);
  });
});
