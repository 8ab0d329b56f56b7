import type protobuf from 'protobufjs';
import { protobufjs } from '../../config/envoy/proto/protobufjs.js';
import { findMessageType, typeNameOfUrl } from '../../config/envoy/proto/registry.js';
import { goFloat, goQuote } from './go-json.js';
import { goLess } from './go-strings.js';
import { isObject, jsonName, type JsonObject } from './json-values.js';

/**
 * A message given in Envoy's proto JSON (protos' field names, `{"@type", ...}` Anys) written the
 * way istioctl writes it: Go's legacy jsonpb Marshaler (github.com/golang/protobuf/jsonpb, what
 * Istio's protomarshal uses). Fields in declaration order under their lowerCamelCase JSON names,
 * unset and default fields left out, int64 as strings, strings HTML-escaped by encoding/json,
 * Anys expanded through the Envoy API types. With an indent, jsonpb's own layout, quirks
 * included: an empty message is `{`, a blank line and `}`; Struct entries sit one level deeper
 * than fields do. Types the API does not know (Istio's own filters) and fields it does not know
 * are written as they came, names lowerCamelCased, after the known fields.
 */
export function marshalJsonpb(typeName: string, message: unknown, indent = ''): string {
  const w = new JsonpbWriter(indent);
  const type = findMessageType(typeName);
  if (type) w.message(type, message, '');
  else w.generic(message, '');
  return w.out;
}

type ValueKind = { kind: 'message'; type: protobuf.Type } | { kind: 'enum'; type: protobuf.Enum } | { kind: 'scalar'; type: string } | { kind: 'generic' };

interface FieldInfo {
  protoName: string;
  jsonName: string;
  label: 'single' | 'repeated' | 'map';
  mapKey?: string;
  value: ValueKind;
  oneof?: protobuf.OneOf;
}

const INT64 = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const WRAPPERS = new Set(['BoolValue', 'BytesValue', 'StringValue', 'Int32Value', 'UInt32Value', 'FloatValue', 'Int64Value', 'UInt64Value', 'DoubleValue']);
const GENERIC: FieldInfo = { protoName: '', jsonName: '', label: 'single', value: { kind: 'generic' } };

/** google.protobuf.X → X for the types jsonpb treats as well-known; '' otherwise. */
function wellKnown(type: protobuf.Type): string {
  const name = type.fullName.replace(/^\./, '');
  if (!name.startsWith('google.protobuf.')) return '';
  const short = name.slice('google.protobuf.'.length);
  return ['Empty', 'Any', 'Duration', 'Timestamp', 'Struct', 'Value', 'ListValue', ...WRAPPERS].includes(short) ? short : '';
}

const fieldCache = new WeakMap<protobuf.Type, { fields: FieldInfo[]; byKey: Map<string, FieldInfo> }>();

function fieldsOf(type: protobuf.Type): { fields: FieldInfo[]; byKey: Map<string, FieldInfo> } {
  let cached = fieldCache.get(type);
  if (cached) return cached;
  const { MapField, Type } = protobufjs();
  const fields = type.fieldsArray.map((f): FieldInfo => {
    const resolved = f.resolvedType;
    const value: ValueKind = resolved instanceof Type ? { kind: 'message', type: resolved } : resolved ? { kind: 'enum', type: resolved } : { kind: 'scalar', type: f.type };
    const label = f instanceof MapField ? 'map' : f.repeated ? 'repeated' : 'single';
    return { protoName: f.name, jsonName: jsonName(f.name), label, mapKey: f instanceof MapField ? f.keyType : undefined, value, oneof: f.partOf ?? undefined };
  });
  const byKey = new Map<string, FieldInfo>();
  for (const f of fields) byKey.set(f.protoName, f).set(f.jsonName, f);
  cached = { fields, byKey };
  fieldCache.set(type, cached);
  return cached;
}

class JsonpbWriter {
  out = '';

  constructor(private readonly unit: string) {}

  message(type: protobuf.Type, value: unknown, indent: string, typeUrl?: string): void {
    switch (wellKnown(type)) {
      case 'Any':
        return this.any(value, indent);
      case 'Duration':
        this.out += goQuote(`${formatDuration(value)}s`);
        return;
      case 'Timestamp':
        this.out += goQuote(`${formatTimestamp(value)}Z`);
        return;
      case 'Value':
        return this.valueMessage(value, indent);
      case 'Struct':
        return this.entries(sortedEntries('string', isObject(value) ? value : {}), indent, valueElement());
      case 'ListValue':
        return this.list(Array.isArray(value) ? value : [], indent, valueElement());
      case '':
      case 'Empty':
        break;
      default: {
        // a wrapper: its bare value
        const inner = fieldsOf(type).byKey.get('value')!;
        return this.singular(inner, isObject(value) && 'value' in value ? value.value : value, indent);
      }
    }
    const object = isObject(value) ? value : {};
    this.out += this.unit ? '{\n' : '{';
    let first = true;
    const next = () => {
      if (!first) this.out += this.unit ? ',\n' : ',';
      first = false;
    };
    if (typeUrl !== undefined) {
      next();
      this.typeUrl(indent, typeUrl);
    }
    const { fields, byKey } = fieldsOf(type);
    const oneofsDone = new Set<protobuf.OneOf>();
    for (let f of fields) {
      if (f.oneof) {
        if (oneofsDone.has(f.oneof)) continue;
        oneofsDone.add(f.oneof);
        const member = fields.find((m) => m.oneof === f.oneof && fieldValue(object, m) !== undefined);
        if (!member) continue;
        f = member;
      }
      const v = fieldValue(object, f);
      if (!hasValue(f, v)) continue;
      next();
      this.field(f.jsonName, f, v, indent);
    }
    for (const [key, v] of Object.entries(object)) {
      if (key === '@type' || byKey.has(key) || v === undefined) continue;
      next();
      this.field(jsonName(key), GENERIC, v, indent);
    }
    if (this.unit) this.out += `\n${indent}`;
    this.out += '}';
  }

  /** A value of no known type, objects laid out as messages. */
  generic(value: unknown, indent: string): void {
    if (isObject(value)) this.genericObject(value, indent);
    else this.value(GENERIC, value, indent);
  }

  private any(value: unknown, indent: string): void {
    const object = isObject(value) ? value : {};
    const typeUrl = typeof object['@type'] === 'string' ? object['@type'] : '';
    const type = findMessageType(typeNameOfUrl(typeUrl));
    const { '@type': _, ...fields } = object;
    if (!type) return this.genericObject(fields, indent, typeUrl);
    const wkt = wellKnown(type);
    if (wkt === '') return this.message(type, fields, indent, typeUrl);
    this.out += this.unit ? '{\n' : '{';
    this.typeUrl(indent, typeUrl);
    this.out += this.unit ? `,\n${indent}${this.unit}"value": ` : ',"value":';
    this.message(type, fields.value, indent + this.unit);
    if (this.unit) this.out += `\n${indent}`;
    this.out += '}';
  }

  private typeUrl(indent: string, typeUrl: string): void {
    this.out += this.unit ? `${indent}${this.unit}"@type": ` : '"@type":';
    this.out += goQuote(typeUrl);
  }

  private field(name: string, f: FieldInfo, v: unknown, indent: string): void {
    if (this.unit) this.out += indent + this.unit;
    this.out += `${goQuote(name)}:${this.unit ? ' ' : ''}`;
    this.value(f, v, indent);
  }

  /** marshalValue: a list, a map or a single value of a field. */
  private value(f: FieldInfo, v: unknown, indent: string): void {
    if (f.label === 'repeated' || (f.value.kind === 'generic' && Array.isArray(v))) {
      return this.list(Array.isArray(v) ? v : [], indent, { ...f, label: 'single' });
    }
    if (f.label === 'map') return this.entries(sortedEntries(f.mapKey!, isObject(v) ? v : {}), indent, { ...f, label: 'single' });
    this.singular(f, v, indent);
  }

  private list(items: unknown[], indent: string, element: FieldInfo): void {
    this.out += '[';
    items.forEach((item, i) => {
      if (i > 0) this.out += ',';
      if (this.unit) this.out += `\n${indent}${this.unit}${this.unit}`;
      this.singular(element, item, indent + this.unit);
    });
    if (this.unit) this.out += `\n${indent}${this.unit}`;
    this.out += ']';
  }

  private entries(entries: [string, unknown][], indent: string, element: FieldInfo): void {
    this.out += '{';
    entries.forEach(([key, item], i) => {
      if (i > 0) this.out += ',';
      if (this.unit) this.out += `\n${indent}${this.unit}${this.unit}`;
      this.out += `${goQuote(key)}:${this.unit ? ' ' : ''}`;
      this.singular(element, item, indent + this.unit);
    });
    if (this.unit) this.out += `\n${indent}${this.unit}`;
    this.out += '}';
  }

  /** marshalSingularValue: a message one level in, an enum by name, or a scalar. */
  private singular(f: FieldInfo, v: unknown, indent: string): void {
    const kind = f.value;
    if (kind.kind === 'message') return this.message(kind.type, v, indent + this.unit);
    if (kind.kind === 'enum') {
      this.out += enumText(kind.type, v);
      return;
    }
    if (kind.kind === 'scalar') {
      this.out += scalarText(kind.type, v);
      return;
    }
    if (isObject(v)) return this.genericObject(v, indent + this.unit);
    if (Array.isArray(v)) return this.list(v, indent, GENERIC);
    this.out += jsonScalarText(v);
  }

  private genericObject(object: JsonObject, indent: string, typeUrl?: string): void {
    this.out += this.unit ? '{\n' : '{';
    let first = true;
    if (typeUrl !== undefined) {
      this.typeUrl(indent, typeUrl);
      first = false;
    }
    for (const [key, v] of Object.entries(object)) {
      if (v === undefined) continue;
      if (!first) this.out += this.unit ? ',\n' : ',';
      first = false;
      this.field(key.startsWith('@') ? key : jsonName(key), GENERIC, v, indent);
    }
    if (this.unit) this.out += `\n${indent}`;
    this.out += '}';
  }

  /** google.protobuf.Value: the JSON value it holds (a Struct or list one message further in). */
  private valueMessage(v: unknown, indent: string): void {
    if (isObject(v)) return this.message(structType(), v, indent + this.unit);
    if (Array.isArray(v)) return this.message(listValueType(), v, indent + this.unit);
    this.out += jsonScalarText(v);
  }
}

/** The element of a Struct's map or a ListValue's list: a google.protobuf.Value message. */
function valueElement(): FieldInfo {
  return { protoName: '', jsonName: '', label: 'single', value: { kind: 'message', type: findMessageType('google.protobuf.Value')! } };
}

function structType(): protobuf.Type {
  return findMessageType('google.protobuf.Struct')!;
}
function listValueType(): protobuf.Type {
  return findMessageType('google.protobuf.ListValue')!;
}

function fieldValue(object: JsonObject, f: FieldInfo): unknown {
  const v = object[f.protoName] ?? object[f.jsonName];
  // null is the default value, except for a google.protobuf.Value (JSON null)
  if (v === null) return f.value.kind === 'message' && wellKnown(f.value.type) === 'Value' && f.label === 'single' ? null : undefined;
  return v;
}

/** Has(fd): repeated and map fields when not empty, messages and oneof members when set, scalars when not zero. */
function hasValue(f: FieldInfo, v: unknown): boolean {
  if (v === undefined) return false;
  if (f.label === 'repeated') return Array.isArray(v) && v.length > 0;
  if (f.label === 'map') return isObject(v) && Object.keys(v).length > 0;
  if (f.oneof || f.value.kind === 'message' || f.value.kind === 'generic') return true;
  if (f.value.kind === 'enum') return enumNumber(f.value.type, v) !== 0;
  switch (f.value.type) {
    case 'bool':
      return v === true || v === 'true';
    case 'string':
    case 'bytes':
      return typeof v === 'string' && v.length > 0;
    case 'double':
    case 'float': {
      const n = Number(v);
      return n !== 0 || Object.is(n, -0);
    }
    default:
      return integerText(v) !== '0';
  }
}

function sortedEntries(keyType: string, object: JsonObject): [string, unknown][] {
  const entries = Object.entries(object);
  if (keyType === 'string') return entries.sort(([a], [b]) => (goLess(a, b) ? -1 : goLess(b, a) ? 1 : 0));
  if (keyType === 'bool') return entries.sort(([a], [b]) => Number(a === 'true') - Number(b === 'true'));
  const number = (k: string) => integerValue(k) ?? 0n;
  return entries.map(([k, v]): [string, unknown] => [integerText(k), v]).sort(([a], [b]) => (number(a) < number(b) ? -1 : number(a) > number(b) ? 1 : 0));
}

function enumNumber(type: protobuf.Enum, v: unknown): number {
  if (typeof v === 'number') return v;
  const n = typeof v === 'string' ? type.values[v] : undefined;
  return n ?? (typeof v === 'string' && /^-?\d+$/.test(v) ? Number(v) : -1);
}

function enumText(type: protobuf.Enum, v: unknown): string {
  if (type.fullName.replace(/^\./, '') === 'google.protobuf.NullValue') return 'null';
  const n = enumNumber(type, v);
  const name = type.valuesById[n];
  if (name !== undefined) return goQuote(name);
  return typeof v === 'string' && !/^-?\d+$/.test(v) ? goQuote(v) : String(n);
}

/** An integer given as a JSON number or string; undefined when it is not one. */
function integerValue(v: unknown): bigint | undefined {
  try {
    if (typeof v === 'number' && Number.isFinite(v)) return BigInt(Math.trunc(v));
    if (typeof v === 'string' && v.trim() !== '') return BigInt(v.trim());
  } catch {
    return undefined;
  }
  return v === undefined || v === null ? 0n : undefined;
}

/** An integer field's value in decimal (a value that is not an integer, as it came). */
function integerText(v: unknown): string {
  return integerValue(v)?.toString() ?? String(v);
}

function scalarText(type: string, v: unknown): string {
  if (type === 'double' || type === 'float') {
    const n = v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : Number(v);
    if (Number.isNaN(n)) return '"NaN"';
    if (n === Infinity) return '"Infinity"';
    if (n === -Infinity) return '"-Infinity"';
    return goFloat(type === 'float' ? shortestFloat32(n) : n);
  }
  if (INT64.has(type)) return goQuote(integerText(v));
  if (type === 'bool') return v === true || v === 'true' ? 'true' : 'false';
  if (type === 'string') return goQuote(typeof v === 'string' ? v : String(v ?? ''));
  if (type === 'bytes') return goQuote(typeof v === 'string' ? Buffer.from(v, 'base64').toString('base64') : '');
  return integerValue(v)?.toString() ?? goQuote(String(v));
}

/** The shortest decimal that reads back as the same float32 (how Go formats a float32). */
function shortestFloat32(n: number): number {
  const f = Math.fround(n);
  for (let digits = 1; digits <= 9; digits++) {
    const candidate = Number(f.toPrecision(digits));
    if (Math.fround(candidate) === f) return candidate;
  }
  return f;
}

function jsonScalarText(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number') return Number.isFinite(v) ? goFloat(v) : 'null';
  if (typeof v === 'boolean') return String(v);
  return goQuote(String(v));
}

/** A Duration's JSON (`"1.5s"`, or {seconds, nanos}) as jsonpb prints it: 0, 3, 6 or 9 fraction digits. */
function formatDuration(v: unknown): string {
  let seconds: bigint;
  let nanos: number;
  if (isObject(v)) {
    seconds = integerValue(v.seconds) ?? 0n;
    nanos = Number(integerValue(v.nanos) ?? 0n);
  } else {
    const m = /^(-?)(\d*)(?:\.(\d{0,9}))?s$/.exec(String(v ?? '0s'));
    if (!m) return String(v).replace(/s$/, '');
    seconds = BigInt(m[2] || '0') * (m[1] ? -1n : 1n);
    nanos = Number((m[3] ?? '').padEnd(9, '0')) * (m[1] ? -1 : 1);
  }
  const negative = seconds < 0n || nanos < 0;
  const s = negative ? -seconds : seconds;
  const ns = Math.abs(nanos);
  return trimFraction(`${negative ? '-' : ''}${s}.${String(ns).padStart(9, '0')}`);
}

/** A Timestamp's RFC 3339 text as jsonpb prints it: UTC, 0, 3, 6 or 9 fraction digits (the Z is added by the caller). */
function formatTimestamp(v: unknown): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i.exec(String(v ?? ''));
  if (!m) return String(v).replace(/Z$/, '');
  const date = new Date(`${m[1]}${m[3].toUpperCase()}`);
  const base = date.toISOString().slice(0, 19);
  return trimFraction(`${base}.${(m[2] ?? '').padEnd(9, '0')}`);
}

function trimFraction(x: string): string {
  for (const suffix of ['000', '000', '.000']) if (x.endsWith(suffix)) x = x.slice(0, -suffix.length);
  return x;
}
