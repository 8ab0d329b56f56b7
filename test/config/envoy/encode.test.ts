// The Istio front end's Snapshot as Envoy JSON (/config_dump): each resource is a valid Envoy v3
// message (read back through the Envoy protos, unknown fields refused) that the xDS front end
// decodes into the same Snapshot piece: what an Istio-fed proxy dumps is what an xDS-fed one
// would run.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCluster, type ClusterMessage } from '../../../src/config/envoy/decode/cluster.js';
import { decodeClusterLoadAssignment, type ClusterLoadAssignmentMessage } from '../../../src/config/envoy/decode/endpoint.js';
import { decodeListener } from '../../../src/config/envoy/decode/listener.js';
import { decodeRouteConfiguration } from '../../../src/config/envoy/decode/route-configuration.js';
import { encodeCluster, encodeClusterLoadAssignment } from '../../../src/config/envoy/encode/cluster.js';
import { snapshotConfigDump } from '../../../src/config/envoy/encode/config-dump.js';
import { encodeListener } from '../../../src/config/envoy/encode/listener.js';
import { encodeRouteConfiguration } from '../../../src/config/envoy/encode/route-configuration.js';
import { loadSnapshot } from '../../../src/config/load.js';
import { buildNodeIdentity, type IdentityFlags } from '../../../src/config/node-identity.js';
import type { Cluster, Listener, RouteConfiguration, Snapshot } from '../../../src/config/snapshot.js';
import { CONFORMANCE } from '../security-helpers.js';
import { bookinfoServices, KubernetesMesh } from '../../helpers/kubernetes-mesh.js';
import { collectingContext, plain } from './decode/dumps.js';

const NETWORKING = `${CONFORMANCE}samples/bookinfo/networking/`;
const TASKS = `${CONFORMANCE}docs-tasks/`;
const mesh = new KubernetesMesh(bookinfoServices(), 9080);
let dir: string;

/** Beside the conformance files: access logs (JSON, with a filter) and a JWT requirement at productpage. */
const EXTRA = `apiVersion: meshconfig.istio.io/v1alpha1
kind: MeshConfig
accessLogFile: /dev/stdout
accessLogEncoding: JSON
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: errors, namespace: istio-system}
spec:
  accessLogging:
  - providers: [{name: envoy}]
    filter: {expression: "response.code >= 400"}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: default}
spec:
  selector: {matchLabels: {app: productpage}}
  jwtRules:
  - issuer: testing@secure.istio.io
    jwks: ${JSON.stringify(readFileSync(`${CONFORMANCE}security/tools/jwt/samples/jwks.json`, 'utf8'))}
`;

async function snapshotOf(identity: IdentityFlags, files: string[]): Promise<Snapshot> {
  const d = await mkdtemp(join(dir, 'cfg-'));
  await writeFile(join(d, 'kubernetes.yaml'), mesh.yaml());
  await writeFile(join(d, 'extra.yaml'), EXTRA);
  for (const [i, f] of files.entries()) await writeFile(join(d, `${i}.yaml`), readFileSync(f, 'utf8'));
  return (await loadSnapshot({ paths: [d], node: buildNodeIdentity(identity, {}), outboundPort: 15001, inboundPort: 15006 })).snapshot;
}

const productpage: IdentityFlags = { mode: 'sidecar', namespace: 'default', serviceAccount: 'bookinfo-productpage', labels: ['app=productpage', 'version=v1'], ip: mesh.pod('productpage-v1').ip };
const gateway: IdentityFlags = { mode: 'gateway', namespace: 'default', serviceAccount: 'istio-ingressgateway', labels: ['istio=ingressgateway'], ip: '10.0.0.9' };
const CONFIG = [
  `${NETWORKING}destination-rule-all.yaml`,
  `${NETWORKING}virtual-service-reviews-jason-v2-v3.yaml`,
  `${NETWORKING}virtual-service-ratings-test-abort.yaml`,
  `${NETWORKING}virtual-service-details-v2.yaml`,
  `${NETWORKING}bookinfo-gateway.yaml`,
  `${TASKS}security/authz-http/snip_configure_access_control_for_workloads_using_http_traffic_2.yaml`,
];

let sidecar: Snapshot;
let gw: Snapshot;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outrigger-encode-'));
  sidecar = await snapshotOf(productpage, CONFIG);
  gw = await snapshotOf(gateway, CONFIG);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The decoder's view of what the Istio front end leaves implicit. */
function normalizeListener(l: Listener): unknown {
  const chains = [...l.filterChains, ...(l.defaultFilterChain ? [l.defaultFilterChain] : [])].map((c) => ({
    ...c,
    filters: c.filters.map((f) => (f.name === 'envoy.filters.network.http_connection_manager' ? { ...f, typedConfig: { ...f.typedConfig, istioStats: undefined, tracing: undefined } } : f)),
  }));
  return { ...l, inspectors: l.inspectors ?? { tls: {}, http: {} }, protocolDetectionTimeoutMs: l.protocolDetectionTimeoutMs ?? 0, filterChains: chains, defaultFilterChain: undefined };
}

/** What means the same to the router: one cluster's weight, an absent route timeout (0). */
function normalizeRoutes(rc: RouteConfiguration): unknown {
  return {
    ...rc,
    virtualHosts: rc.virtualHosts.map((vh) => ({
      ...vh,
      routes: vh.routes.map((r) => (r.action.kind === 'route'
        ? { ...r, action: { ...r.action, timeoutMs: r.action.timeoutMs ?? 0, clusters: r.action.clusters.length === 1 ? [{ ...r.action.clusters[0], weight: 1 }] : r.action.clusters } }
        : r)),
    })),
  };
}

describe('Snapshot → Envoy JSON → Snapshot', () => {
  for (const [which, snap] of [['sidecar', () => sidecar], ['gateway', () => gw]] as const) {
    it(`${which}: every cluster and its assignment`, () => {
      const s = snap();
      const assignments = new Map(s.endpoints.map((a) => [a.clusterName, a]));
      for (const c of s.clusters) {
        const json = encodeCluster(c, assignments.get(c.name));
        const decoded = decodeCluster(plain<ClusterMessage>('envoy.config.cluster.v3.Cluster', json), { ...collectingContext(), node: s.node });
        // the hash policy lives on the routes in Envoy; an absent panic threshold is 0
        const { hashPolicy: _, ...want } = { ...c, panicThresholdPercent: c.panicThresholdPercent ?? 0 } as Cluster & { hashPolicy?: unknown };
        expect(decoded.cluster, c.name).toEqual(want);
        // the hosts: inline in a static cluster, and as the EDS resource the dump lists
        const a = assignments.get(c.name);
        if (a && c.type !== 'EDS') expect(decoded.loadAssignment, c.name).toEqual(a);
        if (a) expect(decodeClusterLoadAssignment(plain<ClusterLoadAssignmentMessage>('envoy.config.endpoint.v3.ClusterLoadAssignment', encodeClusterLoadAssignment(a)), { kind: 'ClusterLoadAssignment', name: a.clusterName }, '', collectingContext()), c.name).toEqual(a);
      }
    });

    it(`${which}: every route configuration`, () => {
      for (const rc of snap().routeConfigs) {
        const decoded = decodeRouteConfiguration(plain('envoy.config.route.v3.RouteConfiguration', encodeRouteConfiguration(rc)), { ...collectingContext(), node: snap().node });
        expect(normalizeRoutes(decoded), rc.name).toEqual(normalizeRoutes(rc));
      }
    });

    it(`${which}: every listener`, () => {
      const s = snap();
      for (const l of s.listeners) {
        const decoded = decodeListener(plain('envoy.config.listener.v3.Listener', encodeListener(l)), { ...collectingContext(), node: s.node });
        expect(normalizeListener(decoded.listener), l.name).toEqual(normalizeListener(l));
      }
    });
  }
});

describe('snapshotConfigDump', () => {
  it("Envoy's sections, each resource an Any of its Envoy type; endpoints only with include_eds", () => {
    const d = snapshotConfigDump(sidecar, null, false);
    // no workload certificate here: the secrets section is empty, as Envoy dumps it
    expect(d.configs.map((c) => c['@type'])).toEqual(['Bootstrap', 'Listeners', 'Clusters', 'Routes', 'Secrets'].map((t) => `type.googleapis.com/envoy.admin.v3.${t}ConfigDump`));
    expect(d.configs[4].dynamic_active_secrets).toEqual([]);
    const clusters = d.configs[2].dynamic_active_clusters as { cluster: Record<string, unknown> }[];
    const reviewsV2 = clusters.find((c) => c.cluster.name === 'outbound|9080|v2|reviews.default.svc.cluster.local')!.cluster;
    expect(reviewsV2['@type']).toBe('type.googleapis.com/envoy.config.cluster.v3.Cluster');
    expect(reviewsV2.metadata).toEqual({
      filter_metadata: { istio: { config: '/apis/networking.istio.io/v1/namespaces/default/destination-rule/reviews', services: [{ host: 'reviews.default.svc.cluster.local', name: 'reviews', namespace: 'default' }], default_original_port: 9080, subset: 'v2' } },
    });
    const withEds = snapshotConfigDump(sidecar, 'dynamic_endpoint_configs', true);
    expect(withEds.configs).toHaveLength(1);
    expect(JSON.stringify(withEds)).toContain(mesh.pod('reviews-v2').ip);
    expect(snapshotConfigDump(sidecar, 'dynamic_endpoint_configs', false).configs).toHaveLength(5);
    // what the round trip above carried: the JWT filter inbound, the access log with its CEL filter
    const listeners = JSON.stringify(snapshotConfigDump(sidecar, 'dynamic_listeners', false));
    expect(listeners).toContain('"@type":"type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"');
    expect(listeners).toContain('"name":"envoy.access_loggers.file"');
    expect(listeners).toContain('"expression":"response.code >= 400"');
  });
});
