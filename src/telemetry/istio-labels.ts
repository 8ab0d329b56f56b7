import type { Cluster, Listener, NodeIdentity } from '../config/snapshot.js';
import type { IstioRequestSeries, IstioTcpSeries } from './stats.js';

/**
 * Istio's standard metric labels that do not change per request, for one listener × cluster.
 * Unknown values are "unknown", as in Istio. Per request only response_code, response_flags and
 * grpc_response_status are added.
 */
export interface IstioLabelTemplate {
  /**
   * The label values: equal templates (of this Runtime or the next one) count into the same series,
   * so a worker keeps one series per label set however often the config changes.
   */
  readonly key: string;
  readonly labels: Readonly<Record<string, string>>;
  /** This template's series by `code|flags|grpc-status` (request) and flags (TCP), found per request without the long key. */
  readonly requestSeries: Map<string, IstioRequestSeries>;
  readonly tcpSeries: Map<string, IstioTcpSeries>;
}

const UNKNOWN = 'unknown';

/** The workload name Istio would report for this proxy (ISTIO_META_WORKLOAD_NAME, else the app label). */
export function workloadName(node: NodeIdentity): string {
  return node.workloadName ?? node.labels['service.istio.io/canonical-name'] ?? node.labels.app ?? UNKNOWN;
}

export function appOf(labels: Readonly<Record<string, string>>): string {
  return labels['app.kubernetes.io/name'] ?? labels.app ?? UNKNOWN;
}

export function versionOf(labels: Readonly<Record<string, string>>): string {
  return labels['app.kubernetes.io/version'] ?? labels.version ?? UNKNOWN;
}

/** Istio's capture clusters stand in for the destination service in metrics. */
const CAPTURE_CLUSTERS = new Set(['PassthroughCluster', 'BlackHoleCluster', 'InboundPassthroughClusterIpv4']);

/** The destination of the requests: a cluster and the labels of its hosts (a worker's ClusterRuntime is one). */
export interface DestinationCluster {
  readonly config: Pick<Cluster, 'name' | 'service'>;
  readonly hosts: readonly { readonly endpoint: { readonly labels: Readonly<Record<string, string>> } }[];
}

export function buildIstioLabels(
  node: NodeIdentity,
  listener: Pick<Listener, 'direction'>,
  destination: DestinationCluster | undefined,
  protocol: 'http' | 'tcp' = 'http',
  /** SPIFFE ids: this workload's (with --cert-dir), and the mTLS peer's on inbound connections. */
  identities: { self?: string; peer?: string } = {},
): IstioLabelTemplate {
  const inbound = listener.direction === 'INBOUND';
  const self = {
    workload: workloadName(node),
    namespace: node.namespace,
    principal: identities.self ?? UNKNOWN,
    app: appOf(node.labels),
    version: versionOf(node.labels),
    cluster: node.clusterId,
  };
  const cluster = destination?.config;
  const svc = cluster?.service;
  // the destination's workload labels: those every endpoint of the cluster agrees on
  const epLabels = commonLabels(destination?.hosts.map((h) => h.endpoint.labels) ?? []);
  const dest = inbound
    ? self
    : {
        workload: epLabels['service.istio.io/workload-name'] ?? (svc ? appOf(epLabels) : UNKNOWN),
        namespace: svc?.namespace ?? UNKNOWN,
        principal: UNKNOWN,
        app: appOf(epLabels),
        version: versionOf(epLabels),
        cluster: svc ? node.clusterId : UNKNOWN,
      };
  // inbound: the peer's certificate says who called (its namespace is in the SPIFFE id); plaintext: unknown
  const peerNs = identities.peer ? /\/ns\/([^/]+)\//.exec(identities.peer)?.[1] : undefined;
  const src = inbound
    ? { workload: UNKNOWN, namespace: peerNs ?? UNKNOWN, principal: identities.peer ?? UNKNOWN, app: UNKNOWN, version: UNKNOWN, cluster: UNKNOWN }
    : self;
  const special = cluster && CAPTURE_CLUSTERS.has(cluster.name) ? cluster.name : undefined;
  const host = svc?.host ?? special ?? UNKNOWN;
  const labels = {
    reporter: inbound ? 'destination' : 'source',
    source_workload: src.workload,
    source_workload_namespace: src.namespace,
    source_principal: src.principal,
    source_app: src.app,
    source_version: src.version,
    source_cluster: src.cluster,
    destination_workload: dest.workload,
    destination_workload_namespace: dest.namespace,
    destination_principal: dest.principal,
    destination_app: dest.app,
    destination_version: dest.version,
    destination_service: host,
    destination_service_name: svc ? shortName(svc.host) : (special ?? UNKNOWN),
    destination_service_namespace: svc?.namespace ?? UNKNOWN,
    destination_cluster: dest.cluster,
    request_protocol: protocol,
    // Istio reports "unknown" on the client side and none/mutual_tls on the server side
    connection_security_policy: inbound ? (identities.peer ? 'mutual_tls' : 'none') : UNKNOWN,
  };
  return { key: Object.values(labels).join('\u0000'), labels, requestSeries: new Map(), tcpSeries: new Map() };
}

function shortName(host: string): string {
  const dot = host.indexOf('.');
  return dot < 0 ? host : host.slice(0, dot);
}

function commonLabels(all: readonly Readonly<Record<string, string>>[]): Record<string, string> {
  if (all.length === 0) return {};
  const out: Record<string, string> = { ...all[0] };
  for (const labels of all) for (const k of Object.keys(out)) if (labels[k] !== out[k]) delete out[k];
  return out;
}
