#!/usr/bin/env node
// Outrigger HTTP/2 benchmark (`npm run bench:h2`; see bench/README.md): h2load with multiplexed
// h2c streams, direct to a node:http2 upstream and through the proxy (gateway, 1 worker, HTTP/2
// both sides: the service port is HTTP2), interleaved. Prints rps, the ratio, and the proxy's CPU
// µs per request (/proc/<pid>/stat). Loopback only; bounded; the children are killed on exit.
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROXY_NODE_FLAGS } from '../dist/cli/node-flags.js';
import { HOST, PROXY_PORTS, cpuSeconds, freePorts, gatewayMesh, helloWorld, numberFlag, scavengeTotals, scratch, serveUpstream, startGateway } from './harness.mjs';

const args = process.argv.slice(2);
const REQUESTS = numberFlag('--requests', 100_000);
const CLIENTS = numberFlag('--clients', 4);
const STREAMS = numberFlag('--streams', 32);
const ROUNDS = numberFlag('--rounds', 2);
/** --gc: the proxies run with --trace-gc-nvp; the report adds what their scavenges allocated and promoted per request. */
const GC = args.includes('--gc');
/** --h2-codec own|node|both: the downstream HTTP/2 codec (OUTRIGGER_HTTP2_CODEC; own is the proxy's default); both: one gateway each, interleaved. */
const CODECS = (() => {
  const i = args.indexOf('--h2-codec');
  const v = i >= 0 ? args[i + 1] : 'own';
  if (!['node', 'own', 'both'].includes(v)) throw new Error(`--h2-codec ${v}: node, own or both`);
  return v === 'both' ? ['own', 'node'] : [v];
})();
const log = (...m) => console.error(`[bench:h2 ${new Date().toISOString().slice(11, 19)}] ${m.join(' ')}`);

const { tmp, children } = scratch('outrigger-bench-h2-');

if (args[0] === '--role' && args[1] === 'upstream') {
  serveUpstream(http2.createServer({ settings: { maxConcurrentStreams: 1000 } }, helloWorld));
} else {
  main().catch((e) => { log(e.stack ?? e); process.exit(1); });
}

function h2load(port) {
  return new Promise((resolve, reject) => {
    execFile('h2load', ['-n', String(REQUESTS), '-c', String(CLIENTS), '-m', String(STREAMS), '-H', 'host: bench.example.com', `http://${HOST}:${port}/small`], { timeout: 300_000 }, (err, stdout) => {
      if (err && !stdout) return reject(err);
      const rps = Number(/finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(stdout)?.[1] ?? NaN);
      const ok = Number(/(\d+) succeeded/.exec(stdout)?.[1] ?? NaN);
      resolve({ rps, ok, raw: stdout });
    });
  });
}

async function main() {
  execFileSync('h2load', ['--version']);
  const up = spawn(process.execPath, [fileURLToPath(import.meta.url), '--role', 'upstream'], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(up);
  const upPort = await new Promise((resolve) => up.stdout.once('data', (d) => resolve(JSON.parse(String(d)).port)));
  const gateways = [];
  for (const codec of CODECS) {
    const dir = path.join(tmp, codec);
    fs.mkdirSync(dir);
    const [gw, ...proxyPorts] = await freePorts(1 + PROXY_PORTS);
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), gatewayMesh(upPort, 'HTTP2', [`{ port: { number: ${gw}, name: http, protocol: HTTP }, hosts: ["*"] }`]));
    const gcLog = path.join(dir, 'gc.log');
    const gcOptions = GC ? { nodeFlags: [...PROXY_NODE_FLAGS, '--trace-gc-nvp'], stdout: fs.openSync(gcLog, 'w') } : {};
    const { proxy } = await startGateway(dir, children, proxyPorts, { env: { OUTRIGGER_HTTP2_CODEC: codec }, ...gcOptions });
    gateways.push({ codec, gw, proxy, gcLog, gcFrom: 0, rps: [], cpu: 0, requests: 0 });
  }
  log(`warm-up; then ${ROUNDS} rounds of ${REQUESTS} requests, ${CLIENTS} connections x ${STREAMS} streams, codecs: ${CODECS.join(', ')}`);
  for (const g of gateways) await h2load(g.gw);
  if (GC) for (const g of gateways) g.gcFrom = fs.statSync(g.gcLog).size;
  const direct = [];
  for (let r = 0; r < ROUNDS; r++) {
    const d = await h2load(upPort);
    direct.push(d.rps);
    for (const g of gateways) {
      const c0 = cpuSeconds(g.proxy.pid);
      const p = await h2load(g.gw);
      g.cpu += cpuSeconds(g.proxy.pid) - c0;
      g.requests += p.ok;
      if (p.ok !== REQUESTS) log(`proxied round (${g.codec}): only ${p.ok} of ${REQUESTS} succeeded`);
      g.rps.push(p.rps);
      log(`round ${r + 1}: direct ${d.rps.toFixed(0)} rps, proxy (${g.codec} codec) ${p.rps.toFixed(0)} rps`);
    }
  }
  const avg = (a) => a.reduce((s, x) => s + x, 0) / a.length;
  console.log(`HTTP/2 (h2c) ${REQUESTS} requests x ${ROUNDS}, ${CLIENTS} connections x ${STREAMS} streams, 12-byte responses, loopback`);
  console.log(`  direct   ${avg(direct).toFixed(0).padStart(7)} rps`);
  for (const g of gateways) {
    console.log(`  proxy (${g.codec} HTTP/2 codec) ${avg(g.rps).toFixed(0).padStart(7)} rps   (${(avg(g.rps) / avg(direct) * 100).toFixed(0)}% of direct), CPU ${(g.cpu / g.requests * 1e6).toFixed(1)} µs per request`);
    if (GC) {
      const t = scavengeTotals(g.gcLog, g.gcFrom);
      console.log(`    GC: ${(t.allocated / g.requests / 1024).toFixed(1)} KiB allocated and ${(t.promoted / g.requests / 1024).toFixed(2)} KiB promoted per request (${((t.promoted / t.allocated) * 100).toFixed(1)} %), ${t.scavenges} scavenges, ${t.markCompacts} mark-compacts`);
    }
  }
  process.exit(0);
}
