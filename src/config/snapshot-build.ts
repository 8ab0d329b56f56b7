import { plainEqual } from '../common/plain-equal.js';
import { deepFreeze } from '../common/deep-freeze.js';
import { freshVersion, resourceVersions, sameResourceVersions } from './resource-versions.js';
import type { Snapshot } from './snapshot.js';

/** A Snapshot's content, before its versions are worked out. */
export type SnapshotBody = Omit<Snapshot, 'version' | 'resourceVersions'>;

/**
 * The Snapshot of this content, deep-frozen, with the version of each cluster, assignment and
 * secret and a version for the whole. `previous`: the Snapshot its source built before; what is
 * equal to it keeps its versions (a reload or push that changes nothing is seen as such; a worker
 * keeps the runtime of each cluster whose version stayed). Versions come from comparing with it, not
 * from serializing and hashing the content: a first load of 1,000 services spent ~100 ms on
 * digests. Both front ends (Istio YAML, xDS) finish their Snapshots here.
 */
export function buildSnapshot(body: SnapshotBody, previous?: Snapshot): Snapshot {
  const versions = resourceVersions(body.clusters, body.endpoints, body.secrets, previous);
  const unchanged = previous !== undefined && sameResourceVersions(versions, previous.resourceVersions) && plainEqual(restOf(body), restOf(previous));
  return deepFreeze({ version: unchanged ? previous.version : freshVersion(), ...body, resourceVersions: versions });
}

/** All but the versions and the resources that carry versions of their own. */
function restOf(s: SnapshotBody | Snapshot): Omit<SnapshotBody, 'clusters' | 'endpoints' | 'secrets'> {
  const { clusters: _c, endpoints: _e, secrets: _s, version: _v, resourceVersions: _r, ...rest } = s as Snapshot;
  return rest;
}
