/** The type URLs istiod and pilot-agent serve a sidecar, and which of them are subscribed as wildcards. */
export const TYPE_URLS = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

const WILDCARD = new Set<string>([TYPE_URLS.listener, TYPE_URLS.cluster]);

/**
 * Listener and Cluster: Envoy subscribes to them with no names (every resource the server has for
 * this node), and in the state-of-the-world protocol a response carries all of them, so one absent
 * from a response is deleted. Other types are subscribed by name, and absence means nothing.
 */
export function isWildcardType(typeUrl: string): boolean {
  return WILDCARD.has(typeUrl);
}

/** `type.googleapis.com/envoy.config.cluster.v3.Cluster` → `Cluster`, for messages and logs. */
export function shortTypeName(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
}
