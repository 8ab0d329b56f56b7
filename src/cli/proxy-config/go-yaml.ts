import type { Node, Scalar as ScalarNode, ScalarTag } from 'yaml';
import { onFirstUse } from '../../common/lazy-module.js';
import { isObject } from './json-values.js';

const yaml = onFirstUse<typeof import('yaml')>('yaml');

/**
 * A parsed JSON document as sigs.k8s.io/yaml's JSONToYAML writes it (go-yaml v2, what istioctl's
 * `-o yaml` goes through): mapping keys in go-yaml's order, sequences not indented under their
 * key, empty collections as `{}` / `[]`, numbers as Go prints them, and each string in the style
 * go-yaml picks (double-quoted when it would read back as another type, literal block when it
 * has a line break, single-quoted when plain is not allowed). Unlike go-yaml, long lines are not
 * folded at 80 columns.
 */
export function jsonToYaml(value: unknown): string {
  const lib = yaml();
  const doc = new lib.Document(null, { customTags: (tags) => [GO_NUMBER_TAG, ...tags] });
  doc.contents = toNode(value);
  return doc.toString({ indentSeq: false, lineWidth: 0 });
}

/** A number's text as go-yaml writes the int or float64 it reads from JSON. */
class GoNumber {
  constructor(readonly text: string) {}
}

const GO_NUMBER_TAG: ScalarTag = {
  identify: (v) => v instanceof GoNumber,
  default: true,
  tag: 'tag:yaml.org,2002:int',
  test: /(?!)/,
  resolve: (s) => s,
  stringify: ({ value }) => (value as GoNumber).text,
};

function toNode(value: unknown): Node {
  const { Pair, Scalar, YAMLMap, YAMLSeq } = yaml();
  if (Array.isArray(value)) {
    const seq = new YAMLSeq();
    seq.items = value.map(toNode);
    seq.flow = value.length === 0;
    return seq;
  }
  if (isObject(value)) {
    const map = new YAMLMap();
    const keys = Object.keys(value).sort((a, b) => (keyLess(a, b) ? -1 : keyLess(b, a) ? 1 : 0));
    map.items = keys.map((k) => new Pair(stringNode(k, true), toNode(value[k])));
    map.flow = keys.length === 0;
    return map;
  }
  if (typeof value === 'string') return stringNode(value, false);
  if (typeof value === 'number') return new Scalar(new GoNumber(goYamlNumber(value)));
  return new Scalar(value ?? null);
}

function stringNode(s: string, isKey: boolean): Node {
  const { Scalar } = yaml();
  const node = new Scalar(s);
  node.type = SCALAR_TYPES[stringStyle(s, isKey)];
  return node;
}

/** A JSON number: go-yaml reads an integer token as an int (printed in decimal), any other as a float64 (printed %g). */
export function goYamlNumber(n: number): string {
  if (Number.isNaN(n)) return '.nan';
  if (!Number.isFinite(n)) return n > 0 ? '.inf' : '-.inf';
  if (Number.isInteger(n) && n >= -(2 ** 63) && n < 2 ** 64) return BigInt(n).toString();
  // strconv.FormatFloat(f, 'g', -1, 64): shortest digits, exponent form outside [1e-4, 1e6)
  const [mantissa, exp] = n.toExponential().split('e');
  const e = Number(exp);
  if (e < -4 || e >= 6) return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  return String(n);
}

/** go-yaml's sorter (keyList.Less) for string keys: non-letters before letters, digit runs by value. */
export function keyLess(a: string, b: string): boolean {
  const ar = [...a];
  const br = [...b];
  for (let i = 0; i < ar.length && i < br.length; i++) {
    if (ar[i] === br[i]) continue;
    const al = isLetter(ar[i]);
    const bl = isLetter(br[i]);
    if (al && bl) return ar[i].codePointAt(0)! < br[i].codePointAt(0)!;
    if (al || bl) return bl;
    let an = 0n;
    let bn = 0n;
    if (ar[i] === '0' || br[i] === '0') {
      for (let j = i - 1; j >= 0 && isDigit(ar[j]); j--) {
        if (ar[j] !== '0') {
          an = 1n;
          bn = 1n;
          break;
        }
      }
    }
    let ai = i;
    for (; ai < ar.length && isDigit(ar[ai]); ai++) an = an * 10n + BigInt(ar[ai].codePointAt(0)! - 48);
    let bi = i;
    for (; bi < br.length && isDigit(br[bi]); bi++) bn = bn * 10n + BigInt(br[bi].codePointAt(0)! - 48);
    if (an !== bn) return an < bn;
    if (ai !== bi) return ai < bi;
    return ar[i].codePointAt(0)! < br[i].codePointAt(0)!;
  }
  return ar.length < br.length;
}

function isLetter(ch: string): boolean {
  return /\p{L}/u.test(ch);
}

function isDigit(ch: string): boolean {
  return /\p{Nd}/u.test(ch);
}

type Style = 'plain' | 'single' | 'double' | 'literal';

const SCALAR_TYPES: Record<Style, ScalarNode.Type> = { plain: 'PLAIN', single: 'QUOTE_SINGLE', double: 'QUOTE_DOUBLE', literal: 'BLOCK_LITERAL' };

/** go-yaml v2's choice for a string: encoder.stringv's request, then the emitter's analysis of the text. */
export function stringStyle(s: string, isKey: boolean): Style {
  let style: Style = s.includes('\n') ? 'literal' : resolvesAsString(s) && !isBase60Float(s) ? 'plain' : 'double';
  const a = analyzeScalar(s);
  if (isKey && a.multiline) return 'double';
  if (style === 'plain' && !a.blockPlainAllowed) style = 'single';
  if (style === 'single' && !a.singleQuotedAllowed) style = 'double';
  if (style === 'literal' && (!a.blockAllowed || isKey)) style = 'double';
  return style;
}

const NON_STRINGS = new Set([
  ...['y', 'Y', 'yes', 'Yes', 'YES', 'true', 'True', 'TRUE', 'on', 'On', 'ON'],
  ...['n', 'N', 'no', 'No', 'NO', 'false', 'False', 'FALSE', 'off', 'Off', 'OFF'],
  ...['', '~', 'null', 'Null', 'NULL'],
  ...['.nan', '.NaN', '.NAN', '.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF', '-.inf', '-.Inf', '-.INF'],
]);
const YAML_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const UINT64_MAX = (1n << 64n) - 1n;

/** Whether go-yaml v2's resolve reads the plain scalar `s` back as a string (not a bool, null, number or timestamp). */
function resolvesAsString(s: string): boolean {
  const first = s[0] ?? '';
  if (s === '') return false;
  if (!/[-+0-9yYnNtTfFoO~.]/.test(first)) return true;
  if (NON_STRINGS.has(s)) return false;
  if (first === '.') return !isGoFloat(s);
  if (!/[-+0-9]/.test(first)) return true;
  if (isTimestamp(s)) return false;
  const plain = s.replaceAll('_', '');
  if (isGoInteger(plain)) return false;
  if (YAML_FLOAT.test(plain) && Number.isFinite(Number(plain))) return false;
  if (/^-?0b[01]+$/.test(plain)) return false;
  return true;
}

/** strconv.ParseInt/ParseUint(s, 0, 64) succeeds. */
function isGoInteger(s: string): boolean {
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return false;
  let digits = m[2];
  if (/^0[0-7]+$/.test(digits)) digits = `0o${digits.slice(1)}`;
  const magnitude = BigInt(digits);
  return m[1] === '-' ? magnitude <= 1n << 63n : magnitude <= UINT64_MAX;
}

/** strconv.ParseFloat(s, 64) succeeds (for the `.`-led strings resolve tries). */
function isGoFloat(s: string): boolean {
  return /^\.[0-9]+([eE][-+]?[0-9]+)?$/.test(s) && Number.isFinite(Number(s));
}

/** go-yaml's timestamp forms: `2006-1-2T15:4:5.999999999Z07:00` (t or T), `2006-1-2 15:4:5.999999999`, `2006-1-2`. */
function isTimestamp(s: string): boolean {
  const m =
    /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[Tt](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})| (\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.\d+)?)?$/.exec(s);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [hour, minute, second] = [Number(m[4] ?? m[7] ?? 0), Number(m[5] ?? m[8] ?? 0), Number(m[6] ?? m[9] ?? 0)];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth && hour < 24 && minute < 60 && second < 60;
}

function isBase60Float(s: string): boolean {
  return /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$/.test(s);
}

interface Analysis {
  multiline: boolean;
  blockPlainAllowed: boolean;
  singleQuotedAllowed: boolean;
  blockAllowed: boolean;
}

const isBreak = (c: string) => c === '\r' || c === '\n' || c === '\u0085' || c === '\u2028' || c === '\u2029';
const isBlank = (c: string | undefined) => c === ' ' || c === '\t';

/** yaml_emitter_analyze_scalar (block context, unicode output), the parts that decide the style. */
function analyzeScalar(s: string): Analysis {
  if (s === '') return { multiline: false, blockPlainAllowed: true, singleQuotedAllowed: true, blockAllowed: false };
  const chars = [...s];
  let blockIndicators = s.startsWith('---') || s.startsWith('...');
  let specialCharacters = false;
  let lineBreaks = false;
  let leading = false;
  let trailing = false;
  let trailingSpace = false;
  let breakSpace = false;
  let spaceBreak = false;
  let previousSpace = false;
  let previousBreak = false;
  let precededByWhitespace = true;
  chars.forEach((c, i) => {
    const last = i === chars.length - 1;
    const followedByWhitespace = last || isBlank(chars[i + 1]);
    if (i === 0) {
      if ('#,[]{}&*!|>\'"%@`'.includes(c)) blockIndicators = true;
      else if ((c === '?' || c === ':' || c === '-') && followedByWhitespace) blockIndicators = true;
    } else if ((c === ':' && followedByWhitespace) || (c === '#' && precededByWhitespace)) {
      blockIndicators = true;
    }
    if (!isPrintable(c.codePointAt(0)!)) specialCharacters = true;
    if (c === ' ') {
      if (i === 0) leading = true;
      if (last) trailing = trailingSpace = true;
      if (previousBreak) breakSpace = true;
      previousSpace = true;
      previousBreak = false;
    } else if (isBreak(c)) {
      lineBreaks = true;
      if (i === 0) leading = true;
      if (last) trailing = true;
      if (previousSpace) spaceBreak = true;
      previousSpace = false;
      previousBreak = true;
    } else {
      previousSpace = false;
      previousBreak = false;
    }
    precededByWhitespace = isBlank(c) || isBreak(c);
  });
  let blockPlainAllowed = !(leading || trailing || breakSpace || lineBreaks || blockIndicators);
  let singleQuotedAllowed = !breakSpace;
  let blockAllowed = !trailingSpace;
  if (spaceBreak || specialCharacters) blockPlainAllowed = singleQuotedAllowed = blockAllowed = false;
  return { multiline: lineBreaks, blockPlainAllowed, singleQuotedAllowed, blockAllowed };
}

/** go-yaml's is_printable: LF, ASCII graphics and space, and the BMP from U+00A0 without surrogates, U+FEFF, U+FFFE/F. */
function isPrintable(cp: number): boolean {
  return cp === 0x0a || (cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd && cp !== 0xfeff);
}
