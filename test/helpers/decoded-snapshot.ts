// A Snapshot assembled from pieces the xDS decoders produced (what the lead's resource cache will do
// at scale), and an in-process data plane (one worker's, real listening sockets) to run it.
import type { DecodedCluster } from '../../src/config/envoy/decode/cluster.js';
import type { ClusterLoadAssignment, Listener, RouteConfiguration, Secret, Snapshot } from '../../src/config/snapshot.js';
import { resourceVersions } from '../../src/config/resource-versions.js';
import { deepFreeze } from '../../src/common/deep-freeze.js';
import { DataPlane } from '../../src/worker/data-plane.js';
import { WorkerStats } from '../../src/telemetry/stats.js';
import { AccessLogWriter } from '../../src/telemetry/access-log.js';
import { sidecarNode } from '../config/helpers.js';

export interface DecodedPieces {
  listeners: Listener[];
  routeConfigs?: RouteConfiguration[];
  clusters: DecodedCluster[];
  /** EDS resources, under the name each EDS cluster subscribes to (edsServiceName). */
  endpoints?: ClusterLoadAssignment[];
  secrets?: Secret[];
}

/**
 * The Snapshot of decoded resources: each cluster with its inline assignment, or the EDS assignment
 * of its service name (filed under the cluster's name, as the data plane looks hosts up), versioned
 * and frozen as config/load.ts leaves a Snapshot.
 */
export function snapshotOf(pieces: DecodedPieces, version = '1'): Snapshot {
  const eds = new Map((pieces.endpoints ?? []).map((a) => [a.clusterName, a]));
  const clusters = pieces.clusters.map((d) => d.cluster);
  const endpoints: ClusterLoadAssignment[] = [];
  for (const d of pieces.clusters) {
    if (d.loadAssignment) endpoints.push(d.loadAssignment);
    const fromEds = d.edsServiceName === undefined ? undefined : eds.get(d.edsServiceName);
    if (fromEds) endpoints.push({ ...fromEds, clusterName: d.cluster.name });
  }
  const secrets = pieces.secrets ?? [];
  return deepFreeze({
    version,
    node: sidecarNode(),
    listeners: pieces.listeners,
    routeConfigs: pieces.routeConfigs ?? [],
    clusters,
    endpoints,
    secrets,
    resourceVersions: resourceVersions(clusters, endpoints, secrets),
  });
}

/** One worker's data plane in this process: apply Snapshots, close at the end. */
export function startDataPlane(): DataPlane {
  return new DataPlane({ stats: new WorkerStats(), accessLog: new AccessLogWriter('off') });
}
