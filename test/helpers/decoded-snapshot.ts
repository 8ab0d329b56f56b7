// A Snapshot assembled from pieces the xDS decoders produced (what the lead's resource cache will do
// at scale), and an in-process data plane (one worker's, real listening sockets) to run it.
import type { DecodedCluster } from '../../src/config/envoy/decode/cluster.js';
import type { ClusterLoadAssignment, Listener, RouteConfiguration, Secret, Snapshot } from '../../src/config/snapshot.js';
import { assembleSnapshot, InService, XdsResources } from '../../src/config/envoy/xds-assembly.js';
import { buildSnapshot } from '../../src/config/snapshot-build.js';
import { DataPlane } from '../../src/worker/data-plane.js';
import { WorkerStats } from '../../src/telemetry/stats.js';
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
 * The Snapshot of decoded resources, assembled as the xDS source assembles it (config/envoy/
 * xds-assembly.ts: each cluster with its inline assignment, or the EDS assignment of its service
 * name filed under the cluster's name) and finished by buildSnapshot (over `previous`, the Snapshot
 * the xDS source built before). Given as bootstrap statics, so nothing warms.
 */
export function snapshotOf(pieces: DecodedPieces, previous?: Snapshot): Snapshot {
  const r = new XdsResources();
  r.staticListeners.push(...pieces.listeners.map((listener, i) => ({ listener, routeConfigs: i === 0 ? (pieces.routeConfigs ?? []) : [], rdsNames: [] })));
  r.staticClusters.push(...pieces.clusters);
  r.staticSecrets.push(...(pieces.secrets ?? []));
  for (const a of pieces.endpoints ?? []) r.endpoints.set(a.clusterName, a);
  return buildSnapshot(assembleSnapshot(sidecarNode(), r, new InService()).body, previous);
}

/** One worker's data plane in this process: apply Snapshots, close at the end. */
export function startDataPlane(): DataPlane {
  return new DataPlane({ stats: new WorkerStats() });
}
