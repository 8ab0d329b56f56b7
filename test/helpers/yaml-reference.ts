// The reference the fast YAML readers are held to: what `yaml` reads, and the YAML files to compare on.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
export const CONFORMANCE = resolve(here, '../../../shared/conformance');
export const EXAMPLES = resolve(here, '../../examples');

/** What the loader read before the fast readers: `yaml`'s values, or 'error'. */
export function yamlValues(text: string): unknown[] | 'error' {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  if (!Array.isArray(docs)) return [];
  if (docs.some((d) => d.errors.length > 0)) return 'error';
  return docs.map((d) => d.toJS({ maxAliasCount: 100 }));
}

/** Every `.yaml`/`.yml` file under dir. */
export function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

/**
 * Every YAML file of the examples and the conformance data through `read`: how many it took (did
 * not decline), and those whose values differ from what `yaml` reads.
 */
export function compareOnFiles(read: (text: string) => unknown[] | undefined): { files: number; taken: number; differing: string[] } {
  const files = [...yamlFiles(EXAMPLES), ...yamlFiles(CONFORMANCE)];
  const differing: string[] = [];
  let taken = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const values = read(text);
    if (values === undefined) continue;
    taken++;
    if (!isDeepStrictEqual(values, yamlValues(text))) differing.push(file);
  }
  return { files: files.length, taken, differing };
}
