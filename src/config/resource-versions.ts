import { contentDigest } from '../common/content-digest.js';
import type { Cluster, ClusterLoadAssignment, ResourceVersions, Secret } from './snapshot.js';

/** The version of each cluster, assignment and secret: a digest of its JSON (contentDigest). */
export function resourceVersions(clusters: readonly Cluster[], endpoints: readonly ClusterLoadAssignment[], secrets: readonly Secret[]): ResourceVersions {
  const out: ResourceVersions = { clusters: {}, endpoints: {}, secrets: {} };
  for (const c of clusters) out.clusters[c.name] = contentDigest(c);
  for (const a of endpoints) out.endpoints[a.clusterName] = contentDigest(a);
  for (const s of secrets) out.secrets[s.name] = contentDigest(s);
  return out;
}
