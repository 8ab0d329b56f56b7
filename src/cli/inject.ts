/**
 * `outrigger inject -f <file|-> [-o <file>]`: the Kubernetes YAML with the Outrigger sidecar
 * injected into every pod template (inject/inject.ts), documents in order (written anew, as
 * istioctl kube-inject writes them: comments are not kept). Exit 0, or 1 naming the file and
 * document that could not be read.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { parseAllDocuments, stringify } from 'yaml';
import { injectObject, type InjectOptions } from '../inject/inject.js';
import { ISTIO_INJECTION_DEFAULTS } from '../inject/settings.js';
import { DEFAULT_SIDECAR } from '../inject/sidecar.js';
import type { KubeObject } from '../inject/workloads.js';
import type { InjectFlags, RunFlags } from './args.js';

/** Injection as the flags ask for it (`inject`, `webhook`). */
export function injectOptionsOf(f: Omit<InjectFlags, 'file' | 'output'>, trustDomain: string | undefined): InjectOptions {
  return {
    settings: ISTIO_INJECTION_DEFAULTS,
    sidecar: {
      ...DEFAULT_SIDECAR,
      ...(f.image ? { image: f.image } : {}),
      ...(f.configMap ? { configMap: f.configMap } : {}),
      ...(f.certSecret ? { certSecret: f.certSecret } : {}),
      ...(trustDomain ? { trustDomain } : {}),
    },
    nativeSidecars: f.nativeSidecar,
  };
}

export async function inject(flags: RunFlags): Promise<number> {
  const f = flags.inject!;
  let text: string;
  try {
    text = f.file === '-' ? await readStdin() : await readFile(f.file, 'utf8');
  } catch (e) {
    process.stderr.write(`error: cannot read ${f.file}: ${(e as Error).message}\n`);
    return 1;
  }
  const options = injectOptionsOf(f, flags.identity.trustDomain);
  const out: string[] = [];
  for (const [i, doc] of parseAllDocuments(text).entries()) {
    if (doc.errors.length) {
      process.stderr.write(`error: ${f.file}, document ${i + 1}: ${doc.errors[0].message}\n`);
      return 1;
    }
    const obj = doc.toJS() as KubeObject | null;
    if (obj === null) continue;
    for (const skip of injectObject(obj, options)) {
      if (!skip.optedOut) process.stderr.write(`warning: ${f.file}, document ${i + 1} (${obj.kind ?? '?'} ${obj.metadata?.name ?? ''}): not injected: ${skip.reason}\n`);
    }
    out.push(stringify(obj));
  }
  const result = out.join('---\n');
  if (f.output) await writeFile(f.output, result);
  else process.stdout.write(result);
  return 0;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
