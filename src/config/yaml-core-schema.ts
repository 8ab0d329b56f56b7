import type { Schema } from 'js-yaml';
import { jsYamlLib } from './yaml-libs.js';

/**
 * Plain scalars as `yaml`'s YAML 1.2 core schema resolves them (yaml/dist/schema/core and
 * common/null, in its order): null, booleans, integers (decimal, 0o octal, 0x hex) and floats
 * (.inf, .nan, exponents); anything else is a string. js-yaml's own schema would also take `0b1`,
 * `1_000` and `+.5e3` as numbers, YAML 1.1 `yes` and `012` octal.
 */
const NULL = /^(?:~|[Nn]ull|NULL)?$/;
const BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const INT_OCT = /^0o[0-7]+$/;
const INT = /^[-+]?[0-9]+$/;
const INT_HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT_NAN = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const FLOAT_EXP = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;

/**
 * The first characters each test can match: most of a config's scalars (`name`, `spec`, host
 * names) start with a letter none of them takes, so one character code answers instead of eight
 * regexes.
 */
const NULL_STARTS = charSet('~nN');
const BOOL_STARTS = charSet('tTfF');
const INT_STARTS = charSet('+-0123456789');
const FLOAT_STARTS = charSet('+-.0123456789');
const startsWithOneOf = (data: string, starts: Uint8Array): boolean => starts[data.charCodeAt(0)] === 1; // NaN (''): undefined

/** A table of the ASCII characters in `chars`, read by char code (1: in the set). */
export function charSet(chars: string): Uint8Array {
  const set = new Uint8Array(128);
  for (const c of chars) set[c.charCodeAt(0)] = 1;
  return set;
}

const isNull = (data: string): boolean => data === '' || (startsWithOneOf(data, NULL_STARTS) && NULL.test(data));
const isBool = (data: string): boolean => startsWithOneOf(data, BOOL_STARTS) && BOOL.test(data);
const isInt = (data: string): boolean => startsWithOneOf(data, INT_STARTS) && (INT_OCT.test(data) || INT.test(data) || INT_HEX.test(data));
// every float form has one dot at most: an IP address (a config's most numerous scalar starting with a digit) is ruled out without a regex
const isFloat = (data: string): boolean =>
  startsWithOneOf(data, FLOAT_STARTS) && data.indexOf('.') === data.lastIndexOf('.') && (FLOAT_NAN.test(data) || FLOAT_EXP.test(data) || FLOAT.test(data));
const toBool = (data: string): boolean => data[0] === 't' || data[0] === 'T';
const toInt = (data: string): number =>
  data.startsWith('0o') ? parseInt(data.slice(2), 8) : data.startsWith('0x') ? parseInt(data.slice(2), 16) : parseInt(data, 10);
const toFloat = (data: string): number =>
  FLOAT_NAN.test(data)
    ? data.slice(-3).toLowerCase() === 'nan'
      ? NaN
      : data[0] === '-'
        ? Number.NEGATIVE_INFINITY
        : Number.POSITIVE_INFINITY
    : parseFloat(data);

/** The value of a plain scalar (its text as written, without surrounding spaces). */
export function plainScalar(data: string): unknown {
  if (isNull(data)) return null;
  if (isBool(data)) return toBool(data);
  if (isInt(data)) return toInt(data);
  if (isFloat(data)) return toFloat(data);
  return data;
}

let schema: Schema | undefined;

/** The same resolution as js-yaml types (it asks each type of every plain scalar, keys included, in turn); made on first use. */
export function yamlCoreSchema(): Schema {
  const { FAILSAFE_SCHEMA, Type } = jsYamlLib();
  return (schema ??= FAILSAFE_SCHEMA.extend({
    implicit: [
      new Type('tag:yaml.org,2002:null', { kind: 'scalar', resolve: (data: string | null) => data === null || isNull(data), construct: () => null }),
      new Type('tag:yaml.org,2002:bool', { kind: 'scalar', resolve: (data: string | null) => data !== null && isBool(data), construct: toBool }),
      new Type('tag:yaml.org,2002:int', { kind: 'scalar', resolve: (data: string | null) => data !== null && isInt(data), construct: toInt }),
      new Type('tag:yaml.org,2002:float', { kind: 'scalar', resolve: (data: string | null) => data !== null && isFloat(data), construct: toFloat }),
    ],
  }));
}
