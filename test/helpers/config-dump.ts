import type { AnyMessage } from '../../src/config/envoy/proto/any.js';
import { fromProtoJson } from '../../src/config/envoy/proto/json.js';
import { messageType } from '../../src/config/envoy/proto/registry.js';
import { TYPE_URLS } from '../../src/xds/resource-types.js';
import type { ServedResource } from './xds-server.js';

/**
 * The dynamic resources of an Envoy /config_dump (JSON, as istioctl's testdata and a real sidecar
 * give it) as resources for XdsTestServer, by type URL: what istiod had pushed that proxy.
 *
 * ```ts
 * const dump = JSON.parse(readFileSync(resolve(here, '../../../shared/conformance/istio/config-dumps/.../config_dump.json'), 'utf8'));
 * for (const [typeUrl, resources] of resourcesFromConfigDump(dump)) xds.set(typeUrl, resources);
 * ```
 *
 * Each resource is re-encoded from its proto3 JSON; fields this Envoy API does not have are
 * dropped (a dump can come from a newer Envoy), and an Any of a type it does not have (Istio's
 * own: stats.PluginConfig, envoy.tcp.metadataexchange.config.MetadataExchange, ...) keeps its type
 * URL with an empty payload. The version is the dump's version_info.
 */
export interface ConfigDumpOptions {
  /** A field the API lacks (dropped). */
  onUnknownField?: (field: string) => void;
  /** An Any of a type the API lacks (Istio's own): kept with its URL and an empty payload. */
  onUnknownAnyType?: (field: string, typeUrl: string) => void;
}

export function resourcesFromConfigDump(dump: unknown, options: ConfigDumpOptions = {}): Map<string, ServedResource[]> {
  const out = new Map<string, ServedResource[]>();
  const add = (typeUrl: string, json: unknown, version: unknown) => {
    if (!json || typeof json !== 'object') return;
    const any = toAny(json as Record<string, unknown>, typeUrl, options);
    const name = String((json as Record<string, unknown>)[typeUrl === TYPE_URLS.endpoint ? 'cluster_name' : 'name'] ?? '');
    let list = out.get(typeUrl);
    if (!list) out.set(typeUrl, (list = []));
    list.push({ name, any, ...(typeof version === 'string' && version ? { version } : {}) });
  };
  const configs = ((dump as { configs?: Record<string, unknown>[] }).configs ?? []) as Record<string, unknown>[];
  for (const c of configs) {
    const kind = String(c['@type']).split('.').pop();
    const items = (key: string) => (Array.isArray(c[key]) ? (c[key] as Record<string, unknown>[]) : []);
    if (kind === 'ClustersConfigDump') for (const e of items('dynamic_active_clusters')) add(TYPE_URLS.cluster, e.cluster, e.version_info);
    if (kind === 'ListenersConfigDump') for (const e of items('dynamic_listeners')) {
      const active = e.active_state as Record<string, unknown> | undefined;
      add(TYPE_URLS.listener, active?.listener, active?.version_info);
    }
    if (kind === 'RoutesConfigDump') for (const e of items('dynamic_route_configs')) add(TYPE_URLS.route, e.route_config, e.version_info);
    if (kind === 'EndpointsConfigDump') for (const e of items('dynamic_endpoint_configs')) add(TYPE_URLS.endpoint, e.endpoint_config, e.version_info);
    if (kind === 'SecretsConfigDump') for (const e of items('dynamic_active_secrets')) add(TYPE_URLS.secret, e.secret, e.version_info);
  }
  return out;
}

function toAny(json: Record<string, unknown>, typeUrl: string, options: ConfigDumpOptions): AnyMessage {
  const body = { '@type': typeUrl, ...json };
  return fromProtoJson<AnyMessage>(messageType('google.protobuf.Any'), body, {
    location: { kind: typeUrl.split('.').pop(), name: String(json.name ?? json.cluster_name ?? '') },
    onUnknownField: options.onUnknownField ?? (() => {}),
    onUnknownAnyType: options.onUnknownAnyType ?? (() => {}),
  });
}
