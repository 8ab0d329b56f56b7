import { plainEqual } from '../common/plain-equal.js';
import type { Cluster, ClusterLoadAssignment, ResourceVersions, Secret, Snapshot } from './snapshot.js';

let issued = 0;

/** A version no other resource or Snapshot of this process has had. */
export function freshVersion(): string {
  return (++issued).toString(36);
}

/**
 * The version of each cluster, assignment and secret. One equal to the previous Snapshot's resource
 * of that name (the same object, as xDS keeps an unchanged resource, or equal content, as a reload
 * of the same YAML makes it) keeps that one's version; all others get one fresh version, this
 * build's (a resource's version says in which build it last changed). Equality is asked only of a
 * resource the previous Snapshot has: a first load compares nothing.
 */
export function resourceVersions(clusters: readonly Cluster[], endpoints: readonly ClusterLoadAssignment[], secrets: readonly Secret[], previous?: Snapshot): ResourceVersions {
  const fresh = freshVersion();
  return {
    clusters: versionsOf(clusters, (c) => c.name, fresh, previous?.clusters, previous?.resourceVersions.clusters),
    endpoints: versionsOf(endpoints, (a) => a.clusterName, fresh, previous?.endpoints, previous?.resourceVersions.endpoints),
    secrets: versionsOf(secrets, (s) => s.name, fresh, previous?.secrets, previous?.resourceVersions.secrets),
  };
}

function versionsOf<T>(resources: readonly T[], nameOf: (r: T) => string, fresh: string, before: readonly T[] | undefined, versionsBefore: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  const old = before && before.length ? new Map(before.map((r) => [nameOf(r), r])) : undefined;
  for (const r of resources) {
    const name = nameOf(r);
    const was = old?.get(name);
    out[name] = was !== undefined && (was === r || plainEqual(was, r)) ? versionsBefore![name] : fresh;
  }
  return out;
}

/** Whether two Snapshots' resources carry the same versions, name for name. */
export function sameResourceVersions(a: ResourceVersions, b: ResourceVersions): boolean {
  return sameRecord(a.clusters, b.clusters) && sameRecord(a.endpoints, b.endpoints) && sameRecord(a.secrets, b.secrets);
}

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  let n = 0;
  for (const k in a) {
    if (a[k] !== b[k]) return false;
    n++;
  }
  return n === Object.keys(b).length;
}
