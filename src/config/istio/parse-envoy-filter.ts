/**
 * networking.istio.io EnvoyFilter, for what Istio users configure through it today and Outrigger
 * runs: Envoy's local rate limit filter (HTTP_FILTER inserted into connection managers) with its
 * per-route config and rate_limits (HTTP_ROUTE / VIRTUAL_HOST MERGE), as Istio's rate-limit task
 * and telemetry tests write them. The patch values are Envoy's protos in JSON (TypedStruct-wrapped
 * or not), decoded by the xDS front end's decoders: one decoder for both front ends. Any other
 * patch is refused, naming what it patches: it changes Envoy internals Outrigger does not have.
 */
import { decodeLocalRateLimit, decodeRateLimits, LOCAL_RATE_LIMIT_TYPE } from '../envoy/decode/local-ratelimit.js';
import type { DecodeContext, ResourceRef } from '../envoy/decode/context.js';
import { typedConfigOf, typedMessage } from '../envoy/decode/typed-config.js';
import { LOCAL_RATELIMIT_FILTER } from '../envoy/local-ratelimit.js';
import { HTTP_CONNECTION_MANAGER_FILTER } from '../envoy/network-filters.js';
import type { AnyMessage } from '../envoy/proto/any.js';
import { fromProtoJson } from '../envoy/proto/json.js';
import { messageType } from '../envoy/proto/registry.js';
import { ConfigError } from '../errors.js';
import type { Field } from '../reader.js';
import type { NodeIdentity } from '../snapshot.js';
import type { EnvoyFilterPatch, EnvoyFilterSpec, PatchContext, ResourceMeta } from './resources.js';

type Msg = Record<string, any>;

const SUPPORTED =
  'Outrigger applies EnvoyFilters that add envoy.filters.http.local_ratelimit (HTTP_FILTER INSERT_BEFORE/INSERT_AFTER/INSERT_FIRST/ADD) and merge its per-route config or rate_limits (HTTP_ROUTE, VIRTUAL_HOST MERGE)';
const CONTEXTS = ['ANY', 'SIDECAR_INBOUND', 'SIDECAR_OUTBOUND', 'GATEWAY'] as const;

export function parseEnvoyFilter(spec: Field, meta: ResourceMeta): EnvoyFilterSpec {
  spec.object(['workloadSelector', 'configPatches', 'priority', 'targetRefs']);
  if (spec.at('targetRefs').present) spec.at('targetRefs').fail('targetRefs (waypoint and gateway attachment) is not supported; use workloadSelector');
  const labels = spec.at('workloadSelector').optObject(['labels'])?.at('labels').stringMap();
  const patches = spec.at('configPatches').optList().map((p) => parsePatch(p, meta));
  return { meta, ...(labels && Object.keys(labels).length ? { workloadSelector: labels } : {}), priority: spec.at('priority').optInt(-(2 ** 31), 2 ** 31 - 1) ?? 0, patches };
}

function parsePatch(p: Field, meta: ResourceMeta): EnvoyFilterPatch {
  p.object(['applyTo', 'match', 'patch']);
  const applyToName = p.at('applyTo').string();
  const APPLIED = ['HTTP_FILTER', 'HTTP_ROUTE', 'VIRTUAL_HOST'] as const;
  const patch = p.at('patch').object(['operation', 'value', 'filterClass']);
  const operation = patch.at('operation').string();
  const what = `applyTo ${applyToName} with operation ${operation}`;
  const applyTo = APPLIED.find((a) => a === applyToName) ?? p.at('applyTo').fail(`${what} is not supported: ${SUPPORTED}`);
  if (patch.at('filterClass').present) patch.at('filterClass').fail('filterClass is not supported (use the operation and subFilter to place the filter)');
  const match = p.at('match').optObject(['context', 'listener', 'routeConfiguration', 'proxy', 'cluster']);
  if (match?.at('proxy').present) match.at('proxy').fail('proxy version matching is not supported');
  if (match?.at('cluster').present) match.at('cluster').fail(`a cluster match does not apply to ${applyTo}`);
  const context = (match?.at('context').optOneOf(CONTEXTS) ?? 'ANY') as PatchContext;
  const value = patch.at('value');
  if (applyTo === 'HTTP_FILTER') {
    if (!['INSERT_BEFORE', 'INSERT_AFTER', 'INSERT_FIRST', 'ADD'].includes(operation)) patch.at('operation').fail(`${what} is not supported: ${SUPPORTED}`);
    if (match?.at('routeConfiguration').present) match.at('routeConfiguration').fail('a routeConfiguration match does not apply to HTTP_FILTER');
    const listener = match?.at('listener').optObject(['portNumber', 'filterChain', 'name']);
    if (listener?.at('name').present) listener.at('name').fail('matching a listener by name is not supported (use portNumber and context)');
    const chain = listener?.at('filterChain').optObject(['filter', 'name', 'sni', 'transportProtocol', 'applicationProtocols', 'destinationPort']);
    for (const k of ['name', 'sni', 'transportProtocol', 'applicationProtocols', 'destinationPort']) {
      if (chain?.at(k).present) chain.at(k).fail(`matching a filter chain by ${k} is not supported (use portNumber and context)`);
    }
    const filter = chain?.at('filter').optObject(['name', 'subFilter']);
    const network = filter?.at('name').optString();
    if (network && network !== HTTP_CONNECTION_MANAGER_FILTER) filter!.at('name').fail(`HTTP filters go into ${HTTP_CONNECTION_MANAGER_FILTER}, not ${network}`);
    const subFilter = filter?.at('subFilter').optObject(['name'])?.at('name').optString();
    const v = value.object(['name', 'typed_config', 'typedConfig']);
    const name = v.at('name').string();
    if (name !== LOCAL_RATELIMIT_FILTER) v.at('name').fail(`inserting the HTTP filter ${name} is not supported: ${SUPPORTED}`);
    const typed = v.at('typed_config').present ? v.at('typed_config') : v.at('typedConfig');
    const config = decodeAt(typed, meta, (ref, ctx) => {
      const tc = typedConfigOf(toAny(typed.value), ref, 'typed_config');
      if (tc?.typeName !== LOCAL_RATE_LIMIT_TYPE) throw new ConfigError(`the typed_config of ${LOCAL_RATELIMIT_FILTER} must be a ${LOCAL_RATE_LIMIT_TYPE}, not ${tc?.typeName ?? 'none'}`);
      return decodeLocalRateLimit(typedMessage(tc, ref, 'typed_config') ?? {}, ctx, ref, 'typed_config');
    });
    return {
      applyTo,
      context,
      ...optionalPort(listener?.at('portNumber')),
      operation: operation as 'INSERT_BEFORE' | 'INSERT_AFTER' | 'INSERT_FIRST' | 'ADD',
      ...(subFilter ? { subFilter } : {}),
      filter: { name: LOCAL_RATELIMIT_FILTER, config },
    };
  }
  if (operation !== 'MERGE') patch.at('operation').fail(`${what} is not supported: ${SUPPORTED}`);
  if (match?.at('listener').present) match.at('listener').fail(`a listener match does not apply to ${applyTo}`);
  const rc = match?.at('routeConfiguration').optObject(['portNumber', 'portName', 'gateway', 'vhost', 'name']);
  for (const k of ['portName', 'gateway', 'name']) if (rc?.at(k).present) rc.at(k).fail(`matching a route configuration by ${k} is not supported (use portNumber, vhost and context)`);
  const vhost = rc?.at('vhost').optObject(['name', 'route', 'domainName']);
  if (vhost?.at('domainName').present) vhost.at('domainName').fail('matching a virtual host by domainName is not supported (use its name)');
  const route = vhost?.at('route').optObject(['name', 'action']);
  if (route && applyTo === 'VIRTUAL_HOST') vhost!.at('route').fail('a route match does not apply to VIRTUAL_HOST');
  const merged = mergeValue(value, applyTo, meta);
  return {
    applyTo,
    context,
    ...optionalPort(rc?.at('portNumber')),
    ...(vhost?.at('name').optString() ? { vhostName: vhost.at('name').string() } : {}),
    ...(route?.at('name').optString() ? { routeName: route.at('name').string() } : {}),
    ...(route?.at('action').present ? { routeAction: route.at('action').oneOf(['ANY', 'ROUTE', 'REDIRECT', 'DIRECT_RESPONSE'] as const) } : {}),
    ...merged,
  };
}

function optionalPort(f: Field | undefined): { portNumber?: number } {
  const port = f?.present ? f.port() : undefined;
  return port ? { portNumber: port } : {};
}

/** A MERGE value: a route's typed_per_filter_config (the rate limit filter's) and rate_limits (under `route` for a route). */
function mergeValue(value: Field, applyTo: 'HTTP_ROUTE' | 'VIRTUAL_HOST', meta: ResourceMeta): { typedPerFilterConfig?: Record<string, unknown>; rateLimits?: NonNullable<Extract<EnvoyFilterPatch, { applyTo: 'HTTP_ROUTE' | 'VIRTUAL_HOST' }>['rateLimits']> } {
  const v = value.object(applyTo === 'HTTP_ROUTE' ? ['typed_per_filter_config', 'typedPerFilterConfig', 'route'] : ['typed_per_filter_config', 'typedPerFilterConfig', 'rate_limits', 'rateLimits']);
  const perFilter = v.at('typed_per_filter_config').present ? v.at('typed_per_filter_config') : v.at('typedPerFilterConfig');
  const out: ReturnType<typeof mergeValue> = {};
  if (perFilter.present) {
    const configs: Record<string, unknown> = {};
    for (const [name, entry] of perFilter.entries()) {
      if (name !== LOCAL_RATELIMIT_FILTER) entry.fail(`a per-route config for ${name} is not supported: ${SUPPORTED}`);
      configs[name] = decodeAt(entry, meta, (ref, ctx) => {
        const tc = typedConfigOf(toAny(entry.value), ref, name);
        if (tc?.typeName !== LOCAL_RATE_LIMIT_TYPE) throw new ConfigError(`must be a ${LOCAL_RATE_LIMIT_TYPE}, not ${tc?.typeName ?? 'none'}`);
        return decodeLocalRateLimit(typedMessage(tc, ref, name) ?? {}, ctx, ref, name, true);
      });
    }
    out.typedPerFilterConfig = configs;
  }
  const limits = applyTo === 'HTTP_ROUTE' ? v.at('route').optObject(['rate_limits', 'rateLimits']) : v;
  const list = limits && (limits.at('rate_limits').present ? limits.at('rate_limits') : limits.at('rateLimits'));
  if (list?.present) {
    const policies = decodeAt(list, meta, (ref, ctx) => {
      const plain = fromProtoJson<Msg>(messageType('envoy.config.route.v3.VirtualHost'), { rate_limits: list.value }, { location: { kind: ref.kind, name: ref.name } });
      return decodeRateLimits(plain.rate_limits, ctx, ref, 'rate_limits');
    });
    if (policies) out.rateLimits = policies;
  }
  return out;
}

/** An Any in proto JSON (`@type` and its fields) as the plain form decoders read. */
function toAny(json: unknown): AnyMessage {
  return fromProtoJson<AnyMessage>(messageType('google.protobuf.Any'), json, { location: {} });
}

/** Runs an xDS decoder on a patch value; its errors become this field's, with the decoder's field path. */
function decodeAt<T>(f: Field, meta: ResourceMeta, decode: (ref: ResourceRef, ctx: DecodeContext) => T): T {
  const ref: ResourceRef = { kind: 'EnvoyFilter', name: `${meta.namespace}/${meta.name}` };
  const warnings: string[] = [];
  const ctx: DecodeContext = { node: {} as NodeIdentity, warn: (m) => warnings.push(m) };
  try {
    return decode(ref, ctx);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const where = e.location.field ? `${e.location.field}: ` : '';
    return f.fail(`${where}${e.reason}`);
  }
}
