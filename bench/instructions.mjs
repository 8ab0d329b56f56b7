#!/usr/bin/env node
// CPU instructions per request through the proxy, counted by valgrind's callgrind (see
// bench/README.md): the A/B measure for a change smaller than these VMs' drift. The count does not
// depend on how fast the machine runs at that moment, so two builds measured minutes apart compare.
// For each build (this checkout, and --base if given) and protocol: the gateway (1 worker) runs
// under callgrind with instrumentation off, gets a warm-up, then instrumentation is switched on for
// exactly --requests requests (h2load) and off again. Loopback only; bounded; children killed on exit.
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST, PROXY_PORTS, ROOT, flagReader, freePorts, gatewayMesh, helloWorld, scratch, serveUpstream, startGateway } from './harness.mjs';

const USAGE = `usage: node bench/instructions.mjs [--base DIR] [--proto h1|h2|both] [--requests N] [--runs R]
  --base DIR     another built checkout (npx tsc) to compare with, e.g. a git worktree at an older commit
  --proto        h1 (HTTP/1.1, 16 connections), h2 (h2c, 16 connections x 10 streams) or both (default)
  --requests N   requests counted per run (default 3000), after 2000 not counted
  --runs R       runs per build and protocol (default 2; runs of one build agree to ~1 %)`;

const log = (...m) => console.error(`[bench:instructions ${new Date().toISOString().slice(11, 19)}] ${m.join(' ')}`);
const usage = (code) => { console.error(USAGE); process.exit(code); };

if (process.argv[2] === '--role' && process.argv[3] === 'upstream') {
  serveUpstream(http.createServer({ keepAliveTimeout: 300_000 }, helloWorld));
} else {
  main().catch((e) => { log(e.stack ?? e); process.exit(1); });
}

function options() {
  const o = { base: undefined, protos: ['h1', 'h2'], requests: 3000, runs: 2 };
  const f = flagReader(process.argv.slice(2), usage);
  for (let a = f.next(); a !== undefined; a = f.next()) {
    if (a === '--base') o.base = path.resolve(f.value());
    else if (a === '--proto') {
      const p = f.value();
      if (!['h1', 'h2', 'both'].includes(p)) usage(2);
      o.protos = p === 'both' ? ['h1', 'h2'] : [p];
    } else if (a === '--requests') o.requests = f.number(100, 1_000_000);
    else if (a === '--runs') o.runs = f.number(1, 20);
    else if (a === '-h' || a === '--help') usage(0);
    else { console.error(`unknown flag ${a}`); usage(2); }
  }
  if (o.base && !fs.existsSync(path.join(o.base, 'dist', 'cli', 'main.js'))) {
    console.error(`${o.base} has no build: run npx tsc -p tsconfig.json there`);
    process.exit(2);
  }
  return o;
}

function h2load(proto, port, n) {
  const shape = proto === 'h1' ? ['--h1', '-c16'] : ['-c16', '-m10'];
  return new Promise((resolve, reject) => {
    execFile('h2load', [...shape, '-n', String(n), `http://${HOST}:${port}/small`], { timeout: 600_000 }, (err, stdout) => {
      const m = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded/.exec(stdout ?? '');
      if (!m) return reject(err ?? new Error(`unreadable h2load output: ${stdout}`));
      if (Number(m[1]) !== n) return reject(new Error(`${n - Number(m[1])} of ${n} requests failed`));
      resolve();
    });
  });
}

/** Instructions callgrind counted, over every thread's part file of one run. */
function countedInstructions(outPrefix) {
  const dir = path.dirname(outPrefix);
  let total = 0;
  for (const f of fs.readdirSync(dir).filter((n) => n.startsWith(path.basename(outPrefix)))) {
    // totals: the costs in the dump (its summary line stays 0 when instrumentation was toggled)
    const m = /^totals: (\d+)/m.exec(fs.readFileSync(path.join(dir, f), 'utf8'));
    if (m) total += Number(m[1]);
  }
  return total;
}

async function measure(o, tmp, children, upPort, root, proto, run) {
  const [gw, ...proxyPorts] = await freePorts(1 + PROXY_PORTS);
  const dir = path.join(tmp, `${path.basename(root)}-${proto}-${run}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), gatewayMesh(upPort, 'HTTP', [`{ port: { number: ${gw}, name: http, protocol: HTTP }, hosts: ["*"] }`]));
  const out = path.join(dir, 'callgrind.out');
  const prefix = ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', `--callgrind-out-file=${out}.%p`];
  const { proxy } = await startGateway(dir, children, proxyPorts, { root, prefix, readySeconds: 300 });
  await h2load(proto, gw, 2000);
  execFileSync('callgrind_control', ['-i', 'on', String(proxy.pid)], { stdio: 'ignore' });
  await h2load(proto, gw, o.requests);
  execFileSync('callgrind_control', ['-i', 'off', String(proxy.pid)], { stdio: 'ignore' });
  execFileSync('callgrind_control', ['-d', String(proxy.pid)], { stdio: 'ignore' });
  proxy.kill('SIGKILL');
  await new Promise((r) => proxy.once('exit', r));
  return countedInstructions(`${out}.${proxy.pid}`) / o.requests;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

async function main() {
  const o = options();
  execFileSync('h2load', ['--version']);
  execFileSync('valgrind', ['--version']);
  const { tmp, children } = scratch('outrigger-bench-instructions-');
  const up = spawn(process.execPath, [fileURLToPath(import.meta.url), '--role', 'upstream'], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(up);
  const upPort = await new Promise((resolve) => up.stdout.once('data', (d) => resolve(JSON.parse(String(d)).port)));
  const builds = [['this', ROOT], ...(o.base ? [['base', o.base]] : [])];
  const rows = [];
  for (const proto of o.protos) {
    const per = {};
    for (let run = 1; run <= o.runs; run++) {
      for (const [name, root] of builds) {
        const v = await measure(o, tmp, children, upPort, root, proto, run);
        log(`${proto} ${name} run ${run}: ${Math.round(v)} instructions/request`);
        (per[name] ??= []).push(v);
      }
    }
    rows.push({ proto, per });
  }
  console.log(`| protocol | ${builds.map(([n]) => `${n} (instructions/request)`).join(' | ')}${o.base ? ' | this/base |' : ''}`);
  console.log(`|---|${builds.map(() => '---:').join('|')}|${o.base ? '---:|' : ''}`);
  for (const { proto, per } of rows) {
    const cells = builds.map(([n]) => `${Math.round(median(per[n]))} (${per[n].map(Math.round).join(', ')})`);
    const ratio = o.base ? ` | ${(median(per.this) / median(per.base)).toFixed(3)} |` : '';
    console.log(`| ${proto} | ${cells.join(' | ')}${ratio}`);
  }
  process.exit(0);
}
