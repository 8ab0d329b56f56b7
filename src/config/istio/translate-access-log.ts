/**
 * Access logging as istiod configures it (pilot/pkg/model/telemetry.go mergeLogs,
 * telemetry_logging.go, networking/core/accesslog.go): the Telemetry resources that apply to this
 * proxy, over meshConfig.defaultProviders.accessLogging, say which providers log client traffic
 * (outbound listeners, gateways) and which log server traffic (inbound), each with its CEL filter.
 * Without any Telemetry access logging and default provider, meshConfig.accessLogFile (with
 * accessLogFormat and accessLogEncoding) logs everything, as before the Telemetry API.
 */
import type { AccessLog, AccessLogFormat, NodeIdentity } from '../snapshot.js';
import { ISTIO_DEFAULT_JSON_FORMAT, ISTIO_DEFAULT_TEXT_FORMAT } from './access-log-formats.js';
import type { AccessLogProviderSpec, IstioConfig, MeshSettings, TelemetryAccessLoggingSpec } from './resources.js';
import { applicableTelemetries } from './telemetry-scope.js';
import { collectorCluster } from './collector.js';
import type { Service } from './registry.js';
import { withNewline } from './parse-telemetry.js';

export interface IstioAccessLogs {
  client: AccessLog[];
  server: AccessLog[];
}

/** The built-in provider: Envoy's file logger on stdout, formatted by meshConfig (istiod adds it to every mesh). */
const BUILTIN_PROVIDER = 'envoy';
/** The export timeout of a gRPC access log service (Envoy's gRPC async client default for it). */
const OTEL_EXPORT_TIMEOUT_MS = 5000;
const STDOUT = '/dev/stdout';

type Mode = 'CLIENT' | 'SERVER';

export function istioAccessLogs(cfg: IstioConfig, node: NodeIdentity, mesh: MeshSettings, services: ReadonlyMap<string, Service>, warnings: string[]): IstioAccessLogs {
  const levels = applicableTelemetries(cfg, node)
    .map((t) => t.accessLogging)
    .filter((entries) => entries.length > 0);
  const defaults = mesh.defaultAccessLogProviders ?? [];
  if (levels.length === 0 && defaults.length === 0) {
    // no Telemetry API: meshConfig.accessLogFile, or nothing
    const legacy = mesh.accessLogFile ? [fileFromMesh(mesh.accessLogFile, mesh)] : [];
    return { client: legacy, server: legacy };
  }
  const build = (mode: Mode): AccessLog[] => {
    const merged = mergeLogs(levels, defaults, mode);
    const out: AccessLog[] = [];
    for (const [name, spec] of [...merged].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      if (spec.disabled) continue;
      const log = providerLog(name, mesh, services, warnings);
      if (log) out.push(spec.filter ? { ...log, filter: { cel: spec.filter } } : log);
    }
    return out;
  };
  return { client: build('CLIENT'), server: build('SERVER') };
}

interface LoggingSpec {
  disabled?: boolean;
  filter?: string;
}

function matchesMode(entry: TelemetryAccessLoggingSpec, mode: Mode): boolean {
  return !entry.mode || entry.mode === 'CLIENT_AND_SERVER' || entry.mode === mode;
}

/**
 * istiod's mergeLogs: the providers in scope are the last level's that names any (else the
 * defaults); each entry then sets its providers (or, naming none, the previous entry's) to
 * disabled or to the filter last given for the provider.
 */
function mergeLogs(levels: readonly (readonly TelemetryAccessLoggingSpec[])[], defaults: readonly string[], mode: Mode): Map<string, LoggingSpec> {
  const providers = new Map<string, LoggingSpec>();
  if (levels.length === 0) {
    for (const p of defaults) providers.set(p, {});
    return providers;
  }
  let inScopeNames: readonly string[] = defaults;
  const filters = new Map<string, LoggingSpec>();
  for (const level of levels) {
    const names = new Set<string>();
    for (const entry of level) {
      if (!matchesMode(entry, mode)) continue;
      for (const p of entry.providers) {
        names.add(p);
        filters.set(p, entry.filter ? { filter: entry.filter } : {});
      }
    }
    if (names.size > 0) inScopeNames = [...names];
  }
  const inScope = new Set(inScopeNames);
  let parent: readonly string[] = defaults;
  for (const level of levels) {
    for (const entry of level) {
      const names = entry.providers.length ? entry.providers : parent;
      parent = names;
      for (const p of names) {
        if (!inScope.has(p) || !matchesMode(entry, mode)) continue;
        providers.set(p, entry.disabled ? { disabled: true } : (filters.get(p) ?? {}));
      }
    }
  }
  return providers;
}

/** A provider's access log; undefined (with a warning) when it is not a file logger of this mesh. */
function providerLog(name: string, mesh: MeshSettings, services: ReadonlyMap<string, Service>, warnings: string[]): AccessLog | undefined {
  const p: AccessLogProviderSpec | undefined =
    mesh.accessLogProviders?.find((x) => x.name.toLowerCase() === name.toLowerCase()) ??
    (name.toLowerCase() === BUILTIN_PROVIDER ? { name: BUILTIN_PROVIDER, kind: 'file', path: STDOUT, omitEmptyValues: false } : undefined);
  if (!p) {
    warnings.push(`access log provider ${name} is not among meshConfig.extensionProviders; not logged`);
    return undefined;
  }
  if (p.kind === 'unsupported') {
    warnings.push(`access log provider ${p.name} is an ${p.what} provider, which Outrigger does not export to (file and OpenTelemetry loggers are); not logged`);
    return undefined;
  }
  if (p.kind === 'otel') return otelLog(p, services, warnings);
  const path = p.path || STDOUT;
  // the built-in provider without a format of its own takes meshConfig's (istiod: FileAccessLogFromMeshConfig)
  if (p.name === BUILTIN_PROVIDER && !p.format && !p.omitEmptyValues) return fileFromMesh(path, mesh);
  const format: AccessLogFormat = !p.format
    ? { text: ISTIO_DEFAULT_TEXT_FORMAT }
    : 'text' in p.format
      ? { text: p.format.text }
      : { json: p.format.labels };
  return { path, format: p.omitEmptyValues ? { ...format, omitEmptyValues: true } : format };
}

/**
 * envoyOtelAls as istiod's openTelemetryLog builds it: the collector through its service's outbound
 * cluster, log name otel_envoy_accesslog by default, Istio's text format as the body unless the
 * provider sets one, its labels as the record's attributes.
 */
function otelLog(p: Extract<AccessLogProviderSpec, { kind: 'otel' }>, services: ReadonlyMap<string, Service>, warnings: string[]): AccessLog | undefined {
  const found = collectorCluster(p.service, p.port, services);
  if (!found) {
    warnings.push(`access log provider ${p.name}: no service ${p.service} with port ${p.port} in the registry; not logged`);
    return undefined;
  }
  return {
    openTelemetry: {
      collector: { cluster: found.cluster, authority: found.authority, timeoutMs: OTEL_EXPORT_TIMEOUT_MS, headers: [] },
      logName: p.logName ?? 'otel_envoy_accesslog',
      body: p.text ?? ISTIO_DEFAULT_TEXT_FORMAT,
      attributes: p.labels ?? {},
    },
  };
}

/** meshConfig's file log: accessLogFormat in accessLogEncoding, else Istio's default text or JSON format. */
function fileFromMesh(path: string, mesh: MeshSettings): AccessLog {
  if (mesh.accessLogEncoding === 'JSON') {
    const json = mesh.accessLogFormat ? (JSON.parse(mesh.accessLogFormat) as Record<string, unknown>) : ISTIO_DEFAULT_JSON_FORMAT;
    return { path, format: { json } };
  }
  return { path, format: { text: mesh.accessLogFormat ? withNewline(mesh.accessLogFormat) : ISTIO_DEFAULT_TEXT_FORMAT } };
}
