// OutlierDetectorHub (the agent's side of outlier detection), on fake timers: a worker's report
// ejects a host (broadcast to the workers, counters reset), the interval timer brings it back after
// baseEjectionTime × ejections, maxEjectionPercent caps ejections (at least one is allowed), and
// ejected()/allEjections()/stats() say where things stand. Snapshots come and go via update().
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { OutlierDetectorHub } from '../../src/agent/outlier-detector.js';
import type { Cluster, OutlierDetection, Snapshot } from '../../src/config/snapshot.js';
import { getLogLevel, setLogLevel, type LogLevel } from '../../src/telemetry/log.js';
import { NO_OUTLIER_ROW, OutlierCounters } from '../../src/upstream/outlier.js';
import { loadAssignment, staticHost } from '../../src/config/endpoints.js';
import type { RuntimeSlots } from '../../src/worker/messages.js';

const od = (o: Partial<OutlierDetection> = {}): OutlierDetection => ({
  consecutive5xx: 2,
  consecutiveGatewayFailure: 0,
  consecutiveLocalOriginFailure: 0,
  splitExternalLocalOriginErrors: false,
  intervalMs: 200,
  baseEjectionTimeMs: 1_000,
  maxEjectionPercent: 100,
  ...o,
});

/** [address, port, outlierSlot] */
type Ep = [string, number, number | undefined];

interface TestCluster {
  config: Cluster;
  hosts: Ep[];
}

/** `outlier` null: a cluster without outlier detection. */
function cluster(name: string, hosts: Ep[], outlier: OutlierDetection | null = od()): TestCluster {
  const config: Cluster = { name, type: 'STATIC', lbPolicy: 'ROUND_ROBIN', connectTimeoutMs: 1_000, idleTimeoutMs: 1_000, ...(outlier ? { outlierDetection: outlier } : {}) };
  return { config, hosts };
}

/** A Snapshot of these clusters, and the outlier rows the agent gave their hosts (a host without one has none). */
const snapshot = (...clusters: TestCluster[]): [Snapshot, RuntimeSlots] => [
  {
    version: 'test',
    clusters: clusters.map((c) => c.config),
    endpoints: clusters.map((c) => loadAssignment(c.config.name, c.hosts.map(([a, p]) => staticHost(a, p)))),
    listeners: [],
    routeConfigs: [],
  } as unknown as Snapshot,
  {
    listeners: {},
    clusters: {},
    outlierHosts: Object.fromEntries(clusters.filter((c) => c.config.outlierDetection).map((c) => [c.config.name, c.hosts.map(([, , slot]) => slot ?? NO_OUTLIER_ROW)])),
  },
];

const A = 'outbound|80||a.default.svc.cluster.local';
const B = 'outbound|80||b.default.svc.cluster.local';
const FOUR: Ep[] = [
  ['10.0.0.1', 80, 0],
  ['10.0.0.2', 80, 1],
  ['10.0.0.3', 80, 2],
  ['10.0.0.4', 80, 3],
];
const H = (i: number) => `10.0.0.${i}:80`;

let counters: OutlierCounters;
let broadcasts: [string, string[]][];
let hub: OutlierDetectorHub;
let level: LogLevel;

beforeAll(() => {
  level = getLogLevel();
  setLogLevel('error');
});
afterAll(() => setLogLevel(level));

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
  counters = new OutlierCounters(OutlierCounters.create(16));
  broadcasts = [];
  hub = new OutlierDetectorHub(counters, (c, ejected) => broadcasts.push([c, [...ejected]]));
});

afterEach(() => {
  hub.stop();
  vi.useRealTimers();
});

const enforcedZero = { consecutive_5xx: 0, consecutive_gateway_failure: 0, consecutive_local_origin_failure: 0 };

describe('report and eject', () => {
  it('a report ejects the host: broadcast, ejected(), stats(); a second report of an ejected host is ignored', () => {
    hub.update(...snapshot(cluster(A, FOUR.slice(0, 2))));
    expect(hub.ejected(A)).toEqual([]);
    expect(hub.stats()).toEqual([{ cluster: A, active: 0, total: 0, enforced: enforcedZero }]);
    hub.report(A, H(1), 'consecutive_5xx');
    expect(broadcasts).toEqual([[A, [H(1)]]]);
    expect(hub.ejected(A)).toEqual([H(1)]);
    expect(hub.stats()).toEqual([{ cluster: A, active: 1, total: 1, enforced: { ...enforcedZero, consecutive_5xx: 1 } }]);
    hub.report(A, H(1), 'consecutive_5xx');
    expect(broadcasts).toHaveLength(1);
    expect(hub.stats()[0]).toMatchObject({ active: 1, total: 1 });
    hub.report(A, H(2), 'consecutive_gateway_failure');
    expect(broadcasts[1]).toEqual([A, [H(1), H(2)]]);
    expect(hub.stats()[0]).toEqual({ cluster: A, active: 2, total: 2, enforced: { ...enforcedZero, consecutive_5xx: 1, consecutive_gateway_failure: 1 } });
  });

  it('reports for an unknown cluster, an unknown host, or an endpoint without an outlier slot are ignored', () => {
    hub.update(...snapshot(cluster(A, [['10.0.0.1', 80, 0], ['10.0.0.9', 80, undefined]]), cluster(B, [['10.0.0.1', 80, 5]], null)));
    hub.report('outbound|80||nope', H(1), 'consecutive_5xx');
    hub.report(A, '10.0.0.7:80', 'consecutive_5xx');
    hub.report(A, '10.0.0.9:80', 'consecutive_5xx');
    hub.report(B, H(1), 'consecutive_5xx'); // B has no outlier detection
    expect(broadcasts).toEqual([]);
    expect(hub.ejected(A)).toEqual([]);
    expect(hub.ejected(B)).toEqual([]);
    expect(hub.stats().map((s) => s.cluster)).toEqual([A]);
  });

  it('an ejection resets the host\'s consecutive counters (the workers start counting again)', () => {
    const cfg = od({ consecutive5xx: 3 });
    hub.update(...snapshot(cluster(A, FOUR.slice(0, 2), cfg)));
    expect(counters.response(0, cfg, 500)).toBeUndefined();
    expect(counters.response(0, cfg, 500)).toBeUndefined();
    expect(counters.response(1, cfg, 500)).toBeUndefined();
    hub.report(A, H(1), 'consecutive_5xx');
    // host 1 starts over; host 2 is untouched
    expect(counters.response(0, cfg, 500)).toBeUndefined();
    expect(counters.response(0, cfg, 500)).toBeUndefined();
    expect(counters.response(0, cfg, 500)).toBe('consecutive_5xx');
    expect(counters.response(1, cfg, 500)).toBeUndefined();
    expect(counters.response(1, cfg, 500)).toBe('consecutive_5xx');
  });

  it('IPv6 hosts are known by their [addr]:port label', () => {
    hub.update(...snapshot(cluster(A, [['fd00::1', 8080, 0], ['10.0.0.1', 80, 1]])));
    hub.report(A, '[fd00::1]:8080', 'consecutive_5xx');
    expect(hub.ejected(A)).toEqual(['[fd00::1]:8080']);
  });
});

describe('maxEjectionPercent', () => {
  it('10% of 4 hosts: one host is ejected anyway, a second is refused (and its counters reset)', () => {
    const cfg = od({ maxEjectionPercent: 10 });
    hub.update(...snapshot(cluster(A, FOUR, cfg)));
    hub.report(A, H(1), 'consecutive_5xx');
    expect(counters.response(1, cfg, 500)).toBeUndefined(); // host 2: one 5xx counted
    hub.report(A, H(2), 'consecutive_5xx');
    hub.report(A, H(3), 'consecutive_5xx');
    expect(hub.ejected(A)).toEqual([H(1)]);
    expect(broadcasts).toHaveLength(1);
    expect(hub.stats()[0]).toMatchObject({ active: 1, total: 1 });
    // the refused host's counters start over: 2 more 5xx to report it again
    expect(counters.response(1, cfg, 500)).toBeUndefined();
    expect(counters.response(1, cfg, 500)).toBe('consecutive_5xx');
  });

  it('50% of 4 hosts: two ejected, the third refused; once one returns another can go', () => {
    hub.update(...snapshot(cluster(A, FOUR, od({ maxEjectionPercent: 50 }))));
    hub.report(A, H(1), 'consecutive_5xx');
    vi.advanceTimersByTime(100);
    hub.report(A, H(2), 'consecutive_5xx');
    hub.report(A, H(3), 'consecutive_5xx');
    expect(hub.ejected(A)).toEqual([H(1), H(2)]);
    // host 1 returns (at the tick after 1 s), host 2 a tick later
    vi.advanceTimersByTime(1_000);
    expect(hub.ejected(A)).toEqual([H(2)]);
    hub.report(A, H(3), 'consecutive_5xx');
    expect(hub.ejected(A)).toEqual([H(2), H(3)]);
    hub.report(A, H(4), 'consecutive_5xx');
    expect(hub.ejected(A)).toEqual([H(2), H(3)]);
    expect(hub.stats()[0]).toMatchObject({ active: 2, total: 3 });
  });

  it('100%: every host may be ejected', () => {
    hub.update(...snapshot(cluster(A, FOUR, od({ maxEjectionPercent: 100 }))));
    for (let i = 1; i <= 4; i++) hub.report(A, H(i), 'consecutive_5xx');
    expect(hub.ejected(A)).toEqual([H(1), H(2), H(3), H(4)]);
  });
});

describe('interval: return after baseEjectionTime × ejections', () => {
  it('a host returns at the first interval tick at or after baseEjectionTime, with a broadcast', () => {
    hub.update(...snapshot(cluster(A, FOUR.slice(0, 2), od({ intervalMs: 300, baseEjectionTimeMs: 1_000 }))));
    hub.report(A, H(1), 'consecutive_5xx');
    vi.advanceTimersByTime(900);
    expect(hub.ejected(A)).toEqual([H(1)]);
    // 1 s is over at 1000, but the next tick is at 1200
    vi.advanceTimersByTime(200);
    expect(hub.ejected(A)).toEqual([H(1)]);
    vi.advanceTimersByTime(100);
    expect(hub.ejected(A)).toEqual([]);
    expect(broadcasts).toEqual([
      [A, [H(1)]],
      [A, []],
    ]);
    expect(hub.stats()[0]).toMatchObject({ active: 0, total: 1 });
  });

  it('nothing is broadcast at ticks that change nothing', () => {
    hub.update(...snapshot(cluster(A, FOUR.slice(0, 2))));
    vi.advanceTimersByTime(5_000);
    expect(broadcasts).toEqual([]);
  });

  it('ejected again right after it returns: twice as long (2 s), then three times (3 s)', () => {
    hub.update(...snapshot(cluster(A, FOUR.slice(0, 2))));
    hub.report(A, H(1), 'consecutive_5xx');
    vi.advanceTimersByTime(1_000);
    expect(hub.ejected(A)).toEqual([]);
    hub.report(A, H(1), 'consecutive_5xx');
    vi.advanceTimersByTime(1_900);
    expect(hub.ejected(A)).toEqual([H(1)]);
    vi.advanceTimersByTime(100);
    expect(hub.ejected(A)).toEqual([]);
    hub.report(A, H(1), 'consecutive_5xx');
    vi.advanceTimersByTime(2_900);
    expect(hub.ejected(A)).toEqual([H(1)]);
    vi.advanceTimersByTime(100);
    expect(hub.ejected(A)).toEqual([]);
    expect(hub.stats()[0]).toMatchObject({ active: 0, total: 3 });
  });

  it('a host that stays healthy long enough is back to baseEjectionTime', () => {
    hub.update(...snapshot(cluster(A, FOUR.slice(0, 2))));
    hub.report(A, H(1), 'consecutive_5xx');
    vi.advanceTimersByTime(1_000);
    hub.report(A, H(1), 'consecutive_5xx'); // 2 s
    vi.advanceTimersByTime(2_000);
    expect(hub.ejected(A)).toEqual([]);
    vi.advanceTimersByTime(10_000);
    hub.report(A, H(1), 'consecutive_5xx');
    vi.advanceTimersByTime(1_000);
    expect(hub.ejected(A)).toEqual([]);
  });

  it('the multiplier goes down by one at each interval the host spends back in (Envoy: ejectTimeBackoff--)', () => {
    // Envoy DetectorImpl::checkHostForUneject: a host not ejected at an interval check gets its
    // ejection-time backoff decremented ("If the host is healthy during that check, the ejection
    // time multiplier is decremented", arch overview: outlier detection)
    hub.update(...snapshot(cluster(A, FOUR.slice(0, 2))));
    hub.report(A, H(1), 'consecutive_5xx'); // ×1
    vi.advanceTimersByTime(1_000);
    expect(hub.ejected(A)).toEqual([]);
    vi.advanceTimersByTime(400); // two healthy interval checks: ×1 → ×0
    hub.report(A, H(1), 'consecutive_5xx'); // ×1 again: 1 s, not 2 s
    vi.advanceTimersByTime(1_000);
    expect(hub.ejected(A)).toEqual([]);
  });

  it('a returning host starts with clean consecutive counters (Envoy resets them at un-ejection)', () => {
    // in panic mode an ejected host keeps taking traffic: its 5xx keep counting while it is out
    const cfg = od({ consecutive5xx: 2 });
    hub.update(...snapshot(cluster(A, FOUR.slice(0, 2), cfg)));
    hub.report(A, H(1), 'consecutive_5xx');
    expect(counters.response(0, cfg, 500)).toBeUndefined();
    expect(counters.response(0, cfg, 500)).toBe('consecutive_5xx'); // reported while ejected: ignored
    hub.report(A, H(1), 'consecutive_5xx');
    expect(counters.response(0, cfg, 500)).toBeUndefined();
    vi.advanceTimersByTime(1_000);
    expect(hub.ejected(A)).toEqual([]);
    // back in: two more 5xx must report it again
    expect(counters.response(0, cfg, 500)).toBeUndefined();
    expect(counters.response(0, cfg, 500)).toBe('consecutive_5xx');
  });
});

describe('update(), allEjections(), stop()', () => {
  it('a host that leaves the endpoints is forgotten; the others keep their state', () => {
    hub.update(...snapshot(cluster(A, FOUR.slice(0, 3))));
    hub.report(A, H(1), 'consecutive_5xx');
    hub.report(A, H(2), 'consecutive_5xx');
    hub.update(...snapshot(cluster(A, [FOUR[1], FOUR[2]])));
    expect(hub.ejected(A)).toEqual([H(2)]);
    expect(hub.stats()[0]).toMatchObject({ active: 1, total: 2 });
    hub.report(A, H(1), 'consecutive_5xx');
    expect(hub.ejected(A)).toEqual([H(2)]);
  });

  it("maxEjectionPercent counts the hosts of the cluster's current endpoints: more hosts, a second ejection fits", () => {
    const cfg = od({ maxEjectionPercent: 50 });
    hub.update(...snapshot(cluster(A, FOUR.slice(0, 2), cfg)));
    hub.report(A, H(1), 'consecutive_5xx');
    hub.report(A, H(2), 'consecutive_5xx');
    expect(hub.ejected(A)).toEqual([H(1)]);
    hub.update(...snapshot(cluster(A, FOUR, cfg)));
    hub.report(A, H(2), 'consecutive_5xx');
    expect(hub.ejected(A)).toEqual([H(1), H(2)]);
  });

  it('a cluster that loses outlier detection (or goes away) is dropped, timer and all', () => {
    hub.update(...snapshot(cluster(A, FOUR.slice(0, 2)), cluster(B, FOUR.slice(2, 4))));
    hub.report(A, H(1), 'consecutive_5xx');
    hub.report(B, H(3), 'consecutive_5xx');
    expect(vi.getTimerCount()).toBe(2);
    expect(hub.allEjections()).toEqual([
      [A, [H(1)]],
      [B, [H(3)]],
    ]);
    hub.update(...snapshot(cluster(A, FOUR.slice(0, 2)), cluster(B, FOUR.slice(2, 4), null)));
    expect(vi.getTimerCount()).toBe(1);
    expect(hub.ejected(B)).toEqual([]);
    expect(hub.allEjections()).toEqual([[A, [H(1)]]]);
    expect(hub.stats().map((s) => s.cluster)).toEqual([A]);
    hub.update(...snapshot());
    expect(vi.getTimerCount()).toBe(0);
    expect(hub.stats()).toEqual([]);
  });

  it('no timer runs for clusters with nothing ejected (a mesh of thousands would wake the agent thousands of times an interval); one runs from an ejection until the host is back and its multiplier is down to 0', () => {
    hub.update(...snapshot(...Array.from({ length: 50 }, (_, i) => cluster(`c${i}`, FOUR.slice(0, 2)))));
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(150); // off the 200 ms tick phase
    hub.report('c7', H(1), 'consecutive_5xx');
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(850); // tick at 1000: ejected until 1150
    expect(hub.ejected('c7')).toEqual([H(1)]);
    vi.advanceTimersByTime(200); // tick at 1200 (the phase kept from the start): back, multiplier 1
    expect(hub.ejected('c7')).toEqual([]);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(200); // multiplier 0: nothing left to do
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a new interval restarts the timer; an ejection in progress keeps its end time and follows the new config', () => {
    hub.update(...snapshot(cluster(A, FOUR.slice(0, 2), od({ intervalMs: 10_000, baseEjectionTimeMs: 1_000 }))));
    hub.report(A, H(1), 'consecutive_5xx');
    vi.advanceTimersByTime(2_000);
    expect(hub.ejected(A)).toEqual([H(1)]); // no tick yet
    hub.update(...snapshot(cluster(A, FOUR.slice(0, 2), od({ intervalMs: 100, baseEjectionTimeMs: 1_000, maxEjectionPercent: 100 }))));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(100);
    expect(hub.ejected(A)).toEqual([]);
    expect(hub.stats()[0]).toMatchObject({ active: 0, total: 1 });
  });

  it('stop() clears every timer', () => {
    hub.update(...snapshot(cluster(A, FOUR.slice(0, 2)), cluster(B, FOUR.slice(2, 4))));
    hub.report(A, H(1), 'consecutive_5xx');
    hub.report(B, H(3), 'consecutive_5xx');
    expect(vi.getTimerCount()).toBe(2);
    hub.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
