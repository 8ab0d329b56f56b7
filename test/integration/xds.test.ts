// Outrigger as pilot-agent runs Envoy: Istio's bootstrap golden (its pipes, admin and static
// listener ports moved into this test), Envoy's command line, an xDS server on the bootstrap's
// XDS socket (delta ADS) and pilot-agent's SDS socket. Listeners, routes, clusters, endpoints and
// the mTLS certificate are learned only over xDS; real HTTP traffic checks each push.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromProtoJson } from '../../src/config/envoy/proto/json.js';
import { messageType, typeNameOfUrl } from '../../src/config/envoy/proto/registry.js';
import { createRootCa, issueWorkloadCert } from '../../src/security/ca.js';
import type { IssuedWorkloadCert } from '../../src/security/ca.js';
import { TYPE_URLS } from '../../src/xds/resource-types.js';
import { freePorts } from '../helpers/ports.js';
import { CLI, ROOT, assertBuilt, sleep } from '../helpers/proxy.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';
import { startOtlpHttpReceiver } from '../helpers/otlp.js';
import { XdsTestServer } from '../helpers/xds-server.js';

const GOLDEN = resolve(ROOT, '../shared/conformance/istio/pkg/bootstrap/testdata/default_golden.json');
const PILOT_AGENT_FLAGS = ['--drain-time-s', '2', '--drain-strategy', 'immediate', '--local-address-ip-version', 'v4', '--file-flush-interval-msec', '1000', '--disable-hot-restart', '--allow-unknown-static-fields', '-l', 'warning', '--component-log-level', 'misc:error', '--concurrency', '1'];
const CLUSTER = 'outbound|80||echo.default.svc.cluster.local';
const GRPC_CLUSTER = 'outbound|9090||grpc.default.svc.cluster.local';
const GRPC_HOST = 'grpc.default.svc.cluster.local';
const TCP_CLUSTER = 'outbound|7000||tcp.default.svc.cluster.local';
/** A gRPC service without .proto files: messages are raw bytes. */
const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
const GRPC_SERVICE: grpc.ServiceDefinition = {
  Echo: { path: '/demo.Demo/Echo', requestStream: false, responseStream: false, requestSerialize: raw.serialize, requestDeserialize: raw.deserialize, responseSerialize: raw.serialize, responseDeserialize: raw.deserialize },
};
const ROUTE = '80';

/** A resource written the way istiod's JSON reads (proto3 JSON), in the plain form the test server serves. */
/** Istio's own Any types (not in the Envoy API) keep their URL with an empty payload, as on the wire. */
function plain(typeUrl: string, json: object): object {
  return fromProtoJson<object>(messageType(typeNameOfUrl(typeUrl)), json, { location: { kind: typeNameOfUrl(typeUrl) }, onUnknownAnyType: () => {} });
}

const DUMPS = resolve(ROOT, '../shared/conformance/istio/config-dumps/istioctl/pkg');
const PRODUCTPAGE = 'outbound|9080||productpage.default.svc.cluster.local';

/** A resource of a real Istio config dump (istioctl's test data), without its @type. */
async function fromDump(file: string, pick: (configs: Record<string, any>[]) => Record<string, any>): Promise<Record<string, any>> {
  const { '@type': _, ...json } = pick((JSON.parse(await readFile(join(DUMPS, file), 'utf8')) as { configs: Record<string, any>[] }).configs);
  return json;
}

let dir: string;
let xds: XdsTestServer;
let sds: XdsTestServer;
let proxy: ChildProcess;
let stderr = '';
let upstreamA: Upstream;
let upstreamB: Upstream;
let ports: { admin: number; http: number; mtls: number; tcp: number; prom: number; health: number };
let grpcServer: grpc.Server;
let grpcPort: number;
let tcpEcho: TcpServer;
let productpage: HttpsServer;
let certs: IssuedWorkloadCert;
let ca: Awaited<ReturnType<typeof createRootCa>>;

/** A workload certificate of the mesh's CA for service account `sa` in default. */
function issueWorkloadCertFromRoot(sa: string): Promise<IssuedWorkloadCert> {
  return issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: sa });
}

function cluster(): object {
  return plain(TYPE_URLS.cluster, {
    name: CLUSTER,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' }, service_name: CLUSTER },
    connect_timeout: '1s',
    lb_policy: 'LEAST_REQUEST',
  });
}

/** A STATIC cluster to one local port; HTTP/2 upstream when `h2`. */
function staticCluster(name: string, port: number, h2: boolean): object {
  return plain(TYPE_URLS.cluster, {
    name,
    type: 'STATIC',
    connect_timeout: '1s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
    ...(h2
      ? { typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } } }
      : {}),
  });
}

function endpoints(upstream: Upstream): object {
  return plain(TYPE_URLS.endpoint, {
    cluster_name: CLUSTER,
    endpoints: [{ locality: {}, lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstream.port } } }, load_balancing_weight: 1 }] }],
  });
}

function routes(extra: object[] = []): object {
  return plain(TYPE_URLS.route, {
    name: ROUTE,
    virtual_hosts: [
      { name: 'grpc', domains: [GRPC_HOST, `${GRPC_HOST}:*`], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: GRPC_CLUSTER, timeout: '0s' } }] },
      { name: 'echo', domains: ['*'], routes: [...extra, { name: 'default', match: { prefix: '/' }, route: { cluster: CLUSTER, timeout: '0s' } }] },
    ],
    validate_clusters: false,
  });
}

function hcm(statPrefix: string, routeName = ROUTE): object {
  return {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: statPrefix,
    rds: { config_source: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' }, route_config_name: routeName },
    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
  };
}

const SDS_CONFIG = { api_config_source: { api_type: 'GRPC', transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'sds-grpc' } }] }, resource_api_version: 'V3' };

function listeners(): object[] {
  return [
    plain(TYPE_URLS.listener, {
      name: `127.0.0.1_${ports.tcp}`,
      address: { socket_address: { address: '127.0.0.1', port_value: ports.tcp } },
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: TCP_CLUSTER, cluster: TCP_CLUSTER } }] }],
    }),
    plain(TYPE_URLS.listener, {
      name: `127.0.0.1_${ports.http}`,
      address: { socket_address: { address: '127.0.0.1', port_value: ports.http } },
      traffic_direction: 'OUTBOUND',
      filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm('outbound_http') }] }],
    }),
    plain(TYPE_URLS.listener, {
      name: `127.0.0.1_${ports.mtls}`,
      address: { socket_address: { address: '127.0.0.1', port_value: ports.mtls } },
      traffic_direction: 'INBOUND',
      filter_chains: [
        {
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
              common_tls_context: {
                tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: SDS_CONFIG }],
                combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: { name: 'ROOTCA', sds_config: SDS_CONFIG } },
                alpn_protocols: ['http/1.1'],
              },
              require_client_certificate: true,
            },
          },
          filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm('inbound_mtls') }],
        },
      ],
    }),
  ];
}

async function get(path = '/', port = ports.http): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/** GET through the mTLS listener with the workload certificate (or without a client certificate). */
function getMtls(withCert: boolean): Promise<number> {
  return new Promise((resolveStatus, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port: ports.mtls, path: '/', ca: certs.rootCertPem, ...(withCert ? { cert: certs.certChainPem, key: certs.keyPem } : {}), servername: 'localhost', checkServerIdentity: () => undefined, timeout: 5_000 },
      (res) => {
        res.resume();
        res.on('end', () => resolveStatus(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Sends `text` through the TCP listener (to the echo server) and returns what came back before the close. */
function tcpRoundTrip(text: string): Promise<string> {
  return new Promise<string>((res, rej) => {
    const sock = connect(ports.tcp, '127.0.0.1', () => sock.end(text));
    let got = '';
    sock.on('data', (d) => (got += String(d)));
    sock.on('close', () => res(got));
    sock.on('error', rej);
  });
}

async function adminStats(filter: string): Promise<Record<string, number>> {
  const res = await fetch(`http://127.0.0.1:${ports.admin}/stats?usedonly&filter=${encodeURIComponent(filter)}`, { signal: AbortSignal.timeout(2_000) });
  const out: Record<string, number> = {};
  for (const line of (await res.text()).split('\n')) {
    const m = /^(\S+): (\d+)$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (${String(last ?? '')})\n${stderr}`);
    await sleep(50);
  }
}

describe.each(['DELTA_GRPC', 'GRPC'] as const)('ADS %s', (apiType) => {
  beforeAll(async () => {
    assertBuilt();
    dir = await mkdtemp(join(tmpdir(), 'outrigger-xds-'));
    const [admin, http, mtls, tcp, prom, health] = await freePorts(6);
    ports = { admin: admin!, http: http!, mtls: mtls!, tcp: tcp!, prom: prom!, health: health! };
    grpcServer = new grpc.Server();
    grpcServer.addService(GRPC_SERVICE, {
      Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(`echo:${call.request.toString()}`)),
    });
    grpcPort = await new Promise<number>((res, rej) => grpcServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    tcpEcho = createTcpServer((sock) => sock.pipe(sock));
    await new Promise<void>((res) => tcpEcho.listen(0, '127.0.0.1', res));
    upstreamA = await startUpstream(undefined, 'a');
    upstreamB = await startUpstream(undefined, 'b');
    ca = await createRootCa({ trustDomain: 'cluster.local' });
    certs = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'echo' });

    xds = await XdsTestServer.start({ unix: join(dir, 'XDS') });
    sds = await XdsTestServer.start({ unix: join(dir, 'SDS') });
    sds.set(TYPE_URLS.secret, [
      { name: 'default', message: plain(TYPE_URLS.secret, { name: 'default', tls_certificate: { certificate_chain: { inline_bytes: Buffer.from(certs.certChainPem).toString('base64') }, private_key: { inline_bytes: Buffer.from(certs.keyPem).toString('base64') } } }) },
      { name: 'ROOTCA', message: plain(TYPE_URLS.secret, { name: 'ROOTCA', validation_context: { trusted_ca: { inline_bytes: Buffer.from(certs.rootCertPem).toString('base64') } } }) },
    ]);
    xds.set(TYPE_URLS.cluster, [
      { name: CLUSTER, message: cluster() },
      { name: GRPC_CLUSTER, message: staticCluster(GRPC_CLUSTER, grpcPort, true) },
      { name: TCP_CLUSTER, message: staticCluster(TCP_CLUSTER, (tcpEcho.address() as { port: number }).port, false) },
    ]);
    xds.set(TYPE_URLS.endpoint, [{ name: CLUSTER, message: endpoints(upstreamA) }]);
    xds.set(TYPE_URLS.route, [{ name: ROUTE, message: routes() }]);
    xds.set(TYPE_URLS.listener, listeners().map((message) => ({ name: (message as { name: string }).name, message })));

    // Istio's golden bootstrap, with this test's sockets and ports
    const bootstrap = JSON.parse(await readFile(GOLDEN, 'utf8'));
    bootstrap.admin.address.socket_address = { address: '127.0.0.1', port_value: ports.admin };
    bootstrap.dynamic_resources.ads_config.api_type = apiType;
    for (const c of bootstrap.static_resources.clusters) {
      if (c.name === 'xds-grpc') c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address = { pipe: { path: './XDS' } };
      if (c.name === 'sds-grpc') c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address = { pipe: { path: './SDS' } };
    }
    for (const l of bootstrap.static_resources.listeners) {
      const port = l.address.socket_address.port_value === 15090 ? ports.prom : ports.health;
      l.address.socket_address = { address: '127.0.0.1', port_value: port };
    }
    // pilot-agent with EXIT_ON_ZERO_ACTIVE_CONNECTIONS keeps downstream_cx_active, which its drain polls
    bootstrap.stats_config.stats_matcher.inclusion_list.patterns.push({ suffix: 'downstream_cx_active' });
    await writeFile(join(dir, 'envoy-rev.json'), JSON.stringify(bootstrap));
    proxy = spawn(process.execPath, [CLI, '-c', 'envoy-rev.json', ...PILOT_AGENT_FLAGS], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
    proxy.stderr!.on('data', (d) => (stderr += String(d)));

    // pilot-agent's readiness: both update_success > 0, then server.state 0 and workers_started 1
    await eventually('LDS and CDS applied', async () => {
      const s = await adminStats('^(cluster_manager\\.cds|listener_manager\\.lds)\\.(update_success|update_rejected)$');
      return s['cluster_manager.cds.update_success']! > 0 && s['listener_manager.lds.update_success']! > 0 ? s : undefined;
    }, 20_000);
    // then, as pilot-agent polls: LIVE and the workers started
    await eventually('server LIVE, workers started', async () => {
      const state = await adminStats('^(server\\.state|listener_manager\\.workers_started)');
      return state['server.state'] === 0 && state['listener_manager.workers_started'] === 1 ? state : undefined;
    });
  }, 60_000);

  afterAll(async () => {
    proxy?.kill('SIGKILL');
    grpcServer?.forceShutdown();
    productpage?.close();
    tcpEcho?.close();
    await Promise.all([xds?.close(), sds?.close(), upstreamA?.close(), upstreamB?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  describe('fed by an xDS server, as under istiod', () => {
    it('routes HTTP through a listener, route, cluster and endpoint learned only over xDS', async () => {
      const r = await get('/hello');
      expect(r.status).toBe(200);
      expect(r.headers.get('x-upstream')).toBe('a');
    });

    it("serves istiod's own resources from a real config dump: the bookinfo gateway's routes to productpage over auto mTLS, with the workload certificate from SDS", async () => {
      // productpage: an mTLS server with its mesh identity that requires a client certificate of the mesh
      const server = await issueWorkloadCertFromRoot('bookinfo-productpage');
      // its sidecar's inbound TLS takes Istio's ALPN (istio-http/1.1), which the proxy offers over mesh mTLS
      const alpn = { ALPNProtocols: ['istio-http/1.1', 'istio', 'http/1.1'] };
      productpage = createHttpsServer({ cert: server.certChainPem, key: server.keyPem, ca: certs.rootCertPem, requestCert: true, rejectUnauthorized: true, ...alpn }, (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        res.writeHead(200, { 'x-client-san': peer.subjectaltname ?? '' });
        res.end('productpage');
      });
      await new Promise<void>((r) => productpage.listen(0, '127.0.0.1', r));
      const port = (productpage.address() as { port: number }).port;
      // the dump's cluster (a subset of productpage) under the name the dump's gateway route uses
      const cluster = await fromDump('describe/testdata/describe/http_config.json', (c) => c[1]!.dynamic_active_clusters[0].cluster);
      cluster.name = PRODUCTPAGE;
      cluster.eds_cluster_config.service_name = PRODUCTPAGE;
      const route = await fromDump('describe/testdata/describe/http_config.json', (c) => c[0]!.dynamic_route_configs[0].route_config);
      const cla = await fromDump('writer/envoy/configdump/testdata/endpoint/configdump.json', (c) =>
        c[0]!.dynamic_endpoint_configs.map((e: any) => e.endpoint_config).find((e: any) => e.cluster_name === PRODUCTPAGE),
      );
      cla.endpoints[0].lb_endpoints[0].endpoint.address.socket_address = { address: '127.0.0.1', port_value: port }; // the pod, here
      const [gatewayPort] = await freePorts(1);
      const gatewayListener = plain(TYPE_URLS.listener, {
        name: `127.0.0.1_${gatewayPort}`,
        address: { socket_address: { address: '127.0.0.1', port_value: gatewayPort } },
        filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm('outbound_0.0.0.0_8080', 'http.8080') }] }],
      });
      for (const push of [
        ...xds.put(TYPE_URLS.cluster, [{ name: PRODUCTPAGE, message: plain(TYPE_URLS.cluster, cluster) }]),
        ...xds.put(TYPE_URLS.endpoint, [{ name: PRODUCTPAGE, message: plain(TYPE_URLS.endpoint, cla) }]),
        ...xds.put(TYPE_URLS.route, [{ name: 'http.8080', message: plain(TYPE_URLS.route, route) }]),
        ...xds.put(TYPE_URLS.listener, [{ name: `127.0.0.1_${gatewayPort}`, message: gatewayListener }]),
      ]) {
        expect((await xds.reply(push)).errorDetail).toBeUndefined();
      }
      const r = await eventually('productpage through the gateway', async () => {
        const res = await fetch(`http://127.0.0.1:${gatewayPort}/productpage`, { signal: AbortSignal.timeout(5_000) });
        return res.status === 200 ? res : undefined;
      });
      expect(await r.text()).toBe('productpage');
      // the proxy presented the workload certificate it learned over SDS, and checked productpage's SAN from the dump's matcher
      expect(r.headers.get('x-client-san')).toBe('URI:spiffe://cluster.local/ns/default/sa/echo');
      expect((await fetch(`http://127.0.0.1:${gatewayPort}/elsewhere`)).status).toBe(404);
    });

    it("traces as istiod configures it: the connection manager's tracing (OpenTelemetry over HTTP to a cluster learned over xDS), the route's decorator propagated", async () => {
      const collector = await startOtlpHttpReceiver();
      try {
        const [tracedPort] = await freePorts(1);
        const OTEL = 'outbound|4318||otel-collector.observability.svc.cluster.local';
        const tracedHcm = {
          ...hcm('outbound_traced', 'traced'),
          tracing: {
            client_sampling: { value: 100 }, random_sampling: { value: 100 }, overall_sampling: { value: 100 },
            custom_tags: [{ tag: 'istio.canonical_service', literal: { value: 'echo' } }],
            provider: {
              name: 'envoy.tracers.opentelemetry',
              typed_config: {
                '@type': 'type.googleapis.com/envoy.config.trace.v3.OpenTelemetryConfig',
                http_service: { http_uri: { uri: 'otel-collector.observability.svc.cluster.local/v1/traces', cluster: OTEL, timeout: '5s' } },
                service_name: 'echo.default',
              },
            },
          },
        };
        const route = plain(TYPE_URLS.route, {
          name: 'traced',
          virtual_hosts: [{ name: 'echo', domains: ['*'], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: CLUSTER, timeout: '0s' }, decorator: { operation: 'echo.default.svc.cluster.local:80/*' } }] }],
        });
        const listener = plain(TYPE_URLS.listener, {
          name: `127.0.0.1_${tracedPort}`,
          address: { socket_address: { address: '127.0.0.1', port_value: tracedPort } },
          traffic_direction: 'OUTBOUND',
          filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: tracedHcm }] }],
        });
        for (const push of [
          ...xds.put(TYPE_URLS.cluster, [{ name: OTEL, message: staticCluster(OTEL, collector.port, false) }]),
          ...xds.put(TYPE_URLS.route, [{ name: 'traced', message: route }]),
          ...xds.put(TYPE_URLS.listener, [{ name: `127.0.0.1_${tracedPort}`, message: listener }]),
        ]) {
          expect((await xds.reply(push)).errorDetail).toBeUndefined();
        }
        await eventually('the traced listener', async () => ((await get('/traced', tracedPort).catch(() => undefined))?.status === 200 ? true : undefined));
        const before = [upstreamA.requests.length, upstreamB.requests.length];
        for (let i = 0; i < 5; i++) expect((await get('/traced', tracedPort)).status).toBe(200);
        const spans = await eventually('five spans', async () => (collector.spans.length >= 5 ? collector.spans : undefined));
        expect(spans[0]).toMatchObject({ service: 'echo.default', kind: 'CLIENT', name: `egress 127.0.0.1:${tracedPort}`, attributes: { 'istio.canonical_service': 'echo', 'http.status_code': '200', component: 'proxy' } });
        const seen = [...upstreamA.requests.slice(before[0]), ...upstreamB.requests.slice(before[1])].filter((r) => r.url === '/traced');
        expect(seen).toHaveLength(5);
        expect(seen.every((r) => /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/.test(String(r.headers.traceparent)))).toBe(true);
        expect(seen.every((r) => r.headers['x-envoy-decorator-operation'] === 'echo.default.svc.cluster.local:80/*')).toBe(true);
      } finally {
        await collector.close();
      }
    });

    it('carries gRPC (h2c downstream, HTTP/2 upstream) and TCP through listeners and clusters learned only over xDS', async () => {
      const Client = grpc.makeGenericClientConstructor(GRPC_SERVICE, 'Demo');
      const client = new Client(`127.0.0.1:${ports.http}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': GRPC_HOST }) as unknown as {
        Echo(req: Buffer, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res?: Buffer) => void): void;
        close(): void;
      };
      try {
        const reply = await new Promise<Buffer>((res, rej) => client.Echo(Buffer.from('hi'), { deadline: Date.now() + 5_000 }, (err, r) => (err ? rej(err) : res(r!))));
        expect(reply.toString()).toBe('echo:hi');
      } finally {
        client.close();
      }
      expect(await tcpRoundTrip('over tcp')).toBe('over tcp');
    });

    it('terminates mTLS with the certificate and roots learned only over SDS, and refuses a client without one', async () => {
      expect(await getMtls(true)).toBe(200);
      await expect(getMtls(false)).rejects.toThrow();
    });

    it('an endpoint change moves traffic (ACKed)', async () => {
      const [push] = xds.set(TYPE_URLS.endpoint, [{ name: CLUSTER, message: endpoints(upstreamB) }]);
      const ack = await xds.reply(push!);
      expect(ack.errorDetail).toBeUndefined();
      await eventually('traffic on b', async () => ((await get()).headers.get('x-upstream') === 'b' ? true : undefined));
    });

    it('a route change is served (ACKed)', async () => {
      const [push] = xds.set(TYPE_URLS.route, [{ name: ROUTE, message: routes([{ name: 'teapot', match: { path: '/teapot' }, direct_response: { status: 418, body: { inline_string: 'short and stout' } } }]) }]);
      expect((await xds.reply(push!)).errorDetail).toBeUndefined();
      await eventually('418 on /teapot', async () => ((await get('/teapot')).status === 418 ? true : undefined));
    });

    it('/config_dump shows the resources as the control plane sent them, with their versions; keys redacted; endpoints with include_eds', async () => {
      const res = await fetch(`http://127.0.0.1:${ports.admin}/config_dump?include_eds`, { signal: AbortSignal.timeout(5_000) });
      const dump = (await res.json()) as { configs: Record<string, any>[] };
      const section = (t: string) => dump.configs.find((c) => c['@type'] === `type.googleapis.com/envoy.admin.v3.${t}`)!;
      const routeVersion = xds.pushes.filter((p) => p.typeUrl === TYPE_URLS.route).at(-1)!;
      const route = section('RoutesConfigDump').dynamic_route_configs.find((r: any) => r.route_config.name === ROUTE);
      expect(route.route_config['@type']).toBe(TYPE_URLS.route);
      // state of the world: the response's version_info; delta: the resource's own (here the same counter)
      expect(route.version_info).toBe(routeVersion.version);
      expect(route.route_config.virtual_hosts[1].routes[0].direct_response.status).toBe(418);
      const clusters = section('ClustersConfigDump');
      expect(clusters.dynamic_active_clusters.map((c: any) => c.cluster.name)).toEqual(expect.arrayContaining([GRPC_CLUSTER, CLUSTER, TCP_CLUSTER]));
      expect(clusters.static_clusters.map((c: any) => c.cluster.name)).toContain('xds-grpc');
      const listeners = section('ListenersConfigDump');
      expect(listeners.dynamic_listeners.map((l: any) => l.name)).toEqual(expect.arrayContaining([`127.0.0.1_${ports.http}`, `127.0.0.1_${ports.mtls}`, `127.0.0.1_${ports.tcp}`]));
      expect(listeners.dynamic_listeners.every((l: any) => l.active_state?.listener?.['@type'] === TYPE_URLS.listener)).toBe(true);
      const secrets = section('SecretsConfigDump').dynamic_active_secrets;
      const workload = secrets.find((x: any) => x.name === 'default');
      expect(workload.secret.tls_certificate.private_key).toEqual({ inline_string: '[redacted]' });
      expect(JSON.stringify(dump)).not.toContain(Buffer.from(certs.keyPem).toString('base64').slice(0, 40));
      const eds = section('EndpointsConfigDump').dynamic_endpoint_configs.find((e: any) => e.endpoint_config.cluster_name === CLUSTER);
      expect(eds.endpoint_config.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value).toBe(upstreamB.port);
    });

    it('a bad resource is NACKed with the error; the last good config stays and traffic is unaffected', async () => {
      const bad = routes([{ name: 'bad', match: { safe_regex: { regex: '(' } }, route: { cluster: CLUSTER } }]);
      const [push] = xds.set(TYPE_URLS.route, [{ name: ROUTE, message: bad }]);
      const nack = await xds.reply(push!);
      expect(nack.errorDetail?.message).toMatch(/^RouteConfiguration 80, field virtual_hosts\[1\].routes\[0\].match.safe_regex.regex: invalid regex "\("/);
      expect((await get('/teapot')).status).toBe(418);
      expect((await get()).status).toBe(200);
      const s = await adminStats('^listener_manager\\.lds\\.update_rejected$');
      expect(s['listener_manager.lds.update_rejected'] ?? 0).toBe(0); // an RDS rejection is not an LDS one
    });

    it('a restarted control plane: the proxy reconnects and resubscribes, no request fails meanwhile', async () => {
      const before = xds.streamCount;
      expect(before).toBeGreaterThan(0);
      let failures = 0;
      let sent = 0;
      let stop = false;
      const traffic = (async () => {
        // requests before, during and after the restart (at least 20, however fast the reconnect)
        while (!stop || sent < 20) {
          sent++;
          if ((await get().catch(() => ({ status: 0 }))).status !== 200) failures++;
        }
      })();
      await xds.restart();
      const since = xds.requests.length;
      await xds.waitForStream(apiType === 'GRPC' ? 'sotw' : 'delta', { timeoutMs: 10_000 });
      // the new stream says what the proxy holds: delta initial_resource_versions, state of the world the last version
      await xds.waitForRequest(
        (r) => r.typeUrl === TYPE_URLS.listener && (apiType === 'GRPC' ? r.versionInfo !== '' : Object.keys(r.initialResourceVersions).length > 0),
        { since, timeoutMs: 10_000 },
      );
      stop = true;
      await traffic;
      expect(sent).toBeGreaterThanOrEqual(20);
      expect(failures).toBe(0);
    });

    it('/clusters lists the hosts learned over EDS, with their stats (pilot-agent and istioctl read it)', async () => {
      const text = await (await fetch(`http://127.0.0.1:${ports.admin}/clusters`, { signal: AbortSignal.timeout(5_000) })).text();
      const host = `127.0.0.1:${upstreamB.port}`;
      expect(text).toContain(`${CLUSTER}::${host}::health_flags::healthy`);
      expect(text).toMatch(new RegExp(`${CLUSTER.replace(/[|.]/g, '\\$&')}::${host}::rq_success::[1-9]`));
      expect(text).not.toContain(`${CLUSTER}::127.0.0.1:${upstreamA.port}::`);
    });

    it('a removed listener stops accepting', async () => {
      const [push] = xds.remove(TYPE_URLS.listener, [`127.0.0.1_${ports.http}`]);
      expect((await xds.reply(push!)).errorDetail).toBeUndefined();
      await eventually('listener gone', async () => (await get().then(() => false, () => true)) || undefined);
      expect(await getMtls(true)).toBe(200);
    });

    it("pilot-agent's drain, replayed with curl: inbound listeners drain gracefully, outbound ones keep serving", async () => {
      const curl = (...args: string[]) =>
        new Promise<string>((res, rej) => {
          const c = spawn('curl', ['-s', '--max-time', '5', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          c.stdout.on('data', (d) => (out += String(d)));
          c.on('close', (code) => (code === 0 ? res(out) : rej(new Error(`curl exited ${code}`))));
        });
      const admin = `http://127.0.0.1:${ports.admin}`;
      expect(await curl('-X', 'POST', `${admin}/drain_listeners?inboundonly&graceful`)).toBe('OK\n');
      expect(await curl(`${admin}/stats?usedonly&filter=^(server\\.state|listener_manager\\.workers_started)`)).toBe('listener_manager.workers_started: 1\nserver.state: 1\n');
      // during the drain period the inbound listener still answers, telling the client to close
      const closing = await new Promise<string | undefined>((res, rej) => {
        const req = httpsRequest(
          { host: '127.0.0.1', port: ports.mtls, path: '/', ca: certs.rootCertPem, cert: certs.certChainPem, key: certs.keyPem, servername: 'localhost', checkServerIdentity: () => undefined, timeout: 5_000 },
          (r) => {
            r.resume();
            res(r.headers.connection);
          },
        );
        req.on('error', rej);
        req.end();
      });
      expect(closing).toBe('close');
      // EXIT_ON_ZERO_ACTIVE_CONNECTIONS polls this
      expect(await curl(`${admin}/stats?usedonly&filter=downstream_cx_active$`)).toMatch(/downstream_cx_active: \d+/);
      // the outbound TCP listener is untouched; the inbound one stops once the drain period (--drain-time-s 2) is over
      await eventually('inbound listener stopped', async () => (await getMtls(true).then(() => false, () => true)) || undefined, 6_000);
      expect(await tcpRoundTrip('still here')).toBe('still here');
    });
  });
});
