import { ConfigErrors } from './errors.js';
import { parseIstioConfig } from './istio/parse.js';
import { translateIstio, type TranslateOptions, type Translation } from './istio/translate.js';
import type { NodeIdentity } from './snapshot.js';
import { readConfigDocuments } from './source.js';

export interface LoadOptions extends TranslateOptions {
  paths: readonly string[];
  node: NodeIdentity;
}

/**
 * Files → validated Istio config → Snapshot. Throws ConfigError/ConfigErrors naming file,
 * document, resource and field; nothing partial is ever returned.
 */
export async function loadSnapshot(opts: LoadOptions): Promise<Translation> {
  const docs = await readConfigDocuments(opts.paths);
  const cfg = parseIstioConfig(docs, { defaultNamespace: opts.node.namespace });
  return translateIstio(cfg, opts.node, opts);
}

/** Every error message of a load failure, one per line. */
export function describeLoadError(err: unknown): string[] {
  if (err instanceof ConfigErrors) return err.errors.map((e) => e.message);
  return [(err as Error).message ?? String(err)];
}
