// Instructions per request under valgrind's callgrind, the drift-free A/B measure (see bench/README.md):
// the proxy runs with instrumentation off; h2load warms it up, then instrumentation is on for exactly
// the counted requests. Shared by instructions.mjs (two builds, two front ends), scale.mjs (a small
// and a large config) and h2-floor.mjs (node:http2 against Outrigger).
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HOST } from './harness.mjs';

/** The command in front of node that runs a proxy under callgrind, instrumentation off, its dumps at `outPrefix`.<pid>. */
export function callgrindPrefix(outPrefix) {
  return ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', '--instr-atstart=no', `--callgrind-out-file=${outPrefix}.%p`];
}

/** Are valgrind and h2load installed? */
export function callgrindAvailable() {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    execFileSync('h2load', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * `n` requests for `/small` on `port`: h1 (HTTP/1.1, 16 connections) or h2 (h2c, 16 connections x
 * 10 streams), with `authority` as the Host (h1) or :authority (h2) when given; rejects unless all
 * of them succeeded.
 */
export function h2load(proto, port, n, authority) {
  const shape = proto === 'h1' ? ['--h1', '-c16'] : ['-c16', '-m10'];
  const header = authority ? ['-H', `:authority: ${authority}`] : [];
  return new Promise((resolve, reject) => {
    execFile('h2load', [...shape, ...header, '-n', String(n), `http://${HOST}:${port}/small`], { timeout: 600_000 }, (err, stdout) => {
      const m = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded/.exec(stdout ?? '');
      if (!m) return reject(err ?? new Error(`unreadable h2load output: ${stdout}`));
      if (Number(m[1]) !== n) return reject(new Error(`${n - Number(m[1])} of ${n} requests failed`));
      resolve();
    });
  });
}

/** Instructions callgrind counted, over every thread's part file of one run. */
export function countedInstructions(outPrefix) {
  const dir = path.dirname(outPrefix);
  let total = 0;
  for (const f of fs.readdirSync(dir).filter((n) => n.startsWith(path.basename(outPrefix)))) {
    // totals: the costs in the dump (its summary line stays 0 when instrumentation was toggled)
    const m = /^totals: (\d+)/m.exec(fs.readFileSync(path.join(dir, f), 'utf8'));
    if (m) total += Number(m[1]);
  }
  return total;
}

/**
 * Instructions `proc` (started with callgrindPrefix(`outPrefix`)) executes while `load()` runs:
 * instrumentation on, the load, off, a dump; then `proc` is killed and the dumps of its threads summed.
 */
export async function instructionsDuring(proc, outPrefix, load) {
  execFileSync('callgrind_control', ['-i', 'on', String(proc.pid)], { stdio: 'ignore' });
  await load();
  execFileSync('callgrind_control', ['-i', 'off', String(proc.pid)], { stdio: 'ignore' });
  execFileSync('callgrind_control', ['-d', String(proc.pid)], { stdio: 'ignore' });
  proc.kill('SIGKILL');
  await new Promise((r) => (proc.exitCode !== null || proc.signalCode !== null ? r() : proc.once('exit', r)));
  return countedInstructions(`${outPrefix}.${proc.pid}`);
}

/**
 * Instructions per request of a proxy started with callgrindPrefix(`outPrefix`): `warm` requests
 * not counted, then `n` counted. The proxy is killed afterwards (its dump is written first).
 */
export async function instructionsPerRequest(proxy, outPrefix, { proto, port, warm = 2000, n, authority }) {
  await h2load(proto, port, warm, authority);
  return (await instructionsDuring(proxy, outPrefix, () => h2load(proto, port, n, authority))) / n;
}
