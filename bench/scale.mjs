#!/usr/bin/env node
// A sidecar with a large mesh against the same sidecar with one service (`npm run bench:scale`; see
// bench/README.md). Generates, in a temp dir, --services Istio services (ServiceEntry, VirtualService
// and DestinationRule each, --endpoints endpoints each) around one service whose endpoints are a real
// local upstream, and a small config with that service alone. Measures, small against scale:
//   1. load + translate: files → Snapshot in-process, through the CLI's own config source (a child
//      process per config imports dist/ and has the proxy's node flags), cold and warm runs, split into read / parse / translate;
//      then the proxy's time from spawn to /healthz/ready;
//   2. the proxy's RSS (1 worker) idle after ready and after the load; three Prometheus scrapes (size, time);
//   3. the proxy's CPU time per request through the outbound port (the sidecar's HTTP proxy, routed
//      by Host among every service), autocannon runs interleaved small/scale; and, with valgrind and
//      h2load installed, instructions per request (bench/callgrind.mjs), the drift-free figure.
// Loopback only; every loop is bounded in count and time; children are killed on exit.
//
// The same file is also the upstream (`--role upstream`) and the in-process loader (`--role translate`).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import { stringify } from 'yaml';
import { callgrindAvailable, callgrindPrefix, instructionsPerRequest } from './callgrind.mjs';
import { PROXY_NODE_FLAGS } from '../dist/cli/node-flags.js';
import { HOST, PROXY_PORTS, ROOT, cpuSeconds, flagReader, freePorts, helloWorld, memoryMiB, privateNode, scratch, sleep, startOutrigger } from './harness.mjs';

const SELF = fileURLToPath(import.meta.url);
const BODY = 'hello world\n';
const USAGE = `usage: node bench/scale.mjs [--services N] [--endpoints E] [--loads R] [--starts S] [--reps N] [--duration S]
       [--connections C] [--requests N | --no-instructions] [--out FILE] [--keep]
  --services N      services in the scale config (1000)
  --endpoints E     endpoints per service (10)
  --loads R         in-process load + translate runs per config (7; the first is cold)
  --starts S        proxy starts per config, spawn to /healthz/ready (3)
  --reps N          interleaved small/scale autocannon runs per config (3)
  --duration S      seconds per autocannon run (5), after a 2 s warm-up per config
  --connections C   autocannon keep-alive connections (16)
  --requests N      requests counted under callgrind per config (3000, after 2000 not counted)
  --no-instructions skip the callgrind runs (they run when valgrind and h2load are installed)
  --keep            keep the temp dir (generated YAML)
JSON goes to --out or ${path.join(os.tmpdir(), 'outrigger-bench', 'scale.json')}`;
const log = (...m) => console.error(`[bench:scale ${new Date().toISOString().slice(11, 19)}] ${m.join(' ')}`);

const role = process.argv[2] === '--role' ? process.argv[3] : undefined;
if (role === 'upstream') serveUpstreams(Number(process.argv[4]));
else if (role === 'translate') translateRole(Number(process.argv[4]), process.argv.slice(5)).catch((e) => { console.error(e); process.exit(1); });
else main().catch((e) => { log(e.stack ?? e); process.exit(1); });

// ======================================================================== the mesh

/** Namespaces of 20 services each, as `svc-123.ns-7.svc.cluster.local`. */
const hostOf = (i, namespaces) => `svc-${i}.ns-${i % namespaces}.svc.cluster.local`;

/**
 * The kinds of service, by index: mostly HTTP on 80, some on 8080, gRPC, TCP (redis-like), and
 * HTTP with a second, TCP port.
 */
function portsOf(i) {
  switch (i % 10) {
    case 6: case 7: return [{ number: 9090, name: 'grpc', protocol: 'GRPC' }];
    case 8: return [{ number: 6379, name: 'tcp-redis', protocol: 'TCP' }];
    case 9: return [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 8080 }, { number: 9000, name: 'tcp-metrics', protocol: 'TCP' }];
    case 5: return [{ number: 8080, name: 'http-web', protocol: 'HTTP' }];
    default: return [{ number: 80, name: 'http', protocol: 'HTTP', targetPort: 8080 }];
  }
}

/** One service's three documents. `target`: its endpoints are `upstreamPorts` on 127.0.0.1. */
function serviceDocs(i, { namespaces, endpoints, upstreamPorts }) {
  const host = hostOf(i, namespaces);
  const ns = `ns-${i % namespaces}`;
  const target = upstreamPorts !== undefined;
  const ports = target ? [{ number: 80, name: 'http', protocol: 'HTTP' }] : portsOf(i);
  const eps = [];
  for (let k = 0; k < endpoints; k++) {
    const version = k < Math.ceil(endpoints * 0.7) ? 'v1' : 'v2';
    const labels = { app: `svc-${i}`, version };
    if (target) eps.push({ address: HOST, ports: { http: upstreamPorts[k % upstreamPorts.length] }, labels });
    else {
      const pod = 65536 + i * endpoints + k; // 10.1.0.0 onwards, one address per pod
      eps.push({ address: `10.${(pod >> 16) & 255}.${(pod >> 8) & 255}.${pod & 255}`, labels });
    }
  }
  const se = {
    hosts: [host],
    addresses: [`240.240.${(i >> 8) & 255}.${i & 255}`],
    location: 'MESH_INTERNAL',
    resolution: 'STATIC',
    ports,
    endpoints: eps,
  };
  const dest = (subset, port) => ({ host, subset, ...(ports.length > 1 ? { port: { number: port } } : {}) });
  const weighted = (port, v1) => [{ destination: dest('v1', port), weight: v1 }, { destination: dest('v2', port), weight: 100 - v1 }];
  const retries = { attempts: 3, perTryTimeout: '2s', retryOn: '5xx,reset,connect-failure,refused-stream' };
  const vs = { hosts: [host] };
  const http0 = ports.find((p) => p.protocol !== 'TCP');
  if (http0) {
    const p = http0.number;
    const grpc = http0.protocol === 'GRPC';
    const shape = target ? 1 : i % 4;
    if (shape === 0) vs.http = [{ route: [{ destination: dest('v1', p) }], timeout: '5s', retries }];
    else if (shape === 1) {
      vs.http = [
        { name: 'canary', match: [{ headers: { 'x-canary': { exact: 'true' } } }], route: [{ destination: dest('v2', p) }] },
        { name: 'api', match: [{ uri: { prefix: grpc ? `/svc${i}.v1.Api/` : '/api/' } }], route: [{ destination: dest('v1', p) }], timeout: '3s' },
        { name: 'default', route: weighted(p, 90), timeout: '5s', retries },
      ];
    } else if (shape === 2) {
      vs.http = [
        { match: [{ uri: { prefix: '/v2/' } }, { headers: { 'x-api-version': { exact: '2' } } }], route: [{ destination: dest('v2', p) }], retries: { attempts: 2, retryOn: 'gateway-error' } },
        { match: [{ uri: { regex: '/items/[0-9]+' } }], route: [{ destination: dest('v1', p) }], timeout: '1s' },
        { route: [{ destination: dest('v1', p) }] },
      ];
    } else vs.http = [{ route: weighted(p, 80), retries: { attempts: 2, perTryTimeout: '1s' } }];
  }
  const tcp0 = ports.find((p) => p.protocol === 'TCP');
  if (tcp0) vs.tcp = [{ match: [{ port: tcp0.number }], route: weighted(tcp0.number, 90) }];
  const dr = {
    host,
    trafficPolicy: {
      tls: { mode: target || i % 2 ? 'DISABLE' : 'ISTIO_MUTUAL' },
      connectionPool: { tcp: { maxConnections: 1024, connectTimeout: '2s' }, http: { http1MaxPendingRequests: 1024, http2MaxRequests: 1024, idleTimeout: '60s' } },
      outlierDetection: { consecutive5xxErrors: 5, interval: '10s', baseEjectionTime: '30s', maxEjectionPercent: 50 },
      ...(i % 3 === 0 ? { loadBalancer: { simple: 'ROUND_ROBIN' } } : {}),
    },
    subsets: [
      { name: 'v1', labels: { version: 'v1' } },
      { name: 'v2', labels: { version: 'v2' }, ...(i % 5 === 0 ? { trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } } : {}) },
    ],
  };
  // block style, as kubectl writes it
  const doc = (kind, spec) => stringify({ apiVersion: 'networking.istio.io/v1', kind, metadata: { name: `svc-${i}`, namespace: ns }, spec });
  return [doc('ServiceEntry', se), doc('VirtualService', vs), doc('DestinationRule', dr)];
}

/** The services `indices` of a mesh of `services` (the target's endpoints: `upstreamPorts`), one file per namespace; the target's host. */
function writeMesh(dir, { indices, services, endpoints, target, upstreamPorts }) {
  const namespaces = Math.max(1, Math.ceil(services / 20));
  const files = new Map();
  for (const i of indices) {
    const docs = serviceDocs(i, { namespaces, endpoints, ...(i === target ? { upstreamPorts } : {}) });
    const file = `ns-${i % namespaces}.yaml`;
    if (!files.has(file)) files.set(file, []);
    files.get(file).push(...docs);
  }
  fs.mkdirSync(dir);
  for (const [file, docs] of files) fs.writeFileSync(path.join(dir, file), docs.join('---\n'));
  return hostOf(target, namespaces);
}

// ======================================================================== roles

/** `n` hello-world servers on 127.0.0.1 (the target's endpoints); their ports as one JSON line. */
function serveUpstreams(n) {
  const servers = Array.from({ length: n }, () => http.createServer({ keepAliveTimeout: 300_000 }, helloWorld));
  let listening = 0;
  for (const s of servers) {
    s.listen(0, HOST, () => {
      if (++listening === n) process.stdout.write(`${JSON.stringify({ ports: servers.map((x) => x.address().port) })}\n`);
    });
  }
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

/**
 * `runs` loads of the config the proxy's command line `args` names, in this process, through the
 * CLI's file config source (what `outrigger run` does at start and on reload); each run also
 * timed phase by phase. One JSON line: the times in ms, the Snapshot's size, and the V8 heap the
 * Snapshot holds (needs --expose-gc).
 */
async function translateRole(runs, args) {
  const dist = (p) => import(pathToFileURL(path.join(ROOT, 'dist', p)).href);
  const [{ parseCommandLine }, { loadOptionsOf }, { fileConfigSource }, { readConfigDocuments }, { parseIstioConfig }, { translateIstio }] = await Promise.all([
    dist('cli/args.js'), dist('cli/lifecycle.js'), dist('agent/config-source.js'), dist('config/source.js'), dist('config/istio/parse.js'), dist('config/istio/translate.js'),
  ]);
  const opts = loadOptionsOf(parseCommandLine(args), parseCommandLine(args).configs);
  let source = fileConfigSource(opts); // loads after the first are reloads: compared with the Snapshot before
  const ms = (t0) => performance.now() - t0;
  // each phase alone; a function of its own, so that nothing it made outlives it
  async function phases() {
    let t0 = performance.now();
    const docs = await readConfigDocuments(opts.paths);
    const read = ms(t0);
    t0 = performance.now();
    const cfg = parseIstioConfig(docs, { defaultNamespace: opts.node.namespace });
    const parse = ms(t0);
    t0 = performance.now();
    translateIstio(cfg, opts.node, { ...opts, mtls: false, secrets: [] });
    return { read, parse, translate: ms(t0) };
  }
  const out = { total: [], read: [], parse: [], translate: [], clone: [] };
  let kept;
  for (let r = 0; r < runs; r++) {
    kept = undefined;
    const t0 = performance.now();
    kept = await source.initial();
    out.total.push(ms(t0));
    for (const [k, v] of Object.entries(await phases())) out[k].push(v);
    // what posting the Snapshot to a worker costs (structured clone: serialize + deserialize)
    const t1 = performance.now();
    const bytes = v8.serialize(kept.snapshot);
    v8.deserialize(bytes);
    out.clone.push(ms(t1));
    out.cloneBytes = bytes.length;
  }
  out.counts = countsOf(kept);
  out.warnings = kept.warnings.slice(0, 5);
  // what the Snapshot holds in the heap: the heap with it, less the heap without it
  globalThis.gc();
  const withSnapshot = process.memoryUsage().heapUsed;
  kept = undefined;
  source = undefined; // it holds the Snapshot it built last
  globalThis.gc();
  out.snapshotHeapMiB = (withSnapshot - process.memoryUsage().heapUsed) / 1048576;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

/** A translation's size: its Snapshot's listeners, route configurations, virtual hosts, clusters, endpoints, and its warnings. */
function countsOf({ snapshot: s, warnings }) {
  return {
    listeners: s.listeners.length,
    routeConfigs: s.routeConfigs.length,
    virtualHosts: s.routeConfigs.reduce((a, rc) => a + rc.virtualHosts.length, 0),
    clusters: s.clusters.length,
    endpoints: s.endpoints.reduce((a, cla) => a + cla.endpoints.reduce((b, l) => b + l.lbEndpoints.length, 0), 0),
    warnings: warnings.length,
  };
}

// ======================================================================== the bench

function options() {
  const o = { services: 1000, endpoints: 10, loads: 7, starts: 3, reps: 3, duration: 5, connections: 16, requests: 3000, instructions: true, out: undefined, keep: false };
  const f = flagReader(process.argv.slice(2), (code) => { (code ? console.error : console.log)(USAGE); process.exit(code); });
  for (let a = f.next(); a !== undefined; a = f.next()) {
    if (a === '--services') o.services = Math.round(f.number(1, 20_000));
    else if (a === '--endpoints') o.endpoints = Math.round(f.number(1, 100));
    else if (a === '--loads') o.loads = Math.round(f.number(1, 50));
    else if (a === '--starts') o.starts = Math.round(f.number(1, 20));
    else if (a === '--reps') o.reps = Math.round(f.number(1, 20));
    else if (a === '--duration') o.duration = f.number(1, 60);
    else if (a === '--connections') o.connections = Math.round(f.number(1, 1000));
    else if (a === '--requests') o.requests = Math.round(f.number(100, 1_000_000));
    else if (a === '--no-instructions') o.instructions = false;
    else if (a === '--out') o.out = path.resolve(f.value());
    else if (a === '--keep') o.keep = true;
    else if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
    else { console.error(`unknown flag ${a}\n${USAGE}`); process.exit(2); }
  }
  return o;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const round = (x, d = 1) => Math.round(x * 10 ** d) / 10 ** d;

/** Runs a child to its end within `seconds`; resolves with its stdout. */
function runChild(args, seconds) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), seconds * 1000);
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${args.join(' ')}: exit ${code ?? sig}`));
    });
  });
}

function get(port, host) {
  return new Promise((resolve) => {
    const req = http.get({ host: HOST, port, path: '/small', headers: { host }, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', (e) => resolve({ status: 0, body: String(e) }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

async function main() {
  const o = options();
  const { default: autocannon } = await import('autocannon');
  const { tmp, children } = scratch('outrigger-bench-scale-');
  const watchdog = setTimeout(() => { log('watchdog: the run took over 20 minutes, stopping'); process.exit(3); }, 20 * 60_000);
  watchdog.unref();

  // ------------------------------------------------------------------ upstream and configs
  const up = spawn(process.execPath, [SELF, '--role', 'upstream', String(o.endpoints)], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(up);
  const upstreamPorts = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('upstream not listening in 10 s')), 10_000);
    up.stdout.once('data', (d) => { clearTimeout(t); resolve(JSON.parse(String(d)).ports); });
  });
  const target = Math.floor(o.services / 2);
  const configs = {};
  for (const [name, indices] of [['small', [target]], ['scale', Array.from({ length: o.services }, (_, i) => i)]]) {
    const dir = path.join(tmp, name);
    const host = writeMesh(dir, { indices, services: o.services, endpoints: o.endpoints, target, upstreamPorts });
    configs[name] = { name, dir, host };
  }
  if (o.keep) {
    fs.cpSync(tmp, `${tmp}-kept`, { recursive: true });
    log(`the generated YAML is kept in ${tmp}-kept`);
  }
  log(`${o.services} services x ${o.endpoints} endpoints; target ${configs.scale.host} -> 127.0.0.1:${upstreamPorts.join(',')}`);

  // the proxies' ports: their own five each (the outbound one is what requests go through)
  const ports = await freePorts(2 * PROXY_PORTS);
  configs.small.ports = ports.slice(0, PROXY_PORTS);
  configs.scale.ports = ports.slice(PROXY_PORTS);
  // a sidecar in namespace default; an IP no endpoint has, so no service is inbound
  const identity = ['--mode', 'sidecar', '--namespace', 'default', '--ip', '192.0.2.10', '--log-level', 'warning'];
  const runArgs = (c) => ['run', '-c', c.dir, ...identity, '--workers', '1', '--no-watch', '--admin-port', String(c.ports[0]), '--stats-port', String(c.ports[1]),
    '--health-port', String(c.ports[2]), '--outbound-port', String(c.ports[3]), '--inbound-port', String(c.ports[4])];

  // ------------------------------------------------------------------ 1. load + translate
  const loads = {};
  for (const c of Object.values(configs)) {
    log(`${c.name}: ${o.loads} in-process loads`);
    loads[c.name] = JSON.parse(await runChild([...PROXY_NODE_FLAGS, '--expose-gc', SELF, '--role', 'translate', String(o.loads), ...runArgs(c)], 120 + o.loads * 20));
    const l = loads[c.name];
    log(`  cold ${round(l.total[0])} ms, warm median ${round(median(l.total.slice(1)))} ms; ${JSON.stringify(l.counts)}`);
    if (l.counts.warnings) log(`  warnings: ${l.warnings.join(' | ')}`);
  }

  // ------------------------------------------------------------------ spawn → ready
  // each proxy its own copy of node: both run at once, and RSS is each one's as in its own pod (harness.mjs privateNode)
  const nodes = { small: privateNode(tmp, 'node-small'), scale: privateNode(tmp, 'node-scale') };
  const ready = { small: [], scale: [] };
  const proxies = {};
  for (let s = 0; s < o.starts; s++) {
    for (const c of s % 2 ? [configs.scale, configs.small] : [configs.small, configs.scale]) {
      const { proxy, readyMs } = await startOutrigger(c.dir, children, c.ports, { args: identity, readySeconds: 60, node: nodes[c.name] });
      ready[c.name].push(readyMs);
      if (s < o.starts - 1) {
        proxy.kill('SIGKILL');
        await new Promise((r) => (proxy.exitCode !== null || proxy.signalCode !== null ? r() : proxy.once('exit', r)));
      } else proxies[c.name] = proxy;
    }
  }
  for (const c of Object.values(configs)) {
    const r = await get(c.ports[3], c.host);
    if (r.status !== 200 || r.body !== BODY) throw new Error(`${c.name}: GET /small with host ${c.host} through the outbound port: ${r.status} ${r.body.slice(0, 200)}`);
  }
  log(`spawn → ready: small ${ready.small.map((x) => Math.round(x)).join(', ')} ms; scale ${ready.scale.map((x) => Math.round(x)).join(', ')} ms`);

  // ------------------------------------------------------------------ 2. RSS idle
  await sleep(3000);
  const idle = Object.fromEntries(Object.keys(proxies).map((n) => [n, memoryMiB(proxies[n].pid)]));
  log(`RSS idle: small ${round(idle.small.rss)} MiB, scale ${round(idle.scale.rss)} MiB`);

  // ------------------------------------------------------------------ 2b. Prometheus scrapes
  // as Prometheus scrapes a sidecar (pilot-agent's stats inclusion list in force), three times each
  const scrapes = {};
  for (const c of Object.values(configs)) {
    const ms = [];
    let bytes = 0;
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const res = await fetch(`http://${HOST}:${c.ports[1]}/stats/prometheus`);
      bytes = (await res.arrayBuffer()).byteLength;
      ms.push(performance.now() - t);
      if (res.status !== 200) throw new Error(`${c.name}: /stats/prometheus ${res.status}`);
    }
    scrapes[c.name] = { bytes, ms, rssAfter: memoryMiB(proxies[c.name].pid).rss };
    log(`${c.name}: a scrape ${bytes} bytes, ${ms.map((x) => Math.round(x)).join(' / ')} ms; RSS after 3: ${round(scrapes[c.name].rssAfter)} MiB`);
  }

  // ------------------------------------------------------------------ 3. CPU per request
  async function run(c, seconds) {
    const pid = proxies[c.name].pid;
    const cpu0 = cpuSeconds(pid);
    const result = await new Promise((resolve, reject) => {
      const inst = autocannon({
        url: `http://${HOST}:${c.ports[3]}/small`, headers: { host: c.host }, connections: o.connections, duration: seconds, timeout: 10, expectBody: BODY,
      }, (err, res) => { clearTimeout(guard); if (err) reject(err); else resolve(res); });
      const guard = setTimeout(() => inst.stop(), (seconds + 20) * 1000);
    });
    const cpu = cpuSeconds(pid) - cpu0;
    const requests = result.requests.total;
    const failed = result.errors + result.timeouts + result.non2xx + result.mismatches;
    if (failed) throw new Error(`${c.name}: ${failed} failed requests (${JSON.stringify({ errors: result.errors, timeouts: result.timeouts, non2xx: result.non2xx, mismatches: result.mismatches })})`);
    return { requests, rps: result.requests.average, cpuS: cpu, usPerReq: (cpu * 1e6) / requests, p50Ms: result.latency.p50 };
  }
  log(`warm-up: 2 s per config`);
  for (const c of Object.values(configs)) await run(c, 2);
  const cpuRuns = { small: [], scale: [] };
  for (let r = 0; r < o.reps; r++) {
    for (const c of r % 2 ? [configs.scale, configs.small] : [configs.small, configs.scale]) {
      const x = await run(c, o.duration);
      cpuRuns[c.name].push(x);
      log(`  rep ${r + 1} ${c.name}: ${Math.round(x.rps)} rps, ${round(x.usPerReq)} µs CPU/request`);
    }
  }
  const loaded = Object.fromEntries(Object.keys(proxies).map((n) => [n, memoryMiB(proxies[n].pid)]));
  for (const p of Object.values(proxies)) p.kill('SIGKILL');

  // ------------------------------------------------------------------ instructions per request
  const instructions = {};
  if (o.instructions && callgrindAvailable()) {
    for (const c of Object.values(configs)) {
      log(`${c.name}: under callgrind, 2000 requests, then ${o.requests} counted`);
      const out = path.join(tmp, `callgrind-${c.name}`);
      const { proxy } = await startOutrigger(c.dir, children, c.ports, { args: identity, prefix: callgrindPrefix(out), readySeconds: 300 });
      instructions[c.name] = await instructionsPerRequest(proxy, out, { proto: 'h1', port: c.ports[3], n: o.requests, authority: c.host });
      log(`  ${Math.round(instructions[c.name])} instructions/request`);
    }
  } else log('instructions per request skipped (--no-instructions, or no valgrind/h2load)');

  // ------------------------------------------------------------------ report
  const sum = (name) => {
    const l = loads[name];
    const cpu = cpuRuns[name];
    return {
      loadColdMs: round(l.total[0]),
      loadWarmMs: round(median(l.total.length > 1 ? l.total.slice(1) : l.total)),
      readMs: round(median(l.read)), parseMs: round(median(l.parse)), translateMs: round(median(l.translate)),
      cloneMs: round(median(l.clone)), cloneMiB: round(l.cloneBytes / 1048576, 2), snapshotHeapMiB: round(l.snapshotHeapMiB, 1),
      readyMs: round(median(ready[name]), 0),
      scrapeKiB: round(scrapes[name].bytes / 1024, 1), scrapeMs: round(median(scrapes[name].ms)), rssAfterScrapesMiB: round(scrapes[name].rssAfter),
      rssIdleMiB: round(idle[name].rss), rssAfterLoadMiB: round(loaded[name].rss), rssPeakMiB: round(loaded[name].peak),
      cpuUsPerReq: round(median(cpu.map((x) => x.usPerReq))), rps: Math.round(median(cpu.map((x) => x.rps))),
      instructionsPerReq: instructions[name] ? Math.round(instructions[name]) : null,
      counts: l.counts,
    };
  };
  const small = sum('small');
  const scale = sum('scale');
  const verdicts = [
    ['load + translate (cold) ≤ 500 ms', scale.loadColdMs <= 500, `${scale.loadColdMs} ms`],
    ['load + translate (warm median) ≤ 500 ms', scale.loadWarmMs <= 500, `${scale.loadWarmMs} ms`],
    ['RSS idle ≤ small + 30 MiB', scale.rssIdleMiB - small.rssIdleMiB <= 30, `+${round(scale.rssIdleMiB - small.rssIdleMiB)} MiB`],
    ['CPU/request ≤ small × 1.10', scale.cpuUsPerReq <= small.cpuUsPerReq * 1.1, `× ${round(scale.cpuUsPerReq / small.cpuUsPerReq, 3)}`],
    ...(small.instructionsPerReq ? [['instructions/request ≤ small × 1.10', scale.instructionsPerReq <= small.instructionsPerReq * 1.1, `× ${round(scale.instructionsPerReq / small.instructionsPerReq, 3)}`]] : []),
  ];
  const row = (label, f) => `| ${label} | ${f(small)} | ${f(scale)} |`;
  const counts = (s) => `${s.counts.clusters} clusters, ${s.counts.endpoints} endpoints, ${s.counts.virtualHosts} virtual hosts, ${s.counts.listeners} listeners`;
  console.log([
    '',
    `Outrigger at scale: ${o.services} services x ${o.endpoints} endpoints against 1, sidecar, 1 worker; node ${process.version}, ${os.cpus().length} CPUs`,
    '',
    '| | small | scale |',
    '|---|---:|---:|',
    row('Snapshot', counts),
    row('load + translate, cold / warm median (ms)', (s) => `${s.loadColdMs} / ${s.loadWarmMs}`),
    row('  read / parse / translate (ms, median)', (s) => `${s.readMs} / ${s.parseMs} / ${s.translateMs}`),
    row('  Snapshot structured clone (ms), size (MiB)', (s) => `${s.cloneMs}, ${s.cloneMiB}`),
    row('  Snapshot held in the V8 heap, agent side (MiB)', (s) => s.snapshotHeapMiB),
    row('spawn → /healthz/ready (ms, median)', (s) => s.readyMs),
    row('RSS idle / after the load / peak (MiB)', (s) => `${s.rssIdleMiB} / ${s.rssAfterLoadMiB} / ${s.rssPeakMiB}`),
    row('Prometheus scrape: size (KiB), time (ms, median of 3); RSS after (MiB)', (s) => `${s.scrapeKiB}, ${s.scrapeMs}; ${s.rssAfterScrapesMiB}`),
    row(`proxy CPU µs/request (median of ${o.reps})`, (s) => s.cpuUsPerReq),
    row('rps (median)', (s) => s.rps),
    ...(small.instructionsPerReq ? [row('instructions/request (callgrind)', (s) => s.instructionsPerReq)] : []),
    '',
    '| target | met | measured |',
    '|---|---|---:|',
    ...verdicts.map(([what, ok, v]) => `| ${what} | ${ok ? 'yes' : '**no**'} | ${v} |`),
  ].join('\n'));
  const outFile = o.out ?? path.join(os.tmpdir(), 'outrigger-bench', 'scale.json');
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, `${JSON.stringify({ bench: 'outrigger-scale', when: new Date().toISOString(), settings: o, small, scale, loads, ready, scrapes, cpuRuns, instructions, verdicts }, null, 2)}\n`);
  console.log(`\nJSON: ${outFile}`);
  process.exit(0);
}
