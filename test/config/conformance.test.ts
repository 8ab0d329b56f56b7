/**
 * Every Istio YAML file of the shared conformance material that holds networking.istio.io resources
 * must either parse and translate (sidecar and gateway mode), or be refused only because it holds a
 * kind Outrigger says it does not support yet. The files are read in place, never copied.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_RETRY_POLICY } from '../../src/config/istio/translate-routes.js';
import { describe, expect, it } from 'vitest';
import { ConfigError, ConfigErrors } from '../../src/config/errors.js';
import { isPipeAddress } from '../../src/common/address.js';
import { hostEndpoints } from '../../src/config/endpoints.js';
import { parseIstioConfig } from '../../src/config/istio/parse.js';
import type { IstioConfig } from '../../src/config/istio/resources.js';
import { translateIstio, type Translation } from '../../src/config/istio/translate.js';
import type { NodeIdentity } from '../../src/config/snapshot.js';
import { parseDocuments, type SourceDocument } from '../../src/config/source.js';
import { RouteTable } from '../../src/router/route-table.js';
import { compilePerRouteConfig } from '../../src/filters/http/registry.js';
import { chainHcm, gatewayNode, hcmOf, sidecarNode, tcpProxyOf } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(here, '../../../shared/conformance/istio');

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const full = join(dir, e.name);
    if (e.isDirectory()) walk(full, out);
    else if (/\.ya?ml$/.test(e.name)) out.push(full);
  }
  return out;
}

/** Files with Istio networking resources, or with the Kubernetes objects the service registry reads. */
// a Go template with loops or conditions is not config until Istio's test renders it: left out
const FILES = existsSync(ROOT)
  ? walk(ROOT).filter((f) => {
      const text = readFileSync(f, 'utf8');
      return /networking\.istio\.io\/|^kind: (Service|EndpointSlice|Endpoints|Pod|Node)\s*$/m.test(text) && renderGoTemplate(text) !== undefined;
    })
  : [];

/** A kind refused as not supported, or an EnvoyFilter patch Outrigger does not apply (the kind is the capture). */
const NOT_SUPPORTED = /, field kind: kind (\w+) \([^)]*\) is not supported: |, (EnvoyFilter) [^,]+, field spec\.configPatches\[\d+\][^:]*: .*(?:is not supported|does not apply)/;
const unsupportedKind = (message: string) => {
  const m = NOT_SUPPORTED.exec(message)!;
  return m[1] ?? m[2];
};
/** DestinationRule tls files name paths on Istio's test machines: reading them here fails, as it should. */
const MISSING_TLS_FILE = /, field spec\.(trafficPolicy|servers\[\d+\])\.tls\.\w+: cannot read [^ ]+: ENOENT$/;

/**
 * Some of Istio's test inputs are Go templates. A plain `{{ .Name }}` placeholder is filled with a
 * stand-in DNS label; a template with loops or conditions is not config on its own (undefined).
 */
function renderGoTemplate(text: string): string | undefined {
  const filled = text.replace(/\{\{-?\s*\.(\w+)\s*-?\}\}/g, (_m, name: string) => `tpl-${name.toLowerCase()}`);
  return filled.includes('{{') ? undefined : filled;
}

function errorsOf(e: unknown): ConfigError[] {
  if (e instanceof ConfigErrors) return e.errors;
  if (e instanceof ConfigError) return [e];
  throw e;
}

function kindOf(v: unknown): string | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? ((v as { kind?: unknown }).kind as string) : undefined;
}

/** Sidecar nodes in every namespace the file mentions; gateway nodes for every Gateway selector (and a stock ingress gateway). */
function nodesFor(cfg: IstioConfig): NodeIdentity[] {
  const namespaces = new Set(['default']);
  for (const list of [cfg.virtualServices, cfg.destinationRules, cfg.serviceEntries, cfg.workloadEntries, cfg.gateways, cfg.sidecars]) {
    for (const r of list) namespaces.add(r.meta.namespace);
  }
  for (const s of cfg.kubernetes.services) namespaces.add(s.meta.namespace);
  const nodes: NodeIdentity[] = [];
  for (const ns of namespaces) {
    nodes.push(sidecarNode({ namespace: ns }));
    for (const sc of cfg.sidecars) if (sc.meta.namespace === ns && sc.workloadSelector) nodes.push(sidecarNode({ namespace: ns, labels: sc.workloadSelector }));
  }
  nodes.push(gatewayNode());
  for (const gw of cfg.gateways) nodes.push(gatewayNode({ namespace: gw.meta.namespace, labels: gw.selector }));
  return nodes;
}

/** Structural invariants every Snapshot must satisfy. */
function checkSnapshot(t: Translation, label: string): void {
  const { snapshot } = t;
  const rcNames = snapshot.routeConfigs.map((r) => r.name);
  expect(new Set(rcNames).size, `${label}: duplicate route configs ${rcNames}`).toBe(rcNames.length);
  const lNames = snapshot.listeners.map((l) => l.name);
  expect(new Set(lNames).size, `${label}: duplicate listeners ${lNames}`).toBe(lNames.length);
  const cNames = snapshot.clusters.map((c) => c.name);
  expect(new Set(cNames).size, `${label}: duplicate clusters`).toBe(cNames.length);
  for (const l of snapshot.listeners) {
    const chains = [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])];
    expect(new Set(chains.map((c) => c.name)).size, `${label}: ${l.name} has duplicate chain names`).toBe(chains.length);
    for (const c of chains) {
      expect(!!chainHcm(c) !== !!tcpProxyOf(c), `${label}: ${l.name}/${c.name} has exactly one network filter`).toBe(true);
      if (chainHcm(c)) expect(rcNames, `${label}: ${l.name}/${c.name} names a missing route config`).toContain(chainHcm(c)!.routeConfigName);
    }
    expect(Number.isInteger(l.port) && l.port > 0 && l.port < 65536, `${label}: listener ${l.name} port`).toBe(true);
  }
  const clusterNames = new Set(snapshot.clusters.map((c) => c.name));
  for (const a of snapshot.endpoints) {
    expect(clusterNames.has(a.clusterName), `${label}: endpoints of a missing cluster ${a.clusterName}`).toBe(true);
    for (const ep of hostEndpoints(a)) {
      expect(ep.address, `${label}: ${a.clusterName} endpoint address`).not.toBe('');
      // a unix socket endpoint (Envoy's pipe) is a path with no port
      const pipe = isPipeAddress(ep.address) && ep.port === 0;
      expect(pipe || (Number.isInteger(ep.port) && ep.port > 0 && ep.port < 65536), `${label}: ${a.clusterName} endpoint port ${ep.port}`).toBe(true);
    }
  }
  for (const rc of snapshot.routeConfigs) {
    for (const vh of rc.virtualHosts) {
      for (const r of vh.routes) {
        if (r.action.kind === 'route') {
          expect(r.action.clusters.length, `${label}: ${vh.name} route ${r.name} has no cluster`).toBeGreaterThan(0);
          expect(r.action.clusters.reduce((s, c) => s + c.weight, 0), `${label}: ${vh.name} route ${r.name} weights`).toBeGreaterThan(0);
        }
      }
    }
    // the data plane must be able to compile what the translator produced (regexes included)
    expect(() => new RouteTable(rc, compilePerRouteConfig), `${label}: route config ${rc.name} does not compile`).not.toThrow();
  }
  expect(structuredClone(snapshot)).toEqual(snapshot);
}

function translateAll(cfg: IstioConfig, rel: string): number {
  let listeners = 0;
  for (const node of nodesFor(cfg)) {
    const t = translateIstio(cfg, node, { outboundPort: 15001 });
    checkSnapshot(t, `${rel} (${node.mode} in ${node.namespace} ${JSON.stringify(node.labels)})`);
    listeners += t.snapshot.listeners.length;
  }
  return listeners;
}

describe('Istio conformance material', () => {
  it('is present and holds the expected sample families', () => {
    expect(existsSync(ROOT), `${ROOT} is missing`).toBe(true);
    const rels = FILES.map((f) => relative(ROOT, f));
    for (const dir of ['samples/bookinfo/networking/', 'tests/testdata/config/', 'tests/testdata/networking/', 'docs-tasks/traffic-management/']) {
      expect(rels.some((r) => r.startsWith(dir)), dir).toBe(true);
    }
    expect(FILES.length).toBeGreaterThanOrEqual(60);
  });

  it.each(FILES.map((f) => [relative(ROOT, f), f]))('%s', (rel, file) => {
    const text = renderGoTemplate(readFileSync(file, 'utf8'))!;
    const docs = parseDocuments(rel, text);
    let cfg: IstioConfig;
    try {
      cfg = parseIstioConfig(docs, { defaultNamespace: 'default' });
    } catch (e) {
      const errs = errorsOf(e);
      const others = errs.filter((x) => !NOT_SUPPORTED.test(x.message) && !MISSING_TLS_FILE.test(x.message));
      expect(others.map((x) => x.message), 'rejected for a reason other than an unsupported kind').toEqual([]);
      // what remains once the unsupported documents are set aside must still be good config
      const unsupported = new Set(errs.filter((x) => NOT_SUPPORTED.test(x.message)).map((x) => unsupportedKind(x.message)));
      const unreadable = new Set(errs.filter((x) => MISSING_TLS_FILE.test(x.message)).map((x) => x.location.docIndex));
      const rest: SourceDocument[] = docs.filter((d) => !unsupported.has(kindOf(d.value) ?? '') && !unreadable.has(d.docIndex));
      expect(rest.length).toBeLessThan(docs.length);
      cfg = parseIstioConfig(rest, { defaultNamespace: 'default' });
      translateAll(cfg, rel);
      return;
    }
    const k8s = cfg.kubernetes;
    const parsed = cfg.virtualServices.length + cfg.destinationRules.length + cfg.serviceEntries.length + cfg.workloadEntries.length + cfg.gateways.length + cfg.sidecars.length + cfg.envoyFilters.length +
      k8s.services.length + k8s.endpointSlices.length + k8s.pods.length + k8s.nodes.length;
    expect(parsed, 'networking resources or registry objects read from the file').toBeGreaterThan(0);
    translateAll(cfg, rel);
  });
});

describe('Istio conformance: semantics of well-known samples', () => {
  const load = (rel: string) => parseIstioConfig(parseDocuments(rel, readFileSync(join(ROOT, rel), 'utf8')), { defaultNamespace: 'default' });

  it('bookinfo-gateway: the ingress gateway routes /productpage, /static, /login, /logout, /api/v1/products to productpage:9080', () => {
    const cfg = load('samples/bookinfo/networking/bookinfo-gateway.yaml');
    const t = translateIstio(cfg, gatewayNode({ labels: { istio: 'ingressgateway' } }), { outboundPort: 15001 });
    const l = t.snapshot.listeners.find((x) => hcmOf(x).routeConfigName.startsWith('http.'));
    expect(l).toBeDefined();
    const rc = t.snapshot.routeConfigs.find((r) => r.name === hcmOf(l!).routeConfigName)!;
    expect(rc.virtualHosts).toHaveLength(1);
    const routes = rc.virtualHosts[0].routes;
    const table = new RouteTable(rc, compilePerRouteConfig);
    const vh = table.findVirtualHost('bookinfo.example.com')!;
    expect(vh).toBeDefined();
    expect(routes.every((r) => r.action.kind === 'route' && r.action.clusters[0].name === 'outbound|9080||productpage.default.svc.cluster.local')).toBe(true);
    const paths = routes.map((r) => r.match.path);
    expect(paths).toContainEqual({ exact: '/productpage' });
    expect(paths).toContainEqual({ prefix: '/static' });
    expect(paths).toContainEqual({ exact: '/login' });
  });

  it('virtual-service-reviews-jason-v2-v3: jason goes to v2, everyone else to v3', () => {
    const cfg = load('samples/bookinfo/networking/virtual-service-reviews-jason-v2-v3.yaml');
    const t = translateIstio(cfg, sidecarNode(), { outboundPort: 15001 });
    const rc = t.snapshot.routeConfigs.find((r) => r.name === 'http_proxy')!;
    const vh = rc.virtualHosts.find((v) => v.domains.includes('reviews.default.svc.cluster.local'))!;
    expect(vh).toBeDefined();
    const [jason, rest] = vh.routes;
    expect(jason.match.headers).toEqual([{ name: 'end-user', match: { exact: 'jason' }, invert: false }]);
    expect(jason.action).toMatchObject({ kind: 'route', clusters: [{ name: 'outbound|80|v2|reviews.default.svc.cluster.local', weight: 100 }] });
    expect(rest.action).toMatchObject({ kind: 'route', clusters: [{ name: 'outbound|80|v3|reviews.default.svc.cluster.local', weight: 100 }] });
  });

  it('virtual-service-reviews-80-20: weights 80/20 to v1/v2', () => {
    const cfg = load('samples/bookinfo/networking/virtual-service-reviews-80-20.yaml');
    const t = translateIstio(cfg, sidecarNode(), { outboundPort: 15001 });
    const vh = t.snapshot.routeConfigs[0].virtualHosts.find((v) => v.domains.includes('reviews.default.svc.cluster.local'))!;
    expect(vh.routes[0].action).toEqual({
      kind: 'route',
      clusters: [
        { name: 'outbound|80|v1|reviews.default.svc.cluster.local', weight: 80 },
        { name: 'outbound|80|v2|reviews.default.svc.cluster.local', weight: 20 },
      ],
      retryPolicy: DEFAULT_RETRY_POLICY,
    });
  });

  it('destination-rule-all: subsets v1/v2/v3 of reviews', () => {
    const cfg = load('samples/bookinfo/networking/destination-rule-all.yaml');
    expect(cfg.destinationRules.find((d) => d.host === 'reviews')?.subsets.map((s) => s.name)).toEqual(['v1', 'v2', 'v3']);
  });
});
