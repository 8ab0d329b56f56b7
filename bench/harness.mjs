// Shared pieces of the benchmarks: flags (h2.mjs, h2-close.mjs; a checked flag reader for http1.mjs and soak.mjs), a scratch directory and
// child processes cleaned up on exit, free loopback ports, an Outrigger started and awaited (sidecar or
// gateway), a process's CPU time and memory. Callgrind: callgrind.mjs.
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROXY_NODE_FLAGS } from '../dist/cli/node-flags.js';

export const HOST = '127.0.0.1';
export const ROOT = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `--name N` from the command line, as a number, else `def`. */
export function numberFlag(name, def) {
  const args = process.argv.slice(2);
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
}

/**
 * Units per second of `fn` (each call does `unitsPerCall` of them) for a microbenchmark: the best of
 * `rounds` loops of `ms` milliseconds, after `warmup` calls.
 */
export function bestRate(fn, { unitsPerCall = 1, ms, rounds, warmup, batch = 100 }) {
  for (let i = 0; i < warmup; i++) fn();
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    let n = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ms) {
      for (let i = 0; i < batch; i++) fn();
      n += batch * unitsPerCall;
      now = performance.now();
    }
    best = Math.max(best, (n * 1000) / (now - start));
  }
  return best;
}

/**
 * A command line read one flag at a time: `next()` gives the next flag (undefined at the end),
 * `value()` its argument, `number(min, max)` the argument checked as a number, `rest()` whatever
 * follows. A missing or bad argument prints `usage` and exits 2.
 */
export function flagReader(argv, usage) {
  let i = -1;
  return {
    next: () => (++i < argv.length ? argv[i] : undefined),
    value() {
      if (i + 1 >= argv.length) usage(2);
      return argv[++i];
    },
    number(min, max) {
      const flag = argv[i];
      const text = this.value();
      const n = Number(text);
      if (!Number.isFinite(n) || n < min || n > max) {
        console.error(`${flag} must be a number from ${min} to ${max}, got "${text}"`);
        usage(2);
      }
      return n;
    },
    rest() {
      const r = argv.slice(i + 1);
      i = argv.length;
      return r;
    },
  };
}

/** A scratch directory and a list of child processes, both gone when this process exits. */
export function scratch(prefix, keep = false) {
  const children = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  process.on('exit', () => {
    for (const c of children) try { c.kill('SIGKILL'); } catch { /* gone */ }
    if (keep) console.error(`kept ${tmp}`);
    else try { fs.rmSync(tmp, { recursive: true, force: true }); } catch { /* */ }
  });
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => process.exit(130));
  return { tmp, children };
}

/** The upstream every benchmark uses: 200, `hello world\n` (12 bytes). */
const HELLO = Buffer.from('hello world\n');
export function helloWorld(req, res) {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': HELLO.length });
  res.end(HELLO);
}

/**
 * A benchmark's upstream as a child process (`--role upstream`): `server` listens on a free
 * loopback port, says it as one JSON line on stdout, and exits when its parent closes stdin.
 */
export function serveUpstream(server) {
  server.listen(0, HOST, () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
}

/** `n` distinct free loopback ports (all held until all are found, so none is handed out twice). */
export async function freePorts(n) {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise((r) => { const s = net.createServer().listen(0, HOST, () => r(s)); })));
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** The proxy's own ports, besides its listeners'. */
export const PROXY_PORTS = 5;

/**
 * `outrigger run` (1 worker, no watch) on `configDir` with `args` (its mode and identity), its
 * admin/stats/health/outbound/inbound on `ports` (from the same freePorts call as the listeners');
 * resolves once /healthz/ready answers 200 (within `readySeconds`), with `readyMs`, the time from
 * spawn to that answer (polled every 20 ms). `root`: the checkout whose build runs (this one by
 * default); `prefix`: a command in front of node (e.g. taskset, valgrind); `env`: added to this
 * process's environment for the proxy; `stdout`: where the proxy's stdout goes (a file descriptor;
 * default ignored), e.g. V8's --trace-gc-nvp lines; `node`: the node binary (this process's by
 * default; privateNode() gives a proxy one no other process maps, for RSS figures).
 */
/**
 * A copy of this node binary in `dir`, for a proxy whose RSS is measured: the kernel does not page
 * out what another process maps too (agent/release-memory.ts), and this harness (or another proxy)
 * maps the same binary, where in a pod no other process maps the sidecar's.
 */
export function privateNode(dir, name = 'node') {
  const copy = path.join(dir, name);
  fs.copyFileSync(process.execPath, copy);
  fs.chmodSync(copy, 0o755);
  return copy;
}

export async function startOutrigger(configDir, children, ports, { args = [], root = ROOT, prefix = [], readySeconds = 10, nodeFlags = PROXY_NODE_FLAGS, env = {}, stdout = 'ignore', node = process.execPath } = {}) {
  const [admin, stats, health, outbound, inbound] = ports;
  // the proxy's node flags given: under valgrind a re-exec to add them would leave the tool behind
  const [cmd, ...rest] = [...prefix, node, ...nodeFlags];
  const t0 = performance.now();
  const proxy = spawn(cmd, [...rest, path.join(root, 'bin', 'outrigger.js'), 'run', '-c', configDir, ...args, '--workers', '1', '--no-watch',
    '--admin-port', String(admin), '--stats-port', String(stats), '--health-port', String(health), '--outbound-port', String(outbound), '--inbound-port', String(inbound)],
  { stdio: ['ignore', stdout, 'inherit'], env: { ...process.env, ...env } });
  children.push(proxy);
  const deadline = t0 + readySeconds * 1000;
  for (;;) {
    if (proxy.exitCode !== null || proxy.signalCode !== null) throw new Error(`proxy exited (${proxy.exitCode ?? proxy.signalCode}) before it was ready`);
    if (performance.now() > deadline) throw new Error(`proxy not ready in ${readySeconds} s`);
    if (await fetch(`http://${HOST}:${health}/healthz/ready`).then((r) => r.ok, () => false)) break;
    await sleep(20);
  }
  return { proxy, statsPort: stats, readyMs: performance.now() - t0 };
}

/** `outrigger run` in gateway mode (see startOutrigger), selecting the Gateways of `gatewayMesh`. */
export function startGateway(configDir, children, ports, opts = {}) {
  return startOutrigger(configDir, children, ports, { ...opts, args: ['--mode', 'gateway', '--label', 'istio=ingressgateway', ...(opts.extraArgs ?? [])] });
}

/**
 * Istio config for a gateway in front of one upstream: ServiceEntry `up` (port 80 of `protocol` →
 * 127.0.0.1:`upstreamPort`), a Gateway with `servers` (YAML flow mappings), and a VirtualService
 * routing everything to `up`.
 */
export function gatewayMesh(upstreamPort, protocol, servers) {
  const portName = protocol.toLowerCase();
  return `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: up, namespace: default }
spec:
  hosts: [up.default.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{ number: 80, name: ${portName}, protocol: ${protocol} }]
  endpoints: [{ address: ${HOST}, ports: { ${portName}: ${upstreamPort} } }]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: gw, namespace: default }
spec:
  selector: { istio: ingressgateway }
  servers: [${servers.join(', ')}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: up, namespace: default }
spec:
  hosts: ["*"]
  gateways: [gw]
  http: [{ route: [{ destination: { host: up.default.svc.cluster.local, port: { number: 80 } } }] }]
`;
}

/**
 * The benches' --tracing: `off` (meshConfig enableTracing false), or a sampling percentage for a
 * Telemetry naming an OTLP/HTTP provider whose collector is the bench's upstream (it answers the
 * exports 200); a service in `namespace`. Absent: '' (Istio's defaults: enableTracing, no provider:
 * decisions made and marked, no span).
 */
export function tracingMeshYaml(tracing, upPort, namespace) {
  if (tracing === undefined) return '';
  if (tracing === 'off') return `---\napiVersion: meshconfig.istio.io/v1alpha1\nkind: MeshConfig\nmetadata: {name: mesh}\nenableTracing: false\n`;
  return `---
apiVersion: meshconfig.istio.io/v1alpha1
kind: MeshConfig
metadata: {name: mesh}
extensionProviders:
- name: otel
  opentelemetry: {service: collector.${namespace}.svc.cluster.local, port: 4318, http: {path: /v1/traces}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: collector, namespace: ${namespace}}
spec:
  hosts: [collector.${namespace}.svc.cluster.local]
  location: MESH_INTERNAL
  resolution: STATIC
  ports:
  - {number: 4318, name: http, protocol: HTTP, targetPort: ${upPort}}
  endpoints:
  - address: ${HOST}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  tracing: [{providers: [{name: otel}], randomSamplingPercentage: ${Number(tracing)}}]
`;
}

const CLK_TCK = (() => { try { return Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100; } catch { return 100; } })();

/** CPU seconds (user + system, every thread) a process has used so far, from /proc/<pid>/stat. */
export function cpuSeconds(pid) {
  const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** A process's resident set now and at its peak (VmRSS, VmHWM), in MiB. */
export function memoryMiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

/**
 * The young-generation collections V8 reported (--trace-gc-nvp) in `file` from byte `from`: bytes
 * allocated and promoted to the old generation by scavenges, and how many. Promotion is what
 * outlives the young generation: request-scoped objects that get there cost scavenges and full
 * collections (see bench/README.md, "GC promotion").
 */
export function scavengeTotals(file, from = 0) {
  const text = fs.readFileSync(file, 'utf8').slice(from);
  let allocated = 0;
  let promoted = 0;
  let scavenges = 0;
  let markCompacts = 0;
  for (const line of text.split('\n')) {
    if (/ gc=mc /.test(line)) markCompacts++;
    if (!/ gc=s /.test(line)) continue;
    scavenges++;
    allocated += Number(/ allocated=(\d+)/.exec(line)?.[1] ?? 0);
    promoted += Number(/ promoted=(\d+)/.exec(line)?.[1] ?? 0);
  }
  return { allocated, promoted, scavenges, markCompacts };
}
