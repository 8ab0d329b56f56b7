import { at, field, isObject, objectsOf, type JsonObject } from './json-values.js';

/**
 * An Envoy admin config dump (`/config_dump`): `{configs: [...]}`, one envoy.admin.v3.*ConfigDump
 * section per entry, in proto JSON with the protos' field names. Resources inside are Anys:
 * `{"@type": url, ...fields}`.
 */
export interface ConfigDump {
  configs: JsonObject[];
}

/** What istioctl reports instead of a table; `output` is what it printed before failing (`all`). */
export class ProxyConfigError extends Error {
  constructor(
    message: string,
    readonly output = '',
  ) {
    super(message);
    this.name = 'ProxyConfigError';
  }
}

export const SECTION_TYPES = {
  bootstrap: 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump',
  listeners: 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
  endpoints: 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
  clusters: 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
  routes: 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
  secrets: 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump',
} as const;

export type SectionKind = keyof typeof SECTION_TYPES;

/** The dump in `text`, as istioctl's ConfigWriter.Prime reads it. */
export function parseConfigDump(text: string): ConfigDump {
  try {
    return toConfigDump(JSON.parse(text));
  } catch (err) {
    throw new ProxyConfigError(`error unmarshalling config dump response from Envoy: ${(err as Error).message}`);
  }
}

/** An already parsed dump, checked for the `configs` list. */
export function toConfigDump(value: unknown): ConfigDump {
  if (!isObject(value) || (value.configs !== undefined && !Array.isArray(value.configs))) {
    throw new Error('a config dump is an object with a list of configs');
  }
  return { configs: objectsOf(value.configs) };
}

/** The section of that type (the last one, as istioctl takes it), or undefined. */
export function findSection(dump: ConfigDump, kind: SectionKind): JsonObject | undefined {
  let found: JsonObject | undefined;
  for (const config of dump.configs) if (config['@type'] === SECTION_TYPES[kind]) found = config;
  return found;
}

export function requireSection(dump: ConfigDump, kind: SectionKind): JsonObject {
  const found = findSection(dump, kind);
  if (!found) throw new ProxyConfigError(`config dump has no configuration type ${SECTION_TYPES[kind]}`);
  return found;
}

/** The Anys under `field` of each entry of `list` (e.g. dynamic_active_clusters[].cluster), skipping entries without one. */
export function resourcesOf(section: JsonObject, list: string, ...path: string[]): JsonObject[] {
  return objectsOf(field(section, list))
    .map((entry) => at(entry, ...path))
    .filter(isObject);
}
