#!/usr/bin/env node
// A large xDS push, timed (`node bench/xds-push.mjs`; see bench/README.md): Outrigger started with
// Envoy's command line on a bootstrap whose ADS cluster is this script's delta ADS server (a unix
// socket), first fed one service, then --services services of --endpoints endpoints each in one
// push (CDS, then EDS for every cluster, then LDS and an RDS route configuration with a virtual host
// per service), as istiod would push a mesh that grew. Prints the time from the CDS push to the
// last ACK and to the first request answered through the last service, and the proxy's RSS before
// and after. Loopback only; bounded; the proxy is killed on exit.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { HOST, ROOT, flagReader, freePorts, scratch, sleep } from './harness.mjs';
import { fromProtoJson } from '../dist/config/envoy/proto/json.js';
import { encodeMessage, messageType, typeNameOfUrl } from '../dist/config/envoy/proto/registry.js';
import { XDS_METHODS, deltaRequestCodec, deltaResponseCodec } from '../dist/xds/messages.js';
import { TYPE_URLS } from '../dist/xds/resource-types.js';

const USAGE = 'usage: node bench/xds-push.mjs [--services N (1000)] [--endpoints M (10)] [--workers W (1)]';
const log = (...m) => console.error(`[bench:xds-push ${new Date().toISOString().slice(11, 19)}] ${m.join(' ')}`);
const o = { services: 1000, endpoints: 10, workers: 1 };
const f = flagReader(process.argv.slice(2), (code) => { console.error(USAGE); process.exit(code); });
for (let a = f.next(); a !== undefined; a = f.next()) {
  if (a === '--services') o.services = f.number(1, 100_000);
  else if (a === '--endpoints') o.endpoints = f.number(1, 1000);
  else if (a === '--workers') o.workers = f.number(1, 64);
  else { console.error(`unknown flag ${a}\n${USAGE}`); process.exit(2); }
}

const any = (typeUrl, json) => {
  const type = messageType(typeNameOfUrl(typeUrl));
  return { type_url: typeUrl, value: encodeMessage(type, fromProtoJson(type, json, { location: {} })) };
};
const clusterName = (i) => `outbound|80||svc-${i}.bench.svc.cluster.local`;
const routerFilter = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

function mesh(n, upstreamPort, listenPort) {
  const clusters = [], endpoints = [], hosts = [];
  for (let i = 0; i < n; i++) {
    const name = clusterName(i);
    clusters.push([name, any(TYPE_URLS.cluster, { name, type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' }, service_name: name }, connect_timeout: '1s', lb_policy: 'LEAST_REQUEST' })]);
    // every endpoint a different loopback address of the one upstream (bound on 0.0.0.0)
    const lb = Array.from({ length: o.endpoints }, (_, e) => ({ endpoint: { address: { socket_address: { address: `127.${1 + (i >> 8) % 250}.${i & 255}.${1 + e}`, port_value: upstreamPort } } }, load_balancing_weight: 1 }));
    endpoints.push([name, any(TYPE_URLS.endpoint, { cluster_name: name, endpoints: [{ locality: { region: 'r', zone: `z${i % 3}` }, lb_endpoints: lb }] })]);
    hosts.push({ name: `svc-${i}`, domains: [`svc-${i}.bench.svc.cluster.local`, `svc-${i}`], routes: [{ name: 'default', match: { prefix: '/' }, route: { cluster: name, timeout: '0s', max_stream_duration: { max_stream_duration: '0s', grpc_timeout_header_max: '0s' }, retry_policy: { retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes', num_retries: 2 } } }] });
  }
  const routes = [['80', any(TYPE_URLS.route, { name: '80', virtual_hosts: hosts, validate_clusters: false })]];
  const hcm = { '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', stat_prefix: 'outbound_0.0.0.0_80', rds: { config_source: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' }, route_config_name: '80' }, http_filters: [routerFilter] };
  const listeners = [[`127.0.0.1_${listenPort}`, any(TYPE_URLS.listener, { name: `127.0.0.1_${listenPort}`, address: { socket_address: { address: HOST, port_value: listenPort } }, traffic_direction: 'OUTBOUND', filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }] }] })]];
  return new Map([[TYPE_URLS.cluster, new Map(clusters)], [TYPE_URLS.endpoint, new Map(endpoints)], [TYPE_URLS.route, new Map(routes)], [TYPE_URLS.listener, new Map(listeners)]]);
}

/** A delta ADS server: wildcard CDS/LDS get everything, EDS/RDS what the proxy subscribed to; `acks` sees every ACK/NACK. */
class DeltaAds {
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

function rssMiB(pid) {
  try { return Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024; } catch { return NaN; }
}

const { tmp, children } = scratch('outrigger-bench-xds-');
const upstream = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => { res.writeHead(200, { 'content-length': 3 }); res.end('ok\n'); });
await new Promise((r) => upstream.listen(0, '0.0.0.0', r));
const upPort = upstream.address().port;
const [admin, listenPort] = await freePorts(2);
const ads = new DeltaAds(mesh(1, upPort, listenPort));
const server = new grpc.Server();
server.register(XDS_METHODS.delta, (call) => ads.onStream(call), deltaResponseCodec.serialize, deltaRequestCodec.deserialize, 'bidi');
const sock = path.join(tmp, 'XDS');
await new Promise((r, j) => server.bindAsync(`unix:${sock}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? j(e) : r())));
const bootstrap = {
  node: { id: `sidecar~10.0.0.1~bench-0.bench~bench.svc.cluster.local`, cluster: 'bench.bench', metadata: { NAMESPACE: 'bench', LABELS: { app: 'bench' } } },
  admin: { address: { socket_address: { address: HOST, port_value: admin } } },
  dynamic_resources: { ads_config: { api_type: 'DELTA_GRPC', transport_api_version: 'V3', set_node_on_first_message_only: true, grpc_services: [{ envoy_grpc: { cluster_name: 'xds-grpc' } }] }, lds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' }, cds_config: { ads: {}, initial_fetch_timeout: '0s', resource_api_version: 'V3' } },
  static_resources: { clusters: [{ name: 'xds-grpc', type: 'STATIC', connect_timeout: '1s', load_assignment: { cluster_name: 'xds-grpc', endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: sock } } } }] }] }, typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } } }] },
};
fs.writeFileSync(path.join(tmp, 'envoy-rev.json'), JSON.stringify(bootstrap));
const proxy = spawn(process.execPath, [path.join(ROOT, 'bin', 'outrigger.js'), '-c', path.join(tmp, 'envoy-rev.json'), '--concurrency', String(o.workers), '-l', 'warning'], { stdio: ['ignore', 'ignore', 'inherit'] });
children.push(proxy);

const get = (host) => new Promise((resolve) => {
  const req = http.get({ host: HOST, port: listenPort, path: '/', headers: { host }, agent: false, timeout: 2000 }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
  req.on('error', () => resolve(0));
});
for (let i = 0; (await get('svc-0')) !== 200; i++) {
  if (i > 300) { log('the proxy never served the first service'); process.exit(1); }
  await sleep(100);
}
await sleep(2000);
const before = rssMiB(proxy.pid);
log(`serving 1 service; RSS ${before.toFixed(1)} MiB; pushing ${o.services} services x ${o.endpoints} endpoints`);
const t0 = performance.now();
const acksBefore = ads.acks.length;
ads.push(mesh(o.services, upPort, listenPort));
const last = `svc-${o.services - 1}`;
await ads.waitAck((a, i) => a.typeUrl === TYPE_URLS.route && ads.acks.indexOf(a) >= acksBefore, 120_000);
const acked = performance.now() - t0;
let served;
for (let i = 0; ; i++) {
  if ((await get(last)) === 200) { served = performance.now() - t0; break; }
  if (i > 1200) { log('the last service never answered'); process.exit(1); }
  await sleep(25);
}
const nacks = ads.acks.slice(acksBefore).filter((a) => a.error);
await sleep(3000);
const after = rssMiB(proxy.pid);
console.log(`| services x endpoints | push → last ACK (RDS) | push → last service answers | NACKs | RSS before | RSS after |`);
console.log(`|---|---:|---:|---:|---:|---:|`);
console.log(`| ${o.services} x ${o.endpoints} | ${(acked / 1000).toFixed(2)} s | ${(served / 1000).toFixed(2)} s | ${nacks.length} | ${before.toFixed(1)} MiB | ${after.toFixed(1)} MiB |`);
for (const n of nacks) log(`NACK ${n.typeUrl}: ${n.error}`);
server.forceShutdown();
upstream.close();
process.exit(nacks.length ? 1 : 0);
