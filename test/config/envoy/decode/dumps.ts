// Reading the Envoy config dumps of Istio sidecars and the bootstrap goldens (third-party test data,
// read in place) into the plain form an xDS stream would give.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DecodeContext } from '../../../../src/config/envoy/decode/context.js';
import { fromProtoJson } from '../../../../src/config/envoy/proto/json.js';
import { messageType } from '../../../../src/config/envoy/proto/registry.js';
import type { NodeIdentity } from '../../../../src/config/snapshot.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const ISTIO = path.resolve(here, '../../../../../shared/conformance/istio');
export const CONFIG_DUMPS = path.join(ISTIO, 'config-dumps/istioctl/pkg');
export const BOOTSTRAP_GOLDENS = path.join(ISTIO, 'pkg/bootstrap/testdata');

/** The config dumps that are JSON, by path under CONFIG_DUMPS. */
export const JSON_DUMPS = [
  'proxyconfig/testdata/config_dump.json',
  'describe/testdata/describe/http_config.json',
  'writer/compare/testdata/configdump.json',
  'writer/envoy/configdump/testdata/endpoint/configdump.json',
  'writer/envoy/configdump/testdata/secret/istio/config_dump.json',
  'writer/envoy/configdump/testdata/secret/spire/config_dump.json',
];

export function readDump(file: string): unknown {
  return JSON.parse(readFileSync(path.join(CONFIG_DUMPS, file), 'utf8'));
}

/** Every object in a JSON tree whose `@type` ends with `suffix`, without its `@type`. */
export function findTyped(tree: unknown, suffix: string, out: Record<string, unknown>[] = []): Record<string, unknown>[] {
  if (Array.isArray(tree)) for (const v of tree) findTyped(v, suffix, out);
  else if (tree && typeof tree === 'object') {
    const { '@type': type, ...rest } = tree as Record<string, unknown>;
    if (typeof type === 'string' && type.endsWith(suffix)) out.push(rest);
    for (const v of Object.values(rest)) findTyped(v, suffix, out);
  }
  return out;
}

/** The static clusters of every bootstrap golden (istio-agent's), each once by content. */
export function goldenClusters(): { file: string; cluster: Record<string, unknown> }[] {
  const seen = new Set<string>();
  const out: { file: string; cluster: Record<string, unknown> }[] = [];
  for (const file of readdirSync(BOOTSTRAP_GOLDENS).filter((f) => f.endsWith('_golden.json')).sort()) {
    const bootstrap = JSON.parse(readFileSync(path.join(BOOTSTRAP_GOLDENS, file), 'utf8')) as { static_resources?: { clusters?: Record<string, unknown>[] } };
    for (const cluster of bootstrap.static_resources?.clusters ?? []) {
      const key = JSON.stringify(cluster);
      if (!seen.has(key)) {
        seen.add(key);
        out.push({ file, cluster });
      }
    }
  }
  return out;
}

/**
 * A message from its JSON (a config dump's) to the plain form. Any payloads of types the shipped API
 * lacks (Istio's own, e.g. the metadata exchange filter) keep their URL with an empty payload, as
 * they would arrive undecoded from the wire.
 */
export function plain<T>(typeName: string, json: unknown, file?: string): T {
  return fromProtoJson<T>(messageType(typeName), json, { location: file ? { file } : {}, onUnknownAnyType: () => {} });
}

/** The config dumps that hold listeners and route configurations, by path under CONFIG_DUMPS. */
export const DUMP_FILES = [
  'authz/testdata/configdump.yaml',
  'proxyconfig/testdata/config_dump.json',
  'describe/testdata/describe/http_config.json',
  'describe/testdata/describe/tls_config.json',
  'writer/compare/testdata/configdump.json',
  'writer/envoy/configdump/testdata/routes/istio-gateway-http-route-prefix/configdump.json',
];

type Json = Record<string, any>;

export interface DumpResource {
  file: string;
  name: string;
  message: Json;
}

function configs(file: string): Json[] {
  return (readDump(file) as Json).configs ?? [];
}

/** Every listener (static and dynamic) of a dump, in the plain form. */
export function dumpListeners(file: string): DumpResource[] {
  const out: DumpResource[] = [];
  for (const c of configs(file)) {
    if (!String(c['@type']).endsWith('ListenersConfigDump')) continue;
    const all = [...(c.static_listeners ?? []).map((l: Json) => l.listener), ...(c.dynamic_listeners ?? []).map((l: Json) => l.active_state?.listener)];
    for (const l of all.filter(Boolean)) {
      const { '@type': _, ...json } = l as Json;
      const message = plain<Json>('envoy.config.listener.v3.Listener', json, file);
      out.push({ file, name: message.name ?? `${message.address?.socket_address?.address}:${message.address?.socket_address?.port_value}`, message });
    }
  }
  return out;
}

/** Every route configuration (static and dynamic) of a dump, in the plain form. */
export function dumpRouteConfigs(file: string): DumpResource[] {
  const out: DumpResource[] = [];
  for (const c of configs(file)) {
    if (!String(c['@type']).endsWith('RoutesConfigDump')) continue;
    for (const r of [...(c.static_route_configs ?? []), ...(c.dynamic_route_configs ?? [])]) {
      const { '@type': _, ...json } = r.route_config as Json;
      const message = plain<Json>('envoy.config.route.v3.RouteConfiguration', json, file);
      out.push({ file, name: message.name ?? '(unnamed)', message });
    }
  }
  return out;
}

/** A decode context that collects its warnings. */
export function collectingContext(): DecodeContext & { warnings: string[] } {
  const warnings: string[] = [];
  return { node: {} as NodeIdentity, warn: (m) => warnings.push(m), warnings };
}

/** istiod's auto-mTLS socket of `outbound|9080|v1|productpage` (describe/http_config.json) as the Snapshot holds it. */
export const PRODUCTPAGE_MESH_TLS = {
  name: 'envoy.transport_sockets.tls',
  typedConfig: {
    commonTlsContext: {
      tlsParams: { tlsMinimumProtocolVersion: 'TLSv1_2', tlsMaximumProtocolVersion: 'TLSv1_3' },
      alpnProtocols: ['istio-peer-exchange', 'istio'],
      tlsCertificateSdsSecretConfigs: [{ name: 'default', sdsConfig: { grpcCluster: 'sds-grpc' } }],
      combinedValidationContext: {
        defaultValidationContext: { matchSubjectAltNames: [{ exact: 'spiffe://cluster.local/ns/default/sa/bookinfo-productpage' }, { exact: 'spiffe://cluster.local/ns/default/sa/default' }] },
        validationContextSdsSecretConfig: { name: 'ROOTCA', sdsConfig: { grpcCluster: 'sds-grpc' } },
      },
    },
    sni: 'outbound_.9080_.v1_.productpage.default.svc.cluster.local',
  },
};
