/**
 * Envoy proto3 JSON pieces, as Envoy's admin prints them (original field names, snake_case):
 * durations, Any, addresses, string matchers, istiod's config metadata.
 */
import { formatDurationMs } from '../../duration.js';
import type { HeaderMatcher, StringMatch } from '../../snapshot.js';

export type Json = Record<string, unknown>;

/** A google.protobuf.Any of an Envoy message. */
export function any(typeName: string, body: Json): Json {
  return { '@type': `type.googleapis.com/${typeName}`, ...body };
}

export function socketAddress(address: string, port: number): Json {
  return { socket_address: { address, port_value: port } };
}

/** envoy.type.matcher.v3.StringMatcher. */
export function stringMatcher(m: StringMatch): Json {
  if ('regex' in m) return { safe_regex: { regex: m.regex } };
  const [[kind, value]] = Object.entries(m).filter(([k]) => k !== 'ignoreCase');
  return { [kind]: value, ...('ignoreCase' in m && m.ignoreCase ? { ignore_case: true } : {}) };
}

/** envoy.config.route.v3.HeaderMatcher: a string match or presence, maybe inverted. */
export function headerMatcher(h: HeaderMatcher): Json {
  return { name: h.name, ...(h.match ? { string_match: stringMatcher(h.match) } : { present_match: true }), ...(h.invert ? { invert_match: true } : {}) };
}

/**
 * One of Outrigger's Envoy-shaped configs (config/envoy/: Envoy's field names in camelCase,
 * durations in milliseconds as `<name>Ms`) in Envoy's JSON: names in snake_case, `<name>Ms` as the
 * Duration `<name>`. For the filter configs the Snapshot keeps in Envoy's own shape.
 */
export function envoyJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(envoyJson);
  if (!value || typeof value !== 'object') return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value as Json)) {
    if (v === undefined) continue;
    if (k.endsWith('Ms') && typeof v === 'number') out[snake(k.slice(0, -2))] = formatDurationMs(v);
    else out[k.startsWith('@') ? k : snake(k)] = envoyJson(v);
  }
  return out;
}

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/**
 * istiod's `metadata.filter_metadata.istio.config` of a resource it built from an Istio config
 * (pilot's AddConfigInfoMetadata): `/apis/<group>/<version>/namespaces/<ns>/<kebab-kind>/<name>`.
 */
export function istioConfigMetadata(path: string | undefined): Json {
  return path ? { metadata: { filter_metadata: { istio: { config: path } } } } : {};
}
