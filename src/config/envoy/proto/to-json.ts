import type { AnyMessage } from './any.js';
import { encodeMessage, findMessageType, messageType, typeNameOfUrl } from './registry.js';

/**
 * An Any as Envoy's admin API shows it (/config_dump): `{"@type": url, ...fields}` with the protos'
 * field names, nested Anys expanded the same way, int64 as strings, enums by name, bytes as base64.
 * A type the API does not know shows its URL only.
 */
export function anyToJson(any: AnyMessage): Record<string, unknown> {
  const type = findMessageType(typeNameOfUrl(any.type_url));
  if (!type) return { '@type': any.type_url };
  const json = type.toObject(type.decode(any.value ?? new Uint8Array()), { longs: String, enums: String, bytes: String, json: true });
  return { '@type': any.type_url, ...json };
}

/** A message in the plain form (registry.ts) as anyToJson shows it. */
export function plainToJson(fullName: string, message: object): Record<string, unknown> {
  return anyToJson({ type_url: `type.googleapis.com/${fullName}`, value: encodeMessage(messageType(fullName), message) });
}
