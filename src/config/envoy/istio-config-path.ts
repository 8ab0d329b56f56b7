/**
 * How istiod names the Istio config a resource came from, in the resource's metadata
 * (`filter_metadata.istio.config`, pilot's AddConfigInfoMetadata):
 * `/apis/networking.istio.io/v1/namespaces/<ns>/virtual-service/<name>`. Both front ends keep that
 * path on routes and clusters (Route.source, Cluster.source); tools show it as `<ns>/<name>`.
 */

/** The path of an Istio networking config (`virtual-service`, `destination-rule`). */
export function istioConfigPath(kind: 'virtual-service' | 'destination-rule', namespace: string, name: string): string {
  return `/apis/networking.istio.io/v1/namespaces/${namespace}/${kind}/${name}`;
}

/** `<ns>/<name>` of such a path (any version or group); the text itself when it is not one. */
export function istioConfigName(path: string): string {
  const m = /^\/apis\/[^/]+\/[^/]+\/namespaces\/([^/]+)\/[^/]+\/([^/]+)$/.exec(path);
  return m ? `${m[1]}/${m[2]}` : path;
}
