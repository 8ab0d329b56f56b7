// ./init-iptables takes the init container arguments Istio's injector writes, verbatim: every
// distinct istio-init argument list of Istio's injector goldens
// (../shared/conformance/istio/pkg/kube/inject/testdata/inject/*.injected) runs (--dry-run) and
// gives the same rules as the capture flags alone; CNI validation is refused with the reason.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { podTemplatesOf, type KubeObject } from '../../src/inject/workloads.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = resolve(repoRoot, 'init-iptables');
const goldens = resolve(repoRoot, '..', 'shared', 'conformance', 'istio', 'pkg', 'kube', 'inject', 'testdata', 'inject');

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', [script, ...args, '--dry-run'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The distinct argument lists of the goldens' init containers, by name (istio-init, istio-validation). */
function initArgs(name: string): string[][] {
  const seen = new Map<string, string[]>();
  for (const f of readdirSync(goldens).filter((x) => x.endsWith('.injected'))) {
    for (const d of parseAllDocuments(readFileSync(resolve(goldens, f), 'utf8'))) {
      for (const t of podTemplatesOf(d.toJS() as KubeObject)) {
        const c = ((t.spec.initContainers ?? []) as KubeObject[]).find((x) => x.name === name);
        if (c?.args?.[0] === 'istio-iptables') seen.set(JSON.stringify(c.args), c.args as string[]);
      }
    }
  }
  return [...seen.values()];
}

/** The capture flags alone: without the subcommand word and istio-iptables' log flags. */
const captureFlags = (args: string[]) => args.slice(1).filter((a) => !a.startsWith('--log_output_level') && a !== '--log_as_json');

describe("init-iptables and the injector's arguments", () => {
  const lists = initArgs('istio-init');

  it('every distinct istio-init argument list is accepted and gives the rules of its capture flags', () => {
    expect(lists.length).toBeGreaterThanOrEqual(8);
    for (const args of lists) {
      const verbatim = run(args);
      expect(verbatim.status, `${args.join(' ')}\n${verbatim.stderr}`).toBe(0);
      expect(verbatim.stdout).toContain('-A ISTIO_OUTPUT');
      expect(verbatim.stdout).toBe(run(captureFlags(args)).stdout);
    }
  });

  it('CNI validation (istio-validation) and native nftables are refused with the reason', () => {
    const cni = initArgs('istio-validation');
    expect(cni.length).toBeGreaterThan(0);
    const r = run(cni[0]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--run-validation: CNI validation is not supported (this script installs the rules itself)');
    const nft = run(['istio-iptables', '--native-nftables']);
    expect(nft.status).toBe(2);
    expect(nft.stderr).toContain('native nftables is not supported');
  });
});
