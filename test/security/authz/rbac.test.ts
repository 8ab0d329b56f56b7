/**
 * Decision tables for the RBAC engine over builder output: Istio's documented edge cases, and the
 * istio.io security tasks (../shared/conformance/istio/docs-tasks/security/authz-*), driven by
 * their expectations.json.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AuthorizationPolicySpec } from '../../../src/config/istio/parse-authorization-policy.js';
import type { ExtAuthzProviderSpec } from '../../../src/config/istio/resources.js';
import {
  buildHttpAuthzFilters,
  buildTcpAuthzFilters,
  policiesForWorkload,
  type AuthzBuildOptions,
} from '../../../src/config/istio/authz-builder.js';
import { compileAuthzFilters, compileUriTemplate, type AuthzDecision, type AuthzRequest } from '../../../src/security/authz/rbac.js';
import { CONFORMANCE, DOCS_TASKS, jwtPayload, loadPolicies } from './helpers.js';

const yaml = String.raw;

function policies(text: string): AuthorizationPolicySpec[] {
  return loadPolicies(text, 'test.yaml', 'foo').policies;
}

function http(text: string, opts: AuthzBuildOptions = {}) {
  return compileAuthzFilters(buildHttpAuthzFilters(policies(text), opts));
}

function tcp(text: string, opts: AuthzBuildOptions = {}) {
  return compileAuthzFilters(buildTcpAuthzFilters(policies(text), opts));
}

function req(over: Partial<AuthzRequest> = {}): AuthzRequest {
  return {
    method: 'GET',
    path: '/',
    host: 'httpbin.foo:8000',
    headers: {},
    sourceIp: '10.0.0.1',
    destinationIp: '10.0.0.2',
    destinationPort: 8000,
    ...over,
  };
}

function conn(over: Partial<AuthzRequest> = {}): AuthzRequest {
  return { sourceIp: '10.0.0.1', destinationIp: '10.0.0.2', destinationPort: 9000, ...over };
}

const SLEEP = 'spiffe://cluster.local/ns/foo/sa/sleep';
const BAR = 'spiffe://cluster.local/ns/bar/sa/client';

function policy(spec: string, name = 'p', extra = ''): string {
  return yaml`apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: ${name}, namespace: foo${extra} }
spec:
${spec
  .split('\n')
  .map((l) => `  ${l}`)
  .join('\n')}
---
`;
}

describe('documented edge cases', () => {
  it('spec: {} is an ALLOW policy that matches nothing: every request is denied (HTTP and TCP)', () => {
    const text = policy('{}', 'allow-nothing');
    expect(http(text).check(req()).allowed).toBe(false);
    expect(http(text).check(req({ peerPrincipal: SLEEP })).allowed).toBe(false);
    expect(tcp(text).check(conn()).allowed).toBe(false);
  });

  it('rules: [{}] matches everything: every request is allowed', () => {
    const e = http(policy('rules: [{}]', 'allow-all'));
    expect(e.check(req())).toEqual({ allowed: true, matchedPolicy: 'ns[foo]-policy[allow-all]-rule[0]' });
    expect(e.check(req({ method: 'DELETE', path: '/x', sourceIp: '192.0.2.9' })).allowed).toBe(true);
    expect(tcp(policy('rules: [{}]')).check(conn()).allowed).toBe(true);
  });

  it('no policy at all allows; a DENY policy alone allows what it does not match', () => {
    expect(http('').check(req()).allowed).toBe(true);
    const deny = http(policy('action: DENY\nrules: [{to: [{operation: {paths: ["/admin*"]}}]}]'));
    expect(deny.check(req({ path: '/admin/x' }))).toEqual({ allowed: false, matchedPolicy: 'ns[foo]-policy[p]-rule[0]' });
    expect(deny.check(req({ path: '/public' })).allowed).toBe(true);
  });

  it('DENY beats ALLOW', () => {
    const e = http(
      policy('rules: [{}]', 'allow-all') + policy('action: DENY\nrules: [{to: [{operation: {methods: ["DELETE"]}}]}]', 'no-delete'),
    );
    expect(e.check(req({ method: 'GET' }))).toEqual({ allowed: true, matchedPolicy: 'ns[foo]-policy[allow-all]-rule[0]' });
    expect(e.check(req({ method: 'DELETE' }))).toEqual({ allowed: false, matchedPolicy: 'ns[foo]-policy[no-delete]-rule[0]' });
  });

  it('ALLOW policies are ORed: a request is allowed when any matches', () => {
    const e = http(
      policy('rules: [{to: [{operation: {paths: ["/a"]}}]}]', 'a') + policy('rules: [{to: [{operation: {paths: ["/b"]}}]}]', 'b'),
    );
    expect(e.check(req({ path: '/a' })).matchedPolicy).toBe('ns[foo]-policy[a]-rule[0]');
    expect(e.check(req({ path: '/b' })).matchedPolicy).toBe('ns[foo]-policy[b]-rule[0]');
    expect(e.check(req({ path: '/c' }))).toEqual({ allowed: false });
  });

  it('AUDIT never changes the decision, it only marks the request', () => {
    const audit = policy('action: AUDIT\nrules: [{to: [{operation: {paths: ["/audited"]}}]}]', 'audit');
    const alone = http(audit);
    expect(alone.check(req({ path: '/audited' }))).toEqual({ allowed: true, auditPolicy: 'ns[foo]-policy[audit]-rule[0]' });
    expect(alone.check(req({ path: '/other' }))).toEqual({ allowed: true });
    const withAllowNothing = http(audit + policy('{}', 'allow-nothing'));
    expect(withAllowNothing.check(req({ path: '/audited' }))).toEqual({ allowed: false, auditPolicy: 'ns[foo]-policy[audit]-rule[0]' });
    const withDeny = http(audit + policy('action: DENY\nrules: [{}]', 'deny-all'));
    expect(withDeny.check(req({ path: '/audited' }))).toEqual({
      allowed: false,
      matchedPolicy: 'ns[foo]-policy[deny-all]-rule[0]',
      auditPolicy: 'ns[foo]-policy[audit]-rule[0]',
    });
    // audit on TCP (LOG): the HTTP-only path is dropped, so it audits every connection
    expect(tcp(audit).check(conn())).toEqual({ allowed: true, auditPolicy: 'ns[foo]-policy[audit]-rule[0]' });
  });

  it('dry-run policies are evaluated as shadow rules and never enforced', () => {
    const e = http(policy('action: DENY\nrules: [{}]', 'dry', ', annotations: { "istio.io/dry-run": "true" }'));
    expect(e.check(req())).toEqual({ allowed: true });
    expect(e.hasShadowRules).toBe(true);
    expect(e.shadow(req())).toEqual([{ statPrefix: 'istio_dry_run_deny_', allowed: false, matchedPolicy: 'ns[foo]-policy[dry]-rule[0]' }]);
  });

  describe('plaintext requests (no peer principal)', () => {
    it('never match principals, namespaces or service accounts', () => {
      for (const src of ['principals: ["cluster.local/ns/foo/sa/sleep"]', 'namespaces: ["foo"]', 'serviceAccounts: ["sleep"]', 'principals: ["*"]']) {
        const e = http(policy(`rules: [{from: [{source: {${src}}}]}]`));
        expect(e.check(req()).allowed, src).toBe(false);
        expect(e.check(req({ peerPrincipal: SLEEP })).allowed, src).toBe(true);
      }
    });

    it('ALLOW with only notNamespaces DOES allow plaintext requests (the documented trap)', () => {
      const e = http(policy('rules: [{from: [{source: {notNamespaces: ["bar"]}}]}]'));
      expect(e.check(req()).allowed).toBe(true); // no identity at all: "not in bar" holds
      expect(e.check(req({ peerPrincipal: SLEEP })).allowed).toBe(true);
      expect(e.check(req({ peerPrincipal: BAR })).allowed).toBe(false);
    });

    it('DENY with only notNamespaces DOES deny plaintext requests', () => {
      const e = http(policy('action: DENY\nrules: [{from: [{source: {notNamespaces: ["foo"]}}]}]'));
      expect(e.check(req()).allowed).toBe(false);
      expect(e.check(req({ peerPrincipal: SLEEP })).allowed).toBe(true);
      expect(e.check(req({ peerPrincipal: BAR })).allowed).toBe(false);
    });

    it('DENY notPrincipals: ["*"] requires mTLS (the documented way)', () => {
      const e = http(policy('action: DENY\nrules: [{from: [{source: {notPrincipals: ["*"]}}]}]'));
      expect(e.check(req()).allowed).toBe(false);
      expect(e.check(req({ peerPrincipal: BAR })).allowed).toBe(true);
    });
  });

  it('principals: exact, prefix, suffix; namespaces and service accounts from the SPIFFE id', () => {
    const e = http(policy('rules: [{from: [{source: {principals: ["cluster.local/ns/foo/sa/sleep", "cluster.local/ns/bar/*", "*/sa/admin"]}}]}]'));
    expect(e.check(req({ peerPrincipal: SLEEP })).allowed).toBe(true);
    expect(e.check(req({ peerPrincipal: BAR })).allowed).toBe(true);
    expect(e.check(req({ peerPrincipal: 'spiffe://other.td/ns/x/sa/admin' })).allowed).toBe(true);
    expect(e.check(req({ peerPrincipal: 'spiffe://cluster.local/ns/foo/sa/sleepy' })).allowed).toBe(false);
    const ns = http(policy('rules: [{from: [{source: {namespaces: ["fo*"]}}]}]'));
    expect(ns.check(req({ peerPrincipal: SLEEP })).allowed).toBe(true);
    expect(ns.check(req({ peerPrincipal: BAR })).allowed).toBe(false);
    const sa = http(policy('rules: [{from: [{source: {serviceAccounts: ["sleep", "bar/client"]}}]}]'));
    expect(sa.check(req({ peerPrincipal: SLEEP })).allowed).toBe(true);
    expect(sa.check(req({ peerPrincipal: BAR })).allowed).toBe(true);
    expect(sa.check(req({ peerPrincipal: 'spiffe://cluster.local/ns/bar/sa/sleep' })).allowed).toBe(false);
    expect(sa.check(req({ peerPrincipal: 'spiffe://cluster.local/ns/foo/sa/sleep-2' })).allowed).toBe(false);
  });

  it('trust domain aliases: a cluster.local principal also matches the mesh trust domain and its aliases', () => {
    const text = policy('rules: [{from: [{source: {principals: ["cluster.local/ns/foo/sa/sleep"]}}]}]');
    const e = http(text, { trustDomain: 'new-td', trustDomainAliases: ['old-td'] });
    expect(e.check(req({ peerPrincipal: 'spiffe://new-td/ns/foo/sa/sleep' })).allowed).toBe(true);
    expect(e.check(req({ peerPrincipal: 'spiffe://old-td/ns/foo/sa/sleep' })).allowed).toBe(true);
    expect(e.check(req({ peerPrincipal: 'spiffe://evil-td/ns/foo/sa/sleep' })).allowed).toBe(false);
  });

  it('hosts: case-insensitive, and the port is part of the host (list both forms to match both)', () => {
    const e = http(policy('rules: [{to: [{operation: {hosts: ["example.com"]}}]}]'));
    expect(e.check(req({ host: 'example.com' })).allowed).toBe(true);
    expect(e.check(req({ host: 'EXAMPLE.com' })).allowed).toBe(true);
    expect(e.check(req({ host: 'example.com:8080' })).allowed).toBe(false);
    const both = http(policy('rules: [{to: [{operation: {hosts: ["example.com", "example.com:*"]}}]}]'));
    expect(both.check(req({ host: 'example.com:8080' })).allowed).toBe(true);
    expect(both.check(req({ host: 'Example.COM' })).allowed).toBe(true);
    const suffix = http(policy('rules: [{to: [{operation: {hosts: ["*.example.com"]}}]}]'));
    expect(suffix.check(req({ host: 'api.Example.com' })).allowed).toBe(true);
    expect(suffix.check(req({ host: 'api.example.com:80' })).allowed).toBe(false);
    const notHost = http(policy('action: DENY\nrules: [{to: [{operation: {notHosts: ["internal.example.com"]}}]}]'));
    expect(notHost.check(req({ host: 'internal.example.com' })).allowed).toBe(true);
    expect(notHost.check(req({ host: 'internal.example.com:443' })).allowed).toBe(false);
  });

  it('methods: exact and case-sensitive', () => {
    const e = http(policy('rules: [{to: [{operation: {methods: ["GET", "HEAD"]}}]}]'));
    expect(e.check(req({ method: 'GET' })).allowed).toBe(true);
    expect(e.check(req({ method: 'HEAD' })).allowed).toBe(true);
    expect(e.check(req({ method: 'POST' })).allowed).toBe(false);
    expect(e.check(req({ method: 'get' })).allowed).toBe(false);
  });

  it('paths: exact, prefix "*", suffix "*", presence; the query string is ignored', () => {
    const e = http(policy('rules: [{to: [{operation: {paths: ["/exact", "/api/*", "*.html"]}}]}]'));
    const t = (path: string) => e.check(req({ path })).allowed;
    expect(t('/exact')).toBe(true);
    expect(t('/exact?x=1')).toBe(true);
    expect(t('/exact/')).toBe(false);
    expect(t('/api/v1/users')).toBe(true);
    expect(t('/api/')).toBe(true);
    expect(t('/api')).toBe(false);
    expect(t('/apiv2')).toBe(false);
    expect(t('/docs/index.html')).toBe(true);
    expect(t('/docs/index.html?v=2')).toBe(true);
    expect(t('/docs/index.htm')).toBe(false);
    const any = http(policy('rules: [{to: [{operation: {paths: ["*"]}}]}]'));
    expect(any.check(req({ path: '/x' })).allowed).toBe(true);
    const notPath = http(policy('rules: [{to: [{operation: {notPaths: ["/private*"]}}]}]'));
    expect(notPath.check(req({ path: '/private/x' })).allowed).toBe(false);
    expect(notPath.check(req({ path: '/public' })).allowed).toBe(true);
  });

  it('path templates: {*} is one segment, {**} any number', () => {
    const e = http(policy('rules: [{to: [{operation: {paths: ["/v1/{*}/items", "/files/{**}"]}}]}]'));
    const t = (path: string) => e.check(req({ path })).allowed;
    expect(t('/v1/42/items')).toBe(true);
    expect(t('/v1/42/items?page=2')).toBe(true);
    expect(t('/v1/a/b/items')).toBe(false);
    expect(t('/v1//items')).toBe(false);
    expect(t('/files/a/b/c.txt')).toBe(true);
    expect(t('/files/')).toBe(true);
    expect(t('/filesx')).toBe(false);
    expect(compileUriTemplate('/**/path/template').test('/a/b/path/template')).toBe(true);
    expect(compileUriTemplate('/**.mpd').test('/content/123/manifest.mpd')).toBe(true);
  });

  it('ports and destination.port: the port the connection was made to', () => {
    const e = http(policy('rules: [{to: [{operation: {ports: ["8000"]}}], when: [{key: destination.port, notValues: ["8001"]}]}]'));
    expect(e.check(req({ destinationPort: 8000 })).allowed).toBe(true);
    expect(e.check(req({ destinationPort: 8001 })).allowed).toBe(false);
    expect(e.check(req({ destinationPort: 9000 })).allowed).toBe(false);
  });

  it('ipBlocks match the connection peer, remoteIpBlocks the original client (x-forwarded-for)', () => {
    const ip = http(policy('rules: [{from: [{source: {ipBlocks: ["10.1.0.0/16", "2001:db8::/32"]}}]}]'));
    const remote = http(policy('rules: [{from: [{source: {remoteIpBlocks: ["203.0.113.0/24"]}}]}]'));
    // a request forwarded by a gateway at 10.1.2.3 for client 203.0.113.7
    const viaGateway = req({ sourceIp: '10.1.2.3', remoteIp: '203.0.113.7' });
    expect(ip.check(viaGateway).allowed).toBe(true);
    expect(remote.check(viaGateway).allowed).toBe(true);
    const otherClient = req({ sourceIp: '10.1.2.3', remoteIp: '198.51.100.1' });
    expect(ip.check(otherClient).allowed).toBe(true);
    expect(remote.check(otherClient).allowed).toBe(false);
    // a direct client: remote.ip is the peer itself
    expect(remote.check(req({ sourceIp: '203.0.113.9' })).allowed).toBe(true);
    expect(ip.check(req({ sourceIp: '203.0.113.9' })).allowed).toBe(false);
    expect(ip.check(req({ sourceIp: '2001:db8::5' })).allowed).toBe(true);
    const notIp = http(policy('action: DENY\nrules: [{from: [{source: {notRemoteIpBlocks: ["203.0.113.0/24"]}}]}]'));
    expect(notIp.check(otherClient).allowed).toBe(false);
    expect(notIp.check(viaGateway).allowed).toBe(true);
    const when = http(policy('rules: [{when: [{key: source.ip, values: ["10.1.2.3"]}, {key: destination.ip, values: ["10.0.0.0/24"]}]}]'));
    expect(when.check(viaGateway).allowed).toBe(true);
    expect(when.check({ ...viaGateway, destinationIp: '10.0.1.2' }).allowed).toBe(false);
  });

  it('request headers: exact, prefix, presence, notValues; repeated headers are joined with ","', () => {
    const e = http(policy('rules: [{when: [{key: "request.headers[X-Token]", values: ["admin", "ops-*"]}]}]'));
    expect(e.check(req({ headers: { 'x-token': 'admin' } })).allowed).toBe(true);
    expect(e.check(req({ headers: { 'x-token': 'ops-1' } })).allowed).toBe(true);
    expect(e.check(req({ headers: { 'x-token': 'guest' } })).allowed).toBe(false);
    expect(e.check(req({ headers: { 'x-token': ['admin', 'guest'] } })).allowed).toBe(false);
    expect(e.check(req({})).allowed).toBe(false);
    const present = http(policy('rules: [{when: [{key: "request.headers[x-token]", values: ["*"]}]}]'));
    expect(present.check(req({ headers: { 'x-token': 'x' } })).allowed).toBe(true);
    expect(present.check(req()).allowed).toBe(false);
    const deny = http(policy('action: DENY\nrules: [{when: [{key: "request.headers[x-token]", notValues: ["admin"]}]}]'));
    expect(deny.check(req({ headers: { 'x-token': 'admin' } })).allowed).toBe(true);
    expect(deny.check(req({ headers: { 'x-token': 'guest' } })).allowed).toBe(false);
    expect(deny.check(req()).allowed).toBe(false); // absent: "not admin"
  });

  it('headers can be read through a lookup function instead of a record', () => {
    const e = http(policy('rules: [{when: [{key: "request.headers[X-Token]", values: ["admin"]}]}]'));
    const seen: string[] = [];
    const header = (n: string) => (seen.push(n), n === 'x-token' ? 'admin' : undefined);
    expect(e.check(req({ headers: undefined, header })).allowed).toBe(true);
    expect(seen).toEqual(['x-token']);
  });

  it('connection.sni', () => {
    const e = http(policy('rules: [{when: [{key: connection.sni, values: ["*.example.com"]}]}]'));
    expect(e.check(req({ sni: 'api.example.com' })).allowed).toBe(true);
    expect(e.check(req({ sni: 'example.org' })).allowed).toBe(false);
    expect(e.check(req()).allowed).toBe(false);
  });

  describe('JWT: request principals, audiences, claims', () => {
    it('requestPrincipals split iss/sub at the last "/"', () => {
      const e = http(policy('rules: [{from: [{source: {requestPrincipals: ["https://issuer.example.com/user-*"]}}]}]'));
      expect(e.check(req({ jwtClaims: { iss: 'https://issuer.example.com', sub: 'user-1' } })).allowed).toBe(true);
      expect(e.check(req({ jwtClaims: { iss: 'https://issuer.example.com', sub: 'admin' } })).allowed).toBe(false);
      expect(e.check(req({ requestPrincipal: 'https://issuer.example.com/user-7' })).allowed).toBe(true);
      expect(e.check(req()).allowed).toBe(false);
      const any = http(policy('rules: [{from: [{source: {requestPrincipals: ["*"]}}]}]'));
      expect(any.check(req({ jwtClaims: { iss: 'a', sub: 'b' } })).allowed).toBe(true);
      expect(any.check(req()).allowed).toBe(false);
    });

    it('request.auth.claims[groups] matches a list-typed claim by membership, and a string claim', () => {
      const e = http(policy('rules: [{when: [{key: "request.auth.claims[groups]", values: ["group1"]}]}]'));
      expect(e.check(req({ jwtClaims: { groups: ['group1', 'group2'] } })).allowed).toBe(true);
      expect(e.check(req({ jwtClaims: { groups: 'group1' } })).allowed).toBe(true);
      expect(e.check(req({ jwtClaims: { groups: ['group2', 'group3'] } })).allowed).toBe(false);
      expect(e.check(req({ jwtClaims: { groups: 1 } })).allowed).toBe(false);
      expect(e.check(req()).allowed).toBe(false);
      const nested = http(policy('rules: [{when: [{key: "request.auth.claims[realm][roles]", values: ["admin"]}]}]'));
      expect(nested.check(req({ jwtClaims: { realm: { roles: ['user', 'admin'] } } })).allowed).toBe(true);
      expect(nested.check(req({ jwtClaims: { realm: 'admin' } })).allowed).toBe(false);
      const aud = http(policy('rules: [{when: [{key: request.auth.audiences, values: ["svc-*"]}, {key: request.auth.presenter, values: ["app"]}]}]'));
      expect(aud.check(req({ jwtClaims: { aud: ['x', 'svc-a'], azp: 'app' } })).allowed).toBe(true);
      expect(aud.check(req({ jwtClaims: { aud: 'svc-a', azp: 'other' } })).allowed).toBe(false);
    });
  });

  describe('TCP filter chains (HTTP attributes cannot be checked)', () => {
    it('a DENY rule with HTTP-only fields denies the whole port (only the TCP fields remain)', () => {
      const e = tcp(policy('action: DENY\nrules: [{to: [{operation: {methods: ["GET"], ports: ["9000"]}}]}]'));
      expect(e.check(conn({ destinationPort: 9000 })).allowed).toBe(false);
      expect(e.check(conn({ destinationPort: 9001 })).allowed).toBe(true);
      const everything = tcp(policy('action: DENY\nrules: [{to: [{operation: {methods: ["GET"]}}]}]'));
      expect(everything.check(conn({ destinationPort: 9001 })).allowed).toBe(false);
      const jwt = tcp(policy('action: DENY\nrules: [{from: [{source: {requestPrincipals: ["*"]}}]}]'));
      expect(jwt.check(conn()).allowed).toBe(false);
    });

    it('an ALLOW rule with HTTP-only fields never matches, even with TCP fields beside them', () => {
      const e = tcp(policy('rules: [{to: [{operation: {methods: ["GET"]}}]}]'));
      expect(e.check(conn()).allowed).toBe(false);
      const withPort = tcp(policy('rules: [{to: [{operation: {methods: ["GET"], ports: ["9000"]}}]}]'));
      expect(withPort.check(conn({ destinationPort: 9000 })).allowed).toBe(false);
      const mixed = tcp(policy('rules: [{to: [{operation: {methods: ["GET"]}}]}, {to: [{operation: {ports: ["9001"]}}]}]'));
      expect(mixed.check(conn({ destinationPort: 9001 })).allowed).toBe(true);
      expect(mixed.check(conn({ destinationPort: 9000 })).allowed).toBe(false);
    });

    it('identity fields work on TCP with mTLS', () => {
      const e = tcp(policy('rules: [{from: [{source: {namespaces: ["foo"]}}]}]'));
      expect(e.check(conn({ peerPrincipal: SLEEP })).allowed).toBe(true);
      expect(e.check(conn({ peerPrincipal: BAR })).allowed).toBe(false);
      expect(e.check(conn()).allowed).toBe(false);
    });
  });

  describe('CUSTOM', () => {
    const grpc: ExtAuthzProviderSpec = { name: 'ext', kind: 'envoyExtAuthzGrpc', service: 'ext.foo.svc.cluster.local', port: 9000, timeoutMs: 1000, failOpen: false, statusOnError: 403 };
    const httpProvider: ExtAuthzProviderSpec = {
      ...grpc, kind: 'envoyExtAuthzHttp', pathPrefix: '', includeRequestHeadersInCheck: [], includeAdditionalHeadersInCheck: [],
      headersToUpstreamOnAllow: [], headersToDownstreamOnDeny: [], headersToDownstreamOnAllow: [],
    };
    const custom = policy('action: CUSTOM\nprovider: {name: ext}\nrules: [{to: [{operation: {paths: ["/admin*"]}}]}]', 'ext-authz');

    it('a matching request must also pass the ext_authz provider; others skip it', () => {
      const e = http(custom, { extensionProviders: { ext: grpc } });
      const d = e.check(req({ path: '/admin/x' }));
      expect(d.allowed).toBe(true);
      expect(d.extAuthz?.config).toMatchObject({ grpcService: { envoyGrpc: { clusterName: 'outbound|9000||ext.foo.svc.cluster.local' } } });
      expect(d.extAuthz?.policy).toBe('istio-ext-authz-ext-ns[foo]-policy[ext-authz]-rule[0]');
      expect(e.check(req({ path: '/public' }))).toEqual({ allowed: true });
      expect(e.hasShadowRules).toBe(false);
    });

    it('an unknown provider denies what its policies match', () => {
      const e = http(custom, { extensionProviders: {} });
      expect(e.check(req({ path: '/admin/x' }))).toEqual({
        allowed: false,
        matchedPolicy: 'istio-ext-authz-ext-ns[foo]-policy[ext-authz]-rule[0]-deny-due-to-bad-CUSTOM-action',
      });
      expect(e.check(req({ path: '/public' })).allowed).toBe(true);
    });

    it('a dry-run CUSTOM policy is not applied (istiod would enforce it as DENY; see builder.ts)', () => {
      const warnings: string[] = [];
      const dry = custom.replace('namespace: foo }', 'namespace: foo, annotations: { "istio.io/dry-run": "true" } }');
      const e = http(dry, { extensionProviders: { ext: grpc }, warnings });
      expect(e.check(req({ path: '/admin/x' }))).toEqual({ allowed: true });
      expect(warnings).toEqual([
        'dry-run CUSTOM policies are not applied (a dry run cannot call ext_authz without enforcing it): istio-ext-authz-ext-ns[foo]-policy[ext-authz]-rule[0]',
      ]);
    });

    it('policies naming different providers deny what they match (one provider per workload)', () => {
      const other = custom.replace('{name: ext}', '{name: other}').replace('name: ext-authz,', 'name: ext-authz-2,');
      const e = http(custom + other);
      expect(e.check(req({ path: '/admin/x' })).allowed).toBe(false);
      expect(e.check(req({ path: '/public' })).allowed).toBe(true);
    });

    it('runs before DENY and ALLOW: a DENY still denies, an ALLOW still has to match', () => {
      const e = http(custom + policy('rules: [{to: [{operation: {paths: ["/admin/ok"]}}]}]', 'allow-ok'), { extensionProviders: { ext: httpProvider } });
      const ok = e.check(req({ path: '/admin/ok' }));
      expect(ok.allowed).toBe(true);
      expect(ok.matchedPolicy).toBe('ns[foo]-policy[allow-ok]-rule[0]');
      expect(ok.extAuthz?.config).toHaveProperty('httpService');
      expect(e.check(req({ path: '/admin/no' })).allowed).toBe(false);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// istio.io tasks

interface Expectation {
  after: string;
  request?: string;
  probe?: string;
  expect: unknown;
  provenance?: string;
}

function task(dir: string): { expectations: Expectation[]; snippets: Map<string, string> } {
  const base = `${DOCS_TASKS}${dir}/`;
  const { expectations } = JSON.parse(readFileSync(`${base}expectations.json`, 'utf8')) as { expectations: Expectation[] };
  const snippets = new Map<string, string>();
  for (const f of readdirSync(base)) if (f.endsWith('.yaml')) snippets.set(f.slice(0, -'.yaml'.length), readFileSync(`${base}${f}`, 'utf8'));
  return { expectations, snippets };
}

/** The snippets an expectation's `after` names ("snip_..._4 + snip_..._7", "(none)"), in order. */
function snippetsAfter(after: string, snippets: Map<string, string>): string[] {
  const names = [...after.matchAll(/snip_[\w.]+/g)].map((m) => m[0]);
  return names.map((n) => {
    if (snippets.has(n)) return n;
    const suffix = n.replace(/^snip_\.\.\./, '');
    const hits = [...snippets.keys()].filter((k) => k.endsWith(suffix));
    if (hits.length !== 1) throw new Error(`cannot resolve ${n}: ${hits.join(', ')}`);
    return hits[0];
  });
}

/** kubectl apply, in order: a policy with the same namespace/name replaces the earlier one. */
function applied(texts: string[], defaultNamespace = 'default'): AuthorizationPolicySpec[] {
  const byName = new Map<string, AuthorizationPolicySpec>();
  texts.forEach((t, i) => {
    for (const p of loadPolicies(t, `snippet-${i}.yaml`, defaultNamespace).policies) {
      byName.delete(`${p.meta.namespace}/${p.meta.name}`);
      byName.set(`${p.meta.namespace}/${p.meta.name}`, { ...p, meta: { ...p.meta, order: i } });
    }
  });
  return [...byName.values()];
}

/** "GET /get  x-token: admin" */
function parseRequest(s: string): AuthzRequest {
  const [line, ...headerParts] = s.split(/\s{2,}/);
  const [method, path] = line.split(' ');
  const headers: Record<string, string> = {};
  for (const h of headerParts) {
    const i = h.indexOf(':');
    headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  return req({ method, path, host: 'httpbin.foo:8000', headers, peerPrincipal: SLEEP });
}

const status = (d: AuthzDecision) => (d.allowed ? 200 : 403);

describe('istio.io task: authz-deny', () => {
  const { expectations, snippets } = task('authz-deny');
  for (const x of expectations) {
    it(`after ${x.after}: ${x.request} → ${String(x.expect)}`, () => {
      const ps = applied(snippetsAfter(x.after, snippets).map((n) => snippets.get(n)!), 'foo');
      const e = compileAuthzFilters(buildHttpAuthzFilters(policiesForWorkload(ps, { namespace: 'foo', labels: { app: 'httpbin', version: 'v1' } })));
      expect(status(e.check(parseRequest(x.request!)))).toBe(x.expect);
    });
  }
});

describe('istio.io task: authz-http (Bookinfo)', () => {
  const { expectations, snippets } = task('authz-http');
  const byPolicyName = new Map<string, string>();
  for (const text of snippets.values()) for (const p of loadPolicies(text).policies) byPolicyName.set(p.meta.name, text);
  const GATEWAY = 'spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account';
  const PRODUCTPAGE = 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage';
  const REVIEWS = 'spiffe://cluster.local/ns/default/sa/bookinfo-reviews';
  /** The calls a product page view makes: [callee app, caller principal]. */
  const calls: [string, string, string][] = [
    ['productpage', GATEWAY, 'GET'],
    ['details', PRODUCTPAGE, 'GET'],
    ['reviews', PRODUCTPAGE, 'GET'],
    ['ratings', REVIEWS, 'GET'],
  ];
  /** What each `expect` sentence means for those calls (true: allowed). */
  const meaning: Record<string, Record<string, boolean>> = {
    'allow-nothing': { productpage: false, details: false, reviews: false, ratings: false },
    '+productpage-viewer': { productpage: true, details: false, reviews: false, ratings: false },
    '+details-viewer,+reviews-viewer': { productpage: true, details: true, reviews: true, ratings: false },
    '+ratings-viewer': { productpage: true, details: true, reviews: true, ratings: true },
  };
  let names: string[] = [];
  for (const x of expectations) {
    // cumulative: each step adds policies to the ones before
    names = [...names, ...x.after.split(',').map((s) => s.replace(/^\+/, '').trim())];
    const step = [...names];
    it(`after ${x.after}: ${x.expect}`, () => {
      const ps = applied(step.map((n) => byPolicyName.get(n)!));
      const want = meaning[x.after];
      expect(want, `no interpretation for "${x.after}"`).toBeDefined();
      for (const [app, caller, method] of calls) {
        const e = compileAuthzFilters(buildHttpAuthzFilters(policiesForWorkload(ps, { namespace: 'default', labels: { app, version: 'v1' } })));
        expect(e.check(req({ method, peerPrincipal: caller })).allowed, `${app} from ${caller}`).toBe(want[app]);
      }
      if (want.ratings) {
        // the viewers allow GET only, and only from the intended caller
        const ratings = compileAuthzFilters(buildHttpAuthzFilters(policiesForWorkload(ps, { namespace: 'default', labels: { app: 'ratings' } })));
        expect(ratings.check(req({ method: 'POST', peerPrincipal: REVIEWS })).allowed).toBe(false);
        expect(ratings.check(req({ method: 'GET', peerPrincipal: PRODUCTPAGE })).allowed).toBe(false);
      }
    });
  }
});

describe('istio.io task: authz-jwt', () => {
  const { expectations, snippets } = task('authz-jwt');
  const samples = `${CONFORMANCE}security/tools/jwt/samples/`;
  const tokens: Record<string, Record<string, unknown>> = {
    'demo.jwt': jwtPayload(readFileSync(`${samples}demo.jwt`, 'utf8')),
    'groups-scope.jwt': jwtPayload(readFileSync(`${samples}groups-scope.jwt`, 'utf8')),
  };
  for (const x of expectations) {
    const r = x.request!;
    if (/invalidToken/.test(r)) {
      it.skip(`after ${x.after}: ${r} → ${String(x.expect)} (401 comes from RequestAuthentication, JWT verification: not authorization)`, () => {});
      continue;
    }
    it(`after ${x.after}: ${r} → ${String(x.expect)}`, () => {
      const texts = snippetsAfter(x.after, snippets).map((n) => snippets.get(n)!);
      const ps = applied(texts, 'foo');
      const e = compileAuthzFilters(buildHttpAuthzFilters(policiesForWorkload(ps, { namespace: 'foo', labels: { app: 'httpbin' } })));
      const token = Object.keys(tokens).find((t) => r.includes(t));
      const [method, url] = r.split(' ');
      const path = url.replace(/^https?:\/\/[^/]+/, '');
      expect(status(e.check(req({ method, path, ...(token ? { jwtClaims: tokens[token] } : {}) })))).toBe(x.expect);
    });
  }
});

describe('istio.io task: authz-tcp', () => {
  const { expectations, snippets } = task('authz-tcp');
  for (const x of expectations) {
    it(`after ${x.after}: ${JSON.stringify(x.expect)}`, () => {
      const ps = applied(snippetsAfter(x.after, snippets).map((n) => snippets.get(n)!), 'foo');
      const e = compileAuthzFilters(buildTcpAuthzFilters(policiesForWorkload(ps, { namespace: 'foo', labels: { app: 'tcp-echo', version: 'v1' } })));
      for (const [port, outcome] of Object.entries(x.expect as Record<string, string>)) {
        const allowed = e.check(conn({ destinationPort: Number(port), peerPrincipal: SLEEP })).allowed;
        expect(allowed ? 'succeeded' : 'rejected', `port ${port}`).toBe(outcome.replace(/^connection /, ''));
      }
    });
  }
});
