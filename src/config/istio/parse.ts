import { ConfigError, ConfigErrors } from '../errors.js';
import type { SourceDocument } from '../source.js';
import { Field, isPlainObject, type ResourceContext } from '../reader.js';
import type { IstioConfig, ResourceMeta } from './resources.js';
import { parseVirtualService } from './parse-virtual-service.js';
import { parseDestinationRule } from './parse-destination-rule.js';
import { parseServiceEntry, parseWorkloadEntry } from './parse-service-entry.js';
import { parseGateway, parseSidecar } from './parse-gateway-sidecar.js';
import { DEFAULT_MESH, isMeshConfigMap, parseMeshConfigDocument, parseMeshConfigMap } from './parse-mesh-config.js';
import { AUTHORIZATION_POLICY_VERSIONS, parseAuthorizationPolicy } from './parse-authorization-policy.js';
import { parsePeerAuthentication } from './parse-peer-authentication.js';
import { parseRequestAuthentication } from './parse-request-authentication.js';
import { parseTelemetry } from './parse-telemetry.js';
import { parseEnvoyFilter } from './parse-envoy-filter.js';
import { parseLocalRateLimit } from './parse-local-rate-limit.js';
import { KUBERNETES_REGISTRY_KINDS, parseKubernetesObject } from './parse-kubernetes.js';
import { mergeDelegateVirtualServices } from './virtual-service-delegate.js';

const NETWORKING_VERSIONS = ['v1', 'v1beta1', 'v1alpha3'];

/**
 * Kinds that configure the orchestrator, not the data plane: skipped with a note. (Service,
 * EndpointSlice, Endpoints, Pod and Node feed the service registry, as istiod reads them.)
 */
const PLATFORM_KINDS = new Set([
  'Deployment', 'ServiceAccount', 'ConfigMap', 'Secret', 'Namespace', 'StatefulSet', 'ReplicaSet',
  'DaemonSet', 'Job', 'CronJob', 'Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding',
  'PersistentVolumeClaim', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'ControllerRevision', 'ReplicationController',
  'PodTemplate', 'Event', 'LimitRange', 'ResourceQuota', 'Lease',
  'NetworkPolicy', 'Ingress', 'CustomResourceDefinition', 'Certificate', 'Issuer', 'ClusterIssuer',
]);

/** security.istio.io kinds, all enforced. */
const SECURITY_KINDS = new Set(['AuthorizationPolicy', 'PeerAuthentication', 'RequestAuthentication']);

/** Istio/Gateway-API kinds this version cannot enforce yet: refused, never silently ignored. */
const NOT_YET_SUPPORTED: Record<string, string> = {
  WasmPlugin: 'Wasm plugins are not supported',
  ProxyConfig: 'the ProxyConfig resource is not supported yet',
  HTTPRoute: 'Gateway API routes are not supported yet; use VirtualService',
  GRPCRoute: 'Gateway API routes are not supported yet; use VirtualService',
  TCPRoute: 'Gateway API routes are not supported yet; use VirtualService',
  TLSRoute: 'Gateway API routes are not supported yet; use VirtualService',
  ReferenceGrant: 'the Gateway API is not supported yet',
  GatewayClass: 'the Gateway API is not supported yet',
  WorkloadGroup: 'WorkloadGroup is not supported yet; use WorkloadEntry',
};

export interface ParseOptions {
  /** Namespace of resources that do not set metadata.namespace (kubectl's default). */
  defaultNamespace: string;
}

/** Validates and normalizes every document; collects all errors before failing. */
export function parseIstioConfig(docs: readonly SourceDocument[], opts: ParseOptions): IstioConfig {
  const parser = new IstioConfigParser(opts);
  for (const doc of docs) parser.add(doc);
  return parser.finish();
}

/**
 * Documents in, one at a time (the loader hands over each file's as it reads it), validated config
 * out. Nothing parsed keeps its document: a large config's YAML values die with their file instead of
 * living until the whole config is translated. Errors are collected; finish() throws them all.
 */
export class IstioConfigParser {
  readonly #cfg: IstioConfig = {
    mesh: { ...DEFAULT_MESH },
    kubernetes: { services: [], endpointSlices: [], pods: [], nodes: [] },
    virtualServices: [], destinationRules: [], serviceEntries: [], workloadEntries: [],
    gateways: [], sidecars: [], authorizationPolicies: [], peerAuthentications: [], requestAuthentications: [], telemetries: [], envoyFilters: [], localRateLimits: [], warnings: [],
  };
  readonly #errors: ConfigError[] = [];
  #order = 0;

  constructor(private readonly opts: ParseOptions) {}

  add(doc: SourceDocument): void {
    this.#visit(doc, doc.value, []);
  }

  #visit(doc: SourceDocument, value: unknown, fieldPrefix: (string | number)[]): void {
    try {
      const items = parseResource(this.#cfg, doc, value, fieldPrefix, this.opts, this.#order++);
      items?.forEach((item, i) => this.#visit(doc, item, [...fieldPrefix, 'items', i]));
    } catch (e) {
      if (e instanceof ConfigError) this.#errors.push(e);
      else throw e;
    }
  }

  finish(): IstioConfig {
    const cfg = this.#cfg;
    if (this.#errors.length) throw new ConfigErrors(this.#errors);
    cfg.virtualServices = mergeDelegateVirtualServices(cfg.virtualServices, cfg.warnings);
    return cfg;
  }
}

/** Where each config's mesh settings came from: only one document may set them. */
const meshSeen = new WeakMap<IstioConfig, string>();

/** Parses one resource into cfg; returns the items of a `kind: List` for the caller to visit. */
function parseResource(
  cfg: IstioConfig,
  doc: SourceDocument,
  value: unknown,
  prefix: (string | number)[],
  opts: ParseOptions,
  order: number,
): unknown[] | undefined {
  const root = new Field(value, prefix, { doc, kind: 'resource' });
  root.object();
  const kind = root.at('kind').nonEmptyString();
  const apiVersion = root.at('apiVersion').nonEmptyString();
  if (kind === 'List' || kind.endsWith('List')) return root.at('items').list().map((f) => f.value);

  const metaField = root.at('metadata');
  const name = metaField.present ? metaField.object().at('name').optString() : undefined;
  const namespace = (metaField.present ? metaField.at('namespace').optString() : undefined) ?? opts.defaultNamespace;
  const ctx: ResourceContext = { doc, kind, name, namespace };
  const top = new Field(value, prefix, ctx);
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];

  const where = `${doc.file} document ${doc.docIndex}: ${kind} ${name ?? ''}`.trimEnd();
  if (kind === 'MeshConfig' || isMeshConfigMap(kind, name, value)) {
    if (meshSeen.has(cfg)) top.at('kind').fail(`a second mesh config (the first one was ${meshSeen.get(cfg)})`);
    meshSeen.set(cfg, where);
    if (kind === 'MeshConfig' && apiVersion !== 'meshconfig.istio.io/v1alpha1') top.at('apiVersion').fail('MeshConfig must be meshconfig.istio.io/v1alpha1');
    cfg.mesh = kind === 'MeshConfig' ? parseMeshConfigDocument(top, cfg.warnings, where) : parseMeshConfigMap(top, cfg.warnings, where);
    return undefined;
  }
  if (Object.hasOwn(KUBERNETES_REGISTRY_KINDS, kind) && !group.endsWith('istio.io')) {
    const versions = KUBERNETES_REGISTRY_KINDS[kind];
    if (!versions.includes(apiVersion)) top.at('apiVersion').fail(`unsupported version ${apiVersion} of ${kind}; accepted: ${versions.join(', ')}`);
    if (!name) top.at('metadata').at('name').fail('metadata.name is required');
    parseKubernetesObject(top, kind, { kind, name: name as string, namespace, order }, cfg.kubernetes);
    return undefined;
  }
  if (PLATFORM_KINDS.has(kind) && !group.endsWith('istio.io')) {
    cfg.warnings.push(`${doc.file} document ${doc.docIndex}: ${kind} ${name ?? ''} ignored (a platform resource, not mesh config)`);
    return undefined;
  }
  if (Object.hasOwn(NOT_YET_SUPPORTED, kind)) {
    top.at('kind').fail(`kind ${kind} (${apiVersion}) is not supported: ${NOT_YET_SUPPORTED[kind]}`);
  }
  if (group === 'security.istio.io' && SECURITY_KINDS.has(kind)) {
    if (!AUTHORIZATION_POLICY_VERSIONS.includes(version)) top.at('apiVersion').fail(`unsupported version ${apiVersion}; accepted: security.istio.io/v1, security.istio.io/v1beta1`);
    if (!name) top.at('metadata').at('name').fail('metadata.name is required');
    const meta: ResourceMeta = { kind, name: name as string, namespace, order };
    // `spec: {}` is valid (an AuthorizationPolicy that allows nothing, a PeerAuthentication left UNSET); a missing spec is the same
    const spec = isPlainObject(value) && 'spec' in value ? top.at('spec') : new Field({}, [...prefix, 'spec'], ctx);
    if (kind === 'AuthorizationPolicy') cfg.authorizationPolicies.push(parseAuthorizationPolicy(spec, meta, cfg.warnings, top.at('metadata')));
    else if (kind === 'PeerAuthentication') cfg.peerAuthentications.push(parsePeerAuthentication(spec, meta, cfg.warnings));
    else cfg.requestAuthentications.push(parseRequestAuthentication(spec, meta, cfg.warnings));
    return undefined;
  }
  if (group === 'telemetry.istio.io' && kind === 'Telemetry') {
    if (!['v1', 'v1alpha1'].includes(version)) top.at('apiVersion').fail(`unsupported version ${apiVersion}; accepted: telemetry.istio.io/v1, telemetry.istio.io/v1alpha1`);
    if (!name) top.at('metadata').at('name').fail('metadata.name is required');
    const spec = isPlainObject(value) && 'spec' in value ? top.at('spec') : new Field({}, [...prefix, 'spec'], ctx);
    cfg.telemetries.push(parseTelemetry(spec, { kind, name: name as string, namespace, order }));
    return undefined;
  }
  if (group === 'policy.outrigger.io' && kind === 'LocalRateLimit') {
    if (version !== 'v1alpha1') top.at('apiVersion').fail(`unsupported version ${apiVersion}; accepted: policy.outrigger.io/v1alpha1`);
    if (!name) top.at('metadata').at('name').fail('metadata.name is required');
    cfg.localRateLimits.push(parseLocalRateLimit(top.at('spec'), { kind, name: name as string, namespace, order }));
    return undefined;
  }
  if (group !== 'networking.istio.io') {
    top.at('apiVersion').fail(`unsupported resource ${apiVersion} ${kind}`);
  }
  if (!NETWORKING_VERSIONS.includes(version)) {
    top.at('apiVersion').fail(`unsupported version ${apiVersion}; accepted: ${NETWORKING_VERSIONS.map((v) => `networking.istio.io/${v}`).join(', ')}`);
  }
  if (!name) top.at('metadata').at('name').fail('metadata.name is required');
  if (!isPlainObject(value) || !('spec' in value)) top.at('spec').fail('spec is required');

  const meta: ResourceMeta = { kind, name: name as string, namespace, order };
  const spec = top.at('spec');
  switch (kind) {
    case 'VirtualService':
      cfg.virtualServices.push(parseVirtualService(spec, meta, cfg.warnings));
      break;
    case 'DestinationRule':
      cfg.destinationRules.push(parseDestinationRule(spec, meta, cfg.warnings));
      break;
    case 'ServiceEntry':
      cfg.serviceEntries.push(parseServiceEntry(spec, meta));
      break;
    case 'WorkloadEntry':
      cfg.workloadEntries.push(parseWorkloadEntry(spec, meta));
      break;
    case 'Gateway':
      cfg.gateways.push(parseGateway(spec, meta, cfg.warnings));
      break;
    case 'Sidecar':
      cfg.sidecars.push(parseSidecar(spec, meta, cfg.warnings));
      break;
    case 'EnvoyFilter':
      cfg.envoyFilters.push(parseEnvoyFilter(spec, meta));
      break;
    default:
      top.at('kind').fail(`unknown networking.istio.io kind ${kind}`);
  }
  return undefined;
}

/** `exportTo`: ".", "*", "~" or namespace names; `values` when they come from elsewhere than a list (an annotation). */
export function parseExportTo(f: Field, values?: string[]): string[] {
  const list = values ?? f.stringList();
  list.forEach((v, i) => {
    if (v === '') (values ? f : f.list()[i]).fail('exportTo entries must not be empty');
  });
  if (list.includes('~') && list.length > 1) f.fail('"~" (export to none) cannot be combined with other entries');
  return list;
}

export function describeResource(meta: ResourceMeta): string {
  return `${meta.kind} ${meta.namespace}/${meta.name}`;
}
