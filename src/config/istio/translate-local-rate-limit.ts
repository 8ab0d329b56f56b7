/**
 * Outrigger's LocalRateLimit resources as the local_ratelimit filter an EnvoyFilter would add: the
 * filter (no bucket of its own) first in the connection managers of the mode's listeners, and on
 * each route a rule matches, a per-route config with one descriptor per rule (its bucket, or one
 * bucket per header value or client address) and the route rate_limits that produce them. The
 * resources that apply: the root namespace's and the proxy's own, selecting its labels, oldest
 * first; rules of several resources on one route are merged (the first resource's status and
 * headers answer).
 */
import type { LocalRateLimit, LocalRateLimitDescriptor, RateLimitAction, RateLimitPolicy } from '../envoy/local-ratelimit.js';
import { istioConfigName } from '../envoy/istio-config-path.js';
import { LOCAL_RATELIMIT_FILTER } from '../envoy/local-ratelimit.js';
import { filterChainsOf, httpConnectionManagerOf } from '../envoy/network-filters.js';
import type { HttpConnectionManager, Listener, NodeIdentity, Route, RouteConfiguration, VirtualHost } from '../snapshot.js';
import { labelsMatch } from './hosts.js';
import { portOf } from './translate-envoy-filter.js';
import { ROOT_NAMESPACE } from './registry.js';
import type { IstioConfig, LocalRateLimitSpec } from './resources.js';

type Rule = LocalRateLimitSpec['rules'][number];
/** A rule with its resource, and the descriptor value that names it. */
interface Bound {
  spec: LocalRateLimitSpec;
  rule: Rule;
  id: string;
}

const STAT_PREFIX = 'local_rate_limit';
const RULE_KEY = 'rule';

function applicable(cfg: IstioConfig, node: NodeIdentity): LocalRateLimitSpec[] {
  return cfg.localRateLimits
    .filter((l) => (l.meta.namespace === ROOT_NAMESPACE || l.meta.namespace === node.namespace) && (!l.selector || labelsMatch(l.selector, node.labels)))
    .sort((a, b) => a.meta.order - b.meta.order);
}

/** Whether a resource's mode covers the inbound (SERVER) or the other (CLIENT: outbound, gateway) side. */
function covers(spec: LocalRateLimitSpec, node: NodeIdentity, inbound: boolean): boolean {
  const server = inbound && node.mode === 'sidecar';
  return spec.mode === 'CLIENT_AND_SERVER' || spec.mode === (server ? 'SERVER' : 'CLIENT');
}

export function applyLocalRateLimits(cfg: IstioConfig, node: NodeIdentity, listeners: readonly Listener[], routeConfigs: RouteConfiguration[]): void {
  const specs = applicable(cfg, node);
  if (!specs.length) return;
  const rules: Bound[] = specs.flatMap((spec) => spec.rules.map((rule, i) => ({ spec, rule, id: `${spec.meta.namespace}/${spec.meta.name}#${i}` })));
  for (let i = 0; i < routeConfigs.length; i++) routeConfigs[i] = limitRoutes(routeConfigs[i], rules, node);
  addFilters(listeners, specs, node);
}


/** The filter, first in every connection manager of a covered side (it limits only where routes carry a config). */
function addFilters(listeners: readonly Listener[], specs: readonly LocalRateLimitSpec[], node: NodeIdentity): void {
  const done = new Set<HttpConnectionManager>();
  for (const l of listeners) {
    if (!specs.some((s) => covers(s, node, l.direction === 'INBOUND'))) continue;
    for (const c of filterChainsOf(l)) {
      const hcm = httpConnectionManagerOf(c);
      if (!hcm || done.has(hcm)) continue;
      done.add(hcm);
      hcm.httpFilters = [{ name: LOCAL_RATELIMIT_FILTER, config: filterConfig(specs[0], []) }, ...hcm.httpFilters];
    }
  }
}

function filterConfig(spec: LocalRateLimitSpec, descriptors: LocalRateLimitDescriptor[]): LocalRateLimit {
  return {
    statPrefix: STAT_PREFIX,
    enabledPercent: 100,
    enforcedPercent: 100,
    status: spec.status,
    responseHeadersToAdd: [],
    requestHeadersToAddWhenNotEnforced: [],
    descriptors,
    stage: 0,
    rateLimitHeaders: spec.rateLimitHeaders,
    alwaysConsumeDefaultTokenBucket: false,
    rateLimitedAsResourceExhausted: false,
    scope: spec.scope,
  };
}

function matches(b: Bound, rc: RouteConfiguration, vh: VirtualHost, r: Route): boolean {
  const m = b.rule.match;
  if (!m) return true;
  if (m.port !== undefined && portOf(rc) !== m.port) return false;
  if (m.host !== undefined && !vh.domains.some((d) => d === m.host || d.startsWith(`${m.host}:`))) return false;
  if (m.virtualService !== undefined) {
    const vs = m.virtualService.includes('/') ? m.virtualService : `${b.spec.meta.namespace}/${m.virtualService}`;
    if (r.source === undefined || istioConfigName(r.source) !== vs) return false;
    if (m.route !== undefined && r.name !== m.route) return false;
  }
  return true;
}

/** One rule's descriptor: its id, then the value it counts by. */
function descriptorOf(b: Bound): { descriptor: LocalRateLimitDescriptor; policy: RateLimitPolicy } {
  const tokenBucket = { maxTokens: b.rule.limit.burst, tokensPerFill: b.rule.limit.requests, fillIntervalMs: b.rule.limit.intervalMs };
  const by = b.rule.by;
  const actions: RateLimitAction[] = [{ genericKey: { descriptorKey: RULE_KEY, descriptorValue: b.id } }];
  const entries = [{ key: RULE_KEY, value: b.id }];
  if (by && 'header' in by) {
    actions.push({ requestHeaders: { headerName: by.header, descriptorKey: by.header, skipIfAbsent: false } });
    entries.push({ key: by.header, value: '' });
  } else if (by) {
    actions.push({ remoteAddress: true });
    entries.push({ key: 'remote_address', value: '' });
  }
  return { descriptor: { entries, tokenBucket }, policy: { stage: 0, actions } };
}

function limitRoutes(rc: RouteConfiguration, rules: readonly Bound[], node: NodeIdentity): RouteConfiguration {
  const inbound = rc.name.startsWith('inbound|');
  const own = rules.filter((b) => covers(b.spec, node, inbound));
  if (!own.length) return rc;
  let changed = false;
  const virtualHosts = rc.virtualHosts.map((vh) => {
    let vhChanged = false;
    const routes = vh.routes.map((r) => {
      const hits = own.filter((b) => matches(b, rc, vh, r));
      if (!hits.length) return r;
      vhChanged = true;
      const built = hits.map(descriptorOf);
      const config = filterConfig(hits[0].spec, built.map((x) => x.descriptor));
      const out: Route = { ...r, typedPerFilterConfig: { ...r.typedPerFilterConfig, [LOCAL_RATELIMIT_FILTER]: config } };
      if (r.action.kind === 'route') out.action = { ...r.action, rateLimits: [...(r.action.rateLimits ?? []), ...built.map((x) => x.policy)] };
      return out;
    });
    if (!vhChanged) return vh;
    changed = true;
    return { ...vh, routes };
  });
  return changed ? { ...rc, virtualHosts } : rc;
}
