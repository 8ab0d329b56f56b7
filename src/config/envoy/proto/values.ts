/**
 * Readers for the well-known types in the plain form (registry.ts): what translators use instead of
 * knowing how each is spelled.
 */

/** google.protobuf.Duration. */
export interface DurationMessage {
  seconds?: string | number;
  nanos?: number;
}

/** A Duration in milliseconds (rounded down to whole ms); undefined when absent. */
export function durationMs(d: DurationMessage | undefined): number | undefined {
  if (!d) return undefined;
  return Number(d.seconds ?? 0) * 1000 + Math.trunc((d.nanos ?? 0) / 1e6);
}

/** A wrapper (UInt32Value, BoolValue, ...): its value, or undefined when the field is absent. */
export function wrapped<T>(w: { value?: T } | undefined, defaultValue: T): T;
export function wrapped<T>(w: { value?: T } | undefined): T | undefined;
export function wrapped<T>(w: { value?: T } | undefined, defaultValue?: T): T | undefined {
  if (!w) return defaultValue;
  return w.value ?? defaultValue ?? zeroOf(defaultValue);
}

/** A present wrapper without a value holds the type's zero value (proto3 omits defaults on the wire). */
function zeroOf<T>(like: T | undefined): T | undefined {
  if (typeof like === 'number') return 0 as T;
  if (typeof like === 'boolean') return false as T;
  if (typeof like === 'string') return '' as T;
  return undefined;
}

/** google.protobuf.Struct in the plain form. */
export interface StructMessage {
  fields?: Record<string, ValueMessage>;
}

/** google.protobuf.Value in the plain form (protobufjs's struct.proto spells its members in camelCase). */
export interface ValueMessage {
  nullValue?: string;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: StructMessage;
  listValue?: { values?: ValueMessage[] };
}

/** A Struct as the JSON object it stands for (metadata, TypedStruct values). */
export function structToJs(s: StructMessage | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s?.fields ?? {})) out[k] = valueToJs(v);
  return out;
}

/** A Value as the JSON value it stands for. */
export function valueToJs(v: ValueMessage | undefined): unknown {
  if (!v || v.nullValue !== undefined) return null;
  if (v.numberValue !== undefined) return v.numberValue;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.structValue !== undefined) return structToJs(v.structValue);
  if (v.listValue !== undefined) return (v.listValue.values ?? []).map(valueToJs);
  return null;
}
