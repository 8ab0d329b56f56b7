import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from './ports.js';
import { PROXY_NODE_FLAGS } from '../../src/cli/node-flags.js';

/** Repository root (test/helpers/../..). */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/**
 * The CLI entry, as installed (`bin/outrigger.js` → `dist/bundle/main.js`, the bundled build). OUTRIGGER_CLI points the
 * tests at another build (e.g. a deliberately broken copy, to check that a test can fail).
 */
export const CLI = process.env.OUTRIGGER_CLI ?? join(ROOT, 'bin', 'outrigger.js');

export interface ProxyPorts {
  health: number;
  outbound: number;
  admin: number;
  stats: number;
  inbound: number;
}

export interface StartProxyOptions {
  /** One YAML text, written as `config.yaml`. */
  yaml?: string;
  /** Several files: relative path → content. */
  files?: Record<string, string>;
  /** Extra CLI arguments (e.g. `--mode gateway --label istio=ingressgateway`). */
  args?: string[];
  /** Data-plane workers (default 1). */
  workers?: number;
  /** How long to wait for /healthz/ready (default 20 s). */
  readyTimeoutMs?: number;
  /**
   * Node's flags for the proxy process (default: the proxy's own, so it does not start node a second
   * time to get them; [] starts it as `node bin/outrigger.js` would be, which then does).
   */
  nodeFlags?: readonly string[];
  /** Ports to use instead of fresh ones (e.g. a fixed outbound port the YAML refers to). */
  ports?: Partial<ProxyPorts>;
  /** Extra environment variables (e.g. Istio's ISTIO_META_*). */
  env?: Record<string, string>;
  /** RLIMIT_NOFILE (soft and hard) of the proxy process, set by prlimit(1) before it starts. */
  nofile?: number;
  /** Keep every Envoy stat (ALL_STATS_ENV), for a test that checks a behaviour by its cluster, listener or connection manager stats. */
  allStats?: boolean;
}

/**
 * The pod annotation that keeps every Envoy stat family Outrigger has. pilot-agent's inclusion list
 * keeps few (Istio's metrics, server.*, the managers', RBAC): an operator who wants cluster stats
 * annotates the pod, and so do the tests that read them.
 */
export const ALL_STATS_ENV = {
  ISTIO_METAJSON_ANNOTATIONS: JSON.stringify({ 'sidecar.istio.io/statsInclusionPrefixes': 'cluster.,listener.,http.,tcp.,ext_authz.,overload.' }),
};

export interface RunningProxy {
  readonly ports: ProxyPorts;
  readonly pid: number;
  readonly configDir: string;
  /** Everything the proxy wrote to stderr so far. */
  stderr(): string;
  stdout(): string;
  /** True while the process has not exited. */
  alive(): boolean;
  /** SIGTERM, wait for exit (SIGKILL after `graceMs`); resolves with the exit code/signal. */
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<RunningProxy>();

/** Writes config into a temp dir and returns it. */
export async function writeConfigDir(opts: { yaml?: string; files?: Record<string, string> }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'outrigger-it-'));
  if (opts.yaml !== undefined) await writeFile(join(dir, 'config.yaml'), opts.yaml);
  for (const [rel, text] of Object.entries(opts.files ?? {})) {
    const p = join(dir, rel);
    await mkdir(dirname(p), { recursive: true });
    await writeFile(p, text);
  }
  return dir;
}

export function assertBuilt(): void {
  if (!process.env.OUTRIGGER_CLI && !existsSync(join(ROOT, 'dist', 'bundle', 'main.js'))) {
    throw new Error('dist/ is missing: build first with `npm run build` (npm test does it)');
  }
}

/** Starts `outrigger run -c DIR` on free ports and waits until /healthz/ready returns 200. */
export async function startProxy(opts: StartProxyOptions): Promise<RunningProxy> {
  assertBuilt();
  const configDir = await writeConfigDir(opts);
  const [health, outbound, admin, stats, inbound] = await freePorts(5);
  const ports: ProxyPorts = { health, outbound, admin, stats, inbound, ...opts.ports };
  const args = [
    CLI, 'run', '-c', configDir,
    '--workers', String(opts.workers ?? 1),
    '--health-port', String(ports.health),
    '--outbound-port', String(ports.outbound),
    '--admin-port', String(ports.admin),
    '--stats-port', String(ports.stats),
    '--inbound-port', String(ports.inbound),
    ...(opts.args ?? []),
  ];
  // prlimit execs the command: the child's pid is the proxy's
  const node = [process.execPath, ...(opts.nodeFlags ?? PROXY_NODE_FLAGS), ...args];
  const [cmd, cmdArgs] = opts.nofile === undefined ? [node[0], node.slice(1)] : ['prlimit', [`--nofile=${opts.nofile}:${opts.nofile}`, '--', ...node]];
  const child = spawn(cmd, cmdArgs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(opts.allStats ? ALL_STATS_ENV : {}), ...opts.env } });
  let err = '';
  let out = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      res(exited);
    }),
  );

  const proxy: RunningProxy = {
    ports,
    pid: child.pid!,
    configDir,
    stderr: () => err,
    stdout: () => out,
    alive: () => exited === undefined,
    stop: async (graceMs = 5_000) => {
      running.delete(proxy);
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exit;
        clearTimeout(timer);
      }
      await rm(configDir, { recursive: true, force: true });
      return exited!;
    },
  };
  running.add(proxy);

  // two cores shared by two test files and their proxies: a loaded box can take seconds to start one
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 20_000);
  let last = 'no probe';
  for (let i = 0; i < 1_000 && Date.now() < deadline; i++) {
    if (exited) break;
    last = await probeReady(ports.health);
    if (last === '200') return proxy;
    await sleep(50);
  }
  const why = exited ? `exited with ${exited.code ?? exited.signal}` : `not ready in time (last /healthz/ready probe on :${ports.health}: ${last})`;
  await proxy.stop(1_000);
  throw new Error(`proxy ${why}; stderr:\n${err}`);
}

/** The status of one /healthz/ready probe, or why it got none (kept for the error when a proxy never becomes ready). */
async function probeReady(port: number): Promise<string> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz/ready`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return String(res.status);
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return `${(e as Error).name}: ${cause?.code ?? cause?.message ?? (e as Error).message}`;
  }
}

/** Stops every proxy a test file started and did not stop (safety net for afterAll). */
export async function stopAllProxies(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(2_000)));
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs the CLI to completion (bounded: a loaded 2-core box takes seconds to start node twice, see cli/main.ts); for validate/--help/bad flags. */
export function runCli(args: string[], timeoutMs = 20_000): Promise<CliResult> {
  assertBuilt();
  return new Promise((resolvePromise) => {
    const child: ChildProcess = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr, timedOut });
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resident set size of a process in bytes (Linux /proc), or undefined if unreadable. */
export async function rssBytes(pid: number): Promise<number | undefined> {
  const { readFile } = await import('node:fs/promises');
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
