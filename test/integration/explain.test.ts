// `outrigger explain` checked against what the proxy does: Istio's bookinfo sample and docs-task
// configs (read from ../shared/conformance) over a Kubernetes dump whose pods are servers on
// 127.0.1.x. For each request of the table, explain's answer must be the table's, and the real data
// plane (the same Snapshot, on real sockets; iptables' original destination stood in for) must do
// the same: its access log's status, flag and details, or the cluster and host it went to.
import { request } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadSnapshot } from '../../src/config/load.js';
import { buildNodeIdentity, type IdentityFlags } from '../../src/config/node-identity.js';
import type { Snapshot } from '../../src/config/snapshot.js';
import { Explainer } from '../../src/explain/explainer.js';
import type { Explanation } from '../../src/explain/explain.js';
import { renderExplanation } from '../../src/explain/render.js';
import { parseExplainRequest, type ExplainRequestOptions } from '../../src/explain/request.js';
import type { OriginalDestination } from '../../src/listener/original-dst.js';
import { WorkerStats } from '../../src/telemetry/stats.js';
import { DataPlane } from '../../src/worker/data-plane.js';
import { CONFORMANCE } from '../config/security-helpers.js';
import { bookinfoServices, KubernetesMesh, type MeshService } from '../helpers/kubernetes-mesh.js';
import { freePorts } from '../helpers/ports.js';

const NETWORKING = `${CONFORMANCE}samples/bookinfo/networking/`;
const TASKS = `${CONFORMANCE}docs-tasks/`;
const conformance = (path: string) => readFileSync(path, 'utf8');
const REVIEWS = 'reviews.default.svc.cluster.local';
const RATINGS = 'ratings.default.svc.cluster.local';
const DETAILS = 'details.default.svc.cluster.local';
const PRODUCTPAGE = 'productpage.default.svc.cluster.local';
const SAMPLES = `${CONFORMANCE}security/tools/jwt/samples/`;
const DEMO_JWT = conformance(`${SAMPLES}demo.jwt`).trim();

/** What the table says becomes of a request: a local reply, one cluster (and pod), or a split over clusters. */
type Expected =
  | { status: number; flag?: string; details?: string }
  | { cluster: string; pod?: string }
  | { clusters: string[] };

interface Case {
  title: string;
  request: ExplainRequestOptions;
  expect: Expected;
  /** What the explanation must also say (its text). */
  shows?: RegExp[];
}

interface Scenario {
  name: string;
  /** Extra Services beside bookinfo's. */
  services?: (podPort: number) => MeshService[];
  identity: (mesh: KubernetesMesh) => IdentityFlags;
  /** Istio config texts. */
  config: () => string[];
  cases: (mesh: KubernetesMesh) => Case[];
}

const sidecarOf = (mesh: KubernetesMesh, workload: string): IdentityFlags => {
  const p = mesh.pod(workload);
  return { mode: 'sidecar', namespace: p.namespace, serviceAccount: p.serviceAccount, labels: Object.entries(p.labels).map(([k, v]) => `${k}=${v}`), ip: p.ip };
};
const inboundTo = (mesh: KubernetesMesh, workload: string) => `${mesh.pod(workload).ip}:${mesh.podPort}`;
const httpbin = (namespace: string, versions: string[]): MeshService => ({
  name: 'httpbin', namespace, port: 8000, clusterIP: namespace === 'foo' ? '10.96.1.20' : '10.96.0.20',
  workloads: versions.map((v) => ({ name: `httpbin-${v}`, labels: { app: 'httpbin', version: v }, serviceAccount: 'httpbin' })),
});

const SCENARIOS: Scenario[] = [
  {
    name: "productpage's sidecar: request routing, fault abort, an empty subset, authorization (bookinfo, authz-http)",
    identity: (mesh) => sidecarOf(mesh, 'productpage-v1'),
    config: () => [
      conformance(`${NETWORKING}destination-rule-all.yaml`),
      conformance(`${NETWORKING}virtual-service-reviews-jason-v2-v3.yaml`),
      conformance(`${NETWORKING}virtual-service-ratings-test-abort.yaml`),
      conformance(`${NETWORKING}virtual-service-details-v2.yaml`),
      conformance(`${TASKS}security/authz-http/snip_configure_access_control_for_workloads_using_http_traffic_1.yaml`),
      conformance(`${TASKS}security/authz-http/snip_configure_access_control_for_workloads_using_http_traffic_2.yaml`),
    ],
    cases: (mesh) => [
      { title: 'reviews, no end-user: subset v3', request: { request: 'GET http://reviews:9080/reviews/0' }, expect: { cluster: `outbound|9080|v3|${REVIEWS}`, pod: 'reviews-v3' } },
      { title: 'reviews as jason: subset v2', request: { request: 'GET http://reviews:9080/reviews/0', headers: ['end-user: jason'] }, expect: { cluster: `outbound|9080|v2|${REVIEWS}`, pod: 'reviews-v2' }, shows: [/Route +#0 "reviews\.0" from VirtualService default\/reviews/, /match: path prefix \/, header end-user exact jason/] },
      { title: 'reviews as someone else: subset v3', request: { request: 'GET http://reviews:9080/reviews/0', headers: ['end-user: ana'] }, expect: { cluster: `outbound|9080|v3|${REVIEWS}`, pod: 'reviews-v3' } },
      { title: 'ratings as jason: fault abort 500 FI', request: { request: 'GET http://ratings:9080/ratings/0', headers: ['end-user: jason'] }, expect: { status: 500, flag: 'FI', details: 'fault_filter_abort' }, shows: [/abort with HTTP 500 for 100% of requests \(flag FI\)/] },
      { title: 'ratings, no end-user: subset v1', request: { request: 'GET http://ratings:9080/ratings/0' }, expect: { cluster: `outbound|9080|v1|${RATINGS}`, pod: 'ratings-v1' } },
      { title: 'details: subset v2 has no pod, 503 UH', request: { request: 'GET http://details:9080/details/0' }, expect: { status: 503, flag: 'UH', details: 'no_healthy_upstream' }, shows: [/Cluster +outbound\|9080\|v2\|details\.default\.svc\.cluster\.local/, /no endpoints: 503 UH/] },
      { title: 'productpage, no VirtualService: the default route', request: { request: 'GET http://productpage:9080/productpage' }, expect: { cluster: `outbound|9080||${PRODUCTPAGE}`, pod: 'productpage-v1' } },
      { title: 'a host no service has, on port 9080: PassthroughCluster', request: { request: 'GET http://10.96.9.9:9080/' }, expect: { cluster: 'PassthroughCluster' } },
      { title: 'inbound GET: productpage-viewer allows it', request: { request: 'GET http://productpage:9080/productpage', direction: 'inbound', destination: inboundTo(mesh, 'productpage-v1') }, expect: { cluster: `inbound|${mesh.podPort}||`, pod: 'productpage-v1' } },
      { title: 'inbound POST: allow-nothing, 403', request: { request: 'POST http://productpage:9080/productpage', direction: 'inbound', destination: inboundTo(mesh, 'productpage-v1') }, expect: { status: 403, details: 'rbac_access_denied_matched_policy[none]' }, shows: [/ALLOW: 2 policies, none matched/, /denied: no ALLOW policy matched/] },
    ],
  },
  {
    name: 'virtual-service-all-v1 without its DestinationRule: undefined subsets (503 NC)',
    identity: (mesh) => sidecarOf(mesh, 'productpage-v1'),
    config: () => [conformance(`${NETWORKING}virtual-service-all-v1.yaml`)],
    cases: () => [
      { title: 'reviews: subset v1 undefined, 503 NC', request: { request: 'GET http://reviews:9080/reviews/0' }, expect: { status: 503, flag: 'NC', details: 'cluster_not_found' } },
      { title: 'details: subset v1 undefined, 503 NC', request: { request: 'GET http://details:9080/details/0' }, expect: { status: 503, flag: 'NC', details: 'cluster_not_found' } },
    ],
  },
  {
    name: 'traffic shifting: reviews 50% v1, 50% v3',
    identity: (mesh) => sidecarOf(mesh, 'productpage-v1'),
    config: () => [conformance(`${NETWORKING}destination-rule-all.yaml`), conformance(`${NETWORKING}virtual-service-reviews-50-v3.yaml`)],
    cases: () => [
      { title: 'reviews: split between v1 and v3', request: { request: 'GET http://reviews:9080/reviews/0' }, expect: { clusters: [`outbound|9080|v1|${REVIEWS}`, `outbound|9080|v3|${REVIEWS}`] } },
    ],
  },
  {
    name: 'request timeouts task: a 2 s delay on ratings, a 0.5 s timeout on reviews',
    identity: (mesh) => sidecarOf(mesh, 'reviews-v2'),
    config: () => [
      conformance(`${NETWORKING}destination-rule-all.yaml`),
      conformance(`${TASKS}traffic-management/request-timeouts/snip_request_timeouts_2.yaml`),
      conformance(`${TASKS}traffic-management/request-timeouts/snip_request_timeouts_3.yaml`),
    ],
    cases: () => [
      { title: 'ratings: delayed 2 s (DI), then v1', request: { request: 'GET http://ratings:9080/ratings/0' }, expect: { cluster: `outbound|9080|v1|${RATINGS}`, pod: 'ratings-v1' }, shows: [/delay 2000 ms for 100% of requests \(flag DI\)/] },
      { title: 'reviews: v2 under a 500 ms timeout', request: { request: 'GET http://reviews:9080/reviews/0' }, expect: { cluster: `outbound|9080|v2|${REVIEWS}`, pod: 'reviews-v2' }, shows: [/timeout 500 ms: 504 UT after it/] },
    ],
  },
  {
    name: 'mirroring task: httpbin v1, mirrored to v2',
    services: () => [httpbin('default', ['v1', 'v2'])],
    identity: (mesh) => sidecarOf(mesh, 'productpage-v1'),
    config: () => [
      // the task's VirtualService and DestinationRule (creating_a_default_routing_policy_1), then the mirror
      conformance(`${TASKS}traffic-management/mirroring/snip_creating_a_default_routing_policy_1.yaml`).split(/^---$/m)[1],
      conformance(`${TASKS}traffic-management/mirroring/snip_mirroring_traffic_to_v2_1.yaml`),
    ],
    cases: () => [
      { title: 'httpbin: v1 answers, v2 gets the copy', request: { request: 'GET http://httpbin:8000/headers' }, expect: { cluster: 'outbound|8000|v1|httpbin.default.svc.cluster.local', pod: 'httpbin-v1' }, shows: [/mirrored to outbound\|8000\|v2\|httpbin\.default\.svc\.cluster\.local for 100% of requests/] },
    ],
  },
  {
    name: "authz-jwt task: httpbin's sidecar in foo requires a valid JWT",
    services: () => [httpbin('foo', ['v1'])],
    identity: (mesh) => sidecarOf(mesh, 'httpbin-v1'),
    config: () => [
      conformance(`${TASKS}security/authz-jwt/snip_allow_requests_with_valid_jwt_and_listtyped_claims_1.yaml`),
      conformance(`${TASKS}security/authz-jwt/snip_allow_requests_with_valid_jwt_and_listtyped_claims_4.yaml`),
    ],
    cases: (mesh) => {
      const inbound = { direction: 'inbound', destination: inboundTo(mesh, 'httpbin-v1') };
      return [
        { title: 'an invalid token: 401', request: { request: 'GET http://httpbin.foo:8000/headers', headers: ['authorization: Bearer invalidToken'], ...inbound }, expect: { status: 401, details: 'jwt_authn_access_denied{Jwt_is_not_in_the_form_of_Header.Payload.Signature_with_two_dots_and_3_sections}' } },
        { title: 'no token: require-jwt denies, 403', request: { request: 'GET http://httpbin.foo:8000/headers', ...inbound }, expect: { status: 403, details: 'rbac_access_denied_matched_policy[none]' } },
        { title: 'demo.jwt: allowed', request: { request: 'GET http://httpbin.foo:8000/headers', headers: [`authorization: Bearer ${DEMO_JWT}`], ...inbound }, expect: { cluster: `inbound|${mesh.podPort}||`, pod: 'httpbin-v1' }, shows: [/provider .*issuer testing@secure\.istio\.io/, /token valid: request principal testing@secure\.istio\.io\/testing@secure\.istio\.io/, /allowed by ns\[foo\]-policy\[require-jwt\]-rule\[0\]/] },
      ];
    },
  },
  {
    name: 'ingress gateway: bookinfo-gateway',
    identity: () => ({ mode: 'gateway', namespace: 'default', serviceAccount: 'istio-ingressgateway', labels: ['istio=ingressgateway'], ip: '127.0.0.1' }),
    config: () => [conformance(`${NETWORKING}bookinfo-gateway.yaml`).replace('number: 8080', `number: ${gatewayPort}`)],
    cases: () => [
      { title: '/productpage: productpage', request: { request: `GET http://bookinfo.example.com:${gatewayPort}/productpage` }, expect: { cluster: `outbound|9080||${PRODUCTPAGE}`, pod: 'productpage-v1' } },
      { title: '/api/v1/products/1: productpage', request: { request: `GET http://bookinfo.example.com:${gatewayPort}/api/v1/products/1` }, expect: { cluster: `outbound|9080||${PRODUCTPAGE}`, pod: 'productpage-v1' } },
      { title: '/admin: no route, 404 NR', request: { request: `GET http://bookinfo.example.com:${gatewayPort}/admin` }, expect: { status: 404, flag: 'NR', details: 'route_not_found' }, shows: [/Route +none matches/] },
    ],
  },
];

let gatewayPort: number;
let podPort: number;
let work: string;

const fetched: string[] = [];
/** The JWKS the authz-jwt task names (raw.githubusercontent.com) is answered from the sample kept beside it. */
const sampleFetch: typeof fetch = async (input) => {
  const url = String(input);
  fetched.push(url);
  if (url.endsWith('/security/tools/jwt/samples/jwks.json')) return new Response(conformance(`${SAMPLES}jwks.json`), { headers: { 'content-type': 'application/json' } });
  return new Response('not found', { status: 404 });
};

beforeAll(async () => {
  [gatewayPort, podPort] = await freePorts(2);
  work = await mkdtemp(join(tmpdir(), 'outrigger-explain-'));
  vi.stubGlobal('fetch', sampleFetch);
});

afterAll(async () => {
  vi.unstubAllGlobals();
  await rm(work, { recursive: true, force: true });
});

/** The access log's JSON lines (Istio's default JSON format). */
async function logLines(path: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** One request on a fresh connection: to the capture listener (the destination stood in for) or the gateway's port. */
function send(port: number, opts: ExplainRequestOptions): Promise<{ status: number; body: string }> {
  const [method, target] = opts.request.split(' ');
  const url = new URL(target);
  const headers: Record<string, string> = { host: url.host };
  for (const h of opts.headers ?? []) headers[h.slice(0, h.indexOf(':')).trim()] = h.slice(h.indexOf(':') + 1).trim();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path: `${url.pathname}${url.search}`, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

for (const scenario of SCENARIOS) {
  describe(scenario.name, () => {
    const mesh = new KubernetesMesh([...bookinfoServices(), ...(scenario.services?.(0) ?? [])], 0);
    let real: KubernetesMesh;
    let snapshot: Snapshot;
    let plane: DataPlane;
    let outbound: number;
    let inbound: number;
    let logPath: string;
    let destination: OriginalDestination | undefined;
    const explainer = new Explainer();

    beforeAll(async () => {
      real = new KubernetesMesh(mesh.services, podPort);
      await real.start();
      [outbound, inbound] = await freePorts(2);
      const dir = await mkdtemp(join(work, 'scenario-'));
      logPath = join(dir, 'access.log');
      await writeFile(join(dir, 'kubernetes.yaml'), real.yaml());
      await writeFile(join(dir, 'mesh.yaml'), `apiVersion: meshconfig.istio.io/v1alpha1\nkind: MeshConfig\naccessLogFile: ${logPath}\naccessLogEncoding: JSON\n`);
      for (const [i, text] of scenario.config().entries()) await writeFile(join(dir, `istio-${i}.yaml`), text);
      ({ snapshot } = await loadSnapshot({ paths: [dir], node: buildNodeIdentity(scenario.identity(real), {}), outboundPort: outbound, inboundPort: inbound }));
      plane = new DataPlane({ stats: new WorkerStats(), originalDestination: () => destination });
      await plane.apply(snapshot);
    });

    afterAll(async () => {
      await plane?.close();
      await real?.stop();
    });

    // listed with the mesh as planned (its pod port unknown yet); each case is taken again from the running mesh
    for (const c of scenario.cases(mesh)) {
      it(c.title, async () => {
        const cases = scenario.cases(real);
        const live = cases.find((x) => x.title === c.title)!;
        const req = parseExplainRequest(live.request, snapshot.node.mode === 'gateway' ? 'gateway' : 'outbound');
        const e = await explainer.explain(snapshot, req);
        const text = renderExplanation(e);
        checkExplanation(e, live.expect, real, text);
        for (const r of live.shows ?? []) expect(text).toMatch(r);
        // the same request through the data plane
        const port = req.direction === 'gateway' ? req.port : req.direction === 'inbound' ? inbound : outbound;
        destination = req.direction === 'gateway' ? undefined : { ...e.connection.destination, family: 4 } as OriginalDestination;
        const expect_ = live.expect;
        const rounds = 'clusters' in expect_ ? 20 : 1;
        const seen = new Set<string>();
        for (let i = 0; i < rounds; i++) {
          const before = (await logLines(logPath)).length;
          const res = await send(port, live.request);
          const line = await vi.waitFor(async () => {
            const lines = await logLines(logPath);
            if (lines.length <= before) throw new Error('no access log line yet');
            return lines[lines.length - 1];
          }, { timeout: 3000, interval: 20 });
          if ('status' in expect_) {
            expect({ status: res.status, flag: line.response_flags, details: line.response_code_details }, text).toEqual({ status: expect_.status, flag: expect_.flag ?? '-', details: expect_.details ?? line.response_code_details });
          } else if ('cluster' in expect_) {
            expect(line.upstream_cluster, text).toBe(expect_.cluster);
            if (expect_.pod) {
              expect(res.status, text).toBe(200);
              expect(JSON.parse(res.body).pod, text).toMatch(new RegExp(`^${expect_.pod}-`));
              expect(line.upstream_host, text).toBe(e.outcomes[0].host);
            }
          } else {
            seen.add(String(line.upstream_cluster));
          }
        }
        if ('clusters' in expect_) expect([...seen].sort(), text).toEqual([...expect_.clusters].sort());
        if (scenario.name.startsWith('mirroring')) {
          const v2 = real.pod('httpbin-v2');
          await vi.waitFor(() => expect(v2.received.map((r) => r.headers.host)).toContain('httpbin-shadow:8000'), { timeout: 3000 });
        }
      }, 15_000);
    }
  });
}

/** Explain's answer is the table's: the first outcome (all of them for a split). */
function checkExplanation(e: Explanation, want: Expected, mesh: KubernetesMesh, text: string): void {
  const first = e.outcomes[0];
  expect(first, text).toBeDefined();
  if ('status' in want) {
    expect({ share: first.share, status: first.status, flag: first.flag, details: first.details }, text).toEqual({ share: 100, status: want.status, flag: want.flag, details: want.details ?? first.details });
  } else if ('cluster' in want) {
    expect({ share: first.share, cluster: first.cluster }, text).toEqual({ share: 100, cluster: want.cluster });
    if (want.pod) expect(first.host, text).toBe(`${mesh.pod(want.pod).ip}:${mesh.podPort}`);
  } else {
    expect(e.outcomes.map((o) => o.cluster).sort(), text).toEqual([...want.clusters].sort());
    for (const o of e.outcomes) expect(o.share, text).toBe(100 / want.clusters.length);
  }
}
