import { describe, expect, it } from 'vitest';
import { envoyStatEntries, renderEnvoyJson, renderEnvoyText } from '../../src/telemetry/envoy-stats-text.js';
import { statKey, type StatsSnapshot } from '../../src/telemetry/stats.js';

const C = 'outbound|80||a.default.svc.cluster.local';

const STATS: StatsSnapshot = {
  counters: {
    [statKey('cluster', C, 'upstream_rq_total')]: 5,
    [statKey('cluster', C, 'upstream_rq_timeout')]: 0,
    [statKey('cluster', C, 'upstream_rq_2xx')]: 5,
    [statKey('http', '0.0.0.0_8080', 'downstream_rq_total')]: 6,
    [statKey('host', `${C}\u0002127.0.0.1:9000`, 'rq_total')]: 5,
  },
  gauges: {
    [statKey('cluster', C, 'upstream_cx_active')]: 0,
    [statKey('listener', '0.0.0.0_8080', 'downstream_cx_active')]: 2,
  },
  istioRequests: [],
  istioTcp: [],
};
const EXTRA = { 'server.live': 1, 'server.uptime': 0, 'outrigger.config_reloads': 0 };

describe('envoyStatEntries', () => {
  it('lists every stat as <family>.<tag>.<stat>, sorted, without per-host stats', () => {
    const e = envoyStatEntries(STATS, EXTRA, { usedOnly: false });
    expect(e).toEqual([
      [`cluster.${C}.upstream_cx_active`, 0],
      [`cluster.${C}.upstream_rq_2xx`, 5],
      [`cluster.${C}.upstream_rq_timeout`, 0],
      [`cluster.${C}.upstream_rq_total`, 5],
      ['http.0.0.0.0_8080.downstream_rq_total', 6],
      ['listener.0.0.0.0_8080.downstream_cx_active', 2],
      ['outrigger.config_reloads', 0],
      ['server.live', 1],
      ['server.uptime', 0],
    ]);
  });

  it("usedOnly drops the workers' stats at zero, not the agent's written ones (Envoy lists server.state: 0)", () => {
    const e = envoyStatEntries(STATS, EXTRA, { usedOnly: true });
    expect(e).toEqual([
      [`cluster.${C}.upstream_rq_2xx`, 5],
      [`cluster.${C}.upstream_rq_total`, 5],
      ['http.0.0.0.0_8080.downstream_rq_total', 6],
      ['listener.0.0.0.0_8080.downstream_cx_active', 2],
      ['outrigger.config_reloads', 0],
      ['server.live', 1],
      ['server.uptime', 0],
    ]);
  });

  it('filter keeps names the regex matches (unanchored, like Envoy), combined with usedOnly', () => {
    expect(envoyStatEntries(STATS, EXTRA, { usedOnly: false, filter: /upstream_rq_t/ }).map(([n]) => n)).toEqual([`cluster.${C}.upstream_rq_timeout`, `cluster.${C}.upstream_rq_total`]);
    expect(envoyStatEntries(STATS, EXTRA, { usedOnly: true, filter: /upstream_rq_t/ }).map(([n]) => n)).toEqual([`cluster.${C}.upstream_rq_total`]);
    expect(envoyStatEntries(STATS, EXTRA, { usedOnly: false, filter: /^server\./ }).map(([n]) => n)).toEqual(['server.live', 'server.uptime']);
    expect(envoyStatEntries(STATS, EXTRA, { usedOnly: false, filter: /nothing-matches/ })).toEqual([]);
  });
});

describe('renderEnvoyText / renderEnvoyJson', () => {
  const entries: [string, number][] = [['a.b', 1], ['c.d', 0]];
  it('text is `name: value` lines', () => {
    expect(renderEnvoyText(entries)).toBe('a.b: 1\nc.d: 0\n');
    expect(renderEnvoyText([])).toBe('');
  });
  it('json is {stats: [{name, value}]} in order', () => {
    expect(JSON.parse(renderEnvoyJson(entries))).toEqual({ stats: [{ name: 'a.b', value: 1 }, { name: 'c.d', value: 0 }] });
  });
});
