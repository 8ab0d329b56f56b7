import type protobuf from 'protobufjs';
import type { AnyMessage } from '../config/envoy/proto/any.js';
import { decodeMessage, encodeMessage, messageType } from '../config/envoy/proto/registry.js';

/**
 * The xDS transport messages (envoy.service.discovery.v3) in the plain form of
 * config/envoy/proto/registry.ts (proto field names, absent when unset), and their gRPC
 * serializers. Resources stay encoded Anys: decoding them is the consumer's business.
 */

/** google.rpc.Status, as a NACK carries it. */
export interface RpcStatus {
  code?: number;
  message?: string;
}

/** envoy.config.core.v3.Node in the plain form (the bootstrap's node, decoded by its reader). */
export type NodeMessage = Record<string, unknown>;

export interface DiscoveryRequest {
  version_info?: string;
  node?: NodeMessage;
  resource_names?: string[];
  type_url: string;
  response_nonce?: string;
  error_detail?: RpcStatus;
}

export interface DiscoveryResponse {
  version_info?: string;
  resources?: AnyMessage[];
  type_url: string;
  nonce?: string;
  control_plane?: { identifier?: string };
}

export interface DeltaDiscoveryRequest {
  node?: NodeMessage;
  type_url: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: RpcStatus;
}

/** envoy.service.discovery.v3.Resource: one resource of a delta response. */
export interface ResourceMessage {
  name?: string;
  aliases?: string[];
  version?: string;
  /** Absent in a heartbeat (TTL refresh) of a resource the client holds at this version. */
  resource?: AnyMessage;
}

export interface DeltaDiscoveryResponse {
  system_version_info?: string;
  resources?: ResourceMessage[];
  type_url: string;
  removed_resources?: string[];
  nonce?: string;
  control_plane?: { identifier?: string };
}

/** A gRPC message codec (grpc-js's serialize/deserialize pair) for one message type. */
export interface MessageCodec<T> {
  serialize(message: T): Buffer;
  deserialize(bytes: Buffer): T;
}

/** The type is looked up on first use: loading the Envoy API (~1 s) is paid only by a process that speaks xDS. */
function codecFor<T extends object>(fullName: string): MessageCodec<T> {
  let type: protobuf.Type | undefined;
  const resolve = () => (type ??= messageType(fullName));
  return {
    serialize: (message) => encodeMessage(resolve(), message),
    deserialize: (bytes) => decodeMessage<T>(resolve(), bytes),
  };
}

export const discoveryRequestCodec = codecFor<DiscoveryRequest>('envoy.service.discovery.v3.DiscoveryRequest');
export const discoveryResponseCodec = codecFor<DiscoveryResponse>('envoy.service.discovery.v3.DiscoveryResponse');
export const deltaRequestCodec = codecFor<DeltaDiscoveryRequest>('envoy.service.discovery.v3.DeltaDiscoveryRequest');
export const deltaResponseCodec = codecFor<DeltaDiscoveryResponse>('envoy.service.discovery.v3.DeltaDiscoveryResponse');

/** The gRPC methods an xDS client calls. */
export const XDS_METHODS = {
  /** ADS, state of the world (Envoy's api_type GRPC). */
  sotw: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
  /** ADS, incremental (Envoy's api_type DELTA_GRPC; istiod's default). */
  delta: '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources',
  /** SDS, state of the world: what pilot-agent serves on its workload socket. */
  sds: '/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets',
} as const;
