import type { UpstreamHost } from './host.js';
import type { LoadBalancer } from './load-balancer.js';

/** 32-bit MurmurHash3 of a string (stable across workers and restarts). */
export function hash32(s: string, seed = 0): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) {
    let k = s.charCodeAt(i);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  }
  h ^= s.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Envoy's RING_HASH: every host owns points on a ring in proportion to its weight; a request goes
 * to the first point at or after its hash. Adding or removing a host moves only its share.
 */
export class RingHashLoadBalancer implements LoadBalancer {
  private readonly points: Uint32Array;
  private readonly owners: UpstreamHost[];

  constructor(
    private readonly hosts: readonly UpstreamHost[],
    minRingSize = 1024,
  ) {
    const totalWeight = hosts.reduce((s, h) => s + h.weight, 0);
    const entries: [number, UpstreamHost][] = [];
    for (const h of hosts) {
      const n = Math.max(1, Math.ceil((minRingSize * h.weight) / totalWeight));
      for (let i = 0; i < n; i++) entries.push([hash32(`${h.label}_${i}`), h]);
    }
    entries.sort((a, b) => a[0] - b[0]);
    this.points = Uint32Array.from(entries.map((e) => e[0]));
    this.owners = entries.map((e) => e[1]);
  }

  pick(hash?: number): UpstreamHost | undefined {
    if (this.owners.length === 0) return undefined;
    if (hash === undefined) return this.hosts[(Math.random() * this.hosts.length) | 0];
    let lo = 0;
    let hi = this.points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid] < hash) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === this.points.length ? 0 : lo];
  }
}

/** Envoy's MAGLEV: a lookup table filled from per-host permutations (table size a prime, 65537 by default). */
export class MaglevLoadBalancer implements LoadBalancer {
  private readonly table: UpstreamHost[];

  constructor(
    private readonly hosts: readonly UpstreamHost[],
    tableSize = 65537,
  ) {
    const m = tableSize;
    this.table = new Array(m);
    if (hosts.length === 0) return;
    const maxWeight = Math.max(...hosts.map((h) => h.weight));
    const perm = hosts.map((h) => ({ offset: hash32(h.label, 1) % m, skip: (hash32(h.label, 2) % (m - 1)) + 1, next: 0, credit: 0 }));
    let filled = 0;
    while (filled < m) {
      for (let i = 0; i < hosts.length && filled < m; i++) {
        // weighted: a host takes a turn only when its accumulated credit reaches the max weight
        perm[i].credit += hosts[i].weight;
        if (perm[i].credit < maxWeight) continue;
        perm[i].credit -= maxWeight;
        const p = perm[i];
        let c = (p.offset + p.skip * p.next) % m;
        while (this.table[c] !== undefined) {
          p.next++;
          c = (p.offset + p.skip * p.next) % m;
        }
        this.table[c] = hosts[i];
        p.next++;
        filled++;
      }
    }
  }

  pick(hash?: number): UpstreamHost | undefined {
    if (this.hosts.length === 0) return undefined;
    if (hash === undefined) return this.hosts[(Math.random() * this.hosts.length) | 0];
    return this.table[hash % this.table.length];
  }
}
