import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse } from './messages.js';
import { isWildcardType } from './resource-types.js';
import { nameChange, type TypeState } from './type-state.js';
import { NACK_CODE, XdsProtocolError, type ResourceUpdate, type XdsResource } from './update.js';

/**
 * One type on a delta (incremental) ADS stream, as Envoy's DeltaSubscriptionState keeps it.
 *
 * - Listener and Cluster use the legacy wildcard: the first request of a stream subscribes to no
 *   name, which istiod (deltaWatchedResources) and Envoy's protocol docs read as "everything".
 * - Other types subscribe by name; changes go as resource_names_subscribe / _unsubscribe diffs.
 * - The first request of every stream restates the whole subscription and lists the versions
 *   held in initial_resource_versions, so a server can skip what the client already has.
 * - ACKs and NACKs carry only the response's nonce (and error_detail): istiod reads a request with
 *   a nonce and a changed subscription as a protocol error, so changes always go on their own,
 *   with no nonce.
 */
export class DeltaTypeState implements TypeState<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
  private readonly wildcard: boolean;
  private subscribed = new Set<string>();
  /** Versions of the resources accepted, by name. */
  private readonly held = new Map<string, string>();
  private readonly toSubscribe = new Set<string>();
  private readonly toUnsubscribe = new Set<string>();
  private fresh = true;

  constructor(readonly typeUrl: string) {
    this.wildcard = isWildcardType(typeUrl);
  }

  names(): ReadonlySet<string> {
    return this.subscribed;
  }

  /** The versions held, by name (what the next stream's initial_resource_versions will carry). */
  heldVersions(): ReadonlyMap<string, string> {
    return this.held;
  }

  setNames(names: Iterable<string>): boolean {
    const change = nameChange(this.wildcard, this.subscribed, names);
    if (!change) return false;
    const { next, added, removed } = change;
    for (const n of added) {
      this.toUnsubscribe.delete(n);
      this.toSubscribe.add(n);
    }
    for (const n of removed) {
      this.toSubscribe.delete(n);
      this.toUnsubscribe.add(n);
      this.held.delete(n);
    }
    this.subscribed = next;
    return true;
  }

  markStreamFresh(): void {
    this.fresh = true;
  }

  pendingRequest(): DeltaDiscoveryRequest | undefined {
    if (this.fresh) {
      if (!this.wildcard && this.subscribed.size === 0) return undefined;
      this.fresh = false;
      this.toSubscribe.clear();
      this.toUnsubscribe.clear();
      const req: DeltaDiscoveryRequest = { type_url: this.typeUrl };
      if (!this.wildcard) req.resource_names_subscribe = [...this.subscribed];
      if (this.held.size) req.initial_resource_versions = Object.fromEntries(this.held);
      return req;
    }
    if (!this.toSubscribe.size && !this.toUnsubscribe.size) return undefined;
    const req: DeltaDiscoveryRequest = { type_url: this.typeUrl };
    if (this.toSubscribe.size) req.resource_names_subscribe = [...this.toSubscribe];
    if (this.toUnsubscribe.size) req.resource_names_unsubscribe = [...this.toUnsubscribe];
    this.toSubscribe.clear();
    this.toUnsubscribe.clear();
    return req;
  }

  prepare(response: DeltaDiscoveryResponse): ResourceUpdate | undefined {
    const names = new Set<string>();
    const updated: XdsResource[] = [];
    for (const r of response.resources ?? []) {
      const name = r.name ?? '';
      if (names.has(name)) throw new XdsProtocolError(`duplicate name ${name} found among added/updated resources`);
      names.add(name);
      if (!r.resource) {
        // a heartbeat: the resource as held, at the same version (TTL refresh); an alias answer carries none either
        if (this.held.get(name) === (r.version ?? '') || r.aliases?.length) continue;
      }
      const inner = r.resource?.type_url ?? '';
      if (inner !== response.type_url) {
        throw new XdsProtocolError(`type URL ${inner} embedded in an individual Any does not match the message-wide type URL ${response.type_url}`);
      }
      // a named subscription takes only what it asked for (a server may still send the rest)
      if (this.wildcard || this.subscribed.has(name)) updated.push({ name, version: r.version ?? '', resource: r.resource! });
    }
    const removed: string[] = [];
    for (const name of response.removed_resources ?? []) {
      if (names.has(name)) throw new XdsProtocolError(`duplicate name ${name} found in the union of added+removed resources`);
      names.add(name);
      if (this.held.has(name)) removed.push(name);
    }
    // Envoy's WatchMap: an empty response reaches only wildcard subscriptions (it ends no named one's initial fetch)
    if (!this.wildcard && !updated.length && !removed.length) return undefined;
    return { typeUrl: this.typeUrl, updated, removed, systemVersion: response.system_version_info ?? '', nonce: response.nonce ?? '' };
  }

  accept(response: DeltaDiscoveryResponse, update: ResourceUpdate | undefined): DeltaDiscoveryRequest {
    // a name unsubscribed while the handler ran is not held any more
    for (const r of update?.updated ?? []) if (this.wildcard || this.subscribed.has(r.name)) this.held.set(r.name, r.version);
    for (const n of update?.removed ?? []) this.held.delete(n);
    return { type_url: this.typeUrl, response_nonce: response.nonce ?? '' };
  }

  reject(response: DeltaDiscoveryResponse, message: string): DeltaDiscoveryRequest {
    return { type_url: this.typeUrl, response_nonce: response.nonce ?? '', error_detail: { code: NACK_CODE, message } };
  }
}
