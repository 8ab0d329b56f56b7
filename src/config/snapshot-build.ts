import { createHash } from 'node:crypto';
import { deepFreeze } from '../common/deep-freeze.js';
import { resourceVersions } from './resource-versions.js';
import type { Snapshot } from './snapshot.js';

/** A Snapshot's content, before its versions are worked out. */
export type SnapshotBody = Omit<Snapshot, 'version' | 'resourceVersions'>;

/**
 * The Snapshot of this content: the version of each cluster, assignment and secret, a version for
 * the whole (equal content, equal version: a reload or push that changes nothing is seen as such),
 * deep-frozen. Both front ends (Istio YAML, xDS) finish their Snapshots here.
 */
export function buildSnapshot(body: SnapshotBody): Snapshot {
  const versions = resourceVersions(body.clusters, body.endpoints, body.secrets);
  // clusters, assignments and secrets (most of a large Snapshot) count through their digests: serialized once
  const { clusters: _c, endpoints: _e, secrets: _s, ...rest } = body;
  const version = createHash('sha256').update(JSON.stringify(rest)).update(JSON.stringify(versions)).digest('hex').slice(0, 12);
  return deepFreeze({ version, ...body, resourceVersions: versions });
}
