// Envoy's stats_matcher: a rejected stat does not exist (not in /stats, not in Prometheus). Patterns see
// the whole dotted name before tag extraction; regexes match the whole name, as Envoy's safe_regex.
import { describe, expect, it } from 'vitest';
import { compileStatsMatcher, StatsMatcherCache, type StatsMatcher } from '../../src/telemetry/stats-matcher.js';
import { statKey, StatsWriter, WorkerStats } from '../../src/telemetry/stats.js';
import type { StatsMatcherConfig } from '../../src/config/snapshot.js';

const OUTBOUND = 'cluster.outbound|9080||reviews.default.svc.cluster.local.upstream_rq_total';

/**
 * A matcher's answer for a whole name, asked both ways: directly, and through the decision for the
 * name's scope (the part up to the third dot from the end is not known here, so every split of the
 * name at a dot is tried): the two must always agree.
 */
function accepts(m: StatsMatcher): (name: string) => boolean {
  return (name) => {
    const direct = m.accepts(name);
    for (let i = name.indexOf('.'); i > 0; i = name.indexOf('.', i + 1)) {
      const d = m.scope(name.slice(0, i + 1));
      const viaScope = d === true || (d !== false && d(name.slice(i + 1)));
      expect(viaScope, `scope ${name.slice(0, i + 1)} of ${name}`).toBe(direct);
    }
    return direct;
  };
}

describe('compileStatsMatcher', () => {
  it('no matcher: every stat (no test at all); reject_all: none', () => {
    expect(compileStatsMatcher(undefined)).toBeUndefined();
    const none = compileStatsMatcher({ rejectAll: true })!;
    expect(none.accepts('server.live')).toBe(false);
    expect(none.scope('server.')).toBe(false);
  });

  it('inclusion list: a stat exists when any pattern matches it', () => {
    const accept = accepts(compileStatsMatcher({ inclusionList: [{ prefix: 'server' }, { suffix: 'rbac.allowed' }, { exact: 'cluster_manager.cds.version' }, { contains: '|8080|' }] })!);
    expect(accept('server.live')).toBe(true);
    expect(accept('http.inbound_0.0.0.0_8080.rbac.allowed')).toBe(true);
    expect(accept('cluster_manager.cds.version')).toBe(true);
    expect(accept('cluster_manager.cds.version_text')).toBe(false);
    expect(accept('cluster.outbound|8080||a.b.upstream_rq_total')).toBe(true);
    expect(accept(OUTBOUND)).toBe(false);
  });

  it('exclusion list: a stat exists unless a pattern matches it', () => {
    const accept = accepts(compileStatsMatcher({ exclusionList: [{ prefix: 'cluster.outbound|' }] })!);
    expect(accept(OUTBOUND)).toBe(false);
    expect(accept('cluster.xds-grpc.upstream_rq_total')).toBe(true);
  });

  it('ignore_case', () => {
    const accept = accepts(compileStatsMatcher({ inclusionList: [{ prefix: 'SERVER', ignoreCase: true }] })!);
    expect(accept('server.live')).toBe(true);
  });

  it("a regex matches the whole name, behind its literal prefix or without one", () => {
    const vhost = accepts(compileStatsMatcher({ inclusionList: [{ regex: 'vhost\\..*\\.route\\..*' }] })!);
    expect(vhost('vhost.reviews.route.r1.upstream_rq_total')).toBe(true);
    expect(vhost('vhost.reviews.upstream_rq_total')).toBe(false);
    expect(vhost('xvhost.a.route.b')).toBe(false);
    expect(vhost(OUTBOUND)).toBe(false);
    // no literal prefix: the engine alone decides
    const classes = accepts(compileStatsMatcher({ inclusionList: [{ regex: '(cluster|http)\\..*_(2|5)xx' }] })!);
    expect(classes('cluster.a.upstream_rq_5xx')).toBe(true);
    expect(classes('http.b.downstream_rq_2xx')).toBe(true);
    expect(classes('listener.c.downstream_rq_5xx')).toBe(false);
    expect(classes('cluster.a.upstream_rq_5xx_x')).toBe(false);
  });
});

describe('StatsMatcherCache', () => {
  it('compiles at first use, keeps the compiled test while the config is equal, compiles a changed one', () => {
    const cache = new StatsMatcherCache();
    const a: StatsMatcherConfig = { inclusionList: [{ prefix: 'server' }] };
    const first = cache.get(a);
    expect(cache.get({ inclusionList: [{ prefix: 'server' }] })).toBe(first);
    const second = cache.get({ inclusionList: [{ prefix: 'cluster' }] });
    expect(second).not.toBe(first);
    expect(second!.accepts('cluster.a.b')).toBe(true);
    expect(cache.get(undefined)).toBeUndefined();
  });
});

describe('WorkerStats.snapshot with a matcher', () => {
  it('leaves out the rejected stats of every family; per-host stats (/clusters) are always kept', () => {
    const s = new WorkerStats();
    const reviews = 'outbound|9080||reviews.default.svc.cluster.local';
    s.cluster(reviews).upstreamRqTotal = 3;
    s.cluster(reviews).response(200);
    s.cluster(reviews).host('10.0.0.1:9080').rqTotal = 3;
    s.cluster('xds-grpc').upstreamRqTotal = 1;
    s.listener('0.0.0.0_15006').downstreamCxTotal = 2;
    s.hcm('inbound_0.0.0.0_8080').downstreamRqTotal = 2;
    s.tcpProxy('outbound|5432||db').downstreamCxTotal = 1;
    const matcher = compileStatsMatcher({ inclusionList: [{ prefix: "cluster.xds-grpc" }, { suffix: "upstream_rq_200" }, { prefix: "http.inbound_" }] });
    const snap = s.snapshot(matcher);
    expect(snap.counters[statKey('cluster', 'xds-grpc', 'upstream_rq_total')]).toBe(1);
    expect(snap.counters[statKey('cluster', reviews, 'upstream_rq_total')]).toBeUndefined();
    expect(snap.counters[statKey('cluster', reviews, 'upstream_rq_200')]).toBe(1);
    expect(snap.counters[statKey('http', 'inbound_0.0.0.0_8080', 'downstream_rq_total')]).toBe(2);
    expect(snap.counters[statKey('listener', '0.0.0.0_15006', 'downstream_cx_total')]).toBeUndefined();
    expect(snap.counters[statKey('tcp', 'outbound|5432||db', 'downstream_cx_total')]).toBeUndefined();
    expect(snap.counters[statKey('host', `${reviews}\u000210.0.0.1:9080`, 'rq_total')]).toBe(3);
    // the same stats without a matcher: all of them
    const all = s.snapshot();
    expect(all.counters[statKey('cluster', reviews, 'upstream_rq_total')]).toBe(3);
    expect(all.counters[statKey('listener', '0.0.0.0_15006', 'downstream_cx_total')]).toBe(2);
  });
});

describe('StatsWriter', () => {
  it("says when a scope keeps nothing, so that the agent's own stats of a cluster are not even computed", () => {
    const counters: Record<string, number> = {};
    const gauges: Record<string, number> = {};
    const w = new StatsWriter(counters, gauges, compileStatsMatcher({ inclusionList: [{ prefix: 'cluster.b.' }, { suffix: 'ejections_active' }] }));
    expect(w.scope('cluster', 'a')).toBe(true); // the suffix may match some of a's stats
    w.gauge('outlier_detection.ejections_active', 1);
    w.counter('outlier_detection.ejections_total', 1);
    expect(w.scope('cluster', 'b')).toBe(true);
    w.counter('outlier_detection.ejections_total', 2);
    expect(counters).toEqual({ [statKey('cluster', 'b', 'outlier_detection.ejections_total')]: 2 });
    expect(gauges).toEqual({ [statKey('cluster', 'a', 'outlier_detection.ejections_active')]: 1 });
    const none = new StatsWriter({}, {}, compileStatsMatcher({ inclusionList: [{ prefix: 'server' }] }));
    expect(none.scope('cluster', 'a')).toBe(false);
  });
});

describe('scope decisions agree with whole-name decisions', () => {
  it('every kind of pattern, case-sensitive or not, inclusion and exclusion, on names around its edges', () => {
    const patterns = [
      { prefix: 'cluster.xds-grpc' }, { prefix: 'cluster.a.up' }, { prefix: 'CLUSTER.A', ignoreCase: true }, { suffix: 'rbac.allowed' }, { suffix: 'x.rbac.allowed' },
      { exact: 'cluster.a.upstream_rq_total' }, { contains: '|80|' }, { contains: 'a.up' }, { regex: 'vhost\\..*\\.route\\..*' }, { regex: '.*_5xx' }, { regex: 'cluster\\.a\\..*' },
    ];
    const names = [
      'cluster.xds-grpc.upstream_rq_total', 'cluster.xds-grpcx.upstream_rq_total', 'cluster.a.upstream_rq_total', 'cluster.a.upstream_rq_5xx', 'cluster.a.rbac.allowed',
      'cluster.ax.rbac.allowed', 'http.x.rbac.allowed', 'cluster.outbound|80||b.c.upstream_cx_total', 'vhost.v.route.r.upstream_rq_total', 'vhost.v.upstream_rq_total', 'server.live',
    ];
    for (const list of [patterns, ...patterns.map((p) => [p])]) {
      for (const config of [{ inclusionList: list }, { exclusionList: list }] as StatsMatcherConfig[]) {
        const check = accepts(compileStatsMatcher(config)!);
        for (const n of names) check(n);
      }
    }
  });
});
