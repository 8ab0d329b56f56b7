import { contentDigest } from '../common/content-digest.js';
import type { Cluster, ClusterLoadAssignment, ResourceVersions } from './snapshot.js';

/** The version of each cluster and assignment: a digest of its canonical JSON (field order does not count). */
export function resourceVersions(clusters: readonly Cluster[], endpoints: readonly ClusterLoadAssignment[]): ResourceVersions {
  const out: ResourceVersions = { clusters: {}, endpoints: {} };
  for (const c of clusters) out.clusters[c.name] = contentDigest(c);
  for (const a of endpoints) out.endpoints[a.clusterName] = contentDigest(a);
  return out;
}
