import type { DiscoveryRequest, DiscoveryResponse } from './messages.js';
import { resourceName } from './resource-name.js';
import { isWildcardType } from './resource-types.js';
import { nameChange, type TypeState } from './type-state.js';
import { NACK_CODE, XdsProtocolError, type ResourceUpdate, type XdsResource } from './update.js';

/**
 * One type on a state-of-the-world stream (ADS GRPC or SDS), as Envoy's GrpcMuxImpl keeps it.
 * Every request repeats the full name list, the version last accepted and the nonce last seen:
 * an ACK names the response's version, a NACK the previous one. A fresh stream starts with no
 * nonce and the version last accepted.
 */
export class SotwTypeState implements TypeState<DiscoveryRequest, DiscoveryResponse> {
  private readonly wildcard: boolean;
  private subscribed = new Set<string>();
  private lastGoodVersion: string | undefined;
  private nonce: string | undefined;
  /** What was accepted, by name (the bytes tell a changed resource from an unchanged one). */
  private readonly held = new Map<string, XdsResource>();
  private fresh = true;
  private changePending = false;

  constructor(readonly typeUrl: string) {
    this.wildcard = isWildcardType(typeUrl);
  }

  names(): ReadonlySet<string> {
    return this.subscribed;
  }

  setNames(names: Iterable<string>): boolean {
    const change = nameChange(this.wildcard, this.subscribed, names);
    if (!change) return false;
    for (const n of change.removed) this.held.delete(n);
    this.subscribed = change.next;
    this.changePending = true;
    return true;
  }

  markStreamFresh(): void {
    this.fresh = true;
    this.nonce = undefined;
  }

  pendingRequest(): DiscoveryRequest | undefined {
    if (this.fresh) {
      // a named type with no names has nothing to ask a server that knows nothing of it yet
      if (!this.wildcard && this.subscribed.size === 0) return undefined;
      this.fresh = false;
      this.changePending = false;
      return this.request();
    }
    if (!this.changePending) return undefined;
    this.changePending = false;
    // an empty list here is an unsubscription from every name, not a wildcard (never subscribed → wildcard only)
    return this.request();
  }

  prepare(response: DiscoveryResponse): ResourceUpdate | undefined {
    const version = response.version_info ?? '';
    const seen = new Set<string>();
    const all: XdsResource[] = [];
    for (const any of response.resources ?? []) {
      if (any.type_url !== response.type_url) {
        throw new XdsProtocolError(`type URL ${any.type_url} embedded in an individual Any does not match the message-wide type URL ${response.type_url}`);
      }
      const name = resourceName(any);
      if (seen.has(name)) throw new XdsProtocolError(`duplicate resource name ${JSON.stringify(name)} in the response`);
      seen.add(name);
      if (this.wildcard || this.subscribed.has(name)) all.push({ name, version, resource: any });
    }
    if (!this.wildcard && all.length === 0) return undefined;
    const updated = all.filter((r) => !sameBytes(this.held.get(r.name), r));
    const removed = this.wildcard ? [...this.held.keys()].filter((n) => !seen.has(n)) : [];
    return { typeUrl: this.typeUrl, updated, removed, all, systemVersion: version, nonce: response.nonce ?? '' };
  }

  accept(response: DiscoveryResponse, update: ResourceUpdate | undefined): DiscoveryRequest {
    this.lastGoodVersion = response.version_info ?? '';
    this.nonce = response.nonce ?? '';
    if (update) {
      if (this.wildcard) this.held.clear();
      // a name unsubscribed while the handler ran is not held any more
      for (const r of update.all ?? update.updated) if (this.wildcard || this.subscribed.has(r.name)) this.held.set(r.name, r);
    }
    this.changePending = false; // the ACK carries the current names
    return this.request();
  }

  reject(response: DiscoveryResponse, message: string): DiscoveryRequest {
    this.nonce = response.nonce ?? '';
    this.changePending = false;
    return { ...this.request(), error_detail: { code: NACK_CODE, message } };
  }

  private request(): DiscoveryRequest {
    const req: DiscoveryRequest = { type_url: this.typeUrl, resource_names: [...this.subscribed] };
    if (this.lastGoodVersion !== undefined) req.version_info = this.lastGoodVersion;
    if (this.nonce !== undefined) req.response_nonce = this.nonce;
    return req;
  }
}

function sameBytes(held: XdsResource | undefined, r: XdsResource): boolean {
  if (!held) return false;
  const a = held.resource.value ?? new Uint8Array();
  const b = r.resource.value ?? new Uint8Array();
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}
