import { FAILSAFE_SCHEMA, Type, loadAll } from 'js-yaml';

/**
 * The fast way from YAML text to plain values: js-yaml parses the config documents ~15x faster
 * than `yaml` (no syntax tree), which stays the reference. The schema below resolves plain
 * scalars exactly as `yaml`'s YAML 1.2 core schema does (js-yaml's own would also take `0b1`,
 * `1_000` and `+.5e3` as numbers). Whatever this path cannot promise to read the same way it
 * declines (undefined), and the caller parses the text with `yaml`:
 * - anchors and aliases: js-yaml shares the aliased object (no alias count limit, and a later
 *   walk of the value would expand it); `yaml` copies them and refuses more than 100;
 * - directives (`%YAML 1.1` switches `yaml` to 1.1 booleans and octals);
 * - a collection as a mapping key (`{{ .name }}` of a template, `[a]: b`, `? …`): `yaml` writes
 *   it out as YAML, js-yaml as `[object Object]`;
 * - anything js-yaml refuses (syntax errors, duplicate keys, unknown tags): `yaml` then names the
 *   problem and its line as it always did.
 */
export function yamlDocumentValues(text: string): unknown[] | undefined {
  if (ANCHOR_OR_ALIAS.test(text) || DIRECTIVE.test(text) || COLLECTION_KEY.test(text)) return undefined;
  let values: unknown[];
  try {
    values = loadAll(text, null, { schema: YAML_CORE_SCHEMA });
  } catch {
    return undefined;
  }
  const copies = new Map<string, string>();
  for (let i = 0; i < values.length; i++) values[i] = detached(values[i], copies);
  return values;
}

/**
 * js-yaml cuts scalars out of the text with `slice`, and V8 makes a slice of 13 characters or more
 * a view that keeps the whole text alive: a host name kept by the Snapshot kept its file (2.4 MiB for
 * the 1,000-service bench). Such strings are replaced by copies of their own, one per distinct value
 * (a host name appears in its ServiceEntry, VirtualService and DestinationRule).
 */
function detached(value: unknown, copies: Map<string, string>): unknown {
  if (typeof value === 'string') return value.length < SLICE_MIN_LENGTH ? value : copyOf(value, copies);
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = detached(value[i], copies);
    return value;
  }
  const obj = value as Record<string, unknown>;
  for (const key in obj) {
    const v = obj[key];
    const d = detached(v, copies);
    if (d !== v) obj[key] = d;
  }
  return obj;
}

const SLICE_MIN_LENGTH = 13; // V8's SlicedString::kMinLength: shorter slices are copies already

function copyOf(s: string, copies: Map<string, string>): string {
  let copy = copies.get(s);
  if (copy === undefined) {
    // the concatenation is flattened into a new string before it is sliced: a view of that one
    copy = (' ' + s).slice(1);
    copies.set(s, copy);
  }
  return copy;
}

/**
 * `&name` or `*name` where a node may start: after a line start, blank, `[`, `{`, `,`, `-` or
 * `:`. A quoted string never matches; a plain scalar such as `a *b` does, and only costs the
 * slow path.
 */
const ANCHOR_OR_ALIAS = /(?:^|[\s[{,:-])[&*][^\s\]},]/m;
const DIRECTIVE = /^%/m;
/**
 * `]:` or `}:` (a flow collection as an implicit key), `{{` or `{[` (one as the first key of a flow
 * mapping), or an explicit `?` key. Never in JSON. (`{a: 1, [b]}`, a collection key without a value
 * after the first, is not caught: no config has it.)
 */
const COLLECTION_KEY = /[\]}][ \t]*:(?:[ \t]|$)|\{[ \t]*[[{]|^[ \t-]*\?(?:[ \t]|$)/m;

/** `yaml`'s core schema tests (yaml/dist/schema/core and common/null), in its order. */
const NULL = /^(?:~|[Nn]ull|NULL)?$/;
const BOOL = /^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/;
const INT_OCT = /^0o[0-7]+$/;
const INT = /^[-+]?[0-9]+$/;
const INT_HEX = /^0x[0-9a-fA-F]+$/;
const FLOAT_NAN = /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/;
const FLOAT_EXP = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/;
const FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/;

/**
 * The first characters each test can match: js-yaml asks every type of every plain scalar (keys
 * included) in turn, and most of a config's scalars (`name`, `spec`, host names) start with a letter
 * none of them takes, so one character code answers instead of eight regexes.
 */
const NULL_STARTS = charSet('~nN');
const BOOL_STARTS = charSet('tTfF');
const INT_STARTS = charSet('+-0123456789');
const FLOAT_STARTS = charSet('+-.0123456789');
const startsWithOneOf = (data: string, starts: Uint8Array): boolean => starts[data.charCodeAt(0)] === 1; // NaN (''): undefined

function charSet(chars: string): Uint8Array {
  const set = new Uint8Array(128);
  for (const c of chars) set[c.charCodeAt(0)] = 1;
  return set;
}

const nullType = new Type('tag:yaml.org,2002:null', {
  kind: 'scalar',
  resolve: (data: string | null) => data === null || data === '' || (startsWithOneOf(data, NULL_STARTS) && NULL.test(data)),
  construct: () => null,
});

const boolType = new Type('tag:yaml.org,2002:bool', {
  kind: 'scalar',
  resolve: (data: string | null) => data !== null && startsWithOneOf(data, BOOL_STARTS) && BOOL.test(data),
  construct: (data: string) => data[0] === 't' || data[0] === 'T',
});

const intType = new Type('tag:yaml.org,2002:int', {
  kind: 'scalar',
  resolve: (data: string | null) => data !== null && startsWithOneOf(data, INT_STARTS) && (INT_OCT.test(data) || INT.test(data) || INT_HEX.test(data)),
  construct: (data: string) =>
    data.startsWith('0o') ? parseInt(data.slice(2), 8) : data.startsWith('0x') ? parseInt(data.slice(2), 16) : parseInt(data, 10),
});

const floatType = new Type('tag:yaml.org,2002:float', {
  kind: 'scalar',
  resolve: (data: string | null) => data !== null && startsWithOneOf(data, FLOAT_STARTS) && (FLOAT_NAN.test(data) || FLOAT_EXP.test(data) || FLOAT.test(data)),
  construct: (data: string) =>
    FLOAT_NAN.test(data)
      ? data.slice(-3).toLowerCase() === 'nan'
        ? NaN
        : data[0] === '-'
          ? Number.NEGATIVE_INFINITY
          : Number.POSITIVE_INFINITY
      : parseFloat(data),
});

const YAML_CORE_SCHEMA = FAILSAFE_SCHEMA.extend({ implicit: [nullType, boolType, intType, floatType] });
