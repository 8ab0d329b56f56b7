// A delta ADS server and an Envoy bootstrap for the benchmarks that run Outrigger as pilot-agent
// runs Envoy (bench/xds-push.mjs, bench/instructions.mjs --front xds). The resources are Anys built
// from proto3 JSON, the shape istiod sends; the server answers as istiod does for delta ADS.
import fs from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HOST } from './harness.mjs';
import { fromProtoJson } from '../dist/config/envoy/proto/json.js';
import { encodeMessage, messageType, typeNameOfUrl } from '../dist/config/envoy/proto/registry.js';
import { XDS_METHODS, deltaRequestCodec, deltaResponseCodec } from '../dist/xds/messages.js';
import { TYPE_URLS } from '../dist/xds/resource-types.js';

export { TYPE_URLS };

/** An Any of `typeUrl`'s message written as proto3 JSON. */
export function anyOf(typeUrl, json) {
  const type = messageType(typeNameOfUrl(typeUrl));
  return { type_url: typeUrl, value: encodeMessage(type, fromProtoJson(type, json, { location: {} })) };
}

const ADS = { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' };
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

/** An EDS cluster as istiod sends one. */
export function edsCluster(name) {
  return anyOf(TYPE_URLS.cluster, { name, type: 'EDS', eds_cluster_config: { eds_config: ADS, service_name: name }, connect_timeout: '1s', lb_policy: 'LEAST_REQUEST' });
}

/** A ClusterLoadAssignment of `addresses` (host strings) on `port`. */
export function assignment(name, addresses, port, zone = 'z0') {
  return anyOf(TYPE_URLS.endpoint, {
    cluster_name: name,
    endpoints: [{ locality: { region: 'r', zone }, lb_endpoints: addresses.map((address) => ({ endpoint: { address: { socket_address: { address, port_value: port } } }, load_balancing_weight: 1 })) }],
  });
}

/**
 * A listener on HOST:port whose connection manager takes its routes over RDS (`routeName`), with what
 * istiod sets on every connection manager (stream idle timeout off, path normalization, websocket).
 */
export function httpListener(port, routeName, hcmExtra = {}) {
  const hcm = {
    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: `outbound_${HOST}_${port}`,
    rds: { config_source: ADS, route_config_name: routeName },
    http_filters: [ROUTER],
    stream_idle_timeout: '0s',
    normalize_path: true,
    path_with_escaped_slashes_action: 'KEEP_UNCHANGED',
    upgrade_configs: [{ upgrade_type: 'websocket' }],
    ...hcmExtra,
  };
  return anyOf(TYPE_URLS.listener, { name: `${HOST}_${port}`, address: { socket_address: { address: HOST, port_value: port } }, traffic_direction: 'OUTBOUND', filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }] });
}

/** A route configuration with one virtual host per entry: {name, domains, cluster}. */
export function routeConfiguration(name, hosts) {
  return anyOf(TYPE_URLS.route, {
    name,
    virtual_hosts: hosts.map((h) => ({ name: h.name, domains: h.domains, routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: h.cluster, timeout: '0s', max_stream_duration: { max_stream_duration: '0s', grpc_timeout_header_max: '0s' }, retry_policy: { retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes', num_retries: 2 } } }] })),
    validate_clusters: false,
  });
}

/** Resources by type URL, then by name. */
export function resourceSet({ clusters = [], endpoints = [], listeners = [], routes = [] }) {
  return new Map([[TYPE_URLS.cluster, new Map(clusters)], [TYPE_URLS.endpoint, new Map(endpoints)], [TYPE_URLS.route, new Map(routes)], [TYPE_URLS.listener, new Map(listeners)]]);
}

/** A delta ADS server: wildcard CDS/LDS get everything, EDS/RDS what the proxy subscribed to; `acks` sees every ACK/NACK. */
export class DeltaAds {
  constructor(resources) { this.resources = resources; this.streams = new Set(); this.nonce = 0; this.acks = []; this.waiters = []; }
  onStream(call) {
    const st = { call, subs: new Map(), sent: new Map() };
    this.streams.add(st);
    call.on('data', (req) => {
      if (req.response_nonce) { this.acks.push({ typeUrl: req.type_url, nonce: req.response_nonce, error: req.error_detail?.message, at: performance.now() }); for (const w of this.waiters.splice(0)) w(); }
      const wild = req.type_url === TYPE_URLS.cluster || req.type_url === TYPE_URLS.listener;
      let subs = st.subs.get(req.type_url);
      if (!subs) st.subs.set(req.type_url, (subs = wild ? '*' : new Set()));
      if (subs !== '*') { for (const n of req.resource_names_subscribe ?? []) subs.add(n); for (const n of req.resource_names_unsubscribe ?? []) subs.delete(n); }
      if (!req.response_nonce || req.resource_names_subscribe?.length) this.send(st, req.type_url);
    });
    call.on('error', () => {});
    call.on('end', () => { this.streams.delete(st); call.end(); });
  }
  /** Sends what the stream wants of a type and has not got (all of it again after `set`). */
  send(st, typeUrl) {
    const subs = st.subs.get(typeUrl);
    if (!subs) return undefined;
    const sent = st.sent.get(typeUrl) ?? new Map();
    st.sent.set(typeUrl, sent);
    const resources = [];
    for (const [name, resource] of this.resources.get(typeUrl) ?? []) {
      if (subs !== '*' && !subs.has(name)) continue;
      if (sent.get(name) === resource) continue;
      sent.set(name, resource);
      resources.push({ name, version: String(this.nonce + 1), resource });
    }
    const removed = [...sent.keys()].filter((n) => !this.resources.get(typeUrl)?.has(n));
    for (const n of removed) sent.delete(n);
    if (!resources.length && !removed.length && subs !== '*') return undefined;
    const nonce = String(++this.nonce);
    st.call.write({ type_url: typeUrl, resources, removed_resources: removed, nonce, system_version_info: nonce });
    return nonce;
  }
  push(resources) {
    this.resources = resources;
    const nonces = [];
    for (const st of this.streams) for (const t of [TYPE_URLS.cluster, TYPE_URLS.endpoint, TYPE_URLS.listener, TYPE_URLS.route]) { const n = this.send(st, t); if (n) nonces.push(n); }
    return nonces;
  }
  waitAck(pred, ms) {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no matching ACK in ${ms} ms`)), ms);
      const check = () => { const a = this.acks.find(pred); if (a) { clearTimeout(t); resolve(a); } else this.waiters.push(check); };
      check();
    });
  }
}


/** A delta ADS server on a unix socket in `dir`, serving `resources`. */
export async function startDeltaAds(dir, resources) {
  const ads = new DeltaAds(resources);
  const server = new grpc.Server();
  server.register(XDS_METHODS.delta, (call) => ads.onStream(call), deltaResponseCodec.serialize, deltaRequestCodec.deserialize, 'bidi');
  const socket = path.join(dir, 'XDS');
  await new Promise((r, j) => server.bindAsync(`unix:${socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? j(e) : r())));
  ads.socket = socket;
  ads.close = () => server.forceShutdown();
  return ads;
}

/**
 * An Envoy bootstrap as pilot-agent's (node, admin, delta ADS over the `xds-grpc` pipe, LDS/CDS over
 * ADS) written to `dir`/envoy-rev.json; returns its path. `mode`: sidecar or router (a gateway).
 */
export function writeBootstrap(dir, { adminPort, socket, mode = 'sidecar' }) {
  const bootstrap = {
    node: { id: `${mode}~10.0.0.1~bench-0.bench~bench.svc.cluster.local`, cluster: 'bench.bench', metadata: { NAMESPACE: 'bench', LABELS: { app: 'bench' } } },
    admin: { address: { socket_address: { address: HOST, port_value: adminPort } } },
    dynamic_resources: { ads_config: { api_type: 'DELTA_GRPC', transport_api_version: 'V3', set_node_on_first_message_only: true, grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] }, lds_config: ADS, cds_config: ADS },
    static_resources: { clusters: [{ name: 'xds-grpc', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'xds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: socket } } } }] }] }, typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } } }] },
  };
  const file = path.join(dir, 'envoy-rev.json');
  fs.writeFileSync(file, JSON.stringify(bootstrap));
  return file;
}
