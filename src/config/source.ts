import { readdir, readFile, stat } from 'node:fs/promises';
import { join, extname } from 'node:path';
import type { Document, LineCounter } from 'yaml';
import { yamlLib } from './yaml-libs.js';
import { ConfigError } from './errors.js';
import { yamlDocumentValues } from './yaml-values.js';

/** One YAML/JSON document read from a config file, with what is needed to point at its fields. */
export interface SourceDocument {
  file: string;
  docIndex: number;
  value: unknown;
  /** 1-based line of a field path in this document, if it can be found. */
  lineOf(path: readonly (string | number)[]): number | undefined;
}

const CONFIG_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** Expands files and directories (recursively, `*.yaml|*.yml|*.json`, sorted) into a file list. */
export async function listConfigFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    let st;
    try {
      st = await stat(p);
    } catch {
      throw new ConfigError('no such file or directory', { file: p });
    }
    if (st.isDirectory()) await walk(p, out);
    else out.push(p);
  }
  return out;
}

async function walk(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue; // ..data symlinks of mounted ConfigMaps, editor files
    const full = join(dir, e.name);
    if (e.isDirectory()) await walk(full, out);
    else if (CONFIG_EXTENSIONS.has(extname(e.name))) out.push(full);
  }
}

/**
 * Parses a multi-document YAML (or JSON) text. Empty documents are skipped but keep their index.
 * js-yaml reads the values (`yaml-values.ts`); `yaml` parses the text only when js-yaml declines it
 * (then it also names the error and its line) or when a field's line is asked for (an error or a
 * warning): its syntax tree, several times the documents' size, is never kept.
 */
export function parseDocuments(file: string, text: string): SourceDocument[] {
  const values = yamlDocumentValues(text);
  if (values === undefined) return parseDocumentsWithYaml(file, text);
  let positions: ReturnType<typeof parseYaml> | undefined;
  const lineOf = (docIndex: number, path: readonly (string | number)[]) => {
    positions ??= parseYaml(text);
    return lineOfPath(positions.docs[docIndex], positions.lineCounter, path);
  };
  const out: SourceDocument[] = [];
  values.forEach((value, docIndex) => {
    if (value === null || value === undefined) return;
    out.push({ file, docIndex, value, lineOf: (path) => lineOf(docIndex, path) });
  });
  return out;
}

/** The reference path: `yaml` reads the values and reports what is wrong with the text. */
function parseDocumentsWithYaml(file: string, text: string): SourceDocument[] {
  const { docs, lineCounter } = parseYaml(text);
  const out: SourceDocument[] = [];
  let trees: Document[] | undefined;
  const lineOf = (docIndex: number, path: readonly (string | number)[]) => {
    trees ??= parseYaml(text).docs;
    return lineOfPath(trees[docIndex], lineCounter, path);
  };
  docs.forEach((doc, docIndex) => {
    const err = doc.errors[0];
    if (err) {
      const line = lineCounter.linePos(err.pos[0]).line;
      throw new ConfigError(`invalid YAML: ${err.message.split('\n')[0]}`, { file, docIndex, line });
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      throw new ConfigError(`invalid YAML: ${(e as Error).message}`, { file, docIndex });
    }
    if (value === null || value === undefined) return;
    out.push({ file, docIndex, value, lineOf: (path) => lineOf(docIndex, path) });
  });
  return out;
}

function parseYaml(text: string): { docs: Document[]; lineCounter: LineCounter } {
  const { LineCounter, parseAllDocuments } = yamlLib();
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  return { docs: Array.isArray(docs) ? docs : [], lineCounter }; // not an array: an empty stream
}

function lineOfPath(doc: Document | undefined, lc: LineCounter, path: readonly (string | number)[]): number | undefined {
  for (let n = path.length; doc && n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n), true);
    if (yamlLib().isNode(node) && node.range) return lc.linePos(node.range[0]).line;
  }
  return undefined;
}

/**
 * Reads the config files in order, one at a time, handing each file's documents to `take` before
 * the next file is read: a caller that parses them there keeps none of a large config's YAML values
 * alive for long (at 1,000 services: 9 MiB of values, copied by every young-generation GC while alive).
 */
export async function forEachConfigFile(paths: readonly string[], take: (docs: SourceDocument[]) => void): Promise<void> {
  for (const file of await listConfigFiles(paths)) take(parseDocuments(file, await readFile(file, 'utf8')));
}

export async function readConfigDocuments(paths: readonly string[]): Promise<SourceDocument[]> {
  const out: SourceDocument[] = [];
  await forEachConfigFile(paths, (docs) => out.push(...docs));
  return out;
}
