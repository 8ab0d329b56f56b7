// Reading the Envoy config dumps of Istio sidecars and the bootstrap goldens (third-party test data,
// read in place) into the plain form an xDS stream would give.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DecodeContext } from '../../../../src/config/envoy/decode/context.js';
import { fromProtoJson } from '../../../../src/config/envoy/proto/json.js';
import { findMessageType, messageType, typeNameOfUrl } from '../../../../src/config/envoy/proto/registry.js';
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
 * lacks (Istio's own, e.g. the metadata exchange filter) become Anys with an empty payload, as they
 * would arrive undecoded from the wire.
 */
export function plain<T>(typeName: string, json: unknown): T {
  const unknownAnys: { type_url: string }[] = [];
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (!v || typeof v !== 'object') return v;
    const o = v as Record<string, unknown>;
    if (typeof o['@type'] === 'string' && !findMessageType(typeNameOfUrl(o['@type']))) {
      unknownAnys.push({ type_url: o['@type'] });
      return { '@type': 'type.googleapis.com/google.protobuf.StringValue', value: `unknown-any-${unknownAnys.length - 1}` };
    }
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, strip(x)]));
  };
  const converted = fromProtoJson<T>(messageType(typeName), strip(json), { location: {} });
  const restore = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(restore);
    if (!v || typeof v !== 'object' || v instanceof Uint8Array) return v;
    const o = v as Record<string, unknown>;
    if (o.type_url === 'type.googleapis.com/google.protobuf.StringValue' && o.value instanceof Uint8Array) {
      const marker = /unknown-any-(\d+)/.exec(Buffer.from(o.value).toString('latin1'));
      if (marker) return { type_url: unknownAnys[Number(marker[1])]!.type_url, value: new Uint8Array() };
    }
    for (const k of Object.keys(o)) o[k] = restore(o[k]);
    return o;
  };
  return restore(converted) as T;
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
