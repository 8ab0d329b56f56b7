// Fakes for router and attempt unit tests: a cluster of hosts whose pools record each request and
// hand the test its handler, so the test plays the upstream (headers, data, end, errors) by hand.
import { ClusterStats } from '../../src/telemetry/stats.js';
import type { ClusterRuntime } from '../../src/upstream/cluster.js';
import type { UpstreamHost } from '../../src/upstream/host.js';
import type { UpstreamExchange, UpstreamHandler, UpstreamRequest } from '../../src/upstream/exchange.js';

/** One request a fake pool received, with the handler the test drives and whether it was aborted. */
export interface SentRequest {
  host: string;
  request: UpstreamRequest;
  handler: UpstreamHandler;
  aborted: boolean;
  resumed: number;
  /** The x-envoy-attempt-count this try carried when it was sent. */
  attemptCount: string | undefined;
}

export interface FakeCluster {
  cluster: ClusterRuntime;
  stats: ClusterStats;
  hosts: UpstreamHost[];
  sent: SentRequest[];
  /** The next picks, by host index; when empty, picks go round the hosts in order. */
  picks: number[];
  /** Hash keys the load balancer was asked to pick with. */
  hashes: (number | undefined)[];
  /** Original destinations the load balancer was given (ORIGINAL_DST). */
  destinations: ({ address: string; port: number } | undefined)[];
  retriesInUse: number;
}

export interface FakeClusterOptions {
  name?: string;
  hosts?: number;
  type?: string;
  /** max_retries; absent: no circuit breaker. */
  maxRetries?: number;
  outlierDetection?: unknown;
  /** Priorities of the hosts, by index (retry_other_priorities). */
  priorities?: number[];
  /** A cluster with no host to pick. */
  empty?: boolean;
}

export function fakeCluster(opts: FakeClusterOptions = {}): FakeCluster {
  const name = opts.name ?? 'outbound|80||svc';
  const stats = new ClusterStats();
  const sent: SentRequest[] = [];
  const hostCount = opts.hosts ?? 3;
  const f: FakeCluster = { cluster: undefined as unknown as ClusterRuntime, stats, hosts: [], sent, picks: [], hashes: [], destinations: [], retriesInUse: 0 };
  for (let i = 0; i < hostCount; i++) {
    const label = `10.0.0.${i + 1}:80`;
    const pool = {
      request(request: UpstreamRequest, handler: UpstreamHandler): UpstreamExchange {
        const s: SentRequest = { host: label, request, handler, aborted: false, resumed: 0, attemptCount: attemptCountOf(request.headers) };
        sent.push(s);
        return {
          pause() {},
          resume() {
            s.resumed++;
          },
          abort() {
            s.aborted = true;
          },
        };
      },
    };
    const host = {
      label,
      endpoint: { address: `10.0.0.${i + 1}`, port: 80, weight: 1, labels: {}, priority: opts.priorities?.[i] ?? 0 },
      active: 0,
      stats: stats.host(label),
      clusterStats: stats,
      outlierSlot: opts.outlierDetection ? i : undefined,
      pool,
      poolFor: () => pool,
    };
    f.hosts.push(host as unknown as UpstreamHost);
  }
  let next = 0;
  const pickOne = (): UpstreamHost | undefined => {
    if (opts.empty) return undefined;
    const i = f.picks.length ? f.picks.shift()! : next++ % f.hosts.length;
    return f.hosts[i];
  };
  const limits =
    opts.maxRetries === undefined
      ? undefined
      : {
          tryRetry: () => (f.retriesInUse < opts.maxRetries! ? (f.retriesInUse++, true) : false),
          add: (_r: unknown, delta: number) => void (f.retriesInUse += delta),
        };
  f.cluster = {
    name,
    config: { name, type: opts.type ?? 'STATIC', connectTimeoutMs: 1000, ...(opts.outlierDetection ? { outlierDetection: opts.outlierDetection } : {}) },
    stats,
    limits,
    pick(dest?: { address: string; port: number }, hash?: number) {
      f.destinations.push(dest);
      f.hashes.push(hash);
      return pickOne();
    },
    pickOtherPriority(tried: ReadonlySet<number>) {
      return f.hosts.find((h) => !tried.has(h.endpoint.priority ?? 0));
    },
  } as unknown as ClusterRuntime;
  return f;
}

function attemptCountOf(headers: readonly string[]): string | undefined {
  for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i] === 'x-envoy-attempt-count') return headers[i + 1];
  return undefined;
}
