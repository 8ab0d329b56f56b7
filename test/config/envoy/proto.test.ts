import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { unpackAny } from '../../../src/config/envoy/proto/any.js';
import { plainToJson } from '../../../src/config/envoy/proto/to-json.js';
import { fromProtoJson } from '../../../src/config/envoy/proto/json.js';
import { decodeMessage, encodeMessage, messageType } from '../../../src/config/envoy/proto/registry.js';
import { ConfigError } from '../../../src/config/errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const GOLDENS = path.resolve(here, '../../../../shared/conformance/istio/pkg/bootstrap/testdata');
const location = { file: 'bootstrap.json', kind: 'Bootstrap' };

const cluster = messageType('envoy.config.cluster.v3.Cluster');

describe('proto3 JSON → the plain form', () => {
  it('reads lowerCamelCase and proto names alike, durations, wrappers, enums by name or number', () => {
    const c = fromProtoJson<Record<string, unknown>>(cluster, {
      name: 'outbound|80||a',
      connectTimeout: '1.5s',
      type: 3, // EDS
      lb_policy: 'LEAST_REQUEST',
      per_connection_buffer_limit_bytes: 32768,
      commonLbConfig: { healthyPanicThreshold: { value: 0 } },
    }, { location });
    expect(c).toEqual({
      name: 'outbound|80||a',
      connect_timeout: { seconds: '1', nanos: 500_000_000 },
      type: 'EDS',
      cluster_discovery_type: 'type',
      lb_policy: 'LEAST_REQUEST',
      per_connection_buffer_limit_bytes: { value: 32768 },
      common_lb_config: { healthy_panic_threshold: { value: 0 } },
    });
  });

  it('gives the same object as the wire form of the same message', () => {
    const json = {
      name: 'c',
      type: 'STATIC',
      connect_timeout: '10s',
      load_assignment: { cluster_name: 'c', endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: './etc/istio/proxy/XDS' } } } }] }] },
      typed_extension_protocol_options: {
        'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
          '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
          explicit_http_config: { http2_protocol_options: {} },
        },
      },
      metadata: { filter_metadata: { istio: { services: [{ host: 'a', port: 80 }] } } },
    };
    const fromJson = fromProtoJson<object>(cluster, json, { location });
    const wire = decodeMessage<object>(cluster, encodeMessage(cluster, fromJson));
    expect(wire).toEqual(fromJson);
  });

  it('packs an Any so that unpackAny reads it back, and names an unknown one without decoding it', () => {
    const c = fromProtoJson<{ transport_socket: { typed_config: { type_url: string; value: Uint8Array } } }>(cluster, {
      name: 'c',
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', sni: 'a.example' },
      },
    }, { location });
    const tls = unpackAny<{ sni: string }>(c.transport_socket.typed_config);
    expect(tls).toEqual({ typeName: 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', known: true, message: { sni: 'a.example' } });
    expect(unpackAny({ type_url: 'type.googleapis.com/istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig', value: Buffer.from([8, 1]) })).toEqual({
      typeName: 'istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig',
      known: false,
    });
  });

  it('names the field of a bad value, an unknown field and an unknown Any type', () => {
    const bad = (json: unknown, onUnknownField?: (p: string) => void) => () => fromProtoJson(cluster, json, { location, onUnknownField });
    expect(bad({ connect_timeout: '10' })).toThrow(/bootstrap.json, Bootstrap \(unnamed\), field connect_timeout: expected a duration such as "1.5s", got string "10"/);
    expect(bad({ lb_policy: 'FASTEST' })).toThrow(/field lb_policy: "FASTEST" is not a value of LbPolicy/);
    expect(bad({ load_assignment: { endpoints: [{ lb_endpoints: [{ endpoint: { adress: {} } }] }] } })).toThrow(
      /field load_assignment.endpoints\[0\].lb_endpoints\[0\].endpoint.adress: unknown field/,
    );
    expect(bad({ transport_socket: { typed_config: { '@type': 'type.googleapis.com/no.such.Type' } } })).toThrow(ConfigError);
    const unknown: string[] = [];
    expect(bad({ name: 'x', colour: 'blue' }, (p) => unknown.push(p))()).toEqual({ name: 'x' });
    expect(unknown).toEqual(['colour']);
  });

  it("with onUnknownAnyType, an Any of a type the API lacks keeps its URL (Istio's own types, recognised by URL)", () => {
    const seen: string[] = [];
    const c = fromProtoJson<{ filters: { typed_config: { type_url: string; value: Uint8Array } }[] }>(cluster, {
      name: 'c',
      filters: [{ name: 'istio.metadata_exchange', typed_config: { '@type': 'type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange', protocol: 'istio-peer-exchange' } }],
    }, { location, onUnknownAnyType: (field, url) => seen.push(`${field} ${url}`) });
    expect(c.filters[0]!.typed_config.type_url).toBe('type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange');
    expect(c.filters[0]!.typed_config.value).toHaveLength(0);
    expect(seen).toEqual(['filters[0].typed_config type.googleapis.com/envoy.tcp.metadataexchange.config.MetadataExchange']);
  });
});

it('shows a message as Envoy\'s admin API does: nested Anys expanded, durations as "1.500s", the plain form unchanged', () => {
  const c = fromProtoJson<object>(cluster, { name: 'c', connect_timeout: '1.5s', common_lb_config: { update_merge_window: '0.000001s' }, cleanup_interval: '5s', transport_socket: { name: 't', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', sni: 'x' } } }, { location });
  expect(plainToJson('envoy.config.cluster.v3.Cluster', c)).toEqual({
    '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
    name: 'c',
    connect_timeout: '1.500s',
    cleanup_interval: '5s',
    common_lb_config: { update_merge_window: '0.000001s' },
    transport_socket: { name: 't', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', sni: 'x' } },
  });
  expect(decodeMessage(cluster, encodeMessage(cluster, c))).toMatchObject({ connect_timeout: { seconds: '1', nanos: 500_000_000 } });
});

it("knows the xds matchers istiod's filter_chain_matcher uses", () => {
  expect(messageType('xds.type.matcher.v3.IPMatcher').fullName).toBe('.xds.type.matcher.v3.IPMatcher');
  expect(messageType('xds.type.matcher.v3.Matcher').fullName).toBe('.xds.type.matcher.v3.Matcher');
});

describe("Istio's bootstrap goldens", () => {
  const bootstrap = messageType('envoy.config.bootstrap.v3.Bootstrap');
  const goldens = readdirSync(GOLDENS).filter((f) => f.endsWith('_golden.json'));

  it('are there to read', () => {
    expect(goldens.length).toBeGreaterThanOrEqual(30);
  });

  // fields newer than the API @grpc/grpc-js-xds ships (data-plane-api of 2024-07): Envoy run with
  // --allow-unknown-static-fields (as pilot-agent runs it) ignores such fields, and so does Outrigger
  const NEWER = ['stats_eviction_interval'];

  it.each(goldens)('%s converts, unknown only the fields newer than the API, and survives the wire', (file) => {
    const unknown: string[] = [];
    const b = fromProtoJson<object>(bootstrap, JSON.parse(readFileSync(path.join(GOLDENS, file), 'utf8')), {
      location: { file },
      onUnknownField: (p) => unknown.push(p),
    });
    expect(unknown.filter((f) => !NEWER.includes(f))).toEqual([]);
    expect(decodeMessage(bootstrap, encodeMessage(bootstrap, b))).toEqual(b);
  });
});
