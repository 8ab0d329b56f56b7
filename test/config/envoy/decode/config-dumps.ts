/**
 * The listeners and route configurations of Istio's config dumps (conformance config-dumps: real
 * Envoy /config_dump output of Istio proxies), in the plain form a decoder receives from xDS.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromProtoJson } from '../../../../src/config/envoy/proto/json.js';
import { findMessageType, messageType, typeNameOfUrl } from '../../../../src/config/envoy/proto/registry.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const DUMPS = path.resolve(here, '../../../../../shared/conformance/istio/config-dumps/istioctl/pkg');

export const DUMP_FILES = [
  'authz/testdata/configdump.yaml',
  'proxyconfig/testdata/config_dump.json',
  'describe/testdata/describe/http_config.json',
  'describe/testdata/describe/tls_config.json',
  'writer/compare/testdata/configdump.json',
  'writer/envoy/configdump/testdata/routes/istio-gateway-http-route-prefix/configdump.json',
];

type Json = Record<string, any>;

/**
 * An Any of one of Istio's own types (not in the Envoy API) becomes a TypedStruct naming it, so the
 * JSON converts: decoders recognise Istio's types by name alike in both forms.
 */
function wrapIstioTypes(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(wrapIstioTypes);
  if (typeof v !== 'object' || v === null) return v;
  const o: Json = {};
  for (const [k, x] of Object.entries(v)) o[k] = wrapIstioTypes(x);
  if (typeof o['@type'] === 'string' && !findMessageType(typeNameOfUrl(o['@type']))) {
    const { '@type': url, ...fields } = o;
    return { '@type': 'type.googleapis.com/udpa.type.v1.TypedStruct', type_url: url, value: fields };
  }
  return o;
}

export interface DumpResource {
  file: string;
  name: string;
  message: Json;
}

function configs(file: string): Json[] {
  return (JSON.parse(readFileSync(path.join(DUMPS, file), 'utf8')) as Json).configs ?? [];
}

/** Every listener (static and dynamic) of a dump, in the plain form. */
export function dumpListeners(file: string): DumpResource[] {
  const type = messageType('envoy.config.listener.v3.Listener');
  const out: DumpResource[] = [];
  for (const c of configs(file)) {
    if (!String(c['@type']).endsWith('ListenersConfigDump')) continue;
    const all = [...(c.static_listeners ?? []).map((l: Json) => l.listener), ...(c.dynamic_listeners ?? []).map((l: Json) => l.active_state?.listener)];
    for (const l of all.filter(Boolean)) {
      const { '@type': _, ...json } = l as Json;
      const message = fromProtoJson<Json>(type, wrapIstioTypes(json), { location: { file } });
      out.push({ file, name: message.name ?? `${message.address?.socket_address?.address}:${message.address?.socket_address?.port_value}`, message });
    }
  }
  return out;
}

/** Every route configuration (static and dynamic) of a dump, in the plain form. */
export function dumpRouteConfigs(file: string): DumpResource[] {
  const type = messageType('envoy.config.route.v3.RouteConfiguration');
  const out: DumpResource[] = [];
  for (const c of configs(file)) {
    if (!String(c['@type']).endsWith('RoutesConfigDump')) continue;
    for (const r of [...(c.static_route_configs ?? []), ...(c.dynamic_route_configs ?? [])]) {
      const { '@type': _, ...json } = r.route_config as Json;
      const message = fromProtoJson<Json>(type, wrapIstioTypes(json), { location: { file } });
      out.push({ file, name: message.name ?? '(unnamed)', message });
    }
  }
  return out;
}
