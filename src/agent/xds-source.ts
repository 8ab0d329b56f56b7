import type { EnvoyBootstrap, GrpcTarget } from '../config/envoy/bootstrap.js';
import type { DecodeContext } from '../config/envoy/decode/context.js';
import { decodeTracingProvider } from '../config/envoy/decode/tracing.js';
import { decodeCluster } from '../config/envoy/decode/cluster.js';
import { decodeClusterLoadAssignment } from '../config/envoy/decode/endpoint.js';
import { decodeListener } from '../config/envoy/decode/listener.js';
import { decodeRouteConfiguration } from '../config/envoy/decode/route-configuration.js';
import { decodeSecret } from '../config/envoy/decode/secret.js';
import { unpackAny, type AnyMessage } from '../config/envoy/proto/any.js';
import { anyToJson, plainToJson } from '../config/envoy/proto/to-json.js';
import type { XdsDump, XdsDumpEntry } from '../config/envoy/xds-dump.js';
import { assembleSnapshot, InService, wantedResources, XdsResources, type Warming } from '../config/envoy/xds-assembly.js';
import { ConfigError } from '../config/errors.js';
import { buildSnapshot } from '../config/snapshot-build.js';
import type { Snapshot } from '../config/snapshot.js';
import { log } from '../telemetry/log.js';
import { AdsClient } from '../xds/ads-client.js';
import { SdsClient } from '../xds/sds-client.js';
import { shortTypeName, TYPE_URLS } from '../xds/resource-types.js';
import type { ResourceUpdate } from '../xds/update.js';
import type { ConfigSource, LoadedConfig, SourceSink } from './config-source.js';
import { xdsTarget } from './xds-target.js';

/** Decode warnings logged per update, and how many distinct ones are remembered so as not to repeat them. */
const MAX_WARNINGS_PER_UPDATE = 10;
const MAX_REMEMBERED_WARNINGS = 10_000;
/** The static cluster pilot-agent's SDS server is reached through (istiod's bootstrap). */
const SDS_CLUSTER = 'sds-grpc';

/**
 * The agent's configuration from a control plane (istiod through pilot-agent), as Envoy takes it:
 * the bootstrap's static resources, then CDS (and EDS for its clusters) and LDS (and RDS for its
 * connection managers) over one ADS stream, secrets over SDS (`default`, `ROOTCA`, files) or ADS
 * (`kubernetes://` credentials). Each response is decoded whole (config/envoy/decode/), applied to
 * the accepted resources and assembled with Envoy's warming (config/envoy/xds-assembly.ts); once
 * the workers run, the Snapshot goes to them before the response is ACKed. A resource that does
 * not decode, or a Snapshot the workers refuse, NACKs the response and leaves everything as it was.
 *
 * Initialization follows Envoy's: clusters first (each warm: its hosts and secrets there), then
 * listeners (each warm: its route configurations and secrets there); the first Snapshot is the one
 * the workers start with.
 */
export class XdsConfigSource implements ConfigSource {
  readonly description: readonly string[];
  private readonly resources = new XdsResources();
  private readonly inService = new InService();
  private readonly ads: AdsClient;
  private readonly sds: SdsClient | undefined;
  private sink: SourceSink | undefined;
  private current: Snapshot | undefined;
  private listenersWatched = false;
  private clustersReceived = false;
  private listenersReceived = false;
  private initialized = false;
  private resolveInitial: ((c: LoadedConfig) => void) | undefined;
  /** Warnings already logged (bounded: a long-lived proxy gets many pushes), and those of the update being handled. */
  private readonly warned = new Set<string>();
  private pendingWarnings: string[] = [];
  /** What was accepted, as it came (a copy of each Any: a response's buffer is not kept alive), for /config_dump. */
  private readonly received = new Map<string, Map<string, { version: string; any: AnyMessage; at: string }>>();
  private readonly lastVersion = new Map<string, string>();
  private lastWarming: Warming = { listeners: new Map(), clusters: new Map() };
  private readonly startedAt = new Date().toISOString();
  private readonly ctx: DecodeContext;

  constructor(private readonly bootstrap: EnvoyBootstrap) {
    const ads = bootstrap.ads;
    if (!ads) throw new ConfigError('the bootstrap has no dynamic_resources.ads_config: nothing to serve from', { file: bootstrap.source, field: 'dynamic_resources' });
    const base: DecodeContext = { node: bootstrap.identity, warn: (m) => this.warn(m), ...(bootstrap.node.cluster ? { serviceCluster: bootstrap.node.cluster } : {}) };
    // the bootstrap's tracer serves every connection manager whose tracing names none (pilot-agent's Zipkin address, a custom bootstrap)
    const tracing = (bootstrap.message.tracing as Record<string, unknown> | undefined)?.http as Record<string, unknown> | undefined;
    const tracingProvider = tracing ? decodeTracingProvider(tracing, base, { kind: 'Bootstrap', name: bootstrap.source }, 'tracing.http') : undefined;
    this.ctx = { ...base, ...(tracingProvider ? { tracingProvider } : {}) };
    const node = bootstrap.message.node as Record<string, unknown>;
    const adsTarget = bootstrap.grpcTarget(ads.clusterName);
    this.description = [bootstrap.source, `ADS ${ads.apiType} via ${describeTarget(adsTarget)}`];
    this.ads = new AdsClient({ target: xdsTarget(adsTarget), node, apiType: ads.apiType, setNodeOnFirstMessageOnly: ads.setNodeOnFirstMessageOnly });
    const hasSds = bootstrap.staticClusters.some((c) => c.name === SDS_CLUSTER);
    this.sds = hasSds ? new SdsClient({ target: xdsTarget(bootstrap.grpcTarget(SDS_CLUSTER)), node }) : undefined;
    this.decodeStatics();
  }

  initial(sink: SourceSink): Promise<LoadedConfig> {
    this.sink = sink;
    const first = new Promise<LoadedConfig>((resolve) => (this.resolveInitial = resolve));
    this.ads.on('connected', () => sink.setControlPlaneConnected(true));
    this.ads.on('disconnected', (s) => {
      sink.setControlPlaneConnected(false);
      log.warn(`xDS stream closed (${s.code} ${s.details}); reconnecting`);
    });
    this.ads.on('rejected', (typeUrl, nonce, err) => log.warn(`${shortTypeName(typeUrl)} update rejected (nonce ${nonce}): ${err.message}`));
    const cds = this.bootstrap.cds?.initialFetchTimeoutMs;
    this.ads.watch(TYPE_URLS.cluster, { onUpdate: (u) => this.onUpdate(u, 'cds'), onInitialFetchTimeout: () => this.clustersTimedOut() }, cds === undefined ? {} : { initialFetchTimeoutMs: cds });
    this.ads.watch(TYPE_URLS.endpoint, { onUpdate: (u) => this.onUpdate(u) }, { initialFetchTimeoutMs: 0 });
    this.ads.watch(TYPE_URLS.route, { onUpdate: (u) => this.onUpdate(u) }, { initialFetchTimeoutMs: 0 });
    this.ads.watch(TYPE_URLS.secret, { onUpdate: (u) => this.onUpdate(u) }, { initialFetchTimeoutMs: 0 });
    this.sds?.watchSecrets({ onUpdate: (u) => this.onUpdate(u) }, { initialFetchTimeoutMs: 0 });
    this.subscribe();
    this.ads.start();
    this.sds?.start();
    return first;
  }

  close(): void {
    this.ads.close();
    this.sds?.close();
  }

  dump(): XdsDump {
    const entries = (typeUrl: string, warming?: Map<string, string[]>): XdsDumpEntry[] =>
      [...(this.received.get(typeUrl) ?? [])].map(([name, r]) => ({
        name,
        version: r.version,
        lastUpdated: r.at,
        resource: anyToJson(r.any),
        ...(warming?.has(name) ? { warming: true } : {}),
      }));
    return {
      bootstrap: plainToJson('envoy.config.bootstrap.v3.Bootstrap', this.bootstrap.message),
      startedAt: this.startedAt,
      versions: { listeners: this.lastVersion.get(TYPE_URLS.listener) ?? '', clusters: this.lastVersion.get(TYPE_URLS.cluster) ?? '' },
      staticListeners: this.bootstrap.staticListeners.map((l) => plainToJson('envoy.config.listener.v3.Listener', l)),
      staticClusters: this.bootstrap.staticClusters.map((c) => plainToJson('envoy.config.cluster.v3.Cluster', c)),
      listeners: entries(TYPE_URLS.listener, this.lastWarming.listeners),
      routes: entries(TYPE_URLS.route),
      clusters: entries(TYPE_URLS.cluster, this.lastWarming.clusters),
      endpoints: entries(TYPE_URLS.endpoint),
      secrets: entries(TYPE_URLS.secret),
    };
  }

  /** An accepted update, kept as it came for /config_dump. */
  private remember(u: ResourceUpdate): void {
    let table = this.received.get(u.typeUrl);
    if (!table) this.received.set(u.typeUrl, (table = new Map()));
    const at = new Date().toISOString();
    for (const r of u.updated) table.set(r.name, { version: r.version, any: { type_url: r.resource.type_url, value: Buffer.from(r.resource.value ?? []) }, at });
    for (const name of u.removed) table.delete(name);
    if (u.systemVersion) this.lastVersion.set(u.typeUrl, u.systemVersion);
  }

  // ------------------------------------------------------------------ responses

  /**
   * One response: every resource decoded first (one that does not decode rejects the whole
   * response), then applied and assembled; once serving, the workers take the Snapshot before the
   * response is ACKed. Whatever fails leaves the accepted resources as they were.
   */
  private async onUpdate(u: ResourceUpdate, api?: 'lds' | 'cds'): Promise<void> {
    const table = this.tableOf(u.typeUrl);
    // a rejected first response still ends that part of initialization (Envoy's init targets)
    if (u.typeUrl === TYPE_URLS.cluster) this.clustersReceived = true;
    if (u.typeUrl === TYPE_URLS.listener) this.listenersReceived = true;
    try {
      const decoded = u.updated.map((r) => [r.name, this.decode(u.typeUrl, r.name, r.resource)] as const);
      const undo = new Map<string, unknown>();
      for (const [name] of decoded) undo.set(name, table.get(name));
      for (const name of u.removed) undo.set(name, table.get(name));
      for (const [name, value] of decoded) table.set(name, value);
      for (const name of u.removed) table.delete(name);
      try {
        await this.rebuild(`${shortTypeName(u.typeUrl)} ${u.systemVersion || u.nonce}`);
      } catch (err) {
        for (const [name, value] of undo) value === undefined ? table.delete(name) : table.set(name, value);
        throw err;
      }
      this.remember(u);
      if (api) this.sink?.recordUpdate(api, 'success', u.systemVersion);
      if (this.initialized) for (const w of this.takeWarnings()) log.warn(w);
    } catch (err) {
      this.pendingWarnings = [];
      if (api) this.sink?.recordUpdate(api, 'rejected');
      if (!this.initialized) await this.rebuild('initialization').catch(() => {});
      throw err;
    }
  }

  private tableOf(typeUrl: string): Map<string, unknown> {
    const r = this.resources;
    switch (typeUrl) {
      case TYPE_URLS.listener:
        return r.listeners;
      case TYPE_URLS.route:
        return r.routes;
      case TYPE_URLS.cluster:
        return r.clusters;
      case TYPE_URLS.endpoint:
        return r.endpoints;
      default:
        return r.secrets;
    }
  }

  private decode(typeUrl: string, name: string, any: Parameters<typeof unpackAny>[0]): unknown {
    const unpacked = unpackAny<Record<string, unknown>>(any);
    const kind = shortTypeName(typeUrl);
    if (!unpacked.known) throw new ConfigError(`unknown resource type ${any.type_url}`, { kind, name });
    const m = unpacked.message;
    switch (typeUrl) {
      case TYPE_URLS.listener:
        return decodeListener(m, this.ctx);
      case TYPE_URLS.route:
        return decodeRouteConfiguration(m, this.ctx);
      case TYPE_URLS.cluster:
        return decodeCluster(m, this.ctx);
      case TYPE_URLS.endpoint:
        return decodeClusterLoadAssignment(m, { kind, name }, '', this.ctx);
      default:
        return decodeSecret(m, this.ctx);
    }
  }

  /** Assembles what is in service; once serving, the workers take it (a refusal rejects, and the caller undoes). */
  private async rebuild(reason: string): Promise<void> {
    const saved = { listeners: new Map(this.inService.listeners), clusters: new Map(this.inService.clusters) };
    const { body, warming } = assembleSnapshot(this.bootstrap.identity, this.resources, this.inService);
    const statsMatcher = this.bootstrap.statsMatcher; // bootstrap-level in Envoy: the same in every Snapshot
    const snapshot = buildSnapshot(statsMatcher ? { ...body, statsMatcher } : body, this.current);
    if (this.initialized) {
      try {
        await this.sink!.apply(snapshot, reason);
      } catch (err) {
        this.inService.listeners.clear();
        this.inService.clusters.clear();
        for (const [k, v] of saved.listeners) this.inService.listeners.set(k, v);
        for (const [k, v] of saved.clusters) this.inService.clusters.set(k, v);
        throw err;
      }
    }
    this.current = snapshot;
    this.lastWarming = warming;
    this.subscribe();
    this.advanceInitialization(warming);
  }

  /** Envoy's initialization: clusters (warm), then listeners (warm); the first Snapshot then starts the workers. */
  private advanceInitialization(warming: Warming): void {
    if (this.initialized) return;
    if (!this.listenersWatched) {
      if (!this.clustersReceived || warming.clusters.size) return;
      this.watchListeners();
      return;
    }
    if (!this.listenersReceived || warming.listeners.size) return;
    this.initialized = true;
    log.info(`xDS initialized: ${this.current!.listeners.length} listener(s), ${this.current!.clusters.length} cluster(s)`);
    this.resolveInitial?.({ snapshot: this.current!, warnings: this.takeWarnings() });
  }

  private clustersTimedOut(): void {
    log.warn('CDS: no response within initial_fetch_timeout; initializing without it');
    this.clustersReceived = true;
    if (!this.listenersWatched) this.watchListeners();
  }

  private watchListeners(): void {
    this.listenersWatched = true;
    const lds = this.bootstrap.lds?.initialFetchTimeoutMs;
    this.ads.watch(
      TYPE_URLS.listener,
      {
        onUpdate: (u) => this.onUpdate(u, 'lds'),
        onInitialFetchTimeout: () => {
          log.warn('LDS: no response within initial_fetch_timeout; initializing without it');
          this.listenersReceived = true;
          void this.rebuild('LDS initial fetch timeout').catch(() => {});
        },
      },
      lds === undefined ? {} : { initialFetchTimeoutMs: lds },
    );
  }

  /** RDS, EDS and secrets follow what the listeners and clusters name (dropped names are unsubscribed). */
  private subscribe(): void {
    const wanted = wantedResources(this.resources);
    this.ads.subscribe(TYPE_URLS.route, wanted.routes);
    this.ads.subscribe(TYPE_URLS.endpoint, wanted.endpoints);
    const overAds: string[] = [];
    const overSds: string[] = [];
    for (const [name, source] of wanted.secrets) {
      if (source && 'grpcCluster' in source) {
        if (source.grpcCluster === SDS_CLUSTER && this.sds) overSds.push(name);
        else this.warn(`secret ${name}: SDS from cluster ${source.grpcCluster} is not supported (only ${SDS_CLUSTER} and ADS); it is never served`);
      } else overAds.push(name);
    }
    this.ads.subscribe(TYPE_URLS.secret, overAds);
    this.sds?.subscribeSecrets(overSds);
  }

  /** The bootstrap's static listeners, clusters and secrets, decoded once (an error fails the start, as Envoy's does). */
  private decodeStatics(): void {
    const r = this.resources;
    // the clusters the xDS and SDS channels use are the agent's (xds-target.ts), not the data plane's:
    // their TLS may name certificate files, which data-plane TLS contexts do not take
    const channels = new Set([this.bootstrap.ads?.clusterName, SDS_CLUSTER]);
    for (const m of this.bootstrap.staticClusters) if (!channels.has(m.name as string)) r.staticClusters.push(decodeCluster(m, this.ctx));
    for (const m of this.bootstrap.staticListeners) r.staticListeners.push(decodeListener(m, this.ctx));
    for (const m of this.bootstrap.staticSecrets) r.staticSecrets.push(decodeSecret(m, this.ctx));
  }

  /** A decode warning: logged once, after the update that raised it (the first few of an update, then a count). */
  private warn(message: string): void {
    if (this.warned.has(message)) return;
    if (this.warned.size >= MAX_REMEMBERED_WARNINGS) this.warned.clear();
    this.warned.add(message);
    this.pendingWarnings.push(message);
  }

  private takeWarnings(): string[] {
    const all = this.pendingWarnings;
    this.pendingWarnings = [];
    if (all.length <= MAX_WARNINGS_PER_UPDATE) return all;
    return [...all.slice(0, MAX_WARNINGS_PER_UPDATE), `... and ${all.length - MAX_WARNINGS_PER_UPDATE} more warnings like these`];
  }
}

function describeTarget(t: GrpcTarget): string {
  return t.kind === 'pipe' ? `unix:${t.path}` : `${t.host}:${t.port}`;
}
