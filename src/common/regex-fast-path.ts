/**
 * Finds RE2 patterns that V8's backtracking engine matches in linear time, and writes them as a
 * JavaScript RegExp (about ten times faster per match than the linear-time engine; see bench/regex.mjs).
 *
 * The proof is structural and deliberately narrow. The pattern must be one flat sequence: literals,
 * single-character atoms (`.`, `\d`, `[a-z]`, ...), optionally quantified; groups only as
 * unquantified wrappers; no alternation, no inner anchors, no `(?m)`/`(?U)`. In such a sequence every
 * quantifier must be *deterministic* (the literal right after it is outside its class, so giving a
 * character back fails at once) except at most one, and nothing after that one may be quantified:
 * each step back then costs a bounded check, so a full match is O(n · pattern length).
 * Anything else returns undefined and runs on the linear-time engine. The pattern must already be
 * valid RE2 (checked by the caller).
 */
export function linearJsRegExp(pattern: string): RegExp | undefined {
  const flagGroup = /^\(\?([is]+)\)/.exec(pattern);
  const flags = 'u' + (flagGroup?.[1] ?? '');
  let i = flagGroup ? flagGroup[0].length : 0;
  if (pattern.startsWith('^', i)) i += 1;
  else if (pattern.startsWith('\\A', i)) i += 2;

  const atoms: Atom[] = [];
  let depth = 0;
  while (i < pattern.length) {
    const rest = pattern.slice(i);
    if (rest === '$' || rest === '\\z') break;
    if (rest.startsWith('(')) {
      const open = /^\((?:\?:|\?P?<[A-Za-z_][A-Za-z0-9_]*>)?/.exec(rest);
      if (!open || rest.startsWith('(?', 0) && open[0] === '(') return undefined; // (?i:...), lookaround, ...
      depth += 1;
      i += open[0].length;
      continue;
    }
    if (rest.startsWith(')')) {
      if (depth === 0 || /^\)[*+?{]/.test(rest)) return undefined; // a quantified group
      depth -= 1;
      i += 1;
      continue;
    }
    const atom = readAtom(rest, flags);
    if (!atom) return undefined;
    i += atom.length;
    const q = /^(?:[*+?]|\{\d+(?:,\d*)?\})\??/.exec(pattern.slice(i));
    if (q) {
      atom.quantifier = q[0];
      i += q[0].length;
    }
    atoms.push(atom);
  }
  if (depth !== 0) return undefined;

  let ambiguousSeen = false;
  for (let k = 0; k < atoms.length; k++) {
    if (!atoms[k].quantifier) continue;
    if (ambiguousSeen) return undefined; // a quantifier after the ambiguous one would multiply the cost
    if (!isDeterministic(atoms[k], atoms[k + 1], flags)) ambiguousSeen = true;
  }
  try {
    return new RegExp(`^(?:${atoms.map((a) => a.js + (a.quantifier ?? '')).join('')})$`, flags);
  } catch {
    return undefined;
  }
}

interface Atom {
  /** characters of the RE2 pattern it came from */
  length: number;
  /** JavaScript source with RE2's meaning */
  js: string;
  /** the one character it matches when it is a literal */
  literal?: string;
  quantifier?: string;
}

const META = new Set([...'\\.+*?()|[]{}^$']);
// RE2 `\s` is ASCII whitespace without \v; JavaScript's is Unicode's. `.` excludes only \n in RE2.
const CLASS_ESCAPES: Record<string, string> = { d: '\\d', D: '\\D', w: '\\w', W: '\\W', s: '[\\t\\n\\f\\r ]', S: '[^\\t\\n\\f\\r ]' };

function readAtom(rest: string, flags: string): Atom | undefined {
  // JavaScript's /\w/iu also matches U+017F and U+212A (case variants of s and k); RE2's \w does not
  const caseless = flags.includes('i');
  const c = rest[0];
  if (c === '.') return { length: 1, js: flags.includes('s') ? '[^]' : '[^\\n]' };
  if (c === '[') return readClass(rest, caseless);
  if (c === '\\') {
    const n = rest[1];
    if (n in CLASS_ESCAPES && !(caseless && /[wW]/.test(n))) return { length: 2, js: CLASS_ESCAPES[n] };
    if (/^[!-/:-@[-`{-~]$/.test(n)) return { length: 2, js: literalJs(n), literal: n };
    return undefined; // \x41, \pL, \b, \Q...\E: left to the linear engine
  }
  if (META.has(c)) return undefined;
  const cp = String.fromCodePoint(rest.codePointAt(0)!);
  return { length: cp.length, js: literalJs(cp), literal: cp };
}

/** `[...]` made only of literals, escaped punctuation, ranges and `\d`/`\w`; no POSIX or Unicode classes. */
function readClass(rest: string, caseless: boolean): Atom | undefined {
  let i = 1;
  let js = '[';
  if (rest[i] === '^') {
    js += '^';
    i += 1;
  }
  if (rest[i] === ']') return undefined; // a leading literal `]` reads differently in JavaScript
  for (; i < rest.length && rest[i] !== ']'; i++) {
    const c = rest[i];
    if (c === '[') return undefined;
    if (c === '\\') {
      const n = rest[++i];
      if (n === 'd' || n === 'D' || (!caseless && (n === 'w' || n === 'W'))) js += '\\' + n;
      else if (n !== undefined && /^[!-/:-@[-`{-~]$/.test(n)) js += literalJs(n);
      else return undefined;
    } else if (c === '-') {
      js += '-';
    } else {
      const cp = String.fromCodePoint(rest.codePointAt(i)!);
      js += literalJs(cp);
      i += cp.length - 1;
    }
  }
  if (rest[i] !== ']') return undefined;
  return { length: i + 1, js: js + ']' };
}

function literalJs(ch: string): string {
  return /^[A-Za-z0-9]$/.test(ch) || ch.codePointAt(0)! > 0x7f ? ch : `\\u{${ch.codePointAt(0)!.toString(16)}}`;
}

/** Giving back a character to `next` fails at once: `next` is a literal its class cannot match. */
function isDeterministic(atom: Atom, next: Atom | undefined, flags: string): boolean {
  const lit = next?.literal;
  if (lit === undefined || next?.quantifier) return false;
  // with (?i) the literal also matches its other case: only compare caseless characters
  if (flags.includes('i') && lit.toLowerCase() !== lit.toUpperCase()) return false;
  return !new RegExp(`^${atom.js}$`, flags).test(lit);
}
