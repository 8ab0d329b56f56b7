import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { resolvePeerAuthentication, selectPeerAuthentication } from '../../src/config/istio/select-peer-authentication.js';
import { CONFORMANCE, parseSecurity, parseSecurityFile, securityError } from './security-helpers.js';

const pa = (ns: string, name: string, body: string) =>
  `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: ${name}\n  namespace: ${ns}\nspec:\n${body.replace(/^/gm, '  ')}\n---\n`;

describe('PeerAuthentication parsing (Istio validation)', () => {
  it('parses mode, selector and port-level settings', () => {
    const { peer } = parseSecurity(pa('foo', 'finance', 'selector:\n  matchLabels:\n    app: finance\nmtls:\n  mode: STRICT\nportLevelMtls:\n  8080:\n    mode: DISABLE\n  "9090":\n    mode: UNSET\n  443: {}'));
    expect(peer[0]).toMatchObject({
      selector: { app: 'finance' },
      mode: 'STRICT',
      portLevelMtls: [{ port: 443, mode: 'UNSET' }, { port: 8080, mode: 'DISABLE' }, { port: 9090, mode: 'UNSET' }],
    });
    expect(peer[0].meta).toMatchObject({ kind: 'PeerAuthentication', name: 'finance', namespace: 'foo' });
  });

  it('treats an absent mtls or mode as UNSET, an empty selector as none', () => {
    const { peer } = parseSecurity(pa('foo', 'a', 'selector: {}') + pa('foo', 'b', 'mtls: {}') + pa('foo', 'c', 'selector:\n  matchLabels: {}\nmtls:\n  mode: PERMISSIVE'));
    expect(peer.map((p) => [p.selector, p.mode])).toEqual([[undefined, 'UNSET'], [undefined, 'UNSET'], [undefined, 'PERMISSIVE']]);
  });

  it('refuses portLevelMtls without a selector, naming file, line and field', () => {
    const text = pa('foo', 'default', 'mtls:\n  mode: STRICT\nportLevelMtls:\n  "80":\n    mode: DISABLE');
    const err = securityError(text, 'pa.yaml');
    expect(err.message).toContain('portLevelMtls requires selector');
    expect(err.location).toMatchObject({ file: 'pa.yaml', line: 10, kind: 'PeerAuthentication', name: 'default', namespace: 'foo', field: 'spec.portLevelMtls' });
    // an empty selector is no selector
    expect(securityError(pa('foo', 'x', 'selector: {matchLabels: {}}\nportLevelMtls:\n  80: {mode: STRICT}')).message).toContain('portLevelMtls requires selector');
  });

  it("follows Istio's peerauth-invalid cases", () => {
    const sel = 'selector:\n  matchLabels:\n    foo: bar\n';
    expect(securityError(pa('ns', 'bad-mode', 'mtls:\n  mode: BLAH')).message).toContain('must be one of UNSET, DISABLE, PERMISSIVE, STRICT, got "BLAH"');
    expect(securityError(pa('ns', 'bad-port', `${sel}portLevelMtls:\n  "acd":\n    mode: STRICT`)).location.field).toBe('spec.portLevelMtls.acd');
    expect(securityError(pa('ns', 'empty-port-level', `${sel}portLevelMtls: {}`)).message).toContain('must have at least one element');
    expect(securityError(pa('ns', 'zero-port', `${sel}portLevelMtls:\n  "0":\n    mode: STRICT`)).message).toContain('port must be between 1 and 65535');
    expect(securityError(pa('ns', 'high-port', `${sel}portLevelMtls:\n  "42949672":\n    mode: STRICT`)).message).toContain('port must be between 1 and 65535');
    expect(securityError(pa('ns', 'x', 'mtls:\n  mode: STRICT\nportLevelTls: {}')).message).toContain('unknown field "portLevelTls"');
    expect(securityError(pa('ns', 'x', 'selector:\n  matchLabels:\n    "app": "*"')).message).toContain('wildcard is not supported in selector');
    expect(securityError(pa('ns', 'x', 'selector:\n  matchLabels:\n    "": "a"')).message).toContain('empty key is not supported');
  });

  it("parses Istio's own PeerAuthentication test data", () => {
    for (const f of ['tests/testdata/config/authn.yaml', 'tests/testdata/config/peer-authn-strict.yaml']) {
      expect(parseSecurityFile(join(CONFORMANCE, f)).peer.length).toBe(1);
    }
  });
});

describe('PeerAuthentication precedence (reference and concept page examples)', () => {
  const finance = { namespace: 'foo', labels: { app: 'finance' } };
  const other = { namespace: 'foo', labels: { app: 'other' } };
  const elsewhere = { namespace: 'bar', labels: { app: 'finance' } };

  it('defaults to PERMISSIVE without any policy', () => {
    expect(selectPeerAuthentication([], finance)).toBe('PERMISSIVE');
    expect(selectPeerAuthentication([], finance, 'istio-system', 8080)).toBe('PERMISSIVE');
  });

  it('namespace-wide STRICT applies to every workload of the namespace only', () => {
    const { peer } = parseSecurity(pa('foo', 'default', 'mtls:\n  mode: STRICT'));
    expect(selectPeerAuthentication(peer, finance)).toBe('STRICT');
    expect(selectPeerAuthentication(peer, other)).toBe('STRICT');
    expect(selectPeerAuthentication(peer, elsewhere)).toBe('PERMISSIVE');
  });

  it('a mesh-wide policy lives in the root namespace', () => {
    const { peer } = parseSecurity(pa('istio-system', 'default', 'mtls:\n  mode: STRICT'));
    expect(selectPeerAuthentication(peer, elsewhere)).toBe('STRICT');
    expect(selectPeerAuthentication(peer, elsewhere, 'mesh-root')).toBe('PERMISSIVE'); // root namespace is configurable
    const custom = parseSecurity(pa('mesh-root', 'default', 'mtls:\n  mode: STRICT')).peer;
    expect(selectPeerAuthentication(custom, elsewhere, 'mesh-root')).toBe('STRICT');
  });

  it('namespace PERMISSIVE, workload finance STRICT', () => {
    const { peer } = parseSecurity(pa('foo', 'default', 'mtls:\n  mode: PERMISSIVE') + pa('foo', 'finance', 'selector:\n  matchLabels:\n    app: finance\nmtls:\n  mode: STRICT'));
    expect(selectPeerAuthentication(peer, finance)).toBe('STRICT');
    expect(selectPeerAuthentication(peer, other)).toBe('PERMISSIVE');
    expect(selectPeerAuthentication(peer, { namespace: 'foo', labels: { app: 'finance', version: 'v1' } })).toBe('STRICT');
  });

  it('STRICT for finance but port 8080 (the workload port) in plaintext', () => {
    const { peer } = parseSecurity(pa('foo', 'default', 'selector:\n  matchLabels:\n    app: finance\nmtls:\n  mode: STRICT\nportLevelMtls:\n  8080:\n    mode: DISABLE'));
    expect(selectPeerAuthentication(peer, finance, 'istio-system', 8080)).toBe('DISABLE');
    expect(selectPeerAuthentication(peer, finance, 'istio-system', 9080)).toBe('STRICT');
    expect(selectPeerAuthentication(peer, finance)).toBe('STRICT');
  });

  it('UNSET inherits the namespace (or mesh) mode, port 8080 disabled', () => {
    const workload = pa('foo', 'default', 'selector:\n  matchLabels:\n    app: finance\nmtls:\n  mode: UNSET\nportLevelMtls:\n  8080:\n    mode: DISABLE');
    const alone = parseSecurity(workload).peer;
    expect(selectPeerAuthentication(alone, finance)).toBe('PERMISSIVE');
    expect(selectPeerAuthentication(alone, finance, undefined, 8080)).toBe('DISABLE');
    const withNs = parseSecurity(pa('foo', 'ns', 'mtls:\n  mode: STRICT') + workload).peer;
    expect(selectPeerAuthentication(withNs, finance)).toBe('STRICT');
    expect(selectPeerAuthentication(withNs, finance, undefined, 8080)).toBe('DISABLE');
    const withMesh = parseSecurity(pa('istio-system', 'mesh', 'mtls:\n  mode: STRICT') + workload).peer;
    expect(selectPeerAuthentication(withMesh, finance)).toBe('STRICT');
  });

  it('concept page: example-workload-policy disables port 80 only, the namespace policy covers the rest', () => {
    const { peer } = parseSecurity(
      pa('foo', 'example-policy', 'mtls:\n  mode: STRICT') +
        pa('foo', 'example-workload-policy', 'selector:\n   matchLabels:\n     app: example-app\nportLevelMtls:\n  80:\n    mode: DISABLE'),
    );
    const app = { namespace: 'foo', labels: { app: 'example-app' } };
    expect(selectPeerAuthentication(peer, app, undefined, 80)).toBe('DISABLE'); // Service port 8000 → targetPort 80
    expect(selectPeerAuthentication(peer, app, undefined, 8000)).toBe('STRICT');
    expect(selectPeerAuthentication(peer, app)).toBe('STRICT');
  });

  it('several policies at one level: the oldest wins, the newer ones are ignored', () => {
    const ns = parseSecurity(pa('foo', 'first', 'mtls:\n  mode: DISABLE') + pa('foo', 'second', 'mtls:\n  mode: STRICT')).peer;
    expect(selectPeerAuthentication(ns, other)).toBe('DISABLE');
    expect(selectPeerAuthentication([...ns].reverse(), other)).toBe('DISABLE'); // order = age, not list position
    const wl = parseSecurity(
      pa('foo', 'old', 'selector:\n  matchLabels:\n    app: finance\nmtls:\n  mode: PERMISSIVE') +
        pa('foo', 'new', 'selector:\n  matchLabels:\n    app: finance\n    tier: web\nmtls:\n  mode: STRICT\nportLevelMtls:\n  80:\n    mode: STRICT'),
    ).peer;
    const both = { namespace: 'foo', labels: { app: 'finance', tier: 'web' } };
    const r = resolvePeerAuthentication(wl, both);
    expect(r.workload?.meta.name).toBe('old');
    expect(r.mode).toBe('PERMISSIVE');
    expect(r.perPort.size).toBe(0); // the ignored policy's port settings do not apply either
  });

  it('ignores workload-selector policies in the root namespace (and the parser warns about them)', () => {
    const { peer, warnings } = parseSecurity(pa('istio-system', 'sel', 'selector:\n  matchLabels:\n    app: finance\nmtls:\n  mode: STRICT'));
    expect(warnings).toEqual([expect.stringMatching(/^PeerAuthentication istio-system\/sel: a PeerAuthentication with a workload selector is ignored in the root namespace/)]);
    expect(selectPeerAuthentication(peer, finance)).toBe('PERMISSIVE');
    expect(selectPeerAuthentication(peer, { namespace: 'istio-system', labels: { app: 'finance' } })).toBe('PERMISSIVE');
  });

  it('UNSET at mesh level is PERMISSIVE; UNSET at namespace level inherits the mesh', () => {
    const mesh = parseSecurity(pa('istio-system', 'default', 'mtls:\n  mode: UNSET')).peer;
    expect(selectPeerAuthentication(mesh, finance)).toBe('PERMISSIVE');
    const both = parseSecurity(pa('istio-system', 'default', 'mtls:\n  mode: STRICT') + pa('foo', 'default', 'mtls: {}')).peer;
    expect(selectPeerAuthentication(both, finance)).toBe('STRICT');
    const nsDisable = parseSecurity(pa('istio-system', 'default', 'mtls:\n  mode: STRICT') + pa('foo', 'default', 'mtls:\n  mode: DISABLE')).peer;
    expect(selectPeerAuthentication(nsDisable, finance)).toBe('DISABLE');
  });

  it('an UNSET port inherits the workload mode resolved through the hierarchy', () => {
    const { peer } = parseSecurity(
      pa('foo', 'ns', 'mtls:\n  mode: STRICT') + pa('foo', 'wl', 'selector:\n  matchLabels:\n    app: finance\nportLevelMtls:\n  80:\n    mode: UNSET\n  81:\n    mode: PERMISSIVE'),
    );
    expect(selectPeerAuthentication(peer, finance, undefined, 80)).toBe('STRICT');
    expect(selectPeerAuthentication(peer, finance, undefined, 81)).toBe('PERMISSIVE');
  });
});

/**
 * The Istio "Authentication Policy" task (istio.io snips.sh): namespaces foo and bar run httpbin (container
 * port 80) and sleep with sidecars, legacy without; every sleep calls every httpbin. A legacy client speaks
 * plaintext, which a STRICT workload refuses (curl 000); sidecar clients use mTLS; httpbin.legacy has no
 * proxy.
 */
describe('Authentication Policy task (docs-tasks/security/authn-policy)', () => {
  const dir = join(CONFORMANCE, 'docs-tasks/security/authn-policy');
  const expectations = JSON.parse(readFileSync(join(dir, 'expectations.json'), 'utf8')) as { expectations: Record<string, unknown>[] };
  const namespaces = ['foo', 'bar', 'legacy'];
  const sidecars = new Set(['foo', 'bar']);

  /**
   * The task's state is cumulative, as the kubectl applies in snips.sh: a snippet replaces the policy of
   * the same namespace/name (keeping its age); the mesh-wide policy is deleted after its step
   * ("namespacewide ... only" starts from it being gone), and the later steps keep foo's namespace policy
   * ("+ns foo STRICT").
   */
  const state = new Map<string, string>();
  function apply(after: string) {
    if (after.includes(' only')) state.clear();
    for (const name of new Set(after.match(/snip_\w+/g) ?? [])) {
      const text = readFileSync(join(dir, `${name}.yaml`), 'utf8');
      const [{ meta }] = parseSecurity(text, name).peer;
      state.set(`${meta.namespace}/${meta.name}`, text);
    }
    if (after.includes('+ns foo STRICT')) expect(state.has('foo/default')).toBe(true);
    return parseSecurity([...state.values()].join('\n---\n'), dir).peer;
  }

  function probe(peer: ReturnType<typeof apply>, from: string, to: string): 200 | '000' {
    if (!sidecars.has(to) || sidecars.has(from)) return 200;
    const mode = selectPeerAuthentication(peer, { namespace: to, labels: { app: 'httpbin' } }, 'istio-system', 80);
    return mode === 'STRICT' ? '000' : 200;
  }

  const peerSteps = expectations.expectations.filter((e) => typeof e.after === 'string' && ('matrix' in e || String(e.request ?? '').startsWith('legacy')));

  it('covers every peer-authentication step of the task', () => {
    expect(peerSteps.map((e) => e.after)).toEqual([
      '(no policy)',
      'snip_globally_enabling_istio_mutual_tls_in_strict_mode_1',
      'snip_namespacewide_policy_1 only',
      'snip_enable_mutual_tls_per_workload_1 (+ns foo STRICT)',
      'snip_enable_mutual_tls_per_workload_4 (port 80 = container port DISABLE)',
      'snip_policy_precedence_1 (+ns foo STRICT)',
    ]);
  });

  it.each(peerSteps.map((s) => [s.after as string, s] as const))('after %s', (after, step) => {
    const peer = apply(after);
    if (after.startsWith('snip_globally')) state.clear(); // snips.sh deletes the mesh-wide policy right after
    const got: Record<string, 200 | '000'> = {};
    for (const from of namespaces) for (const to of namespaces) got[`${from}->${to}`] = probe(peer, from, to);
    if (typeof step.matrix === 'string') {
      expect(step.matrix).toMatch(/^all 9 combinations 200/);
      expect(Object.values(got).every((c) => c === 200)).toBe(true);
    } else if (step.matrix) {
      const m = step.matrix as Record<string, number | string>;
      for (const [pair, code] of Object.entries(got)) {
        const want = m[pair] ?? m.others;
        expect([pair, code], `${pair} after ${step.after}`).toEqual([pair, String(want).startsWith('000') ? '000' : 200]);
      }
    } else {
      const [from, to] = String(step.request).match(/(\w+) -> httpbin\.(\w+)/)!.slice(1);
      expect(probe(peer, from, to)).toBe(step.expect);
    }
  });
});
