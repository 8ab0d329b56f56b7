// RBAC and ext_authz filter decoding over istiod's own goldens (pilot authz builder testdata: the
// filters AuthorizationPolicies become, in proto3 JSON): decoded from the wire form, each is the
// very config/envoy shape the golden spells, and the authorization engine compiles it.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { decodeHttpExtAuthz, decodeNetworkExtAuthz } from '../../../../src/config/envoy/decode/ext-authz.js';
import { decodeRbacFilter } from '../../../../src/config/envoy/decode/rbac.js';
import { fromProtoJson } from '../../../../src/config/envoy/proto/json.js';
import { messageType, typeNameOfUrl } from '../../../../src/config/envoy/proto/registry.js';
import { compileAuthzFilters } from '../../../../src/security/authz/rbac.js';
import type { AuthzFilter } from '../../../../src/config/envoy/rbac.js';
import { sidecarNode } from '../../helpers.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const GOLDENS = path.resolve(here, '../../../../../shared/conformance/istio/pilot/pkg/security/authz/builder/testdata');
const ref = { kind: 'Listener', name: 'virtualInbound' };
const warnings: string[] = [];
const ctx = { node: sidecarNode(), warn: (w: string) => warnings.push(w) };

type Json = Record<string, any>;

const goldens = ['http', 'tcp'].flatMap((dir) =>
  readdirSync(path.join(GOLDENS, dir))
    .filter((f) => /-out\d?\.yaml$/.test(f) && !f.startsWith('extended-'))
    .map((f) => ({ file: `${dir}/${f}`, filter: parse(readFileSync(path.join(GOLDENS, dir, f), 'utf8')) as { name: string; typedConfig: Json } })),
);

function wire(typedConfig: Json): Json {
  const { '@type': url, ...json } = typedConfig;
  return fromProtoJson<Json>(messageType(typeNameOfUrl(url)), json, { location: { kind: 'Filter' } });
}

/** The golden as config/envoy spells it: proto3 leaves defaults out (ALLOW, no policies, empty prefixes), the Snapshot spells them. */
function rbacShape(t: Json, network: boolean): Json {
  const { '@type': _, ...c } = t;
  const rules = (r: Json | undefined) => r && { action: r.action ?? 'ALLOW', policies: r.policies ?? {} };
  return {
    ...c,
    ...(c.rules ? { rules: rules(c.rules) } : {}),
    ...(c.shadowRules ? { shadowRules: rules(c.shadowRules) } : {}),
    shadowRulesStatPrefix: c.shadowRulesStatPrefix ?? '',
    ...(network ? { statPrefix: c.statPrefix ?? '' } : {}),
  };
}

const ms = (d: string) => Math.round(Number(d.slice(0, -1)) * 1000);

/** ext_authz as config/envoy spells it: durations in ms, the status on error as a number. */
function extAuthzShape(t: Json): Json {
  const { '@type': _, ...c } = structuredClone(t);
  if (c.grpcService) c.grpcService = { envoyGrpc: c.grpcService.envoyGrpc, timeoutMs: ms(c.grpcService.timeout) };
  if (c.httpService) c.httpService.serverUri = { uri: c.httpService.serverUri.uri, cluster: c.httpService.serverUri.cluster, timeoutMs: ms(c.httpService.serverUri.timeout) };
  if (c.statusOnError) c.statusOnError = { code: { Forbidden: 403 }[c.statusOnError.code as string] ?? c.statusOnError.code };
  return c;
}

describe("istiod's authorization filters", () => {
  it('are there to read', () => {
    expect(goldens.length).toBeGreaterThanOrEqual(36);
  });

  it.each(goldens.map((g) => [g.file, g] as const))('%s decodes to exactly what the golden spells', (_, g) => {
    const { name, typedConfig } = g.filter;
    const network = name.startsWith('envoy.filters.network.');
    let decoded: unknown;
    let expected: Json;
    if (name.endsWith('.rbac')) {
      decoded = decodeRbacFilter(wire(typedConfig), network ? 'network' : 'http', ctx, ref, 'typed_config');
      expected = rbacShape(typedConfig, network);
    } else {
      decoded = network ? decodeNetworkExtAuthz(wire(typedConfig), ctx, ref, 'typed_config') : decodeHttpExtAuthz(wire(typedConfig), ctx, ref, 'typed_config');
      expected = extAuthzShape(typedConfig);
    }
    expect(decoded).toEqual(expected);
    // an ext_authz filter runs where the RBAC filter before it (out1) selects CUSTOM policies
    const chain = [{ name, typedConfig: decoded } as AuthzFilter];
    if (!name.endsWith('.rbac')) {
      const rbac = goldens.find((x) => x.file === g.file.replace('-out2', '-out1'))!.filter;
      chain.unshift({ name: rbac.name, typedConfig: decodeRbacFilter(wire(rbac.typedConfig), network ? 'network' : 'http', ctx, ref, 'typed_config') } as AuthzFilter);
    }
    expect(() => compileAuthzFilters(chain)).not.toThrow();
    expect(warnings).toEqual([]);
  });
});

describe('refused rather than dropped', () => {
  const rbac = (policy: Json) => () => decodeRbacFilter(wire({ '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC', rules: { policies: { p: policy } } }), 'http', ctx, ref, 'typed_config');
  it.each([
    ['a destination port range', { permissions: [{ destinationPortRange: { start: 80, end: 90 } }], principals: [{ any: true }] }, 'field typed_config.rules.policies.p.permissions[0].destination_port_range: RBAC permission destination_port_range is not supported'],
    ['a CEL condition', { permissions: [{ any: true }], principals: [{ any: true }], condition: { constExpr: { boolValue: true } } }, 'CEL conditions are not supported'],
    ['a filter state other than the peer principal', { permissions: [{ any: true }], principals: [{ filterState: { key: 'io.istio.local_principal', stringMatch: { exact: 'x' } } }] }, 'only filter state io.istio.peer_principal'],
    ['a header range match', { permissions: [{ header: { name: 'x', rangeMatch: { start: '1', end: '2' } } }], principals: [{ any: true }] }, 'header matcher range_match is not supported'],
    ['a bool value match', { permissions: [{ any: true }], principals: [{ metadata: { filter: 'f', path: [{ key: 'k' }], value: { boolMatch: true } } }] }, 'value matcher bool_match is not supported'],
  ])('%s', (_, policy, message) => {
    expect(rbac(policy)).toThrow(message);
  });
});
