import type { RE2JS } from 're2js';
import { linearJsRegExp } from './regex-fast-path.js';
import { onFirstUse } from './lazy-module.js';
import { sharedCompiled } from './shared-compiled.js';

/**
 * Regexes from config (Istio and Envoy take RE2 syntax) run in time linear in the input, as RE2 does:
 * a pattern is parsed and checked by re2js (a pure-JavaScript port of RE2/J), which refuses what RE2
 * refuses (backreferences, lookaround, ...). Matching runs on V8's RegExp when the pattern is proven
 * free of backtracking blow-up (regex-fast-path.ts), on re2js otherwise. Figures: bench/regex.mjs.
 */

/** A pattern RE2 refuses; the message is RE2's. */
export class RegexSyntaxError extends Error {}

export interface CompiledRegex {
  /** Whether the pattern matches the whole value (Envoy safe_regex). */
  test(value: string): boolean;
}

/**
 * re2js, loaded (synchronously: its CommonJS build) by the first pattern compiled, at config time: a
 * config without regexes never loads it (0.6 MiB of V8 heap in each thread).
 */
const engine = onFirstUse<typeof import('re2js')>('re2js');

function parse(pattern: string): RE2JS {
  const { RE2JS, RE2JSException } = engine();
  try {
    return RE2JS.compile(pattern);
  } catch (e) {
    if (e instanceof RE2JSException) throw new RegexSyntaxError(e.message);
    throw e;
  }
}

/** Compiles an RE2 pattern that must match the whole input; throws RegexSyntaxError if RE2 refuses it. */
export const compileRegex: (pattern: string) => CompiledRegex = sharedCompiled(1024, (pattern) => {
  // shared by pattern: validation and each worker compile a VirtualService's pattern, and a mesh
  // repeats them; a compiled pattern keeps no state between tests (no global or sticky flag)
  const re2 = parse(pattern);
  return linearJsRegExp(pattern) ?? { test: (v: string) => re2.testExact(v) };
});

/** Why RE2 refuses a pattern (its message), or undefined when it takes it: for config validation. */
export function regexError(pattern: string): string | undefined {
  try {
    compileRegex(pattern);
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/** An RE2 pattern that may match anywhere in the input (admin `/stats?filter=`). */
export function compileSearchRegex(pattern: string): CompiledRegex {
  const re2 = parse(pattern);
  return { test: (v) => re2.test(v) };
}

/**
 * Envoy's regex_rewrite: RE2::GlobalReplace of every non-overlapping match. In the substitution `\0`–`\9`
 * insert a group and `\\` a backslash; other characters (`$` too) are literal. A substitution naming a
 * group the pattern does not have makes RE2 replace nothing, so the input comes back unchanged.
 */
export function compileRegexRewrite(pattern: string, substitution: string): (input: string) => string {
  const re2 = parse(pattern);
  const parts = parseSubstitution(substitution);
  const maxGroup = Math.max(-1, ...parts.filter((p) => typeof p === 'number'));
  if (maxGroup > re2.groupCount()) return (input) => input;
  return (input) => {
    const m = re2.matcher(input);
    let out = '';
    let pos = 0;
    let lastEnd = -1;
    while (pos <= input.length && m.find(pos)) {
      const start = m.start();
      const end = m.end();
      if (start === end && start === lastEnd) {
        // RE2 refuses an empty match where the previous match ended: copy one character on
        if (pos < input.length) {
          const step = String.fromCodePoint(input.codePointAt(pos)!).length;
          out += input.slice(pos, pos + step);
          pos += step;
        } else pos += 1;
        continue;
      }
      out += input.slice(pos, start);
      for (const p of parts) out += typeof p === 'number' ? (m.group(p) ?? '') : p;
      pos = lastEnd = end;
    }
    return lastEnd < 0 ? input : out + input.slice(Math.min(pos, input.length));
  };
}

/** RE2's rewrite string: literal text and group numbers. */
function parseSubstitution(s: string): (string | number)[] {
  const parts: (string | number)[] = [];
  let lit = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && i + 1 < s.length && /[0-9\\]/.test(s[i + 1])) {
      const n = s[++i];
      if (n === '\\') lit += '\\';
      else {
        if (lit) parts.push(lit);
        lit = '';
        parts.push(Number(n));
      }
    } else lit += s[i];
  }
  if (lit) parts.push(lit);
  return parts;
}

/** Characters that stand for themselves outside a character class (RE2). */
const PLAIN = /^[A-Za-z0-9_\-=,;:/@%'"!~<># &]$/;

/**
 * The literal text every full match of an RE2 pattern starts with, '' when there is none to be sure
 * of: lets a caller skip the engine for values that cannot match (`vhost\..*\.route\..*` needs
 * `vhost.`). Deliberately narrow: a pattern with `|` anywhere has none; otherwise plain characters
 * and escaped punctuation (`\.`) are read up to the first other character, and one followed by `?`,
 * `*` or `{` (it may be absent) ends the prefix before it.
 */
export function literalPrefix(pattern: string): string {
  if (pattern.includes('|')) return '';
  let out = '';
  for (let i = pattern.startsWith('^') ? 1 : 0; i < pattern.length; ) {
    let literal: string;
    if (PLAIN.test(pattern[i])) literal = pattern[i];
    else if (pattern[i] === '\\' && i + 1 < pattern.length && /^[!-/:-@[-`{-~]$/.test(pattern[i + 1])) literal = pattern[i + 1];
    else break;
    i += pattern[i] === '\\' ? 2 : 1;
    const next = pattern[i];
    if (next === '?' || next === '*' || next === '{') break;
    out += literal;
    if (next === '+') break;
  }
  return out;
}
