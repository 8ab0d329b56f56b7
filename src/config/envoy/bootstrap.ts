import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { yamlLib } from '../yaml-libs.js';
import { ConfigError, type ConfigLocation } from '../errors.js';
import { nodeIdentityFromEnvoyNode, type EnvoyNode } from '../node-identity.js';
import type { NodeIdentity, StatsMatcherConfig } from '../snapshot.js';
import { decodeStringMatcher, type StringMatcherMessage } from './decode/matchers.js';
import { unpackAny, type AnyMessage } from './proto/any.js';
import { fromProtoJson } from './proto/json.js';
import { mergeMessage } from './proto/merge.js';
import { decodeMessage, messageType } from './proto/registry.js';
import { durationMs, structToJs, type DurationMessage, type StructMessage } from './proto/values.js';

/**
 * Envoy's v3 bootstrap (envoy.config.bootstrap.v3.Bootstrap), as pilot-agent writes it
 * (envoy-rev.json), loaded the way Envoy loads it: the `-c` file (YAML for .yaml/.yml, binary
 * proto for .pb, JSON otherwise) with `--config-yaml` merged over it (protobuf MergeFrom), unknown
 * fields an error, or with --allow-unknown-static-fields a warning each; then read into what the
 * agent needs. Static listeners and clusters stay plain-form messages for the xDS decoders.
 *
 * Accepted and not read here (they matter later): layered_runtime (read into `runtime`;
 * overload.global_downstream_max_connections), overload_manager (the downstream connections
 * monitor), stats_config (read: its stats_matcher; not: tag extraction), stats_flush_interval, stats_sinks,
 * tracing (its http tracer: decoded by the xDS source, decode/tracing.ts), bootstrap_extensions (Istio's), application_log_config (log format),
 * cluster_manager (outlier event log), deferred_stat_options.
 */

/** A message in the plain form (proto/registry.ts), kept for the decoders. */
export type PlainMessage = Record<string, unknown>;

/** Where a connection goes: a socket address or a pipe (Unix domain socket). */
export type BootstrapAddress = { kind: 'socket'; host: string; port: number } | { kind: 'pipe'; path: string };

/** A static cluster as a gRPC service (ADS, SDS) can connect to it. */
export type GrpcTarget = (
  | { kind: 'pipe'; /** Resolved against the process's working directory, as Envoy's relative pipe paths are. */ path: string }
  | { kind: 'socket'; host: string; port: number; /** envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext (plain form), when the cluster uses TLS. */ tls?: PlainMessage }
) & { clusterName: string };

/** dynamic_resources.ads_config. */
export interface AdsConfig {
  apiType: 'GRPC' | 'DELTA_GRPC';
  setNodeOnFirstMessageOnly: boolean;
  transportApiVersion: string;
  /** The grpc_services' envoy_grpc cluster, a static cluster (`xds-grpc`). */
  clusterName: string;
}

/** lds_config / cds_config: over ADS (the only source Outrigger takes). */
export interface AdsConfigSource {
  /** initial_fetch_timeout in ms; 0 (istiod's) waits forever; undefined: Envoy's default (15 s). */
  initialFetchTimeoutMs?: number;
  resourceApiVersion: string;
}

export interface EnvoyBootstrap {
  /** What was loaded: the -c path, `--config-yaml`, or both. */
  source: string;
  /** The whole merged bootstrap, plain form. */
  message: PlainMessage;
  node: EnvoyNode;
  identity: NodeIdentity;
  admin?: BootstrapAddress;
  ads?: AdsConfig;
  lds?: AdsConfigSource;
  cds?: AdsConfigSource;
  staticListeners: PlainMessage[];
  staticClusters: PlainMessage[];
  staticSecrets: PlainMessage[];
  /** layered_runtime's static layers, later ones over earlier ones (`overload.global_downstream_max_connections`, ...). */
  runtime: Record<string, unknown>;
  /** stats_config.stats_matcher: which stats exist (absent: all). */
  statsMatcher?: StatsMatcherConfig;
  /** A static cluster by name as a gRPC target; a ConfigError naming the field when it has no usable address. */
  grpcTarget(clusterName: string): GrpcTarget;
  /** Unknown fields ignored under --allow-unknown-static-fields, one line each. */
  warnings: string[];
}

export interface BootstrapOptions {
  configPath?: string;
  configYaml?: string;
  allowUnknownStaticFields?: boolean;
  /** --service-cluster, --service-node, --service-zone: win over the bootstrap's node (Envoy's LocalInfo). */
  serviceCluster?: string;
  serviceNode?: string;
  serviceZone?: string;
  /** Relative pipe paths resolve against this (default: the process's working directory). */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';
const CONFIG_YAML = '--config-yaml';

export async function loadBootstrap(opts: BootstrapOptions): Promise<EnvoyBootstrap> {
  if (!opts.configPath && !opts.configYaml) throw new ConfigError('no bootstrap: give -c <file> or --config-yaml');
  const type = messageType(BOOTSTRAP);
  const warnings: string[] = [];
  const convert = (json: unknown, file: string): PlainMessage =>
    fromProtoJson<PlainMessage>(type, json, {
      location: { file },
      ...(opts.allowUnknownStaticFields ? { onUnknownField: (field: string) => warnings.push(`${file}: unknown field ${field} ignored (--allow-unknown-static-fields)`) } : {}),
    });
  let message: PlainMessage = {};
  const sources: string[] = [];
  if (opts.configPath) {
    const file = opts.configPath;
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      throw new ConfigError(`cannot read the bootstrap: ${(e as Error).message}`, { file });
    }
    message = /\.pb$/i.test(file) ? decodeBinary(bytes, file) : convert(parseText(bytes.toString('utf8'), file, /\.ya?ml$/i.test(file)), file);
    sources.push(file);
  }
  if (opts.configYaml) {
    // YAML is a superset of JSON: pilot-agent passes JSON here
    message = mergeMessage(type, message, convert(parseText(opts.configYaml, CONFIG_YAML, true), CONFIG_YAML));
    sources.push(CONFIG_YAML);
  }
  return readBootstrap(message, sources.join(' + '), opts, warnings);
}

function decodeBinary(bytes: Buffer, file: string): PlainMessage {
  try {
    return decodeMessage<PlainMessage>(messageType(BOOTSTRAP), bytes);
  } catch (e) {
    throw new ConfigError(`not a binary Bootstrap: ${(e as Error).message}`, { file });
  }
}

function parseText(text: string, file: string, yaml: boolean): unknown {
  if (/\.pb_text$/i.test(file)) throw new ConfigError('text-format protos (.pb_text) are not read: give the bootstrap as JSON or YAML', { file });
  if (!yaml) {
    try {
      return JSON.parse(text);
    } catch (e) {
      throw new ConfigError(`not JSON: ${(e as Error).message}`, { file });
    }
  }
  const doc = yamlLib().parseDocument(text, { uniqueKeys: true });
  const err = doc.errors[0];
  if (err) throw new ConfigError(`not YAML: ${err.message.split('\n')[0]}`, { file, ...(err.linePos ? { line: err.linePos[0].line } : {}) });
  return doc.toJS();
}

interface AddressMessage {
  socket_address?: { address?: string; port_value?: number };
  pipe?: { path?: string };
}

function readBootstrap(message: PlainMessage, source: string, opts: BootstrapOptions, warnings: string[]): EnvoyBootstrap {
  const file = source;
  const at = (field: string): ConfigLocation => ({ file, field });
  const node = readNode(message.node as PlainMessage | undefined, opts);
  if (!node.id) throw new ConfigError('the node needs an id (node.id or --service-node)', at('node.id'));
  let identity: NodeIdentity;
  try {
    identity = nodeIdentityFromEnvoyNode(node, opts.env);
  } catch (e) {
    throw new ConfigError((e as Error).message, at('node'));
  }
  const statics = (message.static_resources ?? {}) as { listeners?: PlainMessage[]; clusters?: PlainMessage[]; secrets?: PlainMessage[] };
  const staticClusters = statics.clusters ?? [];
  const clusterIndex = new Map<string, number>();
  staticClusters.forEach((c, i) => {
    const name = c.name as string | undefined;
    if (!name) throw new ConfigError('a static cluster needs a name', at(`static_resources.clusters[${i}].name`));
    if (clusterIndex.has(name)) throw new ConfigError(`duplicate cluster "${name}"`, at(`static_resources.clusters[${i}].name`));
    clusterIndex.set(name, i);
  });
  const cwd = opts.cwd ?? process.cwd();

  const grpcTarget = (clusterName: string): GrpcTarget => {
    const i = clusterIndex.get(clusterName);
    if (i === undefined) throw new ConfigError(`no static cluster "${clusterName}"`, at('static_resources.clusters'));
    return grpcTargetOf(staticClusters[i]!, `static_resources.clusters[${i}]`, file, cwd);
  };

  const admin = message.admin as { address?: AddressMessage } | undefined;
  const dynamic = (message.dynamic_resources ?? {}) as PlainMessage;
  const ads = dynamic.ads_config ? readAdsConfig(dynamic.ads_config as PlainMessage, 'dynamic_resources.ads_config', file) : undefined;
  if (ads) {
    grpcTarget(ads.clusterName); // the ADS cluster must be a static one that resolves (Envoy's rule)
    // Envoy's checkLocalInfo("ads"): the control plane needs both
    if (!node.cluster) throw new ConfigError("ads: node 'id' and 'cluster' are required (node.cluster or --service-cluster)", at('node.cluster'));
  }
  const lds = dynamic.lds_config ? readAdsSource(dynamic.lds_config as PlainMessage, 'dynamic_resources.lds_config', file, ads) : undefined;
  const cds = dynamic.cds_config ? readAdsSource(dynamic.cds_config as PlainMessage, 'dynamic_resources.cds_config', file, ads) : undefined;
  for (const key of Object.keys(dynamic)) {
    if (!['ads_config', 'lds_config', 'cds_config'].includes(key)) {
      throw new ConfigError('not supported (Outrigger takes dynamic resources over ADS: ads_config, lds_config, cds_config)', at(`dynamic_resources.${key}`));
    }
  }
  return {
    source,
    message,
    node,
    identity,
    ...(admin?.address ? { admin: readAddress(admin.address, 'admin.address', file) } : {}),
    ...(ads ? { ads } : {}),
    ...(lds ? { lds } : {}),
    ...(cds ? { cds } : {}),
    staticListeners: statics.listeners ?? [],
    staticClusters,
    staticSecrets: statics.secrets ?? [],
    runtime: readRuntime(message.layered_runtime as PlainMessage | undefined),
    ...readStatsMatcher((message.stats_config as PlainMessage | undefined)?.stats_matcher as PlainMessage | undefined, file),
    grpcTarget,
    warnings,
  };
}

/**
 * stats_config.stats_matcher (envoy.config.metrics.v3.StatsMatcher). reject_all false is Envoy's
 * default, every stat; a bad pattern fails the bootstrap naming its field, as Envoy's validation does.
 */
function readStatsMatcher(m: PlainMessage | undefined, file: string): { statsMatcher?: StatsMatcherConfig } {
  const field = 'stats_config.stats_matcher';
  const ref = { kind: 'Bootstrap', name: file };
  const patterns = (list: string) => {
    const raw = ((m?.[list] as PlainMessage | undefined)?.patterns ?? []) as StringMatcherMessage[];
    return raw.map((p, i) => decodeStringMatcher(p, ref, `${field}.${list}.patterns[${i}]`));
  };
  switch (m?.stats_matcher) {
    case 'reject_all':
      return m.reject_all ? { statsMatcher: { rejectAll: true } } : {};
    case 'inclusion_list':
      return { statsMatcher: { inclusionList: patterns('inclusion_list') } };
    case 'exclusion_list':
      return { statsMatcher: { exclusionList: patterns('exclusion_list') } };
    default:
      return {};
  }
}

/** The node, with Envoy's command-line overrides applied (they win over the file). */
function readNode(raw: PlainMessage | undefined, opts: BootstrapOptions): EnvoyNode {
  const locality = { ...((raw?.locality ?? {}) as EnvoyNode['locality']) };
  if (opts.serviceZone) locality.zone = opts.serviceZone;
  return {
    id: opts.serviceNode ?? (raw?.id as string | undefined) ?? '',
    cluster: opts.serviceCluster ?? (raw?.cluster as string | undefined) ?? '',
    locality,
    metadata: structToJs(raw?.metadata as StructMessage | undefined),
  };
}

function readAddress(a: AddressMessage, field: string, file: string): BootstrapAddress {
  if (a.socket_address) {
    const { address, port_value: port } = a.socket_address;
    if (!address) throw new ConfigError('a socket address needs an address', { file, field: `${field}.socket_address.address` });
    return { kind: 'socket', host: address, port: port ?? 0 };
  }
  if (a.pipe) {
    if (!a.pipe.path) throw new ConfigError('a pipe needs a path', { file, field: `${field}.pipe.path` });
    return { kind: 'pipe', path: a.pipe.path };
  }
  throw new ConfigError('expected a socket_address or a pipe', { file, field });
}

function grpcTargetOf(cluster: PlainMessage, field: string, file: string, cwd: string): GrpcTarget {
  const clusterName = cluster.name as string;
  const endpoints = ((cluster.load_assignment as PlainMessage | undefined)?.endpoints ?? []) as { lb_endpoints?: { endpoint?: { address?: AddressMessage } }[] }[];
  const address = endpoints[0]?.lb_endpoints?.[0]?.endpoint?.address;
  const addressField = `${field}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address`;
  if (!address) throw new ConfigError(`cluster "${clusterName}" has no endpoint address to connect to`, { file, field: addressField });
  if (cluster.transport_socket_matches) {
    throw new ConfigError(`transport_socket_matches are not supported on the gRPC service cluster "${clusterName}"`, { file, field: `${field}.transport_socket_matches` });
  }
  const a = readAddress(address, addressField, file);
  // an abstract socket (`@name`) has no path to resolve
  if (a.kind === 'pipe') return { kind: 'pipe', path: a.path.startsWith('@') ? a.path : path.resolve(cwd, a.path), clusterName };
  const tls = upstreamTls(cluster.transport_socket as { name?: string; typed_config?: AnyMessage } | undefined, `${field}.transport_socket`, file);
  return { kind: 'socket', host: a.host, port: a.port, clusterName, ...(tls ? { tls } : {}) };
}

const UPSTREAM_TLS = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

function upstreamTls(socket: { name?: string; typed_config?: AnyMessage } | undefined, field: string, file: string): PlainMessage | undefined {
  if (!socket?.typed_config) return undefined;
  const unpacked = unpackAny(socket.typed_config);
  if (unpacked.typeName === UPSTREAM_TLS && unpacked.known) return unpacked.message;
  if (unpacked.typeName === 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer') return undefined;
  throw new ConfigError(`transport socket ${unpacked.typeName} is not supported for a gRPC service (TLS or raw buffer)`, { file, field: `${field}.typed_config` });
}

function readAdsConfig(raw: PlainMessage, field: string, file: string): AdsConfig {
  const apiType = raw.api_type as string | undefined;
  if (apiType !== 'GRPC' && apiType !== 'DELTA_GRPC') {
    throw new ConfigError(`api_type must be GRPC or DELTA_GRPC for ADS, got ${apiType ?? 'none'}`, { file, field: `${field}.api_type` });
  }
  const services = (raw.grpc_services ?? []) as { envoy_grpc?: { cluster_name?: string }; google_grpc?: unknown }[];
  if (services.length !== 1) throw new ConfigError(`expected one gRPC service, got ${services.length}`, { file, field: `${field}.grpc_services` });
  const clusterName = services[0]!.envoy_grpc?.cluster_name;
  if (!clusterName) throw new ConfigError('only envoy_grpc (a static cluster) is supported', { file, field: `${field}.grpc_services[0]` });
  return {
    apiType,
    setNodeOnFirstMessageOnly: raw.set_node_on_first_message_only === true,
    transportApiVersion: (raw.transport_api_version as string | undefined) ?? 'AUTO',
    clusterName,
  };
}

function readAdsSource(raw: PlainMessage, field: string, file: string, ads: AdsConfig | undefined): AdsConfigSource {
  if (raw.config_source_specifier !== 'ads') {
    throw new ConfigError(`only ads is supported, got ${String(raw.config_source_specifier ?? 'no source')}`, { file, field });
  }
  if (!ads) throw new ConfigError('ads is named but dynamic_resources has no ads_config', { file, field: `${field}.ads` });
  const timeout = durationMs(raw.initial_fetch_timeout as DurationMessage | undefined);
  return {
    ...(timeout !== undefined ? { initialFetchTimeoutMs: timeout } : {}),
    resourceApiVersion: (raw.resource_api_version as string | undefined) ?? 'AUTO',
  };
}

function readRuntime(layered: PlainMessage | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const layer of (layered?.layers ?? []) as { static_layer?: StructMessage }[]) {
    if (layer.static_layer) Object.assign(out, structToJs(layer.static_layer));
  }
  return out;
}
