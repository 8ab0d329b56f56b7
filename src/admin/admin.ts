import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { nodeHttp } from '../common/node-builtins.js';
import type { Snapshot } from '../config/snapshot.js';
import { envoyStatEntries, renderEnvoyJson, renderEnvoyText } from '../telemetry/envoy-stats-text.js';
import { LOG_LEVELS, type LogLevel } from '../telemetry/log.js';
import { renderPrometheus, type ServerValues, type WrittenStat } from '../telemetry/prometheus.js';
import { splitStatKey, type StatsSnapshot } from '../telemetry/stats.js';
import type { StatsMatcher } from '../telemetry/stats-matcher.js';
import { hostPort } from '../common/address.js';
import { endpointAddress, hostEndpoints, staticHost, type HostEndpoint } from '../config/endpoints.js';
import { compileSearchRegex, type CompiledRegex } from '../common/regex.js';
import type { XdsDump } from '../config/envoy/xds-dump.js';
import { xdsConfigDump } from './xds-config-dump.js';
import { snapshotConfigDump } from '../config/envoy/encode/config-dump.js';

/** What the admin API reads from and asks of the agent. */
export interface AdminBackend {
  snapshot(): Snapshot | undefined;
  /** Fed over xDS: the resources as the control plane sent them, for /config_dump. */
  xdsDump?(): XdsDump | undefined;
  stats(): Promise<StatsSnapshot>;
  serverValues(): ServerValues;
  serverInfo(): Record<string, unknown>;
  /** LIVE, DRAINING or PRE_INITIALIZING, as Envoy's /ready says. */
  state(): 'LIVE' | 'DRAINING' | 'PRE_INITIALIZING';
  setLogLevel(level: LogLevel): void;
  logLevel(): LogLevel;
  /** Envoy's /drain_listeners (inboundonly, graceful, skip_exit). */
  drainListeners(opts: { inboundOnly: boolean; graceful: boolean; skipExit: boolean }): void;
  /** The agent's written stats beyond server.*: xDS updates, workers_started, control plane state. */
  configUpdateStats(): WrittenStat[];
  /** The stats_matcher in force (undefined: every stat); `stats()` has already applied it. */
  statsMatcher(): StatsMatcher | undefined;
  quit(): void;
  setHealthCheckFailed(failed: boolean): void;
  /** Hosts outlier detection has ejected from a cluster (/clusters shows /failed_outlier_check). */
  ejectedHosts(cluster: string): string[];
}

type Handler = (req: IncomingMessage, res: ServerResponse, query: URLSearchParams) => Promise<void> | void;

/**
 * The explain Runtime of the config in force, made on the first /explain and kept while questions
 * come (a compiled copy of the whole config: dropped after a minute without one).
 */
const explainers = new WeakMap<AdminBackend, { explainer: import('../explain/explainer.js').Explainer; release: NodeJS.Timeout }>();
const EXPLAINER_IDLE_MS = 60_000;

/**
 * Outrigger's /explain?request=<METHOD URL>&header=<name: value>&direction=&source_principal=&
 * source_ip=&destination=&protocol=&format=text|json: `outrigger explain` against the config this
 * proxy serves, with its outlier ejections. Loaded on first use (an idle proxy never holds it).
 */
async function explainHandler(b: AdminBackend, res: ServerResponse, query: URLSearchParams): Promise<void> {
  const { explainOptionsOf, parseExplainRequest, ExplainUsageError } = await import('../explain/request.js');
  const options = explainOptionsOf(query);
  if (!options) return send(res, 400, 'usage: /explain?request=<METHOD URL>[&header=<name: value>...][&direction=outbound|inbound|gateway][&source_principal=][&source_ip=][&destination=<ip:port>][&protocol=HTTP/1.1|HTTP/2][&format=text|json]\n');
  const snapshot = b.snapshot();
  if (!snapshot) return send(res, 503, 'no config loaded yet\n');
  let request;
  try {
    request = parseExplainRequest(options, snapshot.node.mode === 'gateway' ? 'gateway' : 'outbound');
  } catch (e) {
    if (e instanceof ExplainUsageError) return send(res, 400, `${e.message}\n`);
    throw e;
  }
  const { Explainer } = await import('../explain/explainer.js');
  const kept = explainers.get(b);
  if (kept) clearTimeout(kept.release);
  const explainer = kept?.explainer ?? new Explainer();
  const release = setTimeout(() => explainers.delete(b), EXPLAINER_IDLE_MS).unref();
  explainers.set(b, { explainer, release });
  const explanation = await explainer.explain(snapshot, request, (cluster) => b.ejectedHosts(cluster));
  if (query.get('format') === 'json') return sendJson(res, explanation);
  const { renderExplanation } = await import('../explain/render.js');
  send(res, 200, renderExplanation(explanation));
}

/** Envoy's admin paths; mutating ones need POST, as in Envoy. */
export function createAdminServer(b: AdminBackend): Server {
  const get: Record<string, Handler> = {
    '/ready': (_q, res) => {
      const s = b.state();
      send(res, s === 'LIVE' ? 200 : 503, `${s}\n`);
    },
    '/server_info': (_q, res) => sendJson(res, b.serverInfo()),
    '/config_dump': (_q, res, query) => {
      const xds = b.xdsDump?.();
      const snapshot = b.snapshot();
      const resource = query.get('resource');
      const includeEds = query.has('include_eds');
      sendJson(res, xds ? xdsConfigDump(xds, resource, includeEds) : snapshot ? snapshotConfigDump(snapshot, resource, includeEds) : { configs: [] });
    },
    '/listeners': (_q, res, query) => {
      const ls = b.snapshot()?.listeners ?? [];
      if (query.get('format') === 'json') {
        sendJson(res, { listener_statuses: ls.map((l) => ({ name: l.name, local_address: { socket_address: { address: l.address, port_value: l.port } } })) });
      } else {
        send(res, 200, ls.map((l) => `${l.name}::${l.address}:${l.port}\n`).join(''));
      }
    },
    '/clusters': async (_q, res, query) => {
      const stats = await b.stats();
      const ejected = (c: string) => new Set(b.ejectedHosts(c));
      if (query.get('format') === 'json') sendJson(res, clustersJson(b.snapshot(), stats, ejected));
      else send(res, 200, clustersText(b.snapshot(), stats, ejected));
    },
    '/stats': async (_q, res, query) => {
      if (query.get('format') === 'prometheus') return sendPrometheus(res, b);
      let filter: CompiledRegex | undefined;
      const f = query.get('filter');
      if (f) {
        try {
          filter = compileSearchRegex(f); // RE2, as Envoy's: linear in the stat name
        } catch {
          return send(res, 400, `invalid regex: ${f}\n`);
        }
      }
      const usedOnly = query.has('usedonly');
      const matcher = b.statsMatcher();
      const own = { ...serverStats(b.serverValues(), usedOnly), ...Object.fromEntries(b.configUpdateStats().map((w) => [w.name, w.value])) };
      // outrigger.* are Outrigger's own, not Envoy stats: kept, as their Prometheus families are
      const extra = matcher ? Object.fromEntries(Object.entries(own).filter(([name]) => name.startsWith('outrigger.') || matcher.accepts(name))) : own;
      const entries = envoyStatEntries(await b.stats(), extra, { usedOnly, filter });
      if (query.get('format') === 'json') sendJson(res, JSON.parse(renderEnvoyJson(entries)));
      else send(res, 200, renderEnvoyText(entries));
    },
    '/stats/prometheus': (_q, res) => sendPrometheus(res, b),
    '/logging': (_q, res) => send(res, 200, `active loggers:\n  outrigger: ${b.logLevel()}\n`),
    '/explain': (_q, res, query) => explainHandler(b, res, query),
  };
  const post: Record<string, Handler> = {
    '/logging': (_q, res, query) => {
      const level = query.get('level') ?? query.get('outrigger');
      if (!level || !(LOG_LEVELS as readonly string[]).includes(level)) {
        return send(res, 400, `usage: /logging?level=<${LOG_LEVELS.join('|')}>\n`);
      }
      b.setLogLevel(level as LogLevel);
      send(res, 200, `active loggers:\n  outrigger: ${level}\n`);
    },
    '/drain_listeners': (_q, res, query) => {
      const opts = { inboundOnly: query.has('inboundonly'), graceful: query.has('graceful'), skipExit: query.has('skip_exit') };
      if (opts.skipExit && !opts.graceful) return send(res, 400, 'skip_exit requires graceful\n');
      b.drainListeners(opts);
      send(res, 200, 'OK\n');
    },
    '/quitquitquit': (_q, res) => {
      send(res, 200, 'OK\n');
      b.quit();
    },
    '/healthcheck/fail': (_q, res) => {
      b.setHealthCheckFailed(true);
      send(res, 200, 'OK\n');
    },
    '/healthcheck/ok': (_q, res) => {
      b.setHealthCheckFailed(false);
      send(res, 200, 'OK\n');
    },
  };
  return nodeHttp.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const handler = req.method === 'POST' ? (post[url.pathname] ?? get[url.pathname]) : get[url.pathname];
    if (!handler) {
      if (post[url.pathname]) return send(res, 405, 'This operation requires a POST.\n');
      return send(res, 404, `unknown admin path ${url.pathname}\n`);
    }
    Promise.resolve(handler(req, res, url.searchParams)).catch((err: Error) => send(res, 500, `${err.message}\n`));
  });
}

/** Istio's Prometheus port: /stats/prometheus, and /stats as the same. */
export function createStatsServer(b: AdminBackend): Server {
  return nodeHttp.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/stats/prometheus' || path === '/stats' || path === '/metrics') {
      sendPrometheus(res, b).catch((err: Error) => send(res, 500, `${err.message}\n`));
    } else {
      send(res, 404, 'not found\n');
    }
  });
}

async function sendPrometheus(res: ServerResponse, b: AdminBackend): Promise<void> {
  const text = renderPrometheus(await b.stats(), b.serverValues(), b.configUpdateStats(), b.statsMatcher());
  res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
  res.end(text);
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(body);
}

function sendJson(res: ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, null, 2));
}

/**
 * server.* stats as Envoy's /stats lists them: gauges set at start, so listed by usedonly at any
 * value (`server.state: 0`); Outrigger's counters only once incremented.
 */
function serverStats(v: ServerValues, usedOnly: boolean): Record<string, number> {
  const out: Record<string, number> = {
    'server.live': v.live ? 1 : 0,
    'server.state': v.state,
    'server.uptime': v.uptimeSeconds,
    'server.concurrency': v.concurrency,
  };
  const counters = { 'outrigger.config_reloads': v.configReloads, 'outrigger.config_rejected': v.configRejected, 'outrigger.worker_restarts': v.workerRestarts };
  for (const [name, n] of Object.entries(counters)) if (n > 0 || !usedOnly) out[name] = n;
  return out;
}

/** Per endpoint counters from the merged stats: `cluster → host → stat → value`. */
function hostStats(stats: StatsSnapshot): Map<string, Map<string, Record<string, number>>> {
  const out = new Map<string, Map<string, Record<string, number>>>();
  for (const src of [stats.counters, stats.gauges]) {
    for (const key in src) {
      const [family, tag, stat] = splitStatKey(key);
      if (family !== 'host') continue;
      const [cluster, host] = tag.split('\u0002');
      let hosts = out.get(cluster);
      if (!hosts) out.set(cluster, (hosts = new Map()));
      let h = hosts.get(host);
      if (!h) hosts.set(host, (h = {}));
      h[stat] = src[key];
    }
  }
  return out;
}

const HOST_STATS = ['cx_active', 'cx_connect_fail', 'cx_total', 'rq_active', 'rq_error', 'rq_success', 'rq_timeout', 'rq_total'];
const MAX = 4294967295;

/** Envoy's /clusters text: cluster settings and, per endpoint, counters, health and weight. */
export function clustersText(s: Snapshot | undefined, stats: StatsSnapshot, ejectedOf: (cluster: string) => Set<string> = () => new Set()): string {
  const counters = hostStats(stats);
  const hostsOf = clusterHosts(s);
  let out = '';
  for (const c of s?.clusters ?? []) {
    const n = c.name;
    const ejected = ejectedOf(n);
    out += `${n}::observability_name::${n}\n`;
    for (const k of ['max_connections', 'max_pending_requests', 'max_requests', 'max_retries']) out += `${n}::default_priority::${k}::${MAX}\n`;
    for (const k of ['max_connections', 'max_pending_requests', 'max_requests', 'max_retries']) out += `${n}::high_priority::${k}::${MAX}\n`;
    out += `${n}::added_via_api::true\n`;
    const seen = counters.get(n) ?? new Map();
    const endpoints = hostsOf(c.name).map((e) => ({ label: hostPort(e.address, e.port), e }));
    // ORIGINAL_DST clusters learn their hosts from traffic; other clusters show the hosts they have
    // now (a host an EDS update removed is gone, as in Envoy, though its counters stay in the stats)
    if (c.type === 'ORIGINAL_DST') for (const host of seen.keys()) if (!endpoints.some((x) => x.label === host)) endpoints.push({ label: host, e: staticHost(host, 0) });
    for (const { label, e } of endpoints) {
      const h = seen.get(label) ?? {};
      for (const k of HOST_STATS) out += `${n}::${label}::${k}::${h[k] ?? 0}\n`;
      const { region, zone, subZone } = e.locality;
      out += `${n}::${label}::hostname::${/^[\d.:[\]]+$/.test(e.address) ? '' : e.address}\n`;
      out += `${n}::${label}::health_flags::${healthFlags(e, ejected.has(label))}\n`;
      out += `${n}::${label}::weight::${e.weight}\n`;
      out += `${n}::${label}::region::${region}\n${n}::${label}::zone::${zone}\n${n}::${label}::sub_zone::${subZone}\n`;
      out += `${n}::${label}::canary::false\n${n}::${label}::priority::${e.priority}\n`;
      out += `${n}::${label}::success_rate::-1\n${n}::${label}::local_origin_success_rate::-1\n`;
    }
  }
  return out;
}

/** Each cluster's hosts, from the Snapshot's assignments. */
function clusterHosts(s: Snapshot | undefined): (cluster: string) => HostEndpoint[] {
  const assignments = new Map((s?.endpoints ?? []).map((a) => [a.clusterName, a]));
  return (cluster) => hostEndpoints(assignments.get(cluster));
}

/** Envoy's /clusters health_flags: `healthy`, or why not. */
function healthFlags(e: HostEndpoint, ejected: boolean): string {
  let flags = '';
  if (ejected) flags += '/failed_outlier_check';
  if (e.healthStatus === 'UNHEALTHY' || e.healthStatus === 'TIMEOUT' || e.healthStatus === 'DRAINING') flags += '/failed_eds_health';
  if (e.healthStatus === 'DEGRADED') flags += '/degraded_eds_health';
  return flags || 'healthy';
}

function clustersJson(s: Snapshot | undefined, stats: StatsSnapshot, ejectedOf: (cluster: string) => Set<string>): unknown {
  const counters = hostStats(stats);
  const hostsOf = clusterHosts(s);
  return {
    cluster_statuses: (s?.clusters ?? []).map((c) => ({
      name: c.name,
      added_via_api: true,
      host_statuses: hostsOf(c.name).map((e) => {
        const label = hostPort(e.address, e.port);
        const h = counters.get(c.name)?.get(label) ?? {};
        const address = endpointAddress(e.address, e.port);
        return {
          address: 'pipe' in address ? { pipe: address.pipe } : { socket_address: { address: e.address, port_value: e.port } },
          stats: HOST_STATS.map((k) => ({ name: k, value: String(h[k] ?? 0) })),
          health_status: ejectedOf(c.name).has(label) ? { eds_health_status: e.healthStatus, failed_outlier_check: true } : { eds_health_status: e.healthStatus },
          weight: e.weight,
          priority: e.priority,
          locality: e.locality.region || e.locality.zone || e.locality.subZone ? { region: e.locality.region, zone: e.locality.zone, sub_zone: e.locality.subZone } : {},
        };
      }),
    })),
  };
}
