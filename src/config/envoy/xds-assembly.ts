import type { Cluster, ClusterLoadAssignment, CommonTlsContext, Listener, NodeIdentity, RouteConfiguration, SdsConfigSource, Secret, UpstreamTransportSocket } from '../snapshot.js';
import type { SnapshotBody } from '../snapshot-build.js';
import type { DecodedCluster } from './decode/cluster.js';
import type { DecodedListener } from './decode/listener.js';

export type { DecodedCluster, DecodedListener };

/**
 * Everything the control plane has sent and Outrigger accepted, by type and name, each resource
 * decoded once when it arrived. Bootstrap static resources sit beside them and never warm.
 */
export class XdsResources {
  readonly listeners = new Map<string, DecodedListener>();
  readonly routes = new Map<string, RouteConfiguration>();
  readonly clusters = new Map<string, DecodedCluster>();
  /** ClusterLoadAssignments by their cluster_name (an EDS service name). */
  readonly endpoints = new Map<string, ClusterLoadAssignment>();
  readonly secrets = new Map<string, Secret>();
  /** The bootstrap's static_resources (listeners, clusters, secrets). */
  readonly staticListeners: DecodedListener[] = [];
  readonly staticClusters: DecodedCluster[] = [];
  readonly staticSecrets: Secret[] = [];
}

/** The names of the resources the current listeners and clusters refer to: what to subscribe to over RDS, EDS and SDS. */
export interface Wanted {
  routes: Set<string>;
  endpoints: Set<string>;
  /** Secret names, each with where its TLS context says it comes from (absent: the context did not say). */
  secrets: Map<string, SdsConfigSource | undefined>;
}

export function wantedResources(r: XdsResources): Wanted {
  const w: Wanted = { routes: new Set(), endpoints: new Set(), secrets: new Map() };
  for (const l of [...r.staticListeners, ...r.listeners.values()]) {
    for (const name of l.rdsNames) w.routes.add(name);
    listenerSecrets(l.listener, w.secrets);
  }
  for (const c of [...r.staticClusters, ...r.clusters.values()]) {
    if (c.edsServiceName !== undefined) w.endpoints.add(c.edsServiceName);
    clusterSecrets(c.cluster, w.secrets);
  }
  return w;
}

/**
 * Envoy's warming, kept between assemblies: the listeners and clusters in service. A new or
 * changed cluster enters service once its hosts (EDS) and the secrets of its transport sockets are
 * there, a listener once its RDS route configurations and the secrets of its TLS contexts are;
 * until then the version in service (if any) stays. A removed resource leaves service at once.
 */
export class InService {
  readonly listeners = new Map<string, DecodedListener>();
  readonly clusters = new Map<string, DecodedCluster>();
}

/** Which new or changed resources still wait, and for what (for logs and /config_dump's warming lists). */
export interface Warming {
  listeners: Map<string, string[]>;
  clusters: Map<string, string[]>;
}

/**
 * The Snapshot content of what is in service, after moving every resource that is ready into
 * service and every removed one out. Route configurations, hosts and secrets come along with the
 * listeners and clusters that use them.
 */
export function assembleSnapshot(node: NodeIdentity, r: XdsResources, inService: InService): { body: SnapshotBody; warming: Warming } {
  const warming: Warming = { listeners: new Map(), clusters: new Map() };
  const secrets = new Map<string, Secret>();
  for (const s of r.staticSecrets) secrets.set(s.name, s);
  for (const [name, s] of r.secrets) secrets.set(name, s);

  for (const name of inService.clusters.keys()) if (!r.clusters.has(name)) inService.clusters.delete(name);
  for (const [name, c] of r.clusters) {
    if (inService.clusters.get(name) === c) continue;
    const missing = [
      ...(c.edsServiceName !== undefined && !r.endpoints.has(c.edsServiceName) ? [`ClusterLoadAssignment ${c.edsServiceName}`] : []),
      ...clusterSecretNames(c.cluster).filter((s) => !secrets.has(s)).map((s) => `Secret ${s}`),
    ];
    if (missing.length) warming.clusters.set(name, missing);
    else inService.clusters.set(name, c);
  }

  for (const name of inService.listeners.keys()) if (!r.listeners.has(name)) inService.listeners.delete(name);
  for (const [name, l] of r.listeners) {
    if (inService.listeners.get(name) === l) continue;
    const missing = [
      ...l.rdsNames.filter((n) => !r.routes.has(n)).map((n) => `RouteConfiguration ${n}`),
      ...listenerSecretNames(l.listener).filter((s) => !secrets.has(s)).map((s) => `Secret ${s}`),
    ];
    if (missing.length) warming.listeners.set(name, missing);
    else inService.listeners.set(name, l);
  }

  const listeners = [...r.staticListeners, ...inService.listeners.values()];
  const routeConfigs = new Map<string, RouteConfiguration>();
  for (const l of listeners) {
    for (const rc of l.routeConfigs) routeConfigs.set(rc.name, rc);
    for (const n of l.rdsNames) {
      const rc = r.routes.get(n);
      if (rc) routeConfigs.set(n, rc);
    }
  }
  const clusters = [...r.staticClusters, ...inService.clusters.values()];
  const endpoints: ClusterLoadAssignment[] = [];
  for (const c of clusters) {
    if (c.loadAssignment) endpoints.push(c.loadAssignment.clusterName === c.cluster.name ? c.loadAssignment : { ...c.loadAssignment, clusterName: c.cluster.name });
    else if (c.edsServiceName !== undefined) {
      const cla = r.endpoints.get(c.edsServiceName);
      if (cla) endpoints.push(cla.clusterName === c.cluster.name ? cla : { ...cla, clusterName: c.cluster.name });
    }
  }
  return {
    body: {
      node,
      listeners: listeners.map((l) => l.listener),
      routeConfigs: [...routeConfigs.values()],
      clusters: clusters.map((c) => c.cluster),
      endpoints,
      secrets: [...secrets.values()],
    },
    warming,
  };
}

type SecretRefs = Map<string, SdsConfigSource | undefined>;

function tlsSecrets(common: CommonTlsContext, out: SecretRefs): void {
  for (const s of common.tlsCertificateSdsSecretConfigs ?? []) out.set(s.name, s.sdsConfig);
  const ca = common.combinedValidationContext?.validationContextSdsSecretConfig;
  if (ca) out.set(ca.name, ca.sdsConfig);
}

/** The SDS secrets a listener's TLS contexts name, with their sources. */
function listenerSecrets(l: Listener, out: SecretRefs): SecretRefs {
  for (const chain of [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])]) {
    if (chain.transportSocket) tlsSecrets(chain.transportSocket.typedConfig.commonTlsContext, out);
  }
  return out;
}

function upstreamSecrets(t: UpstreamTransportSocket | undefined, out: SecretRefs): void {
  if (t?.name === 'envoy.transport_sockets.tls') tlsSecrets(t.typedConfig.commonTlsContext, out);
}

/** The SDS secrets a cluster's transport sockets name, with their sources. */
function clusterSecrets(c: Cluster, out: SecretRefs): SecretRefs {
  upstreamSecrets(c.transportSocket, out);
  for (const m of c.transportSocketMatches ?? []) upstreamSecrets(m.transportSocket, out);
  return out;
}

const listenerSecretNames = (l: Listener): string[] => [...listenerSecrets(l, new Map()).keys()];
const clusterSecretNames = (c: Cluster): string[] => [...clusterSecrets(c, new Map()).keys()];
