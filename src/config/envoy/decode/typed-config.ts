import { unpackAny, type AnyMessage } from '../proto/any.js';
import { structToJs, type StructMessage } from '../proto/values.js';
import { resourceError, type ResourceRef } from './context.js';

/**
 * A typed_config as a decoder reads it: the type it names and, when the Envoy API knows that type,
 * the decoded message. A TypedStruct (udpa.type.v1 / xds.type.v3, how istiod wraps its own types)
 * names the type it stands for and carries its fields as JSON.
 */
export interface TypedConfig<T = Record<string, unknown>> {
  typeName: string;
  /** The decoded message (a type of the Envoy API). */
  message?: T;
  /** A TypedStruct's fields, as JSON. */
  fields?: Record<string, unknown>;
}

const TYPED_STRUCTS = new Set(['udpa.type.v1.TypedStruct', 'xds.type.v3.TypedStruct']);

/** Unpacks `any` (bytes that do not decode are an error naming `field`); undefined when absent. */
export function typedConfigOf<T = Record<string, unknown>>(any: AnyMessage | undefined, ref: ResourceRef, field: string): TypedConfig<T> | undefined {
  if (!any) return undefined;
  let unpacked;
  try {
    unpacked = unpackAny<Record<string, unknown>>(any);
  } catch (e) {
    throw resourceError(ref, field, `${any.type_url} does not decode: ${(e as Error).message}`);
  }
  if (!unpacked.known) return { typeName: unpacked.typeName };
  if (TYPED_STRUCTS.has(unpacked.typeName)) {
    const ts = unpacked.message as { type_url?: string; value?: StructMessage };
    const url = ts.type_url ?? '';
    return { typeName: url.slice(url.lastIndexOf('/') + 1), fields: structToJs(ts.value) };
  }
  return { typeName: unpacked.typeName, message: unpacked.message as T };
}

/** The decoded message of a typed_config that must be `typeName`. */
export function expectTyped<T>(any: AnyMessage | undefined, typeName: string, ref: ResourceRef, field: string): T {
  const t = typedConfigOf<T>(any, ref, field);
  if (!t) throw resourceError(ref, field, `a typed_config of type ${typeName} is required`);
  if (t.typeName !== typeName || !t.message) throw resourceError(ref, field, `expected ${typeName}, got ${t.typeName}`);
  return t.message;
}

/**
 * istiod's own extensions, which Outrigger recognises by type and does not run: what each does is
 * either built into Outrigger (Istio's metrics are always on; upstream ALPN already follows the
 * cluster's protocol) or not spoken at all (no metadata-exchange preamble is sent or expected).
 */
export const ISTIO_STATS_TYPES = new Set(['stats.PluginConfig', 'istio.stats.v1.PluginConfig']);
export const METADATA_EXCHANGE_TYPES = new Set([
  'envoy.tcp.metadataexchange.config.MetadataExchange',
  'io.istio.http.peer_metadata.Config',
  'envoy.extensions.network_filters.peer_metadata.Config',
  'envoy.extensions.filters.http.metadata_exchange.v3.MetadataExchange',
]);

/**
 * A Wasm filter config that is one of Istio's built-in null-VM plugins (stats or metadata
 * exchange): which one, or undefined for any other Wasm module (which Outrigger cannot run).
 */
export function istioWasmPlugin(message: Record<string, unknown> | undefined): 'stats' | 'metadata_exchange' | undefined {
  const config = message?.config as { root_id?: string; vm_config?: { runtime?: string; code?: { local?: { inline_string?: string } } } } | undefined;
  const vm = config?.vm_config;
  if (vm?.runtime !== 'envoy.wasm.runtime.null') return undefined;
  const code = vm.code?.local?.inline_string;
  if (code === 'envoy.wasm.stats') return 'stats';
  if (code === 'envoy.wasm.metadata_exchange') return 'metadata_exchange';
  return undefined;
}
