import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { jitteredBackoffMs } from '../common/backoff.js';
import { log } from '../telemetry/log.js';
import { createXdsChannel, type XdsTarget } from './channel.js';
import type { MessageCodec, NodeMessage } from './messages.js';
import { shortTypeName } from './resource-types.js';
import { newSubscriptionStats, recordAcceptedVersion, type ControlPlaneStats, type SubscriptionStats } from './stats.js';
import type { TypeState } from './type-state.js';
import { nackMessage, type ResourceUpdate } from './update.js';

/** Envoy's reconnect backoff for xDS streams (SubscriptionFactory::RetryInitialDelayMs / RetryMaxDelayMs). */
export const DEFAULT_RETRY_BASE_MS = 500;
export const DEFAULT_RETRY_MAX_MS = 30_000;
/** Envoy's default ConfigSource initial_fetch_timeout. */
export const DEFAULT_INITIAL_FETCH_TIMEOUT_MS = 15_000;

export interface XdsClientOptions {
  target: XdsTarget;
  /** envoy.config.core.v3.Node, plain form (the bootstrap's node). */
  node: NodeMessage;
  /** Envoy's set_node_on_first_message_only (istiod's bootstrap sets it): the node goes only on a stream's first request. Default true. */
  setNodeOnFirstMessageOnly?: boolean;
  /** Reconnect backoff: each retry waits uniformly in [0, min(base × 2^(n-1), max)]; reset by any response. */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Extra grpc-js channel options (keepalive, ...). */
  channelOptions?: grpc.ChannelOptions;
  /** For tests: the jitter source. */
  random?: () => number;
}

/**
 * Receives the responses of one resource type. onUpdate applies an update all or nothing: it
 * returns (or resolves) to accept it, which ACKs it, or throws (rejects) to refuse it, which NACKs
 * it with the error's message; after a refusal the handler must still be running the resources
 * it had before. Responses are handed over one at a time, in order, even when onUpdate is async.
 */
export interface ResourceHandler {
  onUpdate(update: ResourceUpdate): void | Promise<void>;
  /** No response came within initial_fetch_timeout: Envoy carries on initialising without it. */
  onInitialFetchTimeout?(): void;
}

export interface WatchOptions {
  /** Envoy's initial_fetch_timeout in ms; 0 waits forever (istiod sets 0 for LDS and CDS). Default 15000. */
  initialFetchTimeoutMs?: number;
}

/** How a stream ended. */
export interface StreamStatus {
  code: number;
  details: string;
}

export interface XdsClientEvents {
  /** The control plane answered on a new stream (its headers or first response). */
  connected: [];
  /** The stream ended (connected_state is 0 until the next one is up). */
  disconnected: [status: StreamStatus];
  /** A new stream will be opened after delayMs (attempt counts failures since the last response). */
  reconnecting: [delayMs: number, attempt: number];
  /** A response was ACKed after its handler took it. */
  accepted: [update: ResourceUpdate];
  /** A response was NACKed. */
  rejected: [typeUrl: string, nonce: string, error: Error];
  initialFetchTimeout: [typeUrl: string];
}

/** One gRPC method and the state machine of its protocol. */
export interface XdsProtocol<Req extends { node?: NodeMessage }, Res extends { type_url: string }> {
  method: string;
  request: MessageCodec<Req>;
  response: MessageCodec<Res>;
  newState(typeUrl: string): TypeState<Req, Res>;
}

interface Watch<Req, Res> {
  state: TypeState<Req, Res>;
  handler: ResourceHandler;
  stats: SubscriptionStats;
  initTimer?: NodeJS.Timeout;
}

/**
 * An xDS stream to a control plane: subscriptions per type, ACK/NACK, reconnect with Envoy's
 * jittered exponential backoff and resubscription. Protocol-neutral: AdsClient and SdsClient pick
 * the method and the state machine (delta or state of the world).
 */
export class XdsClient<Req extends { node?: NodeMessage }, Res extends { type_url: string }> extends EventEmitter<XdsClientEvents> {
  readonly controlPlane: ControlPlaneStats = { connected_state: 0 };
  private readonly channel: grpc.Client;
  /** In subscription order: a new stream asks in that order (Envoy: CDS before EDS, LDS before RDS). */
  private readonly watches = new Map<string, Watch<Req, Res>>();
  private call: grpc.ClientDuplexStream<Req, Res> | undefined;
  /** The call whose subscriptions were marked fresh: nothing is sent on a new call before that. */
  private readyCall: grpc.ClientDuplexStream<Req, Res> | undefined;
  private firstMessage = true;
  private streamUp = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;
  /** Responses, stream starts and subscription flushes run one after another, in order. */
  private work: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: XdsClientOptions,
    private readonly protocol: XdsProtocol<Req, Res>,
  ) {
    super();
    this.channel = createXdsChannel(options.target, options.channelOptions);
  }

  /** Opens the stream (once); subscriptions made before are asked for in their order. */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.openStream();
  }

  /**
   * Subscribes to a type: Listener and Cluster as wildcards, other types with the names given to
   * subscribe(). One handler per type.
   */
  watch(typeUrl: string, handler: ResourceHandler, options: WatchOptions = {}): SubscriptionStats {
    if (this.watches.has(typeUrl)) throw new Error(`${shortTypeName(typeUrl)} is already watched`);
    const w: Watch<Req, Res> = { state: this.protocol.newState(typeUrl), handler, stats: newSubscriptionStats() };
    this.watches.set(typeUrl, w);
    w.stats.update_attempt++;
    const timeoutMs = options.initialFetchTimeoutMs ?? DEFAULT_INITIAL_FETCH_TIMEOUT_MS;
    if (timeoutMs > 0) {
      w.initTimer = setTimeout(() => {
        w.initTimer = undefined;
        w.stats.init_fetch_timeout++;
        w.stats.update_attempt++;
        log.warn(`gRPC config: initial fetch timed out for ${typeUrl}`);
        w.handler.onInitialFetchTimeout?.();
        this.emit('initialFetchTimeout', typeUrl);
      }, timeoutMs);
    }
    this.flushSoon();
    return w.stats;
  }

  /** Sets the names wanted for a non-wildcard type (RDS, EDS, SDS): the set replaces the previous one. */
  subscribe(typeUrl: string, names: Iterable<string>): void {
    const w = this.watches.get(typeUrl);
    if (!w) throw new Error(`${shortTypeName(typeUrl)} is not watched`);
    if (!w.state.setNames(names)) return;
    w.stats.update_attempt++;
    this.flushSoon();
  }

  /** The subscribed names of a type. */
  names(typeUrl: string): ReadonlySet<string> {
    return this.watches.get(typeUrl)?.state.names() ?? new Set();
  }

  stats(typeUrl: string): SubscriptionStats | undefined {
    return this.watches.get(typeUrl)?.stats;
  }

  /** Ends the stream for good: no reconnect, timers cleared, the channel closed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    for (const w of this.watches.values()) clearTimeout(w.initTimer);
    const call = this.call;
    this.call = undefined;
    call?.cancel();
    this.streamDown({ code: 1, details: 'closed by the client' });
    this.channel.close();
  }

  private openStream(): void {
    this.retryTimer = undefined;
    if (this.closed) return;
    const call = this.channel.makeBidiStreamRequest(this.protocol.method, this.protocol.request.serialize, this.protocol.response.deserialize);
    this.call = call;
    this.firstMessage = true;
    call.on('metadata', () => this.streamUpOn(call));
    call.on('data', (response: Res) => this.enqueue(() => this.onResponse(call, response)));
    call.on('error', () => {}); // 'status' follows and says why
    call.on('status', (status: grpc.StatusObject) => this.onStreamEnd(call, status));
    // queued: a response of the old stream still in its handler commits before the new stream restates what is held
    this.enqueue(() => {
      if (call !== this.call) return;
      for (const w of this.watches.values()) w.state.markStreamFresh();
      this.readyCall = call;
      this.flush();
    });
  }

  private streamUpOn(call: grpc.ClientDuplexStream<Req, Res>): void {
    if (call !== this.call || this.streamUp) return;
    this.streamUp = true;
    this.controlPlane.connected_state = 1;
    this.emit('connected');
  }

  private streamDown(status: StreamStatus): void {
    this.controlPlane.connected_state = 0;
    if (!this.streamUp) return;
    this.streamUp = false;
    this.emit('disconnected', status);
  }

  private onStreamEnd(call: grpc.ClientDuplexStream<Req, Res>, status: grpc.StatusObject): void {
    if (call !== this.call) return; // an old stream, or closed by us
    this.call = undefined;
    // Envoy: a retriable close (OK, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, UNAVAILABLE) is not worth a warning
    const message = `${this.protocol.method} gRPC config stream closed: ${status.code}, ${status.details}`;
    if ([0, 4, 8, 14].includes(status.code)) log.debug(message);
    else log.warn(message);
    this.streamDown({ code: status.code, details: status.details });
    // Envoy: every subscription sees a ConnectionFailure
    for (const w of this.watches.values()) {
      w.stats.update_failure++;
      w.stats.update_attempt++;
    }
    this.failures++;
    const delayMs = jitteredBackoffMs(this.failures, this.options.retryBaseMs ?? DEFAULT_RETRY_BASE_MS, this.options.retryMaxMs ?? DEFAULT_RETRY_MAX_MS, this.options.random);
    this.emit('reconnecting', delayMs, this.failures);
    this.retryTimer = setTimeout(() => this.openStream(), delayMs);
  }

  private enqueue(step: () => void | Promise<void>): void {
    this.work = this.work.then(step).catch((err: unknown) => {
      // a bug in a step must not stop the queue; nothing here is expected to throw
      log.error(`xDS client: ${err instanceof Error ? err.stack : String(err)}`);
    });
  }

  /** Sends what the subscriptions have to say, after the work already queued (so never ahead of an ACK). */
  private flushSoon(): void {
    if (!this.started) return;
    this.enqueue(() => this.flush());
  }

  private flush(): void {
    for (const w of this.watches.values()) {
      const call = this.call;
      if (!call || call !== this.readyCall) return; // a flush queued for a stream that has since been replaced
      const req = w.state.pendingRequest();
      if (req) this.send(call, req);
    }
  }

  private send(call: grpc.ClientDuplexStream<Req, Res>, req: Req): void {
    if (call !== this.call) return; // that stream is gone; the next one restates everything
    if (this.firstMessage || this.options.setNodeOnFirstMessageOnly === false) req.node = this.options.node;
    this.firstMessage = false;
    call.write(req);
  }

  private async onResponse(call: grpc.ClientDuplexStream<Req, Res>, response: Res): Promise<void> {
    if (call !== this.call) return;
    this.failures = 0; // Envoy resets the backoff on every response
    this.streamUpOn(call);
    const w = this.watches.get(response.type_url);
    if (!w) {
      log.warn(`Ignoring the message for type URL ${response.type_url} as it has no current subscribers.`);
      return;
    }
    let update: ResourceUpdate | undefined;
    try {
      update = w.state.prepare(response);
      if (update) await w.handler.onUpdate(update);
    } catch (err) {
      this.settled(w);
      w.stats.update_rejected++;
      w.stats.update_attempt++;
      const error = err instanceof Error ? err : new Error(String(err));
      log.warn(`gRPC config for ${response.type_url} rejected: ${error.message}`);
      this.send(call, w.state.reject(response, nackMessage(error)));
      this.emit('rejected', response.type_url, (response as { nonce?: string }).nonce ?? '', error);
      this.flush();
      return;
    }
    const ack = w.state.accept(response, update);
    if (update) {
      this.settled(w);
      w.stats.update_success++;
      w.stats.update_attempt++;
      // Envoy's EDS/RDS consumers count an update that hands them no resource (delta: only removals)
      if (!(update.all ?? update.updated).length) w.stats.update_empty++;
      recordAcceptedVersion(w.stats, update.systemVersion);
    }
    this.send(call, ack);
    if (update) this.emit('accepted', update);
    this.flush(); // subscriptions the handler changed go after the ACK, on their own
  }

  private settled(w: Watch<Req, Res>): void {
    clearTimeout(w.initTimer);
    w.initTimer = undefined;
  }
}
