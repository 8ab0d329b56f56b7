import { readFileSync } from 'node:fs';
import { ConfigError, type ConfigLocation } from './errors.js';
import { parseDurationMs } from './duration.js';
import type { SourceDocument } from './source.js';

/** The resource a value belongs to, for error messages. */
export interface ResourceContext {
  doc?: SourceDocument;
  kind: string;
  name?: string;
  namespace?: string;
}

type Segment = string | number;
const NO_SEGMENTS: readonly Segment[] = [];

function formatPath(segs: readonly Segment[]): string {
  let s = '';
  for (const seg of segs) s += typeof seg === 'number' ? `[${seg}]` : s ? `.${seg}` : seg;
  return s;
}

/**
 * A value at a path inside a resource. Accessors check the type and throw a ConfigError that
 * names file, line, document, resource and field, so validation code stays short.
 */
export class Field {
  /** The path, when given or once asked for; else it is the parent's path and `key`. */
  #segs: readonly Segment[] | undefined;
  #parent: Field | undefined;
  #key: Segment = '';

  constructor(
    readonly value: unknown,
    segs: readonly Segment[],
    readonly ctx: ResourceContext,
  ) {
    this.#segs = segs;
  }

  /** A field below this one. Its path is only written out when asked for (an error, mostly): validation walks every field of a config. */
  #child(value: unknown, key: Segment): Field {
    const f = new Field(value, NO_SEGMENTS, this.ctx);
    f.#segs = undefined;
    f.#parent = this;
    f.#key = key;
    return f;
  }

  get segs(): readonly Segment[] {
    return (this.#segs ??= [...(this.#parent as Field).segs, this.#key]);
  }

  get path(): string {
    return formatPath(this.segs);
  }

  get present(): boolean {
    return this.value !== undefined && this.value !== null;
  }

  location(): ConfigLocation {
    const { doc, kind, name, namespace } = this.ctx;
    return {
      file: doc?.file,
      docIndex: doc?.docIndex,
      line: doc?.lineOf(this.segs),
      kind,
      name,
      namespace,
      field: this.path || undefined,
    };
  }

  fail(reason: string): never {
    throw new ConfigError(reason, this.location());
  }

  at(key: string): Field {
    const v = isPlainObject(this.value) ? this.value[key] : undefined;
    return this.#child(v, key);
  }

  /** Asserts an object; when `known` is given, any other key is an error (as Istio's strict decoding). */
  object(known?: readonly string[]): this {
    if (!isPlainObject(this.value)) this.fail(`expected an object, got ${describe(this.value)}`);
    if (known) {
      for (const key of Object.keys(this.value)) {
        if (!known.includes(key)) {
          this.#child(undefined, key).fail(`unknown field "${key}"`);
        }
      }
    }
    return this;
  }

  optObject(known?: readonly string[]): this | undefined {
    return this.present ? this.object(known) : undefined;
  }

  string(): string {
    if (typeof this.value !== 'string') this.fail(`expected a string, got ${describe(this.value)}`);
    return this.value;
  }

  optString(): string | undefined {
    return this.present ? this.string() : undefined;
  }

  nonEmptyString(): string {
    const s = this.string();
    if (s === '') this.fail('must not be empty');
    return s;
  }

  int(min = -Infinity, max = Infinity): number {
    let v = this.value;
    if (typeof v === 'string' && /^-?\d+$/.test(v)) v = Number(v); // int64/uint32 may be quoted in JSON
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(`expected an integer, got ${describe(this.value)}`);
    if (v < min || v > max) this.fail(`must be between ${min} and ${max}, got ${v}`);
    return v;
  }

  optInt(min?: number, max?: number): number | undefined {
    return this.present ? this.int(min, max) : undefined;
  }

  port(): number {
    return this.int(1, 65535);
  }

  number(): number {
    if (typeof this.value !== 'number' || !Number.isFinite(this.value)) this.fail(`expected a number, got ${describe(this.value)}`);
    return this.value;
  }

  bool(): boolean {
    if (typeof this.value !== 'boolean') this.fail(`expected true or false, got ${describe(this.value)}`);
    return this.value;
  }

  optBool(): boolean | undefined {
    return this.present ? this.bool() : undefined;
  }

  oneOf<T extends string>(values: readonly T[]): T {
    const s = this.string();
    if (!(values as readonly string[]).includes(s)) this.fail(`must be one of ${values.join(', ')}, got "${s}"`);
    return s as T;
  }

  optOneOf<T extends string>(values: readonly T[]): T | undefined {
    return this.present ? this.oneOf(values) : undefined;
  }

  /** A protobuf Duration ("1s", "100ms"), in milliseconds. */
  durationMs(): number {
    const ms = parseDurationMs(this.string());
    if (ms === undefined) this.fail(`expected a duration such as "1s" or "250ms", got "${String(this.value)}"`);
    return ms;
  }

  optDurationMs(): number | undefined {
    return this.present ? this.durationMs() : undefined;
  }

  /**
   * A string naming a file on this machine (certificates): its content, undefined when absent or
   * empty. An unreadable file is an error at this field, so the config is refused and the last
   * good one stays.
   */
  optFileContent(): string | undefined {
    const path = this.optString();
    if (!path) return undefined;
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      return this.fail(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  list(): Field[] {
    if (!Array.isArray(this.value)) this.fail(`expected a list, got ${describe(this.value)}`);
    return this.value.map((v, i) => this.#child(v, i));
  }

  /** A list, or [] when absent. */
  optList(): Field[] {
    return this.present ? this.list() : [];
  }

  stringList(): string[] {
    return this.optList().map((f) => f.string());
  }

  /** map<string, T> entries. */
  entries(): [string, Field][] {
    if (!this.present) return [];
    this.object();
    return Object.keys(this.value as object).map((k) => [k, this.at(k)]);
  }

  stringMap(): Record<string, string> {
    const out: Record<string, string> = {};
    if (!this.present) return out;
    const map = this.object().value as Record<string, unknown>;
    // no Field per entry unless one is wrong: labels are the most numerous maps of a large config
    for (const k of Object.keys(map)) {
      const v = map[k];
      out[k] = typeof v === 'string' ? v : this.at(k).string();
    }
    return out;
  }
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}
