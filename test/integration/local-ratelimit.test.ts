// Istio's local rate limit task end to end: productpage's sidecar (two workers) with the task's
// EnvoyFilter (4 tokens per 60 s on the inbound connection managers) answers 200 four times, then
// 429 with x-local-rate-limit: true and flag RL, whichever worker takes the connection; the
// http_local_rate_limit stats count it. A second sidecar, with an x-user descriptor from the
// route's rate_limits (through the same EnvoyFilter form), limits each user on their own bucket.
// A gateway with Outrigger's LocalRateLimit resource limits one VirtualService route per user and
// another route as a whole.
import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_ARGS, gateway, serviceEntry, sidecar, toYaml, virtualService } from '../helpers/mesh.js';
import { freePorts } from '../helpers/ports.js';
import { startProxy, stopAllProxies, type RunningProxy } from '../helpers/proxy.js';
import { accessLogEntries, eventually, plainRequest, scrape } from '../helpers/telemetry.js';
import { startUpstream, type Upstream } from '../helpers/upstream.js';

const TASK = new URL('../../../shared/conformance/istio/docs-tasks/policy-enforcement/rate-limit/', import.meta.url);

let app: Upstream;
let task: RunningProxy;
let perUser: RunningProxy;
let gw: RunningProxy;
let taskPort: number;
let userPort: number;
let gwPort: number;

/** A gateway to the app with Outrigger's LocalRateLimit: 2 a minute per x-user on route `api`, 3 a minute in all on route `web`. */
function gatewayWithLimits(port: number): string {
  const limits = stringify({
    apiVersion: 'policy.outrigger.io/v1alpha1',
    kind: 'LocalRateLimit',
    metadata: { name: 'edge', namespace: 'default' },
    spec: {
      selector: { matchLabels: { istio: 'ingressgateway' } },
      mode: 'CLIENT',
      rules: [
        { match: { virtualService: 'app', route: 'api' }, limit: { requests: 2, per: '60s' }, by: { header: 'x-user' } },
        { match: { virtualService: 'app', route: 'web' }, limit: { requests: 3, per: '60s' } },
      ],
    },
  });
  const app_ = 'app.default.svc.cluster.local';
  return [
    toYaml(
      gateway({ port }),
      serviceEntry({ name: 'app', host: app_, endpoints: [{ port: app.port }] }),
      virtualService('app', { hosts: ['app.test'], gateways: ['gw'], http: [{ name: 'api', match: [{ uri: { prefix: '/api' } }], route: [{ destination: { host: app_ } }] }, { name: 'web', route: [{ destination: { host: app_ } }] }] }),
    ),
    limits,
  ].join('---\n');
}

const ingress = (port: number) => toYaml(sidecar('default', { ingress: [{ port: { number: port, protocol: 'HTTP', name: 'http' }, captureMode: 'NONE', defaultEndpoint: `127.0.0.1:${app.port}` }] }));

/** A limit of 2 per minute for each x-user, none for requests without one. */
function perUserFilter(port: number): string {
  const rl = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
  const bucket = { max_tokens: 2, tokens_per_fill: 2, fill_interval: '60s' };
  return stringify({
    apiVersion: 'networking.istio.io/v1alpha3',
    kind: 'EnvoyFilter',
    metadata: { name: 'per-user', namespace: 'default' },
    spec: {
      workloadSelector: { labels: { app: 'users' } },
      configPatches: [
        {
          applyTo: 'HTTP_FILTER',
          match: { context: 'SIDECAR_INBOUND' },
          patch: {
            operation: 'INSERT_BEFORE',
            value: {
              name: 'envoy.filters.http.local_ratelimit',
              typed_config: {
                '@type': rl,
                stat_prefix: 'per_user',
                filter_enabled: { default_value: { numerator: 100 } },
                filter_enforced: { default_value: { numerator: 100 } },
                descriptors: [{ entries: [{ key: 'user', value: '' }], token_bucket: bucket }],
                always_consume_default_token_bucket: false,
                enable_x_ratelimit_headers: 'DRAFT_VERSION_03',
              },
            },
          },
        },
        {
          applyTo: 'HTTP_ROUTE',
          match: { context: 'SIDECAR_INBOUND', routeConfiguration: { portNumber: port } },
          patch: { operation: 'MERGE', value: { route: { rate_limits: [{ actions: [{ request_headers: { header_name: 'x-user', descriptor_key: 'user' } }] }] } } },
        },
      ],
    },
  });
}

beforeAll(async () => {
  app = await startUpstream(undefined, 'productpage');
  [taskPort, userPort, gwPort] = await freePorts(3);
  const envoyFilter = readFileSync(new URL('snip_local_rate_limit_2.yaml', TASK), 'utf8');
  [task, perUser, gw] = await Promise.all([
    // the stats inclusion of the task's snip_local_rate_limit_1 (proxyStatsMatcher inclusionRegexps), as the pod annotation
    startProxy({
      yaml: [ingress(taskPort), envoyFilter].join('---\n'),
      args: ['--mode', 'sidecar', '--namespace', 'default', '--label', 'app=productpage', '--access-log', 'json'],
      workers: 2,
      env: { ISTIO_METAJSON_ANNOTATIONS: JSON.stringify({ 'sidecar.istio.io/statsInclusionRegexps': '.*http_local_rate_limit.*' }) },
    }),
    startProxy({ yaml: [ingress(userPort), perUserFilter(userPort)].join('---\n'), args: ['--mode', 'sidecar', '--namespace', 'default', '--label', 'app=users'], workers: 2 }),
    startProxy({ yaml: gatewayWithLimits(gwPort), args: GATEWAY_ARGS, workers: 2 }),
  ]);
}, 30_000);

afterAll(async () => {
  await stopAllProxies();
  await app.close();
});

describe('local rate limiting', () => {
  it("the task's 5 requests 1 s apart (here back to back, each on its own connection): 200 × 4, then 429 with x-local-rate-limit", async () => {
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof plainRequest>> | undefined;
    for (let i = 0; i < 5; i++) {
      const r = await plainRequest(taskPort, '/productpage', { headers: { 'x-request-id': `rl-${i}` } });
      statuses.push(r.status);
      if (r.status === 429) limited = r;
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
    expect(limited!.headers['x-local-rate-limit']).toBe('true');
    expect(limited!.text).toBe('local_rate_limited');
    const entry = await eventually(() => accessLogEntries(task).find((e) => e.request_id === 'rl-4'), 3_000);
    expect(entry).toMatchObject({ response_code: 429, response_flags: 'RL', response_code_details: 'local_rate_limited' });
  });

  it('the http_local_rate_limit stats count every decision, summed over the workers', async () => {
    const e = await eventually(async () => {
      const s = await scrape(task.ports.stats);
      return s.sum('envoy_http_local_rate_limiter_http_local_rate_limit_rate_limited') >= 1 ? s : undefined;
    }, 5_000);
    expect(e, 'no http_local_rate_limit stats').toBeDefined();
    expect(e!.sum('envoy_http_local_rate_limiter_http_local_rate_limit_enabled')).toBe(5);
    expect(e!.sum('envoy_http_local_rate_limiter_http_local_rate_limit_enforced')).toBe(1);
    expect(e!.sum('envoy_http_local_rate_limiter_http_local_rate_limit_ok')).toBe(4);
  });

  it('a descriptor from the route\'s rate_limits: each x-user has 2 requests, a request without one is not limited; x-ratelimit headers', async () => {
    const as = (user?: string) => plainRequest(userPort, '/', user ? { headers: { 'x-user': user } } : {});
    const alice = [await as('alice'), await as('alice'), await as('alice')];
    expect(alice.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(alice[0].headers['x-ratelimit-limit']).toBe('2');
    expect(alice[1].headers['x-ratelimit-remaining']).toBe('0');
    expect((await as('bob')).status).toBe(200);
    for (let i = 0; i < 4; i++) expect((await as()).status).toBe(200);
  });

  it("Outrigger's LocalRateLimit on a gateway: per user on one route, in all on another, headers and flag as Envoy's", async () => {
    const to = (path: string, user?: string) => plainRequest(gwPort, path, { host: 'app.test', headers: user ? { 'x-user': user } : {} });
    expect([(await to('/api/a', 'ann')).status, (await to('/api/b', 'ann')).status, (await to('/api/c', 'ann')).status]).toEqual([200, 200, 429]);
    expect((await to('/api/a', 'ben')).status).toBe(200);
    const web = [await to('/'), await to('/x', 'ann'), await to('/y'), await to('/z')];
    expect(web.map((r) => r.status)).toEqual([200, 200, 200, 429]);
    expect(web[0].headers['x-ratelimit-limit']).toBe('3');
    expect(web[3].text).toBe('local_rate_limited');
  });
});
