import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBootstrap } from '../../../src/config/envoy/bootstrap.js';
import { ConfigError } from '../../../src/config/errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const GOLDENS = path.resolve(here, '../../../../shared/conformance/istio/pkg/bootstrap/testdata');
const golden = (name: string) => path.join(GOLDENS, `${name}_golden.json`);

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'outrigger-bootstrap-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, text: string): Promise<string> {
  const p = path.join(dir, name);
  await writeFile(p, text);
  return p;
}

/** A bootstrap as pilot-agent's template writes it, small. */
const SIDECAR = {
  node: {
    id: 'sidecar~10.1.2.3~productpage-v1-abc.bookinfo~bookinfo.svc.cluster.local',
    cluster: 'productpage.bookinfo',
    locality: { region: 'us-east1', zone: 'us-east1-b' },
    metadata: {
      NAMESPACE: 'bookinfo',
      LABELS: { app: 'productpage', version: 'v1' },
      INSTANCE_IPS: '10.1.2.3,fd00::3',
      SERVICE_ACCOUNT: 'bookinfo-productpage',
      CLUSTER_ID: 'east',
      WORKLOAD_NAME: 'productpage-v1',
      MESH_ID: 'cluster.local',
      ISTIO_VERSION: '1.24.0',
      PROXY_CONFIG: { drainDuration: '45s' },
    },
  },
  admin: { address: { socket_address: { address: '127.0.0.1', port_value: 15000 } } },
  dynamic_resources: {
    lds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' },
    cds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' },
    ads_config: { api_type: 'DELTA_GRPC', set_node_on_first_message_only: true, transport_api_version: 'V3', grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] },
  },
  static_resources: {
    clusters: [
      { name: 'xds-grpc', type: 'STATIC', load_assignment: { cluster_name: 'xds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: './etc/istio/proxy/XDS' } } } }] }] } },
      { name: 'sds-grpc', type: 'STATIC', load_assignment: { cluster_name: 'sds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: './var/run/secrets/workload-spiffe-uds/socket' } } } }] }] } },
    ],
  },
};

describe('loadBootstrap: every Istio golden', () => {
  const goldens = readdirSync(GOLDENS).filter((f) => f.endsWith('_golden.json'));
  it('are there', () => expect(goldens.length).toBeGreaterThanOrEqual(30));

  it.each(goldens)('%s loads as pilot-agent runs it (--allow-unknown-static-fields)', async (file) => {
    const b = await loadBootstrap({ configPath: path.join(GOLDENS, file), allowUnknownStaticFields: true, cwd: '/pod' });
    expect(b.identity.mode).toBe('sidecar');
    expect(b.ads?.clusterName).toBe('xds-grpc');
    expect(b.grpcTarget('xds-grpc')).toEqual({ kind: 'pipe', path: '/tmp/XDS', clusterName: 'xds-grpc' });
    expect(b.grpcTarget('sds-grpc').kind).toBe('pipe');
  });
});

describe('loadBootstrap: stats_config.stats_matcher', () => {
  it("Istio's inclusion list from the default golden, pattern for pattern", async () => {
    const b = await loadBootstrap({ configPath: golden('default'), allowUnknownStaticFields: true, cwd: '/pod' });
    const list = (b.statsMatcher as { inclusionList: unknown[] }).inclusionList;
    expect(list).toHaveLength(13);
    expect(list[0]).toEqual({ prefix: 'reporter=' });
    expect(list).toContainEqual({ suffix: 'rbac.allowed' });
    expect(list).toContainEqual({ regex: 'vhost\\..*\\.route\\..*' });
  });

  it('reject_all, exclusion_list, none (every stat); a bad pattern fails the bootstrap naming its field', async () => {
    const file = await write('stats.json', JSON.stringify(SIDECAR));
    const with_ = (m: string) => loadBootstrap({ configPath: file, configYaml: `stats_config: {stats_matcher: ${m}}` });
    expect((await with_('{reject_all: true}')).statsMatcher).toEqual({ rejectAll: true });
    expect((await with_('{reject_all: false}')).statsMatcher).toBeUndefined();
    expect((await with_('{exclusion_list: {patterns: [{prefix: "cluster.outbound|", ignore_case: true}]}}')).statsMatcher).toEqual({ exclusionList: [{ prefix: 'cluster.outbound|', ignoreCase: true }] });
    expect((await loadBootstrap({ configPath: file })).statsMatcher).toBeUndefined();
    await expect(with_('{inclusion_list: {patterns: [{prefix: server}, {safe_regex: {regex: "(a"}}]}}')).rejects.toThrow(/stats_config\.stats_matcher\.inclusion_list\.patterns\[1\]\.safe_regex\.regex: invalid regex/);
    await expect(with_('{inclusion_list: {patterns: [{prefix: ""}]}}')).rejects.toThrow(/patterns\[0\].*prefix must not be empty/);
  });
});

describe('loadBootstrap: what the agent reads', () => {
  it('default golden: node, identity, admin, DELTA_GRPC ADS, lds/cds over ADS, static listeners and clusters', async () => {
    const b = await loadBootstrap({ configPath: golden('default'), allowUnknownStaticFields: true, cwd: '/pod' });
    expect(b.node.id).toBe('sidecar~1.2.3.4~foo~bar');
    expect(b.node.cluster).toBe('istio-proxy');
    expect(b.node.metadata.INSTANCE_IPS).toBe('10.3.3.3,10.4.4.4,10.5.5.5,10.6.6.6');
    expect(b.node.metadata.PROXY_CONFIG).toMatchObject({ drainDuration: '2s', proxyAdminPort: 15000 });
    // istiod: the first valid INSTANCE_IPS address before the node id's
    expect(b.identity).toMatchObject({ id: 'sidecar~1.2.3.4~foo~bar', mode: 'sidecar', ip: '10.3.3.3', clusterId: 'Kubernetes' });
    expect(b.admin).toEqual({ kind: 'socket', host: '127.0.0.1', port: 15000 });
    expect(b.ads).toEqual({ apiType: 'DELTA_GRPC', setNodeOnFirstMessageOnly: true, transportApiVersion: 'V3', clusterName: 'xds-grpc' });
    expect(b.lds).toEqual({ initialFetchTimeoutMs: 0, resourceApiVersion: 'V3' });
    expect(b.cds).toEqual({ initialFetchTimeoutMs: 0, resourceApiVersion: 'V3' });
    expect(b.staticListeners.map((l) => (l.address as { socket_address: { port_value: number } }).socket_address.port_value)).toEqual([15090, 15021]);
    expect(b.staticClusters.map((c) => c.name)).toEqual(['prometheus_stats', 'agent', 'sds-grpc', 'xds-grpc']);
    expect(b.grpcTarget('sds-grpc')).toEqual({ kind: 'pipe', path: '/pod/var/run/secrets/workload-spiffe-uds/test.sock', clusterName: 'sds-grpc' });
    expect(b.runtime['re2.max_program_size.error_level']).toBe('32768');
  });

  it('a sidecar node: identity from the node id and metadata, locality, pipes relative to the working directory', async () => {
    const b = await loadBootstrap({ configPath: await write('sidecar.json', JSON.stringify(SIDECAR)), cwd: '/pod' });
    expect(b.identity).toEqual({
      id: SIDECAR.node.id,
      mode: 'sidecar',
      namespace: 'bookinfo',
      serviceAccount: 'bookinfo-productpage',
      labels: { app: 'productpage', version: 'v1' },
      ip: '10.1.2.3',
      trustDomain: 'cluster.local',
      domainSuffix: 'cluster.local',
      acceptHttp10: false,
      workloadName: 'productpage-v1',
      clusterId: 'east',
      locality: 'us-east1/us-east1-b',
    });
    expect(b.grpcTarget('xds-grpc')).toEqual({ kind: 'pipe', path: '/pod/etc/istio/proxy/XDS', clusterName: 'xds-grpc' });
    expect(b.grpcTarget('sds-grpc')).toEqual({ kind: 'pipe', path: '/pod/var/run/secrets/workload-spiffe-uds/socket', clusterName: 'sds-grpc' });
  });

  it('a router node is a gateway; without NAMESPACE the namespace is the DNS domain\'s first label', async () => {
    const router = { ...SIDECAR, node: { id: 'router~10.0.0.9~ingress-abc.istio-system~istio-system.svc.mesh.example', cluster: 'istio-ingressgateway.istio-system', metadata: {} } };
    const b = await loadBootstrap({ configPath: await write('router.yaml', JSON.stringify(router)) });
    expect(b.identity).toMatchObject({ mode: 'gateway', namespace: 'istio-system', ip: '10.0.0.9', domainSuffix: 'mesh.example', serviceAccount: 'default' });
  });

  it('YAML by extension; --config-yaml merged over the file as protobuf MergeFrom; --service-* win over the node', async () => {
    const yaml = await write('b.yaml', `node:\n  id: ${SIDECAR.node.id}\n  cluster: productpage.bookinfo\n  metadata: {NAMESPACE: bookinfo, LABELS: {app: a}}\n` +
      `static_resources:\n  clusters:\n  - name: xds-grpc\n    load_assignment: {endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: 15012}}}}]}]}\n` +
      `dynamic_resources:\n  ads_config: {api_type: GRPC, grpc_services: [{envoy_grpc: {cluster_name: xds-grpc}}]}\n`);
    const overlay = JSON.stringify({
      node: { metadata: { LABELS: { version: 'v2' } }, locality: { region: 'r1' } },
      admin: { address: { pipe: { path: '/tmp/admin.sock' } } },
      static_resources: { clusters: [{ name: 'extra', load_assignment: { endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.2', port_value: 1 } } } }] }] } }] },
      dynamic_resources: { ads_config: { api_type: 'DELTA_GRPC', set_node_on_first_message_only: true } },
    });
    const b = await loadBootstrap({ configPath: yaml, configYaml: overlay, serviceZone: 'z9', serviceCluster: 'from-flag' });
    expect(b.source).toBe(`${yaml} + --config-yaml`);
    // a Struct's map replaces whole entries (LABELS), repeated fields append, scalars replace, messages merge
    expect(b.node.metadata).toEqual({ NAMESPACE: 'bookinfo', LABELS: { version: 'v2' } });
    expect(b.staticClusters.map((c) => c.name)).toEqual(['xds-grpc', 'extra']);
    expect(b.ads).toMatchObject({ apiType: 'DELTA_GRPC', setNodeOnFirstMessageOnly: true, clusterName: 'xds-grpc' });
    expect(b.admin).toEqual({ kind: 'pipe', path: '/tmp/admin.sock' });
    expect(b.node.locality).toEqual({ region: 'r1', zone: 'z9' });
    expect(b.node.cluster).toBe('from-flag');
    expect(b.grpcTarget('xds-grpc')).toEqual({ kind: 'socket', host: '10.0.0.1', port: 15012, clusterName: 'xds-grpc' });
    const renamed = await loadBootstrap({ configPath: yaml, serviceNode: 'router~10.9.9.9~gw.ns~ns.svc.cluster.local' });
    expect(renamed.identity).toMatchObject({ mode: 'gateway', ip: '10.9.9.9' });
  });

  it('a zero scalar in --config-yaml leaves the file\'s value (proto3 has no presence), a oneof member replaces its sibling', async () => {
    const file = await write('c.json', JSON.stringify({ ...SIDECAR, admin: { address: { socket_address: { address: '127.0.0.1', port_value: 15000 } } } }));
    const b = await loadBootstrap({ configPath: file, configYaml: 'admin: {address: {socket_address: {address: "", port_value: 15001}}}' });
    expect(b.admin).toEqual({ kind: 'socket', host: '127.0.0.1', port: 15001 });
    const c = await loadBootstrap({ configPath: file, configYaml: 'admin: {address: {pipe: {path: /a.sock}}}' });
    expect(c.admin).toEqual({ kind: 'pipe', path: '/a.sock' });
    expect((c.message.admin as { address: Record<string, unknown> }).address.socket_address).toBeUndefined();
  });

  it('an upstream TLS gRPC cluster gives its UpstreamTlsContext', async () => {
    const tls = {
      ...SIDECAR,
      static_resources: {
        clusters: [{
          name: 'xds-grpc',
          type: 'STRICT_DNS',
          load_assignment: { endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'istiod.istio-system.svc', port_value: 15012 } } } }] }] },
          transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', sni: 'istiod.istio-system.svc' } },
        }],
      },
    };
    const b = await loadBootstrap({ configPath: await write('tls.json', JSON.stringify(tls)) });
    expect(b.grpcTarget('xds-grpc')).toEqual({ kind: 'socket', host: 'istiod.istio-system.svc', port: 15012, clusterName: 'xds-grpc', tls: { sni: 'istiod.istio-system.svc' } });
  });
});

describe('loadBootstrap: errors name the file and the field', () => {
  const fails = async (json: unknown, pattern: RegExp, opts: { allowUnknownStaticFields?: boolean } = {}) => {
    const file = await write('bad.json', typeof json === 'string' ? json : JSON.stringify(json));
    const err = await loadBootstrap({ configPath: file, ...opts }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).toMatch(pattern);
  };

  it('unknown fields: an error, or one warning each with --allow-unknown-static-fields', async () => {
    await fails({ ...SIDECAR, nodes: {} }, /field nodes: unknown field/);
    const file = await write('unknown.json', JSON.stringify({ ...SIDECAR, nodes: {}, admin: { adress: 1 } }));
    const b = await loadBootstrap({ configPath: file, allowUnknownStaticFields: true });
    expect(b.warnings).toEqual([`${file}: unknown field admin.adress ignored (--allow-unknown-static-fields)`, `${file}: unknown field nodes ignored (--allow-unknown-static-fields)`]);
    await expect(loadBootstrap({ configPath: golden('stats_eviction_interval') })).rejects.toThrow(/field stats_eviction_interval: unknown field/);
  });

  it('bad values, bad JSON and YAML, a missing file', async () => {
    await fails({ ...SIDECAR, admin: { address: { socket_address: { address: '127.0.0.1', port_value: 'x' } } } }, /field admin.address.socket_address.port_value: expected an integer/);
    await fails('{"node": ', /not JSON/);
    const yaml = await write('bad.yaml', 'node:\n  id: a\n bad: [\n');
    await expect(loadBootstrap({ configPath: yaml })).rejects.toThrow(/bad.yaml:\d+: not YAML/);
    await expect(loadBootstrap({ configPath: path.join(dir, 'none.json') })).rejects.toThrow(/none.json: cannot read the bootstrap/);
    const good = await write('good.json', JSON.stringify(SIDECAR));
    await expect(loadBootstrap({ configPath: good, configYaml: 'node: [' })).rejects.toThrow(/--config-yaml(:\d+)?: not YAML/);
  });

  it('the node id must be an Istio sidecar or router id', async () => {
    await fails({ ...SIDECAR, node: { id: 'just-a-name' } }, /field node: "just-a-name" is not an Istio node id/);
    await fails({ ...SIDECAR, node: { id: 'ztunnel~10.0.0.1~a.b~b.svc.cluster.local' } }, /field node: node type "ztunnel"/);
    await fails({ ...SIDECAR, node: { id: 'sidecar~nope~a.b~b.svc.cluster.local' } }, /no valid IP address/);
    await fails({ ...SIDECAR, node: undefined }, /field node.id: the node needs an id/);
    await fails({ ...SIDECAR, node: { ...SIDECAR.node, cluster: '' } }, /field node.cluster: ads: node 'id' and 'cluster' are required/);
  });

  it('ADS: GRPC or DELTA_GRPC over one envoy_grpc static cluster with an address; lds/cds over ads only', async () => {
    const dyn = (patch: object) => ({ ...SIDECAR, dynamic_resources: { ...SIDECAR.dynamic_resources, ...patch } });
    await fails(dyn({ ads_config: { api_type: 'REST', grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] } }), /field dynamic_resources.ads_config.api_type: api_type must be GRPC or DELTA_GRPC/);
    await fails(dyn({ ads_config: { api_type: 'GRPC', grpc_services: [{ google_grpc: { target_uri: 'x', stat_prefix: 'x' } }] } }), /grpc_services\[0\]: only envoy_grpc/);
    await fails(dyn({ ads_config: { api_type: 'GRPC', grpc_services: [{ envoy_grpc: { cluster_name: 'nope' } }] } }), /no static cluster "nope"/);
    await fails(dyn({ lds_config: { path_config_source: { path: '/lds.yaml' } } }), /field dynamic_resources.lds_config: only ads is supported/);
    await fails(dyn({ ads_config: undefined }), /field dynamic_resources.lds_config.ads: ads is named but dynamic_resources has no ads_config/);
    await fails(dyn({ cds_resources_locator: 'xdstp://example/envoy.config.cluster.v3.Cluster/*' }), /field dynamic_resources.cds_resources_locator: not supported/);
    await fails({ ...SIDECAR, static_resources: { clusters: [{ name: 'xds-grpc', type: 'STATIC' }] } }, /static_resources.clusters\[0\].load_assignment.endpoints\[0\].lb_endpoints\[0\].endpoint.address: cluster "xds-grpc" has no endpoint address/);
    await fails({ ...SIDECAR, static_resources: { clusters: [SIDECAR.static_resources.clusters[0], SIDECAR.static_resources.clusters[0]] } }, /static_resources.clusters\[1\].name: duplicate cluster "xds-grpc"/);
  });
});
