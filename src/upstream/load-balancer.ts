import type { LbPolicy } from '../config/snapshot.js';
import type { UpstreamHost } from './host.js';
import { MaglevLoadBalancer, RingHashLoadBalancer } from './hash-lb.js';

export interface LoadBalancer {
  /** A host for the next request, or undefined when the cluster has none (503 UH). Hash-based ones use `hash`. */
  pick(hash?: number): UpstreamHost | undefined;
}

export function createLoadBalancer(policy: LbPolicy, hosts: readonly UpstreamHost[], hashTableSize?: number, dynamicWeights = false): LoadBalancer {
  if (hosts.length === 0) return { pick: () => undefined };
  if (policy === 'RING_HASH') return new RingHashLoadBalancer(hosts, hashTableSize);
  if (policy === 'MAGLEV') return new MaglevLoadBalancer(hosts, hashTableSize);
  if (hosts.length === 1) {
    const only = hosts[0];
    return { pick: () => only };
  }
  // slow start changes weights over time: then the weighted variants, which read weights per pick
  const weighted = dynamicWeights || hosts.some((h) => h.weight !== hosts[0].weight);
  switch (policy) {
    case 'RANDOM':
      return weighted ? new WeightedRandom(hosts) : { pick: () => hosts[(Math.random() * hosts.length) | 0] };
    case 'ROUND_ROBIN':
      return weighted ? new SmoothWeightedRoundRobin(hosts) : new RoundRobin(hosts);
    default:
      return new LeastRequest(hosts, weighted);
  }
}

class RoundRobin implements LoadBalancer {
  // start at a random offset so that workers and restarts do not all hit the first host
  private next: number;
  constructor(private readonly hosts: readonly UpstreamHost[]) {
    this.next = (Math.random() * hosts.length) | 0;
  }
  pick(): UpstreamHost {
    const h = this.hosts[this.next];
    this.next = (this.next + 1) % this.hosts.length;
    return h;
  }
}

/** Nginx-style smooth weighted round robin: weights honoured without bursts to one host. */
class SmoothWeightedRoundRobin implements LoadBalancer {
  private readonly current: number[];
  constructor(private readonly hosts: readonly UpstreamHost[]) {
    this.current = hosts.map(() => 0);
  }
  pick(): UpstreamHost {
    let best = 0;
    let total = 0;
    for (let i = 0; i < this.hosts.length; i++) {
      const w = this.hosts[i].weight;
      total += w;
      this.current[i] += w;
      if (this.current[i] > this.current[best]) best = i;
    }
    this.current[best] -= total;
    return this.hosts[best];
  }
}

class WeightedRandom implements LoadBalancer {
  private readonly cumulative: number[];
  constructor(private readonly hosts: readonly UpstreamHost[]) {
    let acc = 0;
    this.cumulative = hosts.map((h) => (acc += h.weight));
  }
  pick(): UpstreamHost {
    const r = Math.random() * this.cumulative[this.cumulative.length - 1];
    for (let i = 0; i < this.cumulative.length; i++) if (r < this.cumulative[i]) return this.hosts[i];
    return this.hosts[this.hosts.length - 1];
  }
}

/**
 * Envoy's LEAST_REQUEST: power of two random choices, the one with fewer active requests wins.
 * With unequal weights Envoy scores weight / (active + 1); so does this.
 */
class LeastRequest implements LoadBalancer {
  constructor(
    private readonly hosts: readonly UpstreamHost[],
    private readonly weighted: boolean,
  ) {}
  pick(): UpstreamHost {
    const n = this.hosts.length;
    const a = this.hosts[(Math.random() * n) | 0];
    let b = this.hosts[(Math.random() * (n - 1)) | 0];
    if (b === a) b = this.hosts[n - 1];
    if (this.weighted) return a.weight / (a.active + 1) >= b.weight / (b.active + 1) ? a : b;
    return a.active <= b.active ? a : b;
  }
}
