import { blockYamlValues } from './yaml-block.js';
import { yamlCoreSchema } from './yaml-core-schema.js';
import { jsYamlLib } from './yaml-libs.js';

/**
 * The fast ways from YAML text to plain values, `yaml` (which builds a syntax tree) staying the
 * reference:
 * 1. the block YAML reader (yaml-block.ts) takes the shape Kubernetes manifests have;
 * 2. js-yaml, ~15x faster than `yaml`, whatever else it can promise to read as `yaml` does. Its
 *    schema (yaml-core-schema.ts) resolves plain scalars as `yaml`'s YAML 1.2 core schema does
 *    (js-yaml's own would also take `0b1`, `1_000` and `+.5e3` as numbers).
 * Whatever neither can promise to read the same way is declined (undefined), and the caller parses
 * the text with `yaml`:
 * - anchors and aliases: js-yaml shares the aliased object (no alias count limit, and a later
 *   walk of the value would expand it); `yaml` copies them and refuses more than 100;
 * - directives (`%YAML 1.1` switches `yaml` to 1.1 booleans and octals);
 * - a collection as a mapping key (`{{ .name }}` of a template, `[a]: b`, `? …`): `yaml` writes
 *   it out as YAML, js-yaml as `[object Object]`;
 * - anything js-yaml refuses (syntax errors, duplicate keys, unknown tags): `yaml` then names the
 *   problem and its line as it always did.
 */
export function yamlDocumentValues(text: string): unknown[] | undefined {
  const copies = new Map<string, string>();
  const block = blockYamlValues(text, (s) => detachedString(s, copies));
  if (block !== undefined) return block;
  if (ANCHOR_OR_ALIAS.test(text) || DIRECTIVE.test(text) || COLLECTION_KEY.test(text)) return undefined;
  let values: unknown[];
  try {
    values = jsYamlLib().loadAll(text, null, { schema: yamlCoreSchema() });
  } catch {
    return undefined;
  }
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
  if (typeof value === 'string') return detachedString(value, copies);
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

/** `s` as a string of its own: a copy, one per distinct value, when it may be a view of the text. */
function detachedString(s: string, copies: Map<string, string>): string {
  if (s.length < SLICE_MIN_LENGTH) return s;
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

