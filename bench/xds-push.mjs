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
import { HOST, ROOT, flagReader, freePorts, scratch, sleep } from './harness.mjs';
import { TYPE_URLS, assignment, edsCluster, httpListener, resourceSet, routeConfiguration, startDeltaAds, writeBootstrap } from './xds-fixture.mjs';

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

const clusterName = (i) => `outbound|80||svc-${i}.bench.svc.cluster.local`;

function mesh(n, upstreamPort, listenPort) {
  const clusters = [], endpoints = [], hosts = [];
  for (let i = 0; i < n; i++) {
    const name = clusterName(i);
    clusters.push([name, edsCluster(name)]);
    // every endpoint a different loopback address of the one upstream (bound on 0.0.0.0)
    const addresses = Array.from({ length: o.endpoints }, (_, e) => `127.${1 + (i >> 8) % 250}.${i & 255}.${1 + e}`);
    endpoints.push([name, assignment(name, addresses, upstreamPort, `z${i % 3}`)]);
    hosts.push({ name: `svc-${i}`, domains: [`svc-${i}.bench.svc.cluster.local`, `svc-${i}`], cluster: name });
  }
  return resourceSet({ clusters, endpoints, routes: [['80', routeConfiguration('80', hosts)]], listeners: [[`${HOST}_${listenPort}`, httpListener(listenPort, '80')]] });
}

function rssMiB(pid) {
  try { return Number(/^VmRSS:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024; } catch { return NaN; }
}

const { tmp, children } = scratch('outrigger-bench-xds-');
const upstream = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => { res.writeHead(200, { 'content-length': 3 }); res.end('ok\n'); });
await new Promise((r) => upstream.listen(0, '0.0.0.0', r));
const upPort = upstream.address().port;
const [admin, listenPort] = await freePorts(2);
const ads = await startDeltaAds(tmp, mesh(1, upPort, listenPort));
const bootstrapFile = writeBootstrap(tmp, { adminPort: admin, socket: ads.socket });
const proxy = spawn(process.execPath, [path.join(ROOT, 'bin', 'outrigger.js'), '-c', bootstrapFile, '--concurrency', String(o.workers), '-l', 'warning'], { stdio: ['ignore', 'ignore', 'inherit'] });
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
ads.close();
upstream.close();
process.exit(nacks.length ? 1 : 0);
