/** Reads of a parsed JSON document (an Envoy config dump) that yield Go's zero value where a field is absent or of another type. */
export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The object, or undefined (a nil message). */
export function objectOf(v: unknown): JsonObject | undefined {
  return isObject(v) ? v : undefined;
}

export function arrayOf(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function objectsOf(v: unknown): JsonObject[] {
  return arrayOf(v).filter(isObject);
}

export function stringOf(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** A number field (proto JSON may give integers as strings); 0 if absent or not a number. */
export function numberOf(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : 0;
  return Number.isFinite(n) ? n : 0;
}

export function stringsOf(v: unknown): string[] {
  return arrayOf(v).map(stringOf);
}

/** protoc's JSON name of a field: underscores dropped, the character after each upper-cased. */
export function jsonName(protoName: string): string {
  return protoName.replace(/_+(.?)/g, (_, c: string) => c.toUpperCase());
}

/** A message's field by its proto name, or by its JSON name (proto JSON allows either; Envoy writes the proto names). */
export function field(message: unknown, protoName: string): unknown {
  if (!isObject(message)) return undefined;
  return message[protoName] ?? message[jsonName(protoName)];
}

/** field() along a path of nested messages (or Struct keys). */
export function at(message: unknown, ...path: string[]): unknown {
  let value = message;
  for (const name of path) value = field(value, name);
  return value;
}
