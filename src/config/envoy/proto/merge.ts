import type protobuf from 'protobufjs';
import { protobufjs } from './protobufjs.js';

/**
 * protobuf's MergeFrom on two messages in the plain form (registry.ts): what Envoy does with
 * `--config-yaml` over the `-c` bootstrap. A set scalar of `overlay` replaces the target's (a proto3
 * scalar at its zero value counts as unset, as on the wire, unless the field has explicit presence);
 * a message field merges recursively; a repeated field appends; a map replaces entry by entry;
 * setting one member of a oneof clears the others. Returns a new object; the inputs are not changed.
 */
export function mergeMessage<T extends object>(type: protobuf.Type, target: T, overlay: object): T {
  const out: Record<string, unknown> = { ...(target as Record<string, unknown>) };
  const over = overlay as Record<string, unknown>;
  for (const field of type.fieldsArray) {
    const value = over[field.name];
    if (value === undefined) continue;
    const current = out[field.name];
    if (field.map) {
      out[field.name] = { ...(current as object | undefined), ...(value as object) };
    } else if (field.repeated) {
      out[field.name] = [...((current as unknown[] | undefined) ?? []), ...(value as unknown[])];
    } else if (field.resolvedType instanceof protobufjs().Type) {
      out[field.name] = current === undefined ? value : mergeMessage(field.resolvedType, current as object, value as object);
    } else if (hasPresence(field) || !isZero(field, value)) {
      out[field.name] = value;
    } else {
      continue;
    }
    const oneof = field.partOf;
    if (oneof && !oneof.name.startsWith('_')) {
      for (const sibling of oneof.fieldsArray) if (sibling !== field) delete out[sibling.name];
      out[oneof.name] = field.name;
    }
  }
  return out as T;
}

/** proto3 `optional` fields (synthetic oneofs `_name`) and oneof members keep a zero value that was set. */
function hasPresence(field: protobuf.Field): boolean {
  return field.partOf !== null || field.options?.proto3_optional === true;
}

function isZero(field: protobuf.Field, value: unknown): boolean {
  if (field.resolvedType instanceof protobufjs().Enum) return field.resolvedType.values[value as string] === 0;
  if (value === 0 || value === '' || value === false || value === '0') return true;
  if (value instanceof Uint8Array) return value.length === 0;
  return false;
}
