/**
 * Conformance with istiod's own builder goldens (pilot/pkg/security/authz/builder/testdata): every
 * `*-in.yaml` that a test case uses is parsed, the policies for the test's workload (namespace foo,
 * app=httpbin version=v1) are built, and each generated filter is compared with the golden Envoy
 * config, read from ../shared at test time.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import {
  buildHttpAuthzFilters,
  buildTcpAuthzFilters,
  policiesForWorkload,
  type AuthzBuildOptions,
} from '../../../src/config/istio/authz-builder.js';
import { compileRbacFilter } from '../../../src/security/authz/rbac.js';
import type { AuthzFilter, RbacFilterConfig } from '../../../src/config/envoy/rbac.js';
import type { ExtAuthzProviderSpec } from '../../../src/config/istio/resources.js';
import { BUILDER_TESTDATA, loadPolicyFile } from './helpers.js';

interface Case {
  name: string;
  input: string;
  want: string[];
  meshConfig?: string;
  trustDomainBundle?: string;
}
interface Index {
  http: Case[];
  tcp: Case[];
}

const index = JSON.parse(readFileSync(`${BUILDER_TESTDATA}index.json`, 'utf8')) as Index;
const WORKLOAD = { namespace: 'foo', labels: { app: 'httpbin', version: 'v1' } };

/**
 * The MeshConfig extension providers of builder_test.go, as index.json summarizes them and as far as
 * the goldens show their elided fields (timeouts, failOpen, request body settings).
 * meshConfigInvalid's provider has an invalid port and status: istiod cannot use it, so neither do we.
 */
const SERVICE = 'my-custom-ext-authz.foo.svc.cluster.local';
const MESH_PROVIDERS: Record<string, Record<string, ExtAuthzProviderSpec>> = {
  meshConfigGRPCNoNamespace: {
    default: { name: 'default', kind: 'envoyExtAuthzGrpc', service: SERVICE, port: 9000, timeoutMs: 600_000, failOpen: true, statusOnError: 403 },
  },
  meshConfigGRPC: {
    default: {
      name: 'default', kind: 'envoyExtAuthzGrpc', service: `foo/${SERVICE}`, port: 9000, timeoutMs: 2, failOpen: true, statusOnError: 403,
      includeRequestBodyInCheck: { maxRequestBytes: 4096, allowPartialMessage: true, packAsBytes: false },
    },
  },
  meshConfigHTTP: {
    default: {
      name: 'default', kind: 'envoyExtAuthzHttp', service: `foo/${SERVICE}`, port: 9000, timeoutMs: 10_000, failOpen: true, statusOnError: 403,
      includeRequestBodyInCheck: { maxRequestBytes: 2048, allowPartialMessage: true, packAsBytes: true },
      pathPrefix: '/check',
      includeRequestHeadersInCheck: ['x-custom-id', 'x-prefix-*', '*-suffix'],
      includeAdditionalHeadersInCheck: [['x-header-1', 'value-1'], ['x-header-2', 'value-2']],
      headersToUpstreamOnAllow: ['Authorization', 'x-prefix-*', '*-suffix'],
      headersToDownstreamOnDeny: ['Set-cookie', 'x-prefix-*', '*-suffix'],
      headersToDownstreamOnAllow: ['Set-cookie', 'x-prefix-*', '*-suffix'],
    },
  },
  meshConfigInvalid: {},
};

/** builder_test.go's trustdomain.NewBundle arguments: `"td1", []string{"a", "b"}`. */
function bundle(text: string | undefined): Pick<AuthzBuildOptions, 'trustDomain' | 'trustDomainAliases'> {
  if (!text) return {};
  const strings = [...text.matchAll(/"([^"]*)"/g)].map((m) => m[1]);
  return { trustDomain: strings[0], trustDomainAliases: strings.slice(1) };
}

const UNUSED_GOLDENS: Record<string, string> = {
  'http/allow-host-before-111-in.yaml': 'referenced by no istiod test case (regex host matching for proxies older than 1.11)',
  'http/allow-host-before-111-out.yaml': 'referenced by no istiod test case (regex host matching for proxies older than 1.11)',
};

/** HTTP status names of envoy.type.v3.StatusCode that the goldens use. */
const STATUS_CODES: Record<string, number> = { Forbidden: 403 };

/** Envoy's JSON form → the Snapshot's: a Duration `timeout` ("0.002s") becomes `timeoutMs`, a StatusCode name its number. */
function snapshotForm(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(snapshotForm);
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'timeout' && typeof x === 'string') out.timeoutMs = Math.round(Number(x.replace(/s$/, '')) * 1000);
    else if (k === 'statusOnError') out[k] = { code: STATUS_CODES[(x as { code: string }).code] ?? (x as { code: unknown }).code };
    else out[k] = snapshotForm(x);
  }
  return out;
}

/** The golden filter in Outrigger's representation: proto3 JSON defaults filled in, `@type` dropped. */
function fromGolden(file: string): { name: string; typedConfig: Record<string, unknown> } {
  const doc = parseYaml(readFileSync(file, 'utf8')) as { name: string; typedConfig: Record<string, unknown> };
  const { '@type': _type, ...rest } = doc.typedConfig;
  const cfg = doc.name.endsWith('ext_authz') ? (snapshotForm(rest) as Record<string, unknown>) : rest;
  if (doc.name.endsWith('.rbac')) {
    for (const k of ['rules', 'shadowRules']) {
      const r = cfg[k] as { action?: string; policies?: unknown } | undefined;
      if (r) cfg[k] = { action: r.action ?? 'ALLOW', policies: r.policies ?? {} };
    }
    cfg.shadowRulesStatPrefix ??= '';
  }
  return { name: doc.name, typedConfig: cfg };
}

/** Envoy's and/or sets are commutative: sort their members so only meaning is compared. */
function normalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v !== 'object' || v === null) return v;
  const o = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(o).sort()) out[k] = normalize(o[k]);
  const sortSet = (key: string, listKey: string) => {
    const set = out[key] as Record<string, unknown[]> | undefined;
    if (set && Array.isArray(set[listKey])) set[listKey] = [...set[listKey]].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  };
  sortSet('andRules', 'rules');
  sortSet('orRules', 'rules');
  sortSet('andIds', 'ids');
  sortSet('orIds', 'ids');
  for (const k of ['permissions', 'principals']) {
    if (Array.isArray(out[k])) out[k] = [...(out[k] as unknown[])].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  }
  return out;
}

function run(kind: 'http' | 'tcp', c: Case): { got: AuthzFilter[]; warnings: string[] } {
  const { policies } = loadPolicyFile(`${BUILDER_TESTDATA}${c.input}`);
  const warnings: string[] = [];
  const opts: AuthzBuildOptions = {
    ...bundle(c.trustDomainBundle),
    ...(c.meshConfig ? { extensionProviders: MESH_PROVIDERS[c.meshConfig] } : {}),
    warnings,
  };
  if (c.meshConfig && !(c.meshConfig in MESH_PROVIDERS)) throw new Error(`unknown meshConfig ${c.meshConfig}`);
  const selected = policiesForWorkload(policies, WORKLOAD);
  const got = kind === 'http' ? buildHttpAuthzFilters(selected, opts) : buildTcpAuthzFilters(selected, opts);
  return { got, warnings };
}

for (const kind of ['http', 'tcp'] as const) {
  describe(`istiod builder goldens: ${kind}`, () => {
    for (const c of index[kind]) {
      it(`${c.name} (${c.input})`, () => {
        const { got } = run(kind, c);
        expect(got.map((f) => f.name)).toEqual(c.want.map((w) => fromGolden(`${BUILDER_TESTDATA}${w}`).name));
        c.want.forEach((w, i) => {
          const goldens = [w, w.replace(/^(http|tcp)\//, '$1/extended-')].filter((f) => existsSync(`${BUILDER_TESTDATA}${f}`));
          for (const file of goldens) {
            const want = fromGolden(`${BUILDER_TESTDATA}${file}`);
            const g = got[i];
            // meaning first (and/or sets are commutative in Envoy), then istiod's exact order
            expect(normalize(g.typedConfig), file).toEqual(normalize(want.typedConfig));
            expect(g.typedConfig, `${file} (exact order)`).toEqual(want.typedConfig);
          }
        });
      });
    }
  });
}

describe('istiod builder goldens: coverage', () => {
  it('every golden in testdata is used by a case or listed with the reason it is not', () => {
    const used = new Set<string>();
    for (const kind of ['http', 'tcp'] as const) {
      for (const c of index[kind]) {
        used.add(c.input);
        for (const w of c.want) {
          used.add(w);
          used.add(w.replace(/^(http|tcp)\//, '$1/extended-'));
        }
      }
    }
    const all = ['http', 'tcp'].flatMap((d) => readdirSync(`${BUILDER_TESTDATA}${d}`).map((f) => `${d}/${f}`));
    const unused = all.filter((f) => !used.has(f) && !(f in UNUSED_GOLDENS));
    expect(unused).toEqual([]);
  });

  it('the ext_authz goldens are compared whole (the provider config included)', () => {
    const extAuthz = index.http
      .concat(index.tcp)
      .flatMap((c) => c.want.filter((w) => fromGolden(`${BUILDER_TESTDATA}${w}`).name.endsWith('ext_authz')));
    expect(extAuthz.sort()).toEqual([
      'http/custom-grpc-provider-no-namespace-out2.yaml',
      'http/custom-grpc-provider-out2.yaml',
      'http/custom-http-provider-out2.yaml',
      'tcp/custom-both-http-tcp-out2.yaml',
    ]);
  });

  it('the engine compiles every RBAC golden (every matcher istiod emits is supported)', () => {
    let n = 0;
    for (const d of ['http', 'tcp']) {
      for (const f of readdirSync(`${BUILDER_TESTDATA}${d}`)) {
        if (f.endsWith('-in.yaml')) continue;
        const g = fromGolden(`${BUILDER_TESTDATA}${d}/${f}`);
        if (!g.name.endsWith('.rbac')) continue;
        const c = compileRbacFilter(g.typedConfig as unknown as RbacFilterConfig);
        c.check({ method: 'GET', path: '/', host: 'a', sourceIp: '10.0.0.1', destinationIp: '10.0.0.2', destinationPort: 80 });
        n++;
      }
    }
    expect(n).toBeGreaterThan(50);
  });

  it('istiod notes the rules it drops on TCP chains', () => {
    const c = index.tcp.find((x) => x.name === 'allow-only-http')!;
    const { warnings } = run('tcp', c);
    expect(warnings).toEqual([
      'skipped rule ns[foo]-policy[httpbin-deny]-rule[0] on the TCP filter chain: ":method" is HTTP only',
      'skipped rule ns[foo]-policy[httpbin-deny]-rule[1] on the TCP filter chain: ":authority" is HTTP only',
    ]);
  });
});
