#!/usr/bin/env node
// CPU instructions per request through the proxy, counted by valgrind's callgrind (see
// bench/README.md): the A/B measure for a change smaller than these VMs' drift. The count does not
// depend on how fast the machine runs at that moment, so two builds measured minutes apart compare.
// For each build (this checkout, and --base if given) and protocol: the gateway (1 worker) runs
// under callgrind with instrumentation off, gets a warm-up, then instrumentation is switched on for
// exactly --requests requests (h2load) and off again. Loopback only; bounded; children killed on exit.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROXY_NODE_FLAGS } from '../dist/cli/node-flags.js';
import { HOST, PROXY_PORTS, ROOT, flagReader, freePorts, gatewayMesh, helloWorld, scratch, serveUpstream, startGateway, tracingMeshYaml } from './harness.mjs';
import { callgrindPrefix, instructionsPerRequest } from './callgrind.mjs';
import { assignment, edsCluster, httpListener, resourceSet, routeConfiguration, startDeltaAds, writeBootstrap } from './xds-fixture.mjs';

const USAGE = `usage: node bench/instructions.mjs [--base DIR | --front yaml|xds|both | --h2-codec node|own|both] [--proto h1|h2|both] [--requests N] [--runs R]
  --base DIR     another built checkout (npm run build) to compare with, e.g. a git worktree at an older commit
  --front        how this checkout's gateway gets its config: Istio YAML (default), an Envoy bootstrap fed
                 over delta ADS (xds: the same listener, route, cluster and endpoint), or both, compared
  --h2-codec     own, node or both (OUTRIGGER_HTTP2_CODEC; own is the proxy's default): compares the two HTTP/2 codecs
  --proto        h1 (HTTP/1.1, 16 connections), h2 (h2c, 16 connections x 10 streams) or both (default)
  --requests N   requests counted per run (default 3000), after 2000 not counted
  --runs R       runs per build and protocol (default 2; runs of one build agree to ~1 %)
  --node-flags "F ..."       node/V8 flags of this checkout's proxy (default: the ones the CLI sets itself,
                             dist/cli/node-flags.js; valgrind must see them: a re-exec would leave it)
  --base-node-flags "F ..."  the same for --base (give --base . and other flags to compare two settings)
  --tracing off|PERCENT      this checkout's gateway traced (YAML front end): off (enableTracing false), or
                             spans sampled at PERCENT to an OTLP/HTTP collector (the upstream); absent:
                             Istio's defaults (decisions only)
  --base-tracing off|PERCENT the same for --base
  --access-log text|json     this checkout's gateway logs every request (--access-log: Istio's text or
                             JSON format on its stdout, here /dev/null); absent: no access log
  --base-access-log text|json the same for --base
  --keep                     keep the temp dir (each run's callgrind.out, for callgrind_annotate)`;

function accessLogFlag(v) {
  if (v !== 'text' && v !== 'json') usage(2);
  return v;
}

function tracingFlag(v) {
  if (v !== 'off' && !(Number(v) >= 0 && Number(v) <= 100)) usage(2);
  return v;
}

const log = (...m) => console.error(`[bench:instructions ${new Date().toISOString().slice(11, 19)}] ${m.join(' ')}`);
const usage = (code) => { console.error(USAGE); process.exit(code); };

if (process.argv[2] === '--role' && process.argv[3] === 'upstream') {
  serveUpstream(http.createServer({ keepAliveTimeout: 300_000 }, helloWorld));
} else {
  main().catch((e) => { log(e.stack ?? e); process.exit(1); });
}

function options() {
  const o = { base: undefined, codecs: undefined, fronts: ['yaml'], protos: ['h1', 'h2'], requests: 3000, runs: 2, nodeFlags: PROXY_NODE_FLAGS, baseNodeFlags: PROXY_NODE_FLAGS, tracing: undefined, baseTracing: undefined, accessLog: undefined, baseAccessLog: undefined, keep: false };
  const f = flagReader(process.argv.slice(2), usage);
  for (let a = f.next(); a !== undefined; a = f.next()) {
    if (a === '--base') o.base = path.resolve(f.value());
    else if (a === '--front') {
      const v = f.value();
      if (!['yaml', 'xds', 'both'].includes(v)) usage(2);
      o.fronts = v === 'both' ? ['yaml', 'xds'] : [v];
    } else if (a === '--proto') {
      const p = f.value();
      if (!['h1', 'h2', 'both'].includes(p)) usage(2);
      o.protos = p === 'both' ? ['h1', 'h2'] : [p];
    } else if (a === '--h2-codec') {
      const v = f.value();
      if (!['node', 'own', 'both'].includes(v)) usage(2);
      o.codecs = v === 'both' ? ['node', 'own'] : [v];
    } else if (a === '--requests') o.requests = f.number(100, 1_000_000);
    else if (a === '--runs') o.runs = f.number(1, 20);
    else if (a === '--node-flags') o.nodeFlags = f.value().split(/\s+/).filter(Boolean);
    else if (a === '--base-node-flags') o.baseNodeFlags = f.value().split(/\s+/).filter(Boolean);
    else if (a === '--tracing') o.tracing = tracingFlag(f.value());
    else if (a === '--keep') o.keep = true;
    else if (a === '--base-tracing') o.baseTracing = tracingFlag(f.value());
    else if (a === '--access-log') o.accessLog = accessLogFlag(f.value());
    else if (a === '--base-access-log') o.baseAccessLog = accessLogFlag(f.value());
    else if (a === '-h' || a === '--help') usage(0);
    else { console.error(`unknown flag ${a}`); usage(2); }
  }
  if ((o.base || o.codecs) && o.fronts.length > 1) usage(2);
  if (o.base && o.codecs) usage(2);
  if (o.base && !fs.existsSync(path.join(o.base, 'dist', 'cli', 'main.js'))) {
    console.error(`${o.base} has no build: run npm run build there`);
    process.exit(2);
  }
  return o;
}

/** The gateway of `front`: Istio YAML through `outrigger run`, or the same routing over xDS (`outrigger -c bootstrap`). */
async function startProxy(front, dir, children, upPort, root, prefix, nodeFlags, env, tracing, accessLog) {
  const [gw, ...proxyPorts] = await freePorts(1 + PROXY_PORTS);
  if (front === 'yaml') {
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), gatewayMesh(upPort, 'HTTP', [`{ port: { number: ${gw}, name: http, protocol: HTTP }, hosts: ["*"] }`]) + tracingMeshYaml(tracing, upPort, 'default'));
    const { proxy } = await startGateway(dir, children, proxyPorts, { root, prefix, readySeconds: 300, nodeFlags, env, extraArgs: accessLog ? ['--access-log', accessLog] : [] });
    return { proxy, gw };
  }
  const cluster = 'outbound|80||up.default.svc.cluster.local';
  const ads = await startDeltaAds(dir, resourceSet({
    clusters: [[cluster, edsCluster(cluster)]],
    endpoints: [[cluster, assignment(cluster, [HOST], upPort)]],
    routes: [['http.80', routeConfiguration('http.80', [{ name: 'all', domains: ['*'], cluster }])]],
    // a gateway's connection manager, as istiod sets it
    listeners: [[`${HOST}_${gw}`, httpListener(gw, 'http.80', { use_remote_address: true, forward_client_cert_details: 'SANITIZE_SET', set_current_client_cert_details: { subject: true, dns: true, uri: true } })]],
  }));
  children.push({ kill: () => ads.close() });
  const bootstrap = writeBootstrap(dir, { adminPort: proxyPorts[0], socket: ads.socket, mode: 'router' });
  const [cmd, ...rest] = [...prefix, process.execPath, ...nodeFlags];
  const proxy = spawn(cmd, [...rest, path.join(root, 'bin', 'outrigger.js'), '-c', bootstrap, '--concurrency', '1', '-l', 'warning'], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...env } });
  children.push(proxy);
  for (let i = 0; ; i++) {
    if (i > 3000) throw new Error('the xDS-fed proxy never served');
    if (await fetch(`http://${HOST}:${gw}/small`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return { proxy, gw };
}

async function measure(o, tmp, children, upPort, [name, root, front], proto, run) {
  const dir = path.join(tmp, `${name}-${front}-${proto}-${run}`);
  fs.mkdirSync(dir);
  const out = path.join(dir, 'callgrind.out');
  const env = name === 'own' || name === 'node' ? { OUTRIGGER_HTTP2_CODEC: name } : {};
  const { proxy, gw } = await startProxy(front, dir, children, upPort, root, callgrindPrefix(out), name === 'base' ? o.baseNodeFlags : o.nodeFlags, env, name === 'base' ? o.baseTracing : o.tracing, name === 'base' ? o.baseAccessLog : o.accessLog);
  return instructionsPerRequest(proxy, out, { proto, port: gw, n: o.requests });
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

async function main() {
  const o = options();
  execFileSync('h2load', ['--version']);
  execFileSync('valgrind', ['--version']);
  const { tmp, children } = scratch('outrigger-bench-instructions-', o.keep);
  const up = spawn(process.execPath, [fileURLToPath(import.meta.url), '--role', 'upstream'], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(up);
  const upPort = await new Promise((resolve) => up.stdout.once('data', (d) => resolve(JSON.parse(String(d)).port)));
  // what is compared: this checkout and --base, or this checkout's two front ends
  const builds = o.base ? [['this', ROOT, 'yaml'], ['base', o.base, 'yaml']] : o.codecs ? o.codecs.map((c) => [c, ROOT, 'yaml']) : o.fronts.map((front) => [front, ROOT, front]);
  const rows = [];
  for (const proto of o.protos) {
    const per = {};
    for (let run = 1; run <= o.runs; run++) {
      for (const [name, root, front] of builds) {
        const v = await measure(o, tmp, children, upPort, [name, root, front], proto, run);
        log(`${proto} ${name} run ${run}: ${Math.round(v)} instructions/request`);
        (per[name] ??= []).push(v);
      }
    }
    rows.push({ proto, per });
  }
  const [a, b] = builds.map(([n]) => n);
  console.log(`| protocol | ${builds.map(([n]) => `${n} (instructions/request)`).join(' | ')}${b ? ` | ${a}/${b} |` : ''}`);
  console.log(`|---|${builds.map(() => '---:').join('|')}|${b ? '---:|' : ''}`);
  for (const { proto, per } of rows) {
    const cells = builds.map(([n]) => `${Math.round(median(per[n]))} (${per[n].map(Math.round).join(', ')})`);
    const ratio = b ? ` | ${(median(per[a]) / median(per[b])).toFixed(3)} |` : '';
    console.log(`| ${proto} | ${cells.join(' | ')}${ratio}`);
  }
  process.exit(0);
}
