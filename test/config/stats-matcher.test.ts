// The stats a sidecar keeps, as pilot-agent's bootstrap lists them (stats_config.stats_matcher), checked
// against Istio's own bootstrap goldens; and the same list reaching the Snapshot from meshConfig,
// PROXY_CONFIG and the pod's sidecar.istio.io/statsInclusion* annotations.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { istioStatsMatcher } from '../../src/config/istio/stats-matcher.js';
import { parseProxyConfigText } from '../../src/config/istio/proxy-config.js';
import type { StringMatch } from '../../src/config/snapshot.js';
import { sidecarNode, translate, yaml } from './helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const GOLDENS = path.resolve(here, '../../../shared/conformance/istio/pkg/bootstrap/testdata');

interface GoldenPattern {
  prefix?: string;
  suffix?: string;
  safe_regex?: { regex: string };
}
function golden(name: string): { patterns: StringMatch[]; metadata: Record<string, unknown> } {
  const g = JSON.parse(readFileSync(path.join(GOLDENS, `${name}_golden.json`), 'utf8')) as {
    node: { metadata: Record<string, unknown> };
    stats_config: { stats_matcher: { inclusion_list: { patterns: GoldenPattern[] } } };
  };
  const patterns = g.stats_config.stats_matcher.inclusion_list.patterns.map((p): StringMatch => (p.prefix !== undefined ? { prefix: p.prefix } : p.suffix !== undefined ? { suffix: p.suffix } : { regex: p.safe_regex!.regex }));
  return { patterns, metadata: g.node.metadata };
}

describe("istioStatsMatcher: pilot-agent's inclusion list", () => {
  it('default golden: the required prefixes, suffixes and regex, and the standard metrics', () => {
    const { patterns } = golden('default');
    expect(istioStatsMatcher(undefined, {}, ['10.1.1.1'])).toEqual({ inclusionList: patterns });
  });

  it('stats_inclusion golden: the annotations first in each kind, {pod_ip} as every instance IP', () => {
    const { patterns, metadata } = golden('stats_inclusion');
    const annotations = metadata.ANNOTATIONS as Record<string, string>;
    const ips = (metadata.INSTANCE_IPS as string).split(',');
    expect(istioStatsMatcher(undefined, annotations, ips)).toEqual({ inclusionList: patterns });
  });

  it("ProxyConfig.proxyStatsMatcher when the pod has no annotation of that kind; an annotation replaces it (not merged)", () => {
    const m = istioStatsMatcher({ inclusionPrefixes: ['cluster.outbound|'], inclusionSuffixes: ['upstream_rq_total'] }, { 'sidecar.istio.io/statsInclusionSuffixes': 'upstream_cx_total' }, ['10.0.0.9']);
    const list = 'inclusionList' in m ? m.inclusionList : [];
    expect(list).toContainEqual({ prefix: 'cluster.outbound|' });
    expect(list).toContainEqual({ suffix: 'upstream_cx_total' });
    expect(list).not.toContainEqual({ suffix: 'upstream_rq_total' });
  });

  it('EXIT_ON_ZERO_ACTIVE_CONNECTIONS keeps downstream_cx_active, which the drain polls', () => {
    const list = (on: boolean) => (istioStatsMatcher(undefined, {}, ['10.0.0.9'], on) as { inclusionList: StringMatch[] }).inclusionList;
    expect(list(true)).toContainEqual({ suffix: 'downstream_cx_active' });
    expect(list(false)).not.toContainEqual({ suffix: 'downstream_cx_active' });
  });

  it('an invalid regex or an empty entry in an annotation is an error naming the annotation', () => {
    expect(() => istioStatsMatcher(undefined, { 'sidecar.istio.io/statsInclusionRegexps': 'http\\.(a' }, ['10.0.0.9'])).toThrow(ConfigError);
    expect(() => istioStatsMatcher(undefined, { 'sidecar.istio.io/statsInclusionRegexps': 'http\\.(a' }, ['10.0.0.9'])).toThrow(/statsInclusionRegexps annotation.*invalid regex/);
    expect(() => istioStatsMatcher(undefined, { 'sidecar.istio.io/statsInclusionPrefixes': 'a,,b' }, ['10.0.0.9'])).toThrow(/statsInclusionPrefixes annotation.*empty entry/);
  });
});

describe('proxyStatsMatcher in a ProxyConfig', () => {
  it('read from PROXY_CONFIG; a bad regex names its field', () => {
    const warnings: string[] = [];
    expect(parseProxyConfigText('proxyStatsMatcher: { inclusionRegexps: [".*outlier_detection.*"], inclusionPrefixes: [cluster.outbound] }', 'PROXY_CONFIG', warnings)).toEqual({
      proxyStatsMatcher: { inclusionRegexps: ['.*outlier_detection.*'], inclusionPrefixes: ['cluster.outbound'] },
    });
    expect(warnings).toEqual([]);
    expect(() => parseProxyConfigText('proxyStatsMatcher: { inclusionRegexps: ["(a"] }', 'PROXY_CONFIG', [])).toThrow(/proxyStatsMatcher\.inclusionRegexps\[0\].*invalid regex/);
    expect(() => parseProxyConfigText('proxyStatsMatcher: { inclusionPrefix: [a] }', 'PROXY_CONFIG', [])).toThrow(/inclusionPrefix/);
  });

  it("meshConfig.defaultConfig's reaches the Snapshot with pilot-agent's own list; the pod's annotations win per kind", () => {
    const mesh = yaml`
apiVersion: meshconfig.istio.io/v1alpha1
kind: MeshConfig
defaultConfig:
  proxyStatsMatcher:
    inclusionPrefixes: ['http.{pod_ip}_']
    inclusionSuffixes: [upstream_rq_retry]
`;
    const t = translate(mesh, sidecarNode({ ip: '10.1.1.1', annotations: { 'sidecar.istio.io/statsInclusionSuffixes': 'upstream_cx_active' } }));
    const list = (t.snapshot.statsMatcher as { inclusionList: StringMatch[] }).inclusionList;
    expect(list).toContainEqual({ prefix: 'http.10.1.1.1_' });
    expect(list).toContainEqual({ prefix: 'cluster.xds-grpc' });
    expect(list).toContainEqual({ suffix: 'upstream_cx_active' });
    expect(list).not.toContainEqual({ suffix: 'upstream_rq_retry' });
  });
});
