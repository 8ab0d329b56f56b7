#!/usr/bin/env node
// Idle memory of the sidecar (issue 15): peerbench's single-proxy sidecar (bench/peerbench/sidecar.yaml,
// its two listeners moved to free ports) started as peerbench starts it, `outrigger run --workers N`
// (re-exec'd with the CLI's own node flags), left idle for --settle seconds after /healthz/ready (the
// heap shrinker collects once the first Snapshot is applied), then its VmRSS, split into anonymous
// memory (V8 heaps, malloc) and file pages (mostly the node binary's code and data it touched). Every run is a fresh
// process; runs of each build and worker count are interleaved so drift hits them alike; medians.
// Loopback only; bounded; children killed on exit.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HOST, PROXY_PORTS, ROOT, flagReader, freePorts, privateNode, scratch, sleep } from './harness.mjs';

const USAGE = `usage: node bench/idle-memory.mjs [--workers 1,2,3] [--runs R] [--settle S] [--base DIR]
  --workers LIST  worker counts to measure (default 1,2,3)
  --runs R        fresh processes per build and worker count (default 3); the median is reported
  --settle S      seconds idle after /healthz/ready before reading /proc (default 15)
  --base DIR      another built checkout (npm run build) to compare with`;
const usage = (code) => { console.error(USAGE); process.exit(code); };
const log = (...m) => console.error(`[bench:idle-memory ${new Date().toISOString().slice(11, 19)}] ${m.join(' ')}`);

const o = { workers: [1, 2, 3], runs: 3, settle: 15, base: undefined };
const f = flagReader(process.argv.slice(2), usage);
for (let a = f.next(); a !== undefined; a = f.next()) {
  if (a === '--workers') {
    o.workers = f.value().split(',').map(Number);
    if (o.workers.some((n) => !Number.isInteger(n) || n < 1 || n > 16)) usage(2);
  } else if (a === '--runs') o.runs = f.number(1, 20);
  else if (a === '--settle') o.settle = f.number(1, 300);
  else if (a === '--base') o.base = path.resolve(f.value());
  else if (a === '-h' || a === '--help') usage(0);
  else usage(2);
}

const { tmp, children } = scratch('outrigger-idle-');
// the proxy runs a copy of the node binary, as in a pod no other process maps the sidecar's (harness.mjs privateNode)
const NODE = privateNode(tmp);

/** VmRSS and its anonymous and file-backed parts, in MiB. */
function rss(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const mib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { rss: mib('VmRSS'), anon: mib('RssAnon'), file: mib('RssFile') };
}

async function idleSidecar(root, workers) {
  const [http, tcp, admin, outbound, inbound, health, stats] = await freePorts(2 + PROXY_PORTS);
  const config = path.join(tmp, `sidecar-${http}.yaml`);
  const peerbench = fs.readFileSync(path.join(ROOT, 'bench', 'peerbench', 'sidecar.yaml'), 'utf8');
  fs.writeFileSync(config, peerbench.replace('number: 16080', `number: ${http}`).replace('number: 16081', `number: ${tcp}`));
  const proxy = spawn(NODE, [path.join(root, 'bin', 'outrigger.js'), 'run', '--workers', String(workers), '-c', config,
    '--mode', 'sidecar', '--namespace', 'bench', '--no-watch', '--admin-port', String(admin), '--outbound-port', String(outbound),
    '--inbound-port', String(inbound), '--health-port', String(health), '--stats-port', String(stats)], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(proxy);
  let stderr = '';
  proxy.stderr.on('data', (d) => { stderr = (stderr + d).slice(-4000); });
  const deadline = performance.now() + 20_000;
  for (;;) {
    if (proxy.exitCode !== null || proxy.signalCode !== null) throw new Error(`proxy exited (${proxy.exitCode ?? proxy.signalCode}) before it was ready:\n${stderr}`);
    if (performance.now() > deadline) throw new Error('proxy not ready in 20 s');
    if (await fetch(`http://${HOST}:${health}/healthz/ready`).then((r) => r.ok, () => false)) break;
    await sleep(50);
  }
  await sleep(o.settle * 1000);
  const m = rss(proxy.pid);
  proxy.kill('SIGKILL');
  await new Promise((r) => (proxy.exitCode !== null || proxy.signalCode !== null ? r() : proxy.once('exit', r)));
  return m;
}

const builds = [['this', ROOT], ...(o.base ? [['base', o.base]] : [])];
const results = new Map();
for (let run = 0; run < o.runs; run++) {
  for (const workers of o.workers) {
    for (const [name, root] of builds) {
      const m = await idleSidecar(root, workers);
      log(`${name} workers=${workers} run ${run + 1}: RSS ${m.rss.toFixed(1)} MiB (anon ${m.anon.toFixed(1)}, file ${m.file.toFixed(1)})`);
      const key = `${name}\u0000${workers}`;
      results.set(key, [...(results.get(key) ?? []), m]);
    }
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`| build | workers | VmRSS MiB (median of ${o.runs}; all) | anon | file | per extra worker |`);
console.log('|---|---|---|---|---|---|');
for (const [name] of builds) {
  let previous;
  for (const workers of o.workers) {
    const ms = results.get(`${name}\u0000${workers}`);
    const med = median(ms.map((m) => m.rss));
    const step = previous === undefined ? '' : `+${(med - previous).toFixed(1)}`;
    console.log(`| ${name} | ${workers} | ${med.toFixed(1)} (${ms.map((m) => m.rss.toFixed(1)).join(', ')}) | ${median(ms.map((m) => m.anon)).toFixed(1)} | ${median(ms.map((m) => m.file)).toFixed(1)} | ${step} |`);
    previous = med;
  }
}
