import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { BUILDER_TESTDATA, DOCS_TASKS, loadPolicies, loadPolicyFile, policyError } from '../security/authz/helpers.js';

const yaml = String.raw;

/** A policy named `p` in namespace foo with this spec (indented YAML body). */
function ap(spec: string, metadataExtra = ''): string {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: p
  namespace: foo${metadataExtra}
spec:
${spec}
`;
}

describe('AuthorizationPolicy: accepted forms', () => {
  it('spec: {} is valid: ALLOW with no rules (allows nothing)', () => {
    const { policies, warnings } = loadPolicies(ap('  {}'));
    expect(policies).toHaveLength(1);
    expect(policies[0]).toMatchObject({ action: 'ALLOW', rules: [], dryRun: false });
    expect(policies[0].selector).toBeUndefined();
    expect(warnings).toEqual([]);
  });

  it('a full policy, v1beta1, with every source/operation field and condition', () => {
    const { policies } = loadPolicies(
      ap(yaml`  selector: { matchLabels: { app: httpbin } }
  action: DENY
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/a/sa/b", "*"]
        notRequestPrincipals: ["iss/*"]
        namespaces: ["ns-*"]
        ipBlocks: ["10.0.0.0/8", "2001:db8::/32", "1.2.3.4"]
        notRemoteIpBlocks: ["203.0.113.0/24"]
        trustDomains: ["cluster.local", "td-*"]
    to:
    - operation:
        hosts: ["*.example.com"]
        ports: ["80", "8080"]
        methods: ["GET"]
        notPaths: ["/admin/*", "/v1/{*}/x", "/files/{**}"]
    when:
    - { key: "request.headers[X-Token]", values: ["a"] }
    - { key: source.ip, notValues: ["10.1.0.0/16"] }
    - { key: destination.port, values: ["443"] }
    - { key: "request.auth.claims[realm][roles]", values: ["admin"] }
    - { key: "experimental.envoy.filters.network.mysql_proxy[db.table]", values: ["[update]"] }
    - { key: connection.sni, values: ["*.example.com"] }
    - { key: source.serviceAccount, values: ["default/sleep"] }`).replace('security.istio.io/v1', 'security.istio.io/v1beta1'),
    );
    const p = policies[0];
    expect(p.action).toBe('DENY');
    expect(p.selector).toEqual({ app: 'httpbin' });
    expect(p.rules[0].from[0].ipBlocks).toEqual(['10.0.0.0/8', '2001:db8::/32', '1.2.3.4']);
    expect(p.rules[0].from[0].principals).toEqual(['cluster.local/ns/a/sa/b', '*']);
    expect(p.rules[0].from[0].serviceAccounts).toEqual([]);
    expect(p.rules[0].to[0].ports).toEqual(['80', '8080']);
    expect(p.rules[0].when.map((w) => w.key)).toHaveLength(7);
  });

  it('reads the istio.io/dry-run annotation', () => {
    const { policies } = loadPolicies(ap('  rules: [{}]', '\n  annotations: { "istio.io/dry-run": "true" }'));
    expect(policies[0].dryRun).toBe(true);
    const err = policyError(ap('  rules: [{}]', '\n  annotations: { "istio.io/dry-run": "maybe" }'));
    expect(err.location.field).toBe('metadata.annotations.istio.io/dry-run');
  });

  it('CUSTOM with a provider; AUDIT without rules is accepted', () => {
    expect(loadPolicies(ap('  action: CUSTOM\n  provider: { name: ext }\n  rules: [{to: [{operation: {paths: ["/x"]}}]}]')).policies[0].provider).toBe('ext');
    expect(loadPolicies(ap('  action: AUDIT')).policies[0].rules).toEqual([]);
  });

  it('warns when a DENY rule uses only HTTP attributes (it denies whole TCP ports)', () => {
    const { warnings } = loadPolicies(ap('  action: DENY\n  rules: [{to: [{operation: {methods: ["GET"]}}]}]'));
    expect(warnings).toEqual([
      'AuthorizationPolicy foo/p: rules[0]: this DENY rule uses only HTTP attributes, so it denies all traffic to the TCP ports under its scope; it is recommended to explicitly specify the port',
    ]);
    expect(loadPolicies(ap('  action: DENY\n  rules: [{to: [{operation: {methods: ["GET"], ports: ["80"]}}]}]')).warnings).toEqual([]);
    expect(loadPolicies(ap('  action: DENY\n  rules: [{from: [{source: {requestPrincipals: ["*"]}}]}]')).warnings).toHaveLength(1);
    expect(loadPolicies(ap('  action: DENY\n  rules: [{from: [{source: {namespaces: ["x"]}}]}]')).warnings).toEqual([]);
  });

  it('warns about a selector without labels', () => {
    expect(loadPolicies(ap('  selector: { matchLabels: {} }')).warnings).toEqual([
      'AuthorizationPolicy foo/p: workload selector specified without labels (it selects every workload)',
    ]);
  });
});

describe('AuthorizationPolicy: validation errors name the field', () => {
  it('the message names file:line, document, resource and field', () => {
    const text = ap(yaml`  rules:
  - from:
    - source:
        ipBlocks: ["10.0.0.0/33"]`);
    const err = policyError(text);
    expect(err.location).toEqual({
      file: 'test.yaml',
      docIndex: 0,
      line: 10,
      kind: 'AuthorizationPolicy',
      name: 'p',
      namespace: 'foo',
      field: 'spec.rules[0].from[0].source.ipBlocks[0]',
    });
    expect(err.message).toBe('test.yaml:10, document 0, AuthorizationPolicy foo/p, field spec.rules[0].from[0].source.ipBlocks[0]: bad CIDR range (10.0.0.0/33)');
  });

  const cases: [string, string, string, RegExp][] = [
    ['unknown spec field', '  rule: []', 'spec.rule', /unknown field "rule"/],
    ['unknown source field', '  rules: [{from: [{source: {principal: ["a"]}}]}]', 'spec.rules[0].from[0].source.principal', /unknown field/],
    ['unknown operation field', '  rules: [{to: [{operation: {path: ["/a"]}}]}]', 'spec.rules[0].to[0].operation.path', /unknown field/],
    ['unknown action', '  action: REJECT', 'spec.action', /must be one of ALLOW, DENY, AUDIT, CUSTOM/],
    ['targetRef', '  targetRef: { kind: Gateway, group: gateway.networking.k8s.io, name: gw }', 'spec.targetRef', /not supported yet/],
    ['targetRefs', '  targetRefs: [{ kind: Service, name: s }]', 'spec.targetRefs', /not supported yet/],
    ['selector wildcard', '  selector: { matchLabels: { app: "web-*" } }', 'spec.selector.matchLabels.app', /wildcard is not supported/],
    ['DENY without rules', '  action: DENY', 'spec.rules', /DENY action without rules/],
    ['CUSTOM without rules', '  action: CUSTOM\n  provider: { name: x }', 'spec.rules', /CUSTOM action without rules/],
    ['CUSTOM without provider', '  action: CUSTOM\n  rules: [{}]', 'spec.provider.name', /provider.name must not be empty/],
    ['provider with ALLOW', '  provider: { name: x }\n  rules: [{}]', 'spec.provider', /provider must not be set with a non-CUSTOM action/],
    ['CUSTOM with principals', '  action: CUSTOM\n  provider: { name: x }\n  rules: [{from: [{source: {principals: ["a"]}}]}]', 'spec.rules[0].from[0].source.principals', /not supported with the CUSTOM action/],
    ['CUSTOM with request.auth', '  action: CUSTOM\n  provider: { name: x }\n  rules: [{when: [{key: request.auth.principal, values: ["a/b"]}]}]', 'spec.rules[0].when[0].key', /not supported with the CUSTOM action/],
    ['null rule', '  rules: [null]', 'spec.rules[0]', /must not be null/],
    ['empty from', '  rules: [{from: []}]', 'spec.rules[0].from', /must not be an empty list/],
    ['empty to', '  rules: [{to: []}]', 'spec.rules[0].to', /must not be an empty list/],
    ['from without source', '  rules: [{from: [{}]}]', 'spec.rules[0].from[0].source', /from.source must be set/],
    ['empty source', '  rules: [{from: [{source: {}}]}]', 'spec.rules[0].from[0].source', /must not be empty/],
    ['to without operation', '  rules: [{to: [{}]}]', 'spec.rules[0].to[0].operation', /to.operation must be set/],
    ['empty operation', '  rules: [{to: [{operation: {methods: []}}]}]', 'spec.rules[0].to[0].operation', /must not be empty/],
    ['empty principal', '  rules: [{from: [{source: {principals: ["a", ""]}}]}]', 'spec.rules[0].from[0].source.principals[1]', /must not be empty/],
    ['non-string value', '  rules: [{to: [{operation: {ports: [80]}}]}]', 'spec.rules[0].to[0].operation.ports[0]', /expected a string/],
    ['bad IP', '  rules: [{from: [{source: {notIpBlocks: ["10.0.0.256"]}}]}]', 'spec.rules[0].from[0].source.notIpBlocks[0]', /bad IP address \(10.0.0.256\)/],
    ['bad remote CIDR', '  rules: [{from: [{source: {remoteIpBlocks: ["10.0.0.0/x"]}}]}]', 'spec.rules[0].from[0].source.remoteIpBlocks[0]', /bad CIDR range/],
    ['bad port', '  rules: [{to: [{operation: {ports: ["http"]}}]}]', 'spec.rules[0].to[0].operation.ports[0]', /bad port \(http\)/],
    ['port out of range', '  rules: [{to: [{operation: {notPorts: ["65536"]}}]}]', 'spec.rules[0].to[0].operation.notPorts[0]', /bad port/],
    ['wildcard inside a value', '  rules: [{to: [{operation: {paths: ["/api/*/users"]}}]}]', 'spec.rules[0].to[0].operation.paths[0]', /only supported as the whole value, a prefix match/],
    ['wildcard at both ends', '  rules: [{to: [{operation: {hosts: ["*example*"]}}]}]', 'spec.rules[0].to[0].operation.hosts[0]', /prefix match/],
    ['wildcard inside a principal', '  rules: [{from: [{source: {principals: ["cluster.local/ns/*/sa/x"]}}]}]', 'spec.rules[0].from[0].source.principals[0]', /prefix match/],
    ['unsupported path template', '  rules: [{to: [{operation: {paths: ["/v1/{*}/{name}"]}}]}]', 'spec.rules[0].to[0].operation.paths[0]', /invalid or unsupported path template/],
    ['operator after {**}', '  rules: [{to: [{operation: {paths: ["/a/{**}/b/{*}"]}}]}]', 'spec.rules[0].to[0].operation.paths[0]', /must be the last operator/],
    ['operator inside a segment', '  rules: [{to: [{operation: {paths: ["/a/x{*}/b"]}}]}]', 'spec.rules[0].to[0].operation.paths[0]', /whole path segment/],
    ['service account wildcard', '  rules: [{from: [{source: {serviceAccounts: ["ns/*"]}}]}]', 'spec.rules[0].from[0].source.serviceAccounts[0]', /no form of wildcard/],
    ['service account form', '  rules: [{from: [{source: {serviceAccounts: ["a/b/c"]}}]}]', 'spec.rules[0].from[0].source.serviceAccounts[0]', /"<name>" or "<namespace>\/<name>"/],
    ['service accounts with namespaces', '  rules: [{from: [{source: {serviceAccounts: ["a"], namespaces: ["b"]}}]}]', 'spec.rules[0].from[0].source.serviceAccounts', /cannot be set with namespaces or principals/],
    ['unknown when key', '  rules: [{when: [{key: source.name, values: ["a"]}]}]', 'spec.rules[0].when[0].key', /unknown attribute: source.name/],
    ['retired when key', '  rules: [{when: [{key: "destination.labels[app]", values: ["a"]}]}]', 'spec.rules[0].when[0].key', /replaced by the workload selector/],
    ['header key without a name', '  rules: [{when: [{key: request.headers, values: ["a"]}]}]', 'spec.rules[0].when[0].key', /should have the format a\[b\]/],
    ['claim key malformed', '  rules: [{when: [{key: "request.auth.claims[a]b]", values: ["a"]}]}]', 'spec.rules[0].when[0].key', /request.auth.claims\[name\]/],
    ['envoy filter key without brackets', '  rules: [{when: [{key: experimental.envoy.filters.a.b, values: ["a"]}]}]', 'spec.rules[0].when[0].key', /format a\[b\]/],
    ['when without values', '  rules: [{when: [{key: source.ip}]}]', 'spec.rules[0].when[0]', /at least one of values or notValues/],
    ['when with an empty key', '  rules: [{when: [{key: "", values: ["a"]}]}]', 'spec.rules[0].when[0].key', /must not be empty/],
    ['when source.ip not an IP', '  rules: [{when: [{key: source.ip, values: ["10.0.0.1", "host"]}]}]', 'spec.rules[0].when[0].values[1]', /bad IP address \(host\)/],
    ['when destination.port not a number', '  rules: [{when: [{key: destination.port, notValues: ["x"]}]}]', 'spec.rules[0].when[0].notValues[0]', /bad port/],
    ['when empty value', '  rules: [{when: [{key: "request.headers[x]", values: [""]}]}]', 'spec.rules[0].when[0].values[0]', /must not be empty/],
    ['unknown condition field', '  rules: [{when: [{key: source.ip, value: ["1.2.3.4"]}]}]', 'spec.rules[0].when[0].value', /unknown field/],
  ];
  for (const [name, spec, field, reason] of cases) {
    it(name, () => {
      const err = policyError(ap(spec));
      expect(err.location.field).toBe(field);
      expect(err.reason).toMatch(reason);
      expect(err.message).toContain(`AuthorizationPolicy foo/p, field ${field}: `);
    });
  }

  it('reports the first error of a later document with its document index', () => {
    const err = policyError(ap('  rules: [{}]') + '---\n' + ap('  rules: [{to: [{operation: {ports: ["x"]}}]}]').replace('name: p', 'name: q'));
    expect(err.location).toMatchObject({ docIndex: 1, name: 'q', field: 'spec.rules[0].to[0].operation.ports[0]', line: 15 });
  });

  it('every AuthorizationPolicy of the istiod builder testdata and the istio.io tasks parses', () => {
    const files = [
      ...['http', 'tcp'].flatMap((d) => readdirSync(`${BUILDER_TESTDATA}${d}`).filter((f) => f.endsWith('-in.yaml')).map((f) => `${BUILDER_TESTDATA}${d}/${f}`)),
      ...readdirSync(DOCS_TASKS)
        .filter((d) => d.startsWith('authz-'))
        .flatMap((d) => readdirSync(`${DOCS_TASKS}${d}`).filter((f) => f.endsWith('.yaml')).map((f) => `${DOCS_TASKS}${d}/${f}`)),
    ];
    let count = 0;
    for (const f of files) count += loadPolicyFile(f).policies.length;
    expect(count).toBeGreaterThan(40);
  });
});
