// Listener decoding (LDS): every listener of Istio's config dumps decodes or is refused for a
// documented reason, and the ones istiod builds for a sidecar and a gateway come out exactly.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeListener, type DecodedListener } from '../../../../src/config/envoy/decode/listener.js';
import { fromProtoJson } from '../../../../src/config/envoy/proto/json.js';
import { decodeMessage, encodeMessage, findMessageType, messageType, typeNameOfUrl } from '../../../../src/config/envoy/proto/registry.js';
import { httpConnectionManagerOf, networkAuthzFiltersOf, tcpProxyOf } from '../../../../src/config/envoy/network-filters.js';
import type { NodeIdentity } from '../../../../src/config/snapshot.js';
import { gatewayNode, sidecarNode } from '../../helpers.js';
import { DUMP_FILES, dumpListeners } from './dumps.js';

/** The listeners Outrigger refuses, and why: Istio's HBONE machinery (ambient mode), which it does not speak. */
const REFUSED: Record<string, string> = {
  main_internal: 'Listener main_internal, field internal_listener: internal listeners (HBONE, waypoints) are not supported',
  connect_originate: 'Listener connect_originate, field internal_listener: internal listeners (HBONE, waypoints) are not supported',
  connect_terminate: 'match.connect_matcher: CONNECT termination (HBONE) is not supported',
};

function decode(message: Record<string, unknown>, node: NodeIdentity = sidecarNode()): DecodedListener & { warnings: string[] } {
  const warnings: string[] = [];
  return { ...decodeListener(message, { node, warn: (w) => warnings.push(w) }), warnings };
}

const authz = dumpListeners('authz/testdata/configdump.yaml');
const byName = (name: string) => authz.find((l) => l.name === name)!.message;

describe('the config dumps', () => {
  const all = DUMP_FILES.flatMap(dumpListeners);

  it('hold the listeners of sidecars, static and dynamic', () => {
    expect(all.length).toBeGreaterThanOrEqual(33);
  });

  it.each(all.map((l) => [`${l.file} ${l.name}`, l] as const))('%s decodes, or is refused for its documented reason', (_, l) => {
    const reason = REFUSED[l.name];
    if (reason) {
      expect(() => decode(l.message)).toThrow(reason);
      return;
    }
    const d = decode(l.message);
    expect(d.listener.filterChains.length + (d.listener.defaultFilterChain ? 1 : 0)).toBeGreaterThan(0);
    // the data plane finds chains by name
    const names = [...d.listener.filterChains, ...(d.listener.defaultFilterChain ? [d.listener.defaultFilterChain] : [])].map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
  });
});

const passthrough = (name: string) => ({ name: 'envoy.filters.network.tcp_proxy', typedConfig: { statPrefix: name, clusters: [{ name, weight: 1 }], idleTimeoutMs: 3_600_000 } });

describe("istiod's sidecar listeners", () => {
  it('virtualOutbound: restores the original destination and hands connections off; no inspection', () => {
    const d = decode(byName('virtualOutbound'));
    expect(d.listener).toEqual({
      name: 'virtualOutbound',
      address: '0.0.0.0',
      port: 15001,
      direction: 'OUTBOUND',
      useOriginalDst: true,
      handOffRestoredDestination: true,
      inspectors: {},
      filterChains: [
        { name: 'virtualOutbound-blackhole', match: { destinationPort: 15001 }, filters: [passthrough('BlackHoleCluster')] },
        { name: 'virtualOutbound-catchall-tcp', match: {}, filters: [passthrough('PassthroughCluster')] },
      ],
    });
    expect(d.routeConfigs).toEqual([]);
    expect(d.rdsNames).toEqual([]);
    expect(d.warnings).toEqual([]);
  });

  it('0.0.0.0_9080: bind_to_port false, HTTP detected by the inspectors, routes over RDS, Istio filters recognised', () => {
    const d = decode(byName('0.0.0.0_9080'));
    expect(d.listener).toEqual({
      name: '0.0.0.0_9080',
      address: '0.0.0.0',
      port: 9080,
      direction: 'OUTBOUND',
      bindToPort: false,
      inspectors: { tls: {}, http: {} },
      protocolDetectionTimeoutMs: 0,
      filterChains: [{
        name: 'filter_chain_0',
        match: { transportProtocol: 'raw_buffer', applicationProtocols: ['http/1.1', 'h2c'] },
        filters: [{
          name: 'envoy.filters.network.http_connection_manager',
          typedConfig: {
            statPrefix: 'outbound_0.0.0.0_9080',
            routeConfigName: '9080',
            useRemoteAddress: false,
            stripEnvoyHeaders: false,
            maxRequestHeadersKb: 60,
            idleTimeoutMs: 3_600_000,
            streamIdleTimeoutMs: 0,
            acceptHttp10: false,
            // metadata exchange, grpc_stats, istio.alpn and istio.stats need nothing here
            httpFilters: [{ name: 'envoy.filters.http.fault', config: {} }, { name: 'envoy.filters.http.cors', config: {} }],
            forwardClientCertDetails: 'SANITIZE',
            pathNormalization: 'BASE',
            upgradeTypes: ['websocket'],
            // istiod's tracing block without a provider (the bootstrap has none here): 1 % decided and marked, no span
            tracing: expect.objectContaining({ randomSamplingPercent: 1, clientSamplingPercent: 100, overallSamplingPercent: 100, spawnUpstreamSpan: false, useRequestIdForTraceSampling: true }),
          },
        }],
      }],
      defaultFilterChain: { name: 'PassthroughFilterChain', match: {}, filters: [passthrough('PassthroughCluster')] },
    });
    expect(d.rdsNames).toEqual(['9080']);
    expect(d.warnings).toEqual([]);
  });

  it('virtualInbound: mTLS and plaintext chains, the inspectors off on their filter_disabled ports, RBAC on TCP and HTTP', () => {
    const d = decode(byName('virtualInbound'));
    const l = d.listener;
    expect(l.useOriginalDst).toBe(true);
    expect(l.handOffRestoredDestination).toBeUndefined(); // only the original_dst listener filter: no hand-off
    expect(l.inspectors).toEqual({
      tls: { disabledPorts: [{ start: 15006, end: 15007 }] },
      http: { disabledPorts: [{ start: 80, end: 81 }, { start: 15006, end: 15007 }] },
    });
    expect(l.protocolDetectionTimeoutMs).toBe(0);
    expect(l.filterChains.map((c) => [c.name, c.match, !!c.transportSocket])).toEqual([
      ['virtualInbound-blackhole', { destinationPort: 15006 }, false],
      ['virtualInbound-catchall-http', { prefixRanges: ['0.0.0.0/0'], transportProtocol: 'tls', applicationProtocols: ['istio-http/1.0', 'istio-http/1.1', 'istio-h2'] }, true],
      ['virtualInbound-catchall-http~2', { prefixRanges: ['0.0.0.0/0'], transportProtocol: 'raw_buffer', applicationProtocols: ['http/1.1', 'h2c'] }, false],
      ['virtualInbound', { prefixRanges: ['0.0.0.0/0'], transportProtocol: 'tls', applicationProtocols: ['istio-peer-exchange', 'istio'] }, true],
      ['virtualInbound~4', { prefixRanges: ['0.0.0.0/0'], transportProtocol: 'raw_buffer' }, false],
      ['virtualInbound~5', { prefixRanges: ['0.0.0.0/0'], transportProtocol: 'tls' }, false],
      ['0.0.0.0_80', { destinationPort: 80, transportProtocol: 'tls', applicationProtocols: ['istio', 'istio-peer-exchange', 'istio-http/1.0', 'istio-http/1.1', 'istio-h2'] }, true],
      ['0.0.0.0_80~7', { destinationPort: 80, transportProtocol: 'raw_buffer' }, false],
    ]);
    // mTLS: the workload certificate and the mesh roots by SDS name, a client certificate required
    const tls = l.filterChains[3].transportSocket!.typedConfig;
    expect(tls.requireClientCertificate).toBe(true);
    expect(tls.commonTlsContext.tlsCertificateSdsSecretConfigs?.map((s) => s.name)).toEqual(['default']);
    expect(tls.commonTlsContext.combinedValidationContext?.validationContextSdsSecretConfig.name).toBe('ROOTCA');
    // TCP: network RBAC (an ALLOW with no policy denies all), then the TCP proxy
    expect(networkAuthzFiltersOf(l.filterChains[3])).toEqual([{
      name: 'envoy.filters.network.rbac',
      typedConfig: { rules: { action: 'ALLOW', policies: {} }, shadowRulesStatPrefix: 'istio_dry_run_allow_', statPrefix: 'tcp.' },
    }]);
    expect(tcpProxyOf(l.filterChains[3])?.clusters).toEqual([{ name: 'InboundPassthroughClusterIpv4', weight: 1 }]);
    // HTTP on port 80 over mTLS: inline routes, APPEND_FORWARD, the authorization filters in istiod's order
    const hcm = httpConnectionManagerOf(l.filterChains[6])!;
    expect(hcm.forwardClientCertDetails).toBe('APPEND_FORWARD');
    expect(hcm.routeConfigName).toBe('inbound|80||@virtualInbound/0.0.0.0_80');
    expect(hcm.httpFilters.map((f) => f.name)).toEqual(['envoy.filters.http.rbac', 'envoy.filters.http.rbac', 'envoy.filters.http.ext_authz', 'envoy.filters.http.fault', 'envoy.filters.http.cors']);
    const inline = d.routeConfigs.find((r) => r.name === hcm.routeConfigName)!;
    expect(inline.virtualHosts[0].routes[0]).toEqual({
      name: 'default',
      match: { path: { prefix: '/' }, headers: [], queryParams: [] },
      action: { kind: 'route', clusters: [{ name: 'inbound|80||', weight: 1 }], timeoutMs: 0 },
      decorator: { operation: 'httpbin.default.svc.cluster.local:8000/*' },
    });
    expect(d.rdsNames).toEqual([]);
  });

  it("the HTTP RBAC policy of an AuthorizationPolicy: istio_authn's peer principal is the mTLS peer's (`authenticated`)", () => {
    const hcm = httpConnectionManagerOf(decode(byName('virtualInbound')).listener.filterChains[6])!;
    const rbac = hcm.httpFilters[0].config as { rules: { action: string; policies: Record<string, { permissions: unknown[]; principals: unknown[] }> } };
    const policy = rbac.rules.policies['ns[default]-policy[httpbin]-rule[0]'];
    expect(rbac.rules.action).toBe('ALLOW');
    expect(policy.permissions[0]).toEqual({
      andRules: { rules: [
        { orRules: { rules: [{ header: { name: ':method', exactMatch: 'GET' } }] } },
        { orRules: { rules: [{ urlPath: { path: { prefix: '/info' } } }] } },
      ] },
    });
    expect(policy.principals[1]).toEqual({
      andIds: { ids: [
        { orIds: { ids: [{ authenticated: { principalName: { safeRegex: { regex: '.*/ns/test/.*' } } } }] } },
        { orIds: { ids: [{ metadata: { filter: 'istio_authn', path: [{ key: 'request.auth.claims' }, { key: 'iss' }], value: { listMatch: { oneOf: { stringMatch: { exact: 'https://accounts.google.com' } } } } } }] } },
      ] },
    });
    expect(hcm.httpFilters[2].config).toEqual({
      transportApiVersion: 'V3',
      grpcService: { envoyGrpc: { clusterName: 'outbound|9191||sample-ext-authz-grpc', authority: 'sample-ext-authz-grpc.local' }, timeoutMs: 600_000 },
      withRequestBody: { maxRequestBytes: 8000 },
      filterEnabledMetadata: { filter: 'envoy.filters.http.rbac', path: [{ key: 'istio_ext_authz_shadow_effective_policy_id' }], value: { stringMatch: { prefix: 'istio-ext-authz' } } },
    });
  });

  it("a bootstrap's static listener without a name is named address_port", () => {
    const statics = dumpListeners('proxyconfig/testdata/config_dump.json').filter((l) => !l.message.name);
    expect(statics.map((l) => decode(l.message).listener.name)).toEqual(['0.0.0.0_15021']);
  });
});

const listenerType = messageType('envoy.config.listener.v3.Listener');
const fromJson = (json: object) => fromProtoJson<Record<string, unknown>>(listenerType, json, { location: { kind: 'Listener' } });
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

/** What istiod sends a gateway for an HTTPS server with credentialName (Gateway mode SIMPLE). */
const GATEWAY_HTTPS = {
  name: '0.0.0.0_8443',
  address: { socket_address: { address: '0.0.0.0', port_value: 8443 } },
  filter_chains: [{
    filter_chain_match: { server_names: ['bookinfo.example.com'] },
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
        common_tls_context: {
          alpn_protocols: ['h2', 'http/1.1'],
          tls_certificate_sds_secret_configs: [{ name: 'kubernetes://bookinfo-credential', sds_config: { ads: {}, resource_api_version: 'V3' } }],
        },
        require_client_certificate: false,
      },
    },
    filters: [{
      name: 'envoy.filters.network.http_connection_manager',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
        stat_prefix: 'outbound_0.0.0.0_8443',
        rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: 'https.443.https.bookinfo-gateway.default' },
        http_filters: [
          { name: 'istio.metadata_exchange', typed_config: { '@type': 'type.googleapis.com/udpa.type.v1.TypedStruct', type_url: 'type.googleapis.com/io.istio.http.peer_metadata.Config', value: { upstream_discovery: [] } } },
          { name: 'envoy.filters.http.fault', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault' } },
          ROUTER,
        ],
        use_remote_address: true,
        forward_client_cert_details: 'SANITIZE_SET',
        set_current_client_cert_details: { subject: true, dns: true, uri: true },
        upgrade_configs: [{ upgrade_type: 'websocket' }],
        stream_idle_timeout: '0s',
        normalize_path: true,
        path_with_escaped_slashes_action: 'KEEP_UNCHANGED',
      },
    }],
    name: '0.0.0.0_8443',
  }],
  listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } }],
  traffic_direction: 'OUTBOUND',
};

describe('over the wire', () => {
  /** Istio's own types as istiod sends them: a bare Any of a type the Envoy API does not have (its payload unread). */
  function bareIstioAnys(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(bareIstioAnys);
    if (typeof v !== 'object' || v === null || Buffer.isBuffer(v)) return v;
    const o = v as Record<string, unknown>;
    if (o.type_url === 'type.googleapis.com/udpa.type.v1.TypedStruct') {
      const inner = decodeMessage<{ type_url: string }>(messageType('udpa.type.v1.TypedStruct'), o.value as Uint8Array);
      if (!inner.type_url.includes('udpa.') && !findMessageType(typeNameOfUrl(inner.type_url)) && !inner.type_url.includes('io.istio.network.authn')) return { type_url: inner.type_url, value: Buffer.alloc(0) };
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, bareIstioAnys(x)]));
  }

  it.each(['virtualInbound', '0.0.0.0_9080', 'virtualOutbound'])('%s decodes the same from the binary form an ADS stream carries', (name) => {
    const plain = byName(name);
    const wire = messageType('envoy.config.listener.v3.Listener');
    const fromWire = decodeMessage<Record<string, unknown>>(wire, encodeMessage(wire, bareIstioAnys(plain) as object));
    expect(decode(fromWire)).toEqual(decode(plain));
  });
});

describe("istiod's gateway listener", () => {
  it('terminates TLS with the SDS certificate of its credential, picks the chain by SNI, faces clients (GATEWAY)', () => {
    const d = decode(fromJson(GATEWAY_HTTPS), gatewayNode());
    const l = d.listener;
    expect(l.direction).toBe('GATEWAY');
    expect(l.inspectors).toEqual({ tls: {} });
    expect(l.protocolDetectionTimeoutMs).toBe(15_000); // Envoy's default listener_filters_timeout
    expect(l.filterChains[0].match).toEqual({ serverNames: ['bookinfo.example.com'] });
    const tls = l.filterChains[0].transportSocket!.typedConfig;
    expect(tls.commonTlsContext.tlsCertificateSdsSecretConfigs?.map((s) => s.name)).toEqual(['kubernetes://bookinfo-credential']);
    expect(tls.commonTlsContext.alpnProtocols).toEqual(['h2', 'http/1.1']);
    const hcm = httpConnectionManagerOf(l.filterChains[0])!;
    expect(hcm).toMatchObject({ useRemoteAddress: true, stripEnvoyHeaders: true, forwardClientCertDetails: 'SANITIZE_SET', routeConfigName: 'https.443.https.bookinfo-gateway.default' });
    expect(d.rdsNames).toEqual(['https.443.https.bookinfo-gateway.default']);
    expect(l.continueOnListenerFiltersTimeout).toBe(false); // unset: Envoy closes a connection silent for 15 s
    expect(d.warnings).toEqual([]);
  });
});

describe('refused, naming the field (fail closed)', () => {
  const withChain = (patch: (c: Record<string, any>) => void, top: (l: Record<string, any>) => void = () => {}) => {
    const l = structuredClone(GATEWAY_HTTPS) as Record<string, any>;
    patch(l.filter_chains[0]);
    top(l);
    return () => decode(fromJson(l), gatewayNode());
  };
  const hcmOf = (c: Record<string, any>) => c.filters[0].typed_config;

  it.each([
    ['a source matcher', withChain((c) => (c.filter_chain_match.source_prefix_ranges = [{ address_prefix: '10.0.0.0', prefix_len: 8 }])), 'field filter_chains[0].filter_chain_match.source_prefix_ranges: source matching is not supported'],
    ['PROXY protocol', withChain(() => {}, (l) => l.listener_filters.push({ name: 'envoy.filters.listener.proxy_protocol', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.proxy_protocol.v3.ProxyProtocol' } })), 'listener filter envoy.filters.listener.proxy_protocol'],
    ['an unknown network filter', withChain((c) => c.filters.unshift({ name: 'envoy.filters.network.sni_cluster', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.sni_cluster.v3.SniCluster' } })), 'field filter_chains[0].filters[0].typed_config: network filter envoy.filters.network.sni_cluster'],
    ['a Lua HTTP filter', withChain((c) => hcmOf(c).http_filters.unshift({ name: 'envoy.filters.http.lua', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua', default_source_code: { inline_string: 'x' } } })), 'HTTP filter envoy.filters.http.lua'],
    ['a Wasm filter that is not Istio stats', withChain((c) => hcmOf(c).http_filters.unshift({ name: 'my.wasm', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm', config: { vm_config: { runtime: 'envoy.wasm.runtime.v8' } } } })), 'HTTP filter my.wasm'],
    ['a router that is not last', withChain((c) => hcmOf(c).http_filters.push(hcmOf(c).http_filters[1])), 'the router (envoy.filters.http.router) must be the last HTTP filter'],
    ['headers with underscores rejected', withChain((c) => (hcmOf(c).common_http_protocol_options = { headers_with_underscores_action: 'REJECT_REQUEST' })), 'REJECT_REQUEST is not supported'],
    ['merge_slashes without normalize_path', withChain((c) => { hcmOf(c).normalize_path = false; hcmOf(c).merge_slashes = true; }), 'not a path normalization Outrigger does'],
    ['a pipe address', withChain(() => {}, (l) => (l.address = { pipe: { path: '/tmp/s' } })), 'field address: only socket_address listeners are supported, got pipe'],
    ['a transparent listener', withChain(() => {}, (l) => (l.transparent = true)), 'field transparent: transparent (original source) listeners are not supported'],
  ])('%s', (_, run, message) => {
    expect(run).toThrow(message);
  });
});

describe("the bootstrap goldens' static listeners (15090 /stats/prometheus, 15021 /healthz/ready)", () => {
  const GOLDENS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../../shared/conformance/istio/pkg/bootstrap/testdata');
  const bootstrap = messageType('envoy.config.bootstrap.v3.Bootstrap');
  const goldens = readdirSync(GOLDENS).filter((f) => f.endsWith('_golden.json'));

  it.each(goldens)('%s: every static listener decodes, with its inline routes', (file) => {
    const b = fromProtoJson<{ static_resources?: { listeners?: Record<string, unknown>[] } }>(bootstrap, JSON.parse(readFileSync(path.join(GOLDENS, file), 'utf8')), { location: { file }, onUnknownField: () => {} });
    const listeners = b.static_resources?.listeners ?? [];
    expect(listeners.length).toBeGreaterThan(0);
    for (const l of listeners) {
      const d = decode(l);
      expect(d.rdsNames).toEqual([]);
      expect(d.routeConfigs.length).toBeGreaterThan(0);
    }
  });
});
