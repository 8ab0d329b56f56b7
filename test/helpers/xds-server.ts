import { rmSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { AnyMessage } from '../../src/config/envoy/proto/any.js';
import { encodeMessage, messageType, typeNameOfUrl } from '../../src/config/envoy/proto/registry.js';
import type { XdsTarget } from '../../src/xds/channel.js';
import {
  deltaRequestCodec,
  deltaResponseCodec,
  discoveryRequestCodec,
  discoveryResponseCodec,
  XDS_METHODS,
  type DeltaDiscoveryRequest,
  type DeltaDiscoveryResponse,
  type DiscoveryRequest,
  type DiscoveryResponse,
  type NodeMessage,
} from '../../src/xds/messages.js';
import { isWildcardType } from '../../src/xds/resource-types.js';

/**
 * A real xDS control plane for tests (grpc-js on a unix socket or loopback TCP) serving ADS delta,
 * ADS state of the world and SDS StreamSecrets, with istiod's request rules (ads.go / delta.go):
 * the first request of a type is answered with what the server has, a request carrying
 * error_detail (a NACK) or a stale nonce is recorded and not answered, a changed subscription is
 * answered. Every request is kept (`requests`), so a test can assert nonces, versions,
 * error_detail, names, initial_resource_versions and the node.
 *
 * ```ts
 * const xds = await XdsTestServer.start();                       // or start({ unix: '/tmp/x/XDS' })
 * xds.set(TYPE_URLS.cluster, [{ name: 'outbound|80||a', message: { name: 'outbound|80||a', type: 'EDS', ... } }]);
 * const client = new AdsClient({ target: xds.target, node });   // ... client.start()
 * const [push] = xds.put(TYPE_URLS.endpoint, [{ name: 'outbound|80||a', message: cla }]);
 * const reply = await xds.reply(push);                           // the client's ACK or NACK of that push
 * expect(reply.errorDetail).toBeUndefined();
 * await xds.stop(); await xds.restart();                         // same address: the client reconnects
 * ```
 */

/** A resource the server holds: its plain-form message (of the type's message type) or an encoded Any. */
export interface ServedResource {
  name: string;
  message?: object;
  any?: AnyMessage;
  /** Its version; default: the server's version counter of the type when it changed. */
  version?: string;
}

export type StreamKind = 'delta' | 'sotw' | 'sds';

/** One request the server received, flattened over the two protocols. */
export interface SeenRequest {
  stream: number;
  kind: StreamKind;
  typeUrl: string;
  /** response_nonce ('' on a first or spontaneous request). */
  nonce: string;
  /** State of the world: version_info. */
  versionInfo: string;
  /** State of the world: resource_names. */
  names: string[];
  /** Delta: resource_names_subscribe / _unsubscribe / initial_resource_versions. */
  subscribe: string[];
  unsubscribe: string[];
  initialResourceVersions: Record<string, string>;
  /** Set on a NACK. */
  errorDetail?: { code: number; message: string };
  node?: NodeMessage;
}

/** A response the server sent. */
export interface Push {
  stream: number;
  kind: StreamKind;
  typeUrl: string;
  nonce: string;
  /** version_info / system_version_info. */
  version: string;
  /** Names of the resources it carried, and (delta) of those it removed. */
  names: string[];
  removed: string[];
}

/** Server TLS: its certificate chain and key; with clientCaPem, client certificates signed by it are required. */
export interface ServerTls {
  certChainPem: string;
  keyPem: string;
  clientCaPem?: string;
}

export type ServerAddress = { unix: string } | { host?: string; port?: number; tls?: ServerTls };

/** The server's side of a codec (responses out, requests in), untyped as grpc-js registers it. */
interface Codec {
  serialize: (message: unknown) => Buffer;
  deserialize: (bytes: Buffer) => unknown;
}

interface Held {
  version: string;
  any: AnyMessage;
}

interface TypeStore {
  version: number;
  resources: Map<string, Held>;
}

interface StreamWatch {
  wildcard: boolean;
  names: Set<string>;
  /** Delta: what the client has, by name → version. */
  sent: Map<string, string>;
  lastNonce?: string;
}

interface Stream {
  id: number;
  kind: StreamKind;
  call: grpc.ServerDuplexStream<unknown, unknown>;
  watches: Map<string, StreamWatch>;
}

/** Encodes a plain-form message of `typeUrl`'s type as an Any. */
export function anyOf(typeUrl: string, message: object): AnyMessage {
  return { type_url: typeUrl, value: encodeMessage(messageType(typeNameOfUrl(typeUrl)), message) };
}

export class XdsTestServer {
  /** Every request received, in order, over every stream. */
  readonly requests: SeenRequest[] = [];
  /** Every response sent. */
  readonly pushes: Push[] = [];
  private server: grpc.Server | undefined;
  private readonly store = new Map<string, TypeStore>();
  private readonly streams = new Set<Stream>();
  private streamIds = 0;
  private nonces = 0;
  private waiters: (() => void)[] = [];
  private boundPort = 0;

  private constructor(private readonly address: ServerAddress) {}

  static async start(address: ServerAddress = {}): Promise<XdsTestServer> {
    const s = new XdsTestServer(address);
    await s.listen();
    return s;
  }

  /** Where a client connects. */
  get target(): XdsTarget {
    return 'unix' in this.address ? { kind: 'unix', path: this.address.unix } : { kind: 'tcp', host: this.address.host ?? '127.0.0.1', port: this.boundPort };
  }

  /** Open streams. */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Replaces every resource of a type and pushes the change to the streams watching it. */
  set(typeUrl: string, resources: ServedResource[]): Push[] {
    const store = this.typeStore(typeUrl);
    store.version++;
    const next = new Map<string, Held>();
    for (const r of resources) next.set(r.name, this.held(typeUrl, r, store));
    store.resources = next;
    return this.pushType(typeUrl);
  }

  /** Adds or replaces some resources of a type and pushes. */
  put(typeUrl: string, resources: ServedResource[]): Push[] {
    const store = this.typeStore(typeUrl);
    store.version++;
    for (const r of resources) store.resources.set(r.name, this.held(typeUrl, r, store));
    return this.pushType(typeUrl);
  }

  /** Removes resources of a type and pushes (delta: removed_resources; state of the world: absence). */
  remove(typeUrl: string, names: string[]): Push[] {
    const store = this.typeStore(typeUrl);
    store.version++;
    for (const n of names) store.resources.delete(n);
    return this.pushType(typeUrl);
  }

  /** Sends a hand-made response (a bad one, say) on every stream of a kind; a missing nonce is filled in. */
  sendRaw(kind: 'delta', response: DeltaDiscoveryResponse): Push[];
  sendRaw(kind: 'sotw' | 'sds', response: DiscoveryResponse): Push[];
  sendRaw(kind: StreamKind, response: DiscoveryResponse | DeltaDiscoveryResponse): Push[] {
    const pushes: Push[] = [];
    for (const s of this.streams) {
      if (s.kind !== kind) continue;
      const nonce = response.nonce ?? this.nextNonce();
      const w = s.watches.get(response.type_url);
      if (w) w.lastNonce = nonce;
      s.call.write({ ...response, nonce });
      const version = 'system_version_info' in response ? (response.system_version_info ?? '') : ((response as DiscoveryResponse).version_info ?? '');
      pushes.push(this.recordPush({ stream: s.id, kind, typeUrl: response.type_url, nonce, version, names: [], removed: [] }));
    }
    return pushes;
  }

  /** The first request (from index `since`) that matches; rejects after timeoutMs. */
  waitForRequest(match: (r: SeenRequest) => boolean, options: { since?: number; timeoutMs?: number } = {}): Promise<SeenRequest> {
    const since = options.since ?? 0;
    return this.waitFor(() => this.requests.slice(since).find(match), options.timeoutMs ?? 5000, 'a matching xDS request');
  }

  /** The ACK or NACK of a push (the request of the same stream and type carrying its nonce). */
  reply(push: Push, timeoutMs = 5000): Promise<SeenRequest> {
    return this.waitForRequest((r) => r.stream === push.stream && r.typeUrl === push.typeUrl && r.nonce === push.nonce, { timeoutMs });
  }

  /** Waits until a stream of a kind has opened (its first request seen); returns its id. */
  async waitForStream(kind: StreamKind, options: { since?: number; timeoutMs?: number } = {}): Promise<number> {
    return (await this.waitForRequest((r) => r.kind === kind, options)).stream;
  }

  /** Ends every open stream with a status (the server stays up: clients reconnect to it). */
  closeStreams(code: grpc.status = grpc.status.UNAVAILABLE, details = 'closed by the test server'): void {
    for (const s of this.streams) s.call.emit('error', Object.assign(new Error(details), { code, details }));
    this.streams.clear();
  }

  /** Stops listening and drops every stream (clients see UNAVAILABLE). The resources stay. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.streams.clear();
    server?.forceShutdown();
  }

  /** Listens again on the same address, with the same resources. */
  async restart(): Promise<void> {
    if (this.server) await this.stop();
    await this.listen();
  }

  async close(): Promise<void> {
    await this.stop();
    if ('unix' in this.address) rmSync(this.address.unix, { force: true });
  }

  private async listen(): Promise<void> {
    const server = new grpc.Server();
    const bidi = (kind: StreamKind) => (call: grpc.ServerDuplexStream<unknown, unknown>) => this.onStream(kind, call);
    const delta = { serialize: deltaResponseCodec.serialize, deserialize: deltaRequestCodec.deserialize } as Codec;
    const sotw = { serialize: discoveryResponseCodec.serialize, deserialize: discoveryRequestCodec.deserialize } as Codec;
    server.register(XDS_METHODS.delta, bidi('delta'), delta.serialize, delta.deserialize, 'bidi');
    server.register(XDS_METHODS.sotw, bidi('sotw'), sotw.serialize, sotw.deserialize, 'bidi');
    server.register(XDS_METHODS.sds, bidi('sds'), sotw.serialize, sotw.deserialize, 'bidi');
    let bindTo: string;
    if ('unix' in this.address) {
      rmSync(this.address.unix, { force: true }); // a socket file left by the previous run
      bindTo = `unix:${this.address.unix}`;
    } else {
      bindTo = `${this.address.host ?? '127.0.0.1'}:${this.boundPort || this.address.port || 0}`;
    }
    const tls = 'tls' in this.address ? this.address.tls : undefined;
    const credentials = tls
      ? grpc.ServerCredentials.createSsl(tls.clientCaPem ? Buffer.from(tls.clientCaPem) : null, [{ cert_chain: Buffer.from(tls.certChainPem), private_key: Buffer.from(tls.keyPem) }], !!tls.clientCaPem)
      : grpc.ServerCredentials.createInsecure();
    this.boundPort = await new Promise<number>((resolve, reject) => server.bindAsync(bindTo, credentials, (err, port) => (err ? reject(err) : resolve(port))));
    this.server = server;
  }

  private onStream(kind: StreamKind, call: grpc.ServerDuplexStream<unknown, unknown>): void {
    const stream: Stream = { id: ++this.streamIds, kind, call, watches: new Map() };
    this.streams.add(stream);
    const gone = () => this.streams.delete(stream);
    call.on('data', (req: DiscoveryRequest | DeltaDiscoveryRequest) => {
      if (!this.streams.has(stream)) return;
      if (kind === 'delta') this.onDeltaRequest(stream, req as DeltaDiscoveryRequest);
      else this.onSotwRequest(stream, req as DiscoveryRequest);
    });
    call.on('end', () => {
      gone();
      call.end();
    });
    call.on('error', gone);
    call.on('cancelled', gone);
  }

  private record(stream: Stream, req: DiscoveryRequest | DeltaDiscoveryRequest): SeenRequest {
    const sotw = req as DiscoveryRequest;
    const delta = req as DeltaDiscoveryRequest;
    const seen: SeenRequest = {
      stream: stream.id,
      kind: stream.kind,
      typeUrl: req.type_url,
      nonce: req.response_nonce ?? '',
      versionInfo: sotw.version_info ?? '',
      names: sotw.resource_names ?? [],
      subscribe: delta.resource_names_subscribe ?? [],
      unsubscribe: delta.resource_names_unsubscribe ?? [],
      initialResourceVersions: delta.initial_resource_versions ?? {},
      ...(req.error_detail ? { errorDetail: { code: req.error_detail.code ?? 0, message: req.error_detail.message ?? '' } } : {}),
      ...(req.node ? { node: req.node } : {}),
    };
    this.requests.push(seen);
    this.wake();
    return seen;
  }

  private onDeltaRequest(stream: Stream, req: DeltaDiscoveryRequest): void {
    const seen = this.record(stream, req);
    if (seen.errorDetail) return;
    const w = stream.watches.get(req.type_url);
    if (!w) {
      // istiod deltaWatchedResources: no names (or `*`) is a wildcard; initial versions count as subscribed
      const names = new Set([...seen.subscribe, ...Object.keys(seen.initialResourceVersions)]);
      const wildcard = seen.subscribe.length === 0 || names.has('*');
      names.delete('*');
      stream.watches.set(req.type_url, { wildcard, names, sent: new Map(Object.entries(seen.initialResourceVersions)) });
      this.respondDelta(stream, req.type_url, { initial: true });
      return;
    }
    if (seen.nonce && seen.nonce !== w.lastNonce) return; // stale
    const added = seen.subscribe.filter((n) => !w.names.has(n));
    for (const n of seen.subscribe) w.names.add(n);
    for (const n of seen.unsubscribe) {
      w.names.delete(n);
      w.sent.delete(n);
    }
    if (added.length) this.respondDelta(stream, req.type_url, { only: new Set(added) });
  }

  private respondDelta(stream: Stream, typeUrl: string, opts: { initial?: boolean; only?: Set<string> }): Push | undefined {
    const w = stream.watches.get(typeUrl)!;
    const store = this.typeStore(typeUrl);
    const resources: { name: string; version: string; resource: AnyMessage }[] = [];
    for (const [name, held] of store.resources) {
      if (!w.wildcard && !w.names.has(name)) continue;
      if (opts.only && !opts.only.has(name)) continue;
      if (w.sent.get(name) === held.version) continue;
      resources.push({ name, version: held.version, resource: held.any });
    }
    const removed = opts.only ? [] : [...w.sent.keys()].filter((n) => !store.resources.has(n));
    if (!resources.length && !removed.length && !opts.initial) return undefined;
    const nonce = this.nextNonce();
    const version = String(store.version);
    for (const r of resources) w.sent.set(r.name, r.version);
    for (const n of removed) w.sent.delete(n);
    w.lastNonce = nonce;
    const response: DeltaDiscoveryResponse = { type_url: typeUrl, system_version_info: version, resources, removed_resources: removed, nonce };
    stream.call.write(response);
    return this.recordPush({ stream: stream.id, kind: stream.kind, typeUrl, nonce, version, names: resources.map((r) => r.name), removed });
  }

  private onSotwRequest(stream: Stream, req: DiscoveryRequest): void {
    const seen = this.record(stream, req);
    if (seen.errorDetail) return;
    const w = stream.watches.get(req.type_url);
    if (!w || !seen.nonce) {
      // istiod ads.go: an empty nonce (or an unknown type) is an initial request: always answered
      stream.watches.set(req.type_url, { wildcard: isWildcardType(req.type_url) && seen.names.length === 0, names: new Set(seen.names), sent: new Map() });
      this.respondSotw(stream, req.type_url);
      return;
    }
    if (seen.nonce !== w.lastNonce) return; // stale
    const next = new Set(seen.names);
    if (next.size === w.names.size && [...next].every((n) => w.names.has(n))) return; // an ACK
    w.names = next;
    this.respondSotw(stream, req.type_url);
  }

  private respondSotw(stream: Stream, typeUrl: string): Push {
    const w = stream.watches.get(typeUrl)!;
    const store = this.typeStore(typeUrl);
    const names = [...store.resources.keys()].filter((n) => w.wildcard || w.names.has(n));
    const nonce = this.nextNonce();
    const version = String(store.version);
    w.lastNonce = nonce;
    const response: DiscoveryResponse = { type_url: typeUrl, version_info: version, resources: names.map((n) => store.resources.get(n)!.any), nonce };
    stream.call.write(response);
    return this.recordPush({ stream: stream.id, kind: stream.kind, typeUrl, nonce, version, names, removed: [] });
  }

  private pushType(typeUrl: string): Push[] {
    const pushes: Push[] = [];
    for (const s of this.streams) {
      if (!s.watches.has(typeUrl)) continue;
      const push = s.kind === 'delta' ? this.respondDelta(s, typeUrl, {}) : this.respondSotw(s, typeUrl);
      if (push) pushes.push(push);
    }
    return pushes;
  }

  private held(typeUrl: string, r: ServedResource, store: TypeStore): Held {
    const any = r.any ?? anyOf(typeUrl, r.message ?? { name: r.name });
    const previous = store.resources.get(r.name);
    const unchanged = previous && Buffer.from(previous.any.value ?? []).equals(Buffer.from(any.value ?? []));
    return { any, version: r.version ?? (unchanged ? previous.version : String(store.version)) };
  }

  private typeStore(typeUrl: string): TypeStore {
    let s = this.store.get(typeUrl);
    if (!s) this.store.set(typeUrl, (s = { version: 0, resources: new Map() }));
    return s;
  }

  private nextNonce(): string {
    return `nonce-${++this.nonces}`;
  }

  private recordPush(push: Push): Push {
    this.pushes.push(push);
    return push;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        done = true;
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      let done = false;
      const check = () => {
        if (done) return;
        const v = probe();
        if (v !== undefined) {
          done = true;
          clearTimeout(timer);
          resolve(v);
        } else this.waiters.push(check);
      };
      check();
    });
  }
}
