// Outrigger fed by a control plane over TCP with mutual TLS (a bootstrap without pilot-agent: the
// xds-grpc cluster has an address and an UpstreamTlsContext with files), as Envoy connects to istiod
// on 15012. The listener and its route come only over that channel.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromProtoJson } from '../../src/config/envoy/proto/json.js';
import { messageType, typeNameOfUrl } from '../../src/config/envoy/proto/registry.js';
import { createRootCa, issueWorkloadCert } from '../../src/security/ca.js';
import { TYPE_URLS } from '../../src/xds/resource-types.js';
import { freePorts } from '../helpers/ports.js';
import { CLI, assertBuilt, sleep } from '../helpers/proxy.js';
import { XdsTestServer } from '../helpers/xds-server.js';

const plain = (typeUrl: string, json: object): object => fromProtoJson<object>(messageType(typeNameOfUrl(typeUrl)), json, { location: {} });

let dir: string;
let xds: XdsTestServer;
let proxy: ChildProcess | undefined;
let stderr = '';
let port: number;

beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), 'outrigger-xds-tls-'));
  const ca = await createRootCa({ trustDomain: 'cluster.local' });
  const istiod = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'istio-system', serviceAccount: 'istiod', dnsNames: ['istiod.istio-system.svc'] });
  const workload = await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, trustDomain: 'cluster.local', namespace: 'default', serviceAccount: 'vm' });
  await writeFile(join(dir, 'root-cert.pem'), ca.certPem);
  await writeFile(join(dir, 'cert-chain.pem'), workload.certChainPem);
  await writeFile(join(dir, 'key.pem'), workload.keyPem);
  xds = await XdsTestServer.start({ host: '127.0.0.1', tls: { certChainPem: istiod.certChainPem, keyPem: istiod.keyPem, clientCaPem: ca.certPem } });
  const [admin, listen] = await freePorts(2);
  port = listen!;
  xds.set(TYPE_URLS.route, [{ name: 'r', message: plain(TYPE_URLS.route, { name: 'r', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'over mTLS xDS' } } }] }] }) }]);
  xds.set(TYPE_URLS.listener, [
    {
      name: 'l',
      message: plain(TYPE_URLS.listener, {
        name: 'l',
        address: { socket_address: { address: '127.0.0.1', port_value: port } },
        filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', stat_prefix: 'l', rds: { config_source: { ads: {} }, route_config_name: 'r' }, http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }] } }] }],
      }),
    },
  ]);
  xds.set(TYPE_URLS.cluster, []);
  const ADS = { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' };
  const tlsFile = (f: string) => ({ filename: join(dir, f) });
  const bootstrap = {
    node: { id: 'sidecar~10.0.0.9~vm-1.default~default.svc.cluster.local', cluster: 'vm.default', metadata: { NAMESPACE: 'default' } },
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: admin } } },
    dynamic_resources: { ads_config: { api_type: 'DELTA_GRPC', transport_api_version: 'V3', set_node_on_first_message_only: true, grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] }, lds_config: ADS, cds_config: ADS },
    static_resources: {
      clusters: [
        {
          name: 'xds-grpc',
          type: 'STATIC',
          connect_timeout: '1s',
          load_assignment: { cluster_name: 'xds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: xds.target.kind === 'tcp' ? xds.target.port : 0 } } } }] }] },
          typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } },
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
              sni: 'istiod.istio-system.svc',
              common_tls_context: { tls_certificates: [{ certificate_chain: tlsFile('cert-chain.pem'), private_key: tlsFile('key.pem') }], validation_context: { trusted_ca: tlsFile('root-cert.pem') } },
            },
          },
        },
      ],
    },
  };
  await writeFile(join(dir, 'bootstrap.json'), JSON.stringify(bootstrap));
  proxy = spawn(process.execPath, [CLI, '-c', join(dir, 'bootstrap.json'), '--concurrency', '1', '-l', 'warning'], { stdio: ['ignore', 'ignore', 'pipe'] });
  proxy.stderr!.on('data', (d) => (stderr += String(d)));
}, 30_000);

afterAll(async () => {
  proxy?.kill('SIGKILL');
  await xds?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('a control plane over TCP with mutual TLS', () => {
  it('the proxy connects with its certificate files, checks the server by SNI, and serves what it learned', async () => {
    let body = '';
    for (let i = 0; i < 200 && body !== 'over mTLS xDS'; i++) {
      body = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.text(), () => '');
      if (body !== 'over mTLS xDS') await sleep(50);
    }
    expect(body, stderr).toBe('over mTLS xDS');
    // the node goes on the stream's first request only (set_node_on_first_message_only)
    expect(xds.requests[0]!.node?.id).toBe('sidecar~10.0.0.9~vm-1.default~default.svc.cluster.local');
  });
});
