#!/usr/bin/env node
// What node:http2 itself costs a proxy (issue 15; see bench/README.md): h2load (-c16 -m10, h2c) against
//   server       a minimal node:http2 server answering 200 and 12 bytes itself,
//   passthrough  a minimal node:http2 proxy: each stream forwarded over --sessions client sessions to
//                the upstream (headers and body streamed both ways, nothing else),
//   outrigger    the gateway (1 worker), its service port HTTP2, to the same upstream, downstream
//                HTTP/2 on node:http2 (OUTRIGGER_HTTP2_CODEC=node),
//   outrigger-own  the same with Outrigger's own downstream HTTP/2 codec, the proxy's default
//                (also outrigger-own-h1 with --upstream nginx),
//   haproxy      HAProxy (nbthread 1) h2c → h2c, if installed.
// With --upstream nginx also outrigger-h1 and haproxy-h1: the same with HTTP/1.1 to the upstream
// (h2c in, HTTP/1.1 out: peerbench's h2c measurement).
// The target runs pinned to CPU 1, h2load and the upstream to CPU 0. Each rep runs every target once
// (interleaved); the table shows medians of rps, the target's CPU µs per request (/proc/<pid>/stat) and
// the cores it used (CPU seconds / wall seconds: below 1, CPU 0 — h2load and the upstream — held it back).
// --instructions: also instructions per request of passthrough and outrigger under callgrind (as
// bench/instructions.mjs counts them). --profile: a --cpu-prof of passthrough under load, summarised.
// Loopback only; every step bounded; children killed on exit.
import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HOST, PROXY_PORTS, cpuSeconds, flagReader, freePorts, gatewayMesh, scratch, sleep, startGateway } from './harness.mjs';
import { callgrindPrefix, instructionsDuring } from './callgrind.mjs';

const USAGE = `usage: node bench/h2-floor.mjs [--seconds S] [--reps R] [--sessions K] [--upstream node|nginx] [--targets a,b,..] [--instructions] [--profile]
  --seconds S     length of one measured run (default 8; the request count is sized from a warm-up)
  --reps R        interleaved repetitions (default 3)
  --sessions K    upstream client sessions of the passthrough (default 1)
  --upstream      the h2c upstream on CPU 0: the minimal node:http2 server (default) or nginx (as peerbench's)
  --targets       any of server,passthrough,outrigger,outrigger-own,haproxy and, with nginx, outrigger-h1,outrigger-own-h1,haproxy-h1
                  (default: all that apply; haproxy only if installed)
  --instructions  instructions/request of passthrough and outrigger under callgrind (needs valgrind)
  --profile       only: profile the passthrough under load (--cpu-prof) and print where its time goes`;

const SELF = fileURLToPath(import.meta.url);
const { NGHTTP2_FLAG_END_STREAM, NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;
const HELLO = Buffer.from('hello world\n');
const log = (...m) => console.error(`[bench:h2-floor ${new Date().toISOString().slice(11, 19)}] ${m.join(' ')}`);
const usage = (code) => { console.error(USAGE); process.exit(code); };
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

const TARGETS = ['server', 'passthrough', 'outrigger', 'outrigger-own', 'haproxy'];
/** Targets with HTTP/1.1 to the upstream: nginx serves that too. */
const H1_TARGETS = ['outrigger-h1', 'outrigger-own-h1', 'haproxy-h1'];

const role = process.argv[2] === '--role' ? process.argv[3] : undefined;
if (role === 'server') serve(minimalServer());
else if (role === 'passthrough') serve(passthrough(Number(process.argv[4]), Number(process.argv[5])));
else main().catch((e) => { log(e.stack ?? e); process.exit(1); });

/** Listens on a free loopback port, says it on stdout, exits when the parent closes stdin (so --cpu-prof is written). */
function serve(server) {
  server.listen(0, HOST, () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

/** (1) node:http2's stream API, nothing else: 200, content-length 12, `hello world\n`. */
function minimalServer() {
  const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': HELLO.length });
    stream.end(HELLO);
  });
  return server;
}

/** (2) The least a node:http2 proxy does: each stream re-issued on an upstream session, both directions piped. */
function passthrough(upstreamPort, sessions) {
  const upstreams = Array.from({ length: sessions }, () => http2.connect(`http://${HOST}:${upstreamPort}`));
  let next = 0;
  const server = http2.createServer({ settings: { maxConcurrentStreams: 1000 } });
  server.on('stream', (stream, headers, flags) => {
    const ended = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    const upstream = upstreams[next++ % upstreams.length].request(headers, { endStream: ended });
    if (!ended) stream.pipe(upstream);
    upstream.on('response', (responseHeaders) => stream.respond(responseHeaders));
    upstream.pipe(stream);
    upstream.on('error', () => { if (!stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR); });
    stream.on('error', () => { if (!upstream.destroyed) upstream.close(NGHTTP2_CANCEL); });
  });
  return server;
}

function options() {
  const o = { seconds: 8, reps: 3, sessions: 1, upstream: 'node', targets: undefined, instructions: false, profile: false };
  const f = flagReader(process.argv.slice(2), usage);
  for (let a = f.next(); a !== undefined; a = f.next()) {
    if (a === '--seconds') o.seconds = f.number(1, 60);
    else if (a === '--reps') o.reps = f.number(1, 9);
    else if (a === '--sessions') o.sessions = f.number(1, 64);
    else if (a === '--upstream') o.upstream = f.value();
    else if (a === '--targets') o.targets = f.value().split(',');
    else if (a === '--instructions') o.instructions = true;
    else if (a === '--profile') o.profile = true;
    else if (a === '-h' || a === '--help') usage(0);
    else { console.error(`unknown flag ${a}`); usage(2); }
  }
  if (!['node', 'nginx'].includes(o.upstream)) usage(2);
  const known = o.upstream === 'nginx' ? [...TARGETS, ...H1_TARGETS] : TARGETS;
  o.targets ??= known;
  if (o.targets.some((t) => !known.includes(t))) usage(2);
  if (!hasCommand('haproxy')) o.targets = o.targets.filter((t) => !t.startsWith('haproxy'));
  return o;
}

function hasCommand(cmd) {
  try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; }
}

/** h2load -c16 -m10 -n `n` (on CPU 0) against `port`; its rps, and a failure if any request did not succeed. */
function h2load(port, n) {
  return new Promise((resolve, reject) => {
    execFile('taskset', ['-c', '0', 'h2load', '-c16', '-m10', '-n', String(n), `http://${HOST}:${port}/small`], { timeout: 120_000 }, (err, stdout) => {
      const ok = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded/.exec(stdout ?? '');
      const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(stdout ?? '');
      if (!ok || !rps) return reject(err ?? new Error(`unreadable h2load output: ${stdout}`));
      if (Number(ok[1]) !== n) return reject(new Error(`${n - Number(ok[1])} of ${n} requests failed`));
      resolve(Number(rps[1]));
    });
  });
}

/** A role of this script as a child (`prefix`: taskset, valgrind, node flags); resolves with it and its port. */
async function startRole(children, prefix, nodeFlags, ...roleArgs) {
  const [cmd, ...rest] = [...prefix, process.execPath];
  const child = spawn(cmd, [...rest, ...nodeFlags, SELF, '--role', ...roleArgs.map(String)], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${roleArgs[0]} did not start in 300 s`)), 300_000);
    child.stdout.once('data', (d) => { clearTimeout(timer); resolve(JSON.parse(String(d)).port); });
    child.once('exit', (code) => reject(new Error(`${roleArgs[0]} exited (${code})`)));
  });
  return { proc: child, port };
}

async function startOutrigger(tmp, children, upPort, prefix, protocol = 'HTTP2', env = {}) {
  const dir = fs.mkdtempSync(path.join(tmp, 'outrigger-'));
  const [gw, ...proxyPorts] = await freePorts(1 + PROXY_PORTS);
  fs.writeFileSync(path.join(dir, 'mesh.yaml'), gatewayMesh(upPort, protocol, [`{ port: { number: ${gw}, name: http, protocol: HTTP }, hosts: ["*"] }`]));
  const { proxy } = await startGateway(dir, children, proxyPorts, { prefix, readySeconds: 300, env });
  return { proc: proxy, port: gw };
}

/** HAProxy, one thread, h2c in and h2c (or HTTP/1.1, `h2 = false`) out, with the least config that does it. */
async function startHaproxy(tmp, children, upPort, h2 = true) {
  const [port] = await freePorts(1);
  const cfg = path.join(fs.mkdtempSync(path.join(tmp, 'haproxy-')), 'haproxy.cfg');
  fs.writeFileSync(cfg, `global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend fe
  bind ${HOST}:${port} proto h2
  default_backend be
backend be
  server up ${HOST}:${upPort}${h2 ? ' proto h2' : ''}
`);
  const proc = spawn('taskset', ['-c', '1', 'haproxy', '-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(proc);
  for (let i = 0; ; i++) {
    if (i > 100) throw new Error('haproxy did not listen in 10 s');
    if (await h2load(port, 160).then(() => true, () => false)) break;
    await sleep(100);
  }
  return { proc, port };
}

/** nginx (one worker, on CPU 0) answering 12 bytes over h2c with prior knowledge (`port`) and HTTP/1.1 (`h1Port`), as peerbench's upstream. */
async function startNginx(tmp, children) {
  const [port, h1Port] = await freePorts(2);
  const dir = fs.mkdtempSync(path.join(tmp, 'nginx-'));
  fs.mkdirSync(path.join(dir, 'logs'));
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(conf, `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 100000000; keepalive_timeout 300s;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  default_type text/plain;
  server { listen ${HOST}:${port} http2 backlog=4096; listen ${HOST}:${h1Port} backlog=4096; location / { return 200 "hello world\\n"; } }
}
`);
  const proc = spawn('taskset', ['-c', '0', 'nginx', '-p', dir, '-c', conf, '-e', path.join(dir, 'logs', 'error.log')], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(proc);
  for (let i = 0; ; i++) {
    if (i > 100) throw new Error('nginx did not listen in 10 s');
    if (await h2load(port, 160).then(() => true, () => false)) break;
    await sleep(100);
  }
  return { proc, port, h1Port };
}

async function profilePassthrough(o, tmp, children, upPort) {
  const dir = path.join(tmp, 'prof');
  const { proc, port } = await startRole(children, ['taskset', '-c', '1'], ['--cpu-prof', `--cpu-prof-dir=${dir}`], 'passthrough', upPort, o.sessions);
  const rps = await h2load(port, 20_000);
  await h2load(port, Math.round(rps * o.seconds));
  proc.stdin.end();
  await new Promise((r) => proc.once('exit', r));
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  printProfile(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')));
}

/** Where a node's self time goes: node's own layers by module, the handler, native code, GC. */
function category({ functionName, url }) {
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return 'native, outside JS (nghttp2 and libuv called from C++)';
  if (url === '') return 'native, called from JS (node bindings, V8 builtins)';
  if (url === `file://${SELF}`) return 'handler (this script)';
  if (url.startsWith('node:internal/http2/')) return 'node http2 JS (lib/internal/http2)';
  if (url.startsWith('node:internal/streams/') || url === 'node:internal/stream_base_commons') return 'node streams JS';
  if (url.startsWith('node:')) return 'other node JS (timers, events, net, ...)';
  return url;
}

function printProfile(profile) {
  const hits = new Map();
  const byFunction = new Map();
  let total = 0;
  for (const n of profile.nodes) {
    if (n.callFrame.functionName === '(idle)' || !n.hitCount) continue;
    total += n.hitCount;
    const c = category(n.callFrame);
    hits.set(c, (hits.get(c) ?? 0) + n.hitCount);
    const f = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(`file://${SELF}`, 'h2-floor.mjs')}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
    byFunction.set(f, (byFunction.get(f) ?? 0) + n.hitCount);
  }
  const pct = (h) => `${(h / total * 100).toFixed(1)} %`;
  console.log(`passthrough under load: ${total} samples, idle excluded\n\n| where (self time) | share |\n|---|---:|`);
  for (const [c, h] of [...hits].sort((a, b) => b[1] - a[1])) console.log(`| ${c} | ${pct(h)} |`);
  console.log('\n| function (self time) | share |\n|---|---:|');
  for (const [f, h] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`| \`${f}\` | ${pct(h)} |`);
}

async function main() {
  const o = options();
  execFileSync('h2load', ['--version']);
  const { tmp, children } = scratch('outrigger-bench-h2-floor-');
  const { port: upPort, h1Port } = o.upstream === 'nginx' ? await startNginx(tmp, children) : await startRole(children, ['taskset', '-c', '0'], [], 'server');
  if (o.profile) {
    await profilePassthrough(o, tmp, children, upPort);
    process.exit(0);
  }
  const pin = ['taskset', '-c', '1'];
  const starts = {
    server: () => startRole(children, pin, [], 'server'),
    passthrough: () => startRole(children, pin, [], 'passthrough', upPort, o.sessions),
    outrigger: () => startOutrigger(tmp, children, upPort, pin, 'HTTP2', { OUTRIGGER_HTTP2_CODEC: 'node' }),
    'outrigger-own': () => startOutrigger(tmp, children, upPort, pin, 'HTTP2', { OUTRIGGER_HTTP2_CODEC: 'own' }),
    haproxy: () => startHaproxy(tmp, children, upPort),
    'outrigger-h1': () => startOutrigger(tmp, children, h1Port, pin, 'HTTP', { OUTRIGGER_HTTP2_CODEC: 'node' }),
    'outrigger-own-h1': () => startOutrigger(tmp, children, h1Port, pin, 'HTTP', { OUTRIGGER_HTTP2_CODEC: 'own' }),
    'haproxy-h1': () => startHaproxy(tmp, children, h1Port, false),
  };
  const targets = {};
  for (const t of o.targets) {
    targets[t] = await starts[t]();
    const rps = await h2load(targets[t].port, 20_000); // warm-up, and the size of a run of o.seconds
    targets[t].requests = Math.max(10_000, Math.round(rps * o.seconds / 1000) * 1000);
    log(`${t}: pid ${targets[t].proc.pid}, warm-up ${Math.round(rps)} rps, ${targets[t].requests} requests per run`);
  }
  const results = Object.fromEntries(o.targets.map((t) => [t, { rps: [], cpu: [], cores: [] }]));
  for (let rep = 0; rep < o.reps; rep++) {
    for (const t of rep % 2 ? [...o.targets].reverse() : o.targets) {
      const { proc, port, requests } = targets[t];
      const c0 = cpuSeconds(proc.pid);
      const t0 = performance.now();
      const rps = await h2load(port, requests);
      const cpuS = cpuSeconds(proc.pid) - c0;
      const cores = cpuS / ((performance.now() - t0) / 1000);
      results[t].rps.push(rps);
      results[t].cpu.push(cpuS / requests * 1e6);
      results[t].cores.push(cores);
      log(`rep ${rep + 1} ${t}: ${Math.round(rps)} rps, ${(cpuS / requests * 1e6).toFixed(1)} µs/req, ${cores.toFixed(2)} cores`);
    }
  }
  const instructions = o.instructions ? await countInstructions(tmp, children, upPort, o) : {};
  const ref = results.haproxy ? 'haproxy' : undefined;
  console.log(`h2load -c16 -m10, h2c, 12-byte responses, ${o.upstream} upstream; target on CPU 1, h2load and upstream on CPU 0; medians of ${o.reps} runs of ~${o.seconds} s\n`);
  console.log(`| target | rps | CPU µs/req | cores |${ref ? ' rps / HAProxy\'s |' : ''}${o.instructions ? ' instructions/req |' : ''}\n|---|---:|---:|---:|${ref ? '---:|' : ''}${o.instructions ? '---:|' : ''}`);
  for (const t of o.targets) {
    const r = results[t];
    const cells = [t, `${Math.round(median(r.rps))} (${r.rps.map(Math.round).join(', ')})`, `${median(r.cpu).toFixed(1)} (${r.cpu.map((c) => c.toFixed(1)).join(', ')})`, median(r.cores).toFixed(2)];
    if (ref) cells.push((median(r.rps) / median(results[ref].rps)).toFixed(2));
    if (o.instructions) cells.push(instructions[t] ? String(Math.round(instructions[t])) : '');
    console.log(`| ${cells.join(' | ')} |`);
  }
  process.exit(0);
}

/** Instructions per request of passthrough and outrigger: 2,000 requests not counted, then 3,000 counted. */
async function countInstructions(tmp, children, upPort, o) {
  execFileSync('valgrind', ['--version']);
  const out = {};
  for (const t of ['passthrough', 'outrigger'].filter((x) => o.targets.includes(x))) {
    const outPrefix = path.join(fs.mkdtempSync(path.join(tmp, `callgrind-${t}-`)), 'callgrind.out');
    const prefix = callgrindPrefix(outPrefix);
    const { proc, port } = t === 'outrigger' ? await startOutrigger(tmp, children, upPort, prefix) : await startRole(children, prefix, [], 'passthrough', upPort, o.sessions);
    await h2load(port, 2000);
    out[t] = (await instructionsDuring(proc, outPrefix, () => h2load(port, 3000))) / 3000;
    log(`${t}: ${Math.round(out[t])} instructions/request`);
  }
  return out;
}
