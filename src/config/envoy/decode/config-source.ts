import type { SdsConfigSource } from '../../snapshot.js';
import { fieldPath, resourceError, type DecodeContext, type ResourceRef } from './context.js';
import { checkFields, type FieldPolicy } from './fields.js';

/** envoy.config.core.v3.ConfigSource in the plain form. */
export interface ConfigSourceMessage {
  ads?: object;
  self?: object;
  api_config_source?: ApiConfigSourceMessage;
  config_source_specifier?: string;
  initial_fetch_timeout?: object;
  resource_api_version?: string;
}

/** envoy.config.core.v3.ApiConfigSource in the plain form. */
interface ApiConfigSourceMessage {
  api_type?: string;
  grpc_services?: { envoy_grpc?: { cluster_name?: string }; google_grpc?: object }[];
}

const CONFIG_SOURCE: FieldPolicy = {
  type: 'envoy.config.core.v3.ConfigSource',
  // initial_fetch_timeout: how long Envoy waits before warming without the resource; the assembler's business
  reads: ['ads', 'self', 'api_config_source', 'initial_fetch_timeout', 'resource_api_version'],
  ignored: { authorities: 'xDS-TP authorities are not used' },
  refused: { path: 'file-based xDS is not supported', path_config_source: 'file-based xDS is not supported' },
};

const API_CONFIG_SOURCE: FieldPolicy = {
  type: 'envoy.config.core.v3.ApiConfigSource',
  reads: ['api_type', 'transport_api_version', 'grpc_services', 'set_node_on_first_message_only'],
  ignored: { refresh_delay: 'gRPC sources are not polled', request_timeout: 'gRPC sources are not polled', rate_limit_settings: 'requests to the xDS server are not rate limited' },
};

/**
 * Where an xDS resource another one names is fetched (Envoy's ConfigSource): the ADS stream (`ads`,
 * or `self` for a resource that came over it), or a gRPC server behind a cluster (pilot-agent's
 * `sds-grpc`, Envoy's envoy_grpc). Files, REST and Google gRPC are refused: nothing would fetch them.
 */
export function decodeConfigSource(msg: ConfigSourceMessage, ref: ResourceRef, field: string, ctx: DecodeContext): SdsConfigSource {
  checkFields(msg, CONFIG_SOURCE, ref, field, ctx);
  if (msg.resource_api_version === 'V2') throw resourceError(ref, fieldPath(field, 'resource_api_version'), 'the v2 xDS API is not supported');
  switch (msg.config_source_specifier) {
    case 'ads':
    case 'self':
      return { ads: true };
    case 'api_config_source':
      return { grpcCluster: grpcClusterOf(msg.api_config_source ?? {}, ref, fieldPath(field, 'api_config_source'), ctx) };
    default:
      throw resourceError(ref, field, 'a config source needs ads or api_config_source');
  }
}

function grpcClusterOf(api: ApiConfigSourceMessage, ref: ResourceRef, field: string, ctx: DecodeContext): string {
  checkFields(api, API_CONFIG_SOURCE, ref, field, ctx);
  if (api.api_type !== 'GRPC' && api.api_type !== 'DELTA_GRPC') throw resourceError(ref, fieldPath(field, 'api_type'), `api_type ${api.api_type ?? 'REST'} is not supported (GRPC or DELTA_GRPC)`);
  const services = api.grpc_services ?? [];
  if (services.length !== 1) throw resourceError(ref, fieldPath(field, 'grpc_services'), 'exactly one gRPC service is supported');
  const cluster = services[0]!.envoy_grpc?.cluster_name;
  if (!cluster) throw resourceError(ref, fieldPath(fieldPath(field, 'grpc_services'), 0), 'only envoy_grpc with a cluster_name is supported');
  return cluster;
}
