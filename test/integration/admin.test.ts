// The Envoy-compatible admin API (127.0.0.1:<admin-port>) of a two-worker gateway.
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namedUpstreams, svcHost } from '../helpers/fixtures.js';
import { GATEWAY_ARGS, gateway, toYaml, virtualService } from '../helpers/mesh.js';
import { freePort } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { parsePrometheus, plainRequest, type TextResponse } from '../helpers/telemetry.js';

const C = `outbound|80||${svcHost('echo')}`;
const M = 12;

let gw: number;
let proxy: RunningProxy;
let fx: Awaited<ReturnType<typeof namedUpstreams>>;
let echoPort: number;

beforeAll(async () => {
  fx = await namedUpstreams(['echo']);
  echoPort = fx.upstreams.get('echo')!.port;
  gw = await freePort();
  proxy = await startProxy({ allStats: true,
    yaml: toYaml(gateway({ port: gw }), ...fx.entries, virtualService('echo', { hosts: ['*'], gateways: ['gw'], http: [{ name: 'to-echo', route: [{ destination: { host: svcHost('echo') } }] }] })),
    args: GATEWAY_ARGS,
    workers: 2,
  });
  // M requests, each on its own connection (spread over both workers)
  for (let i = 0; i < M; i += 4) {
    const rs = await Promise.all([0, 1, 2, 3].map((j) => plainRequest(gw, `/r/${i + j}`, { host: 'admin.test' })));
    for (const r of rs) if (r.status !== 200) throw new Error(`setup traffic: ${r.status} ${r.text}`);
  }
});

afterAll(async () => {
  await stopAllProxies();
  await fx?.closeAll();
});

const admin = (path: string, method = 'GET'): Promise<TextResponse> => plainRequest(proxy.ports.admin, path, { method });
const json = (r: TextResponse) => JSON.parse(r.text);

/** Every `version_info` value anywhere in a config dump. */
function versionInfos(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) versionInfos(x, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === 'version_info') out.push(String(x));
      else versionInfos(x, out);
    }
  }
  return out;
}

describe('state', () => {
  it('/ready is 200 LIVE', async () => {
    const r = await admin('/ready');
    expect(r.status).toBe(200);
    expect(r.text.trim()).toBe('LIVE');
  });

  it('/server_info is JSON with state LIVE and the concurrency', async () => {
    const r = await admin('/server_info');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/application\/json/);
    const j = json(r);
    expect(j.state).toBe('LIVE');
    expect(j.command_line_options.concurrency).toBe(2);
    expect(typeof j.version).toBe('string');
  });

  it('unknown paths are 404', async () => {
    expect((await admin('/no-such-thing')).status).toBe(404);
  });
});

describe('/config_dump', () => {
  it('has the listener, its route config and the cluster, one version_info throughout', async () => {
    const r = await admin('/config_dump');
    expect(r.status).toBe(200);
    const d = json(r);
    const types = d.configs.map((c: { '@type': string }) => c['@type']);
    for (const t of ['BootstrapConfigDump', 'ListenersConfigDump', 'ClustersConfigDump', 'RoutesConfigDump']) {
      expect(types).toContain(`type.googleapis.com/envoy.admin.v3.${t}`);
    }
    const section = (t: string) => d.configs.find((c: { '@type': string }) => c['@type'].endsWith(`.${t}`));
    const listeners = section('ListenersConfigDump').dynamic_listeners;
    const listener = listeners.find((l: { name: string }) => l.name === `0.0.0.0_${gw}`);
    expect(listener, `listener 0.0.0.0_${gw} in ${listeners.map((l: { name: string }) => l.name)}`).toBeDefined();
    // a gateway listener has exactly one filter chain, named like the listener, ending in the HTTP connection manager
    const chains = listener.active_state.listener.filter_chains;
    expect(chains.map((c: { name: string }) => c.name)).toEqual([`0.0.0.0_${gw}`]);
    const filters = chains[0].filters;
    expect(filters.map((f: { name: string }) => f.name)).toEqual(['envoy.filters.network.http_connection_manager']);
    expect(filters[0].typed_config['@type']).toBe('type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager');
    const routeConfigName = filters[0].typed_config.rds.route_config_name;
    expect(routeConfigName).toBe(`http.${gw}`);
    const routes = section('RoutesConfigDump').dynamic_route_configs.map((x: { route_config: { name: string } }) => x.route_config);
    const rc = routes.find((x: { name: string }) => x.name === routeConfigName);
    expect(rc, `route config ${routeConfigName}`).toBeDefined();
    expect(JSON.stringify(rc)).toContain('to-echo');
    const clusters = section('ClustersConfigDump').dynamic_active_clusters.map((x: { cluster: { name: string } }) => x.cluster.name);
    expect(clusters).toContain(C);
    const versions = new Set(versionInfos(d));
    expect(versions.size).toBe(1);
    const [v] = versions;
    expect(v).toMatch(/\S/);
    // every section that carries versions carries the same one
    // (the secrets section is empty: this proxy has no certificates)
    for (const c of d.configs.filter((x: { '@type': string }) => !/(Bootstrap|Secrets)ConfigDump$/.test(x['@type']))) expect(versionInfos(c).length, c['@type']).toBeGreaterThan(0);
  });

  it('?resource=dynamic_active_clusters narrows to the clusters', async () => {
    const d = json(await admin('/config_dump?resource=dynamic_active_clusters'));
    expect(d.configs).toHaveLength(1);
    expect(d.configs[0]['@type']).toBe('type.googleapis.com/envoy.admin.v3.ClustersConfigDump');
    expect(d.configs[0].dynamic_active_clusters.map((x: { cluster: { name: string } }) => x.cluster.name)).toContain(C);
    expect(JSON.stringify(d)).not.toContain(`0.0.0.0_${gw}`);
  });

  it('?resource=dynamic_listeners narrows to the listeners', async () => {
    const d = json(await admin('/config_dump?resource=dynamic_listeners'));
    expect(d.configs).toHaveLength(1);
    expect(d.configs[0]['@type']).toBe('type.googleapis.com/envoy.admin.v3.ListenersConfigDump');
    expect(JSON.stringify(d)).not.toContain(C);
  });
});

describe('/clusters and /listeners', () => {
  it('text: `<cluster>::<host:port>::<stat>::<value>` with the per-endpoint counts summed over workers', async () => {
    const r = await admin('/clusters');
    expect(r.status).toBe(200);
    const lines = r.text.split('\n').filter(Boolean);
    for (const l of lines) expect(l).toMatch(/^[^:]+(::[^:]+)*::.*$/);
    const host = `${C}::127.0.0.1:${echoPort}`;
    expect(lines).toContain(`${host}::rq_total::${M}`);
    expect(lines).toContain(`${host}::rq_success::${M}`);
    expect(lines).toContain(`${host}::rq_error::0`);
    expect(lines).toContain(`${host}::rq_active::0`);
    expect(lines).toContain(`${host}::health_flags::healthy`);
    expect(lines).toContain(`${host}::weight::1`);
    const cxTotal = Number(lines.find((l) => l.startsWith(`${host}::cx_total::`))!.split('::').pop());
    expect(cxTotal).toBeGreaterThanOrEqual(1);
    expect(cxTotal).toBeLessThanOrEqual(M);
    expect(lines).toContain(`${C}::added_via_api::true`);
  });

  it('?format=json: cluster_statuses with host_statuses and their stats', async () => {
    const r = await admin('/clusters?format=json');
    expect(r.status).toBe(200);
    const c = json(r).cluster_statuses.find((x: { name: string }) => x.name === C);
    expect(c).toBeDefined();
    expect(c.host_statuses).toHaveLength(1);
    const h = c.host_statuses[0];
    expect(h.address.socket_address).toEqual({ address: '127.0.0.1', port_value: echoPort });
    const stat = (n: string) => h.stats.find((s: { name: string }) => s.name === n)?.value;
    expect(stat('rq_total')).toBe(String(M));
    expect(stat('rq_success')).toBe(String(M));
    expect(h.health_status.eds_health_status).toBe('HEALTHY');
  });

  it('/listeners text and json', async () => {
    const t = await admin('/listeners');
    expect(t.status).toBe(200);
    expect(t.text.split('\n').filter(Boolean)).toContain(`0.0.0.0_${gw}::0.0.0.0:${gw}`);
    const j = json(await admin('/listeners?format=json'));
    expect(j.listener_statuses).toContainEqual({ name: `0.0.0.0_${gw}`, local_address: { socket_address: { address: '0.0.0.0', port_value: gw } } });
  });
});

describe('/stats', () => {
  const parse = (text: string): [string, number][] =>
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const m = /^(\S+): (-?\d+(?:\.\d+)?)$/.exec(l);
        if (!m) throw new Error(`bad /stats line: ${l}`);
        return [m[1], Number(m[2])];
      });

  it('text: sorted `name: value` lines with the summed counters', async () => {
    const r = await admin('/stats');
    expect(r.status).toBe(200);
    const entries = parse(r.text);
    const names = entries.map(([n]) => n);
    expect(names).toEqual([...names].sort());
    expect(new Set(names).size).toBe(names.length);
    const map = new Map(entries);
    expect(map.get(`cluster.${C}.upstream_rq_total`)).toBe(M);
    expect(map.get(`cluster.${C}.upstream_rq_2xx`)).toBe(M);
    expect(map.get(`cluster.${C}.upstream_rq_200`)).toBe(M);
    expect(map.get(`http.0.0.0.0_${gw}.downstream_rq_total`)).toBe(M);
    expect(map.get(`listener.0.0.0.0_${gw}.downstream_cx_total`)).toBe(M);
    expect(map.get('server.live')).toBe(1);
    expect(map.get('server.concurrency')).toBe(2);
    expect(map.has(`cluster.${C}.upstream_rq_timeout`)).toBe(true);
  });

  it("?usedonly drops the stats never written (zero-valued counters), keeps the agent's set ones such as server.state: 0", async () => {
    const all = new Map(parse((await admin('/stats')).text));
    const used = parse((await admin('/stats?usedonly')).text);
    expect(used.length).toBeGreaterThan(0);
    expect(used.length).toBeLessThan(all.size);
    expect(used.filter(([, v]) => v === 0).every(([n]) => n.startsWith('server.')), 'only set gauges at zero').toBe(true);
    expect(new Map(used).get('server.state')).toBe(0);
    for (const [n] of used) expect(all.has(n), n).toBe(true);
    expect(new Map(used).get(`cluster.${C}.upstream_rq_total`)).toBe(M);
    expect(new Map(used).has(`cluster.${C}.upstream_rq_timeout`)).toBe(false);
  });

  it('?filter=REGEX keeps matching names; combines with usedonly', async () => {
    const f = parse((await admin(`/stats?filter=${encodeURIComponent('upstream_rq_\\dxx$')}`)).text);
    expect(f.length).toBe(5);
    for (const [n] of f) expect(n).toMatch(/upstream_rq_\dxx$/);
    const fu = parse((await admin(`/stats?usedonly&filter=${encodeURIComponent('^cluster\\..*upstream_rq_')}`)).text);
    // upstream_rq_pending_total: requests that waited for a new upstream connection (at least the first)
    expect(fu.map(([n]) => n).sort()).toEqual([`cluster.${C}.upstream_rq_200`, `cluster.${C}.upstream_rq_2xx`, `cluster.${C}.upstream_rq_pending_total`, `cluster.${C}.upstream_rq_total`]);
  });

  it('?format=json: {stats: [{name, value}]}', async () => {
    const r = await admin(`/stats?format=json&filter=${encodeURIComponent('upstream_rq_total$')}`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/application\/json/);
    expect(json(r)).toEqual({ stats: [{ name: `cluster.${C}.upstream_rq_total`, value: M }] });
    const all = json(await admin('/stats?format=json')).stats as { name: string; value: number }[];
    const textNames = parse((await admin('/stats')).text).map(([n]) => n);
    expect(all.map((s) => s.name)).toEqual(textNames);
  });

  it('a bad regex is 400', async () => {
    const r = await admin(`/stats?filter=${encodeURIComponent('(unclosed')}`);
    expect(r.status).toBe(400);
  });

  it('/stats/prometheus (and /stats?format=prometheus) on the admin port', async () => {
    for (const path of ['/stats/prometheus', '/stats?format=prometheus']) {
      const r = await admin(path);
      expect(r.status, path).toBe(200);
      expect(r.headers['content-type']).toMatch(/^text\/plain/);
      const e = parsePrometheus(r.text);
      expect(e.one('envoy_cluster_upstream_rq_total', { envoy_cluster_name: C }), path).toBe(M);
      expect(e.one('istio_requests_total', { response_code: '200' }), path).toBe(M);
    }
  });
});

describe('mutating endpoints', () => {
  it('POST-only endpoints answer 405 to GET (and do nothing)', async () => {
    for (const path of ['/quitquitquit', '/drain_listeners', '/healthcheck/fail', '/healthcheck/ok']) {
      const r = await admin(path);
      expect(r.status, path).toBe(405);
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(proxy.alive()).toBe(true);
    expect((await admin('/ready')).text.trim()).toBe('LIVE');
    expect((await plainRequest(proxy.ports.health, '/healthz/ready')).status).toBe(200);
    expect((await plainRequest(gw, '/after-405', { host: 'admin.test' })).status).toBe(200);
  });

  it('POST /logging?level=debug, then GET /logging shows debug; a bad level is 400', async () => {
    expect((await admin('/logging')).text).toMatch(/\binfo\b/);
    const set = await admin('/logging?level=debug', 'POST');
    expect(set.status).toBe(200);
    const get = await admin('/logging');
    expect(get.status).toBe(200);
    expect(get.text).toMatch(/\bdebug\b/);
    expect(get.text).not.toMatch(/\binfo\b/);
    expect(json(await admin('/server_info')).command_line_options.log_level).toBe('debug');
    expect((await admin('/logging?level=loud', 'POST')).status).toBe(400);
    expect((await admin('/logging')).text).toMatch(/\bdebug\b/);
    expect((await admin('/logging?level=info', 'POST')).status).toBe(200);
    expect((await admin('/logging')).text).toMatch(/\binfo\b/);
  });

  it('POST /healthcheck/fail makes /healthz/ready 503 (traffic still flows); /healthcheck/ok brings back 200', async () => {
    const health = () => plainRequest(proxy.ports.health, '/healthz/ready');
    expect((await health()).status).toBe(200);
    expect((await admin('/healthcheck/fail', 'POST')).status).toBe(200);
    expect((await health()).status).toBe(503);
    expect((await plainRequest(gw, '/during-fail', { host: 'admin.test' })).status).toBe(200);
    expect((await admin('/healthcheck/ok', 'POST')).status).toBe(200);
    expect((await health()).status).toBe(200);
  });
});

describe('bind addresses', () => {
  const ip = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

  it('the admin port listens on 127.0.0.1 only; the stats port on every address', async (ctx) => {
    if (!ip) ctx.skip('no non-loopback IPv4 address on this machine: cannot check that admin is loopback-only');
    // control: the 0.0.0.0 stats port answers on the non-loopback address
    const stats = await plainRequest(proxy.ports.stats, '/stats/prometheus', { address: ip, timeoutMs: 3_000 });
    expect(stats.status).toBe(200);
    const err = await plainRequest(proxy.ports.admin, '/ready', { address: ip, timeoutMs: 3_000 }).then(
      (r) => `unexpected answer ${r.status}`,
      (e: NodeJS.ErrnoException) => e.code ?? e.message,
    );
    expect(err).toBe('ECONNREFUSED');
    // and on loopback it does answer
    expect((await admin('/ready')).status).toBe(200);
  });
});
