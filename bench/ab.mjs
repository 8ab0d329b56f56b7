#!/usr/bin/env node
// Two builds of Outrigger side by side (`node bench/ab.mjs --base ../wt-base`; see bench/README.md):
// both gateways run at once on the same core, and every round loads both at the same moment (one
// h2load each), so a change in the machine's speed during the run hits both alike. Per round it
// prints each proxy's CPU µs per request (/proc/<pid>/stat) and their ratio; at the end the mean and
// median ratio. For A/B figures on these VMs, whose speed drifts ±20 % within minutes: sequential
// runs (npm run bench, peerbench) compare only what ran minutes apart. Loopback only; bounded.
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST, PROXY_PORTS, ROOT, flagReader, freePorts, gatewayMesh, helloWorld, scratch, serveUpstream, startGateway } from './harness.mjs';

const USAGE = `usage: node bench/ab.mjs --base DIR [--proto h1|h2] [--rounds N] [--seconds S] [--proxy-cpu C] [--load-cpu C]
  --base DIR      another checkout, built (npx tsc), e.g. a git worktree at the commit to compare with
  --proto         h1 (HTTP/1.1, 32 connections) or h2 (h2c, 8 connections x 10 streams); default h1
  --rounds N      measured rounds (default 8), after one warm-up round; --seconds S each (default 8)
  --proxy-cpu C   the CPU both proxies share (default 1); --load-cpu C: h2load and the upstream (default 0)`;

const log = (...m) => console.error(`[bench:ab ${new Date().toISOString().slice(11, 19)}] ${m.join(' ')}`);
const usage = (code) => { console.error(USAGE); process.exit(code); };
const CLK_TCK = (() => { try { return +execFileSync('getconf', ['CLK_TCK']).toString().trim() || 100; } catch { return 100; } })();

if (process.argv[2] === '--role' && process.argv[3] === 'upstream') {
  serveUpstream(http.createServer({ keepAliveTimeout: 120_000 }, helloWorld));
} else {
  main().catch((e) => { log(e.stack ?? e); process.exit(1); });
}

function options() {
  const o = { base: undefined, proto: 'h1', rounds: 8, seconds: 8, proxyCpu: 1, loadCpu: 0 };
  const f = flagReader(process.argv.slice(2), usage);
  for (let a = f.next(); a !== undefined; a = f.next()) {
    if (a === '--base') o.base = path.resolve(f.value());
    else if (a === '--proto') o.proto = f.value();
    else if (a === '--rounds') o.rounds = f.number(1, 100);
    else if (a === '--seconds') o.seconds = f.number(1, 120);
    else if (a === '--proxy-cpu') o.proxyCpu = f.number(0, 1023);
    else if (a === '--load-cpu') o.loadCpu = f.number(0, 1023);
    else if (a === '-h' || a === '--help') usage(0);
    else { console.error(`unknown flag ${a}`); usage(2); }
  }
  if (!o.base || (o.proto !== 'h1' && o.proto !== 'h2')) usage(2);
  if (!fs.existsSync(path.join(o.base, 'dist', 'cli', 'main.js'))) {
    console.error(`${o.base} has no build: run npx tsc -p tsconfig.json there`);
    process.exit(2);
  }
  return o;
}

function cpuSeconds(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const parts = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(parts[11]) + Number(parts[12])) / CLK_TCK;
}

/** One h2load run against `port`: the requests that succeeded, and the failed ones. */
function load(o, port) {
  const shape = o.proto === 'h1' ? ['--h1', '-c32'] : ['-c8', '-m10'];
  const args = ['-c', String(o.loadCpu), 'h2load', ...shape, '-D', String(o.seconds), `http://${HOST}:${port}/small`];
  return new Promise((resolve, reject) => {
    execFile('taskset', args, { timeout: (o.seconds + 30) * 1000 }, (err, stdout) => {
      const m = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout ?? '');
      if (!m) return reject(err ?? new Error(`unreadable h2load output: ${stdout}`));
      resolve({ ok: Number(m[1]), failed: Number(m[2]) + Number(m[3]) });
    });
  });
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

async function main() {
  const o = options();
  execFileSync('h2load', ['--version']);
  const { tmp, children } = scratch('outrigger-bench-ab-');
  const up = spawn('taskset', ['-c', String(o.loadCpu), process.execPath, fileURLToPath(import.meta.url), '--role', 'upstream'], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(up);
  const upPort = await new Promise((resolve) => up.stdout.once('data', (d) => resolve(JSON.parse(String(d)).port)));
  const targets = [];
  for (const [name, root] of [['this', ROOT], ['base', o.base]]) {
    const [gw, ...proxyPorts] = await freePorts(1 + PROXY_PORTS);
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'mesh.yaml'), gatewayMesh(upPort, 'HTTP', [`{ port: { number: ${gw}, name: http, protocol: HTTP }, hosts: ["*"] }`]));
    const { proxy } = await startGateway(dir, children, proxyPorts, { root, prefix: ['taskset', '-c', String(o.proxyCpu)] });
    targets.push({ name, root, port: gw, pid: proxy.pid });
  }
  log(`${o.proto}: this checkout (${ROOT}) and base (${o.base}) on CPU ${o.proxyCpu}, loaded together for ${o.rounds} x ${o.seconds} s`);
  await Promise.all(targets.map((t) => load({ ...o, seconds: 3 }, t.port)));
  const ratios = [];
  let failed = 0;
  console.log('| round | this µs/req | base µs/req | this/base |\n|---:|---:|---:|---:|');
  for (let r = 1; r <= o.rounds; r++) {
    const before = targets.map((t) => cpuSeconds(t.pid));
    const results = await Promise.all(targets.map((t) => load(o, t.port)));
    const us = targets.map((t, i) => ((cpuSeconds(t.pid) - before[i]) * 1e6) / results[i].ok);
    failed += results[0].failed + results[1].failed;
    ratios.push(us[0] / us[1]);
    console.log(`| ${r} | ${us[0].toFixed(1)} | ${us[1].toFixed(1)} | ${(us[0] / us[1]).toFixed(3)} |`);
  }
  const mean = ratios.reduce((a, b) => a + b, 0) / ratios.length;
  console.log(`\nthis/base CPU per request: mean ${mean.toFixed(3)}, median ${median(ratios).toFixed(3)}, range ${Math.min(...ratios).toFixed(3)}-${Math.max(...ratios).toFixed(3)} (${o.rounds} rounds)`);
  if (failed) {
    console.log(`*** FAIL: ${failed} requests failed`);
    process.exit(1);
  }
  process.exit(0);
}
