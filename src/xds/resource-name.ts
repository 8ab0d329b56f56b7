import protobuf from 'protobufjs';
import type { AnyMessage } from '../config/envoy/proto/any.js';
import { findMessageType, typeNameOfUrl } from '../config/envoy/proto/registry.js';

/** Field numbers of the name of each resource type, found once per type. */
const nameFields = new Map<string, number>();

function nameFieldOf(typeUrl: string): number {
  let id = nameFields.get(typeUrl);
  if (id !== undefined) return id;
  const type = findMessageType(typeNameOfUrl(typeUrl));
  // ClusterLoadAssignment is named by cluster_name; Listener, Cluster, RouteConfiguration, Secret, ... by name
  const field = type?.fields.name ?? type?.fields.cluster_name;
  if (!field || field.type !== 'string') throw new Error(`resource type ${typeUrl} has no name field`);
  id = field.id;
  nameFields.set(typeUrl, id);
  return id;
}

/**
 * The name of a resource in a state-of-the-world response, read from its encoded Any without
 * decoding the rest of it (a Listener can be large; the name is one top-level string field).
 * Throws on bytes that are not a message.
 */
export function resourceName(any: AnyMessage): string {
  const id = nameFieldOf(any.type_url);
  const reader = protobuf.Reader.create(any.value ?? new Uint8Array());
  let name = '';
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === id && (tag & 7) === 2) {
      // protobufjs does not check a length against the end (0xffffffff wraps to -1): check it here
      const length = reader.uint32() >>> 0;
      if (length > reader.len - reader.pos) throw new RangeError(`resource name length ${length} runs past the end of the resource`);
      name = Buffer.from(reader.buf.subarray(reader.pos, reader.pos + length)).toString('utf8'); // the last occurrence wins, as protobuf parses
      reader.pos += length;
    } else reader.skipType(tag & 7);
  }
  return name;
}
