import { unpackAny, type AnyMessage } from '../proto/any.js';
import { fromProtoJson } from '../proto/json.js';
import { findMessageType } from '../proto/registry.js';
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

/**
 * The message of a typed config in the plain form: decoded off the wire, or, for a TypedStruct
 * (how EnvoyFilter patches and istiod wrap configs), its JSON fields converted as if they had come
 * over the wire (the type must be one of the Envoy API). Undefined when there is neither.
 */
export function typedMessage<T = Record<string, unknown>>(tc: TypedConfig | undefined, ref: ResourceRef, field: string): T | undefined {
  if (!tc) return undefined;
  if (tc.message) return tc.message as T;
  if (!tc.fields) return undefined;
  const type = findMessageType(tc.typeName);
  if (!type) throw resourceError(ref, field, `${tc.typeName} is not a type of the Envoy API`);
  return fromProtoJson<T>(type, tc.fields, { location: { kind: ref.kind, name: ref.name, field } });
}

/**
 * istiod's own extensions, which Outrigger recognises by type and does not run: Istio's metrics are
 * always on, and no metadata-exchange preamble is sent or expected.
 */
const ISTIO_STATS_TYPES = new Set(['stats.PluginConfig', 'istio.stats.v1.PluginConfig']);
const METADATA_EXCHANGE_TYPES = new Set([
  'envoy.tcp.metadataexchange.config.MetadataExchange',
  'io.istio.http.peer_metadata.Config',
  'envoy.extensions.network_filters.peer_metadata.Config',
  'envoy.extensions.filters.http.metadata_exchange.v3.MetadataExchange',
]);
const WASM_TYPES = new Set(['envoy.extensions.filters.http.wasm.v3.Wasm', 'envoy.extensions.filters.network.wasm.v3.Wasm']);
/** The null-VM plugins istiod configures as Wasm filters: its stats and metadata exchange. */
const ISTIO_WASM_PLUGINS = new Set(['envoy.wasm.stats', 'envoy.wasm.metadata_exchange']);

/**
 * Whether a filter's typed config is Istio's stats or metadata exchange (by type, or as one of
 * Istio's null-VM Wasm plugins): recognised, nothing to run. Any other Wasm module is not.
 */
export function isIstioTelemetryFilter(tc: TypedConfig | undefined): boolean {
  if (!tc) return false;
  if (ISTIO_STATS_TYPES.has(tc.typeName) || METADATA_EXCHANGE_TYPES.has(tc.typeName)) return true;
  if (!WASM_TYPES.has(tc.typeName)) return false;
  const vm = (tc.message?.config as { vm_config?: { runtime?: string; code?: { local?: { inline_string?: string } } } } | undefined)?.vm_config;
  return vm?.runtime === 'envoy.wasm.runtime.null' && ISTIO_WASM_PLUGINS.has(vm.code?.local?.inline_string ?? '');
}
