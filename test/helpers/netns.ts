/**
 * Network namespaces for end-to-end capture tests: pods with their own loopback, veth links
 * between them, commands and long-running processes inside. Addresses are the test's own
 * (198.18.0.0/15, the benchmarking range, and Istio's 240.240.0.0/16 VIP range); nothing leaves
 * the namespaces the test creates.
 */
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, rm } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { join } from 'node:path';
import { issueWorkloadCert, writeWorkloadDir } from '../../src/security/ca.js';

/** Why these tests cannot run here, or undefined when they can. */
export function netnsUnavailable(tools: readonly string[] = ['ip', 'iptables', 'curl', 'setpriv', 'openssl']): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces and iptables)';
  for (const t of tools) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) return `${t} is not installed`;
  }
  const probe = `orprobe${randomBytes(3).toString('hex')}`;
  const add = spawnSync('ip', ['netns', 'add', probe]);
  if (add.status !== 0) return `cannot create a network namespace: ${add.stderr.toString().trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command (optionally inside a namespace), bounded by `timeoutMs`; never rejects. */
export function run(cmd: string, args: readonly string[], opts: { ns?: string; timeoutMs?: number; input?: string } = {}): Promise<CommandResult> {
  const [file, argv] = opts.ns ? ['ip', ['netns', 'exec', opts.ns, cmd, ...args]] : [cmd, [...args]];
  return new Promise((resolve) => {
    const child = execFile(file, argv, { timeout: opts.timeoutMs ?? 10_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : -1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** Runs a command and fails loudly when it fails (setup steps). */
export async function must(cmd: string, args: readonly string[], opts: { ns?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${opts.ns ? `[${opts.ns}] ` : ''}${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

export interface Pod {
  ns: string;
  ip: string;
}

/** Two pods on one link (IPv4 or IPv6, by the addresses): `a` and `b`, each with loopback up and a default route on the link. */
export async function createPodPair(prefix: string, ipA: string, ipB: string): Promise<[Pod, Pod]> {
  const id = randomBytes(3).toString('hex');
  const a = { ns: `${prefix}a${id}`, ip: ipA };
  const b = { ns: `${prefix}b${id}`, ip: ipB };
  const va = `va${id}`;
  const vb = `vb${id}`;
  await must('ip', ['netns', 'add', a.ns]);
  await must('ip', ['netns', 'add', b.ns]);
  await must('ip', ['link', 'add', va, 'netns', a.ns, 'type', 'veth', 'peer', 'name', vb, 'netns', b.ns]);
  const v6 = isIPv6(ipA);
  for (const [pod, dev] of [[a, va], [b, vb]] as const) {
    await must('ip', ['-n', pod.ns, 'link', 'set', 'lo', 'up']);
    // nodad: IPv6 addresses are usable at once, not after duplicate address detection
    await must('ip', ['-n', pod.ns, 'addr', 'add', v6 ? `${pod.ip}/64` : `${pod.ip}/24`, 'dev', dev, ...(v6 ? ['nodad'] : [])]);
    await must('ip', ['-n', pod.ns, 'link', 'set', dev, 'up']);
    // service VIPs are routed onto the link, as kube-proxy's cluster routes would be
    await must('ip', ['-n', pod.ns, ...(v6 ? ['-6'] : []), 'route', 'add', 'default', 'dev', dev]);
  }
  return [a, b];
}

export async function deletePods(...pods: (Pod | undefined)[]): Promise<void> {
  for (const p of pods) if (p) await run('ip', ['netns', 'del', p.ns]);
}

/** A long-running process inside a namespace (optionally as another uid/gid), with its output kept. */
export interface PodProcess {
  child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

export function spawnInPod(pod: Pod, cmd: string, args: readonly string[], opts: { uid?: number; env?: NodeJS.ProcessEnv } = {}): PodProcess {
  const prefix = opts.uid === undefined ? [] : ['setpriv', '--reuid', String(opts.uid), '--regid', String(opts.uid), '--clear-groups', '--'];
  const child = spawn('ip', ['netns', 'exec', pod.ns, ...prefix, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let out = '';
  const keep = (b: Buffer) => {
    out += b.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return {
    child,
    output: () => out,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}

/**
 * Istio's capture rules in a pod, as its init container installs them (proxy uid 1337).
 * `excludeInboundPorts`: not captured (Istio's excludeInboundPorts annotation, `-d`), e.g. ports a
 * Sidecar ingress listener binds with captureMode NONE.
 */
export async function installCapture(pod: Pod, root: string, ipv6 = false, excludeInboundPorts: readonly number[] = []): Promise<void> {
  const exclude = excludeInboundPorts.length ? ['-d', excludeInboundPorts.join(',')] : [];
  await must(`${root}/init-iptables`, ['-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-b', '*', ...exclude, ...(ipv6 ? ['--ipv6'] : [])], { ns: pod.ns });
}

/** Waits (bounded) for a pod's sidecar to report ready on 15021; fails with its output otherwise. */
export async function waitSidecarReady(pod: Pod, sidecar: PodProcess, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:15021/healthz/ready'], { ns: pod.ns });
    if (r.stdout === '200') return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`sidecar in ${pod.ns} not ready:\n${sidecar.output()}`);
}

/** Waits (bounded) for a process to print `text`; fails with its output otherwise. */
export async function waitOutput(p: PodProcess, text: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!p.output().includes(text)) {
    if (Date.now() > deadline) throw new Error(`no "${text}" in time:\n${p.output()}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** A pod sidecar's Prometheus exposition (15090), fetched from inside the pod. */
export async function podStats(pod: Pod): Promise<string> {
  return (await run('curl', ['-s', '--max-time', '3', 'http://127.0.0.1:15090/stats/prometheus'], { ns: pod.ns })).stdout;
}

/** A workload certificate directory (Istio's file-mounted layout) issued by `ca`, owned by the proxy's uid (1337). */
export async function podCertDir(parent: string, name: string, ca: { certPem: string; keyPem: string }, id: { trustDomain: string; namespace: string; serviceAccount: string }): Promise<string> {
  const out = join(parent, name);
  await writeWorkloadDir(out, await issueWorkloadCert({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, ...id }));
  for (const f of ['', '/cert-chain.pem', '/key.pem', '/root-cert.pem']) await chown(out + f, 1337, 1337);
  return out;
}

/** The end of a pod suite: its processes stopped, its pods deleted, its directory removed. */
export async function tearDownPods(procs: readonly PodProcess[], pods: readonly (Pod | undefined)[], dir: string | undefined): Promise<void> {
  for (const p of procs) await p.stop();
  await deletePods(...pods);
  if (dir) await rm(dir, { recursive: true, force: true });
}
