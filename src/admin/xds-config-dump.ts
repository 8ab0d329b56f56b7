import type { XdsDump, XdsDumpEntry } from '../config/envoy/xds-dump.js';

const TYPE = 'type.googleapis.com/envoy.admin.v3.';

/** Envoy's private keys never leave the admin API. */
function redactSecret(secret: Record<string, unknown>): Record<string, unknown> {
  const tls = secret.tls_certificate as Record<string, unknown> | undefined;
  if (!tls?.private_key) return secret;
  return { ...secret, tls_certificate: { ...tls, private_key: { inline_string: '[redacted]' } } };
}

const updated = (e: XdsDumpEntry) => ({ version_info: e.version, last_updated: e.lastUpdated });

/**
 * /config_dump of a proxy fed over xDS, in Envoy's shape (envoy.admin.v3.*ConfigDump): the bootstrap,
 * static and dynamic listeners (active_state, or warming_state while a new version warms), clusters
 * (active and warming), route configurations, and secrets (keys redacted); endpoints with
 * `include_eds`, as Envoy. Each dynamic resource carries the version the control plane gave it.
 */
export function xdsConfigDump(x: XdsDump, resource: string | null, includeEds: boolean): unknown {
  const sections: Record<string, unknown> = {
    bootstrap: { '@type': `${TYPE}BootstrapConfigDump`, bootstrap: x.bootstrap },
    dynamic_listeners: {
      '@type': `${TYPE}ListenersConfigDump`,
      version_info: x.versions.listeners,
      static_listeners: x.staticListeners.map((listener) => ({ listener, last_updated: x.startedAt })),
      dynamic_listeners: x.listeners.map((e) => ({
        name: e.name,
        [e.warming ? 'warming_state' : 'active_state']: { ...updated(e), listener: e.resource },
      })),
    },
    dynamic_active_clusters: {
      '@type': `${TYPE}ClustersConfigDump`,
      version_info: x.versions.clusters,
      static_clusters: x.staticClusters.map((cluster) => ({ cluster, last_updated: x.startedAt })),
      dynamic_active_clusters: x.clusters.filter((e) => !e.warming).map((e) => ({ ...updated(e), cluster: e.resource })),
      dynamic_warming_clusters: x.clusters.filter((e) => e.warming).map((e) => ({ ...updated(e), cluster: e.resource })),
    },
    dynamic_route_configs: {
      '@type': `${TYPE}RoutesConfigDump`,
      dynamic_route_configs: x.routes.map((e) => ({ ...updated(e), route_config: e.resource })),
    },
    dynamic_active_secrets: {
      '@type': `${TYPE}SecretsConfigDump`,
      dynamic_active_secrets: x.secrets.map((e) => ({ name: e.name, ...updated(e), secret: redactSecret(e.resource) })),
    },
  };
  if (includeEds) {
    sections.dynamic_endpoint_configs = {
      '@type': `${TYPE}EndpointsConfigDump`,
      dynamic_endpoint_configs: x.endpoints.map((e) => ({ ...updated(e), endpoint_config: e.resource })),
    };
  }
  if (resource && resource in sections) return { configs: [sections[resource]] };
  return { configs: Object.values(sections) };
}
