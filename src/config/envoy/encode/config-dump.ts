/**
 * Envoy's /config_dump of a Snapshot (envoy.admin.v3.*ConfigDump sections, proto3 JSON with
 * Envoy's field names), for a proxy fed by Istio YAML: what Envoy would print had istiod sent it
 * the same resources. `outrigger proxy-config` and istioctl read it; an xDS-fed proxy dumps the
 * resources as received instead (admin/xds-config-dump.ts). Every resource carries the config's
 * version: each applied config is one update of every type, as a state-of-the-world push.
 */
import type { Snapshot } from '../../snapshot.js';
import { serviceClusterOf } from '../../node-identity.js';
import { packageVersion } from '../../../common/version.js';
import { encodeCluster, encodeClusterLoadAssignment } from './cluster.js';
import { encodeListener } from './listener.js';
import { encodeRouteConfiguration } from './route-configuration.js';
import { encodeSecret } from './secret.js';
import { any, type Json } from './values.js';

const ADMIN = 'envoy.admin.v3.';

/** `resource` narrows it to one section (Envoy's ?resource=); endpoints only with `includeEds`, as Envoy. */
export function snapshotConfigDump(s: Snapshot, resource: string | null, includeEds: boolean): { configs: Json[] } {
  const v = s.version;
  const assignments = new Map(s.endpoints.map((a) => [a.clusterName, a]));
  const node = s.node;
  const sections: Record<string, Json> = {
    bootstrap: any(`${ADMIN}BootstrapConfigDump`, {
      bootstrap: {
        node: {
          id: node.id,
          cluster: serviceClusterOf(node),
          metadata: {
            NAMESPACE: node.namespace,
            SERVICE_ACCOUNT: node.serviceAccount,
            LABELS: node.labels,
            INSTANCE_IPS: node.ip,
            CLUSTER_ID: node.clusterId,
            ...(node.workloadName ? { WORKLOAD_NAME: node.workloadName } : {}),
            ISTIO_VERSION: `outrigger-${packageVersion()}`,
          },
          ...(node.locality ? { locality: locality(node.locality) } : {}),
          user_agent_name: 'outrigger',
          user_agent_build_version: { version: semver(packageVersion()) },
        },
      },
    }),
    dynamic_listeners: any(`${ADMIN}ListenersConfigDump`, {
      version_info: v,
      dynamic_listeners: s.listeners.map((l) => ({ name: l.name, active_state: { version_info: v, listener: any('envoy.config.listener.v3.Listener', encodeListener(l)) } })),
    }),
    dynamic_active_clusters: any(`${ADMIN}ClustersConfigDump`, {
      version_info: v,
      dynamic_active_clusters: s.clusters.map((c) => ({ version_info: v, cluster: any('envoy.config.cluster.v3.Cluster', encodeCluster(c, assignments.get(c.name))) })),
    }),
    dynamic_route_configs: any(`${ADMIN}RoutesConfigDump`, {
      dynamic_route_configs: s.routeConfigs.map((r) => ({ version_info: v, route_config: any('envoy.config.route.v3.RouteConfiguration', encodeRouteConfiguration(r)) })),
    }),
    // Envoy dumps the section even empty (istioctl requires it)
    dynamic_active_secrets: any(`${ADMIN}SecretsConfigDump`, {
      dynamic_active_secrets: s.secrets.map((secret) => ({ name: secret.name, version_info: v, secret: encodeSecret(secret) })),
    }),
  };
  if (includeEds) {
    // Envoy lists a static cluster's hosts among the static endpoint configs, an EDS cluster's among the dynamic ones
    const eds = new Set(s.clusters.filter((c) => c.type === 'EDS').map((c) => c.name));
    const config = (a: (typeof s.endpoints)[number]) => any('envoy.config.endpoint.v3.ClusterLoadAssignment', encodeClusterLoadAssignment(a));
    sections.dynamic_endpoint_configs = any(`${ADMIN}EndpointsConfigDump`, {
      static_endpoint_configs: s.endpoints.filter((a) => !eds.has(a.clusterName)).map((a) => ({ endpoint_config: config(a) })),
      dynamic_endpoint_configs: s.endpoints.filter((a) => eds.has(a.clusterName)).map((a) => ({ version_info: v, endpoint_config: config(a) })),
    });
  }
  if (resource && resource in sections) return { configs: [sections[resource]] };
  return { configs: Object.values(sections) };
}

function locality(path: string): Json {
  const [region, zone, subZone] = path.split('/');
  return { ...(region ? { region } : {}), ...(zone ? { zone } : {}), ...(subZone ? { sub_zone: subZone } : {}) };
}

/** envoy.type.v3.SemanticVersion of `x.y.z`. */
function semver(version: string): Json {
  const [major, minor, patch] = version.split(/[.-]/).map((n) => Number(n) || 0);
  return { major_number: major, minor_number: minor, patch };
}
