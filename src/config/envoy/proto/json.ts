import type protobuf from 'protobufjs';
import { protobufjs } from './protobufjs.js';
import { ConfigError, type ConfigLocation } from '../../errors.js';
import { encodeMessage, findMessageType, typeNameOfUrl } from './registry.js';

/** What to do with a JSON key the message has no field for (Envoy: an error, or with --allow-unknown-static-fields a warning). */
export interface JsonOptions {
  /** Where the message sits, for errors (file, and the kind/name of the resource). */
  location: ConfigLocation;
  /** Unknown fields are ignored with this warning instead of failing. */
  onUnknownField?: (fieldPath: string) => void;
  /**
   * An Any of a type the API does not have (Istio's own: istio.stats, metadata_exchange, ...) is
   * kept with its type URL and an empty payload, after this warning, instead of failing: a
   * translator recognises those by URL only.
   */
  onUnknownAnyType?: (fieldPath: string, typeUrl: string) => void;
}

const WRAPPERS = new Set(['DoubleValue', 'FloatValue', 'Int64Value', 'UInt64Value', 'Int32Value', 'UInt32Value', 'BoolValue', 'StringValue', 'BytesValue'].map((n) => `google.protobuf.${n}`));

/**
 * A message in proto3's JSON form (a bootstrap file, `--config-yaml`) converted to the plain form
 * registry.ts describes, as if it had come over the wire: field names as in the proto or in
 * lowerCamelCase, durations as `"1.5s"`, wrappers as bare values, Struct as any JSON, enums by
 * name or number, and an Any as `{"@type": url, ...fields}` (encoded, as a wire Any is). A value
 * of the wrong type, an unknown enum name or an Any of a type the API does not know is a
 * ConfigError naming the field.
 */
export function fromProtoJson<T>(type: protobuf.Type, json: unknown, options: JsonOptions): T {
  return convertMessage(type, json, '', options) as T;
}

function fail(options: JsonOptions, field: string, reason: string): never {
  throw new ConfigError(reason, { ...options.location, field: field || undefined });
}

function join(path: string, key: string | number): string {
  return typeof key === 'number' ? `${path}[${key}]` : path ? `${path}.${key}` : key;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** lowerCamelCase of a proto field name, the JSON name protoc gives it. */
function jsonName(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

const fieldsByJsonKey = new WeakMap<protobuf.Type, Map<string, protobuf.Field>>();
function fieldFor(type: protobuf.Type, key: string): protobuf.Field | undefined {
  let m = fieldsByJsonKey.get(type);
  if (!m) {
    m = new Map();
    for (const f of type.fieldsArray) {
      m.set(f.name, f);
      m.set(jsonName(f.name), f);
    }
    fieldsByJsonKey.set(type, m);
  }
  return m.get(key);
}

function convertMessage(type: protobuf.Type, json: unknown, path: string, options: JsonOptions): unknown {
  const wkt = convertWellKnown(type, json, path, options);
  if (wkt !== undefined) return wkt;
  if (!isObject(json)) fail(options, path, `expected an object (${type.name}), got ${describe(json)}`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(json)) {
    const field = fieldFor(type, key);
    const fieldPath = join(path, key);
    if (!field) {
      if (options.onUnknownField) {
        options.onUnknownField(fieldPath);
        continue;
      }
      fail(options, fieldPath, `unknown field (${type.fullName.slice(1)} has no field "${key}")`);
    }
    if (value === null) continue; // proto3 JSON: null is the default value
    if (field.map) {
      if (!isObject(value)) fail(options, fieldPath, `expected an object (a map), got ${describe(value)}`);
      const m: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) m[k] = convertValue(field, v, join(fieldPath, k), options);
      if (Object.keys(m).length) out[field.name] = m;
    } else if (field.repeated) {
      if (!Array.isArray(value)) fail(options, fieldPath, `expected a list, got ${describe(value)}`);
      if (value.length) out[field.name] = value.map((v, i) => convertValue(field, v, join(fieldPath, i), options));
    } else {
      out[field.name] = convertValue(field, value, fieldPath, options);
    }
    // the plain form names the set member of a oneof, as decodeMessage's does
    if (field.partOf && !field.partOf.name.startsWith('_')) out[field.partOf.name] = field.name;
  }
  return out;
}

function convertValue(field: protobuf.Field, value: unknown, path: string, options: JsonOptions): unknown {
  const rt = field.resolvedType;
  if (rt instanceof protobufjs().Type) return convertMessage(rt, value, path, options);
  if (rt instanceof protobufjs().Enum) {
    if (typeof value === 'number') {
      const name = rt.valuesById[value];
      if (name === undefined) fail(options, path, `${value} is not a value of ${rt.name}`);
      return name;
    }
    if (typeof value !== 'string' || !(value in rt.values)) fail(options, path, `${JSON.stringify(value)} is not a value of ${rt.name} (${Object.keys(rt.values).join(', ')})`);
    return value;
  }
  return convertScalar(field.type, value, path, options);
}

function convertScalar(type: string, value: unknown, path: string, options: JsonOptions): unknown {
  switch (type) {
    case 'string':
      if (typeof value !== 'string') fail(options, path, `expected a string, got ${describe(value)}`);
      return value;
    case 'bool':
      if (typeof value !== 'boolean') fail(options, path, `expected true or false, got ${describe(value)}`);
      return value;
    case 'bytes':
      if (typeof value !== 'string') fail(options, path, `expected base64 text, got ${describe(value)}`);
      return Buffer.from(value, 'base64');
    case 'double':
    case 'float': {
      const n = typeof value === 'string' ? Number(value) : value;
      if (typeof n !== 'number' || Number.isNaN(n)) fail(options, path, `expected a number, got ${describe(value)}`);
      return n;
    }
    case 'int64':
    case 'uint64':
    case 'sint64':
    case 'fixed64':
    case 'sfixed64': {
      // 64-bit integers: decimal strings in the plain form, as decodeMessage gives them
      const text = typeof value === 'number' ? String(value) : value;
      if (typeof text !== 'string' || !/^-?\d+$/.test(text) || (type.startsWith('u') && text.startsWith('-'))) fail(options, path, `expected an integer, got ${describe(value)}`);
      return text;
    }
    default: {
      const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n)) fail(options, path, `expected an integer, got ${describe(value)}`);
      if ((type === 'uint32' || type === 'fixed32') && n < 0) fail(options, path, `expected an unsigned integer, got ${n}`);
      return n;
    }
  }
}

/** The JSON forms of the well-known types; undefined when `type` is not one. */
function convertWellKnown(type: protobuf.Type, json: unknown, path: string, options: JsonOptions): unknown {
  const name = type.fullName.slice(1);
  if (name === 'google.protobuf.Duration') return duration(json, path, options);
  if (WRAPPERS.has(name)) return { value: convertValue(type.fields.value!, json, path, options) };
  if (name === 'google.protobuf.Struct') {
    if (!isObject(json)) fail(options, path, `expected an object, got ${describe(json)}`);
    return struct(json);
  }
  if (name === 'google.protobuf.Value') return structValue(json);
  if (name === 'google.protobuf.ListValue') {
    if (!Array.isArray(json)) fail(options, path, `expected a list, got ${describe(json)}`);
    return { values: json.map(structValue) };
  }
  if (name === 'google.protobuf.Any') return any(json, path, options);
  return undefined;
}

function duration(json: unknown, path: string, options: JsonOptions): { seconds: string; nanos: number } {
  const m = typeof json === 'string' ? /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(json) : null;
  if (!m) fail(options, path, `expected a duration such as "1.5s", got ${describe(json)}`);
  const sign = m[1] ? -1 : 1;
  const nanos = m[3] ? Number(m[3].padEnd(9, '0')) : 0;
  return { seconds: `${m[1] ?? ''}${m[2]}`, nanos: sign * nanos };
}

function struct(json: Record<string, unknown>): { fields?: Record<string, unknown> } {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) fields[k] = structValue(v);
  // an empty map is absent in the plain form, as decodeMessage leaves it
  return Object.keys(fields).length ? { fields } : {};
}

/** google.protobuf.Value, its members named as protobufjs's own struct.proto names them (camelCase). */
function structValue(v: unknown): Record<string, unknown> {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE', kind: 'nullValue' };
  if (typeof v === 'number') return { numberValue: v, kind: 'numberValue' };
  if (typeof v === 'string') return { stringValue: v, kind: 'stringValue' };
  if (typeof v === 'boolean') return { boolValue: v, kind: 'boolValue' };
  if (Array.isArray(v)) return { listValue: { values: v.map(structValue) }, kind: 'listValue' };
  return { structValue: struct(v as Record<string, unknown>), kind: 'structValue' };
}

function any(json: unknown, path: string, options: JsonOptions): { type_url: string; value: Buffer } {
  if (!isObject(json) || typeof json['@type'] !== 'string') fail(options, path, 'expected an object with "@type" (an Any)');
  const typeUrl = json['@type'] as string;
  const inner = findMessageType(typeNameOfUrl(typeUrl));
  if (!inner && options.onUnknownAnyType) {
    options.onUnknownAnyType(path, typeUrl);
    return { type_url: typeUrl, value: Buffer.alloc(0) };
  }
  if (!inner) fail(options, join(path, '@type'), `unknown type ${typeUrl}`);
  const { '@type': _, ...fields } = json;
  // a well-known type inside an Any keeps its JSON form under "value"
  const body = isWellKnown(inner) ? fields.value : fields;
  const message = convertMessage(inner, body, path, options);
  return { type_url: typeUrl, value: encodeMessage(inner, message as object) };
}

function isWellKnown(type: protobuf.Type): boolean {
  return type.fullName.startsWith('.google.protobuf.');
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}
