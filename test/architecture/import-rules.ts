/**
 * The layering rules of src/, checked on import specifiers:
 *
 * - Istio is a front end: only config/ translates it. config/istio is imported from config/istio
 *   itself and from config/load.ts (the loader that runs the translator), never by the Envoy-shaped
 *   model (config/snapshot.ts, config/envoy/) nor by the data plane, the agent or the CLI.
 * - config/ is below the runtime: it never imports a runtime module (security/, filters/, network/, worker/,
 *   http/, router/, upstream/, listener/, codec/, tcp/, telemetry/, tracing/, admin/, agent/, cli/, entry/). Runtime
 *   modules (and explain/, which walks the runtime) may import config/ (the Snapshot and config/envoy types). common/ is shared by all.
 *
 * Specifiers are read with a small scanner (comments, strings, template and regex literals are
 * skipped; a string counts only right after `from`, `import` or `import(`), so static imports,
 * `import type`, `export ... from` and dynamic `import('...')` are all seen.
 */
import { posix } from 'node:path';

export interface SourceFile {
  /** Path relative to src/, with `/` separators, e.g. `security/jwt/keyset.ts`. */
  path: string;
  text: string;
}

export interface Violation {
  file: string;
  specifier: string;
  rule: string;
}

export const RUNTIME_LAYERS = ['security', 'filters', 'network', 'worker', 'http', 'router', 'upstream', 'listener', 'codec', 'tcp', 'telemetry', 'tracing', 'admin', 'xds', 'agent', 'cli', 'entry', 'explain', 'inject'];
/** The one module outside config/istio that may run the Istio translator. */
const ISTIO_ENTRY = 'config/load.ts';

/** The module specifiers a TypeScript/JavaScript source imports or re-exports. */
export function importSpecifiers(text: string): string[] {
  const out: string[] = [];
  let code = ''; // the code seen so far, without comments and literals (only its tail matters)
  let i = 0;
  const n = text.length;
  const prevSignificant = () => code.trimEnd();
  while (i < n) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '/' && next === '/') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? n : end;
      continue;
    }
    if (c === '/' && next === '*') {
      const end = text.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
      code += ' ';
      continue;
    }
    if (c === '"' || c === "'") {
      let j = i + 1;
      let value = '';
      while (j < n && text[j] !== c && text[j] !== '\n') {
        if (text[j] === '\\') j++;
        value += text[j];
        j++;
      }
      if (/(?:^|[^.\w$])(?:from|import)$|(?:^|[^.\w$])import\s*\($/.test(prevSignificant())) out.push(value);
      code += ' "" ';
      i = j + 1;
      continue;
    }
    if (c === '`') {
      i = skipTemplate(text, i);
      code += ' `` ';
      continue;
    }
    if (c === '/' && regexMayStart(prevSignificant())) {
      i = skipRegex(text, i);
      code += ' /r/ ';
      continue;
    }
    code += c;
    if (code.length > 256) code = code.slice(-128);
    i++;
  }
  return out;
}

/** After these a `/` starts a regular expression literal, not a division. */
function regexMayStart(before: string): boolean {
  if (before === '') return true;
  if (/(?:^|[^.\w$])(?:return|typeof|case|do|else|in|of|new|delete|void|throw|yield|await)$/.test(before)) return true;
  return '(,=:[!&|?{};+-*%<>~^'.includes(before[before.length - 1]);
}

function skipRegex(text: string, start: number): number {
  let i = start + 1;
  let inClass = false;
  while (i < text.length && text[i] !== '\n') {
    const c = text[i];
    if (c === '\\') i++;
    else if (c === '[') inClass = true;
    else if (c === ']') inClass = false;
    else if (c === '/' && !inClass) return i + 1;
    i++;
  }
  return i;
}

/** Skips a template literal, nested `${...}` (with their own strings and templates) included. */
function skipTemplate(text: string, start: number): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (c === '\\') i += 2;
    else if (c === '`') return i + 1;
    else if (c === '$' && text[i + 1] === '{') {
      let depth = 1;
      i += 2;
      while (i < text.length && depth > 0) {
        const d = text[i];
        if (d === '{') depth++;
        else if (d === '}') depth--;
        else if (d === '`') {
          i = skipTemplate(text, i);
          continue;
        } else if (d === '"' || d === "'") {
          i++;
          while (i < text.length && text[i] !== d) i += text[i] === '\\' ? 2 : 1;
        }
        i++;
      }
    } else i++;
  }
  return i;
}

/** The src-relative module a relative specifier names (`.js` written for `.ts`), or undefined for packages and `node:`. */
function resolveTarget(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  return posix.normalize(posix.join(posix.dirname(from), specifier)).replace(/\.js$/, '.ts');
}

const under = (path: string, dir: string) => path === dir || path.startsWith(dir + '/');

export function checkImports(files: readonly SourceFile[]): Violation[] {
  const out: Violation[] = [];
  for (const f of files) {
    for (const specifier of importSpecifiers(f.text)) {
      const target = resolveTarget(f.path, specifier);
      if (!target) continue;
      if (under(target, 'config/istio') && !under(f.path, 'config/istio') && f.path !== ISTIO_ENTRY) {
        out.push({ file: f.path, specifier, rule: `only config/istio and ${ISTIO_ENTRY} may import config/istio (Istio is a front end of the Envoy-shaped Snapshot)` });
      }
      const layer = target.split('/')[0];
      if (under(f.path, 'config') && RUNTIME_LAYERS.includes(layer)) {
        out.push({ file: f.path, specifier, rule: `config/ must not import the runtime module ${layer}/ (shared types belong in config/)` });
      }
    }
  }
  return out;
}

export function describeViolation(v: Violation): string {
  return `src/${v.file} imports '${v.specifier}': ${v.rule}`;
}
