import { decodeMessage, findMessageType, typeNameOfUrl } from './registry.js';

/** google.protobuf.Any in the plain form: the payload still encoded. */
export interface AnyMessage {
  type_url: string;
  value?: Uint8Array;
}

/** An Any's payload: decoded when the API knows its type, else only named (Istio's own types are not shipped). */
export type Unpacked<T = Record<string, unknown>> = { typeName: string; known: true; message: T } | { typeName: string; known: false };

/**
 * Decodes an Any's payload (lazily: a translator unpacks what it reads, so an Istio type it only
 * needs to recognise by URL costs nothing). Throws protobufjs's error on bytes that do not decode.
 */
export function unpackAny<T = Record<string, unknown>>(any: AnyMessage): Unpacked<T> {
  const typeName = typeNameOfUrl(any.type_url);
  const type = findMessageType(typeName);
  if (!type) return { typeName, known: false };
  return { typeName, known: true, message: decodeMessage<T>(type, any.value ?? new Uint8Array()) };
}
